// e2e: `longshore app exec` on the local demo environment (2 machines, the real engine): a command
// runs in the app's container on both hosts (its hostname is the container's ID), output streamed
// line by line after each host's name with the app's secret redacted, per-host exit codes and a
// non-zero longshore exit, --host and --json, 200,000 lines per host arriving whole; then `-i`
// under tmux (a real terminal): the pty's size and a resize reach the container, Ctrl-C stops a
// `sleep 100` without ending the session, the remote exit code becomes longshore's, and the
// terminal is back in cooked mode after. Does not prove Compose apps (unit tests check the lookup)
// nor the aws driver (refused).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, realDeps } from "../../cli/main";
import { EXIT } from "../../cli/exit-codes";
import { systemSecretReader } from "../../core/secret-reader";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import { demoEnvironmentText } from "../../model/environment-file";
import { Sink } from "../helpers/cli-harness";
import { compileTree, type CompiledTree } from "../helpers/compiled-tree";
import { freePort, ssh, testPaths } from "./local-support";

const ENV = "e2eexec";
const paths = testPaths("ls-e2e-exec");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-exec-env-"));
const SECRET = `exec-secret-${process.pid}-${Date.now()}`;
const cliVars = { E2E_EXEC_DB_PASSWORD: SECRET, LONGSHORE_OPERATOR: "e2e@longshore" };
const savedEnv = { ...process.env };
/** Our own tmux server, its socket in the test's directory: nothing of anyone else's tmux is touched, nothing is left behind. */
const TMUX_SOCKET = path.join(dir, "tmux.sock");
const SESSION = "appexec";
let tree: CompiledTree | undefined;
let tmuxStarted = false;

/** Runs the real CLI (cli/main.ts, real dependencies) in the environment's directory. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const env = { ...process.env, ...cliVars };
  const code = await main(argv, { ...realDeps(), stdout, stderr, cwd: dir, env, secretReader: systemSecretReader(env) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The live slot's machines and each one's app container ID, asked with OpenSSH. */
async function liveContainers(): Promise<Map<string, string>> {
  const slots = JSON.parse(fs.readFileSync(path.join(paths.stateRoot, ENV, "slots.json"), "utf8")) as { live: string; slots: Record<string, { group: string }> };
  const state = readMachineGroup(slots.slots[slots.live]!.group, paths)!;
  const ids = new Map<string, string>();
  for (const m of state.machines) {
    const r = await ssh(state, m, "docker ps -q --filter label=io.longshore.app=demo --filter status=running");
    expect(r.code, r.stderr).toBe(0);
    ids.set(m.name, r.stdout.trim());
  }
  return ids;
}

const tmux = (...args: string[]) => execFileSync("tmux", ["-S", TMUX_SOCKET, ...args], { encoding: "utf8" });
const pane = () => tmux("capture-pane", "-p", "-t", SESSION);
const keys = (...k: string[]) => void tmux("send-keys", "-t", SESSION, ...k);

/** Waits until the visible pane matches `re` (30 s at most; the failure shows the pane). */
async function paneShows(re: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = pane();
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the pane never showed ${re}:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // The CLI (in this process and in tmux) finds its local state through the environment.
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, "longshore.yaml"),
    demoEnvironmentText("longshore-demo:v1")
      .replace("name: demo", `name: ${ENV}`)
      .replace("    GREETING: hello\n", "    GREETING: hello\n  secrets:\n    DB_PASSWORD: { env: E2E_EXEC_DB_PASSWORD }\n")
      .replace("healthDeadlineSeconds: 120", "healthDeadlineSeconds: 90")
      .replace("soakSeconds: 10", "soakSeconds: 0")
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`),
  );
  // The compiled CLI is what runs in tmux (Node's own loader cannot run the .ts sources).
  tree = compileTree(["cli/main.ts"], "ls-e2e-exec-cli");
  const started = Date.now();
  const up = await cli("up");
  expect(up.code, up.stderr + up.stdout).toBe(0);
  console.log(`up (2 machines): ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 900_000);

afterAll(async () => {
  if (tmuxStarted) {
    try {
      tmux("kill-session", "-t", SESSION);
    } catch {
      // Already gone (the test ended it).
    }
  }
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  tree?.remove();
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  process.env = savedEnv;
}, 300_000);

