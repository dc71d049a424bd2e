/**
 * An engine bundle's manifest: what the bundle was built from (recipe), every .deb it carries
 * (name, version, arch, file name, size, sha256), the engine version, and a bundle id that is the
 * sha256 of the canonical content, so the same packages always get the same id and any change to
 * any package gives a new one.
 *
 * What the id covers: the schema version, the target (distribution, suite, arch), the requested
 * packages, the engine package and every package's name, version, arch, file name, size and sha256.
 * What it does not: provenance (mirror URIs, each package's `archivePath`/`archiveUri`, keyrings,
 * baseline choice, `createdBy`): a bundle built before those were recorded keeps its id. Two builds of
 * the same packages from two mirrors, or by two longshore versions, are the same bundle, and hosts
 * that have it are not sent it again.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { bundleRecipeSchema, type BundleRecipe } from "../../model/engine";
import { canonicalJson, canonicalJsonCompact } from "../../templates/json";

/** Bumped when the manifest's shape changes incompatibly. */
export const MANIFEST_SCHEMA_VERSION = 1;

/** The manifest's file name inside a bundle directory. */
export const MANIFEST_FILE = "manifest.json";
/** Where the .deb files live inside a bundle directory. */
export const DEBS_DIR = "debs";

/** One .deb in a bundle. */
export interface BundlePackage {
  name: string;
  /** Full Debian version, epoch included (`2:1.02.185-2`). */
  version: string;
  arch: string;
  /** File name under `debs/` (apt's convention: `name_version_arch.deb`, ':' as `%3a`). */
  filename: string;
  size: number;
  sha256: string;
  /**
   * Where the archive keeps the .deb, relative to its root (`Filename:` in its Packages index,
   * `pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb`), so a host can fetch it itself
   * (`engine.fetch: archive`). Provenance, not content: not part of the bundle id.
   * @default absent (a bundle built before longshore recorded it)
   */
  archivePath?: string;
  /**
   * The root URI of the apt source the package was resolved from (`http://deb.debian.org/debian`);
   * the host fetches `<archiveUri>/<archivePath>`. Not part of the bundle id.
   * @default absent, as {@link archivePath}
   */
  archiveUri?: string;
}

/** A bundle manifest as written to `manifest.json`. */
export interface BundleManifest {
  schemaVersion: typeof MANIFEST_SCHEMA_VERSION;
  /** sha256 (hex) of the canonical content; see {@link bundleIdOf}. */
  id: string;
  /** `engine-<distribution>-<suite>-<arch>`. */
  name: string;
  /** `<engineVersion>-<first 12 hex of id>`: readable and unique. */
  version: string;
  /** The engine's upstream version (`20.10.24` for docker.io `20.10.24+dfsg1-1+deb12u1+b6`). */
  engineVersion: string;
  /** The engine package and its full Debian version. */
  enginePackage: { name: string; version: string };
  recipe: BundleRecipe;
  /** Sorted by name, then arch. */
  packages: BundlePackage[];
  /** Sum of the packages' sizes in bytes. */
  totalSize: number;
  /** What built it (`longshore/0.1.0`); not part of the id. */
  createdBy: string;
}

const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, "must be 64 lower-case hex digits");

/** Validates a manifest read from disk (every field, strictly). */
export const bundleManifestSchema = z.strictObject({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
  id: sha256Hex,
  name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~_-]*$/),
  engineVersion: z.string().min(1),
  enginePackage: z.strictObject({ name: z.string().min(1), version: z.string().min(1) }),
  recipe: bundleRecipeSchema,
  packages: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/),
        version: z.string().regex(/^[A-Za-z0-9.+~:-]+$/),
        arch: z.string().regex(/^[a-z0-9-]+$/),
        // A plain file name: no directory part, so a manifest can never point outside debs/.
        filename: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+~%_-]*\.deb$/),
        size: z.number().int().nonnegative(),
        sha256: sha256Hex,
        // Relative, no `..` segment: `<archiveUri>/<archivePath>` stays inside the archive.
        archivePath: z
          .string()
          .regex(/^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._~%+:-]+(?:\/[A-Za-z0-9._~%+:-]+)*\.deb$/, "must be a relative path in the archive such as pool/main/r/runc/runc_1.1.5_amd64.deb")
          .optional(),
        archiveUri: z.string().regex(/^https?:\/\/[^\s'"\\]+[^/\s'"\\]$/, "must be an http(s) URI with no trailing slash").optional(),
      }),
    )
    .min(1),
  totalSize: z.number().int().nonnegative(),
  createdBy: z.string(),
});

