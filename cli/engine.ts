/**
 * `longshore engine ...`: build and check offline engine bundles.
 *
 *   longshore engine bundle [--distro bookworm] [--arch amd64] [--source debian|docker|ubuntu]
 *                           [--uri URI --keyring FILE] [--baseline minbase|none] [--out DIR]
 *                           [--offline] [--json]
 *   longshore engine verify <bundle-dir> [--json]
 *
 * Actions throw longshore errors; the program's main prints them and picks the exit code.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { DEB_ARCHES } from "../model/engine";
import { parseOrThrow } from "../model/zod-issues";
import { buildBundle, type BuildBundleOptions, type BuildBundleResult } from "../provisioner/bundle/build";
import { bundleDirName, type BundleManifest } from "../provisioner/bundle/manifest";
import { debianRecipe, dockerRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources, ubuntuRecipe } from "../provisioner/bundle/recipe";
import { verifyBundle, type VerifiedBundle } from "../provisioner/bundle/verify";
import { defaultCacheDir } from "../core/cache-dir";

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
  readFile(file: string): Promise<string>;
  build(options: BuildBundleOptions): Promise<BuildBundleResult>;
  verify(dir: string): Promise<VerifiedBundle>;
}


/** The real dependencies. */
export function defaultEngineCliDeps(createdBy: string): EngineCliDeps {
  return {
    out: (t) => process.stdout.write(t),
    log: (l) => process.stderr.write(`${l}\n`),
    cacheDir: defaultCacheDir(),
    createdBy,
    readFile: (f) => fs.readFile(f, "utf8"),
    build: buildBundle,
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
  const engine = program.command("engine").description("build and check offline container-engine bundles");

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
    .option("--sources-file <file>", "deb822 sources to take the Debian mirror from", HOST_DEBIAN_SOURCES)
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
    .command("verify")
    .description("re-hash every file of a bundle against its manifest")
    .argument("<dir>", "bundle directory")
    .option("--json", "print the result as JSON", false)
    .action(async (dir: string, opts: { json?: boolean }) => {
      const v = await deps.verify(path.resolve(dir));
      deps.out(opts.json ? JSON.stringify(bundleSummary(v.manifest, v.dir, {})) + "\n" : formatBundle(v.manifest, v.dir, "verified"));
    });
}

async function recipeFromFlags(f: BundleFlags, deps: EngineCliDeps) {
  const target = { suite: f.distro, arch: f.arch, baseline: f.baseline };
  const hostSources = async () => parseDeb822Sources(await deps.readFile(f.sourcesFile));
  const withUri = (uri: string, keyring: string) => ({ ...target, uri, signedBy: keyring });
  switch (f.source) {
    case "debian":
      return f.uri
        ? debianRecipe({
            ...target,
            hostSources: [{ types: ["deb"], uris: [f.uri], suites: [f.distro, `${f.distro}-updates`], components: ["main"], signedBy: [f.keyring!], enabled: true }],
            sourcesFile: "--uri",
          })
        : debianRecipe({ ...target, hostSources: await hostSources(), sourcesFile: f.sourcesFile });
    case "docker":
      return dockerRecipe({ ...withUri(f.uri!, f.keyring!), hostSources: await hostSources(), sourcesFile: f.sourcesFile });
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
