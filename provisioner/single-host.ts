/**
 * One host from plain JSON inputs: what the ProvisionedHost dynamic provider needs from the
 * provisioner (see apply-host-contract.ts). provisioner/apply-host.ts is the thin entry Pulumi
 * loads; this module does the work:
 *
 * - {@link planHostHash}: validates the desired state (zod, every problem with its path) and
 *   hashes its canonical, secret-free form. Pure and synchronous, so `pulumi preview` fails on a
 *   config the provisioner would refuse, before any host exists.
 * - {@link applyHost}: validates, reads the image archive (when one is given), opens ONE SSH
 *   connection whose host key must match the pinned fingerprint (retrying refusals while a fresh
 *   host boots), probes the host's architecture, builds or reuses the Debian bookworm engine bundle
 *   for it, and runs every step (app.health included) through provisionHosts on that connection.
 * - {@link inspectHost}: reads the engine's version and daemon.json's sha256, nothing else.
 *
 * Secrets (the private key, app secrets, the registry password) arrive in clear strings: they are
 * wrapped in {@link Sensitive} before anything else looks at them, and nothing here logs.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { ConfigError, PreconditionError } from "../core/errors";
import { REDACTED_TEXT, Sensitive } from "../core/sensitive";
import { appSpecSchema, dnsLabelSchema, type AppSpec } from "../config/app";
import { DEB_ARCHES, engineOptionsSchema, type EngineOptions } from "../config/engine";
import { FINGERPRINT_PATTERN } from "../config/inventory";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type PathIssue } from "../config/zod-issues";
import { canonicalJsonCompact } from "../templates/json";
import type { ApplyHostInput, ApplyHostResult, HostPlanInput, InspectHostResult } from "./apply-host-contract";
import { gatherFacts, type HostFacts } from "./facts";
import { provisionHosts, readEngineState, type ConnectFn } from "./provision-hosts";
import { resolveBundle, resolveImageSource } from "./provision-inputs";
import type { BundleRef, ImageSource } from "./steps/engine-context";
import { engineHostFacts } from "./steps/engine-facts";
import type { SshConnectOptions, SshTarget } from "./transport/ssh-target";
import { defaultCacheDir } from "../core/cache-dir";

export { defaultCacheDir };

/**
 * Bumped by hand when what a host plan makes true changes in a way its inputs do not show (a new
 * step, a different bundle recipe): every host then re-provisions on the next `pulumi up`.
 */
export const HOST_PLAN_FORMAT = "longshore.host-plan/1";

/** The engine bundle every host gets on the `bundle` channel: Debian bookworm's docker.io, for the host's architecture. */
export const BUNDLE_SUITE = "bookworm";

/** How long {@link applyHost} keeps retrying refused connections and timeouts: a fresh instance takes a minute or two. */
export const APPLY_CONNECT_DEADLINE_MS = 3 * 60_000;

/** How long {@link inspectHost} tries: a refresh should say "unreachable" soon rather than wait for a boot. */
export const INSPECT_CONNECT_DEADLINE_MS = 30_000;

const PORT_MESSAGE = "must be between 1 and 65535";

const planShape = {
  slot: dnsLabelSchema,
  app: appSpecSchema,
  engine: engineOptionsSchema,
  /**
   * Tests and hosts without a registry: a `docker save` archive on the machine that runs the
   * provider, streamed to the host instead of pulling `app.image`. It must carry the tag
   * `app.image`. The plan hash covers its path, not its bytes: name archives by version.
   */
  imageArchive: z
    .string()
    .regex(/^\/[^\0\n]*$/, "must be an absolute path (the provider may run in another directory than the program)")
    .optional(),
};

const connectionSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a host name (letters, digits, '.', '_', '-')"),
  address: z.string().regex(/^[^\s@/]+$/, "must be a host name or an IP address (no spaces, '@' or '/')"),
  port: z.int(PORT_MESSAGE).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "must be a user name (letters, digits, '_', '.', '-')"),
  // Already a Sensitive here (see sealSecrets); the messages never show the value.
  privateKey: z
    .instanceof(Sensitive, { error: (i) => (i.input === undefined ? "is required" : "must be the private key's text (a string)") })
    .refine((k) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(k.reveal()), "must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----)"),
  hostKeyFingerprint: z.string().regex(FINGERPRINT_PATTERN, "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)"),
});

function slotsAgree(p: { slot: string; app: { slot?: string | undefined } }, ctx: z.RefinementCtx): void {
  if (p.app.slot !== undefined && p.app.slot !== p.slot) {
    ctx.addIssue({ code: "custom", path: ["app", "slot"], message: `must be the host's slot (${p.slot}) or left out` });
  }
}

const hostPlanSchema = z.strictObject(planShape).superRefine(slotsAgree);
const applyHostSchema = z
  .strictObject({ ...planShape, connection: connectionSchema, planHash: z.string() })
  .superRefine(slotsAgree);

/** A validated host plan: secrets are {@link Sensitive}, defaults filled in. */
export interface HostPlan {
  slot: string;
  app: AppSpec;
  engine: EngineOptions;
  imageArchive?: string;
}

