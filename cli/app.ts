/**
 * `longshore app exec -- CMD ARGS...`: runs a command in the app's running container on the hosts
 * of the live slot (or `--slot`): a single-container app's container (label `io.longshore.app`), or
 * a Compose app's service's (`--service`, default `app.service`). The container is looked up on each
 * host by its labels, then `docker exec` runs the argv in it, quoted by the one quoting function.
 *
 * - Without `-i`: every host (or `--host`) at once, one SSH connection each; output streams as it
 *   comes, each line after its host's name, secrets of the environment as `[redacted]`; then one
 *   exit-code line per host. Exit 0 only when every host's command exited 0 (4 otherwise, as
 *   `longshore exec`). `--json` buffers instead (bounded: {@link JSON_MAX_OUTPUT_BYTES}).
 * - With `-i`: one host, a session with a pty (`docker exec -i -t`), the local terminal in raw mode
 *   until it ends (restored on every path), its size passed on at start and on every change, Ctrl-C
 *   passed to the remote process. The remote exit code becomes longshore's, as with `ssh` and
 *   `docker exec`. Stdin must be a terminal; nothing is redacted (the terminal is the user's).
 *
 * Hosts and secrets come as for `logs` (cli/slot-hosts.ts): the environment's driver names each
 * slot's hosts with their pinned SSH targets, and every secret source is read first (with or
 * without `-i`, so that both accept the same environments).
 *
 * `-i` here is interactive, as `docker exec -i`: this verb takes no inventory (its hosts come from
 * the environment), so the flag that names one elsewhere is free.
 */
import { constants as osConstants } from "node:os";
import type { Command as Program } from "commander";
import { AggregateHostError, CommandFailedError, ConfigError, ContainerNotFoundError, TransportError, type ConfigIssue } from "../core/errors";
import { redactText, type Sensitive } from "../core/sensitive";
import { composeAppView, parseComposeFile } from "../model/compose";
import type { LoadedEnvironment } from "../model/environment-file";
import type { SlotName } from "../model/names";
import type { SshTarget } from "../model/ssh-target";
import { renderCommand } from "../provisioner/command";
import { containerExecCommand, findContainerCommand, parseFoundContainer, type ContainerQuery, type FoundContainer } from "../provisioner/steps/app-exec";
import type { ExecResult, InteractiveResult, Transport } from "../provisioner/transport/transport";
import type { VerbDeps } from "./deps";
import { eachHost, type HostOutcome } from "./each-host";
import { parseTimeout } from "./exec";
import { EXIT, passThroughExitCode } from "./exit-codes";
import { exitSummary, hostPrefix, hostResultJson, PrefixedLines, settleHostExits } from "./host-output";
import { DEFAULT_ENV_FILE } from "./open-environment";
import { createProgress } from "./output";
import { openHosts, slotIssue } from "./slot-hosts";
import { processTerminal, type Terminal } from "./terminal";

/** What `--json` keeps of each stream per host: the last 1 MiB (`truncated` and the byte counts say when more came). */
export const JSON_MAX_OUTPUT_BYTES = 1024 * 1024;

/** What `-i` runs when no command is given: a shell nearly every image has (busybox's too; bash often is not there). */
export const DEFAULT_INTERACTIVE_COMMAND: readonly string[] = ["sh"];

/** How long the container lookup (`docker ps`) may take on a host. */
const FIND_TIMEOUT_MS = 30_000;

/** The flags of `app exec`, as commander gives them. */
export interface AppExecFlags {
  file?: string;
  interactive?: boolean;
  slot?: string;
  host?: string[];
  service?: string;
  timeout?: string;
  json?: boolean;
}

/** A run of `app exec`, once its flags are checked against the environment. */
export interface AppExecPlan {
  /** The command and its arguments, as typed after `--`. */
  argv: string[];
  interactive: boolean;
  /** Which container on each host. */
  query: ContainerQuery;
  /** `--timeout` in ms. @default the transport's (10 min) */
  timeoutMs?: number;
}

/**
 * Which container: a Compose app's service (`service`, default `app.service`, a service of its
 * Compose file), else the app's one container. Pure.
 */
export function containerQuery(loaded: Pick<LoadedEnvironment, "env" | "compose">, service: string | undefined): { ok: true; value: ContainerQuery } | { ok: false; issue: ConfigIssue } {
  const app = loaded.env.app;
  if (!loaded.compose || app.service === undefined) {
    if (service !== undefined) return { ok: false, issue: { path: "--service", message: `is for Compose apps (app.compose); ${app.name} is one container` } };
    return { ok: true, value: { kind: "app", app: app.name } };
  }
  const wanted = service ?? app.service;
  const project = parseComposeFile(loaded.compose.text, composeAppView(app), loaded.compose.file);
  const names = project.ok ? Object.keys(project.value.services) : [];
  if (project.ok && !names.includes(wanted)) {
    return { ok: false, issue: { path: "--service", message: `${JSON.stringify(wanted)} is not a service of ${loaded.compose.file} (it has ${names.join(", ")})` } };
  }
  return { ok: true, value: { kind: "compose", project: app.name, service: wanted } };
}

