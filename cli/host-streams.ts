/**
 * Reads one command's output from every host at once, over one SSH connection per host (pinned
 * host keys), and hands the items it parses to the caller merged in time order (core/time-merge.ts).
 * What `logs` and `events` share. A host that cannot be reached, or whose connection drops, is
 * reported once and the others go on. Ctrl-C (the signal) closes every channel and connection;
 * the items that arrived until then still come out, in order.
 */
import { StringDecoder } from "node:string_decoder";
import { TransportError } from "../core/errors";
import { TimeMerge } from "../core/time-merge";
import type { EpochNs } from "../core/time-spec";
import type { SshTarget } from "../model/ssh-target";
import type { Command } from "../provisioner/command";
import type { CliDeps } from "./deps";
import { EXIT, type ExitCode } from "./exit-codes";

/** How long a following read holds the earliest line for an earlier one from another host (ms). */
export const FOLLOW_HOLD_BACK_MS = 300;

/** How a host's read ended. */
export type HostOutcome =
  | { host: string; kind: "exit"; exitCode: number | null; signal: string | null }
  /** Never connected (refused, timed out, host key mismatch). */
  | { host: string; kind: "unreachable"; message: string }
  /** Connected, then the connection dropped. */
  | { host: string; kind: "lost"; message: string }
  /** Another transport failure (a timeout, a channel error). */
  | { host: string; kind: "error"; message: string }
  | { host: string; kind: "aborted" };

/** What {@link streamHosts} needs. */
export interface HostStreamsSpec<T> {
  targets: readonly SshTarget[];
  /** The command every host runs. */
  command: Command;
  connect: CliDeps["connect"];
  /** A following read: no timeout, and items are released after the hold-back instead of when every host has spoken. */
  follow: boolean;
  /** Aborted on Ctrl-C. @default none */
  signal?: AbortSignal;
  /** Whether each stream is a source of items in time order of its own (logs: both; events: stdout). */
  streams: ReadonlyArray<"stdout" | "stderr">;
  /** One line of a host's stream as an item with its time, or null for a message of the host's own (printed by `onMessage`). */
  parse(host: string, stream: "stdout" | "stderr", text: string): { ns: EpochNs; item: T } | null;
  /** Each item, in time order. */
  onItem(item: T): void;
  /** A line of a host that is no item (an engine error on stderr), as it came. */
  onMessage(host: string, text: string): void;
  /** A host's read ended (at once, not at the end of all of them: a lost host is reported while the others go on). */
  onOutcome(outcome: HostOutcome): void;
  /** The clock, for the hold-back. @default Date.now */
  now?: () => number;
  /** @default {@link FOLLOW_HOLD_BACK_MS} */
  holdBackMs?: number;
}

/** Splits a stream's chunks into lines (UTF-8 safe across chunks); the last, unterminated line comes with `end`. */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  #partial = "";

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.#partial + this.#decoder.write(chunk);
    const lines = text.split("\n");
    this.#partial = lines.pop()!;
    for (const l of lines) this.onLine(l);
  }

  end(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = "";
    if (rest !== "") this.onLine(rest);
  }
}

/** The message of a transport error without the `<host>: ` its message starts with. */
function reason(e: unknown, host: string): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.startsWith(`${host}: `) ? m.slice(host.length + 2) : m).split("\n")[0]!;
}

