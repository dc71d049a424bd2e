/**
 * Turning the validated model into what the steps plan from, on the controller and before any
 * host is touched: the engine bundle (a directory verified file by file, or a recipe built or
 * reused from the cache) and the image source (an archive's image ID read from the archive
 * itself, or a registry reference).
 */
import { promises as fsp } from "node:fs";
import { BundleError, ConfigError } from "../core/errors";
import { fsErrorProblem, inputPathProblem } from "../core/input-files";
import { DEB_ARCHES, isBundleDirectory, parseBundleRecipe, type EngineOptions } from "../model/engine";
import { describePackageChanges, diffPackages, LOCK_FILE_NAME, recordBundle, type BundlePin, type DebArch, type LoadedLock, type LockFile } from "../model/lock-file";
import { buildBundle, type BuildBundleOptions, type BuildBundleResult, type RunFn } from "./bundle/build";
import { bundlePinOf, decideBundle, findCachedBundle } from "./bundle/pin";
import { controllerSources, debianRecipe, readSourcesFile } from "./bundle/recipe";
import { verifyBundle, type VerifiedBundle } from "./bundle/verify";
import { DockerArchiveError, readDockerArchive } from "./image-archive";
import type { BundleRef, ImageSource } from "./steps/engine-context";

/** Where the engine bundle comes from. */
export type BundleSource =
  | { dir: string }
  | {
      /** Built (or reused from the cache) with this computer's Debian sources. */
      recipe: { name: string; source: "debian"; suite: string; arch: (typeof DEB_ARCHES)[number] };
    };

/** Where the app's image comes from: a `docker save` archive on this computer, or a reference each host pulls. */
export type ImageSpec = { archive: string } | { pull: string; id?: string };

/**
 * The bundle `engine.bundle` names: a directory, a recipe for one architecture, or (for a recipe
 * without one) a function of the host's architecture. Null for `channel: distro`. Pure.
 */
export function bundleSourceOf(engine: Pick<EngineOptions, "channel" | "bundle">): BundleSource | ((arch: (typeof DEB_ARCHES)[number]) => BundleSource) | null {
  if (engine.channel !== "bundle") return null;
  if (isBundleDirectory(engine.bundle)) return { dir: engine.bundle };
  const { suite, arch: pinned } = parseBundleRecipe(engine.bundle)!;
  const recipe = (arch: (typeof DEB_ARCHES)[number]): BundleSource => ({ recipe: { name: `debian-${suite}-${arch}`, source: "debian", suite, arch } });
  return pinned ? recipe(pinned) : recipe;
}

/** The environment's lock (`longshore.lock`) as bundle resolution uses it. */
export interface BundleLock {
  /** The lock's name as the user knows it (`longshore.lock`, `envs/prod/longshore.lock`), for messages. */
  name: string;
  /** What the lock pinned when it was read (before any host). */
  engine: LockFile["engine"];
  /** Records the pin of a bundle resolved with nothing pinned for its architecture: the first run pins. */
  record(arch: DebArch, pin: BundlePin): Promise<void>;
}

/** The {@link BundleLock} of a lock read from disk: pins are written back to its file. */
export function bundleLockOf(loaded: LoadedLock): BundleLock {
  return { name: loaded.name, engine: loaded.lock.engine, record: (arch, pin) => recordBundle(loaded.file, arch, pin) };
}

/** What {@link resolveBundle} may do (injected by tests). */
export interface BundleDeps {
  /** longshore's cache directory (recipes are built under `<cacheDir>/bundles`). */
  cacheDir: string;
  createdBy: string;
  log?: (line: string) => void;
  /** Reads the controller's Debian sources. @default node's readFile */
  readFile?: (file: string) => Promise<string>;
  build?: (options: BuildBundleOptions) => Promise<BuildBundleResult>;
  verify?: (dir: string) => Promise<VerifiedBundle>;
  /** How the build runs apt (passed to the builder). @default spawning the programs */
  run?: RunFn;
  /** The environment's lock. @default none: nothing pinned, nothing recorded (the Pulumi provider) */
  lock?: BundleLock;
}

/**
 * The verified bundle: a directory is re-hashed against its manifest (`BundleError` lists every
 * bad file). A recipe name follows the lock ({@link decideBundle}): a pinned bundle in the cache
 * is used without running apt or touching the network; a pinned bundle not cached is built from
 * this computer's Debian sources and must come out with the pinned id; with nothing pinned it is
 * built (or reused when the cache has the same packages) and then pinned in the lock.
 */
