/**
 * The runner: makes hosts match their plans. Hosts run in parallel under a concurrency limit, one
 * transport (one connection) per host; on a host, steps run in order and the first failure stops
 * that host while the others go on. All failures come back together as one
 * {@link AggregateHostError}, next to the full report (which is redacted throughout).
 *
 * Per step, in apply mode: plan (pure) -> checks + remote sha256 of each file -> if all checks
 * pass and all files match, `unchanged` -> else upload only the files that differ, run apply
 * commands, run verify commands -> `changed`. Check mode stops after the probes and reports
 * `unchanged` or `would-change` with the reasons; it never uploads or applies.
 */
import { performance } from "node:perf_hooks";
import { AggregateHostError, CommandFailedError, LongshoreError, TransportError } from "../core/errors";
import { Sensitive, redactText } from "../core/sensitive";
import { renderCommand, secretsOf, type Command } from "./command";
import { fileSha256 } from "./content-hash";
import { mapWithConcurrency } from "./concurrency";
import { countSteps, type FileDifference, type HostReport, type ReportedError, type RunReport, type StepReport, type StepStatus } from "./report";
import { probeBatch, type ProbedStep } from "./probe-batch";
import { STEP_PROGRESS_PREFIX, type RemoteFile, type Step, type StepPlan } from "./step";
import type { ExecOptions, Transport } from "./transport/transport";

/** A step paired with the context its plan is computed from. */
export interface StepWithContext<C = unknown> {
  step: Step<C>;
  ctx: C;
}

/** One host's work: how to reach it and the steps to run there, in order. */
export type HostJob = {
  /** The host's name in reports and errors. */
  name: string;
  steps: ReadonlyArray<StepWithContext<any>>;
  /**
   * Answers of a batched probe the caller made for these steps (by index, see {@link probeSteps}):
   * the runner then makes none of its own. @default the runner probes (with `batchProbes`)
   */
  probed?: ReadonlyMap<number, ProbedStep>;
} & (
  | { /** An already open transport; the runner closes it. */ transport: Transport; connect?: never }
  | { /** Opens the host's transport; called inside the concurrency slot. */ connect: () => Promise<Transport>; transport?: never }
);

/**
 * Progress events, in order per host: host-start, (step-start, (step-progress | step-retry)*,
 * step-done)*, host-done. `step-progress` is a line a command wrote with {@link STEP_PROGRESS_PREFIX}.
 */
export type RunEvent =
  | { type: "host-start"; host: string }
  | { type: "step-start"; host: string; stepId: string; title: string; index: number; total: number }
  | { type: "step-progress"; host: string; stepId: string; message: string }
  | { type: "step-retry"; host: string; stepId: string; attempt: number; delayMs: number; error: string }
  | { type: "step-done"; host: string; stepId: string; status: StepStatus; durationMs: number; error?: string }
  | { type: "host-done"; host: string; status: "ok" | "failed"; durationMs: number; error?: string };

/** Options for {@link runPlan}. */
export interface RunOptions {
  hosts: readonly HostJob[];
  /** `apply` changes hosts; `check` only probes and reports what would change. */
  mode: "apply" | "check";
  /** Hosts in flight at once. Default 16. */
  concurrency?: number;
  onEvent?: (event: RunEvent) => void;
  /** Aborts commands and uploads in flight (e.g. on Ctrl-C). */
  signal?: AbortSignal;
  /** Hash every file on the host, also those a passing check vouches for (`filesTrustedWhenChecked`). @default false */
  rehashFiles?: boolean;
  /**
   * Ask each host for every step's probes in one command before the first step (probe-batch.ts),
   * and decide each step from the answers until a step changes something; `false` probes step by
   * step (one round trip per check and per file). @default true
   */
  batchProbes?: boolean;
  /** Waits between retries; injectable so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for retry backoff. Default Math.random. */
  random?: () => number;
  /** Monotonic milliseconds, for durations. Default performance.now. */
  now?: () => number;
}

/** What {@link runPlan} returns: always the report, plus the aggregated error when any host failed. */
export interface RunResult {
  report: RunReport;
  /** Set when at least one host failed; lists every failed host's error, in host order. */
  error: AggregateHostError | undefined;
}

/** Files of one step uploaded at once over a host's connection. */
export const UPLOADS_IN_FLIGHT = 4;

