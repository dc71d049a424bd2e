/**
 * Plain data describing how to reach one host over SSH. The inventory (model/inventory.ts) parses
 * user files into this; the local driver and the Pulumi path build it directly. No ssh2 types here.
 */
import type { Sensitive } from "../core/sensitive";

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