/** Checks the command line against the environment, every problem at once, each at its flag. Pure. */
export function appExecPlan(argv: readonly string[], flags: AppExecFlags, loaded: Pick<LoadedEnvironment, "env" | "compose">): AppExecPlan {
  const interactive = flags.interactive === true;
  const issues: ConfigIssue[] = [...slotIssue(flags.slot)];
  if (argv.length === 0 && !interactive) issues.push({ path: "CMD", message: "name the command after --: longshore app exec -- CMD ARGS... (or -i for a shell)" });
  if (interactive) {
    if ((flags.host?.length ?? 0) > 1) issues.push({ path: "--host", message: `-i runs on one host; got ${flags.host!.length} (${flags.host!.join(", ")})` });
    if (flags.json) issues.push({ path: "--json", message: "is for runs without -i (a terminal session prints no document)" });
    if (flags.timeout !== undefined) issues.push({ path: "--timeout", message: "is for runs without -i (a session lasts until its command ends)" });
  }
  let timeoutMs: number | undefined;
  try {
    timeoutMs = interactive ? undefined : parseTimeout(flags.timeout);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    issues.push(...e.issues);
  }
  const query = containerQuery(loaded, flags.service);
  if (!query.ok) issues.push(query.issue);
  if (issues.length || !query.ok) throw new ConfigError("command line", issues);
  return {
    argv: argv.length === 0 ? [...DEFAULT_INTERACTIVE_COMMAND] : [...argv],
    interactive,
    query: query.value,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
}

/**
 * longshore's exit code after a session: the remote command's, or 128 + the signal's number when
 * it died on one (what a shell shows), 255 when neither is known. Pure.
 */
export function sessionExitCode(r: Pick<InteractiveResult, "exitCode" | "signal">): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal === null ? undefined : (osConstants.signals as Record<string, number | undefined>)[`SIG${r.signal}`];
  return n === undefined ? 255 : 128 + n;
}

