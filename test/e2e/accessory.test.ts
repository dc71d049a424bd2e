// Accessories on the local driver, through the real CLI on Debian 13 machines: `up` makes the
// accessory's own machine before the app's slot; the app's container resolves the accessory's name
// and reaches its port (and only that port); its data survives a rollout of the app (the accessory
// machine and container untouched) and `accessory upgrade` (a new container, the same data);
// `destroy` refuses without a data flag, `--keep-data` keeps the directory and a later `up` brings
// the data back. The accessory is the demo image (busybox httpd), not a real database: does not
// prove anything about a database's own durability (fsync, shutdown), nor the aws driver (refused).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destroyAccessories } from "../../drivers/local/accessories";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { parseEnvironment } from "../../model/environment-file";
import { freePort, httpGet, ssh, testPaths } from "./local-support";
import { runCli, slotGroups } from "./own-app-support";

const ENV = "e2eacc";
const GROUP = `${ENV}-acc-db`;
const paths = testPaths("ls-e2e-acc");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-acc-env-"));
const file = path.join(dir, "longshore.yaml");
const dataDir = path.join(paths.stateRoot, `${ENV}.data`, "db");
// A value that must reach the accessory's container and nothing else.
const SECRET = `acc-secret-${process.pid}-${Date.now()}`;
const cliEnv = { E2EACC_DB_PASSWORD: SECRET };
const savedStateDir = process.env["LONGSHORE_LOCAL_STATE_DIR"];
let port = 0;
/** Everything the CLI printed, to check that the secret never shows. */
const printed: string[] = [];

async function cli(...argv: string[]) {
  const r = await runCli(dir, cliEnv, argv);
  printed.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  // The CLI runs in this process and finds its local state through the process's environment.
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  port = await freePort();
  fs.writeFileSync(
    file,
    `name: ${ENV}
driver: local
hosts: { os: debian-13 }
app:
  name: web
  image: longshore-demo:v1
  port: 8080
  health: { path: /healthz, intervalSeconds: 0.5 }
accessories:
  db:
    image: longshore-demo:v1
    port: 8080
    env: { ROLE: database }
    secrets: { DB_PASSWORD: { env: E2EACC_DB_PASSWORD } }
    volumes: [dbdata:/data]
slots:
  blue: { image: null, size: 1 }
  green: { image: null, size: 1 }
live: null
rollout: { healthDeadlineSeconds: 90, soakSeconds: 1, drainSeconds: 1 }
local: { listen: 127.0.0.1:${port} }
`,
  );
}, 900_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await destroyAccessories(ENV, paths, "delete", () => undefined).catch((e: unknown) => console.error(e));
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  if (savedStateDir === undefined) delete process.env["LONGSHORE_LOCAL_STATE_DIR"];
  else process.env["LONGSHORE_LOCAL_STATE_DIR"] = savedStateDir;
});

function accessoryState(): EnvState {
  const s = readMachineGroup(GROUP, paths);
  expect(s, `${GROUP} exists`).toBeDefined();
  return s!;
}

