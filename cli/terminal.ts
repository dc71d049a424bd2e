/**
 * The local terminal, for verbs that hand it to a remote process (`app exec -i`): whether stdin is
 * one, its size and size changes (SIGWINCH, as Node reports them on the output stream), and raw
 * mode, entered for the session and always left again. This process's streams are wired here, at
 * the edge; tests pass their own {@link Terminal}.
 */
import type { TerminalSize } from "../provisioner/transport/transport";

/** The size a terminal is assumed to have when none can be asked (stdout and stderr are not terminals). */
export const DEFAULT_TERMINAL_SIZE: TerminalSize = { rows: 24, cols: 80 };

/** A local terminal as a session needs it. */
export interface Terminal {
  /** True when stdin is a terminal (raw mode and a remote pty make sense). */
  readonly isTTY: boolean;
  /** What the user types. */
  readonly input: NodeJS.ReadableStream;
  /** Where the session's output goes. */
  readonly output: NodeJS.WritableStream;
  /** `$TERM`, for the remote pty. @default none: the transport's default */
  readonly term?: string;
  /** The current size. */
  size(): TerminalSize;
  /** Calls `listener` on every size change; returns the unsubscribe. */
  onResize(listener: (size: TerminalSize) => void): () => void;
  /**
   * Raw mode: every key goes to the remote side as typed (Ctrl-C as `\x03`, not SIGINT here), no
   * local echo. Returns the restore, which is safe to call twice.
   */
  enterRawMode(): () => void;
}

/** A terminal stream as Node gives it (`process.stdout` when it is a TTY). */
interface SizedStream {
  isTTY?: boolean;
  rows?: number;
  columns?: number;
  on(event: "resize", listener: () => void): unknown;
  off(event: "resize", listener: () => void): unknown;
}

/** This process's terminal: stdin for keys, stdout for output, the size of whichever of stdout and stderr is a terminal. */
export function processTerminal(env: Readonly<Record<string, string | undefined>> = process.env): Terminal {
  const stdin = process.stdin;
  const sized = [process.stdout, process.stderr].find((s) => s.isTTY) as SizedStream | undefined;
  const size = (): TerminalSize =>
    sized?.rows && sized.columns ? { rows: sized.rows, cols: sized.columns } : { ...DEFAULT_TERMINAL_SIZE };
  const term = env["TERM"];
  return {
    isTTY: stdin.isTTY === true,
    input: stdin,
    output: process.stdout,
    ...(term ? { term } : {}),
    size,
    onResize(listener) {
      if (!sized) return () => undefined;
      const onResize = () => listener(size());
      sized.on("resize", onResize);
      return () => void sized.off("resize", onResize);
    },
    enterRawMode() {
      stdin.setRawMode(true);
      stdin.resume();
      let restored = false;
      return () => {
        if (restored) return;
        restored = true;
        stdin.setRawMode(false);
        // Not paused, stdin would keep this process alive after the session.
        stdin.pause();
      };
    },
  };
}
