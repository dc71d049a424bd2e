// Debian 13 hosts (hosts.os: debian-13) on the local driver: the trixie template, the trixie engine
// bundle (docker.io 26 with docker-cli and the Compose v2 plugin) built from this Debian 12
// computer's own mirror, a host image made from them, and rollouts of the test's own app under
// HTTP load. Does not prove AWS's Debian 13 AMIs (mocks do the lookup) or Compose applications.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import { parseLockFile } from "../../model/lock-file";
import { buildTestAppImages, startControllerEngine, TEST_APP_HEALTH_PATH, testAppRootBody, type ControllerEngine } from "../helpers/app-image";
import { freePort, httpGet, ssh, startLoad, testPaths } from "./local-support";
import { runCli, slotGroups } from "./own-app-support";

const ENV = "e2edeb13";
const paths = testPaths("ls-e2e-deb13");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-deb13-env-"));
let engine: ControllerEngine | undefined;
let port = 0;
const cliEnv = () => ({ DOCKER_HOST: engine!.host });
const savedStateDir = process.env["LONGSHORE_LOCAL_STATE_DIR"];

beforeAll(async () => {
  // The CLI runs in this process and finds its local state through the process's environment.
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  const images = await buildTestAppImages();
  engine = await startControllerEngine();
  for (const v of [images.v1, images.v2]) await engine.docker(["load", "-i", v.archive], { timeoutMs: 300_000 });
  port = await freePort();
  fs.writeFileSync(
    path.join(dir, "longshore.yaml"),
    `name: ${ENV}
driver: local
hosts: { os: debian-13 }
app:
  name: shop
  image: longshore-test-app:1
  imageFrom: engine
  port: 8080
  health: { path: ${TEST_APP_HEALTH_PATH}, intervalSeconds: 0.5 }
slots:
  blue: { image: null, size: 2 }
  green: { image: null, size: 2 }
live: null
rollout: { healthDeadlineSeconds: 90, soakSeconds: 1, drainSeconds: 1 }
local: { listen: 127.0.0.1:${port} }
`,
  );
}, 900_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await engine?.stop().catch((e: unknown) => console.error(e));
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  if (savedStateDir === undefined) delete process.env["LONGSHORE_LOCAL_STATE_DIR"];
  else process.env["LONGSHORE_LOCAL_STATE_DIR"] = savedStateDir;
});

/** Runs `command` on every host of the live slot, each output trimmed. */
async function onLiveHosts(command: string): Promise<string[]> {
  const live = slotGroups(paths, ENV);
  const group = live.slots[live.live!]!.group!;
  const state = readMachineGroup(group, paths)!;
  return Promise.all(
    state.machines.map(async (m) => {
      const r = await ssh(state, m, command);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim();
    }),
  );
}

describe("Debian 13 hosts", () => {
  it("a rollout puts the app on Debian 13 machines with engine 26 and Compose v2, pinned to the trixie bundle", async () => {
    const r = await runCli(dir, cliEnv(), ["rollout"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await onLiveHosts(". /etc/os-release; echo $VERSION_ID $VERSION_CODENAME")).toEqual(["13 trixie", "13 trixie"]);
    for (const v of await onLiveHosts("docker version --format '{{.Server.Version}}'")) expect(v).toMatch(/^26\./);
    for (const v of await onLiveHosts("docker compose version --short")) expect(v).toMatch(/^2\./);
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toBe(testAppRootBody("1"));
    // The lock pins the trixie recipe's bundle, not bookworm's.
    const lock = parseLockFile(fs.readFileSync(path.join(dir, "longshore.lock"), "utf8"));
    expect(lock.ok && lock.value.engine.amd64?.recipe).toBe("debian-trixie-amd64");
    expect(lock.ok && Object.keys(lock.value.engine.amd64!.packages)).toEqual(expect.arrayContaining(["docker.io", "docker-cli", "docker-compose"]));
    // The machines booted from a Debian 13 host image: no engine step changed.
    const summaries = [...r.stderr.matchAll(/: ok in [\d.]+ s \(changed: ([^;]*); (\d+) unchanged\)/g)];
    expect(summaries, r.stderr).toHaveLength(2);
    for (const m of summaries) expect(m[1]!.split(", ").filter((id) => id.startsWith("engine."))).toEqual([]);
  });

  it("rolls out v2 under HTTP load with zero failed requests", async () => {
    const load = startLoad(`http://127.0.0.1:${port}/`, 4);
    const r = await runCli(dir, cliEnv(), ["rollout", ":2"]);
    const result = await load.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(result.errors).toEqual([]);
    expect(result.non2xx).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
    expect(result.bodies.at(-1)).toBe(`200 ${testAppRootBody("2").trim()}`);
    expect(await onLiveHosts(". /etc/os-release; echo $VERSION_ID")).toEqual(["13", "13"]);
  });
});