/** Default number of hosts provisioned at once. */
export const DEFAULT_CONCURRENCY = 16;

/** Lines of stderr kept in a {@link CommandFailedError}. */
const STDERR_TAIL_LINES = 20;
const STDERR_TAIL_CHARS = 4000;

/**
 * Runs every host's steps. Never rejects for a host's failure: that is in the result's `error`
 * (and in the report). Rejects only for invalid options (e.g. concurrency 0).
 */
export async function runPlan(options: RunOptions): Promise<RunResult> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const emit = options.onEvent ?? (() => {});
  const env: HostEnv = {
    mode: options.mode,
    rehashFiles: options.rehashFiles ?? false,
    batchProbes: options.batchProbes ?? true,
    emit,
    now,
    sleep: options.sleep ?? defaultSleep,
    random: options.random ?? Math.random,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const outcomes = await mapWithConcurrency(options.hosts, options.concurrency ?? DEFAULT_CONCURRENCY, (job) => runHost(job, env));
  const hosts = outcomes.map((o) => o.report);
  const failures = outcomes.flatMap((o, i) => (o.error ? [{ host: options.hosts[i]!.name, error: o.error }] : []));
  const report: RunReport = {
    mode: options.mode,
    ok: failures.length === 0,
    durationMs: Math.round(now() - started),
    hosts,
    counts: countSteps(hosts),
  };
  return { report, error: failures.length ? new AggregateHostError(failures, options.hosts.length) : undefined };
}

interface HostEnv {
  mode: "apply" | "check";
  rehashFiles: boolean;
  batchProbes: boolean;
  emit: (e: RunEvent) => void;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  signal?: AbortSignal;
}

async function runHost(job: HostJob, env: HostEnv): Promise<{ report: HostReport; error: Error | undefined }> {
  const host = job.name;
  const started = env.now();
  env.emit({ type: "host-start", host });
  // Every secret this host's plans carry; error text from the host is scrubbed of all of them.
  const secrets: Sensitive[] = [];
  const steps: StepReport[] = [];
  let failure: Error | undefined;
  let transport: Transport | undefined;
  try {
    transport = job.transport ?? (await job.connect!());
  } catch (err) {
    failure = asError(err);
  }
  try {
    // Plans are pure: made once, up front, for the batched probe and for the steps.
    const plans = job.steps.map(({ step, ctx }) => planOf(step, ctx));
    for (const p of plans) if ("plan" in p) secrets.push(...planSecrets(p.plan));
    const probed = job.probed ?? (transport && !failure && env.batchProbes ? await probeAll(transport, plans, env) : new Map<number, ProbedStep>());
    // The answers hold until a step changes the host; the steps after that probe for themselves.
    let hostChanged = false;
    for (const [index, { step }] of job.steps.entries()) {
      if (failure || !transport) {
        steps.push(notRun(step));
        continue;
      }
      env.emit({ type: "step-start", host, stepId: step.id, title: step.title, index, total: job.steps.length });
      const t0 = env.now();
      const outcome = await runStep(transport, host, step, plans[index]!, env, secrets, hostChanged ? undefined : probed.get(index));
      if (outcome.report.status === "changed") hostChanged = true;
      const durationMs = Math.round(env.now() - t0);
      const report: StepReport = { ...outcome.report, durationMs };
      if (outcome.error) {
        failure = scrub(outcome.error, secrets);
        report.error = reported(failure);
      }
      steps.push(report);
      env.emit({
        type: "step-done",
        host,
        stepId: step.id,
        status: report.status,
        durationMs,
        ...(report.error ? { error: report.error.message } : {}),
      });
    }
  } finally {
    await transport?.close().catch(() => {
      // Closing is best effort: the work is done (or failed) either way, and the error would hide it.
    });
  }
  if (failure) failure = scrub(failure, secrets);
  const durationMs = Math.round(env.now() - started);
  const report: HostReport = {
    host,
    status: failure ? "failed" : "ok",
    durationMs,
    steps,
    ...(failure ? { error: reported(failure) } : {}),
  };
  env.emit({ type: "host-done", host, status: report.status, durationMs, ...(failure ? { error: failure.message } : {}) });
  return { report, error: failure };
}

type StepOutcome = { report: Omit<StepReport, "durationMs">; error?: Error };