/** A validated {@link ApplyHostInput}: the plan, and the target to reach (key sealed, host key pinned). */
export interface HostJob {
  plan: HostPlan;
  target: SshTarget;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A copy of the input whose private key is a {@link Sensitive}: the first thing done to an input,
 * so no error, log or report made afterwards can hold the key in clear. (App secrets and the
 * registry password become Sensitive in the app spec's own schema, whose messages never echo them.)
 */
function sealSecrets(input: unknown): unknown {
  if (!isRecord(input) || !isRecord(input["connection"])) return input;
  const c = input["connection"];
  const key = c["privateKey"];
  return { ...input, connection: { ...c, privateKey: typeof key === "string" ? new Sensitive(key) : key } };
}

function parseOrRefuse<T>(schema: z.ZodType<T>, data: unknown, source: string): T {
  const r = schema.safeParse(data, { error: friendlyErrorMap });
  if (r.success) return r.data;
  const issues: PathIssue[] = zodPathIssues(r.error.issues);
  throw new ConfigError(source, formatIssues(sortByDocumentOrder(issues, data)), {
    suggestion: "Fix the listed inputs of the host's plan (docs/aws.md lists them).",
  });
}

function planOf(p: { slot: string; app: AppSpec; engine: EngineOptions; imageArchive?: string | undefined }): HostPlan {
  return { slot: p.slot, app: p.app, engine: p.engine, ...(p.imageArchive !== undefined ? { imageArchive: p.imageArchive } : {}) };
}

/** Validates a host plan. Pure; throws {@link ConfigError} listing every problem with its path. */
export function parseHostPlan(input: HostPlanInput): HostPlan {
  return planOf(parseOrRefuse(hostPlanSchema, input, "host plan"));
}

/** Validates everything {@link applyHost} gets, the private key sealed first. Pure; throws {@link ConfigError}. */
export function parseApplyHostInput(input: ApplyHostInput): HostJob {
  const sealed = sealSecrets(input);
  const name = isRecord(input) && isRecord(input.connection) && typeof input.connection.name === "string" ? input.connection.name : "?";
  const p = parseOrRefuse(applyHostSchema, sealed, `host ${name}`);
  const c = p.connection;
  return {
    plan: planOf(p),
    target: {
      name: c.name,
      address: c.address,
      port: c.port,
      user: c.user,
      auth: { privateKey: c.privateKey },
      // Pinned only: no known_hosts file, never trust on first use.
      hostKey: { fingerprints: [c.hostKeyFingerprint] },
    },
  };
}

/** Secrets become the placeholder, at any depth, so the document can be hashed and shown. */
function redacted(value: unknown): unknown {
  if (value instanceof Sensitive) return REDACTED_TEXT;
  if (Array.isArray(value)) return value.map(redacted);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redacted(v)]));
  return value;
}

/**
 * What the plan hash is taken over, as compact canonical JSON (keys sorted, secrets as
 * `[redacted]`): the format, slot, validated app spec and engine options (defaults filled in, so
 * `{}` and the spelled-out defaults are the same plan), where the image comes from and which
 * bundle recipe applies. Exported to explain a changed hash. Pure.
 */
export function hostPlanDocument(plan: HostPlan): string {
  return canonicalJsonCompact({
    format: HOST_PLAN_FORMAT,
    slot: plan.slot,
    app: redacted(plan.app),
    engine: plan.engine,
    image: plan.imageArchive !== undefined ? { archive: plan.imageArchive } : { pull: plan.app.image },
    bundle: plan.engine.channel === "bundle" ? `debian-${BUNDLE_SUITE}-(host architecture)` : null,
  });
}

/**
 * The hash Pulumi diffs on: hex sha256 of {@link hostPlanDocument}. Same input, same hash; a
 * changed image, engine option, env variable, port, slot... a different one. Secrets hash as their
 * placeholder (the hash is stored in clear; a short password's hash could be brute-forced), so
 * rotating only a secret's value does not re-provision. Pure and synchronous.
 */
export function planHostHash(input: HostPlanInput): string {
  return createHash("sha256").update(hostPlanDocument(parseHostPlan(input))).digest("hex");
}


/** What {@link applyHost} and {@link inspectHost} use from the outside world (tests pass fakes). */
export interface SingleHostDeps {
  /** Opens the host's one connection; default the ssh2 transport. */
  connect?: ConnectFn;
  /** Extra connection options; {@link APPLY_CONNECT_DEADLINE_MS} / {@link INSPECT_CONNECT_DEADLINE_MS} unless set. */
  connectOptions?: SshConnectOptions;
  /** The verified engine bundle for a Debian architecture; default built or reused from the cache. */
  bundleFor?: (arch: (typeof DEB_ARCHES)[number]) => Promise<BundleRef>;
}

/**
 * Bundles already resolved in this process, per cache and architecture: a `pulumi up` runs every
 * host's apply in one provider process, and the bundle is verified once, not once per host.
 */
const bundles = new Map<string, Promise<BundleRef>>();

