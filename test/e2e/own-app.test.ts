// e2e: a team's own application (an image the test builds with the controller's engine, pulled by
// the hosts from a password-protected registry on the bridge) through the real CLI (`check`, `up`,
// `rollout`) on local machines: env, all three secret sources, registry login, a host-path and a
// named volume, a command override, memory/cpu limits and a logging driver, checked inside the
// container; then a rollout of version 2 under HTTP load. Does not prove TLS or token-auth
// registries, or the aws driver (the same model feeds the web program; its mocks suite covers it).
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMachineGroup } from "../../drivers/local/machine-group";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { TEST_APP_HEALTH_PATH, testAppRootBody } from "../helpers/app-image";
import { freePort, httpGet, ssh, startLoad, testPaths } from "./local-support";
import { appRegistry, runCli, type AppRegistry } from "./own-app-support";

const ENV = "e2eown";
/** A one-machine group that keeps the bridge (and so the registry's address) up from the start. */
const ANCHOR = "e2eown-anchor";
const paths = testPaths("ls-e2e-own");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-own-env-"));
const envFile = path.join(dir, "longshore.yaml");
/** A marker in every secret: searched for afterwards on this computer. */
const MARKER = `LSMARK${randomBytes(6).toString("hex")}`;
const SECRETS = {
  DB_PASSWORD: `${MARKER}-db pass 'quoted' "double" $HOME \\back = ünï`,
  API_TOKEN: `${MARKER}-token:with=equals and spaces`,
  SIGNING_KEY: `${MARKER}-signing-${"k".repeat(200)}`,
};
const REGISTRY_PASSWORD = `${MARKER}-registry`;
const ENV_VALUES = { GREETING_STYLE: "plain words, $not-expanded", COUNT: "3" };
const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

let reg: AppRegistry | undefined;
let url = "";
let refs: { v1: string; v2: string };
const savedEnv = { ...process.env };
const outputs: string[] = [];

/** Runs the real CLI (cli/main.ts with the real dependencies) in this directory, with the secrets in its environment. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCli(dir, { E2E_DB_PASSWORD: SECRETS.DB_PASSWORD, E2E_REGISTRY_PASSWORD: REGISTRY_PASSWORD }, argv);
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** The live slot's one machine, as its machine group's state records it. */
function liveMachine() {
  const slots = JSON.parse(fs.readFileSync(path.join(paths.stateRoot, ENV, "slots.json"), "utf8")) as {
    live: "blue" | "green";
    slots: Record<string, { group: string }>;
  };
  const state = readMachineGroup(slots.slots[slots.live]!.group, paths)!;
  return { state, machine: state.machines[0]! };
}

async function onLive(command: string): Promise<string> {
  const { state, machine } = liveMachine();
  const r = await ssh(state, machine, command);
  expect(r.code, `${command}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  reg = await appRegistry(ANCHOR, paths, REGISTRY_PASSWORD);
  refs = reg.refs;
  const registry = reg.registry;

  fs.mkdirSync(path.join(dir, "secrets"));
  fs.writeFileSync(path.join(dir, "secrets", "api-token"), `${SECRETS.API_TOKEN}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "secrets", "signing"), SECRETS.SIGNING_KEY, { mode: 0o600 });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  fs.writeFileSync(
    envFile,
    `# A team's own app, as a new user would write it.
name: ${ENV}
driver: local
app:
  name: shop
  image: ${refs.v1}
  command: ["/app/serve", "hello", "from", "e2e"]
  port: 8080
  env:
    GREETING_STYLE: "${ENV_VALUES.GREETING_STYLE}"
    COUNT: 3
  secrets:
    DB_PASSWORD: { env: E2E_DB_PASSWORD }
    API_TOKEN: { file: ./secrets/api-token }
    SIGNING_KEY: { command: [cat, ./secrets/signing] }
  volumes: ["/srv/shop/uploads:/data/uploads", "shopcache:/data/cache"]
  resources: { memory: 64m, cpus: 0.5 }
  logging: { driver: local, options: { max-size: 5m, max-file: 2 } }
  health: { path: ${TEST_APP_HEALTH_PATH}, intervalSeconds: 0.5 }
  stopTimeoutSeconds: 5
registry:
  server: ${registry.hostPort}
  username: ci
  password: { env: E2E_REGISTRY_PASSWORD }
engine:
  daemon: { insecure-registries: ["${registry.hostPort}"] }
slots:
  blue: { image: null, size: 1 }
  green: { image: null, size: 1 }
live: null
rollout: { healthDeadlineSeconds: 60, soakSeconds: 3, drainSeconds: 1 }
local: { listen: 127.0.0.1:${port} }
`,
  );
}, 900_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await reg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  process.env = savedEnv;
}, 300_000);

