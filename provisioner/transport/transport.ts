/**
 * The transport contract: how the provisioner talks to one host. The ssh2 adapter
 * (`ssh2-transport.ts`) is the only implementation that touches the network; tests use scripted
 * fakes. One transport is one connection, reused by every step on that host.
 */
import type { Command } from "../command";
import type { Sensitive } from "../../core/sensitive";

/** What a finished command did. A non-zero exit is a result, never a rejection. */
export interface ExecResult {
  /** Exit code, or null when the command died on a signal. */
  exitCode: number | null;
  /** Signal name (`KILL`, `TERM`...) when `exitCode` is null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Bytes the transport wrote to the command's stdin (what crossed the link). @default 0 */
  stdinBytes?: number;
}

/** Per-call options for {@link Transport.exec}. */
export interface ExecOptions {
  /**
   * Overrides the command's and the transport's timeout; `Infinity` for none (a stream that runs
   * until `signal` aborts it, such as `docker logs --follow`). @default the command's, else the transport's
   */
  timeoutMs?: number;
  /** Aborting kills the command (closes its channel) and rejects with a TransportError of kind `aborted`. @default none */
  signal?: AbortSignal;
  /** Live output, e.g. for progress; the full text is still in the result (up to the cap). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Keep at most this many bytes of each stream (the tail); default 16 MiB. */
  maxOutputBytes?: number;
}

/** What to upload: text or bytes in memory, a secret, or a local file streamed from disk. */
export type UploadSource =
  | { content: string | Uint8Array | Sensitive }
  | { localPath: string; /** when known, saves hashing the file again */ sha256?: string };

/** A terminal size in character cells. */
export interface TerminalSize {
  rows: number;
  cols: number;
}

/** What {@link Transport.interactive} connects the remote command to. */
export interface InteractiveOptions {
  /**
   * What the remote command reads: the local terminal (in raw mode, so Ctrl-C travels as `\x03`
   * and the remote pty turns it into SIGINT). Piped until the command ends, then unpiped.
   */
  stdin: NodeJS.ReadableStream;
  /** Where its output goes; with a pty, stdout and stderr arrive as one stream. Never ended. */
  stdout: NodeJS.WritableStream;
  /** Where extended data (stderr) goes, should the server send any. @default stdout */
  stderr?: NodeJS.WritableStream;
  /** The pty's size at start. */
  size: TerminalSize;
  /** The pty's terminal type (`$TERM`). @default "xterm-256color" */
  term?: string;
  /**
   * Subscribes to size changes of the local terminal (SIGWINCH); each one is passed on to the
   * remote pty. Returns the unsubscribe, called when the session ends. @default sizes never change
   */
  onResize?: (listener: (size: TerminalSize) => void) => () => void;
  /** Aborting closes the session (the remote command gets SIGHUP as its pty goes away) and rejects with a TransportError of kind `aborted`. @default none */
  signal?: AbortSignal;
}

/** How an interactive session ended. */
export interface InteractiveResult {
  /** Exit code, or null when the command died on a signal. */
  exitCode: number | null;
  /** Signal name (`KILL`, `TERM`...) when `exitCode` is null. */
  signal: string | null;
  durationMs: number;
}

/** Where and how an uploaded file lands. */
export interface UploadOptions {
  /** Octal mode, e.g. 0o644 (default) or 0o600 for secrets. */
  mode?: number;
  owner?: string;
  group?: string;
  /** The destination needs root (the transport uses `sudo -n` for a non-root user). */
  sudo?: boolean;
  /** Upload even when the remote sha256 already matches. */
  force?: boolean;
  signal?: AbortSignal;
}

/** What an upload did. */
export interface UploadResult {
  /** False when the remote file already had this content (nothing was sent). */
  uploaded: boolean;
  bytes: number;
  sha256: string;
}

/** A connection to one host. */
export interface Transport {
  /** The host as named in the inventory (for messages and reports). */
  readonly host: string;
  /** True when commands marked `sudo` must be prefixed with `sudo -n` (user is not root). */
  readonly needsSudo: boolean;
  /** Runs a command. Rejects only with a TransportError (never for a non-zero exit). */
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** Streams a file to `remotePath` atomically (temp file + rename); skipped when sha256 matches. */
  upload(source: UploadSource, remotePath: string, options?: UploadOptions): Promise<UploadResult>;
  /** The sha256 (hex) of a remote file, or null when it does not exist. */
  sha256(remotePath: string, options?: { sudo?: boolean }): Promise<string | null>;
  /**
   * Runs a command on a pseudo-terminal, wired to a local terminal: no output cap and no timeout (a
   * session lasts as long as its user wants; keepalives notice a dead connection). Resolves with the
   * exit code or signal; rejects only with a TransportError. Optional: a transport that cannot
   * allocate a terminal leaves it out. @default absent
   */
  interactive?(command: Command, options: InteractiveOptions): Promise<InteractiveResult>;
  /** Closes the connection; safe to call twice. */
  close(): Promise<void>;
}