describe("longshore app exec on local machines", () => {
  it("runs in the app's container on both hosts: lines after each host's name, the secret redacted, each host's exit code, exit 4", async () => {
    const ids = await liveContainers();
    expect(ids.size).toBe(2);
    const started = Date.now();
    const r = await cli("app", "exec", "--", "sh", "-c", 'hostname; echo "$GREETING" "$DB_PASSWORD"; echo to-stderr >&2; exit 3');
    console.log(`app exec on 2 hosts: ${Date.now() - started} ms`);
    expect(r.code, r.stderr).toBe(EXIT.commandFailed);
    const hosts = [...ids.keys()];
    const width = Math.max(...hosts.map((h) => h.length));
    // Hosts run in parallel: each host's lines are in order, the hosts' lines may interleave.
    for (const h of hosts) {
      const mine = r.stdout.split("\n").filter((l) => l.startsWith(`${h.padEnd(width)} | `));
      // `hostname` in a container is its short ID: the command ran in the app's container, not on the host.
      expect(mine).toEqual([`${h.padEnd(width)} | ${ids.get(h)!.slice(0, 12)}`, `${h.padEnd(width)} | hello [redacted]`]);
      expect(r.stderr).toContain(`${h.padEnd(width)} | to-stderr\n`);
      expect(r.stderr).toContain(`${h.padEnd(width)}: exit 3\n`);
    }
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("exits 0 when every host exited 0; --host and --json give one host's result", async () => {
    // The demo image has busybox and sh, no other program files: applets run through its sh.
    const all = await cli("app", "exec", "--", "sh", "-c", "true");
    expect(all.code, all.stderr).toBe(0);
    const [, second] = [...(await liveContainers()).entries()];
    const r = await cli("app", "exec", "--json", "--host", second![0], "--", "sh", "-c", "echo out; echo err >&2; exit 5");
    expect(r.code).toBe(EXIT.commandFailed);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ environment: ENV, slot: "blue", command: ["sh", "-c", "echo out; echo err >&2; exit 5"] });
    expect(doc.hosts).toEqual([
      { host: second![0], ok: false, exitCode: 5, signal: null, stdout: "out\n", stderr: "err\n", durationMs: expect.any(Number), container: { id: second![1].slice(0, 12), name: "demo-v1" }, stdoutBytes: 4, stderrBytes: 4, truncated: false },
    ]);
  });

  it("200,000 lines per host arrive whole, in order, each after its host's name", async () => {
    const started = Date.now();
    const r = await cli("app", "exec", "--", "sh", "-c", "seq 1 200000");
    console.log(`app exec seq 1 200000 on 2 hosts: ${Date.now() - started} ms, ${r.stdout.length} bytes`);
    expect(r.code, r.stderr).toBe(0);
    const hosts = [...(await liveContainers()).keys()];
    const width = Math.max(...hosts.map((h) => h.length));
    for (const h of hosts) {
      const mine = r.stdout.split("\n").filter((l) => l.startsWith(`${h.padEnd(width)} | `)).map((l) => Number(l.slice(width + 3)));
      expect(mine.length).toBe(200_000);
      expect(mine.every((n, i) => n === i + 1)).toBe(true);
    }
  });

  it("-i under tmux: the pty's size and a resize reach the container, Ctrl-C stops a sleep and not the session, `exit 7` is longshore's exit code, the terminal is restored", async () => {
    const vars = { LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot, ...cliVars };
    const env = Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(" ");
    const cmd = `env ${env} ${process.execPath} ${tree!.file("cli/main.js")}`;
    tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "30", "-c", dir, "env", "PS1=$ ", "bash", "--norc", "--noprofile");
    tmuxStarted = true;
    // capture-pane drops trailing spaces: the prompts `$ ` and `/www # ` show as `$` and `/www #`.
    await paneShows(/^\$$/m);

    // A stdin that is no terminal is refused, before any host.
    keys(`echo | ${cmd} app exec -i -- sh; echo EXIT=$?`, "Enter");
    await paneShows(/EXIT=2$/m);
    expect(pane()).toContain("--interactive: needs a terminal: stdin is not a TTY");
    keys("clear", "Enter");

    const started = Date.now();
    keys(`${cmd} app exec -i; echo EXIT=$?`, "Enter");
    // The busybox shell's prompt in the demo container (as root, in its working directory /www).
    await paneShows(/^\/www #$/m);
    console.log(`app exec -i: prompt after ${Date.now() - started} ms`);
    expect(pane()).toMatch(/e2eexec-blue-g1-1: demo-v1: sh/);

    keys("stty size", "Enter");
    await paneShows(/^30 100$/m);
    tmux("resize-window", "-t", SESSION, "-x", "120", "-y", "40");
    keys("clear; stty size", "Enter");
    await paneShows(/^40 120$/m);

    keys("echo answer-$((6*7))", "Enter");
    await paneShows(/^answer-42$/m);

    keys("clear", "Enter");
    // Nothing on the screen but the prompt.
    await paneShows(/^\/www #\s*$/);
    keys("sleep 100", "Enter");
    await new Promise((r) => setTimeout(r, 1_000));
    const interruptedAt = Date.now();
    keys("C-c");
    // The shell's prompt again, below the interrupted `sleep 100` (not the local shell's: the session goes on).
    await paneShows(/^\/www # sleep 100\n(?:.*\n)*?\/www #$/m, 10_000);
    console.log(`Ctrl-C to the prompt again: ${Date.now() - interruptedAt} ms`);
    keys("echo after-interrupt", "Enter");
    await paneShows(/^after-interrupt$/m);

    keys("exit 7", "Enter");
    await paneShows(/^EXIT=7$/m);
    // The local shell's terminal is back in cooked mode (icanon, echo): longshore restored it.
    keys("clear; stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo", "Enter");
    await paneShows(/^icanon echo$/m);
  });
});
