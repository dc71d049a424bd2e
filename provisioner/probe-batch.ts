/**
 * Every step's probes of a host in one remote command. A re-run of an in-sync host is all probes
 * (each step's checks and its files' sha256), and run one by one each costs a round trip plus a
 * channel and a shell on the host. Batched, the runner asks once per host and decides each step
 * from the answers; it goes back to the host only for the steps that must change.
 *
 * The batch is a POSIX sh script fed on stdin to `sh -s` (so nothing of it, secrets included, is in
 * a process list). Per step it runs the checks in order (in apply mode, up to the first one that
 * fails, as the runner would) and hashes the files, and prints one line per probe:
 *
 *     @probe <step>.c<k> <exit code>
 *     @probe <step>.f<k> <exit code> <sha256sum's first line>
 *
 * Checks run with stdin, stdout and stderr on /dev/null (the runner only reads their exit code),
 * each under coreutils' `timeout` with its own or its step's limit. Steps are probed in parallel,
 * each in its own background subshell (probes only read, by the step contract), so the batch
 * takes as long as its slowest step, not the sum; each answer is one short `printf`, one write
 * to the pipe, so lines never interleave. The answers are only a fast
 * path: anything the batch cannot answer exactly as the runner's own probe would (a timeout, a
 * signal, a command that could not run, a check that reads stdin, a missing line) leaves that
 * step to probe for itself.
 */
import { renderCommand, secretsOf, type Command } from "./command";
import { quoteArg } from "../core/quote";
import { Sensitive } from "../core/sensitive";
import type { StepPlan } from "./step";

/** What the batch learnt of one step: each check's pass/fail in order, and each file's remote sha256. */
export interface ProbedStep {
  /** Per check, in order: passed or not. Shorter than the plan's checks when apply mode stopped at a failure. */
  checks: boolean[];
  /** Per file, in order: its sha256 on the host, null when missing; undefined when not hashed (vouched for). */
  files: Array<string | null | undefined>;
}

/** One step's plan as the batch sees it. */
export interface BatchItem {
  plan: StepPlan;
  /** A passing check vouches for the files (the plan's `filesTrustedWhenChecked`, unless the run re-hashes): they are hashed only when a check fails. */
  trustFilesWhenChecked: boolean;
}

/** The command and how to read its output. */
export interface ProbeBatch {
  command: Command;
  /** The steps (by index in `items`) whose answers the batch can give; the others probe for themselves. */
  covered: number[];
  /** Reads the output: an answer per covered step that printed all its lines. */
  parse(stdout: string): Map<number, ProbedStep>;
  /** An upper bound for the whole batch, from the checks' limits. */
  timeoutMs: number;
}

/** Exit codes the batch cannot tell from a real answer: timeout's 124, can't-run 126/127, a signal (>128). */
function uncertain(code: number): boolean {
  return code === 124 || code === 125 || code === 126 || code === 127 || code > 128;
}

/** A check that needs stdin cannot run in the batch (stdin is the script). */
function batchable(c: Command): boolean {
  return c.stdin === undefined;
}

/** Default limit for a check without its own or its step's: the runner's transport default is 10 min; a probe needs far less. */
const CHECK_DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * Builds the batch for a host's steps, or null when no step has anything to probe.
 * `mode` is the runner's: apply stops each step's checks at the first failure, check runs them all.
 */