/** A step's plan, or the error its plan function threw (reported when the step's turn comes). */
type Planned = { plan: StepPlan } | { error: Error };

function planOf(step: Step<any>, ctx: unknown): Planned {
  try {
    return { plan: step.plan(ctx) };
  } catch (err) {
    return { error: asError(err) };
  }
}

/**
 * Every step's probes in one command, for a caller that runs the steps in parts (provision-hosts.ts
 * runs a layered delivery between them) and gives each part its answers as {@link HostJob.probed}.
 */
export function probeSteps(
  t: Transport,
  steps: ReadonlyArray<StepWithContext<any>>,
  options: Pick<RunOptions, "mode" | "rehashFiles" | "signal">,
): Promise<Map<number, ProbedStep>> {
  const env = { mode: options.mode, rehashFiles: options.rehashFiles ?? false, ...(options.signal ? { signal: options.signal } : {}) };
  return probeAll(t, steps.map(({ step, ctx }) => planOf(step, ctx)), env);
}

/**
 * Every step's probes in one command (probe-batch.ts): the answers by step index. Best effort: a
 * batch that fails to run answers nothing, and each step then probes for itself (which reports the
 * failure properly if the host is really unwell).
 */
async function probeAll(t: Transport, plans: readonly Planned[], env: Pick<HostEnv, "mode" | "rehashFiles" | "signal">): Promise<Map<number, ProbedStep>> {
  const items = plans.map((p) =>
    "plan" in p
      ? { plan: p.plan, trustFilesWhenChecked: p.plan.filesTrustedWhenChecked === true && !env.rehashFiles }
      : { plan: { apply: [] }, trustFilesWhenChecked: false },
  );
  const batch = probeBatch(items, { mode: env.mode, needsSudo: t.needsSudo });
  if (!batch) return new Map();
  try {
    const r = await t.exec(batch.command, { timeoutMs: batch.timeoutMs, ...(env.signal ? { signal: env.signal } : {}) });
    if (r.exitCode !== 0) return new Map();
    // A step whose plan failed went in with nothing to probe: the batch has no answer for it.
    return batch.parse(r.stdout);
  } catch {
    return new Map();
  }
}

async function runStep(
  t: Transport,
  host: string,
  step: Step<any>,
  planned: Planned,
  env: HostEnv,
  secrets: Sensitive[],
  probed: ProbedStep | undefined,
): Promise<StepOutcome> {
  const base = { id: step.id, title: step.title };
  if ("error" in planned) return { report: { ...base, status: "failed", attempts: 0, uploaded: [] }, error: planned.error };
  const plan = planned.plan;
  const maxAttempts = env.mode === "check" ? 1 : Math.max(1, Math.floor(plan.retry?.attempts ?? 1));
  const uploaded: Array<{ path: string; bytes: number }> = [];
  for (let attempt = 1; ; attempt++) {
    try {
      // The batch's answers describe the host before this step's first attempt, not after a failed one.
      const r = await attemptStep({ t, host, stepId: step.id, plan, env, secrets, uploaded, ...(attempt === 1 && probed ? { probed } : {}) });
      return { report: { ...base, ...r, attempts: attempt, uploaded } };
    } catch (err) {
      const error = scrub(asError(err), secrets);
      if (attempt >= maxAttempts || !isRetryable(error) || env.signal?.aborted) {
        return { report: { ...base, status: "failed", attempts: attempt, uploaded }, error };
      }
      const delayMs = backoff(plan.retry!.backoffMs, attempt, env.random);
      env.emit({ type: "step-retry", host, stepId: step.id, attempt, delayMs, error: error.message });
      await env.sleep(delayMs);
    }
  }
}

/** A failed command or a timed-out command may pass on a second try; a dead connection will not. */
function isRetryable(err: Error): boolean {
  if (err instanceof CommandFailedError) return true;
  return err instanceof TransportError && err.kind === "command-timeout";
}

/** Exponential backoff with "equal jitter": half fixed, half random, so retries of many hosts spread out. */
export function backoff(baseMs: number, attempt: number, random: () => number): number {
  const full = baseMs * 2 ** (attempt - 1);
  return Math.round(full / 2 + random() * (full / 2));
}

