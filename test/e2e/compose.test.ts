// e2e: a Compose app (app.compose) on Debian 13 local machines (engine 26, Compose 2.26), through
// the real CLI: the test's own "shop" (web + worker of one image, a project-local cache, and Redis
// as the accessory `db`, all built with the controller's engine from Debian packages) delivered from
// the operator's engine layer by layer; env and secrets byte-exact in the containers (secrets as
// Compose file secrets, 0600, never in a Compose file); the worker on every host; the web writing
// the accessory's data, which survives a rollout to v2 under HTTP load (0 failed requests) and an
// `accessory upgrade`; a failing before-switch hook leaving traffic on v1, a migrating one run
// through Compose; every image pinned in longshore.lock; a bad Compose file refused before any machine.
// Does not prove: registry deliveries of Compose apps (the image.pull unit tests do the argv), or
// the aws driver (it refuses app.compose).
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destroyAccessories } from "../../drivers/local/accessories";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import { parseLockFile } from "../../model/lock-file";
import { startControllerEngine, type ControllerEngine } from "../helpers/app-image";
import { buildComposeAppImages, loadIntoEngine, SHOP_HEALTH_PATH, shopRootBody, type ComposeAppImages } from "../helpers/compose-app-images";
import { freePort, httpGet, ssh, startLoad, testPaths } from "./local-support";
import { runCli, slotGroups } from "./own-app-support";

const ENV = "e2ecompose";
const paths = testPaths("ls-e2e-compose");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-compose-env-"));
/** A marker in every secret: searched for afterwards where no secret may be. */
const MARKER = `LSMARK${randomBytes(6).toString("hex")}`;
const SECRETS = {
  REDIS_PASSWORD: `${MARKER}-redis 'quoted' "double" $HOME \\back = ünï`,
  SIGNING_KEY: `${MARKER}-signing \${NOT_INTERPOLATED} $$ # not a comment`,
};
const ENV_VALUES = { GREETING_STYLE: "plain words, $not-expanded 'q' \"dq\" # hash" };
const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

let engine: ControllerEngine | undefined;
let images: ComposeAppImages;
let port = 0;
const outputs: string[] = [];
const savedStateDir = process.env["LONGSHORE_LOCAL_STATE_DIR"];

const COMPOSE = `# The shop: a web service, a worker of the same image, and a per-host cache (Redis too).
# The database is the accessory db (longshore.yaml): it outlives the rollouts.
services:
  web:
    image: longshore-shop:1
    depends_on: [cache]
    secrets: [REDIS_PASSWORD]
  worker:
    image: longshore-shop:1
    command: ["/app/worker"]
  cache:
    image: longshore-shop-redis:1
    secrets: [REDIS_PASSWORD]
    volumes: ["cache-data:/data"]
volumes:
  cache-data: {}
`;

/** The hook that migrates: sets `migrated` in the project's Redis with the app's env (the shop's own shell library). */
const MIGRATE = ["/bin/sh", "-c", ". /app/lib.sh; shop_config own_env; echo migrating; redis SET migrated v2 >/dev/null && echo migrated"];

/** Sets (or clears) rollout.beforeSwitch in the environment file, keeping what rollouts wrote there. */
function setHook(beforeSwitch?: readonly string[]): void {
  const file = path.join(dir, "longshore.yaml");
  const line = /^rollout: .*$/m;
  const wanted = envFile(beforeSwitch).match(line)![0];
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace(line, wanted));
}

function envFile(beforeSwitch?: readonly string[]): string {
  return `name: ${ENV}
driver: local
hosts: { os: debian-13 }
app:
  name: shop
  image: longshore-shop:1
  imageFrom: engine
  compose: ./compose.yaml
  service: web
  port: 8080
  env:
    GREETING_STYLE: ${JSON.stringify(ENV_VALUES.GREETING_STYLE)}
  secrets:
    REDIS_PASSWORD: { env: E2E_REDIS_PASSWORD }
    SIGNING_KEY: { env: E2E_SIGNING_KEY }
  health: { path: ${SHOP_HEALTH_PATH}, intervalSeconds: 0.5 }
accessories:
  db:
    image: longshore-shop-redis:1
    port: 6379
    secrets: { REDIS_PASSWORD: { env: E2E_REDIS_PASSWORD } }
    volumes: ["redis-data:/data"]
slots:
  blue: { image: null, size: 2 }
  green: { image: null, size: 2 }
live: null
rollout: { healthDeadlineSeconds: 120, soakSeconds: 2, drainSeconds: 1${beforeSwitch ? `, beforeSwitch: { command: ${JSON.stringify(beforeSwitch)} }` : ""} }
local: { listen: 127.0.0.1:${port} }
`;
}

