/**
 * `longshore exec -- CMD ARGS...`: runs one argv on every host in parallel (one connection per
 * host), prints each host's output prefixed with its name, then an exit-code summary. The argv is
 * quoted by the provisioner's one quoting function, never joined by hand.
 */
import type { Command as Program } from "commander";
import { ConfigError } from "../core/errors";
import { renderCommand, type Command } from "../provisioner/command";
import type { ExecResult } from "../provisioner/transport/transport";
import type { VerbDeps } from "./deps";
import { eachHost, type HostOutcome } from "./each-host";
import { exitSummary, hostPrefix, hostResultJson, prefixLines, settleHostExits } from "./host-output";
import { createProgress, progressMode, type OutStream } from "./output";
import { addTargetOptions, parseConcurrency, resolveTargets, type TargetFlags } from "./targets";

interface ExecFlags extends TargetFlags {
  json?: boolean;
  concurrency?: string;
  sudo?: boolean;
  timeout?: string;
}

/** Adds the `exec` verb. */
export function register(program: Program, deps: VerbDeps): void {
  const cmd = program
    .command("exec")
    .description("run a command on every host (put it after --: longshore exec --host H -- uname -a)")
    .argument("<command...>", "the command and its arguments");
  addTargetOptions(cmd)
    .option("--sudo", "run as root (through sudo -n for a non-root user)")
    .option("--timeout <seconds>", "give up on the command after this long (default 10 min)")
    .option("--json", "print one JSON document (no progress output)")
    .option("--concurrency <n>", "hosts at once (default 16)")
    .action((argv: string[], flags: ExecFlags) => runExec(argv, flags, deps));
}

async function runExec(argv: string[], flags: ExecFlags, deps: VerbDeps): Promise<void> {
  const json = flags.json === true;
  const concurrency = parseConcurrency(flags.concurrency);
  const timeoutMs = parseTimeout(flags.timeout);
  const command: Command = { argv, ...(flags.sudo ? { sudo: true } : {}) };
  const targets = await resolveTargets(flags, {
    cwd: deps.cwd,
    homeDir: deps.homeDir,
    readFile: deps.readFile,
    ...(deps.env["SSH_AUTH_SOCK"] ? { sshAuthSock: deps.env["SSH_AUTH_SOCK"] } : {}),
  });
  const progress = createProgress(deps.stderr, progressMode(deps.stderr, json), targets.map((t) => t.name));
  const outcomes = await eachHost(targets, { concurrency, deps, progress, working: "running" }, (t) =>
    t.exec(command, {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(deps.signal ? { signal: deps.signal } : {}),
    }),
  );
  progress.finish();

  if (json) deps.stdout.write(`${JSON.stringify(execJson(command, outcomes), null, 2)}\n`);
  else printOutputs(outcomes, deps.stdout, deps.stderr);

  // A non-zero exit is the command's answer, shown in the summary; an unreachable host is an error.
  settleHostExits(outcomes, deps);
}

/** `--timeout SECONDS` in milliseconds (undefined when not given); a ConfigError at `--timeout` otherwise. */
export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const s = Number(value);
  if (!Number.isFinite(s) || s <= 0) throw new ConfigError("command line", [{ path: "--timeout", message: "must be a number of seconds greater than 0" }]);
  return Math.round(s * 1000);
}

/** The --json document: the command as displayed (secrets redacted), and each host's result or error. */
export function execJson(command: Command, outcomes: readonly HostOutcome<ExecResult>[]): unknown {
  return {
    command: renderCommand(command, { mode: "display" }),
    sudo: command.sudo === true,
    hosts: outcomes.map(hostResultJson),
  };
}

/** Each host's stdout (to stdout) and stderr (to stderr), prefixed `host | `, then a summary on stderr. */
function printOutputs(outcomes: readonly HostOutcome<ExecResult>[], stdout: OutStream, stderr: OutStream): void {
  const width = Math.max(...outcomes.map((o) => o.host.length));
  for (const o of outcomes) {
    if (!o.ok) continue;
    stdout.write(prefixLines(hostPrefix(o.host, width), o.value.stdout));
    stderr.write(prefixLines(hostPrefix(o.host, width), o.value.stderr));
  }
  stderr.write(exitSummary(outcomes));
}