/** Runs `command` on the accessory's machine; its trimmed output. */
async function onAccessory(command: string): Promise<string> {
  const s = accessoryState();
  const r = await ssh(s, s.machines[0]!, command);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Runs `command` on the live slot's (one) host. */
async function onAppHost(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const live = slotGroups(paths, ENV);
  const s = readMachineGroup(live.slots[live.live!]!.group!, paths)!;
  return ssh(s, s.machines[0]!, command);
}

const DB_CONTAINER = "$(docker ps -q --filter label=io.longshore.app=db)";
const APP_CONTAINER = "$(docker ps -q --filter label=io.longshore.app=web)";
/**
 * An HTTP GET of the accessory by its name, from inside the app's container: busybox nc resolves
 * `db` through the container's /etc/hosts (the demo's static busybox wget crashes writing to stdout).
 */
const GET_DB = `docker exec ${APP_CONTAINER} /bin/busybox sh -c 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | /bin/busybox nc -w 5 db 8080'`;

async function status(): Promise<{ image: string; machine: string; container: { id: string; status: string }; health: { ok: boolean } }> {
  const r = await cli("accessory", "status", "--json");
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { accessories: Array<{ name: string; image: string; machine: string; container: { id: string; status: string }; health: { ok: boolean } }> };
  expect(doc.accessories.map((a) => a.name)).toEqual(["db"]);
  return doc.accessories[0]!;
}

describe("accessories on the local driver", () => {
  let firstContainer = "";
  let machinePid = 0;

  it("up makes the accessory's machine first; the app resolves its name and reaches its port, and only that port", async () => {
    const r = await cli("up");
    expect(r.code, r.stderr).toBe(0);
    // Made before the app's slot group was created.
    const made = r.stderr.indexOf(`accessory db: creating machine ${GROUP}`);
    const slot = r.stderr.indexOf(`${ENV}-blue-g1`);
    expect(made, r.stderr).toBeGreaterThanOrEqual(0);
    expect(slot).toBeGreaterThan(made);
    const acc = accessoryState();
    expect(acc.machines).toHaveLength(1);
    const address = acc.machines[0]!.address;
    machinePid = acc.machines[0]!.pid!;
    expect((await httpGet(`http://127.0.0.1:${port}/`)).status).toBe(200);

    // The app's container resolves `db` to the accessory's machine and gets an answer from its port.
    const hosts = await onAppHost(`docker exec ${APP_CONTAINER} /bin/busybox cat /etc/hosts`);
    expect(hosts.stdout).toMatch(new RegExp(`^${address.replace(/\./g, "\\.")}\\s+db$`, "m"));
    const get = await onAppHost(GET_DB);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toMatch(/^HTTP\/1\.[01] 200 /);
    expect(get.stdout).toContain("longshore demo v1");
    // Least privilege: the accessory's sshd (a port that is not the accessory's) is not reachable from the app's host.
    const probe = (p: number) => onAppHost(`timeout 4 bash -c 'exec 3<>/dev/tcp/${address}/${p}' && echo open || echo closed`);
    expect([(await probe(8080)).stdout.trim(), (await probe(22)).stdout.trim()]).toEqual(["open", "closed"]);

    // The secret reached the accessory's container, by its env file (0600), never its argv.
    expect(await onAccessory(`docker exec ${DB_CONTAINER} sh -c 'echo "$DB_PASSWORD"'`)).toBe(SECRET);
    expect(await onAccessory(`docker exec ${DB_CONTAINER} sh -c 'echo "$ROLE"'`)).toBe("database");
    expect(await onAccessory("stat -c %a /etc/longshore/apps/db/*.env")).toBe("600");
    expect(await onAccessory(`docker inspect --format '{{json .Args}} {{json .Config.Cmd}}' ${DB_CONTAINER}`)).not.toContain(SECRET);

    const s = await status();
    expect([s.image, s.machine, s.container.status, s.health.ok]).toEqual(["longshore-demo:v1", "running", "running", true]);
    firstContainer = s.container.id;
  });

  it("a file written into the accessory's volume is on this computer, and survives a rollout of the app that leaves the accessory untouched", async () => {
    await onAccessory(`docker exec ${DB_CONTAINER} sh -c 'echo kept-across > /data/marker'`);
    expect(fs.readFileSync(path.join(dataDir, "volumes", "dbdata", "marker"), "utf8")).toBe("kept-across\n");

    const r = await cli("rollout", "longshore-demo:v2");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("accessory db: creating");
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toContain("longshore demo v2");
    // Same machine process, same container: the rollout did not touch the accessory.
    expect(accessoryState().machines[0]!.pid).toBe(machinePid);
    const s = await status();
    expect(s.container.id).toBe(firstContainer);
    expect(await onAccessory(`docker exec ${DB_CONTAINER} /bin/busybox cat /data/marker`)).toBe("kept-across");
    // The new slot's app reaches it too.
    const get = await onAppHost(GET_DB);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toContain("longshore demo v1");
  });

  it("accessory upgrade replaces the container, keeps the data, checks health and records the image in the file", async () => {
    const r = await cli("accessory", "upgrade", "db", ":v2", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { accessory: string; fromImage: string; toImage: string; fromContainer: string; toContainer: string };
    expect([report.accessory, report.fromImage, report.toImage, report.fromContainer]).toEqual(["db", "longshore-demo:v1", "longshore-demo:v2", firstContainer]);
    expect(report.toContainer).not.toBe(firstContainer);
    const s = await status();
    expect([s.image, s.container.id, s.health.ok]).toEqual(["longshore-demo:v2", report.toContainer, true]);
    expect(await onAccessory(`docker exec ${DB_CONTAINER} /bin/busybox cat /data/marker`)).toBe("kept-across");
    expect(accessoryState().machines[0]!.pid).toBe(machinePid);
    const parsed = parseEnvironment(fs.readFileSync(file, "utf8"), "longshore.yaml");
    expect(parsed.ok && parsed.value.accessories["db"]!.image).toBe("longshore-demo:v2");
    // No state file of longshore's holds the secret (the machines' own disks do: the accessory's env file and its engine's container config).
    const stateFiles = fs
      .readdirSync(paths.stateRoot, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.endsWith(".data"))
      .flatMap((e) => fs.readdirSync(path.join(paths.stateRoot, e.name)).map((f) => path.join(e.name, f)))
      .filter((f) => f.endsWith(".json") || f.endsWith(".yaml"));
    expect(stateFiles.length).toBeGreaterThan(3);
    for (const f of stateFiles) expect(fs.readFileSync(path.join(paths.stateRoot, f), "utf8"), f).not.toContain(SECRET);
  });

  it("destroy refuses without a data flag; --keep-data removes the machines and keeps the data, which a later up brings back", async () => {
    const refused = await cli("destroy", "--yes");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `error: command line is invalid (1 problem):\n  --keep-data or --delete-data: is required: the accessories' data is in ${dataDir}; --keep-data removes their machines and keeps it (a later up uses it again), --delete-data removes it too\n`,
    );
    expect(readMachineGroup(GROUP, paths)).toBeDefined();

    const kept = await cli("destroy", "--yes", "--keep-data", "--json");
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({ environment: ENV, data: { kept: [dataDir], deleted: [] } });
    expect(JSON.parse(kept.stdout).removed).toContain(GROUP);
    expect(readMachineGroup(GROUP, paths)).toBeUndefined();
    expect(fs.readFileSync(path.join(dataDir, "volumes", "dbdata", "marker"), "utf8")).toBe("kept-across\n");

    const again = await cli("up");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("(kept from before: its data is back)");
    // The file says v2 now: the new machine runs it, with the old data.
    expect((await status()).image).toBe("longshore-demo:v2");
    expect(await onAccessory(`docker exec ${DB_CONTAINER} /bin/busybox cat /data/marker`)).toBe("kept-across");

    const deleted = await cli("destroy", "--yes", "--delete-data");
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it("the secret never showed in the CLI's output or the environment file", () => {
    expect(printed.length).toBeGreaterThan(10);
    expect(printed.join("\n")).not.toContain(SECRET);
    expect(fs.readFileSync(file, "utf8")).not.toContain(SECRET);
  });
});