describe("a team's own application on local machines", () => {
  it("check reads every secret source and prints the resolved file without any secret", async () => {
    const r = await cli("check", "--json");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const report = JSON.parse(r.stdout) as { secrets: unknown[]; environment: { app: { secrets: Record<string, unknown> } } };
    expect(report.secrets).toEqual([
      { path: "app.secrets.DB_PASSWORD", source: "env E2E_DB_PASSWORD", status: "read" },
      { path: "app.secrets.API_TOKEN", source: "file ./secrets/api-token", status: "read" },
      { path: "app.secrets.SIGNING_KEY", source: "command cat", status: "read" },
      { path: "registry.password", source: "env E2E_REGISTRY_PASSWORD", status: "read" },
    ]);
    expect(report.environment.app.secrets["DB_PASSWORD"]).toEqual({ from: "env E2E_DB_PASSWORD", value: "[redacted]" });
    expect(r.stdout).not.toContain(MARKER);
  });

  it("up runs exactly what the file says: command, env, secrets byte-exact, limits, logging, volumes", async () => {
    const r = await cli("up");
    expect(r.code, r.stderr).toBe(0);
    expect((await httpGet(`${url}/`)).body).toBe(testAppRootBody("1", ["hello", "from", "e2e"]));
    // Every value as the app process sees it, compared by sha256 (the app never prints a value).
    for (const [name, value] of Object.entries({ ...SECRETS, ...ENV_VALUES })) {
      expect([name, (await httpGet(`${url}/cgi-bin/env?${name}`)).body]).toEqual([name, `${sha(value)}\n`]);
    }
    const inspect = JSON.parse(await onLive("docker inspect shop-1"))[0] as {
      Config: { Cmd: string[]; Image: string };
      HostConfig: { Memory: number; NanoCpus: number; LogConfig: { Type: string; Config: Record<string, string> }; RestartPolicy: { Name: string } };
      Mounts: Array<{ Type: string; Source?: string; Name?: string; Destination: string }>;
      State: { Running: boolean };
    };
    expect(inspect.State.Running).toBe(true);
    expect(inspect.Config.Cmd).toEqual(["/app/serve", "hello", "from", "e2e"]);
    // Pulled by the digest the tag named when the rollout began.
    expect(inspect.Config.Image).toBe(reg!.pinned.v1);
    expect([inspect.HostConfig.Memory, inspect.HostConfig.NanoCpus]).toEqual([64 * 1024 * 1024, 500_000_000]);
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: "local", Config: { "max-file": "2", "max-size": "5m" } });
    expect(inspect.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    expect(inspect.Mounts.map((m) => [m.Type, m.Type === "bind" ? m.Source : m.Name, m.Destination]).sort()).toEqual([
      ["bind", "/srv/shop/uploads", "/data/uploads"],
      ["volume", "shopcache", "/data/cache"],
    ]);
    // The env file: 0600 root, in the app's own directory.
    expect((await onLive("stat -c '%a %U' /etc/longshore/apps/shop/shop-1.env")).trim()).toBe("600 root");
  });

  it("pulled with the registry's credentials (the registry refuses anonymous pulls) and left none on the host", async () => {
    expect((await fetch(`${reg!.registry.url}/v2/team/shop/manifests/1`)).status).toBe(401);
    expect((await onLive("docker image inspect --format '{{index .RepoDigests 0}}' " + reg!.pinned.v1)).trim()).toBe(reg!.pinned.v1);
    const config = await onLive("cat /root/.docker/config.json 2>/dev/null || echo '{}'");
    expect(JSON.parse(config)).not.toHaveProperty(["auths", reg!.registry.hostPort]);
    expect(config).not.toContain(MARKER);
  });

  it("a host-path volume keeps a file across a container restart", async () => {
    await onLive("docker exec shop-1 sh -c 'echo kept > /data/uploads/marker.txt'");
    await onLive("docker restart shop-1 >/dev/null");
    expect(await onLive("docker exec shop-1 cat /data/uploads/marker.txt")).toBe("kept\n");
    expect(await onLive("cat /srv/shop/uploads/marker.txt")).toBe("kept\n");
  });

  it("rollout :2 under HTTP load: zero failed requests, then only version 2, with the same env and secrets", async () => {
    // The restart above must be healthy again before the load starts.
    for (let i = 0; i < 50 && (await httpGet(`${url}/`).catch(() => ({ status: 0 }))).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));
    const load = startLoad(`${url}/`, 4);
    const r = await cli("rollout", ":2");
    const doneAt = Date.now();
    // Keep the load on a little longer: every request started after the rollout must be served by v2.
    await new Promise((res) => setTimeout(res, 1500));
    const seen = await load.stop();
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect([seen.errors, seen.non2xx]).toEqual([[], 0]);
    expect(seen.ok).toBeGreaterThan(20);
    const after = seen.samples.filter((x) => x.startedAt > doneAt).map((x) => x.body);
    expect(after.length).toBeGreaterThan(5);
    expect(new Set(after)).toEqual(new Set([testAppRootBody("2", ["hello", "from", "e2e"]).trim()]));
    expect((await httpGet(`${url}/`)).body).toBe(testAppRootBody("2", ["hello", "from", "e2e"]));
    for (const [name, value] of Object.entries(SECRETS)) expect((await httpGet(`${url}/cgi-bin/env?${name}`)).body).toBe(`${sha(value)}\n`);
    const text = fs.readFileSync(envFile, "utf8");
    expect(text).toContain(`green: { image: ${refs.v2}, size: 1 }`);
    expect(text).toContain("live: green");
    expect(text).toContain("# A team's own app, as a new user would write it.");
  });

  it("no unprivileged user on a host can read a secret (every file, as nobody)", async () => {
    // The whole file system but /proc and /sys, as the host's `nobody`: what any local user could read.
    // A world-readable control file proves the search itself works (it must be the only hit).
    const found = await onLive(
      `echo ${MARKER} > /tmp/longshore-control && chmod 644 /tmp/longshore-control && ` +
        `setpriv --reuid=65534 --regid=65534 --clear-groups grep -rlsF --exclude-dir=proc --exclude-dir=sys ${MARKER} / ; rm -f /tmp/longshore-control`,
    );
    expect(found.split("\n").filter(Boolean)).toEqual(["/tmp/longshore-control"]);
    // And root finds it only where longshore and the engine keep the container's config.
    const asRoot = (await onLive(`grep -rlsF --exclude-dir=proc --exclude-dir=sys ${MARKER} / ; true`)).split("\n").filter(Boolean);
    expect(asRoot).toContain("/etc/longshore/apps/shop/shop-2.env");
  });

  it("the secrets are nowhere on this computer where another user could read them: not in the environment file, state, audit log or output", () => {
    const offenders: string[] = [];
    /** Others can read `p` when it is o+r and every directory above it is o+x. */
    const othersCanRead = (p: string, mode: number) => {
      if ((mode & 0o004) === 0) return false;
      for (let d = path.dirname(p); ; d = path.dirname(d)) {
        if ((fs.statSync(d).mode & 0o001) === 0) return false;
        if (d === path.dirname(d)) return true;
      }
    };
    const walk = (p: string) => {
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) return;
      if (st.isDirectory()) {
        for (const e of fs.readdirSync(p)) walk(path.join(p, e));
        return;
      }
      if (!st.isFile() || st.size > 64 * 1024 * 1024) return;
      if (othersCanRead(p, st.mode) && fs.readFileSync(p).includes(MARKER)) offenders.push(`${p} (${(st.mode & 0o777).toString(8)})`);
    };
    walk(dir);
    walk(paths.stateRoot);
    expect(offenders).toEqual([]);
    expect(fs.readFileSync(envFile, "utf8")).not.toContain(MARKER);
    expect(fs.readFileSync(path.join(dir, `${ENV}.audit.jsonl`), "utf8")).not.toContain(MARKER);
    expect(outputs.join("\n")).not.toContain(MARKER);
    // The secret files the user wrote are the only 0600 files of theirs that hold one.
    expect((fs.statSync(path.join(dir, "secrets", "api-token")).mode & 0o777).toString(8)).toBe("600");
  });
});
