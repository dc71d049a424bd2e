/**
 * What `longshore provision` and `longshore plan` share: their flags, reading the environment file
 * (the same one every verb reads: app, registry, engine) and the hosts (an inventory or a local
 * machine group), resolving secrets, the bundle and the image on this computer, progress lines, and
 * the JSON document. Everything is validated before any host is touched. Actions throw longshore
 * errors; the program's main prints them and picks the exit code.
 */
import * as path from "node:path";
import { Option, type Command } from "commander";
import { z } from "zod";
import { addComposeCompanions } from "../drivers/local/image-source";
import { allInputs, ConfigError } from "../core/errors";
import { archiveHolds, parseImageReference, resolveImageArgument } from "../model/image-reference";
import { loadInventory } from "../model/inventory";
import { deploymentOf } from "../model/deployment";
import type { ImageFrom } from "../model/image-from";
import { cacheArchive } from "../provisioner/layers/blob-cache";
import { layeredImageSource } from "../provisioner/layers/layered-source";
import type { DEB_ARCHES, EngineOptions } from "../model/engine";
import type { LoadedEnvironment } from "../model/environment-file";
import { machineGroupNameSchema, SLOTS, type SlotName } from "../model/names";
import { parseWith } from "../model/zod-issues";
import { machineGroupSshTargets } from "../drivers/local/machine-group";
import { defaultPaths } from "../drivers/local/paths";
import { buildBundle, type BuildBundleOptions, type BuildBundleResult } from "../provisioner/bundle/build";
import { withBundleEnv } from "./bundle-env";
import { verifyBundle as verifyBundleDir, type VerifiedBundle, type VerifyBundleOptions } from "../provisioner/bundle/verify";
import { provisionHosts, type ProvisionEvent, type ProvisionHostsInput, type ProvisionResult } from "../provisioner/apply-host";
import {
  bundleLockOf,
  bundleSourceOf,
  readArchiveInput,
  resolveBundle,
  resolveImageSource,
  verifyBundleInput,
  type BundleDeps,
  type BundleSource,
} from "../provisioner/provision-inputs";
import type { BundleRef, ImageSource } from "../provisioner/steps/engine-context";
import { archiveFetchProblem } from "../provisioner/steps/engine-bundle";
import type { SshTarget } from "../model/ssh-target";
import { defaultCacheDir } from "./engine";
import type { CliDeps } from "./deps";
import { displayName, openEnvironment, readLock, readSecrets } from "./open-environment";
import { paintStatus } from "./color";
import type { OutStream } from "./output";

/**
 * What the two verbs need from the outside world: the program-wide dependencies they use, plus
 * optional overrides for tests.
 */
export type ProvisionCliDeps = Pick<CliDeps, "stdout" | "stderr" | "env" | "cwd" | "homeDir" | "readFile" | "connect" | "signal" | "secretReader"> &
  ProvisionOverrides;

/** Optional overrides of the provisioning verbs' defaults (tests inject these). */
export interface ProvisionOverrides {
  /** The SSH targets of a local machine group; default: the local driver's state. */
  localTargets?(group: string): SshTarget[];
  /** longshore's cache (bundles built from a recipe name); default $LONGSHORE_CACHE_DIR etc. */
  cacheDir?: string;
  /** Written into bundles built from a recipe name. */
  createdBy?: string;
  buildBundle?(options: BuildBundleOptions): Promise<BuildBundleResult>;
  verifyBundle?(dir: string, options?: VerifyBundleOptions): Promise<VerifiedBundle>;
  /** The provisioning entry point; default provisioner/apply-host.ts. */
  provision?(input: ProvisionHostsInput): Promise<ProvisionResult>;
}

