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

/** How to reach the host. */
export interface ApplyHostConnection {
  /** The host's name in reports (`web-blue-0`). */
  name: string;
  /** Public or private IP address (or DNS name) the SSH connection goes to. */
  address: string;
  port: number;
  /** The image's default user (`admin` on Debian's AMIs); commands marked sudo use `sudo -n`. */
  user: string;
  /** OpenSSH private key text the connection authenticates with. A secret. */
  privateKey: string;
  /**
   * The host's pinned key fingerprint (`SHA256:<base64>`), known before the host booted. The
   * connection must verify it (HostKeyPolicy.fingerprints) and never trust on first use.
   */
  hostKeyFingerprint: string;
}

/** The input form of an app spec (config/app.ts `appSpecSchema`), validated by the implementation. */
export interface AppSpecInput {
  name: string;
  image: string;
  version: string;
  containerPort: number;
  hostPort: number;
  env: Record<string, string>;
  /** Secret environment variables, values in clear (see the file comment). */
  secrets: Record<string, string>;
  health: { path: string };
  registry?: { server: string; username: string; password: string };
  slot: string;
}

/** The input form of engine options (config/engine.ts `engineOptionsSchema`): `{ channel?, daemon? }`. */
export type EngineOptionsInput = Record<string, unknown>;

/** What to make true on one host. */
export interface HostPlanInput {
  /** `blue` or `green`. */
  slot: string;
  app: AppSpecInput;
  engine: EngineOptionsInput;
  /**
   * Optional, for tests and hosts without a registry: the absolute path of a `docker save` archive
   * on the machine that runs the provider. The host then gets the image from it (streamed over SSH)
   * instead of pulling `app.image`, which must be one of the archive's tags. The plan hash covers
   * the path and `app.image`, not the archive's bytes: give each version its own file name.
   */
  imageArchive?: string;
}

/** Everything {@link ApplyHostEntry.applyHost} and {@link ApplyHostEntry.inspectHost} get. */
export interface ApplyHostInput extends HostPlanInput {
  connection: ApplyHostConnection;
  /** The hash the program computed with {@link ApplyHostEntry.planHostHash}, for the report. */
  planHash: string;
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
}
