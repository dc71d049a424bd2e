/**
 * The SSH transport: one ssh2 connection per host, reused by every step. Commands become shell
 * text only through `renderCommand`; host keys are always verified (see ssh2-connect.ts); every
 * wait has a timeout. `exec` never rejects for a non-zero exit, only with a TransportError.
 */
import type { ClientChannel, SFTPWrapper } from "ssh2";
import { TransportError } from "../../core/errors";
import { redactText } from "../../core/sensitive";
import { renderCommand, secretsOf, type Command } from "../command";
import type { SshTarget } from "../../model/ssh-target";
import type { SshConnectOptions } from "./connect-options";
import { dialSsh, resolveSshOptions, type ResolvedSshOptions, type SshConnection } from "./ssh2-connect";
import { DEFAULT_MAX_OUTPUT_BYTES, runOnChannel } from "./ssh2-exec";
import { ptyRequest, runInteractive } from "./ssh2-interactive";
import { uploadOverSftp } from "./ssh2-upload";
import type { ExecOptions, ExecResult, InteractiveOptions, InteractiveResult, Transport, UploadOptions, UploadResult, UploadSource } from "./transport";

/**
 * Connects to `target` (through `target.jump` when set) and returns a {@link Transport} on that one
 * connection. Retryable dial failures are retried until `connectDeadlineMs`; dns, auth and
 * host-key failures reject at once.
 */
export async function connectSsh(target: SshTarget, options?: SshConnectOptions): Promise<Transport> {
  const resolved = resolveSshOptions(options);
  const connection = await dialSsh(target, resolved);
  return new Ssh2Transport(connection, resolved);
}

/**
 * OpenSSH allows 10 sessions per connection (MaxSessions); the SFTP session takes one. Keep exec
 * channels below that so parallel callers queue instead of failing with "open failed".
 */
const MAX_EXEC_CHANNELS = 8;

class Ssh2Transport implements Transport {
  readonly host: string;
  readonly needsSudo: boolean;
  readonly #conn: SshConnection;
  readonly #options: ResolvedSshOptions;
  #sftp: Promise<SFTPWrapper> | undefined;
  #closed = false;
  #openChannels = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(conn: SshConnection, options: ResolvedSshOptions) {
    this.#conn = conn;
    this.#options = options;
    this.host = conn.target.name;
    this.needsSudo = conn.target.sudo ?? conn.target.user !== "root";
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    // For errors (a lost connection, a timeout): long scripts by their first line, never whole.
    const display = renderCommand(command, { mode: "summary", useSudo: this.needsSudo });
    const text = renderCommand(command, { mode: "exec", useSudo: this.needsSudo });
    await this.#acquireChannel();
    try {
      const startedAt = performance.now();
      const channel = await this.#open<ClientChannel>(`exec \`${display}\``, options.signal, (cb) => this.#conn.client.exec(text, cb));
      const result = await runOnChannel(channel, {
        host: this.host,
        display,
        stdin: command.stdin,
        timeoutMs: options.timeoutMs ?? command.timeoutMs ?? this.#options.commandTimeoutMs,
        maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        signal: options.signal,
        onStdout: options.onStdout,
        onStderr: options.onStderr,
        connectionLost: () => this.#conn.lost() ?? (this.#closed ? new Error("transport closed") : null),
        startedAt,
      });
      if (command.sudo && this.needsSudo && result.exitCode === 1 && /a password is required/.test(result.stderr)) {
        throw new TransportError(
          "sudo",
          this.host,
          `user ${this.#conn.target.user} needs passwordless sudo (NOPASSWD) for \`${display}\`; sudo said: ${redactText(result.stderr.trim(), secretsOf(command))}`,
          {
            context: { command: display, user: this.#conn.target.user },
            suggestion: `Add a sudoers rule such as "${this.#conn.target.user} ALL=(ALL) NOPASSWD: ALL", or connect as root.`,
          },
        );
      }
      return result;
    } finally {
      this.#releaseChannel();
    }
  }

  async interactive(command: Command, options: InteractiveOptions): Promise<InteractiveResult> {
    const display = renderCommand(command, { mode: "summary", useSudo: this.needsSudo });
    const text = renderCommand(command, { mode: "exec", useSudo: this.needsSudo });
    await this.#acquireChannel();
    try {
      const startedAt = performance.now();
      const pty = ptyRequest(options.size, options.term);
      const channel = await this.#open<ClientChannel>(`open a terminal for \`${display}\``, options.signal, (cb) => this.#conn.client.exec(text, { pty }, cb));
      return await runInteractive(channel, {
        host: this.host,
        display,
        options,
        connectionLost: () => this.#conn.lost() ?? (this.#closed ? new Error("transport closed") : null),
        startedAt,
      });
    } finally {
      this.#releaseChannel();
    }
  }

