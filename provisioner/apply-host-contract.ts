/**
 * The contract between the Pulumi program and the provisioner: the types of the one entry module,
 * `provisioner/apply-host.ts`, that the ProvisionedHost dynamic provider `require()`s at call time
 * (so Pulumi serialises a provider of a few lines, not the provisioner and its ssh2 client).
 *
 * Types only: no code, no imports of Pulumi or ssh2. The program side is
 * modules/provisioned-host.ts; the implementation (ssh2 transport + runner + engine and app
 * steps) is written against this file.
 *
 * Everything crossing this boundary is plain JSON (it is stored in the stack's state): secrets
 * arrive in clear strings because Pulumi hands dynamic providers unwrapped values, and the
 * implementation must wrap them in `Sensitive` at once and never log them. The stack state keeps
 * them encrypted (the provider marks them secret outputs).
 */

import type { ApplyHostInput, HostConnectionInput, HostPlanInput, SshEndpointInput } from "../model/host-plan";

/**
 * The input types are the model's own (`z.input` of model/host-plan.ts's schemas): the same app,
 * registry and engine blocks as the environment file, secrets resolved. No hand-written copy.
 */
export type { ApplyHostInput, HostConnectionInput, HostPlanInput, SshEndpointInput };

/** One GET of `url` made from the bastion `jump` (the health gates' check with `aws.bastion`). */
export interface HttpGetThroughInput {
  jump: SshEndpointInput;
  url: string;
  /** The whole attempt's limit: handshake, tunnel and full response. */
  timeoutMs: number;
}

/** What that GET saw: `status` null means no HTTP answer, and `error` says why. */
export interface HttpGetThroughResult {
  status: number | null;
  /** The start of the body (at most 512 characters). */
  body: string;
  error?: string;
}

/** What applying did. */
export interface ApplyHostResult {
  /** The plan hash of what ran on this host (its facts included); may differ from the program's. */
  planHash: string;
  /** The engine's version as the host reports it (`docker version`'s Server.Version). */
  engineVersion: string;
  /** sha256 (hex) of /etc/docker/daemon.json as written. */
  daemonJsonSha256: string;
}

/** What the host looks like now, for drift detection (`pulumi refresh`). Null: absent. */
export interface InspectHostResult {
  engineVersion: string | null;
  daemonJsonSha256: string | null;
}

/**
 * The entry module's exports (`module.exports` of provisioner/apply-host.js).
 *
 * - `planHostHash` is pure and synchronous: the program calls it while declaring resources, so a
 *   config the provisioner would refuse fails `pulumi preview` before any host is touched (throw a
 *   ConfigError), and the hash is what Pulumi diffs on.
 * - `applyHost` makes the host match its plan over one SSH connection whose host key is verified
 *   against `connection.hostKeyFingerprint`; it retries connection refusals while the host boots
 *   (a fresh instance takes a minute or two), runs every step including the app's health check on
 *   the host, and rejects with the runner's errors (host, step id, redacted command, stderr tail).
 * - `inspectHost` only reads (no uploads, no changes).
 */
export interface ApplyHostEntry {
  planHostHash(input: HostPlanInput): string;
  applyHost(input: ApplyHostInput): Promise<ApplyHostResult>;
  inspectHost(input: ApplyHostInput): Promise<InspectHostResult>;
  /**
   * One HTTP GET made from a bastion; never rejects for an unreachable target or bastion (no
   * status, an error), only for an invalid `jump` (a ConfigError). Optional: entries of older
   * longshore versions lack it, and the health gate then says so.
   */
  httpGetThrough?(input: HttpGetThroughInput): Promise<HttpGetThroughResult>;
}
