/**
 * Runs longshore verbs the way cli/main.ts does (commander with exitOverride, errors printed to
 * stderr, exit codes by error class), with buffers for stdout and stderr. For verbs whose main
 * registration is not in this branch yet; the exit-code table mirrors cli/exit-codes.ts.
 */
import { Command, CommanderError } from "commander";
import {
  AggregateHostError,
  BundleError,
  CommandFailedError,
  ConfigError,
  HostKeyError,
  LongshoreError,
  PreconditionError,
  TransportError,
} from "../../core/errors";

/** Exit codes as cli/exit-codes.ts defines them. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof AggregateHostError) {
    const codes = new Set(err.failures.map((f) => exitCodeFor(f.error)));
    return [2, 5, 3, 4, 6, 1].find((c) => codes.has(c)) ?? 1;
  }
  if (err instanceof ConfigError || err instanceof BundleError) return 2;
  if (err instanceof TransportError || err instanceof HostKeyError) return 3;
  if (err instanceof CommandFailedError) return 4;
  if (err instanceof PreconditionError) return 5;
  return 1;
}

/** A buffer that collects what a verb writes. */
export class Sink {
  text = "";
  isTTY = false;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** Registers verbs on a fresh program and runs argv (without node and script). */
export async function runCli(
  registers: ReadonlyArray<(program: Command) => void>,
  argv: readonly string[],
  stderr: Sink,
): Promise<number> {
  const program = new Command("longshore").exitOverride().configureOutput({ writeOut: () => undefined, writeErr: (s) => void stderr.write(s) });
  for (const r of registers) r(program);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (!(err instanceof CommanderError)) {
      const e = err as Error;
      stderr.write(`error${e instanceof LongshoreError ? ` [${e.code}]` : ""}: ${e.message}\n`);
    }
    return exitCodeFor(err);
  }
}