async function cli(...argv: string[]) {
  const r = await runCli(dir, { DOCKER_HOST: engine!.host, E2E_REDIS_PASSWORD: SECRETS.REDIS_PASSWORD, E2E_SIGNING_KEY: SECRETS.SIGNING_KEY }, argv);
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** The workers the shop lists (from the db), once every one of `expected` is there or after 15 s. */
async function registeredWorkers(expected: readonly string[]): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = (await httpGet(`http://127.0.0.1:${port}/cgi-bin/workers`)).body.split("\n").filter(Boolean);
    if (expected.every((w) => listed.includes(w)) || Date.now() > deadline) return listed;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Runs `command` on the accessory db's machine; its output trimmed. */
async function onDb(command: string): Promise<string> {
  const state = readMachineGroup(`${ENV}-acc-db`, paths)!;
  const r = await ssh(state, state.machines[0]!, command);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Runs `command` on every host of the live slot; each output trimmed. */
async function onLiveHosts(command: string): Promise<string[]> {
  const live = slotGroups(paths, ENV);
  const state = readMachineGroup(live.slots[live.live!]!.group!, paths)!;
  return Promise.all(
    state.machines.map(async (m) => {
      const r = await ssh(state, m, command);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    }),
  );
}

beforeAll(async () => {
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  images = await buildComposeAppImages();
  engine = await startControllerEngine();
  await loadIntoEngine(engine, images);
  port = await freePort();
  fs.writeFileSync(path.join(dir, "compose.yaml"), COMPOSE);
  fs.writeFileSync(path.join(dir, "longshore.yaml"), envFile());
}, 900_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await destroyAccessories(ENV, paths, "delete", () => undefined).catch((e: unknown) => console.error(e));
  await engine?.stop().catch((e: unknown) => console.error(e));
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  if (savedStateDir === undefined) delete process.env["LONGSHORE_LOCAL_STATE_DIR"];
  else process.env["LONGSHORE_LOCAL_STATE_DIR"] = savedStateDir;
}, 300_000);

describe("a Compose app on Debian 13 hosts", () => {
  it("a bad Compose file is refused before any machine, every problem with its path in the file", async () => {
    fs.writeFileSync(path.join(dir, "bad.yaml"), "services:\n  web:\n    build: .\n    ports: [\"8080:8080\"]\n  worker:\n    image: longshore-shop:1\n    env_file: .env\n    command: [\"$HOME/x\"]\n");
    fs.writeFileSync(path.join(dir, "bad.longshore.yaml"), envFile().replace("./compose.yaml", "./bad.yaml"));
    const r = await cli("rollout", "-f", "bad.longshore.yaml");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.yaml: services.web.build: is not run by longshore");
    expect(r.stderr).toContain("bad.yaml: services.web.image: is required");
    expect(r.stderr).toContain("bad.yaml: services.web.ports[0]: publishes host port 8080, the app's own");
    expect(r.stderr).toContain("bad.yaml: services.worker.env_file: names a file of this computer");
    expect(r.stderr).toContain("bad.yaml: services.worker.command[0]: uses $HOME");
    expect(fs.existsSync(path.join(paths.stateRoot, ENV, "slots.json"))).toBe(false);
  });

  it("rollout: every service on every new host, env and secrets byte-exact, the worker running, images pinned", async () => {
    const r = await cli("rollout");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const base = `http://127.0.0.1:${port}`;
    expect((await httpGet(`${base}/`)).body).toBe(shopRootBody("1"));
    expect((await httpGet(`${base}/cgi-bin/env?GREETING_STYLE`)).body).toBe(`${sha(ENV_VALUES.GREETING_STYLE)}\n`);
    expect((await httpGet(`${base}/cgi-bin/env?SIGNING_KEY`)).body).toBe(`${sha(SECRETS.SIGNING_KEY)}\n`);
    expect((await httpGet(`${base}/cgi-bin/env?REDIS_PASSWORD`)).body).toBe(`${sha(SECRETS.REDIS_PASSWORD)}\n`);
    expect((await httpGet(`${base}/cgi-bin/secret?REDIS_PASSWORD`)).body).toBe(`${sha(SECRETS.REDIS_PASSWORD)}\n`);
    // The web reaches the accessory db by its name, with the secret as its password, and writes to it.
    const visit = await httpGet(`${base}/cgi-bin/visit`);
    expect(visit.status, visit.body).toBe(200);
    expect(visit.body).toMatch(/^[0-9]+\n$/);
    expect((await httpGet(`${base}/cgi-bin/put?greeting=hello`)).body).toBe("stored\n");
    expect((await httpGet(`${base}/cgi-bin/get?greeting`)).body).toBe("hello\n");

    // Each host: the three services running under Compose with engine 26; the worker registered.
    for (const line of await onLiveHosts("docker compose -p shop ps --format '{{.Service}}={{.State}}' | sort | tr '\\n' ' '")) {
      expect(line).toBe("cache=running web=running worker=running");
    }
    for (const v of await onLiveHosts("docker version --format '{{.Server.Version}}'")) expect(v).toMatch(/^26\./);
    // Every host's worker registers in the shared db (each every second, with a 5 s TTL).
    const workerHosts = await onLiveHosts("docker inspect --format '{{.Config.Hostname}}' shop-worker-1");
    expect(await registeredWorkers(workerHosts)).toEqual(expect.arrayContaining(workerHosts));
    // Files: 0600, and no secret value in either Compose file.
    for (const modes of await onLiveHosts("stat -c '%a %n' /etc/longshore/apps/shop/compose/* /etc/longshore/apps/shop/secrets/* /etc/longshore/apps/shop/*.env | sort")) {
      for (const line of modes.split("\n")) expect(line).toMatch(/^600 /);
    }
    for (const found of await onLiveHosts(`grep -rl ${MARKER} /etc/longshore/apps/shop/compose || echo none`)) expect(found).toBe("none");

    const lock = parseLockFile(fs.readFileSync(path.join(dir, "longshore.lock"), "utf8"));
    expect(lock.ok && lock.value.images).toEqual({ "longshore-shop:1": images.shopV1.imageId, "longshore-shop-redis:1": images.redisV1.imageId });
  });

  it("a failing before-switch hook: the rollout fails with its output, traffic stays on v1, the new hosts are gone", async () => {
    const before = slotGroups(paths, ENV);
    setHook(["/bin/sh", "-c", "echo migration failed: no such table >&2; exit 3"]);
    const r = await cli("rollout", "longshore-shop:2");
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("migration failed: no such table");
    expect(r.stdout + r.stderr).toMatch(/hook.*exit(ed)? 3/);
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toBe(shopRootBody("1"));
    // The slots are as they were (only the generation counter, which names the next group, moved on).
    const after = slotGroups(paths, ENV);
    const shape = (x: typeof before) => [x.live, ...(["blue", "green"] as const).map((s) => [x.slots[s]?.group, x.slots[s]?.image, (x.slots[s] as { prepared?: unknown }).prepared ?? null])];
    expect(shape(after)).toEqual(shape(before));
  });

  it("a rollout to v2 under HTTP load, its hook migrating through Compose: 0 failed requests, every app service of the new hosts on v2", async () => {
    setHook(MIGRATE);
    const load = startLoad(`http://127.0.0.1:${port}/`, 4);
    const r = await cli("rollout", "longshore-shop:2");
    const result = await load.stop();
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(result.errors.slice(0, 5)).toEqual([]);
    expect(result.non2xx).toBe(0);
    expect(result.ok).toBeGreaterThan(50);
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toBe(shopRootBody("2"));
    // The hook ran once, in a container of the web service (its env, the db by name), before the switch.
    expect(r.stdout).toContain("migrated");
    expect((await httpGet(`http://127.0.0.1:${port}/cgi-bin/get?migrated`)).body).toBe("v2\n");
    // The accessory's data survived the rollout: it is on the db's host, which no rollout replaces.
    expect((await httpGet(`http://127.0.0.1:${port}/cgi-bin/get?greeting`)).body).toBe("hello\n");
    const workerHosts = await onLiveHosts("docker inspect --format '{{.Config.Hostname}}' shop-worker-1");
    expect(await registeredWorkers(workerHosts)).toEqual(expect.arrayContaining(workerHosts));
    for (const line of await onLiveHosts("docker inspect --format '{{index .Config.Labels \"com.docker.compose.service\"}}={{.Image}}' $(docker ps -q --filter label=com.docker.compose.project=shop) | sort | tr '\\n' ' '")) {
      expect(line).toBe(`cache=${images.redisV1.imageId} web=${images.shopV2.imageId} worker=${images.shopV2.imageId}`);
    }
  });

  it("accessory upgrade: the db's container is replaced with v2, its data kept, the app still reaching it", async () => {
    const before = await onDb("docker ps -q --no-trunc --filter label=io.longshore.app=db");
    const visits = Number((await httpGet(`http://127.0.0.1:${port}/cgi-bin/visit`)).body);
    const r = await cli("accessory", "upgrade", "db", "longshore-shop-redis:2");
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const after = await onDb("docker ps -q --no-trunc --filter label=io.longshore.app=db");
    expect(after).not.toBe(before);
    expect(await onDb(`docker inspect --format '{{.Image}}' ${after}`)).toBe(images.redisV2.imageId);
    expect(await onDb(`docker exec ${after} cat /etc/shop-redis-version`)).toBe("2");
    expect((await httpGet(`http://127.0.0.1:${port}/cgi-bin/get?greeting`)).body).toBe("hello\n");
    expect(Number((await httpGet(`http://127.0.0.1:${port}/cgi-bin/visit`)).body)).toBe(visits + 1);
    // The file now says what runs.
    expect(fs.readFileSync(path.join(dir, "longshore.yaml"), "utf8")).toMatch(/db:\n\s+image: longshore-shop-redis:2/);
  });

  it("no secret value in the CLI's output or the local state", () => {
    const state = fs.readdirSync(paths.stateRoot, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.parentPath.includes("/machines/"));
    for (const e of state) expect(fs.readFileSync(path.join(e.parentPath, e.name)).includes(MARKER), path.join(e.parentPath, e.name)).toBe(false);
    for (const o of outputs) expect(o).not.toContain(MARKER);
  });
});
