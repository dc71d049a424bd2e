/**
 * Running one command on an open ssh2 exec channel: stdin, capped output, exit code or signal,
 * the per-command timeout, abort, and telling a dropped connection from a finished command.
 */
import { pipeline } from "node:stream";
import type { ClientChannel } from "ssh2";
import { TransportError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import type { StdinSource } from "../command";
import type { ExecResult } from "./transport";

/** Default cap on each of stdout and stderr. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Keeps the last `max` bytes written to it. */
export class TailBuffer {
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    if (this.max <= 0) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.max) {
      const first = this.#chunks[0]!;
      const excess = this.#size - this.max;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
      }
    }
  }

  toString(): string {
    return Buffer.concat(this.#chunks, this.#size).toString("utf8");
  }
}

/** What {@link runOnChannel} needs besides the channel. */
export interface RunSpec {
  host: string;
  /** The command as shown to humans (secrets redacted). */
  display: string;
  stdin: StdinSource | undefined;
  timeoutMs: number;
  maxOutputBytes: number;
  signal: AbortSignal | undefined;
  onStdout: ((chunk: Buffer) => void) | undefined;
  onStderr: ((chunk: Buffer) => void) | undefined;
  /** Why the connection is gone, or null while it is up. */
  connectionLost: () => Error | null;
  startedAt: number;
}

/**
 * Runs the already-started command on `channel` to completion. Resolves with the result for any
 * exit code or signal; rejects only with a TransportError (timeout, abort, dropped connection).
 */
export function runOnChannel(channel: ClientChannel, spec: RunSpec): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    const stdout = new TailBuffer(spec.maxOutputBytes);
    const stderr = new TailBuffer(spec.maxOutputBytes);
    let exitCode: number | null | undefined;
    let signalName: string | null = null;
    let settled = false;
    const sent = { bytes: 0 };

    const finish = (error: TransportError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      if (error) {
        // Kill first: closing alone leaves the remote process running until it writes.
        sendSignal(channel, "KILL");
        channel.close();
        return reject(error);
      }
      resolve({
        exitCode: exitCode ?? null,
        signal: signalName,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        durationMs: Math.round(performance.now() - spec.startedAt),
        stdinBytes: sent.bytes,
      });
    };

    // Infinity: no timeout, for a stream that runs until it is aborted (`docker logs --follow`).
    const timer = !Number.isFinite(spec.timeoutMs) ? undefined : setTimeout(
      () =>
        finish(
          new TransportError("command-timeout", spec.host, `\`${spec.display}\` did not finish within ${spec.timeoutMs} ms and was killed`, {
            context: { command: spec.display, timeoutMs: spec.timeoutMs },
            suggestion: "Raise the step's timeoutMs if the command is legitimately slow.",
          }),
        ),
      spec.timeoutMs,
    );
    const onAbort = () =>
      finish(new TransportError("aborted", spec.host, `\`${spec.display}\` was aborted`, { context: { command: spec.display } }));
    if (spec.signal?.aborted) return onAbort();
    spec.signal?.addEventListener("abort", onAbort, { once: true });

    channel.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      spec.onStdout?.(chunk);
    });
    channel.stderr.on("data", (chunk: Buffer) => {
      stderr.push(chunk);
      spec.onStderr?.(chunk);
    });
    channel.on("exit", (code: number | null, signal?: string) => {
      exitCode = code;
      signalName = code === null && signal ? signal.replace(/^SIG/, "") : null;
    });
    channel.on("error", (err: Error) => {
      finish(new TransportError("protocol", spec.host, `\`${spec.display}\`: channel error: ${err.message}`, { cause: err }));
    });
    const lostError = (lost: Error) =>
      new TransportError("disconnected", spec.host, `connection lost while running \`${spec.display}\`: ${lost.message}`, {
        cause: lost,
        context: { command: spec.display },
      });
    // ssh2 emits "exit" while it parses the packet, possibly before these listeners exist: a fast
    // command's exit-status can arrive in the same read as the exec request's success, which
    // resolved the channel promise whose continuation attached them. "close" comes later and
    // carries the same exit code and signal, so take them from there when "exit" was missed.
    channel.on("close", (code?: number | null, signal?: string) => {
      if (exitCode === undefined && (typeof code === "number" || (code === null && typeof signal === "string"))) {
        exitCode = code;
        signalName = code === null && signal ? signal.replace(/^SIG/, "") : null;
      }
      if (exitCode !== undefined) return finish(null);
      const lost = spec.connectionLost();
      finish(lost ? lostError(lost) : new TransportError("protocol", spec.host, `\`${spec.display}\`: channel closed without an exit status`));
    });

    writeStdin(channel, spec.stdin, sent, (err) => {
      // A command may exit without reading all of its stdin: the broken pipe is then no error.
      if (exitCode !== undefined) return;
      const lost = spec.connectionLost();
      finish(lost ? lostError(lost) : new TransportError("protocol", spec.host, `stdin for \`${spec.display}\` failed: ${err.message}`, { cause: err }));
    });
  });
}

/** Writes stdin then EOF; a stream source is piped with backpressure. */
function writeStdin(channel: ClientChannel, stdin: StdinSource | undefined, sent: { bytes: number }, onError: (err: Error) => void): void {
  if (stdin === undefined) return void channel.end();
  if (typeof stdin === "function") {
    let source;
    try {
      source = stdin();
    } catch (e) {
      return onError(e as Error);
    }
    source.on("data", (chunk: Buffer | string) => void (sent.bytes += Buffer.byteLength(chunk)));
    pipeline(source, channel, (err) => {
      if (err) onError(err);
    });
    return;
  }
  const data = stdin instanceof Sensitive ? stdin.reveal() : stdin;
  sent.bytes = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
  channel.end(typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Sends a signal to the remote process group (OpenSSH's sshd does `killpg` for it). ssh2's public
 * `signal()` is a no-op once we sent EOF on stdin, which we always do; the request itself is
 * still valid then, so fall back to the protocol method ssh2 uses internally.
 * Limit: OpenSSH refuses signal requests on root logins ("session signalling requires privilege
 * separation": it drops post-auth privsep for root), so there only closing the channel remains,
 * which ends the command at its next write to stdout/stderr, not at once.
 */
export function sendSignal(channel: ClientChannel, name: string): void {
  const ch = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    if (ch.outgoing?.state === "open") channel.signal(name);
    else if (ch.outgoing?.state === "eof") ch._client?._protocol?.signal(ch.outgoing.id, name);
  } catch {
    // Best effort: the channel is closed right after anyway.
  }
}
