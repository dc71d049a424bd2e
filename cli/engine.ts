/**
 * `longshore engine ...`: build and check offline engine bundles, and re-pin the environment's
 * bundle in its lock (`longshore.lock`).
 *
 *   longshore engine bundle [--distro bookworm] [--arch amd64] [--source debian|docker|ubuntu]
 *                           [--uri URI --keyring FILE] [--baseline minbase|none] [--out DIR]
 *                           [--offline] [--json]
 *   longshore engine verify <bundle-dir> [--json]
 *   longshore engine update [-f FILE] [--arch ARCH...] [--sources-file FILE] [--json]
 *
 * Actions throw longshore errors; the program's main prints them and picks the exit code.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { DEB_ARCHES } from "../model/engine";
import {
  describePackageChanges,
  diffPackages,
  noPackageChanges,
  updateLockFile,
  withBundle,
  withoutBundle,
  type BundlePin,
  type DebArch,
  type LockFile,
  type PackageChanges,
} from "../model/lock-file";
import { localDebianArch } from "../drivers/local/group-provisioner";
import { bundlePinOf } from "../provisioner/bundle/pin";
import { bundleSourceOf } from "../provisioner/provision-inputs";
import { parseOrThrow } from "../model/zod-issues";
import { buildBundle, type BuildBundleOptions, type BuildBundleResult } from "../provisioner/bundle/build";
import { bundleDirName, type BundleManifest } from "../provisioner/bundle/manifest";
import { controllerSources, debianRecipe, type ControllerSources, dockerRecipe, HOST_DEBIAN_SOURCES, readSourcesFile, ubuntuRecipe } from "../provisioner/bundle/recipe";
import { verifyBundle, type VerifiedBundle } from "../provisioner/bundle/verify";
import { defaultCacheDir } from "../core/cache-dir";
import { withBundleEnv } from "./bundle-env";
import { displayName, openEnvironment, readLock } from "./open-environment";

export { defaultCacheDir };

/** What the engine commands need from the outside world (tests pass fakes). */
export interface EngineCliDeps {
  /** Result text (stdout). */
  out(text: string): void;
  /** Progress lines (stderr). */
  log(line: string): void;
  /** longshore's cache directory (bundles go to `<cacheDir>/bundles`). */
  cacheDir: string;
  /** `longshore/<version>`, written into manifests. */
  createdBy: string;
  /** Relative paths (`-f`) resolve against this. */
  cwd: string;
  /** This computer's architecture (Debian name): what `engine update` pins when the lock pins none. */
  arch(): DebArch;
  readFile(file: string): Promise<string>;
  build(options: BuildBundleOptions): Promise<BuildBundleResult>;
  verify(dir: string): Promise<VerifiedBundle>;
}


/** The real dependencies. */
export function defaultEngineCliDeps(createdBy: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): EngineCliDeps {
  return {
    out: (t) => process.stdout.write(t),
    log: (l) => process.stderr.write(`${l}\n`),
    cacheDir: defaultCacheDir(env),
    createdBy,
    cwd,
    arch: () => localDebianArch(),
    readFile: (f) => fs.readFile(f, "utf8"),
    // LONGSHORE_BUNDLE_RESOLVER and LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL (cli/bundle-env.ts).
    build: withBundleEnv(buildBundle, env),
    verify: verifyBundle,
  };
}

const bundleFlagsSchema = z
  .strictObject({
    distro: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a release codename such as bookworm").default("bookworm"),
    arch: z.enum(DEB_ARCHES).default("amd64"),
    source: z.enum(["debian", "docker", "ubuntu"]).default("debian"),
    uri: z.string().optional(),
    keyring: z.string().optional(),
    securityUri: z.string().optional(),
    baseline: z.enum(["minbase", "none"]).default("minbase"),
    sourcesFile: z.string().default(HOST_DEBIAN_SOURCES),
    out: z.string().optional(),
    offline: z.boolean().default(false),
    json: z.boolean().default(false),
  })
  .superRefine((f, ctx) => {
    if (f.source !== "debian" && !f.uri) ctx.addIssue({ code: "custom", path: ["uri"], message: `is required with --source ${f.source}` });
    if (f.uri && !f.keyring) ctx.addIssue({ code: "custom", path: ["keyring"], message: "is required with --uri (the archive's signing keyring)" });
  });