/** Asks the host for the query's newest running container; a command failure or no container is an error naming the host. */
export async function findContainer(t: Transport, query: ContainerQuery, signal?: AbortSignal): Promise<FoundContainer> {
  const command = findContainerCommand(query);
  const r = await t.exec(command, { timeoutMs: FIND_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0) {
    throw new CommandFailedError({
      host: t.host,
      stepId: "app.exec",
      phase: "find container",
      command: renderCommand(command, { mode: "display" }),
      exitCode: r.exitCode,
      signal: r.signal,
      stderrTail: r.stderr.trim().split("\n").slice(-10).join("\n"),
    });
  }
  const found = parseFoundContainer(r.stdout, query);
  if (!found.ok) {
    throw new ContainerNotFoundError(`${t.host}: ${found.message}`, {
      context: { host: t.host },
      suggestion: "`longshore status` shows each host's health, `longshore logs` why a container stopped; the next rollout gives the slot fresh hosts.",
    });
  }
  return found.value;
}

/** One host's run: the command's result, the container it ran in, and how much output came. */
export type HostExec = ExecResult & { container: FoundContainer; stdoutBytes: number; stderrBytes: number };

/** The `--json` document: each host's result (output redacted, bounded), or why the command did not run. Pure. */
export function appExecJson(
  run: { environment: string; slot: SlotName; query: ContainerQuery; argv: readonly string[] },
  outcomes: readonly HostOutcome<HostExec>[],
  secrets: readonly Sensitive[],
): unknown {
  return {
    environment: run.environment,
    slot: run.slot,
    ...(run.query.kind === "compose" ? { service: run.query.service } : {}),
    command: run.argv,
    hosts: outcomes.map((o) => {
      if (!o.ok) return hostResultJson(o);
      const v = o.value;
      const redacted = { ...o, value: { ...v, stdout: redactText(v.stdout, secrets), stderr: redactText(v.stderr, secrets) } };
      return {
        ...hostResultJson(redacted),
        container: { id: v.container.id, name: v.container.name },
        stdoutBytes: v.stdoutBytes,
        stderrBytes: v.stderrBytes,
        truncated: v.stdoutBytes > JSON_MAX_OUTPUT_BYTES || v.stderrBytes > JSON_MAX_OUTPUT_BYTES,
      };
    }),
  };
}

/** Adds `app exec`. `terminal` is the local terminal a `-i` session uses (this process's; tests pass their own). */
export function register(program: Program, deps: VerbDeps, terminal: () => Terminal = () => processTerminal(deps.env)): void {
  const app = program.command("app").description("the app's containers on the hosts of a slot (app exec)");
  app
    .command("exec")
    .description("run a command in the app's container on every host of the live slot (put it after --: longshore app exec -- ls /); -i for a terminal session on one host")
    .argument("[command...]", "the command and its arguments (with -i, default sh)")
    .option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`)
    .option("-i, --interactive", "a terminal session (docker exec -it) on one host: the first of the slot, or --host")
    .option("--slot <slot>", "run on the hosts of this slot, blue or green (default: the live slot)")
    .option("--host <name>", "run only on this host of the slot (repeatable without -i; default: every host)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--service <name>", "a Compose app's service (default: app.service, the one that receives traffic)")
    .option("--timeout <seconds>", "without -i: give up on the command after this long (default 10 min)")
    .option("--json", `without -i: one JSON document with each host's exit code and output (the last ${JSON_MAX_OUTPUT_BYTES / 1024 / 1024} MiB of each stream)`)
    .action((argv: string[], flags: AppExecFlags) => runAppExec(argv, flags, deps, terminal));
}

async function runAppExec(argv: string[], flags: AppExecFlags, deps: VerbDeps, terminal: () => Terminal): Promise<void> {
  let checked: AppExecPlan | undefined;
  let term: Terminal | undefined;
  // The command line is checked against the file before secrets are read or a host is asked.
  const opened = await openHosts(flags, deps, "app exec", (loaded) => {
    checked = appExecPlan(argv, flags, loaded);
    term = checked.interactive ? terminal() : undefined;
    if (term && !term.isTTY) {
      throw new ConfigError("command line", [{ path: "--interactive", message: "needs a terminal: stdin is not a TTY (without -i the command runs with its output collected, on every host)" }]);
    }
  });
  const { loaded, secrets, targets } = opened;
  if (!checked) throw new Error("app exec: the command line was not checked");
  const plan = checked;
  if (term) return runSession(targets[0]!, plan, term, deps);

  const json = flags.json === true;
  const width = Math.max(...targets.map((t) => t.name.length));
  const clean = (line: string) => redactText(line, secrets);
  const outcomes = await eachHost(targets, { concurrency: targets.length, deps, progress: createProgress(deps.stderr, "off"), working: "running" }, async (t): Promise<HostExec> => {
    const container = await findContainer(t, plan.query, deps.signal);
    // Streamed: nothing is kept but an unfinished line. With --json: the last MiB of each stream.
    // No queue grows on a slow reader either: on Linux, writes to a pipe, file or terminal on
    // process.stdout/stderr are synchronous, so a full pipe stalls reading from the hosts.
    const out = json ? undefined : new PrefixedLines(hostPrefix(t.host, width), deps.stdout, clean);
    const err = json ? undefined : new PrefixedLines(hostPrefix(t.host, width), deps.stderr, clean);
    const bytes = { stdout: 0, stderr: 0 };
    try {
      const r = await t.exec(containerExecCommand(container.id, plan.argv, { interactive: false }), {
        maxOutputBytes: json ? JSON_MAX_OUTPUT_BYTES : 0,
        ...(plan.timeoutMs !== undefined ? { timeoutMs: plan.timeoutMs } : {}),
        ...(deps.signal ? { signal: deps.signal } : {}),
        onStdout: (c) => {
          bytes.stdout += c.length;
          out?.push(c);
        },
        onStderr: (c) => {
          bytes.stderr += c.length;
          err?.push(c);
        },
      });
      return { ...r, container, stdoutBytes: bytes.stdout, stderrBytes: bytes.stderr };
    } finally {
      out?.end();
      err?.end();
    }
  });

  if (json) deps.stdout.write(`${JSON.stringify(appExecJson({ environment: loaded.env.name, slot: opened.slot, query: plan.query, argv: plan.argv }, outcomes, secrets), null, 2)}\n`);
  else deps.stderr.write(exitSummary(outcomes));
  // Ctrl-C: the hosts it stopped are no failure of theirs; 130 as a shell would say.
  if (deps.signal?.aborted) {
    deps.setExitCode(EXIT.interrupted);
    const failed = outcomes.flatMap((o) => (o.ok || (o.error instanceof TransportError && o.error.kind === "aborted") ? [] : [{ host: o.host, error: o.error }]));
    if (failed.length) throw new AggregateHostError(failed, outcomes.length);
    return;
  }
  settleHostExits(outcomes, deps);
}

/** The `-i` session on `target`: the container looked up, then `docker exec -i -t` on a pty with the terminal in raw mode. */
async function runSession(target: SshTarget, plan: AppExecPlan, term: Terminal, deps: VerbDeps): Promise<void> {
  const t = await deps.connect(target, deps.signal ? { signal: deps.signal } : {});
  try {
    if (!t.interactive) throw new TransportError("protocol", t.host, "this connection cannot open a terminal (no pty support)");
    const container = await findContainer(t, plan.query, deps.signal);
    const command = containerExecCommand(container.id, plan.argv, { interactive: true });
    const newest = container.matches > 1 ? ` (the newest of ${container.matches})` : "";
    deps.stderr.write(`${t.host}: ${container.name}${newest}: ${renderCommand({ argv: plan.argv }, { mode: "display" })}\n`);
    const restore = term.enterRawMode();
    let result: InteractiveResult;
    try {
      result = await t.interactive(command, {
        stdin: term.input,
        stdout: term.output,
        size: term.size(),
        ...(term.term ? { term: term.term } : {}),
        onResize: (l) => term.onResize(l),
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
    } finally {
      restore();
    }
    deps.setExitCode(passThroughExitCode(sessionExitCode(result)));
  } finally {
    await t.close();
  }
}
