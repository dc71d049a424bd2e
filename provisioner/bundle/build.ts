/**
 * `longshore engine bundle`: builds a versioned, checksummed bundle of the engine's .deb files for
 * one target (distribution, suite, architecture), on the controller, by one of two resolvers:
 *
 * - `apt`: apt itself, in a private apt tree under the cache (`<cache>/apt/`).
 * - `native`: no apt: longshore reads the archive's signed InRelease and Packages indexes itself
 *   (archive-index.ts), resolves like apt (native-resolve.ts) and downloads each .deb checked
 *   against the signed index (`<cache>/archive/`). Runs on macOS, Windows or any Linux.
 *
 * The default picks apt where `apt-get` exists, else native. Both give the same packages (the
 * integration test compares them), so the same bundle id. Resolution is done as if on a fresh host:
 *
 * - baseline `minbase` (default): against a dpkg status that holds exactly what `debootstrap
 *   --variant=minbase` installs (every Priority: required package, plus apt, with dependencies),
 *   so the bundle carries what any Debian host may lack (iptables, containerd...) and nothing
 *   every Debian host has (libc6, dpkg...). Measured for bookworm amd64: 15 packages, ~63 MiB.
 * - baseline `none`: against an empty status; every dependency down to libc6 (62, ~82 MiB).
 *
 * Output: `<out>/<name>-<version>/` with `debs/` and `manifest.json`. A build whose resolved set
 * equals an existing bundle's returns that bundle (after re-hashing it) without downloading.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, promises as fs } from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BundleError, CommandFailedError, PreconditionError } from "../../core/errors";
import type { BundleRecipe } from "../../model/engine";
import { canonicalJsonCompact } from "../../templates/json";
import {
  aptDirs,
  aptOptions,
  archiveRootOf,
  parseIndexRecords,
  parsePrintUris,
  parseSimulatedInstalls,
  RequiredPackageCollector,
  statusFromRecords,
  type AptDirs,
  type IndexRecord,
} from "./apt";
import {
  DEBS_DIR,
  MANIFEST_FILE,
  bundleDirName,
  createManifest,
  debFilename,
  renderManifest,
  type BundleManifest,
  type BundlePackage,
} from "./manifest";
import { fetchOk, loadArchiveIndexes } from "./archive-index";
import type { PackageRecord } from "./deb822";
import { resolveNative, statusText } from "./native-resolve";
import { renderSourcesList } from "./recipe";
import { readManifest, sha256File, verifyBundle } from "./verify";

/** Runs a program (no shell) and returns its stdout; rejects on a non-zero exit. */
export type RunFn = (argv: readonly string[], options?: { onLine?: (line: string) => void }) => Promise<string>;

/** Options of {@link buildBundle}. */
export interface BuildBundleOptions {
  recipe: BundleRecipe;
  /** longshore's cache directory: apt state in `<cache>/apt/`, bundles in `<cache>/bundles/`. */
  cacheDir: string;
  /** Parent directory of the bundle directory; default `<cacheDir>/bundles`. */
  outDir?: string;
  /** Run `apt-get update` first (default true). False reuses the lists from the last build. */
  refresh?: boolean;
  /** Written to the manifest (not part of the bundle id). */
  createdBy: string;
  /** Progress lines for humans (stderr). */
  log?: (line: string) => void;
  /** How commands run; the default spawns them. Injected by tests. */
  run?: RunFn;
  /**
   * Who resolves and downloads: `apt` (the controller's apt-get, in a private tree) or `native`
   * (longshore reads the archive's signed indexes itself; needs no apt).
   * @default "apt" when `apt-get` runs on this computer, else "native"
   */
  resolver?: BundleResolver;
  /**
   * Native resolver: refuse an InRelease whose Valid-Until has passed. False accepts it (a dated
   * snapshot mirror; the CLI sets it from LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL=false).
   * @default true
   */
  checkValidUntil?: boolean;
}

