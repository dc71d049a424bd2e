// e2e: `logs` and `events` through the real CLI (in-process) on a 2-host live slot of local
// Debian 12 machines with the demo image: lines written into each host's container come back
// merged in time order after their host's name, stderr kept apart in --json, the app's secret
// redacted; --follow picks up a line written after it started, ends on the abort signal (exit 130)
// leaving no `docker logs` behind on the hosts (without the tie to the channel one stays there:
// measured), and goes on when one host's network goes away; `events` shows the rollout's container
// starts. Does not prove Compose services (the selector's argv is unit tested), `events --follow`
// (unit tested on scripted transports), the aws driver (refused), or a real SIGINT (main.ts turns it
// into the same abort signal).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, realDeps } from "../../cli/main";
import { systemSecretReader } from "../../core/secret-reader";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState, MachineRecord } from "../../drivers/local/state";
import { demoEnvironmentText } from "../../model/environment-file";
import { Sink } from "../helpers/cli-harness";
import { freePort, ssh, testPaths } from "./local-support";
import { slotGroups } from "./own-app-support";

const ENV = "e2elogs";
const paths = testPaths("ls-e2e-logs");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-logs-env-"));
/** The app's one secret: the app prints it, and it must never be seen. */
const SECRET = `logs-secret-${randomBytes(8).toString("hex")}`;
const cliEnv = { E2E_LOGS_TOKEN: SECRET, LONGSHORE_OPERATOR: "e2e@longshore" };
const savedStateDir = process.env["LONGSHORE_LOCAL_STATE_DIR"];
const run = randomBytes(4).toString("hex");
let startedAt = "";

/** Runs the real CLI (cli/main.ts, real dependencies) in the environment's directory; `signal` is what Ctrl-C aborts. */
function cli(argv: string[], signal?: AbortSignal): { stdout: Sink; stderr: Sink; done: Promise<number> } {
  const stdout = new Sink();
  const stderr = new Sink();
  const env = { ...process.env, ...cliEnv };
  const done = main(argv, { ...realDeps(signal), stdout, stderr, cwd: dir, env, secretReader: systemSecretReader(env) });
  return { stdout, stderr, done };
}

/** The live slot's machine group and its machines, in the slot's order. */
function live(): { state: EnvState; machines: MachineRecord[] } {
  const slots = slotGroups(paths, ENV);
  const state = readMachineGroup(slots.slots[slots.live!]!.group!, paths)!;
  return { state, machines: state.machines };
}

