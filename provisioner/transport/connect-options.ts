/**
 * How the SSH transport connects: timeouts and the retry window (what to reach is
 * model/ssh-target.ts's {@link SshTarget}).
 */

/** Timeouts and retry window for a connection; every field has a safe default in the adapter. */
export interface SshConnectOptions {
  /** TCP connect + SSH handshake, per attempt. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Opening a channel (exec or SFTP). Default 10 s. */
  channelOpenTimeoutMs?: number;
  /** Default per-command timeout when a command sets none. Default 10 min. */
  commandTimeoutMs?: number;
  /** Keepalive interval; the connection is declared dead after `keepaliveCountMax` misses. Default 5 s x 3. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Keep retrying retryable dial failures (refused, timeout) until this much time passed. Default 60 s. */
  connectDeadlineMs?: number;
  signal?: AbortSignal;
  /** Called before each retry (for progress output). */
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
}