type BundleFlags = z.output<typeof bundleFlagsSchema>;

/** Adds `engine bundle` and `engine verify` to `program`. */
export function register(program: Command, deps: EngineCliDeps): void {
  const engine = program.command("engine").description("build and check offline container-engine bundles; pin the environment's in longshore.lock");

  engine
    .command("bundle")
    .description("build a checksummed bundle of the engine's .deb files for one distribution and architecture")
    .option("--distro <codename>", "target release (suite)", "bookworm")
    .option("--arch <arch>", "target architecture (Debian name)", "amd64")
    .option("--source <source>", "where the engine comes from: debian (docker.io), docker (docker-ce), ubuntu", "debian")
    .option("--uri <uri>", "archive URI (required for docker and ubuntu; default for debian: this computer's mirror)")
    .option("--keyring <file>", "keyring that signs --uri")
    .option("--security-uri <uri>", "security archive URI (ubuntu)")
    .option("--baseline <baseline>", "what target hosts already have: minbase (Priority: required + apt) or none", "minbase")
    .option("--sources-file <file>", "deb822 sources to take the Debian mirror from (deb.debian.org where this computer has none)", HOST_DEBIAN_SOURCES)
    .option("--out <dir>", "parent directory of the bundle (default: <cache>/bundles)")
    .option("--offline", "reuse the package lists of the last build (no apt-get update)", false)
    .option("--json", "print the result as JSON", false)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseOrThrow(bundleFlagsSchema, raw, "longshore engine bundle flags");
      const recipe = await recipeFromFlags(flags, deps);
      const result = await deps.build({
        recipe,
        cacheDir: deps.cacheDir,
        ...(flags.out ? { outDir: path.resolve(flags.out) } : {}),
        refresh: !flags.offline,
        createdBy: deps.createdBy,
        log: deps.log,
      });
      deps.out(flags.json ? JSON.stringify(bundleSummary(result.manifest, result.dir, { cached: result.cached, phases: result.phases })) + "\n" : formatBundle(result.manifest, result.dir, result.cached ? "reused" : "built"));
    });

  engine
    .command("update")
    .description("re-resolve the environment's engine bundle against the archive (apt-get update), print the package versions that change, and pin the result in longshore.lock")
    .option("-f, --file <file>", "the environment file (default ./longshore.yaml); its lock is longshore.lock in the same directory")
    .option("--arch <arch...>", "architectures to pin (default: those the lock pins, else this computer's; a recipe that names one: that one)")
    .option("--sources-file <file>", "deb822 sources to take the Debian mirror from (deb.debian.org where this computer has none)", HOST_DEBIAN_SOURCES)
    .option("--json", "print the result as JSON", false)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseOrThrow(updateFlagsSchema, raw, "longshore engine update flags");
      deps.out(formatUpdate(await engineUpdate(flags, deps), flags.json));
    });

  engine
    .command("verify")
    .description("re-hash every file of a bundle against its manifest")
    .argument("<dir>", "bundle directory")
    .option("--json", "print the result as JSON", false)
    .action(async (dir: string, opts: { json?: boolean }) => {
      const v = await deps.verify(path.resolve(dir));
      deps.out(opts.json ? JSON.stringify(bundleSummary(v.manifest, v.dir, {})) + "\n" : formatBundle(v.manifest, v.dir, "verified"));
    });
}

const updateFlagsSchema = z.strictObject({
  file: z.string().min(1).optional(),
  arch: z.array(z.enum(DEB_ARCHES)).min(1).optional(),
  sourcesFile: z.string().default(HOST_DEBIAN_SOURCES),
  json: z.boolean().default(false),
});

