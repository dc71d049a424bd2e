// e2e: the `registry` image source pinned by digest. Debian's docker-registry with htpasswd on the
// bridge, the password from a `{ file }` secret source (0600); the local driver pins the tag on this
// computer before any machine is created and both hosts of a slot pull that digest, even when the
// tag is moved between the pin and the pulls; a wrong password fails the rollout before any machine
// is created, with an error naming the registry; no credential is left in a host's docker config.
// Does not prove TLS or Bearer-token registries (the unit tests cover token auth against an
// in-process server), or the aws driver (its hosts still pull the reference as written).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemSecretReader } from "../../core/secret-reader";
import { Sensitive } from "../../core/sensitive";
import { localGroupProvisioner } from "../../drivers/local/group-provisioner";
import { createLocalDriver, destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { downMachineGroup, listMachineGroups, readMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { GroupProvisioner } from "../../drivers/local/slot-driver";
import { demoEnvironmentText, loadEnvironment } from "../../model/environment-file";
import { resolveEnvironmentSecrets } from "../../model/secret-resolve";
import { pushDockerArchive, type PushResult } from "../../provisioner/registry-push";
import { environmentFiles, runUp } from "../../rollout/operations";
import type { RolloutEvent } from "../../rollout/rollout";
import { startRegistry, type TestRegistry } from "../helpers/docker-registry";
import { freePort, httpGet, ssh, testPaths } from "./local-support";
import { runCli, slotGroups } from "./own-app-support";
import { demoSource } from "./provision-support";

const ENV = "e2epin";
/** A one-machine group that keeps the bridge (and so the registry's address) up from the start. */
const ANCHOR = "e2epin-anchor";
/** The bridge's gateway: this computer, as the machines see it. */
const GATEWAY = "10.213.47.1";
const paths = testPaths("ls-e2e-pin");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-pin-env-"));
const envFile = path.join(dir, "longshore.yaml");
const secretFile = path.join(dir, "secrets", "registry");
const PASSWORD = `pin-${process.pid}-${Date.now()}-secret`;
const savedEnv = { ...process.env };

let registry: TestRegistry | undefined;
let url = "";
let v1: PushResult;
let v2: PushResult;
const outputs: string[] = [];

const push = (version: "v1" | "v2", tag: string) =>
  pushDockerArchive({ archive: demoSource(version, paths).localPath, registryUrl: registry!.url, repository: "team/demo", tag, auth: { username: "ci", password: new Sensitive(PASSWORD) } });

/** The digest the registry's tag names now (asked with the right password). */
async function tagDigest(tag: string): Promise<string | null> {
  const r = await fetch(`${registry!.url}/v2/team/demo/manifests/${tag}`, {
    method: "HEAD",
    headers: { authorization: `Basic ${Buffer.from(`ci:${PASSWORD}`).toString("base64")}`, accept: "application/vnd.docker.distribution.manifest.v2+json" },
  });
  return r.headers.get("docker-content-digest");
}

/** Runs `command` on every machine of the live slot; their outputs, in machine order. */
async function onLiveHosts(command: string): Promise<string[]> {
  const slots = slotGroups(paths, ENV);
  const state = readMachineGroup(slots.slots[slots.live!]!.group!, paths)!;
  return Promise.all(
    state.machines.map(async (m) => {
      const r = await ssh(state, m, command);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      return r.stdout.trim();
    }),
  );
}

async function cli(...argv: string[]) {
  const r = await runCli(dir, {}, [...argv, "-f", envFile]);
  outputs.push(r.stdout, r.stderr);
  return r;
}

beforeAll(async () => {
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  await upMachineGroup({ env: ANCHOR, machines: 1, paths });
  registry = await startRegistry(GATEWAY, { user: "ci", password: PASSWORD });
  v1 = await push("v1", "1");
  v2 = await push("v2", "2");
  fs.mkdirSync(path.dirname(secretFile));
  fs.writeFileSync(secretFile, `${PASSWORD}\n`, { mode: 0o600 });
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  fs.writeFileSync(
    envFile,
    demoEnvironmentText(`${registry.hostPort}/team/demo:1`)
      .replace("name: demo", `name: ${ENV}`)
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`)
      .replace("soakSeconds: 10", "soakSeconds: 2")
      .replace("drainSeconds: 2", "drainSeconds: 1") +
      `registry:
  server: ${registry.hostPort}
  username: ci
  password: { file: ./secrets/registry }
engine:
  daemon: { insecure-registries: ["${registry.hostPort}"] }
`,
  );
}, 600_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await registry?.stop().catch((e: unknown) => console.error(e));
  await downMachineGroup({ env: ANCHOR, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  process.env = savedEnv;
}, 300_000);

describe("registry images are pinned by digest before any machine is created", () => {
  it("up pins tag 1; the tag moves to v2 before the hosts pull, and both hosts still get v1's digest", async () => {
    const { env, text } = await loadEnvironment(envFile);
    const secrets = await resolveEnvironmentSecrets(env, { file: envFile, baseDir: dir, reader: systemSecretReader(process.env) });
    const inner = localGroupProvisioner(env, secrets, paths);
    let moved = false;
    // Between the pin (prepare) and the machines' pulls (provision), someone pushes v2 under the same tag.
    const provisioner: GroupProvisioner = {
      prepare: inner.prepare,
      async provision(...args) {
        if (!moved) {
          expect(await push("v2", "1")).toMatchObject({ uploaded: 0, manifestDigest: v2.manifestDigest });
          moved = true;
        }
        return inner.provision(...args);
      },
    };
    const events: RolloutEvent[] = [];
    const { report } = await runUp({
      env,
      envText: text,
      files: environmentFiles(envFile, paths.stateRoot, env.name),
      driver: createLocalDriver(env, provisioner, paths),
      actor: "e2e@longshore",
      onEvent: (e) => void events.push(e),
    });
    expect(report?.outcome).toBe("succeeded");
    expect(moved).toBe(true);
    expect(await tagDigest("1")).toBe(v2.manifestDigest);
    const pinned = `${registry!.hostPort}/team/demo@${v1.manifestDigest}`;
    expect(events.filter((e) => e.type === "message" && e.message.includes(" is sha256:")).map((e) => (e as { message: string }).message)).toEqual([
      `${registry!.hostPort}/team/demo:1 is ${v1.manifestDigest}: hosts pull ${pinned}`,
    ]);
    // Both hosts run v1 by digest (the release label, and so the container's name, still come from the tag).
    expect(await onLiveHosts("docker inspect --format '{{.Config.Image}} {{.Image}}' demo-1")).toEqual([`${pinned} ${v1.imageId}`, `${pinned} ${v1.imageId}`]);
    expect(version((await httpGet(url)).body)).toBe("v1");
    // docker logout ran: no credential for the registry in root's docker config, on either host.
    for (const config of await onLiveHosts("cat /root/.docker/config.json 2>/dev/null || echo '{}'")) {
      expect(JSON.parse(config)).not.toHaveProperty(["auths", registry!.hostPort]);
      expect(config).not.toContain(Buffer.from(`ci:${PASSWORD}`).toString("base64"));
      expect(config).not.toContain(PASSWORD);
    }
  });

  it("a wrong password: an input error (exit 2) before any machine is created, naming the registry and registry.password", async () => {
    fs.writeFileSync(secretFile, "not-the-password\n", { mode: 0o600 });
    const groups = listMachineGroups(paths);
    const before = fs.readFileSync(envFile, "utf8");
    const r = await cli("rollout", ":2");
    // Bad input (exit 2), found before any machine: traffic stays on the live slot.
    expect(r.code, r.stderr + r.stdout).toBe(2);
    expect(r.stderr).toContain(`registry ${registry!.hostPort} refused the credentials of user ci (401): check registry.password`);
    expect(r.stderr + r.stdout).not.toContain("not-the-password");
    expect(listMachineGroups(paths)).toEqual(groups);
    expect(fs.readFileSync(envFile, "utf8")).toBe(before);
    expect(version((await httpGet(url)).body)).toBe("v1");
  });

  it("with the right password the CLI's rollout :2 puts v2 on both hosts by digest", async () => {
    fs.writeFileSync(secretFile, `${PASSWORD}\n`, { mode: 0o600 });
    const r = await cli("rollout", ":2");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const pinned = `${registry!.hostPort}/team/demo@${v2.manifestDigest}`;
    expect(r.stdout + r.stderr).toContain(`hosts pull ${pinned}`);
    expect(await onLiveHosts("docker inspect --format '{{.Config.Image}} {{.Image}}' demo-2")).toEqual([`${pinned} ${v2.imageId}`, `${pinned} ${v2.imageId}`]);
    expect(version((await httpGet(url)).body)).toBe("v2");
    expect(fs.readFileSync(envFile, "utf8")).toContain(`image: ${registry!.hostPort}/team/demo:2`);
    expect(outputs.join("\n")).not.toContain(PASSWORD);
  });
});

function version(body: string): string {
  return /longshore demo (\w+)/.exec(body)?.[1] ?? `?(${body.slice(0, 40)})`;
}