/** The flags both verbs take. */
export interface ProvisionFlags {
  file?: string;
  inventory?: string;
  /** A local environment's name: the machines `longshore local up --env NAME` made. @default none (then `inventory`) */
  env?: string;
  /** The name `--env` had before (still taken, not shown in --help). @default none */
  localEnv?: string;
  slot?: string;
  image?: string;
  imageArchive?: string;
  json?: boolean;
  /** Hash every bundle file on the hosts again. */
  verify?: boolean;
  concurrency?: string;
}

const flagsSchema = z.strictObject({
  file: z.string().min(1).optional(),
  inventory: z.string().min(1).optional(),
  env: machineGroupNameSchema.optional(),
  slot: z.enum(SLOTS).optional(),
  image: z.string().min(1).optional(),
  imageArchive: z.string().min(1).optional(),
  json: z.boolean().optional(),
  verify: z.boolean().optional(),
  concurrency: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/, "must be a whole number from 1 to 1000")
    .refine((v) => Number(v) <= 1000, "must be a whole number from 1 to 1000")
    .optional(),
});

/** Which hosts: exactly one of the two flags. Checked apart from the schema so both kinds of problem show at once. */
function hostFlagIssues(f: ProvisionFlags): Array<{ path: string; message: string }> {
  if (f.inventory === undefined && f.env === undefined) return [{ path: "--inventory", message: "name the hosts: -i/--inventory FILE or --env NAME" }];
  if (f.inventory !== undefined && f.env !== undefined) return [{ path: "--env", message: "use --inventory or --env, not both" }];
  return [];
}

/** A full reference in `--image` is checked with the other flags; `:TAG` and `@DIGEST` need app.image first. */
function imageFlagIssues(image: string | undefined): Array<{ path: string; message: string }> {
  if (image === undefined || image === "" || image.startsWith(":") || image.startsWith("@")) return [];
  const r = parseImageReference(image);
  return r.ok ? [] : [{ path: "--image", message: r.message }];
}

/** Adds the shared flags to a verb. */
export function addProvisionOptions(cmd: Command): Command {
  return cmd
    .option("-f, --file <file>", "the environment file: app, registry, engine (default ./longshore.yaml; docs/environment.md)")
    .option("-i, --inventory <file>", "the hosts: an inventory file (docs/inventory.md)")
    .option("--env <name>", "the hosts: the machines of a local environment (longshore local up --env NAME)")
    // The name --env had before local environments were --env on every verb: still taken, not in --help.
    .addOption(new Option("--local-env <name>").hideHelp())
    .option("--slot <slot>", "the slot these hosts serve: blue or green (default: the live slot, else blue)")
    .option("--image <ref>", "the image to run (default: the slot's image, else app.image); :TAG means app.image's repository at TAG")
    .option("--image-archive <file>", "deliver the image from this `docker save` archive, layer by layer over SSH, instead of app.imageFrom; it must hold the image")
    .option("--verify", "hash every engine bundle file again, here and on the hosts (default: trust the records of earlier verifications)")
    .option("--json", "print one JSON document on stdout (no progress lines)")
    .option("--concurrency <n>", "hosts at once (default 16)");
}

/** Everything a run needs, resolved on this computer. */
export interface PreparedRun {
  loaded: LoadedEnvironment;
  slot: SlotName;
  targets: SshTarget[];
  image: ImageSource;
  input: ProvisionHostsInput;
}

/** Flag names as the user typed them, for issue paths. */
const FLAG_NAMES: Record<string, string> = {
  file: "--file",
  inventory: "--inventory",
  env: "--env",
  slot: "--slot",
  image: "--image",
  imageArchive: "--image-archive",
  json: "--json",
  verify: "--verify",
  concurrency: "--concurrency",
};

/**
 * Validates flags and reads the environment file; then checks, together, everything they point
 * at: the secrets, the hosts (an inventory and its key files, or a local group), the image archive
 * (its ID read) and a bundle directory (verified), every problem reported at once before any host
 * is contacted; then builds (or reuses) a recipe's bundle.
 */