/** Who resolves a bundle: the controller's apt, or longshore itself. */
export type BundleResolver = "apt" | "native";

/** What {@link buildBundle} produced. */
export interface BuildBundleResult {
  dir: string;
  manifest: BundleManifest;
  /** True when an existing bundle with the same packages was reused (nothing downloaded). */
  cached: boolean;
  /**
   * The private tree used (its `state/status` is the baseline the bundle was resolved against):
   * apt's tree, or the native resolver's `<cache>/archive/state-<key>`.
   */
  aptDir: string;
  /** Which resolver ran. */
  resolver: BundleResolver;
  /** Milliseconds per phase, in order. */
  phases: Record<string, number>;
}

/** Runs a phase and records its milliseconds in `phases` under its name. */
function phaseTimer(phases: Record<string, number>) {
  return async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      phases[name] = Math.round(performance.now() - t0);
    }
  };
}

/** What a recipe resolves to against the archive, before anything is downloaded. */
export interface ResolvedRecipe {
  /** Every package the bundle would hold (the recipe's and their dependencies beyond the baseline), with version and size. */
  packages: Array<{ name: string; version: string; arch: string; size: number }>;
}

/**
 * Resolves `options.recipe` against the archive's lists (apt-get update into longshore's own apt
 * tree, then a simulated install onto the baseline) without downloading a package: what a bundle
 * for another release or architecture would hold, cheaply.
 */
export async function resolveRecipe(options: Omit<BuildBundleOptions, "createdBy" | "outDir">): Promise<ResolvedRecipe> {
  const r = await resolvePhase(options);
  return { packages: r.resolved.map((x) => ({ name: x.name, version: x.version, arch: x.arch, size: x.size })) };
}

/** What the resolve phase found, whichever resolver ran. */
interface Resolution {
  resolver: BundleResolver;
  /** apt's tree or the native state dir (its `state/status` is the baseline). */
  root: string;
  resolved: IndexRecord[];
  phases: Record<string, number>;
  /** apt: the tree to download with. */
  dirs?: AptDirs;
  /** native: where each record's .deb is fetched from (the source's URI). */
  uris?: Map<IndexRecord, string>;
}

/** The recipe's key in cache paths (recipe content, not its name). */
function recipeKey(recipe: BundleRecipe): string {
  return createHash("sha256").update(canonicalJsonCompact(recipe)).digest("hex").slice(0, 16);
}

/**
 * `options.resolver`, or apt when `apt-get` runs here and every source's keyring is on this
 * computer, else native (an Ubuntu CI runner has apt but not Debian's keyring; the native resolver
 * falls back to the copy longshore ships, keys/).
 */