/** What `engine update` did for one architecture. */
export interface ArchUpdate {
  arch: DebArch;
  recipe: string;
  /** The pinned bundle id before, or null when nothing was pinned. */
  from: string | null;
  to: string;
  changes: PackageChanges;
  /** The bundle directory in the cache (built or reused). */
  dir: string;
}

/** What `engine update` did. */
export interface UpdateResult {
  /** The lock's name as the user knows it. */
  lock: string;
  updates: ArchUpdate[];
  /** Pins removed because the recipe names another architecture. */
  dropped: DebArch[];
  /** False when the lock already said exactly this. */
  written: boolean;
}

/**
 * `engine update`: for each architecture to pin, resolves the recipe `engine.bundle` names against
 * the archive (a fresh `apt-get update` in the private apt tree), builds or reuses the bundle,
 * compares it with the pin, then writes every new pin into the lock in one atomic change (image
 * pins recorded meanwhile are kept).
 */
export async function engineUpdate(flags: z.output<typeof updateFlagsSchema>, deps: EngineCliDeps): Promise<UpdateResult> {
  const loaded = await openEnvironment(flags.file, deps);
  const name = displayName(loaded, deps.cwd);
  const current = await readLock(loaded, deps.cwd);
  const source = bundleSourceOf(loaded.env.engine);
  if (source === null) {
    throw new ConfigError(name, [{ path: `${name}: engine.channel`, message: "is distro: each host installs the engine from its own apt sources, so there is no bundle to pin" }]);
  }
  if (typeof source !== "function" && "dir" in source) {
    throw new ConfigError(name, [{ path: `${name}: engine.bundle`, message: `names the directory ${source.dir}: its manifest pins its packages already (rebuild it with \`longshore engine bundle\`)` }]);
  }
  const pinned = Object.keys(current.lock.engine) as DebArch[];
  let arches: DebArch[];
  if (typeof source === "function") {
    arches = flags.arch ?? (pinned.length > 0 ? pinned : [deps.arch()]);
  } else {
    const only = source.recipe.arch;
    const other = flags.arch?.find((a) => a !== only);
    if (other) throw new ConfigError("command line", [{ path: "--arch", message: `${other}: engine.bundle is ${loaded.env.engine.bundle}, for ${only} only` }]);
    arches = [only];
  }
  arches = [...new Set(arches)].sort();
  const dropped = typeof source === "function" ? [] : pinned.filter((a) => !arches.includes(a)).sort();

  const controller = controllerSources(await readSourcesFile(deps.readFile, flags.sourcesFile), flags.sourcesFile);
  const updates: ArchUpdate[] = [];
  const pins: Array<[DebArch, BundlePin]> = [];
  for (const arch of arches) {
    const s = typeof source === "function" ? source(arch) : source;
    if ("dir" in s) throw new Error("engine update: a recipe gave a directory");
    const recipeName = s.recipe;
    const recipe = debianRecipe({ suite: recipeName.suite, arch, hostSources: controller.sources, sourcesFile: controller.origin });
    const built = await deps.build({ recipe, cacheDir: deps.cacheDir, refresh: true, createdBy: deps.createdBy, log: deps.log });
    const verified = await deps.verify(built.dir);
    const before = current.lock.engine[arch];
    const pin = bundlePinOf(recipeName.name, verified.manifest);
    pins.push([arch, pin]);
    updates.push({ arch, recipe: recipeName.name, from: before?.id ?? null, to: pin.id, changes: diffPackages(before, pin), dir: verified.dir });
  }
  const apply = (lock: LockFile) => dropped.reduce((l, a) => withoutBundle(l, a), pins.reduce((l, [arch, pin]) => withBundle(l, arch, pin), lock));
  const { written } = await updateLockFile(current.file, apply);
  return { lock: current.name, updates, dropped, written };
}