interface AttemptArgs {
  t: Transport;
  host: string;
  stepId: string;
  plan: StepPlan;
  env: HostEnv;
  secrets: readonly Sensitive[];
  uploaded: Array<{ path: string; bytes: number }>;
  /** This step's answers from the batched probe: when set, the host is not asked again. */
  probed?: ProbedStep;
}

async function attemptStep(a: AttemptArgs): Promise<Pick<StepReport, "status" | "wouldChange">> {
  const { t, plan, env } = a;
  const checks = plan.check ?? [];
  const files = plan.files ?? [];
  const checkMode = env.mode === "check";

  // Probes. In apply mode the first failing check settles it; check mode runs them all to report each.
  const failedChecks: string[] = [];
  for (const [k, c] of checks.entries()) {
    if (a.probed && k >= a.probed.checks.length) break;
    const ok = a.probed ? a.probed.checks[k]! : await runCommand(a, c, "check");
    if (!ok) {
      failedChecks.push(summary(t, c));
      if (!checkMode) break;
    }
  }
  const differing: Array<{ file: RemoteFile; reason: FileDifference["reason"] }> = [];
  const vouched = plan.filesTrustedWhenChecked === true && checks.length > 0 && failedChecks.length === 0 && !env.rehashFiles;
  for (const [k, f] of (vouched ? [] : files).entries()) {
    const answered = a.probed?.files[k];
    const remote = answered !== undefined ? answered : await t.sha256(f.path, { sudo: f.sudo ?? true });
    if (remote === null) differing.push({ file: f, reason: "missing" });
    else if (remote !== fileSha256(f)) differing.push({ file: f, reason: "different" });
  }
  const probed = checks.length > 0 || files.length > 0;
  if (probed && failedChecks.length === 0 && differing.length === 0) return { status: "unchanged" };
  if (checkMode) {
    return {
      status: "would-change",
      wouldChange: {
        files: differing.map((d) => ({ path: d.file.path, reason: d.reason })),
        failedChecks,
        alwaysApplies: !probed,
      },
    };
  }

  // The transport writes a temp file next to the destination and renames it, so the directory
  // must exist first. One idempotent `mkdir -p` per privilege level covers every file of the step.
  for (const c of parentDirCommands(differing.map((d) => d.file))) await runRequired(a, c, "upload");
  // A few files at once over the one connection (SFTP requests are independent): a bundle of 15+
  // .debs no longer waits for each file's open/close/rename round trips in turn.
  const sent = await mapWithConcurrency(differing, UPLOADS_IN_FLIGHT, ({ file }) =>
    t.upload(file.source, file.path, {
      ...(file.mode !== undefined ? { mode: file.mode } : {}),
      ...(file.owner !== undefined ? { owner: file.owner } : {}),
      ...(file.group !== undefined ? { group: file.group } : {}),
      sudo: file.sudo ?? true,
      // We just compared hashes: make the transport skip its own comparison.
      force: true,
      ...(env.signal ? { signal: env.signal } : {}),
    }),
  );
  sent.forEach((r, i) => a.uploaded.push({ path: differing[i]!.file.path, bytes: r.bytes }));
  for (const c of plan.apply) await runRequired(a, c, "apply");
  for (const c of plan.verify ?? []) await runRequired(a, c, "verify");
  return { status: "changed" };
}

/**
 * `mkdir -p -- <dirs>` for the parent directories of `files`: one command for the files written as
 * root, one for the others, each listing its directories once, in first-seen order. Exported for tests.
 */
export function parentDirCommands(files: readonly RemoteFile[]): Command[] {
  const byPrivilege = new Map<boolean, string[]>();
  for (const f of files) {
    const asRoot = f.sudo ?? true;
    const dir = posixDirname(f.path);
    if (dir === "/" || dir === ".") continue;
    const dirs = byPrivilege.get(asRoot) ?? [];
    if (!dirs.includes(dir)) dirs.push(dir);
    byPrivilege.set(asRoot, dirs);
  }
  return [...byPrivilege].map(([asRoot, dirs]) => ({ argv: ["mkdir", "-p", "--", ...dirs], ...(asRoot ? { sudo: true } : {}) }));
}

/** `path.posix.dirname` without the import: the parent of a remote (POSIX) path. */
function posixDirname(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}

