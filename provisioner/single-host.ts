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
import { DEB_ARCHES, isBundleDirectory, parseBundleRecipe } from "../model/engine";
import { applyHostSchema, hostPlanSchema, sshEndpointSchema, type HostBundlePin, type HostPlan } from "../model/host-plan";
import { LOCK_FILE_NAME } from "../model/lock-file";
import type { SshTarget } from "../model/ssh-target";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type PathIssue } from "../model/zod-issues";
import { canonicalJsonCompact } from "../templates/json";
import type { ApplyHostInput, ApplyHostResult, HostPlanInput, HttpGetThroughInput, HttpGetThroughResult, InspectHostResult } from "./apply-host-contract";
import { provisionHosts, readEngineState, type ConnectFn } from "./provision-hosts";
import { readArchiveInput, resolveBundle, type BundleDeps } from "./provision-inputs";
import { APP_STEP_IDS } from "./steps/index";
import type { BundleRef, ImageSource } from "./steps/engine-context";
import type { SshConnectOptions } from "./transport/connect-options";
import { defaultCacheDir } from "../core/cache-dir";
import { archiveHolds } from "../model/image-reference";

export { defaultCacheDir };
export type { HostPlan };

/**
 * Bumped by hand when what a host plan makes true changes in a way its inputs do not show (a new
 * step, a different bundle recipe): every host then re-provisions on the next `pulumi up`.
 */
export const HOST_PLAN_FORMAT = "longshore.host-plan/2";

/** How long {@link applyHost} keeps retrying refused connections and timeouts: a fresh instance takes a minute or two. */
export const APPLY_CONNECT_DEADLINE_MS = 3 * 60_000;

/** How long {@link inspectHost} tries: a refresh should say "unreachable" soon rather than wait for a boot. */
export const INSPECT_CONNECT_DEADLINE_MS = 30_000;