/** Writes `text` as a line of the app container's stdout (fd 1) or stderr (fd 2) on machine `i` of the live slot. */
async function say(i: number, text: string, fd: 1 | 2 = 1): Promise<void> {
  const { state, machines } = live();
  const r = await ssh(state, machines[i]!, `docker exec "$(docker ps -q --filter label=io.longshore.app=demo | head -n 1)" sh -c 'echo "$1" > /proc/1/fd/${fd}' sh '${text}'`);
  expect(r.code, r.stderr).toBe(0);
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  const port = await freePort();
  const text = demoEnvironmentText("longshore-demo:v1")
    .replace("name: demo", `name: ${ENV}`)
    // Debian 12's OpenSSH refuses signals on root logins: only the tie to the channel ends `docker logs --follow` there.
    .replace(/^ {2}os: debian-13.*$/m, "  os: debian-12")
    .replace("    GREETING: hello\n", "    GREETING: hello\n  secrets:\n    LOG_TOKEN: { env: E2E_LOGS_TOKEN }\n")
    .replace("soakSeconds: 10", "soakSeconds: 0")
    .replace("drainSeconds: 2", "drainSeconds: 1")
    .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`);
  fs.writeFileSync(path.join(dir, "longshore.yaml"), text);
  // Before the rollout: `events --since` this time must show its container starts.
  startedAt = new Date(Date.now() - 1_000).toISOString();
  const up = cli(["up"]);
  const code = await up.done;
  expect(code, up.stderr.text).toBe(0);
  expect(live().machines).toHaveLength(2);
}, 900_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  if (savedStateDir === undefined) delete process.env["LONGSHORE_LOCAL_STATE_DIR"];
  else process.env["LONGSHORE_LOCAL_STATE_DIR"] = savedStateDir;
});

describe("logs and events of a 2-host live slot", () => {
  it("logs: both hosts' lines, in time order, after their host's name; the secret redacted; --json keeps stderr apart", async () => {
    const since = new Date().toISOString();
    const [a, b] = live().machines.map((m) => m.name) as [string, string];
    await say(0, `${run}-1`);
    await say(1, `${run}-2`);
    await say(0, `${run}-3`);
    await say(1, `${run}-4 token=${SECRET}`, 2);
    await say(0, `${run}-5`);

    const r = cli(["logs", "--since", since]);
    expect(await r.done, r.stderr.text).toBe(0);
    expect(r.stdout.text).not.toContain(SECRET);
    const ours = r.stdout.text.split("\n").filter((l) => l.includes(run));
    const width = Math.max(a.length, b.length);
    expect(ours).toEqual([
      `${a.padEnd(width)} | ${run}-1`,
      `${b.padEnd(width)} | ${run}-2`,
      `${a.padEnd(width)} | ${run}-3`,
      `${b.padEnd(width)} | ${run}-4 token=[redacted]`,
      `${a.padEnd(width)} | ${run}-5`,
    ]);

    const j = cli(["logs", "--since", since, "--json", "--grep", `^${run}-[45]`]);
    expect(await j.done, j.stderr.text).toBe(0);
    const objects = j.stdout.text.trim().split("\n").map((l) => JSON.parse(l) as { time: string; host: string; stream: string; line: string });
    expect(objects.map(({ host, stream, line }) => ({ host, stream, line }))).toEqual([
      { host: b, stream: "stderr", line: `${run}-4 token=[redacted]` },
      { host: a, stream: "stdout", line: `${run}-5` },
    ]);
    expect(objects[0]!.time < objects[1]!.time).toBe(true);
    expect(objects[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    // --host reads one host only; --tail counts per host.
    const one = cli(["logs", "--since", since, "--host", b, "--tail", "1"]);
    expect(await one.done, one.stderr.text).toBe(0);
    expect(one.stdout.text).toBe(`${b} | ${run}-4 token=[redacted]\n`);
  });

  it("logs --follow: picks up a line written after it started, and the abort ends it with 130 and no docker logs left on the hosts", async () => {
    const abort = new AbortController();
    const f = cli(["logs", "--follow", "--tail", "0"], abort.signal);
    const marker = (n: number) => `${run}-follow-${n}`;
    // Until the streams run, a line may be written before they start: write new ones until one shows.
    let n = 0;
    const end = Date.now() + 60_000;
    while (!f.stdout.text.includes(`${run}-follow-`)) {
      if (Date.now() > end) throw new Error(`no followed line in 60 s; stderr: ${f.stderr.text}`);
      await say(n % 2, marker(n++));
      await new Promise((r) => setTimeout(r, 500));
    }
    const t0 = Date.now();
    abort.abort();
    expect(await f.done, f.stderr.text).toBe(130);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(f.stderr.text).toBe("");
    const { state, machines } = live();
    // The channel's close ended `docker logs --follow` on each host (root logins take no signals).
    for (const m of machines) {
      let left = "";
      for (let i = 0; i < 30; i++) {
        // `ps` rather than `pgrep -f`, which would find the shell that runs it.
        left = (await ssh(state, m, "ps -eo args= | grep '^docker logs' || true")).stdout.trim();
        if (left === "") break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(left, m.name).toBe("");
    }
  });

  it("events: the rollout's container starts on both hosts, since before it", async () => {
    const [a, b] = live().machines.map((m) => m.name) as [string, string];
    const r = cli(["events", "--since", startedAt, "--filter", "type=container", "--filter", "event=start"]);
    expect(await r.done, r.stderr.text).toBe(0);
    const lines = r.stdout.text.trim().split("\n");
    for (const host of [a, b]) {
      expect(lines.filter((l) => l.startsWith(`${host} `) && / container start [0-9a-f]{64} \(.*io\.longshore\.app=demo/.test(l)), r.stdout.text).not.toEqual([]);
    }
    const j = cli(["events", "--since", startedAt, "--filter", "type=container", "--filter", "event=start", "--json"]);
    expect(await j.done, j.stderr.text).toBe(0);
    const events = j.stdout.text.trim().split("\n").map((l) => JSON.parse(l) as { time: string; host: string; type: string; action: string; attributes: Record<string, string> });
    const apps = events.filter((e) => e.attributes["io.longshore.app"] === "demo");
    expect(new Set(apps.map((e) => e.host))).toEqual(new Set([a, b]));
    expect(apps.every((e) => e.type === "container" && e.action === "start")).toBe(true);
    const times = events.map((e) => e.time);
    expect(times).toEqual([...times].sort());
  });

  it("logs --follow goes on when one host's network goes away: one `connection lost` line, the other host still streams", async () => {
    const { state, machines } = live();
    const [a, b] = machines.map((m) => m.name) as [string, string];
    const abort = new AbortController();
    const f = cli(["logs", "--follow", "--tail", "0"], abort.signal);
    let n = 0;
    const end = Date.now() + 60_000;
    while (!f.stdout.text.includes(`${run}-lost-`)) {
      if (Date.now() > end) throw new Error(`no followed line in 60 s; stderr: ${f.stderr.text}`);
      await say(0, `${run}-lost-${n++}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // The second host's link goes down a moment after this command returns.
    const down = await ssh(state, machines[1]!, "nohup sh -c 'sleep 1; ip link set host0 down' >/dev/null 2>&1 &");
    expect(down.code, down.stderr).toBe(0);
    await until("the lost connection to be reported", () => f.stderr.text.includes(`${b}: connection lost (`), 60_000);
    await say(0, `${run}-after-loss`);
    await until("a line of the remaining host", () => f.stdout.text.includes(`${run}-after-loss`));
    abort.abort();
    expect(await f.done).toBe(130);
    expect(f.stderr.text.split("\n").filter((l) => l !== "")).toEqual([expect.stringMatching(new RegExp(`^${b}: connection lost \\(.+\\)$`))]);
    expect(f.stdout.text).toContain(`${a.padEnd(b.length)} | ${run}-after-loss`);
  });
});