/** Runs one command with the step's timeout (a command's own timeout wins). */
function execute(a: AttemptArgs, c: Command) {
  const timeoutMs = c.timeoutMs ?? a.plan.timeoutMs;
  const opts: ExecOptions = {
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(a.env.signal ? { signal: a.env.signal } : {}),
    onStderr: progressLines((line) =>
      a.env.emit({ type: "step-progress", host: a.host, stepId: a.stepId, message: redactText(line, [...secretsOf(c), ...a.secrets]) }),
    ),
  };
  return a.t.exec(c, opts);
}

/**
 * A stderr listener that calls `onLine` with the text after {@link STEP_PROGRESS_PREFIX} of each
 * complete line that starts with it, as the chunks arrive (a line may span chunks). Exported for tests.
 */
export function progressLines(onLine: (message: string) => void): (chunk: Buffer) => void {
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    // A runaway line without a newline must not grow without bound.
    if (partial.length > 64 * 1024) partial = "";
    for (const l of lines) if (l.startsWith(STEP_PROGRESS_PREFIX)) onLine(l.slice(STEP_PROGRESS_PREFIX.length).trimEnd());
  };
}

/** Runs a check; true when its exit code counts as success. A signal death is a failure, not a "no". */
async function runCommand(a: AttemptArgs, c: Command, phase: "check"): Promise<boolean> {
  const r = await execute(a, c);
  if (r.exitCode === null) throw commandFailed(a, c, phase, r.exitCode, r.signal, r.stderr);
  return (c.okExitCodes ?? [0]).includes(r.exitCode);
}

/** Runs an apply or verify command, which must succeed. */
async function runRequired(a: AttemptArgs, c: Command, phase: "upload" | "apply" | "verify"): Promise<void> {
  const r = await execute(a, c);
  const ok = r.exitCode !== null && (c.okExitCodes ?? [0]).includes(r.exitCode);
  if (!ok) throw commandFailed(a, c, phase, r.exitCode, r.signal, r.stderr);
}

function commandFailed(
  a: AttemptArgs,
  c: Command,
  phase: string,
  exitCode: number | null,
  signal: string | null,
  stderr: string,
): CommandFailedError {
  return new CommandFailedError(
    {
      host: a.host,
      stepId: a.stepId,
      phase,
      command: summary(a.t, c),
      exitCode,
      signal: exitCode === null ? (signal ?? "(unknown)") : signal,
      stderrTail: redactText(tail(stderr), [...secretsOf(c), ...a.secrets]),
    },
    {
      suggestion:
        phase === "verify"
          ? "The step's changes were applied but its verification did not pass; look at the host's state and logs."
          : "Look at the command's stderr above; fix the host or the configuration, then run again (steps are idempotent).",
    },
  );
}

/** A command for errors and reports: secrets redacted, long scripts by their first line and line count. */
function summary(t: Transport, c: Command): string {
  return renderCommand(c, { mode: "summary", useSudo: t.needsSudo });
}

function tail(text: string): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  const kept = lines.slice(-STDERR_TAIL_LINES).join("\n");
  return kept.length > STDERR_TAIL_CHARS ? kept.slice(-STDERR_TAIL_CHARS) : kept;
}

/** Every secret a plan carries (argv, stdin, file contents). */
function planSecrets(plan: StepPlan): Sensitive[] {
  const out: Sensitive[] = [];
  for (const c of [...(plan.check ?? []), ...plan.apply, ...(plan.verify ?? [])]) out.push(...secretsOf(c));
  for (const f of plan.files ?? []) if ("content" in f.source && f.source.content instanceof Sensitive) out.push(f.source.content);
  return out;
}

/**
 * Makes sure an error's text holds no clear secret. Our own errors are built redacted; this is the
 * safety net for errors from elsewhere (a transport message quoting a command, a bug's message).
 * The error object is kept (same class, code, cause) so nothing is replaced by a vaguer one.
 */
function scrub(err: Error, secrets: readonly Sensitive[]): Error {
  if (!secrets.length) return err;
  const message = redactText(err.message, secrets);
  if (message !== err.message) {
    err.message = message;
    if (err.stack) err.stack = redactText(err.stack, secrets);
  }
  return err;
}

function reported(err: Error): ReportedError {
  return { code: err instanceof LongshoreError ? err.code : "UNEXPECTED", message: err.message };
}

function notRun(step: Step<any>): StepReport {
  return { id: step.id, title: step.title, status: "not-run", durationMs: 0, attempts: 0, uploaded: [] };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