export function probeBatch(items: readonly BatchItem[], o: { mode: "apply" | "check"; needsSudo: boolean }): ProbeBatch | null {
  const lines: string[] = [
    "# longshore: every step's probes in one command",
    // `timeout` is coreutils (on every Debian); without it the checks run unbounded, the command's own limit still holds.
    'if command -v timeout >/dev/null 2>&1; then t() { timeout -k 5 "$@"; }; else t() { shift; "$@"; }; fi',
    'p() { printf "@probe %s %s\\n" "$1" "$2"; }',
    // sha256sum's first line: the hash, or why not (a missing file is told by its C-locale message).
    "h() { k=$1; shift; o=$(\"$@\" 2>&1 </dev/null); r=$?; printf '@probe %s %s %s\\n' \"$k\" \"$r\" \"$(printf %s \"$o\" | head -n 1 | cut -c 1-300)\"; }",
  ];
  const covered: number[] = [];
  let timeoutMs = 30_000;
  const secrets: Sensitive[] = [];
  items.forEach((item, i) => {
    const checks = item.plan.check ?? [];
    const files = item.plan.files ?? [];
    if (!checks.length && !files.length) return;
    if (!checks.every(batchable)) return;
    covered.push(i);
    let stepMs = 0;
    lines.push(`{`, `ok=1`);
    checks.forEach((c, k) => {
      secrets.push(...secretsOf(c));
      const ms = c.timeoutMs ?? item.plan.timeoutMs ?? CHECK_DEFAULT_TIMEOUT_MS;
      stepMs += ms;
      const run = `t ${Math.max(1, Math.ceil(ms / 1000))} ${renderCommand(c, { mode: "exec", useSudo: o.needsSudo })} </dev/null >/dev/null 2>&1; r=$?; p s${i}.c${k} $r`;
      const okCodes = (c.okExitCodes ?? [0]).join("|");
      const fail = `case $r in ${okCodes}) ;; *) ok=0 ;; esac`;
      // Apply mode: the first failing check settles the step, the rest are not run (as the runner does).
      lines.push(o.mode === "apply" ? `if [ $ok = 1 ]; then ${run}; ${fail}; fi` : `${run}; ${fail}`);
    });
    const vouched = item.trustFilesWhenChecked && checks.length > 0;
    files.forEach((f, k) => {
      const sudo = (f.sudo ?? true) && o.needsSudo ? "sudo -n -- " : "";
      const hash = `h s${i}.f${k} ${sudo}env LC_ALL=C sha256sum -- ${quoteArg(f.path)}`;
      lines.push(vouched ? `if [ $ok = 0 ]; then ${hash}; fi` : hash);
    });
    lines.push(`} &`);
    // In parallel: the whole batch is bounded by its slowest step.
    timeoutMs = Math.max(timeoutMs, 30_000 + stepMs);
  });
  if (!covered.length) return null;
  lines.push("wait");
  const script = `${lines.join("\n")}\n`;
  return {
    command: { argv: ["sh", "-s"], stdin: secrets.length ? new Sensitive(script) : script },
    covered,
    timeoutMs,
    parse: (stdout) => parseProbeOutput(stdout, items, covered, o.mode),
  };
}

/** Reads the batch's output into answers; a step with an uncertain or missing line gets none. */
export function parseProbeOutput(stdout: string, items: readonly BatchItem[], covered: readonly number[], mode: "apply" | "check"): Map<number, ProbedStep> {
  const seen = new Map<string, { code: number; rest: string }>();
  for (const line of stdout.split("\n")) {
    const m = /^@probe (s\d+\.[cf]\d+) (\d+)(?: (.*))?$/.exec(line);
    if (m) seen.set(m[1]!, { code: Number(m[2]), rest: m[3] ?? "" });
  }
  const out = new Map<number, ProbedStep>();
  for (const i of covered) {
    const plan = items[i]!.plan;
    const answer = probedStep(i, plan, items[i]!.trustFilesWhenChecked, seen, mode);
    if (answer) out.set(i, answer);
  }
  return out;
}

function probedStep(
  i: number,
  plan: StepPlan,
  trust: boolean,
  seen: ReadonlyMap<string, { code: number; rest: string }>,
  mode: "apply" | "check",
): ProbedStep | null {
  const checks: boolean[] = [];
  for (const [k, c] of (plan.check ?? []).entries()) {
    const r = seen.get(`s${i}.c${k}`);
    if (!r || uncertain(r.code)) return null;
    const passed = (c.okExitCodes ?? [0]).includes(r.code);
    checks.push(passed);
    if (!passed && mode === "apply") break;
  }
  const allPassed = checks.every(Boolean) && checks.length === (plan.check ?? []).length;
  const files: Array<string | null | undefined> = [];
  for (const k of (plan.files ?? []).keys()) {
    const r = seen.get(`s${i}.f${k}`);
    if (!r) {
      // Not hashed: right only when a passing check vouched for the files.
      if (trust && allPassed && (plan.check ?? []).length > 0) {
        files.push(undefined);
        continue;
      }
      return null;
    }
    if (r.code === 0) {
      const m = /^\\?([0-9a-f]{64})\s/.exec(r.rest);
      if (!m) return null;
      files.push(m[1]!);
    } else if (r.code === 1 && /No such file or directory/.test(r.rest)) {
      files.push(null);
    } else {
      return null;
    }
  }
  return { checks, files };
}