async function pickResolver(options: Pick<BuildBundleOptions, "resolver" | "run" | "recipe">): Promise<BundleResolver> {
  if (options.resolver) return options.resolver;
  if (!(await Promise.all(options.recipe.sources.map((s) => exists(s.signedBy)))).every(Boolean)) return "native";
  try {
    await (options.run ?? spawnRun)(["apt-get", "--version"]);
    return "apt";
  } catch (e) {
    if (e instanceof PreconditionError && (e.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return "native";
    throw e;
  }
}

async function resolvePhase(options: Omit<BuildBundleOptions, "createdBy" | "outDir">): Promise<Resolution> {
  const resolver = await pickResolver(options);
  return resolver === "native" ? resolvePhaseNative(options) : resolvePhaseApt(options);
}

async function resolvePhaseNative(options: Omit<BuildBundleOptions, "createdBy" | "outDir">): Promise<Resolution> {
  const log = options.log ?? (() => {});
  const recipe = options.recipe;
  const phases: Record<string, number> = {};
  const timed = phaseTimer(phases);
  const indexes = await timed("update", () =>
    loadArchiveIndexes(recipe, {
      cacheDir: options.cacheDir,
      ...(options.refresh === false ? { refresh: false } : {}),
      ...(options.checkValidUntil === false ? { checkValidUntil: false } : {}),
      log,
    }),
  );
  const uriOf = new Map<PackageRecord, string>();
  const records: PackageRecord[] = [];
  for (const ix of indexes) {
    for (const p of ix.packages) {
      uriOf.set(p, ix.source.uri);
      records.push(p);
    }
  }
  const result = await timed("resolve", async () => resolveNative(records, recipe));
  if (recipe.baseline === "minbase") log(`baseline: ${result.baseline.length} packages a minbase host has (Priority: required + apt, with dependencies)`);
  const root = path.join(options.cacheDir, "archive", `state-${recipe.distribution}-${recipe.suite}-${recipe.arch}-${recipeKey(recipe)}`);
  await fs.mkdir(path.join(root, "state"), { recursive: true });
  await fs.writeFile(path.join(root, "state", "status"), statusText(result.baseline));
  const uris = new Map<IndexRecord, string>();
  for (const [i, r] of result.packages.entries()) uris.set(r, uriOf.get(result.records[i]!)!);
  log(`resolved ${result.packages.length} packages, ${mib(result.packages.reduce((s, u) => s + u.size, 0))} (native resolver)`);
  return { resolver: "native", root, resolved: result.packages, phases, uris };
}

async function resolvePhaseApt(options: Omit<BuildBundleOptions, "createdBy" | "outDir">): Promise<Resolution> {
  const log = options.log ?? (() => {});
  const run = options.run ?? spawnRun;
  const recipe = options.recipe;
  const phases: Record<string, number> = {};
  const timed = phaseTimer(phases);
  const dirs = aptDirs(path.join(options.cacheDir, "apt", `${recipe.distribution}-${recipe.suite}-${recipe.arch}-${recipeKey(recipe)}`));
  await prepareAptTree(dirs, recipe);
  const listsPresent = (await fs.readdir(dirs.lists).catch(() => [])).some((f) => f.endsWith("Packages") || f.includes("Packages."));
  if (options.refresh !== false || !listsPresent) {
    log(`apt-get update (${recipe.sources.map((s) => `${s.uri} ${s.suite}`).join(", ")})`);
    // Error-Mode=any: an index that cannot be fetched fails the update (apt's default only warns and
    // keeps the old lists, so a build, or `engine update`, would silently resolve against stale ones).
    await timed("update", () => run(["apt-get", ...aptOptions(dirs, recipe.arch), "-o", "APT::Update::Error-Mode=any", "-q", "update"]));
  }
  if (recipe.baseline === "minbase") {
    await timed("baseline", () => writeMinbaseStatus(dirs, recipe.arch, run, log));
  } else {
    await fs.writeFile(dirs.status, "");
  }
  const resolved = await timed("resolve", () => resolve(dirs, recipe, run));
  log(`resolved ${resolved.length} packages, ${mib(resolved.reduce((s, u) => s + u.size, 0))}`);
  return { resolver: "apt", root: dirs.root, dirs, resolved, phases };
}

/** Builds (or reuses) the bundle for `options.recipe`. */
export async function buildBundle(options: BuildBundleOptions): Promise<BuildBundleResult> {
  const log = options.log ?? (() => {});
  const run = options.run ?? spawnRun;
  const recipe = options.recipe;
  const outDir = options.outDir ?? path.join(options.cacheDir, "bundles");
  const phases: Record<string, number> = {};
  const timed = phaseTimer(phases);

  const r = await resolvePhase(options);
  const { resolved, resolver } = r;
  Object.assign(phases, r.phases);
  const done = (dir: string, manifest: BundleManifest, cached: boolean): BuildBundleResult => ({ dir, manifest, cached, aptDir: r.root, resolver, phases });

  const existing = await timed("reuse", () => findExistingBundle(outDir, recipe, resolved));
  // Where the archive keeps each package: the native resolver knows (the index and its source);
  // apt is asked (one more call, ~1 s), only for a bundle that lacks it.
  const locate = () => timed("locate", async () => (r.dirs ? archiveLocations(r.dirs, recipe, resolved, run) : nativeLocations(resolved, r.uris!)));
  if (existing) {
    log(`reusing ${existing.dir}`);
    const located = existing.manifest.packages.every((p) => p.archivePath !== undefined);
    const manifest = located ? existing.manifest : await addArchiveLocations(existing.dir, existing.manifest, await locate(), log);
    return done(existing.dir, manifest, true);
  }
  const locations = await locate();

  let sourceDir: string;
  if (r.dirs) {
    const dirs = r.dirs;
    const install = ["apt-get", ...aptOptions(dirs, recipe.arch), "install", "--no-install-recommends", "-y"];
    await timed("download", () => run([...install, "-q", "--download-only", ...recipe.packages]));
    sourceDir = dirs.archives;
  } else {
    sourceDir = path.join(options.cacheDir, "archive", "debs");
    await timed("download", () => downloadDebs(resolved, r.uris!, sourceDir, log));
  }

  const tmp = path.join(outDir, `.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const packages = await timed("hash", () => collectPackages(sourceDir, resolved, path.join(tmp, DEBS_DIR), resolver, locations));
    const manifest = createManifest(recipe, packages, options.createdBy);
    await fs.writeFile(path.join(tmp, MANIFEST_FILE), renderManifest(manifest));
    const finalDir = path.join(outDir, bundleDirName(manifest));
    if (await exists(finalDir)) {
      // Same id: same content. Keep the existing directory if it verifies, else replace it.
      try {
        const v = await verifyBundle(finalDir);
        log(`bundle ${finalDir} already exists and verifies`);
        return done(v.dir, await addArchiveLocations(v.dir, v.manifest, locations, log), true);
      } catch {
        await fs.rm(finalDir, { recursive: true, force: true });
      }
    }
    await fs.rename(tmp, finalDir);
    const v = await timed("verify", () => verifyBundle(finalDir));
    log(`built ${finalDir}: ${manifest.packages.length} packages, ${mib(manifest.totalSize)}, id ${manifest.id}`);
    return done(v.dir, v.manifest, false);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

async function prepareAptTree(dirs: AptDirs, recipe: BundleRecipe): Promise<void> {
  for (const d of [dirs.lists, path.join(dirs.lists, "partial"), dirs.archives, path.join(dirs.archives, "partial"), dirs.sourceParts, dirs.preferencesParts, dirs.trustedParts, dirs.log]) {
    await fs.mkdir(d, { recursive: true });
  }
  for (const keyring of new Set(recipe.sources.map((s) => s.signedBy))) {
    if (!(await exists(keyring))) {
      throw new PreconditionError(`keyring ${keyring} does not exist`, {
        suggestion: "Install the archive's keyring package (debian-archive-keyring) or point signedBy at the right file.",
      });
    }
  }
  await fs.writeFile(dirs.sourcesList, renderSourcesList(recipe));
  await fs.writeFile(dirs.emptyStatus, "");
  if (!(await exists(dirs.status))) await fs.writeFile(dirs.status, "");
}

/**
 * Writes a dpkg status in which what `debootstrap --variant=minbase` installs is installed:
 * every Priority: required package and apt, resolved with their dependencies against an empty
 * status, at the archive's candidate versions. Cached per apt-lists fingerprint.
 */
async function writeMinbaseStatus(dirs: AptDirs, arch: string, run: RunFn, log: (l: string) => void): Promise<void> {
  const fingerprint = await listsFingerprint(dirs.lists);
  const stamp = path.join(dirs.state, "status.baseline");
  if ((await fs.readFile(stamp, "utf8").catch(() => "")) === `minbase ${fingerprint}\n` && (await exists(dirs.status))) return;

  const empty = aptOptions(dirs, arch, dirs.emptyStatus);
  const collector = new RequiredPackageCollector();
  await run(["apt-cache", ...empty, "dumpavail"], { onLine: (l) => collector.line(l) });
  const required = [...collector.finish(), "apt"].sort();
  const closure = parseSimulatedInstalls(
    await run(["apt-get", ...empty, "install", "--no-install-recommends", "-s", "-q", ...required]),
  );
  if (closure.length < required.length) throw new PreconditionError(`could not resolve the minbase set (${closure.length} of ${required.length} packages)`);
  const records = await run(["apt-cache", ...empty, "show", ...closure.map((p) => `${p.name}=${p.version}`)]);
  const status = statusFromRecords(records);
  await fs.writeFile(dirs.status, status.text);
  await fs.writeFile(stamp, `minbase ${fingerprint}\n`);
  log(`baseline: ${status.count} packages a minbase host has (${required.length} required + apt, with dependencies)`);
}

async function listsFingerprint(lists: string): Promise<string> {
  const names = (await fs.readdir(lists)).filter((f) => f !== "partial" && f !== "lock").sort();
  const parts: string[] = [];
  for (const n of names) {
    const st = await fs.stat(path.join(lists, n));
    parts.push(`${n}:${st.size}:${Math.round(st.mtimeMs)}`);
  }
  return createHash("sha256").update(parts.join("\n")).digest("hex");
}

/**
 * What apt would install on the baseline host: `apt-get install -s` for the set, then the index
 * records (size, sha256) of exactly those versions.
 */
async function resolve(dirs: AptDirs, recipe: BundleRecipe, run: RunFn): Promise<IndexRecord[]> {
  const simulated = parseSimulatedInstalls(
    await run(["apt-get", ...aptOptions(dirs, recipe.arch), "install", "--no-install-recommends", "-s", "-q", ...recipe.packages]),
  );
  const missing = recipe.packages.filter((p) => !simulated.some((s) => s.name === p));
  if (missing.length > 0) {
    throw new PreconditionError(`apt would not install ${missing.join(", ")} (already in the baseline?)`, {
      suggestion: "Use baseline none, or check the recipe's packages.",
    });
  }
  const records = parseIndexRecords(await run(["apt-cache", ...aptOptions(dirs, recipe.arch), "show", ...simulated.map((p) => `${p.name}=${p.version}`)]));
  return simulated.map((s) => {
    const r = records.find((x) => x.name === s.name && x.version === s.version && (x.arch === s.arch || x.arch === "all"));
    if (!r) throw new PreconditionError(`apt-cache show has no record for ${s.name}=${s.version}`);
    return r;
  });
}

/** A bundle in `outDir` for the same target and requested packages whose files are exactly `resolved`. */
async function findExistingBundle(outDir: string, recipe: BundleRecipe, resolved: IndexRecord[]) {
  const want = resolved.map((u) => `${u.name}=${u.version}=${u.arch}:${u.sha256}`).sort().join("\n");
  const entries = await fs.readdir(outDir).catch(() => [] as string[]);
  for (const e of entries.sort().reverse()) {
    if (e.startsWith(".")) continue;
    const dir = path.join(outDir, e);
    const { manifest } = await readManifest(dir);
    if (!manifest) continue;
    const r = manifest.recipe;
    if (r.distribution !== recipe.distribution || r.suite !== recipe.suite || r.arch !== recipe.arch) continue;
    if ([...r.packages].sort().join(" ") !== [...recipe.packages].sort().join(" ") || r.enginePackage !== recipe.enginePackage) continue;
    const have = manifest.packages.map((p) => `${p.name}=${p.version}=${p.arch}:${p.sha256}`).sort().join("\n");
    if (have !== want) continue;
    try {
      return await verifyBundle(dir);
    } catch {
      continue; // a damaged copy is rebuilt, never reused
    }
  }
  return null;
}

/**
 * Links (or copies) each downloaded .deb from `sourceDir` into `debsDir` and checks it against the
 * signed index: the resolver verified the download already; this proves the file we ship is the
 * one it verified. Shared by both resolvers.
 */
async function collectPackages(
  sourceDir: string,
  resolved: IndexRecord[],
  debsDir: string,
  resolver: BundleResolver,
  locations: ReadonlyMap<string, ArchiveLocation>,
): Promise<BundlePackage[]> {
  await fs.mkdir(debsDir, { recursive: true });
  const out: BundlePackage[] = [];
  for (const r of resolved) {
    const filename = debFilename(r.name, r.version, r.arch);
    const src = path.join(sourceDir, filename);
    if (!(await exists(src))) throw new PreconditionError(`${resolver === "apt" ? "apt" : "the native resolver"} did not download ${filename} to ${sourceDir}`);
    const dst = path.join(debsDir, filename);
    await fs.link(src, dst).catch(async () => fs.copyFile(src, dst));
    const sha256 = await sha256File(dst);
    const size = (await fs.stat(dst)).size;
    if (sha256 !== r.sha256 || size !== r.size) {
      throw new BundleError(src, [{ file: filename, message: `does not match the archive's index: expected sha256 ${r.sha256} (${r.size} bytes), actual ${sha256} (${size} bytes)`, expected: r.sha256, actual: sha256 }]);
    }
    out.push({ name: r.name, version: r.version, arch: r.arch, filename, size, sha256, ...locations.get(filename) });
  }
  return out;
}

/** Where the archive keeps a package: its root URI and the path under it. */
export interface ArchiveLocation {
  archivePath: string;
  archiveUri: string;
}

/**
 * Where each resolved package lives in its archive, by apt's local file name: the path from the
 * signed index (`Filename:`) and the root of the source apt would fetch it from (`apt-get download
 * --print-uris`, which downloads nothing). A package whose URI does not end with its path (a
 * source apt rewrites) is left out: `engine.fetch: archive` then refuses the bundle by name.
 */
async function archiveLocations(dirs: AptDirs, recipe: BundleRecipe, resolved: IndexRecord[], run: RunFn): Promise<Map<string, ArchiveLocation>> {
  const out = new Map<string, ArchiveLocation>();
  if (resolved.length === 0) return out;
  const printed = parsePrintUris(await run(["apt-get", ...aptOptions(dirs, recipe.arch), "-q", "download", "--print-uris", ...resolved.map((r) => `${r.name}=${r.version}`)]));
  for (const r of resolved) {
    const filename = debFilename(r.name, r.version, r.arch);
    const p = printed.find((x) => x.filename === filename && x.sha256 === r.sha256);
    const root = p && r.archivePath ? archiveRootOf(p.uri, r.archivePath) : null;
    // Only what the manifest can carry (and a host's apt-helper can fetch): http(s), no quotes or spaces.
    if (root && r.archivePath && /^https?:\/\/[^\s'"\\]+[^/\s'"\\]$/.test(root)) out.set(filename, { archivePath: r.archivePath, archiveUri: root });
  }
  return out;
}

/** The native resolver's locations: each record's index path under the source it was read from. */
function nativeLocations(resolved: IndexRecord[], uris: ReadonlyMap<IndexRecord, string>): Map<string, ArchiveLocation> {
  const out = new Map<string, ArchiveLocation>();
  for (const r of resolved) {
    const root = uris.get(r)?.replace(/\/+$/, "");
    if (root && r.archivePath && /^https?:\/\/[^\s'"\\]+[^/\s'"\\]$/.test(root)) out.set(debFilename(r.name, r.version, r.arch), { archivePath: r.archivePath, archiveUri: root });
  }
  return out;
}

/**
 * A bundle built before manifests recorded archive locations gets them now, in place: the id
 * does not cover them (same id, same pin), so only manifest.json is rewritten.
 */
async function addArchiveLocations(dir: string, manifest: BundleManifest, locations: ReadonlyMap<string, ArchiveLocation>, log: (l: string) => void): Promise<BundleManifest> {
  if (manifest.packages.every((p) => p.archivePath !== undefined) || manifest.packages.some((p) => !locations.has(p.filename))) return manifest;
  const updated: BundleManifest = { ...manifest, packages: manifest.packages.map((p) => ({ ...p, ...locations.get(p.filename) })) };
  const file = path.join(dir, MANIFEST_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(tmp, renderManifest(updated));
    await fs.rename(tmp, file);
    log(`recorded each package's archive path in ${file} (bundle id unchanged)`);
  } catch (e) {
    // A read-only cache: this run still has them; the next one looks them up again.
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    log(`could not record the archive paths in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return updated;
}

/**
 * Native resolver: fetches each .deb from `<uri>/<archivePath>` into `dir` (streamed, under a
 * temporary name), keeps it only when its size and sha256 are the signed index's. A file already
 * there with the right hash is not fetched again.
 */
async function downloadDebs(resolved: IndexRecord[], uris: Map<IndexRecord, string>, dir: string, log: (l: string) => void): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  let fetched = 0;
  let bytes = 0;
  for (const r of resolved) {
    const file = path.join(dir, debFilename(r.name, r.version, r.arch));
    if ((await fs.stat(file).then((st) => st.size, () => -1)) === r.size && (await sha256File(file)) === r.sha256) continue;
    const url = `${uris.get(r)!.replace(/\/+$/, "")}/${r.archivePath}`;
    await downloadVerified(url, file, r.size, r.sha256);
    fetched++;
    bytes += r.size;
  }
  log(`downloaded ${fetched} of ${resolved.length} packages (${mib(bytes)}; the rest were in ${dir})`);
}

/** Streams `url` to `file`; refuses (and deletes) a body whose size or sha256 differs. */
export async function downloadVerified(url: string, file: string, size: number, sha256: string): Promise<void> {
  const tmp = `${file}.partial-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    const res = await fetchOk(url);
    const hash = createHash("sha256");
    let n = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        n += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>), counter, createWriteStream(tmp));
    const actual = hash.digest("hex");
    if (actual !== sha256 || n !== size) {
      throw new BundleError(url, [
        { file: path.basename(file), message: `does not match the signed index: expected sha256 ${sha256} (${size} bytes), actual ${actual} (${n} bytes)`, expected: sha256, actual },
      ], { suggestion: "The mirror served another file than its signed index names: retry later or use another mirror." });
    }
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * The default {@link RunFn}: spawns without a shell, keeps stdout (unless streamed line by line
 * to `onLine`), and rejects with a CommandFailedError carrying the tail of stderr.
 */
export const spawnRun: RunFn = (argv, options = {}) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (!file) return reject(new Error("empty argv"));
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" } });
    const out: Buffer[] = [];
    let err = "";
    if (options.onLine) {
      const onLine = options.onLine;
      readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on("line", (l) => onLine(l));
    } else {
      child.stdout.on("data", (c: Buffer) => out.push(c));
    }
    child.stderr.on("data", (c: Buffer) => {
      err = (err + c.toString("utf8")).slice(-8192);
    });
    child.on("error", (e) => {
      reject(
        (e as NodeJS.ErrnoException).code === "ENOENT"
          ? new PreconditionError(`${file} is not installed on this computer`, { suggestion: "Install apt and dpkg-dev (Debian/Ubuntu), or run bootstrap.", cause: e })
          : e,
      );
    });
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString("utf8"));
      reject(
        new CommandFailedError({
          host: "localhost",
          stepId: "engine.bundle",
          phase: "build",
          command: argv.join(" "),
          exitCode: code,
          signal: signal ?? null,
          stderrTail: err.split("\n").slice(-15).join("\n"),
        }),
      );
    });
  });