/** Runs the command on every host, merged by time; resolves once every host's read ended. */
export async function streamHosts<T>(spec: HostStreamsSpec<T>): Promise<HostOutcome[]> {
  const now = spec.now ?? Date.now;
  const perHost = spec.streams.length;
  const merge = new TimeMerge<T>(spec.targets.length * perHost, { holdBackMs: spec.follow ? (spec.holdBackMs ?? FOLLOW_HOLD_BACK_MS) : null });
  let timer: NodeJS.Timeout | undefined;
  // The hold-back counts once every host's read started: a backlog (`--tail 50`) that came first
  // waits for the one of a host that connected later, not only for 300 ms.
  let starting = spec.targets.length;
  const started = () => {
    if (--starting > 0) return;
    merge.restartHoldBack(now());
    pump();
  };
  const pump = () => {
    for (const item of merge.take(starting > 0 ? -Infinity : now())) spec.onItem(item);
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const next = starting > 0 ? null : merge.nextReleaseMs();
    if (next !== null) timer = setTimeout(pump, Math.max(0, next - now()));
  };

  const one = async (target: SshTarget, index: number): Promise<HostOutcome> => {
    const host = target.name;
    const splitters = spec.streams.map(
      (stream, s) =>
        new LineSplitter((text) => {
          const parsed = spec.parse(host, stream, text);
          if (parsed === null) {
            if (text.trim() !== "") spec.onMessage(host, text);
            return;
          }
          merge.push(index * perHost + s, parsed.ns, parsed.item, now());
          pump();
        }),
    );
    // A stream that is no source of its own (events' stderr) has only messages.
    const splitterOf = (stream: "stdout" | "stderr") => splitters[spec.streams.indexOf(stream)] ?? new LineSplitter((text) => text.trim() !== "" && spec.onMessage(host, text));
    const stdout = splitterOf("stdout");
    const stderr = splitterOf("stderr");
    const finish = (outcome: HostOutcome): HostOutcome => {
      stdout.end();
      stderr.end();
      for (let s = 0; s < perHost; s++) merge.end(index * perHost + s);
      pump();
      spec.onOutcome(outcome);
      return outcome;
    };
    let transport;
    try {
      transport = await spec.connect(target, { connectDeadlineMs: 10_000, ...(spec.signal ? { signal: spec.signal } : {}) });
    } catch (e) {
      started();
      if (spec.signal?.aborted) return finish({ host, kind: "aborted" });
      return finish({ host, kind: "unreachable", message: reason(e, host) });
    }
    started();
    try {
      const r = await transport.exec(spec.command, {
        ...(spec.follow ? { timeoutMs: Infinity } : {}),
        ...(spec.signal ? { signal: spec.signal } : {}),
        // Everything is handled as it streams: keep no copy.
        maxOutputBytes: 0,
        onStdout: (c) => stdout.push(c),
        onStderr: (c) => stderr.push(c),
      });
      return finish({ host, kind: "exit", exitCode: r.exitCode, signal: r.signal });
    } catch (e) {
      if (spec.signal?.aborted || (e instanceof TransportError && e.kind === "aborted")) return finish({ host, kind: "aborted" });
      if (e instanceof TransportError && e.kind === "disconnected") return finish({ host, kind: "lost", message: e.cause instanceof Error ? e.cause.message : reason(e, host) });
      return finish({ host, kind: "error", message: reason(e, host) });
    } finally {
      await transport.close().catch(() => undefined);
    }
  };

  try {
    return await Promise.all(spec.targets.map(one));
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    for (const item of merge.flush()) spec.onItem(item);
  }
}

/**
 * What a host's end says on stderr (null: nothing to say) and the exit code it asks for. `what`
 * names the command (`docker logs`); `explained` is an exit code whose reason the host printed itself. Pure.
 */
export function describeOutcome(o: HostOutcome, what: string, follow: boolean, explained: number | null = null): { message: string | null; code: ExitCode } {
  switch (o.kind) {
    case "aborted":
      return { message: null, code: EXIT.ok };
    case "unreachable":
      return { message: `${o.host}: cannot connect (${o.message})`, code: EXIT.unreachable };
    case "lost":
      return { message: `${o.host}: connection lost (${o.message})`, code: EXIT.unreachable };
    case "error":
      return { message: `${o.host}: ${o.message}`, code: EXIT.unreachable };
    case "exit":
      if (o.exitCode === 0) return { message: follow ? `${o.host}: ${what} ended` : null, code: EXIT.ok };
      // The host already said why on stderr (`no container labelled ...`).
      if (o.exitCode !== null && o.exitCode === explained) return { message: null, code: EXIT.commandFailed };
      return { message: `${o.host}: ${what} ${o.exitCode === null ? `ended on signal ${o.signal ?? "?"}` : `exited ${o.exitCode}`}`, code: EXIT.commandFailed };
  }
}

/** The exit code of a read: 130 after Ctrl-C, else the most fundamental host problem (unreachable before a failed command), else 0. */
export function readExitCode(codes: readonly ExitCode[], interrupted: boolean): ExitCode {
  if (interrupted) return EXIT.interrupted;
  return [EXIT.unreachable, EXIT.commandFailed].find((c) => codes.includes(c)) ?? EXIT.ok;
}
