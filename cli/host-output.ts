/**
 * How verbs that run one command on several hosts (`exec`, `app exec`) show what each host did:
 * output lines prefixed with the host's name (`web-1 | ...`), whole or as they stream in, then one
 * exit-code line per host, and the exit code of the whole run: 0 only when every host ran its
 * command and it exited 0.
 */
import { StringDecoder } from "node:string_decoder";
import { AggregateHostError, TransportError } from "../core/errors";
import type { ExecResult } from "../provisioner/transport/transport";
import type { VerbDeps } from "./deps";
import type { HostOutcome } from "./each-host";
import { EXIT } from "./exit-codes";
import { errorJson, type OutStream } from "./output";

/** A line longer than this many characters is cut into several prefixed lines (a stream never waits for a newline forever). */
export const MAX_LINE_CHARS = 64 * 1024;

/** The prefix of a host's lines, its name padded to `width`: `web-1 | `. */
export function hostPrefix(host: string, width: number): string {
  return `${host.padEnd(width)} | `;
}

/** `text` with `prefix` before each line; a last line without a newline gets one. Empty text stays empty. */
export function prefixLines(prefix: string, text: string): string {
  return text === "" ? "" : text.replace(/\n$/, "").split("\n").map((l) => `${prefix}${l}\n`).join("");
}

/**
 * One host's stream (its stdout or its stderr) written as prefixed lines while it arrives: complete
 * lines go out at once, in one write per chunk, so lines of several hosts never mix; only the
 * unfinished last line is held, at most {@link MAX_LINE_CHARS}. Multi-byte characters split
 * between chunks are joined first.
 */
export class PrefixedLines {
  readonly #decoder = new StringDecoder("utf8");
  #pending = "";

  /** `clean` rewrites each line before it is written (e.g. secrets to `[redacted]`). */
  constructor(
    private readonly prefix: string,
    private readonly out: OutStream,
    private readonly clean: (line: string) => string = (l) => l,
    private readonly maxLineChars = MAX_LINE_CHARS,
  ) {}

  push(chunk: Buffer): void {
    const lines = (this.#pending + this.#decoder.write(chunk)).split("\n");
    this.#pending = lines.pop()!;
    while (this.#pending.length > this.maxLineChars) {
      lines.push(this.#pending.slice(0, this.maxLineChars));
      this.#pending = this.#pending.slice(this.maxLineChars);
    }
    if (lines.length) this.out.write(lines.map((l) => `${this.prefix}${this.clean(l)}\n`).join(""));
  }

  /** Writes what is left (a last line without a newline). */
  end(): void {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = "";
    if (rest !== "") this.out.write(`${this.prefix}${this.clean(rest)}\n`);
  }
}

/** One host's entry in a --json document: its result, or the error that kept the command from running. */
export function hostResultJson(o: HostOutcome<ExecResult>): Record<string, unknown> {
  return o.ok
    ? {
        host: o.host,
        ok: o.value.exitCode === 0,
        exitCode: o.value.exitCode,
        signal: o.value.signal,
        stdout: o.value.stdout,
        stderr: o.value.stderr,
        durationMs: Math.round(o.value.durationMs),
      }
    : { host: o.host, ok: false, error: errorJson(o.error) };
}

/** How a host's command ended, for the summary: `exit 3`, `killed by signal INT`, `interrupted` (Ctrl-C), `not run (see error below)`. */
export function describeHostExit(o: HostOutcome<Pick<ExecResult, "exitCode" | "signal">>): string {
  if (!o.ok) return o.error instanceof TransportError && o.error.kind === "aborted" ? "interrupted" : "not run (see error below)";
  return o.value.exitCode === null ? `killed by signal ${o.value.signal ?? "(unknown)"}` : `exit ${o.value.exitCode}`;
}

/** One line per host (`web-1: exit 0`), names padded to the widest. */
export function exitSummary(outcomes: readonly HostOutcome<Pick<ExecResult, "exitCode" | "signal">>[]): string {
  const width = Math.max(0, ...outcomes.map((o) => o.host.length));
  return outcomes.map((o) => `${o.host.padEnd(width)}: ${describeHostExit(o)}\n`).join("");
}

/**
 * The run's exit code: a non-zero exit (or a signal) is the command's answer, shown in the summary,
 * and sets {@link EXIT.commandFailed}; a host where the command could not run is an error, thrown
 * as one AggregateHostError (the CLI prints each host's and picks the exit code).
 */
export function settleHostExits(outcomes: readonly HostOutcome<Pick<ExecResult, "exitCode" | "signal">>[], deps: Pick<VerbDeps, "setExitCode">): void {
  const failed = outcomes.flatMap((o) => (o.ok ? [] : [{ host: o.host, error: o.error }]));
  if (outcomes.some((o) => o.ok && o.value.exitCode !== 0)) deps.setExitCode(EXIT.commandFailed);
  if (failed.length) throw new AggregateHostError(failed, outcomes.length);
}
