/**
 * An interactive session on an open ssh2 exec channel that has a pty: the local terminal's bytes
 * go in as they are typed (Ctrl-C included: the remote pty's line discipline makes it SIGINT), the
 * output comes back as it is written, size changes follow the local terminal, and the exit code or
 * signal ends it. Nothing is buffered here: the pipes apply backpressure both ways.
 */
import type { ClientChannel } from "ssh2";
import { TransportError } from "../../core/errors";
import type { InteractiveOptions, InteractiveResult, TerminalSize } from "./transport";

/** The pty's terminal type when the caller names none. */
export const DEFAULT_TERM = "xterm-256color";

/** What {@link runInteractive} needs besides the channel. */
export interface InteractiveSpec {
  host: string;
  /** The command as shown to humans (secrets redacted). */
  display: string;
  options: InteractiveOptions;
  /** Why the connection is gone, or null while it is up. */
  connectionLost: () => Error | null;
  startedAt: number;
}

/** The pty request ssh2 sends with the exec (pixel sizes 0: unknown, as OpenSSH's client sends them). */
export function ptyRequest(size: TerminalSize, term: string | undefined): { rows: number; cols: number; width: number; height: number; term: string } {
  return { rows: size.rows, cols: size.cols, width: 0, height: 0, term: term ?? DEFAULT_TERM };
}

/**
 * Runs the already-started command on `channel` until it ends. Resolves with its exit code or
 * signal; rejects only with a TransportError (a dropped connection, an abort, a channel error).
 */
export function runInteractive(channel: ClientChannel, spec: InteractiveSpec): Promise<InteractiveResult> {
  const { stdin, stdout, stderr = stdout, onResize, signal } = spec.options;
  return new Promise<InteractiveResult>((resolve, reject) => {
    let exitCode: number | null | undefined;
    let signalName: string | null = null;
    let settled = false;

    const finish = (error: TransportError | null) => {
      if (settled) return;
      settled = true;
      unsubscribe?.();
      signal?.removeEventListener("abort", onAbort);
      // The local terminal is the caller's again: nothing more is read from it for this session.
      stdin.unpipe(channel);
      if (error) {
        channel.close();
        return reject(error);
      }
      resolve({ exitCode: exitCode ?? null, signal: signalName, durationMs: Math.round(performance.now() - spec.startedAt) });
    };

    const unsubscribe = onResize?.((size) => {
      if (!settled) channel.setWindow(size.rows, size.cols, 0, 0);
    });
    const onAbort = () => finish(new TransportError("aborted", spec.host, `\`${spec.display}\` was aborted`, { context: { command: spec.display } }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });

    channel.pipe(stdout, { end: false });
    channel.stderr.pipe(stderr, { end: false });
    stdin.pipe(channel);

    channel.on("exit", (code: number | null, sig?: string) => {
      exitCode = code;
      signalName = code === null && sig ? sig.replace(/^SIG/, "") : null;
    });
    channel.on("error", (err: Error) => {
      finish(new TransportError("protocol", spec.host, `\`${spec.display}\`: channel error: ${err.message}`, { cause: err }));
    });
    // As in ssh2-exec.ts: "exit" may have come before these listeners; "close" carries it too.
    channel.on("close", (code?: number | null, sig?: string) => {
      if (exitCode === undefined && (typeof code === "number" || (code === null && typeof sig === "string"))) {
        exitCode = code;
        signalName = code === null && sig ? sig.replace(/^SIG/, "") : null;
      }
      if (exitCode !== undefined) return finish(null);
      const lost = spec.connectionLost();
      finish(
        lost
          ? new TransportError("disconnected", spec.host, `connection lost during \`${spec.display}\`: ${lost.message}`, { cause: lost, context: { command: spec.display } })
          : new TransportError("protocol", spec.host, `\`${spec.display}\`: channel closed without an exit status`),
      );
    });
  });
}
