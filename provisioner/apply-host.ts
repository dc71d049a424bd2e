/**
 * The host-provisioning entry points:
 *
 * - {@link provisionHosts}: many hosts, for the CLI (`longshore provision` / `longshore plan`).
 * - {@link applyHost} / {@link inspectHost}: ONE host from plain JSON inputs, for the Pulumi dynamic
 *   provider. They return `{ planHash, engineVersion, daemonJsonSha256 }`, the outputs Pulumi diffs on.
 *
 * This module is `require()`d inside a dynamic provider, whose code Pulumi serialises: its
 * top-level imports are types only, and everything heavy (zod schemas, the runner, ssh2) is
 * loaded inside the functions on first call, with `import()` (which, unlike a lazy `require`,
 * also resolves under the test runner; the `.js` paths are what Node's loader needs at run time).
 */
import type { SshConnectOptions } from "./transport/ssh-target";
import type { ConnectFn, ProvisionHostsInput, ProvisionResult } from "./provision-hosts";

export type { ConnectFn, FileChange, HostOutcome, ProvisionEvent, ProvisionHostsInput, ProvisionResult } from "./provision-hosts";

/** Provisions (or, in check mode, inspects) many hosts. See provision-hosts.ts. */
export async function provisionHosts(input: ProvisionHostsInput): Promise<ProvisionResult> {
  const m = await import("./provision-hosts.js");
  return m.provisionHosts(input);
}

/** One host and its desired state, as plain JSON (what a Pulumi resource's inputs hold). */
export interface HostProvisionInput {
  /** The host's name in messages; default `address`. */
  name?: string;
  address: string;
  /** Default 22. */
  port?: number;
  /** Default `root`; another user needs passwordless sudo. */
  user?: string;
  /** The private key (OpenSSH or PEM text). Wrapped in a Sensitive at once; never logged or returned. */
  privateKey: string;
  /** The host's pinned key fingerprint, `SHA256:...` (from cloud-init or the local driver). */
  hostKey: string;
  /** Engine options (`engine:` of provision.yaml); default: the safe defaults. */
  engine?: unknown;
  /** The app spec (`app:` of provision.yaml, without `image`). */
  app: unknown;
  /** `{archive: PATH}` (a docker save archive on this computer) or `{pull: REF, id?}`. */
  image: unknown;
  /** A bundle directory on this computer; required unless `engine.channel` is `distro`. */
  bundleDir?: string;
  /** Default `blue`. */
  slot?: string;
  /** Who runs this, for the host's audit log. */
  auditUser?: string;
  connectOptions?: SshConnectOptions;
  /** Tests only: how to open the transport (default ssh2). */
  connect?: ConnectFn;
}

/** What Pulumi stores and diffs on. */
export interface HostState {
  /** sha256 of the host's full plan (steps, commands, files), run time and user left out. */
  planHash: string;
  /** The engine's server version on the host (`20.10.24+dfsg1`), null when it did not answer. */
  engineVersion: string | null;
  /** sha256 of `/etc/docker/daemon.json` on the host, null when it is missing. */
  daemonJsonSha256: string | null;
}

/** What {@link inspectHost} sees. */
export interface HostInspection extends Omit<HostState, "planHash"> {
  /** The plan's hash when the host matches it, else null (Pulumi then sees a difference). */
  planHash: string | null;
  /** The hash the host would have after an apply. */
  plannedHash: string | null;
  inSync: boolean;
  /** Steps that would change something. */
  wouldChange: string[];
}

/** Makes one host match its plan. Throws the host's error (already redacted) on failure. */
export async function applyHost(input: HostProvisionInput): Promise<HostState> {
  const { result } = await runOne(input, "apply");
  const failure = result.error?.failures[0]?.error;
  if (failure) throw failure;
  const h = result.hosts[0]!;
  return { planHash: h.planHash!, engineVersion: h.engine?.version ?? null, daemonJsonSha256: h.engine?.daemonJsonSha256 ?? null };
}

/** Reads one host's state against its plan without changing anything (Pulumi `read`/`diff`). */
export async function inspectHost(input: HostProvisionInput): Promise<HostInspection> {
  const { result } = await runOne(input, "check");
  const failure = result.error?.failures[0]?.error;
  if (failure) throw failure;
  const h = result.hosts[0]!;
  const wouldChange = result.report.hosts[0]!.steps.filter((s) => s.status === "would-change").map((s) => s.id);
  const inSync = wouldChange.length === 0;
  return {
    planHash: inSync ? h.planHash : null,
    plannedHash: h.planHash,
    engineVersion: h.engine?.version ?? null,
    daemonJsonSha256: h.engine?.daemonJsonSha256 ?? null,
    inSync,
    wouldChange,
  };
}

async function runOne(input: HostProvisionInput, mode: "apply" | "check"): Promise<{ result: ProvisionResult }> {
  const { Sensitive } = await import("../core/sensitive.js");
  // The key becomes a Sensitive before anything else can see it (a thrown error included).
  const privateKey = new Sensitive(String(input.privateKey));
  const { ConfigError } = await import("../core/errors.js");
  const { provisionConfigFromData } = await import("../config/provision.js");
  const { formatIssues } = await import("../config/zod-issues.js");
  const inputs = await import("./provision-inputs.js");
  const hosts = await import("./provision-hosts.js");

  const source = `host ${input.name ?? input.address}`;
  const parsed = provisionConfigFromData(
    {
      ...(input.engine !== undefined ? { engine: input.engine } : {}),
      app: input.app,
      image: input.image,
      ...(input.bundleDir !== undefined ? { bundle: input.bundleDir } : {}),
      ...(input.slot !== undefined ? { slot: input.slot } : {}),
    },
    { baseDir: process.cwd() },
  );
  if (!parsed.ok) throw new ConfigError(source, formatIssues(parsed.issues));
  const config = parsed.value;
  if (config.bundle && "recipe" in config.bundle) {
    throw new ConfigError(source, [{ path: "bundleDir", message: "must be a bundle directory (build it first with `longshore engine bundle`)" }]);
  }
  const issues = [
    ...(/^SHA256:[A-Za-z0-9+/]{43}$/.test(input.hostKey) ? [] : [{ path: "hostKey", message: "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters" }]),
    ...(input.port === undefined || (Number.isInteger(input.port) && input.port >= 1 && input.port <= 65535) ? [] : [{ path: "port", message: "must be between 1 and 65535" }]),
  ];
  if (issues.length) throw new ConfigError(source, issues);

  const bundle = config.bundle ? await inputs.resolveBundle(config.bundle, { cacheDir: "", createdBy: "longshore" }) : null;
  const { image, repoTags } = await inputs.resolveImageSource(config.image);
  const user = input.user ?? "root";
  const result = await hosts.provisionHosts({
    targets: [
      {
        name: input.name ?? input.address,
        address: input.address,
        port: input.port ?? 22,
        user,
        auth: { privateKey },
        hostKey: { fingerprints: [input.hostKey] },
      },
    ],
    engine: config.engine,
    app: inputs.withArchiveTag(config.app, repoTags),
    image,
    bundle,
    slot: config.slot,
    mode,
    readEngineState: true,
    ...(input.auditUser ? { auditUser: input.auditUser } : {}),
    ...(input.connect ? { connect: input.connect } : {}),
    ...(input.connectOptions ? { connectOptions: input.connectOptions } : {}),
  });
  return { result };
}
