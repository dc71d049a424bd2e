/**
 * Provisioner benchmark (issue 2): the real runner (`runPlan`, apply mode) through the real ssh2
 * transport (`connectSsh`) against 16 real OpenSSH sshd processes on 127.0.0.1, each with its own
 * host key, pinned by fingerprint. Each host gets the 20-step plan of `provisioner-plan.ts` inside
 * its own temp directory (7 steps upload 1-8 KB files).
 *
 * Run as root (sshd's privilege separation needs it):
 *   npx tsc -p . && node dist/bench/provisioner.js [--repeat 3] [--hosts 16]
 * Prints a Markdown table (for BENCHMARKS.md) on stdout, progress on stderr, raw samples to
 * bench/out/provisioner.json.
 *
 * Scenarios, each a first run (every step changes) then an idempotent re-run (every step unchanged),
 * repeated `--repeat` times, interleaved so load from other processes spreads over all of them:
 * - one connection per host, 16 hosts in parallel (what longshore does);
 * - one connection per step, 16 hosts in parallel: the naive baseline, same plan and runner, but
 *   every step is its own `runPlan` with its own connection (steps of a host still in order);
 * - one connection per host, one host at a time (concurrency 1).
 * Wall time covers connecting, every command and upload, and closing; the reset between scenarios
 * (removing the host directories, done locally) is not timed.
 *
 * The login user is a throwaway user (login shell /bin/sh, as a deploy user on a fresh host) that
 * owns the host directories. Not root: root's shell here is bash, which sshd's `bash -c` makes read
 * ~/.bashrc, and this machine's /root/.bashrc runs `pyenv init` for every command (~90 ms each,
 * measured), which would swamp everything measured here.
 *
 * Every count is taken twice, independently: on the client by wrapping the connect function and
 * the transport it returns, and on the server from each sshd's own log (LogLevel VERBOSE, the
 * helper's default: "Accepted publickey" per connection, "Starting session: command" per exec,
 * "Starting session: subsystem 'sftp'" per SFTP session). Bytes uploaded come from the transport,
 * are checked against the runner's report and, on first runs, against the file sizes on disk.
 *
 * The sshd processes come from test/helpers/sshd.ts (the integration tests' helper; it has no
 * test-framework imports and `tsc -p .` compiles it to dist/test/helpers). Every sshd is stopped by
 * PID at the end, on failure (finally) and on SIGINT/SIGTERM/SIGHUP; the user is removed then too.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { mapWithConcurrency } from "../provisioner/concurrency";
import type { StepReport } from "../provisioner/report";
import { runPlan, type HostJob } from "../provisioner/runner";
import type { SshTarget } from "../model/ssh-target";
import { connectSsh } from "../provisioner/transport/ssh2-transport";
import type { Transport } from "../provisioner/transport/transport";
import { createTestUser, startSshd, type Sshd, type TestUser, pinnedTarget } from "../test/helpers/sshd";
import { BENCH_STEPS, benchPlan, plannedFiles } from "./provisioner-plan";

interface BenchHost {
  name: string;
  /** The per-host directory the plan works in. */
  root: string;
  sshd: Sshd;
  target: SshTarget;
}

/** What the client saw, counted by wrapping the connect function and the transport. */
interface ClientCounts {
  connections: number;
  dialRetries: number;
  /** `exec` calls plus `sha256` calls (each is one remote command). */
  commands: number;
  uploads: number;
  bytesUploaded: number;
}

/** What the sshd processes logged. */
interface SshdCounts {
  connections: number;
  commands: number;
  sftpSessions: number;
}

interface Scenario {
  key: string;
  /** One connection per host (reused by its steps), or a new connection for every step. */
  connection: "host" | "step";
  concurrency: number;
}

