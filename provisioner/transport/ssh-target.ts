/**
 * Plain data describing how to reach one host over SSH. The inventory (config/inventory.ts) parses
 * user files into this; the local driver and the Pulumi path build it directly. No ssh2 types here.
 */
import type { Sensitive } from "../../core/sensitive";

/** How the host's key is verified. At least one of the three must be set; nothing is ever skipped. */
export interface HostKeyPolicy {
  /** Pinned `SHA256:<base64>` fingerprints (OpenSSH `ssh-keygen -lf` format). Any one may match. */
  fingerprints?: string[];
  /** An OpenSSH known_hosts file (plain or hashed host names, `[host]:port` for non-22 ports). */
  knownHostsFile?: string;
  /**
   * Trust on first use, only when asked for explicitly: an unknown host's key is accepted once and
   * appended to this known_hosts file; a known host whose key changed is still refused.
   */
  trustOnFirstUse?: { recordTo: string };
}

/** How to authenticate. Tried in this order: in-memory key, key file, agent. */
export interface SshAuth {
  privateKey?: Sensitive;
  privateKeyFile?: string;
  passphrase?: Sensitive;
  /** ssh-agent socket path (usually $SSH_AUTH_SOCK). */
  agent?: string;
}

/** One host to reach. */
export interface SshTarget {
  /** The host's name in reports (inventory key or machine name). */
  name: string;
  address: string;
  port: number;
  user: string;
  auth: SshAuth;
  hostKey: HostKeyPolicy;
  /** A bastion to tunnel through (its own key policy and auth). */
  jump?: SshTarget;
  /** Commands marked `sudo` run through `sudo -n` (needed for a non-root user). Default: user !== "root". */
  sudo?: boolean;
}

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
