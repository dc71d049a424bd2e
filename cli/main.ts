#!/usr/bin/env node
/**
 * The longshore command line. Builds the program from one `register(program, deps)` per verb (add
 * a verb with one line below), runs it, and is the one place that prints errors and decides the
 * exit code (via exit-codes.ts). Dependencies are injected: tests call {@link main} with fakes.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { Command, CommanderError } from "commander";
import { systemSecretReader } from "../core/secret-reader";
import { connectSsh } from "../provisioner/transport/ssh2-transport";
import { startDemoSshd } from "./demo-sshd";
import type { CliDeps, VerbDeps } from "./deps";
import { EXIT, exitCodeFor, exitCodeSchemeOf, type ExitCode } from "./exit-codes";
import { printError } from "./output";
import { colorWanted, paint, withTerminal } from "./color";
import { globalFlags } from "./global-flags";
import { register as registerExec } from "./exec";
import { register as registerApp } from "./app";
import { register as registerFacts } from "./facts";
import { register as registerEnvironment } from "./environment-verbs";
import { register as registerAccessory } from "./accessory";
import { register as registerAudit } from "./audit";
import { register as registerLock } from "./lock";
import { register as registerVersion } from "./version";
import { register as registerLogs } from "./logs";
import { register as registerEvents } from "./events";
import { register as registerPrune } from "./prune";
import { register as registerProvision } from "./provision";
import { register as registerPlan } from "./plan";
import { register as registerLocal } from "./local";
import { register as registerEngine, defaultEngineCliDeps } from "./engine";
import { destroyEnvironment, ensureEnvironmentAccessories, environmentAccessoryData, environmentDriver, operationLockDir } from "./environment-deps";
import { gitUserEmail, userAtHost } from "./operator";
import { defaultPaths } from "../drivers/local/paths";

/** Every verb, in help order. A new verb is one line here. */
const VERBS: ReadonlyArray<(program: Command, deps: VerbDeps) => void> = [
  registerEnvironment,
  registerAccessory,
  registerAudit,
  registerLock,
  registerLogs,
  registerEvents,
  registerPrune,
  registerProvision,
  registerPlan,
  registerFacts,
  registerExec,
  registerApp,
  (program, deps) =>
    registerLocal(program, {
      stdout: (t) => void deps.stdout.write(t),
      stderr: (t) => void deps.stderr.write(t),
      paths: defaultPaths(deps.env as NodeJS.ProcessEnv),
    }),
  (program, deps) =>
    registerEngine(program, {
      ...defaultEngineCliDeps(`longshore/${version()}`, deps.env as NodeJS.ProcessEnv, deps.cwd),
      out: (t) => void deps.stdout.write(t),
      log: (l) => void deps.stderr.write(`${l}\n`),
    }),
  (program, deps) => registerVersion(program, deps, version()),
];

/** Builds the commander program (no parsing, no I/O). */
export function buildProgram(deps: VerbDeps): Command {
  const program = new Command("longshore")
    .description("Infrastructure as code for container hosts: provisioning over SSH, blue/green rollouts, a local driver.")
    // main() runs `--version` as the `version` verb and takes `--no-color` from anywhere (global-flags.ts);
    // they are options here for --help.
    .option("-V, --version", "print longshore's version and the pinned engine bundle, as `longshore version` (only before a command)")
    .option("--no-color", "no colour, also on a terminal (as NO_COLOR=1); counts anywhere before --")
    // The program's own flags (--version, --help) count only before the command: else the root
    // --version wins over a verb's own option of that name (`local image --version v2`).
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    // Errors become exceptions (mapped to exit codes below) instead of process.exit.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error:/, paint(deps.stderr, "failed", "error:"))),
    });
  for (const register of VERBS) register(program, deps);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. Never throws. */
export async function main(argv: readonly string[], deps: CliDeps): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  const global = globalFlags(argv);
  // Colour is decided here, once per stream; everything that prints asks the stream (cli/color.ts).
  const stdout = withTerminal(deps.stdout, colorWanted(deps.stdout, deps.env, global.noColor));
  const stderr = withTerminal(deps.stderr, colorWanted(deps.stderr, deps.env, global.noColor));
  const verbDeps: VerbDeps = { ...deps, stdout, stderr, setExitCode: (c) => void (code = c) };
  const program = buildProgram(verbDeps);
  try {
    await program.parseAsync(global.argv, { from: "user" });
    return code;
  } catch (err) {
    // Commander already printed its own usage errors (and help); everything else is printed here.
    if (!(err instanceof CommanderError)) printError(err, stderr, deps.env["LONGSHORE_DEBUG"] === "1");
    return exitCodeFor(err, exitCodeSchemeOf(program));
  }
}

/** The real dependencies: the ssh2 transport, this process's streams and environment. */
export function realDeps(signal?: AbortSignal): CliDeps {
  return {
    connect: connectSsh,
    environmentDriver: (target, progress) => environmentDriver(target, progress, connectSsh, process.env["SSH_AUTH_SOCK"]),
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    homeDir: homedir(),
    readFile: (p) => readFile(p, "utf8"),
    secretReader: systemSecretReader(process.env),
    startDemoSshd,
    destroyEnvironment,
    accessoryData: environmentAccessoryData,
    ensureAccessories: ensureEnvironmentAccessories,
    operationLockDir,
    gitUserEmail,
    userAtHost,
    ...(signal ? { signal } : {}),
  };
}

function version(): string {
  // cli/main.ts (tests) sits one level below package.json, dist/cli/main.js two.
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = require(rel) as { name?: string; version?: string };
      if (pkg.name === "longshore" && pkg.version) return pkg.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return "unknown";
}

if (require.main === module) {
  const abort = new AbortController();
  // First Ctrl-C cancels commands in flight (hosts report it); a second one exits at once.
  process.once("SIGINT", () => {
    abort.abort();
    process.once("SIGINT", () => process.exit(130));
  });
  void main(process.argv.slice(2), realDeps(abort.signal)).then((code) => {
    process.exitCode = code;
  });
}