interface Sample {
  scenario: string;
  run: "first" | "re-run";
  repeat: number;
  wallMs: number;
  changed: number;
  unchanged: number;
  client: ClientCounts;
  sshd: SshdCounts;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const n = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1`);
  return n;
}

/** A connect function that counts connections and wraps the transport to count what goes over it. */
function countingConnect(target: SshTarget, c: ClientCounts): () => Promise<Transport> {
  return async () => {
    const t = await connectSsh(target, { onRetry: () => void c.dialRetries++ });
    c.connections++;
    return {
      host: t.host,
      needsSudo: t.needsSudo,
      exec: (command, options) => (c.commands++, t.exec(command, options)),
      sha256: (p, options) => (c.commands++, t.sha256(p, options)),
      upload: async (source, p, options) => {
        const r = await t.upload(source, p, options);
        if (r.uploaded) (c.uploads++, (c.bytesUploaded += r.bytes));
        return r;
      },
      close: () => t.close(),
    };
  };
}

function countMatches(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

/** Totals over every sshd's log so far (cumulative: callers take differences). */
function sshdCounts(fleet: readonly BenchHost[]): SshdCounts {
  const logs = fleet.map((h) => h.sshd.log()).join("");
  return {
    connections: countMatches(logs, /Accepted publickey for /g),
    commands: countMatches(logs, /Starting session: command /g),
    sftpSessions: countMatches(logs, /Starting session: subsystem 'sftp' /g),
  };
}

/** Waits until no sshd has logged anything for 300 ms (their lines reach us through pipes, a little late). */
async function logsSettled(fleet: readonly BenchHost[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = -1;
  for (;;) {
    const size = fleet.reduce((n, h) => n + h.sshd.log().length, 0);
    if (size === last || Date.now() > deadline) return;
    last = size;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Runs the plan on every host the scenario's way; returns every step's report. Throws if a host failed. */
async function runScenario(fleet: readonly BenchHost[], sc: Scenario, counts: ClientCounts): Promise<StepReport[]> {
  const job = (h: BenchHost, steps = benchPlan(h.name, h.root)): HostJob => ({ name: h.name, steps, connect: countingConnect(h.target, counts) });
  if (sc.connection === "host") {
    const { report, error } = await runPlan({ mode: "apply", hosts: fleet.map((h) => job(h)), concurrency: sc.concurrency });
    if (error) throw error;
    return report.hosts.flatMap((h) => h.steps);
  }
  const perHost = await mapWithConcurrency(fleet, sc.concurrency, async (h) => {
    const steps: StepReport[] = [];
    for (const s of benchPlan(h.name, h.root)) {
      const { report, error } = await runPlan({ mode: "apply", hosts: [job(h, [s])] });
      if (error) throw error;
      steps.push(...report.hosts[0]!.steps);
    }
    return steps;
  });
  return perHost.flat();
}

/** One timed run, with its counts cross-checked; throws when the run did not do what it should. */
async function measure(fleet: readonly BenchHost[], sc: Scenario, run: Sample["run"], repeat: number): Promise<Sample> {
  const client: ClientCounts = { connections: 0, dialRetries: 0, commands: 0, uploads: 0, bytesUploaded: 0 };
  const before = sshdCounts(fleet);
  const t0 = performance.now();
  const steps = await runScenario(fleet, sc, client);
  const wallMs = performance.now() - t0;
  await logsSettled(fleet);
  const after = sshdCounts(fleet);
  const sshd: SshdCounts = {
    connections: after.connections - before.connections,
    commands: after.commands - before.commands,
    sftpSessions: after.sftpSessions - before.sftpSessions,
  };
  const changed = steps.filter((s) => s.status === "changed").length;
  const unchanged = steps.filter((s) => s.status === "unchanged").length;
  const expectedSteps = fleet.length * BENCH_STEPS.length;
  if ((run === "first" ? changed : unchanged) !== expectedSteps)
    throw new Error(`${sc.key} ${run}: expected ${expectedSteps} steps ${run === "first" ? "changed" : "unchanged"}, got ${changed} changed, ${unchanged} unchanged`);
  const reportedBytes = steps.flatMap((s) => s.uploaded).reduce((n, u) => n + u.bytes, 0);
  const onDisk = run === "first" ? fleet.flatMap((h) => plannedFiles(h.name, h.root)).reduce((n, f) => n + fs.statSync(f.path).size, 0) : 0;
  if (reportedBytes !== client.bytesUploaded || onDisk !== client.bytesUploaded)
    throw new Error(`${sc.key} ${run}: bytes disagree: transport ${client.bytesUploaded}, report ${reportedBytes}, on disk ${onDisk}`);
  return { scenario: sc.key, run, repeat, wallMs, changed, unchanged, client, sshd };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** One value when every repeat agrees (the counts should), else `min–max`. */
function same(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? lo.toLocaleString("en-US") : `${lo}–${hi}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function table(samples: Sample[], scenarios: Scenario[]): string {
  const rows = [
    "| connections | hosts at once | run | wall time, median (min–max) | steps changed / unchanged | remote commands (client / sshd) | SSH connections (client / sshd) | SFTP sessions (sshd) | bytes uploaded |",
    "|---|---:|---|---|---|---|---|---:|---:|",
  ];
  for (const sc of scenarios) {
    for (const run of ["first", "re-run"] as const) {
      const ss = samples.filter((s) => s.scenario === sc.key && s.run === run);
      const w = ss.map((s) => s.wallMs);
      const f = (pick: (s: Sample) => number) => same(ss.map(pick));
      rows.push(
        `| one per ${sc.connection} | ${sc.concurrency} | ${run} | ${seconds(median(w))} (${seconds(Math.min(...w))}–${seconds(Math.max(...w))}) | ` +
          `${f((s) => s.changed)} / ${f((s) => s.unchanged)} | ${f((s) => s.client.commands)} / ${f((s) => s.sshd.commands)} | ` +
          `${f((s) => s.client.connections)} / ${f((s) => s.sshd.connections)} | ${f((s) => s.sshd.sftpSessions)} | ${f((s) => s.client.bytesUploaded)} |`,
      );
    }
  }
  const pick = (key: string, run: Sample["run"], f: (s: Sample) => number) => median(samples.filter((s) => s.scenario === key && s.run === run).map(f));
  const wall = (key: string, run: Sample["run"]) => pick(key, run, (s) => s.wallMs);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const [host, step, one] = scenarios as [Scenario, Scenario, Scenario];
  const [H, S, O] = [host.key, step.key, one.key];
  const at = (sc: Scenario) => `${sc.concurrency} at once`;
  rows.push(
    "",
    `- re-run / first run (one connection per host, ${at(host)}): ${x(wall(H, "re-run"), wall(H, "first"))} wall time, ` +
      `${x(pick(H, "re-run", (s) => s.client.commands), pick(H, "first", (s) => s.client.commands))} remote commands`,
    `- one connection per step / one per host (${at(step)}): ${x(pick(S, "first", (s) => s.client.connections), pick(H, "first", (s) => s.client.connections))} connections, ` +
      `${x(wall(S, "first"), wall(H, "first"))} wall time on the first run, ${x(wall(S, "re-run"), wall(H, "re-run"))} on the re-run`,
    `- ${at(one)} / ${at(host)} (one connection per host): ${x(wall(O, "first"), wall(H, "first"))} wall time on the first run, ` +
      `${x(wall(O, "re-run"), wall(H, "re-run"))} on the re-run`,
  );
  return rows.join("\n");
}

async function main(): Promise<void> {
  const repeat = arg("--repeat", 3);
  const hosts = arg("--hosts", 16);
  const scenarios: Scenario[] = [
    { key: "per-host", connection: "host", concurrency: hosts },
    { key: "per-step", connection: "step", concurrency: hosts },
    { key: "per-host-serial", connection: "host", concurrency: 1 },
  ];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-bench-provisioner-"));
  const fleet: BenchHost[] = [];
  let user: TestUser | undefined;
  let stopping: Promise<void> | undefined;
  /** Stops every sshd by PID (the helper also kills their connection children) and removes the temp dirs. */
  const stopAll = () =>
    (stopping ??= (async () => {
      const pids = fleet.map((h) => h.sshd.pid).filter((p): p is number => p !== undefined);
      await Promise.allSettled(fleet.map((h) => h.sshd.stop()));
      user?.remove();
      fs.rmSync(work, { recursive: true, force: true });
      const alive = pids.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      log(alive.length ? `sshd still running: ${alive.join(", ")}` : `stopped ${pids.length} sshd by PID`);
    })());
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping every sshd`);
      void stopAll().finally(() => process.exit(128 + os.constants.signals[signal]));
    });
  }

  const samples: Sample[] = [];
  try {
    user = createTestUser();
    const [uid, gid] = ["-u", "-g"].map((o) => Number(execFileSync("id", [o, user!.name], { encoding: "utf8" })));
    fs.chmodSync(work, 0o755);
    /** Empties a host's directory (not timed): the next first run then changes every step. */
    const reset = (h: BenchHost) => {
      fs.rmSync(h.root, { recursive: true, force: true });
      fs.mkdirSync(h.root);
      fs.chownSync(h.root, uid!, gid!);
    };
    for (let i = 1; i <= hosts; i++) {
      const name = `h${String(i).padStart(2, "0")}`;
      const sshd = await startSshd();
      fleet.push({
        name,
        root: path.join(work, name),
        sshd,
        target: pinnedTarget(sshd, name, { user: user.name }),
      });
    }
    log(`${hosts} sshd (login user ${user.name}) on 127.0.0.1 ports ${fleet.map((h) => h.sshd.port).join(", ")}`);
    for (let r = 1; r <= repeat; r++) {
      for (const sc of scenarios) {
        fleet.forEach(reset);
        for (const run of ["first", "re-run"] as const) {
          const s = await measure(fleet, sc, run, r);
          samples.push(s);
          log(`repeat ${r} ${sc.key} ${run}: ${seconds(s.wallMs)}, ${JSON.stringify({ client: s.client, sshd: s.sshd })}`);
        }
      }
    }
  } finally {
    await stopAll();
  }
  const out = path.resolve(__dirname, "..", "..", "bench", "out");
  fs.mkdirSync(out, { recursive: true });
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release(), loadavg: os.loadavg() };
  fs.writeFileSync(path.join(out, "provisioner.json"), JSON.stringify({ at: new Date().toISOString(), machine, hosts, repeat, samples }, null, 2));
  process.stdout.write(`${table(samples, scenarios)}\n`);
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