/** The human (or `--json`) view of {@link engineUpdate}'s result. */
export function formatUpdate(r: UpdateResult, json: boolean): string {
  if (json) {
    return (
      JSON.stringify({
        lock: r.lock,
        written: r.written,
        engine: Object.fromEntries(r.updates.map((u) => [u.arch, { recipe: u.recipe, from: u.from, to: u.to, dir: u.dir, ...u.changes }])),
        dropped: r.dropped,
      }) + "\n"
    );
  }
  const lines: string[] = [];
  for (const u of r.updates) {
    const changes = describePackageChanges(u.changes);
    const id = u.from === null ? `pinned ${u.to.slice(0, 12)}` : u.from === u.to ? `bundle ${u.to.slice(0, 12)}` : `bundle ${u.from.slice(0, 12)} -> ${u.to.slice(0, 12)}`;
    lines.push(`engine ${u.arch} (${u.recipe}): ${noPackageChanges(u.changes) && u.from === u.to ? "no changes" : `${changes.length} package change${changes.length === 1 ? "" : "s"}`}, ${id}`);
    for (const c of changes) lines.push(`  ${c}`);
  }
  for (const a of r.dropped) lines.push(`engine ${a}: pin removed (engine.bundle names another architecture)`);
  lines.push(r.written ? `wrote ${r.lock}` : `${r.lock} is up to date`);
  return lines.join("\n") + "\n";
}

async function recipeFromFlags(f: BundleFlags, deps: EngineCliDeps) {
  const target = { suite: f.distro, arch: f.arch, baseline: f.baseline };
  const controller = async () => controllerSources(await readSourcesFile(deps.readFile, f.sourcesFile), f.sourcesFile);
  const sourcesOf = (c: ControllerSources) => ({ hostSources: c.sources, sourcesFile: c.origin });
  const withUri = (uri: string, keyring: string) => ({ ...target, uri, signedBy: keyring });
  switch (f.source) {
    case "debian":
      return f.uri
        ? debianRecipe({
            ...target,
            hostSources: [{ types: ["deb"], uris: [f.uri], suites: [f.distro, `${f.distro}-updates`], components: ["main"], signedBy: [f.keyring!], enabled: true }],
            sourcesFile: "--uri",
          })
        : debianRecipe({ ...target, ...sourcesOf(await controller()) });
    case "docker":
      return dockerRecipe({ ...withUri(f.uri!, f.keyring!), ...sourcesOf(await controller()) });
    case "ubuntu":
      return ubuntuRecipe({ ...withUri(f.uri!, f.keyring!), ...(f.securityUri ? { securityUri: f.securityUri } : {}) });
  }
}

/** The JSON view of a bundle (for `--json`). */
export function bundleSummary(m: BundleManifest, dir: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    dir,
    name: bundleDirName(m),
    id: m.id,
    engine: { package: m.enginePackage.name, version: m.enginePackage.version, upstream: m.engineVersion },
    target: { distribution: m.recipe.distribution, suite: m.recipe.suite, arch: m.recipe.arch, source: m.recipe.source },
    packages: m.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, size: p.size, sha256: p.sha256 })),
    packageCount: m.packages.length,
    totalSize: m.totalSize,
    ...extra,
  };
}

/** The human view of a bundle. */
export function formatBundle(m: BundleManifest, dir: string, what: "built" | "reused" | "verified"): string {
  return [
    `${what} ${bundleDirName(m)}`,
    `  dir       ${dir}`,
    `  engine    ${m.enginePackage.name} ${m.enginePackage.version} (${m.engineVersion})`,
    `  target    ${m.recipe.distribution} ${m.recipe.suite} ${m.recipe.arch}, from ${m.recipe.source}`,
    `  packages  ${m.packages.length}, ${(m.totalSize / 1048576).toFixed(1)} MiB`,
    `  id        ${m.id}`,
    "",
  ].join("\n");
}