export async function resolveBundle(source: BundleSource, deps: BundleDeps): Promise<BundleRef> {
  const verify = deps.verify ?? verifyBundle;
  if ("dir" in source) return verify(source.dir);
  const { name, arch } = source.recipe;
  const pin = deps.lock?.engine[arch];
  const cached = pin !== undefined && pin.recipe === name ? await findCachedBundle(deps.cacheDir, pin.id, verify) : null;
  const decision = decideBundle(name, pin, cached !== null);
  const lockName = deps.lock?.name ?? LOCK_FILE_NAME;
  switch (decision.action) {
    case "use-cached":
      deps.log?.(`bundle   ${name} pinned by ${lockName} (${decision.id.slice(0, 12)}), from the cache: no apt-get`);
      return cached!;
    case "recipe-changed":
      throw new ConfigError(lockName, [{ path: `${lockName}: engine.${arch}.recipe`, message: `pins ${decision.pinned}, but engine.bundle now asks for ${name}` }], {
        suggestion: "Run `longshore engine update` to resolve the new recipe and pin it (review the package changes it prints).",
      });
    case "build-and-compare":
    case "build-and-pin":
      break;
  }
  const read = deps.readFile ?? ((f: string) => fsp.readFile(f, "utf8"));
  const controller = controllerSources(await readSourcesFile(read));
  const recipe = debianRecipe({ suite: source.recipe.suite, arch, hostSources: controller.sources, sourcesFile: controller.origin });
  const built = await (deps.build ?? buildBundle)({
    recipe,
    cacheDir: deps.cacheDir,
    createdBy: deps.createdBy,
    ...(deps.log ? { log: deps.log } : {}),
    ...(deps.run ? { run: deps.run } : {}),
  });
  if (decision.action === "build-and-compare" && built.manifest.id !== decision.id) {
    const changes = describePackageChanges(diffPackages(pin, bundlePinOf(name, built.manifest)));
    throw new ConfigError(lockName, [
      {
        path: `${lockName}: engine.${arch}.id`,
        message:
          `pins bundle ${decision.id}, which is not in the cache, and ${name} now resolves to ${built.manifest.id}` +
          (changes.length ? ` (${changes.join(", ")})` : ""),
      },
    ], { suggestion: "Run `longshore engine update` to pin what the archive has now (review the package changes it prints), or restore the pinned bundle into the cache." });
  }
  const ref = await verify(built.dir);
  if (decision.action === "build-and-pin" && deps.lock) {
    await deps.lock.record(arch, bundlePinOf(name, ref.manifest));
    deps.log?.(`bundle   ${name} pinned in ${lockName} (${ref.manifest.id.slice(0, 12)})`);
  }
  return ref;
}

/** The image source the steps take, and the tags an archive loads as. */
export interface ResolvedImage {
  image: ImageSource;
  repoTags: string[];
}

/**
 * Reads the archive a user named (`--image-archive`, `imageArchive`), or says why it cannot be
 * used, in words that start with the file: `/x/a.tar does not exist`, `is a directory`, `is empty`,
 * `/x/a.tar: tar archive is truncated (...)`, `/x/a.tar: not a docker save archive (...)`. The
 * caller puts the message at the key or flag that named the file.
 */
export async function readArchiveInput(file: string): Promise<{ ok: true; value: ResolvedImage } | { ok: false; message: string }> {
  const problem = await inputPathProblem(file, "file");
  if (problem !== null) return { ok: false, message: `${file} ${problem}` };
  try {
    return { ok: true, value: await resolveImageSource({ archive: file }) };
  } catch (e) {
    if (e instanceof DockerArchiveError) return { ok: false, message: e.message };
    if (typeof (e as NodeJS.ErrnoException).code === "string") return { ok: false, message: `${file} ${fsErrorProblem(e)}` };
    throw e;
  }
}

/** What to do about a bundle directory that is not there. */
const BUNDLE_DIRECTORY_HINT = "engine.bundle names a directory made by `longshore engine bundle`, or a recipe such as debian-bookworm (docs/engine.md).";

/**
 * Verifies the bundle directory `engine.bundle` names, as input of the environment file `file`
 * (its name as the user knows it): a missing, empty or damaged directory is a {@link ConfigError}
 * at `<file>: engine.bundle`, one issue per bad file of the bundle. A BundleError's advice is kept.
 */
export async function verifyBundleInput(dir: string, file: string, verify: (dir: string) => Promise<VerifiedBundle> = verifyBundle): Promise<VerifiedBundle> {
  const at = `${file}: engine.bundle`;
  const problem = await inputPathProblem(dir, "directory");
  if (problem !== null) throw new ConfigError(file, [{ path: at, message: `${dir} ${problem}` }], { suggestion: BUNDLE_DIRECTORY_HINT });
  try {
    return await verify(dir);
  } catch (e) {
    if (!(e instanceof BundleError)) throw e;
    throw new ConfigError(
      file,
      e.issues.map((i) => ({ path: at, message: `${dir}/${i.file}: ${i.message}` })),
      { cause: e, ...(e.suggestion ? { suggestion: e.suggestion } : {}) },
    );
  }
}

/** Reads an archive's image ID (no docker needed); a pull reference is taken as it is. */
export async function resolveImageSource(spec: ImageSpec): Promise<ResolvedImage> {
  if ("archive" in spec) {
    const info = await readDockerArchive(spec.archive);
    return { image: { source: "archive", localPath: spec.archive, imageId: info.imageId }, repoTags: info.repoTags };
  }
  return { image: { source: "registry", ref: spec.pull, ...(spec.id ? { imageId: spec.id } : {}) }, repoTags: [] };
}