/** A validated {@link ApplyHostInput}: the plan, and the target to reach (key sealed, host key pinned). */
export interface HostJob {
  plan: HostPlan;
  target: SshTarget;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What the schema cannot say about a plan the provider is given. */
type PlanShape = Pick<HostPlan, "engineOnly" | "bundlePin" | "registry" | "imageArchive"> & { engine: { channel: string; bundle: string } };

/**
 * The provider builds its engine bundle from a recipe: a directory would be a path of one machine,
 * stored in state. A pin goes with the bundle channel, and its recipe is the one `engine.bundle`
 * names for its architecture. An engine-only host gets no image: credentials or an archive for
 * one would be a mistake.
 */
function planProblems(plan: PlanShape): PathIssue[] {
  const issues: PathIssue[] = [];
  if (plan.engine.channel === "bundle" && isBundleDirectory(plan.engine.bundle)) {
    issues.push({ path: ["engine", "bundle"], message: "must be a recipe name such as debian-bookworm here: the Pulumi provider builds its bundle itself (bundle directories are for `longshore provision`)" });
  }
  const pin = plan.bundlePin;
  if (pin !== undefined) {
    const recipe = plan.engine.channel === "bundle" ? parseBundleRecipe(plan.engine.bundle) : null;
    if (plan.engine.channel !== "bundle") issues.push({ path: ["bundlePin"], message: "goes with engine.channel: bundle" });
    else if (recipe !== null && (recipe.arch ?? pin.arch) !== pin.arch) {
      issues.push({ path: ["bundlePin", "arch"], message: `is ${pin.arch}, but engine.bundle is ${plan.engine.bundle}` });
    } else if (recipe !== null && pin.recipe !== `debian-${recipe.suite}-${pin.arch}`) {
      issues.push({ path: ["bundlePin", "recipe"], message: `is ${pin.recipe}, but engine.bundle asks for debian-${recipe.suite}-${pin.arch}` });
    }
  }
  if (plan.engineOnly) {
    if (plan.registry !== undefined) issues.push({ path: ["registry"], message: "goes with an app: an engine-only host pulls no image" });
    if (plan.imageArchive !== undefined) issues.push({ path: ["imageArchive"], message: "goes with an app: an engine-only host gets no image" });
  }
  return issues;
}

function parseOrRefuse<T extends PlanShape>(schema: z.ZodType<T>, data: unknown, source: string): T {
  const r = schema.safeParse(data, { error: friendlyErrorMap });
  const issues: PathIssue[] = r.success ? planProblems(r.data) : zodPathIssues(r.error.issues);
  if (r.success && issues.length === 0) return r.data;
  throw new ConfigError(source, formatIssues(sortByDocumentOrder(issues, data)), {
    suggestion: "Fix the listed inputs of the host's plan (the environment file's app, registry and engine blocks; docs/environment.md).",
  });
}

/** Validates a host plan. Pure; throws {@link ConfigError} listing every problem with its path. */
export function parseHostPlan(input: HostPlanInput): HostPlan {
  return parseOrRefuse(hostPlanSchema, input, "host plan");
}

/** Validates everything {@link applyHost} gets; the private key becomes {@link Sensitive} at once. Pure; throws {@link ConfigError}. */
export function parseApplyHostInput(input: ApplyHostInput): HostJob {
  const name = isRecord(input) && isRecord(input.connection) && typeof input.connection.name === "string" ? input.connection.name : "?";
  const { connection: c, planHash: _hash, ...plan } = parseOrRefuse(applyHostSchema, input, `host ${name}`);
  return { plan, target: { ...endpointTarget(c), ...(c.jump ? { jump: endpointTarget(c.jump) } : {}) } };
}

/** The SSH target of one endpoint: its key pinned only (no known_hosts file, never trust on first use). Pure. */
function endpointTarget(c: z.output<typeof sshEndpointSchema>): SshTarget {
  return {
    name: c.name,
    address: c.address,
    port: c.port,
    user: c.user,
    auth: { privateKey: c.privateKey },
    hostKey: { fingerprints: [c.hostKeyFingerprint] },
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
 * `[redacted]`): the format, slot, validated app, registry and engine options (defaults filled in,
 * so `{}` and the spelled-out defaults are the same plan), where the image comes from and which
 * bundle recipe applies; `engineOnly` and `bundlePin` only when set, so plans without them hash
 * as they always did. Exported to explain a changed hash. Pure.
 */
export function hostPlanDocument(plan: HostPlan): string {
  return canonicalJsonCompact({
    format: HOST_PLAN_FORMAT,
    slot: plan.slot,
    app: redacted(plan.app),
    registry: plan.registry ? redacted(plan.registry) : null,
    engine: plan.engine,
    image: plan.imageArchive !== undefined ? { archive: plan.imageArchive } : { pull: plan.app.image },
    healthDeadlineSeconds: plan.healthDeadlineSeconds,
    ...(plan.engineOnly ? { engineOnly: true } : {}),
    ...(plan.bundlePin !== undefined ? { bundlePin: plan.bundlePin } : {}),
  });
}

/**
 * The hash Pulumi diffs on: hex sha256 of {@link hostPlanDocument}. Same input, same hash; a
 * changed image, engine option, env variable, port, volume, slot... a different one. Secrets hash
 * as their placeholder (the hash is stored in clear; a short password's hash could be brute-forced),
 * so rotating only a secret's value does not re-provision. Pure and synchronous.
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
  /** The verified engine bundle for a Debian architecture; default built (from `engine.bundle`'s recipe) or reused from the cache. */
  bundleFor?: (arch: (typeof DEB_ARCHES)[number]) => Promise<BundleRef>;
}

/**
 * Bundles already resolved in this process, per cache and architecture: a `pulumi up` runs every
 * host's apply in one provider process, and the bundle is verified once, not once per host.
 */
const bundles = new Map<string, Promise<BundleRef>>();

/** The Debian bundle of `suite` for `arch`, built from this computer's Debian mirror or reused from the cache. */
export function cachedBundle(suite: string, arch: (typeof DEB_ARCHES)[number], cacheDir = defaultCacheDir()): Promise<BundleRef> {
  const key = `${cacheDir}\0${suite}\0${arch}`;
  let hit = bundles.get(key);
  if (!hit) {
    hit = resolveBundle(
      { recipe: { name: `debian-${suite}-${arch}`, source: "debian", suite, arch } },
      { cacheDir, createdBy: "longshore (ProvisionedHost)" },
    );
    // A failed build is not remembered: the next host (or run) tries again.
    hit.catch(() => bundles.delete(key));
    bundles.set(key, hit);
  }
  return hit;
}

/**
 * The pinned bundle for `arch`, as resolveBundle follows a lock: from the cache when it holds the
 * pinned id (no apt-get, no network), else built from this computer's Debian sources and refused
 * unless it comes out with the pinned id. Never records anything (the lock is the program's input).
 */
export function pinnedBundle(pin: HostBundlePin, cacheDir = defaultCacheDir(), deps: Omit<BundleDeps, "cacheDir" | "createdBy" | "lock"> = {}): Promise<BundleRef> {
  const key = `${cacheDir}\0pin\0${pin.recipe}\0${pin.id}`;
  let hit = bundles.get(key);
  if (!hit) {
    const suite = parseBundleRecipe(pin.recipe)?.suite ?? "bookworm";
    hit = resolveBundle(
      { recipe: { name: pin.recipe, source: "debian", suite, arch: pin.arch } },
      {
        ...deps,
        cacheDir,
        createdBy: "longshore (ProvisionedHost)",
        lock: { name: LOCK_FILE_NAME, engine: { [pin.arch]: { recipe: pin.recipe, id: pin.id, packages: pin.packages } }, record: async () => undefined },
      },
    );
    hit.catch(() => bundles.delete(key));
    bundles.set(key, hit);
  }
  return hit;
}

/** What an engine-only host leaves out (re-exported from the step list, where it is defined). */
export { APP_STEP_IDS };

/** The image the host gets: the archive (its ID read here, its tags checked against app.image), or app.image pulled. */
async function imageFor(plan: HostPlan, host: string): Promise<ImageSource> {
  // An engine-only host runs no image step: the reference is never pulled.
  if (plan.imageArchive === undefined || plan.engineOnly) return { source: "registry", ref: plan.app.image };
  const read = await readArchiveInput(plan.imageArchive);
  if (!read.ok) throw new ConfigError(`host ${host}`, [{ path: "imageArchive", message: read.message }]);
  const resolved = read.value;
  if (!archiveHolds(resolved.repoTags, plan.app.image)) {
    const tags = resolved.repoTags.length ? resolved.repoTags.join(", ") : "no tag";
    throw new ConfigError(`host ${host}`, [{ path: "imageArchive", message: `holds ${tags}, not app.image (${plan.app.image})` }]);
  }
  return resolved.image;
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
  // A directory was refused by the parse above: on the bundle channel this is a recipe name.
  const recipe = parseBundleRecipe(plan.engine.bundle) ?? { suite: "bookworm", arch: null };
  const pin = plan.bundlePin;
  const bundleFor = deps.bundleFor ?? ((arch: (typeof DEB_ARCHES)[number]) => (pin ? pinnedBundle(pin) : cachedBundle(recipe.suite, arch)));
  const result = await provisionHosts({
    targets: [target],
    engine: plan.engine,
    app: plan.app,
    registry: plan.registry ?? null,
    image,
    // Known only once the host's facts are in (the same probe provisionHosts runs first).
    bundle:
      plan.engine.channel === "bundle"
        ? async (arch) => {
            if (recipe.arch !== null && recipe.arch !== arch) {
              throw new PreconditionError(`${target.name}: engine.bundle is ${plan.engine.bundle}, but the host's architecture is ${arch}`, {
                suggestion: `Use debian-${recipe.suite} to build the bundle for each host's architecture.`,
              });
            }
            if (pin && pin.arch !== arch) {
              throw new PreconditionError(`${target.name}: the host's architecture is ${arch}, but its engine bundle is pinned for ${pin.arch} (${pin.recipe} ${pin.id.slice(0, 12)})`, {
                suggestion: `Pin the bundle of the hosts' architecture: \`longshore engine update -f FILE --arch ${arch}\`.`,
              });
            }
            const bundle = await bundleFor(arch);
            // Checked here whatever resolved it: a host image is named by this id, so the host must hold exactly it.
            if (pin && bundle.manifest.id !== pin.id) {
              throw new PreconditionError(`${target.name}: the engine bundle is ${bundle.manifest.id}, not the pinned ${pin.id}`);
            }
            return bundle;
          }
        : null,
    slot: plan.slot,
    // The app's steps would leave its image, container and secrets on an engine-only host.
    ...(plan.engineOnly ? { omitSteps: APP_STEP_IDS } : {}),
    mode: "apply",
    healthDeadlineMs: plan.healthDeadlineSeconds * 1000,
    readEngineState: true,
    // One SSH connection for the whole host: facts, bundle choice, every step, the engine read-back.
    connect: deps.connect ?? sshConnect,
    connectOptions: { connectDeadlineMs: APPLY_CONNECT_DEADLINE_MS, ...deps.connectOptions },
  });
  const failure = result.error?.failures[0]?.error;
  if (failure) throw failure;
  const host = result.hosts[0]!;
  if (!host.planHash || !host.engine?.version || !host.engine.daemonJsonSha256) {
    // engine.verify passed, so the engine answered a moment ago: this is not expected.
    throw new Error(`${target.name}: provisioned, but the engine's version or /etc/docker/daemon.json could not be read back`);
  }
  return { planHash: host.planHash, engineVersion: host.engine.version, daemonJsonSha256: host.engine.daemonJsonSha256 };
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

/**
 * One HTTP GET from a bastion (the health gates' check with `aws.bastion`): the bastion's endpoint
 * is validated first (a bad one is a {@link ConfigError} naming its field, before any connection),
 * then one pinned connection and one tunnel to the URL's host and port. Resolves with no status on
 * any failure to reach or hear from it (see provisioner/transport/ssh2-http.ts).
 */
export async function httpGetThrough(input: HttpGetThroughInput): Promise<HttpGetThroughResult> {
  const r = sshEndpointSchema.safeParse(input.jump, { error: friendlyErrorMap });
  if (!r.success) {
    throw new ConfigError("bastion", formatIssues(sortByDocumentOrder(zodPathIssues(r.error.issues, ["jump"]), input)), {
      suggestion: "The health gate's bastion comes from the web program's Bastion (its address, pinned host key and the deploy key).",
    });
  }
  const jump = r.data;
  const { httpGetThroughBastion } = await import("./transport/ssh2-http.js");
  return httpGetThroughBastion(endpointTarget(jump), input.url, input.timeoutMs);
}