/** apt's local file name for a package: `name_version_arch.deb` with the epoch's ':' as `%3a`. */
export function debFilename(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/:/g, "%3a")}_${arch}.deb`;
}

/**
 * The upstream part of a Debian version: no epoch, no Debian revision, no repack suffix.
 * `20.10.24+dfsg1-1+deb12u1+b6` → `20.10.24`; `5:24.0.7-1~debian.12~bookworm` → `24.0.7`.
 */
export function upstreamVersion(debianVersion: string): string {
  let v = debianVersion.replace(/^[0-9]+:/, "");
  const dash = v.lastIndexOf("-");
  if (dash > 0) v = v.slice(0, dash);
  return v.replace(/[+~].*$/, "");
}

/** Sorts packages by name, then arch (the manifest's one order). */
export function sortPackages(packages: readonly BundlePackage[]): BundlePackage[] {
  return [...packages].sort((a, b) => cmp(a.name, b.name) || cmp(a.arch, b.arch) || cmp(a.version, b.version));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The content the bundle id is the sha256 of (see the module comment for what is in and out). */
export function canonicalBundleContent(m: Pick<BundleManifest, "schemaVersion" | "recipe" | "packages">): string {
  return canonicalJsonCompact({
    schemaVersion: m.schemaVersion,
    target: { distribution: m.recipe.distribution, suite: m.recipe.suite, arch: m.recipe.arch },
    requested: [...m.recipe.packages].sort(),
    enginePackage: m.recipe.enginePackage,
    packages: sortPackages(m.packages).map((p) => ({
      name: p.name,
      version: p.version,
      arch: p.arch,
      filename: p.filename,
      size: p.size,
      sha256: p.sha256,
    })),
  });
}

/** The bundle id: sha256 (hex) of {@link canonicalBundleContent}. */
export function bundleIdOf(m: Pick<BundleManifest, "schemaVersion" | "recipe" | "packages">): string {
  return createHash("sha256").update(canonicalBundleContent(m)).digest("hex");
}

/** Builds a complete manifest (id, name, version, totals) from a recipe and the packages found. */
export function createManifest(recipe: BundleRecipe, packages: readonly BundlePackage[], createdBy: string): BundleManifest {
  const sorted = sortPackages(packages);
  const engine = sorted.find((p) => p.name === recipe.enginePackage);
  if (!engine) throw new Error(`the engine package ${recipe.enginePackage} is not among the bundle's packages`);
  const base = { schemaVersion: MANIFEST_SCHEMA_VERSION, recipe, packages: sorted } as const;
  const id = bundleIdOf(base);
  const engineVersion = upstreamVersion(engine.version);
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    id,
    name: `engine-${recipe.distribution}-${recipe.suite}-${recipe.arch}`,
    version: `${engineVersion}-${id.slice(0, 12)}`,
    engineVersion,
    enginePackage: { name: engine.name, version: engine.version },
    recipe,
    packages: sorted,
    totalSize: sorted.reduce((s, p) => s + p.size, 0),
    createdBy,
  };
}

/** The bundle's directory name: `<name>-<version>`. */
export function bundleDirName(m: Pick<BundleManifest, "name" | "version">): string {
  return `${m.name}-${m.version}`;
}

/** The exact bytes of `manifest.json` (sorted keys, trailing newline): same manifest, same sha. */
export function renderManifest(m: BundleManifest): string {
  return canonicalJson(m);
}

/**
 * A `sha256sum --check` file for the bundle (`<sha256>  debs/<file>` per line), so a host can
 * verify what it received with coreutils alone.
 */
export function renderSha256Sums(m: Pick<BundleManifest, "packages">): string {
  return sortPackages(m.packages)
    .map((p) => `${p.sha256}  ${DEBS_DIR}/${p.filename}\n`)
    .join("");
}