  async upload(source: UploadSource, remotePath: string, options: UploadOptions = {}): Promise<UploadResult> {
    this.#assertUsable(`upload to ${remotePath}`);
    const deps = {
      host: this.host,
      needsSudo: this.needsSudo,
      exec: (c: Command, o?: ExecOptions) => this.exec(c, { ...o, signal: options.signal }),
      sftp: () => this.#sftpSession(options.signal),
    };
    try {
      return await uploadOverSftp(deps, source, remotePath, options);
    } catch (error) {
      const lost = this.#conn.lost();
      if (lost && !(error instanceof TransportError && error.kind === "disconnected"))
        throw new TransportError("disconnected", this.host, `connection lost during upload to ${remotePath}: ${lost.message}`, { cause: error });
      throw error;
    }
  }

  async sha256(remotePath: string, options: { sudo?: boolean } = {}): Promise<string | null> {
    // C locale: "No such file or directory" is how a missing file is told from other failures.
    const command: Command = { argv: ["env", "LC_ALL=C", "sha256sum", "--", remotePath], sudo: options.sudo ?? false };
    const result = await this.exec(command);
    if (result.exitCode === 0) {
      const m = /^\\?([0-9a-f]{64})\s/.exec(result.stdout);
      if (m) return m[1]!;
      throw new TransportError("protocol", this.host, `unexpected sha256sum output for ${remotePath}: ${result.stdout.slice(0, 200)}`);
    }
    if (result.exitCode === 1 && /No such file or directory/.test(result.stderr)) return null;
    throw new TransportError(
      "protocol",
      this.host,
      `cannot hash ${remotePath}: sha256sum exited ${result.exitCode ?? `on signal ${result.signal}`}: ${result.stderr.trim()}`,
      { context: { path: remotePath } },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sftp = this.#sftp;
    this.#sftp = undefined;
    if (sftp) await sftp.then((s) => s.end(), () => undefined);
    this.#conn.end();
  }

  #assertUsable(what: string): void {
    if (this.#closed) throw new TransportError("disconnected", this.host, `${what}: the transport was closed`);
    const lost = this.#conn.lost();
    if (lost) throw new TransportError("disconnected", this.host, `${what}: the connection is gone: ${lost.message}`, { cause: lost });
  }

  /** Opens a channel under the channel-open timeout; a channel that opens too late is closed. */
  #open<T extends ClientChannel | SFTPWrapper>(
    what: string,
    signal: AbortSignal | undefined,
    start: (cb: (err: Error | undefined, channel: T) => void) => void,
  ): Promise<T> {
    this.#assertUsable(what);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const stop = (error: TransportError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      };
      const timer = setTimeout(
        () => stop(new TransportError("timeout", this.host, `${what}: no channel within ${this.#options.channelOpenTimeoutMs} ms`)),
        this.#options.channelOpenTimeoutMs,
      );
      const onAbort = () => stop(new TransportError("aborted", this.host, `${what}: aborted`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        start((err, channel) => {
          if (done) return void channel?.end();
          if (err) {
            const lost = this.#conn.lost();
            return stop(
              lost
                ? new TransportError("disconnected", this.host, `${what}: connection lost: ${lost.message}`, { cause: lost })
                : new TransportError("protocol", this.host, `${what}: ${err.message}`, { cause: err }),
            );
          }
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(channel);
        });
      } catch (e) {
        stop(new TransportError("disconnected", this.host, `${what}: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  /** The one SFTP session, opened on first use; reopened only if it closed. */
  #sftpSession(signal: AbortSignal | undefined): Promise<SFTPWrapper> {
    if (!this.#sftp) {
      const opening = this.#open<SFTPWrapper>("open SFTP session", signal, (cb) => this.#conn.client.sftp(cb));
      this.#sftp = opening;
      opening.then(
        (s) => s.once("close", () => this.#sftp === opening && (this.#sftp = undefined)),
        () => this.#sftp === opening && (this.#sftp = undefined),
      );
    }
    return this.#sftp;
  }

  async #acquireChannel(): Promise<void> {
    if (this.#openChannels < MAX_EXEC_CHANNELS) {
      this.#openChannels++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #releaseChannel(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#openChannels--;
  }
}