export async function prepareRun(given: ProvisionFlags, deps: ProvisionCliDeps, mode: "apply" | "check", log: (line: string) => void): Promise<PreparedRun> {
  const { localEnv, ...rest } = given;
  const raw: ProvisionFlags = { ...rest, ...(rest.env === undefined && localEnv !== undefined ? { env: localEnv } : {}) };
  const parsed = parseWith(flagsSchema, stripUndefined(raw));
  const issues = [
    ...(parsed.ok ? [] : parsed.issues.map((i) => ({ ...i, path: FLAG_NAMES[i.path] ?? i.path }))),
    ...imageFlagIssues(raw.image),
    ...hostFlagIssues(raw),
  ];
  if (!parsed.ok || issues.length) throw new ConfigError("command line", issues);
  const flags = parsed.value;
  const loaded = await openEnvironment(flags.file, deps);
  const env = loaded.env;
  const slot: SlotName = flags.slot ?? env.live ?? "blue";
  const imageRef = flags.image !== undefined ? resolveImageArgument(flags.image, env.app.image) : (env.slots[slot].image ?? env.app.image);
  const ref = parseImageReference(imageRef);
  if (!ref.ok) throw new ConfigError("command line", [{ path: "--image", message: ref.message }]);

  // Everything the file and the flags point at, checked together before any host: the secrets, the
  // hosts (and their key files), the archive and a bundle directory; every problem reported at once.
  const name = displayName(loaded, deps.cwd);
  const source = bundleSourceOf(env.engine);
  // --verify hashes the bundle here too, instead of trusting the stamp of an earlier verification.
  const verify = flags.verify ? (dir: string) => (deps.verifyBundle ?? verifyBundleDir)(dir, { rehash: true }) : deps.verifyBundle;
  if (loaded.compose && flags.imageArchive !== undefined) {
    throw new ConfigError("command line", [{ path: "--image-archive", message: "holds one image; a Compose app's images come from app.imageFrom (engine or registry)" }]);
  }
  const [secrets, targets, appImage, bundleDir, lock] = await allInputs([
    readSecrets(loaded, deps),
    flags.inventory !== undefined ? inventoryTargets(path.resolve(deps.cwd, flags.inventory), deps) : Promise.resolve().then(() => localTargets(flags.env!, deps)),
    imageSourceFor(imageRef, flags.imageArchive === undefined ? undefined : path.resolve(deps.cwd, flags.imageArchive), {
      from: env.app.imageFrom,
      cacheDir: deps.cacheDir ?? defaultCacheDir(deps.env as NodeJS.ProcessEnv),
      ...(deps.env["DOCKER_HOST"] !== undefined ? { dockerHost: deps.env["DOCKER_HOST"] } : {}),
      file: name,
    }),
    source !== null && typeof source !== "function" && "dir" in source ? verifyBundleInput(source.dir, name, verify) : Promise.resolve(null),
    readLock(loaded, deps.cwd),
  ]);
  // A Compose app's other services' images come from where the app's does (before any host is touched).
  const image = loaded.compose
    ? await addComposeCompanions(appImage, loaded.compose, deps.cacheDir ?? defaultCacheDir(deps.env as NodeJS.ProcessEnv), env, secrets, log, {
        ...(deps.env["DOCKER_HOST"] !== undefined ? { dockerHost: deps.env["DOCKER_HOST"] } : {}),
        imageFromNamedBy: { source: name, key: "app.imageFrom" },
      })
    : appImage;
  log(
    image.source === "registry"
      ? `image    ${image.ref} (pulled by each host)`
      : `image    ${imageRef} ${image.imageId.slice(0, 19)} (${image.source === "layers" ? "layer by layer over SSH" : "archive, streamed over SSH"})`,
  );

  const bundleDeps: BundleDeps = {
    cacheDir: deps.cacheDir ?? defaultCacheDir(deps.env as NodeJS.ProcessEnv),
    createdBy: deps.createdBy ?? "longshore",
    log,
    readFile: deps.readFile,
    // LONGSHORE_BUNDLE_RESOLVER and LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL (cli/bundle-env.ts).
    build: withBundleEnv(deps.buildBundle ?? buildBundle, deps.env),
    ...(verify ? { verify } : {}),
    // A recipe's bundle follows the environment's lock, and a first resolution is pinned in it.
    lock: bundleLockOf(lock),
  };
  if (bundleDir !== null) logBundle(bundleDir, log);
  // A recipe is built (or reused from the cache) only once the input is known to be good.
  const bundle = bundleDir !== null ? fetchableBundle(bundleDir, env.engine, name) : await bundleFor(source, bundleDeps, log, (b) => fetchableBundle(b, env.engine, name));
  const deployment = deploymentOf(env, secrets, imageRef, loaded.compose);
  const input: ProvisionHostsInput = {
    targets,
    engine: env.engine,
    app: deployment.app,
    registry: deployment.registry,
    image,
    bundle,
    slot,
    mode,
    healthDeadlineMs: env.rollout.healthDeadlineSeconds * 1000,
    connect: deps.connect,
    ...(flags.verify ? { rehashFiles: true } : {}),
    ...(flags.concurrency ? { concurrency: Number(flags.concurrency) } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  log(`environment ${env.name} (${name}): slot ${slot}`);
  return { loaded, slot, targets, image, input };
}

/** The bundle now (a directory, or a recipe for one architecture), or per host architecture (built once per architecture). */
async function bundleFor(
  source: ReturnType<typeof bundleSourceOf>,
  deps: BundleDeps,
  log: (line: string) => void,
  check: (b: BundleRef) => BundleRef,
): Promise<ProvisionHostsInput["bundle"]> {
  if (source === null) return null;
  const resolve = async (s: BundleSource) => check(logBundle(await resolveBundle(s, deps), log));
  if (typeof source !== "function") return resolve(source);
  const perArch = new Map<string, Promise<BundleRef>>();
  return (arch: (typeof DEB_ARCHES)[number]) => {
    let hit = perArch.get(arch);
    if (!hit) perArch.set(arch, (hit = resolve(source(arch))));
    return hit;
  };
}

/**
 * With `engine.fetch: archive`, the bundle must say where the archive keeps each package (and one
 * `archiveMirror` must be able to serve them all): refused here as bad input (exit 2) at the
 * environment file's key, before any host, instead of by every host's engine.bundle plan.
 */
function fetchableBundle<B extends BundleRef>(b: B, engine: Pick<EngineOptions, "fetch" | "archiveMirror">, file: string): B {
  if (engine.fetch !== "archive") return b;
  const problem = archiveFetchProblem(b.manifest, engine.archiveMirror);
  if (problem) throw new ConfigError(file, [{ path: `${file}: engine.${problem.key}`, message: problem.message }], { suggestion: problem.suggestion });
  return b;
}

function logBundle<B extends BundleRef>(b: B, log: (line: string) => void): B {
  log(`bundle   ${b.manifest.name} ${b.manifest.version} (${b.manifest.packages.length} packages, verified)`);
  return b;
}

/**
 * The image from `--image-archive` (its ID read from it, it must hold `ref`), else from where
 * `app.imageFrom` says: both layer by layer from the controller's blob cache, or `ref` pulled by
 * each host.
 */
async function imageSourceFor(
  ref: string,
  archive: string | undefined,
  o: { from: ImageFrom; cacheDir: string; dockerHost?: string; file: string },
): Promise<ImageSource> {
  if (archive === undefined) {
    if (o.from === "registry") return (await resolveImageSource({ pull: ref })).image;
    return layeredImageSource(o.from, ref, { cacheDir: o.cacheDir, ...(o.dockerHost !== undefined ? { dockerHost: o.dockerHost } : {}), namedBy: { source: o.file, key: "app.imageFrom" } });
  }
  const read = await readArchiveInput(archive);
  if (!read.ok) throw new ConfigError("command line", [{ path: "--image-archive", message: read.message }]);
  const resolved = read.value;
  if (!archiveHolds(resolved.repoTags, ref)) {
    throw new ConfigError("command line", [
      { path: "--image-archive", message: `holds ${resolved.repoTags.length ? resolved.repoTags.join(", ") : "no tag"}, not ${ref}: pass --image with one of its tags` },
    ]);
  }
  const layers = await cacheArchive(o.cacheDir, archive);
  return { source: "layers", layers, cacheDir: o.cacheDir, imageId: layers.imageId };
}


async function inventoryTargets(file: string, deps: ProvisionCliDeps): Promise<SshTarget[]> {
  return loadInventory(file, {
    homeDir: deps.homeDir,
    readFile: deps.readFile,
    ...(deps.env["SSH_AUTH_SOCK"] ? { sshAuthSock: deps.env["SSH_AUTH_SOCK"] } : {}),
  });
}

function localTargets(group: string, deps: ProvisionCliDeps): SshTarget[] {
  const targets = deps.localTargets ? deps.localTargets(group) : machineGroupSshTargets(group, defaultPaths(deps.env as NodeJS.ProcessEnv));
  if (targets.length === 0) {
    throw new ConfigError("command line", [{ path: "--env", message: `no local environment named ${group} with machines (create it with: longshore local up --env ${group})` }]);
  }
  return targets;
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Runs the provisioning entry point (injected or the real one). */
export function runProvision(deps: ProvisionCliDeps, input: ProvisionHostsInput): Promise<ProvisionResult> {
  return (deps.provision ?? provisionHosts)(input);
}

/** Seconds with one decimal: `4.1 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * One progress line per event worth a line: facts, what a running step reports (e.g. waiting for
 * dpkg's lock), each finished step (status and duration), retries, each finished host. Host names are padded to `width` so columns line up.
 */
export function progressLine(e: ProvisionEvent, width: number, stream: Pick<OutStream, "color"> = {}): string | null {
  const h = e.host.padEnd(width);
  switch (e.type) {
    case "host-facts": {
      const f = e.facts;
      const engine = f.engineVersion ? `engine ${f.engineVersion}` : "no engine";
      return `${h}  facts             ${f.osId} ${f.osVersionId} (${f.osCodename || "?"}) ${f.arch}, cgroup v${f.cgroupVersion}, ${engine}  ${seconds(e.durationMs)}`;
    }
    case "step-done":
      // Padded before it is painted: escape codes take no column.
      return `${h}  ${e.stepId.padEnd(16)}  ${paintStatus(stream, e.status)}${" ".repeat(Math.max(0, 12 - e.status.length))}  ${seconds(e.durationMs)}`;
    case "step-progress":
      return `${h}  ${e.stepId.padEnd(16)}  ${e.message}`;
    case "step-retry":
      return `${h}  ${e.stepId.padEnd(16)}  retry ${e.attempt} in ${seconds(e.delayMs)}: ${firstLine(e.error)}`;
    case "host-done":
      return `${h}  ${paintStatus(stream, e.status === "ok" ? "done" : "FAILED")}  ${seconds(e.durationMs)}`;
    default:
      return null;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}


/** The `--json` document: the run report with each host's facts, plan hash, image delivery (layers) and (plan) file diffs. */
export function resultJson(result: ProvisionResult): Record<string, unknown> {
  return {
    mode: result.report.mode,
    ok: result.report.ok,
    durationMs: result.report.durationMs,
    counts: result.report.counts,
    hosts: result.report.hosts.map((h, i) => {
      const o = result.hosts[i]!;
      return {
        ...h,
        facts: o.facts,
        planHash: o.planHash,
        ...(o.delivery ? { delivery: o.delivery } : {}),
        ...(result.report.mode === "check" ? { files: o.files } : {}),
      };
    }),
  };
}