/** The Debian bookworm bundle for `arch`, built from this computer's Debian mirror or reused from the cache. */
export function cachedBundle(arch: (typeof DEB_ARCHES)[number], cacheDir = defaultCacheDir()): Promise<BundleRef> {
  const key = `${cacheDir}\0${arch}`;
  let hit = bundles.get(key);
  if (!hit) {
    hit = resolveBundle(
      { recipe: { name: `debian-${BUNDLE_SUITE}-${arch}`, source: "debian", suite: BUNDLE_SUITE, arch } },
      { cacheDir, createdBy: "longshore (ProvisionedHost)" },
    );
    // A failed build is not remembered: the next host (or run) tries again.
    hit.catch(() => bundles.delete(key));
    bundles.set(key, hit);
  }
  return hit;
}

/** The image the host gets: the archive (its ID read here, its tags checked against app.image), or app.image pulled. */
async function imageFor(plan: HostPlan, host: string): Promise<ImageSource> {
  if (plan.imageArchive === undefined) return { source: "registry", ref: plan.app.image };
  let resolved;
  try {
    resolved = await resolveImageSource({ archive: plan.imageArchive });
  } catch (e) {
    throw new ConfigError(`host ${host}`, [{ path: "imageArchive", message: `cannot be read as a docker save archive: ${(e as Error).message}` }], { cause: e });
  }
  if (!resolved.repoTags.includes(plan.app.image)) {
    const tags = resolved.repoTags.length ? resolved.repoTags.join(", ") : "no tag";
    throw new ConfigError(`host ${host}`, [{ path: "imageArchive", message: `holds ${tags}, not app.image (${plan.app.image})` }]);
  }
  return resolved.image;
}

/** The host's Debian architecture, from the one facts probe, if longshore can build a bundle for it. */
function bundleArch(facts: HostFacts, host: string): (typeof DEB_ARCHES)[number] {
  const arch = engineHostFacts(facts).arch;
  if (!(DEB_ARCHES as readonly string[]).includes(arch)) {
    throw new PreconditionError(`${host}: longshore has no engine bundle recipe for architecture ${arch}`, {
      context: { host, arch },
      suggestion: `Use a host of one of ${DEB_ARCHES.join(", ")}, or engine.channel: distro.`,
    });
  }
  return arch as (typeof DEB_ARCHES)[number];
}

const sshConnect: ConnectFn = async (target, options) => {
  const { connectSsh } = await import("./transport/ssh2-transport.js");
  return connectSsh(target, options);
};

/**
 * Makes one host match its plan: every step, the app's health check on the host included. Rejects
 * with a {@link ConfigError} before touching anything for bad input, with a HostKeyError when the
 * host presents another key than the pinned one, and with the runner's error (host, step id,
 * redacted command, stderr tail) when a step fails.
 */
export async function applyHost(input: ApplyHostInput, deps: SingleHostDeps = {}): Promise<ApplyHostResult> {
  const { plan, target } = parseApplyHostInput(input);
  // Everything that can be checked on this computer is, before the host is touched.
  const image = await imageFor(plan, target.name);
  const connectOptions: SshConnectOptions = { connectDeadlineMs: APPLY_CONNECT_DEADLINE_MS, ...deps.connectOptions };
  const transport = await (deps.connect ?? sshConnect)(target, connectOptions);
  let handedOver = false;
  try {
    // One facts probe serves both the bundle choice and provisionHosts' checks.
    const facts = await gatherFacts(transport);
    const bundle = plan.engine.channel === "bundle" ? await (deps.bundleFor ?? ((a) => cachedBundle(a)))(bundleArch(facts, target.name)) : null;
    handedOver = true;
    const result = await provisionHosts({
      targets: [target],
      engine: plan.engine,
      app: plan.app,
      image,
      bundle,
      slot: plan.slot,
      mode: "apply",
      readEngineState: true,
      knownFacts: { [target.name]: facts },
      // The connection opened above, so the host gets one SSH connection (provisionHosts closes it).
      connect: async () => transport,
    });
    const failure = result.error?.failures[0]?.error;
    if (failure) throw failure;
    const host = result.hosts[0]!;
    if (!host.planHash || !host.engine?.version || !host.engine.daemonJsonSha256) {
      // engine.verify passed, so the engine answered a moment ago: this is not expected.
      throw new Error(`${target.name}: provisioned, but the engine's version or /etc/docker/daemon.json could not be read back`);
    }
    return { planHash: host.planHash, engineVersion: host.engine.version, daemonJsonSha256: host.engine.daemonJsonSha256 };
  } finally {
    if (!handedOver) await transport.close().catch(() => undefined);
  }
}

/** Reads what the host looks like now (engine version, daemon.json's sha256). Changes nothing. */
export async function inspectHost(input: ApplyHostInput, deps: SingleHostDeps = {}): Promise<InspectHostResult> {
  const { target } = parseApplyHostInput(input);
  const transport = await (deps.connect ?? sshConnect)(target, { connectDeadlineMs: INSPECT_CONNECT_DEADLINE_MS, ...deps.connectOptions });
  try {
    const state = await readEngineState(transport);
    return { engineVersion: state.version, daemonJsonSha256: state.daemonJsonSha256 };
  } finally {
    await transport.close().catch(() => undefined);
  }
}
