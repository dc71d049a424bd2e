/**
 * The machines' template root filesystem: built once with debootstrap from this computer's own
 * Debian mirror, customised, cached as a tarball named by the recipe's hash, and extracted once into
 * a directory that every machine uses as its read-only overlay lower dir.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PreconditionError } from "../../core/errors";
import { hasCommand, runLocal, tail } from "./exec";
import { readFileIfExists, writeFileAtomic } from "../../core/atomic-write";
import { withLock } from "../../core/lock";
import type { LocalPaths } from "./paths";
import {
  customisation,
  DEFAULT_RECIPE,
  mirrorFromSources,
  mirrorFromSourcesList,
  recipeHash,
  recipePackages,
  type TemplateRecipe,
} from "./template-recipe";

/** A ready template. */
export interface Template {
  hash: string;
  /** The extracted root filesystem (overlay lower dir). */
  rootfs: string;
  tarball: string;
  /** What this call had to do. */
  did: "nothing" | "extracted" | "built";
  durationMs: number;
}

/** Progress lines for long work. */
export type Progress = (line: string) => void;

/** The cached tarball and extracted directory of a template. */
export function templateLocations(paths: LocalPaths, hash: string, compression: "zst" | "gz") {
  const base = path.join(paths.libDir, "templates", hash);
  return {
    tarball: path.join(paths.cacheDir, "templates", `${hash}.tar.${compression}`),
    lock: path.join(paths.cacheDir, "templates", `${hash}.lock`),
    base,
    rootfs: path.join(base, "rootfs"),
    ready: path.join(base, "ready.json"),
  };
}

/** The Debian mirror this computer's apt uses (never a hard-coded host). */
export function localMirror(suite: string): string {
  const deb822 = readFileIfExists("/etc/apt/sources.list.d/debian.sources");
  const fromDeb822 = deb822 === undefined ? null : mirrorFromSources(deb822, suite);
  if (fromDeb822) return fromDeb822;
  const list = readFileIfExists("/etc/apt/sources.list");
  const fromList = list === undefined ? null : mirrorFromSourcesList(list, suite);
  if (fromList) return fromList;
  throw new PreconditionError(`no Debian mirror for "${suite}" found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list`, {
    suggestion: "Configure apt with a Debian mirror (the one `apt-get update` uses); longshore builds machines from it.",
  });
}

/**
 * Returns a ready template for `recipe`, building or extracting it when needed. Holds a lock per
 * recipe so two concurrent `up`s build it once; leftovers of a crashed build are removed first.
 */
export async function ensureTemplate(
  paths: LocalPaths,
  recipe: TemplateRecipe = DEFAULT_RECIPE,
  progress: Progress = () => undefined,
): Promise<Template> {
  const started = Date.now();
  const hash = recipeHash(recipe);
  const compression = (await hasCommand("zstd")) ? "zst" : "gz";
  const zstLoc = templateLocations(paths, hash, "zst");
  const gzLoc = templateLocations(paths, hash, "gz");
  // Reuse whichever tarball exists, so a computer that gains or loses zstd keeps its cache.
  const loc = fs.existsSync(gzLoc.tarball) && !fs.existsSync(zstLoc.tarball) ? gzLoc : compression === "zst" ? zstLoc : gzLoc;
  if (fs.existsSync(loc.ready)) return { hash, rootfs: loc.rootfs, tarball: loc.tarball, did: "nothing", durationMs: 0 };

  return withLock(loc.lock, { what: `template ${hash}`, operation: "build template", waitMs: 30 * 60_000 }, async () => {
    if (fs.existsSync(loc.ready)) {
      return { hash, rootfs: loc.rootfs, tarball: loc.tarball, did: "nothing" as const, durationMs: Date.now() - started };
    }
    // We hold the lock: anything here but a ready rootfs is a crashed build's leftover.
    fs.rmSync(loc.base, { recursive: true, force: true });
    fs.mkdirSync(loc.base, { recursive: true });
    const tmpRoot = path.join(loc.base, `tmp-${process.pid}`);
    const tarFlags = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "-I", compression === "zst" ? "zstd -T0 -3" : "gzip -1"];
    let did: "built" | "extracted";
    if (fs.existsSync(loc.tarball)) {
      progress(`template ${hash}: extracting the cached ${path.basename(loc.tarball)}`);
      fs.mkdirSync(tmpRoot);
      await runLocal("tar", [...tarFlags, "-xpf", loc.tarball, "-C", tmpRoot], { stepId: "local.template" });
      did = "extracted";
    } else {
      await buildRootfs(recipe, tmpRoot, progress, hash);
      progress(`template ${hash}: caching as ${loc.tarball}`);
      fs.mkdirSync(path.dirname(loc.tarball), { recursive: true });
      const tmpTar = `${loc.tarball}.tmp-${process.pid}`;
      try {
        await runLocal("tar", [...tarFlags, "-cf", tmpTar, "-C", tmpRoot, "."], { stepId: "local.template" });
        fs.renameSync(tmpTar, loc.tarball);
      } finally {
        fs.rmSync(tmpTar, { force: true });
      }
      did = "built";
    }
    fs.renameSync(tmpRoot, loc.rootfs);
    writeFileAtomic(loc.ready, JSON.stringify({ hash, recipe, packages: recipePackages(recipe), at: new Date().toISOString() }, null, 2) + "\n");
    const durationMs = Date.now() - started;
    progress(`template ${hash}: ready (${did}) in ${(durationMs / 1000).toFixed(1)} s`);
    return { hash, rootfs: loc.rootfs, tarball: loc.tarball, did, durationMs };
  });
}

async function buildRootfs(recipe: TemplateRecipe, target: string, progress: Progress, hash: string): Promise<void> {
  const mirror = localMirror(recipe.suite);
  const packages = recipePackages(recipe);
  progress(`template ${hash}: debootstrap ${recipe.suite} (${recipe.variant}, ${packages.length} packages) from ${mirror} — about a minute`);
  const t0 = Date.now();
  try {
    await runLocal(
      "debootstrap",
      [`--variant=${recipe.variant}`, "--components=main", `--include=${packages.join(",")}`, recipe.suite, target, mirror],
      { stepId: "local.template", timeoutMs: 30 * 60_000 },
    );
  } catch (e) {
    const log = readFileIfExists(path.join(target, "debootstrap", "debootstrap.log"));
    if (log) (e as Error).message += `\ndebootstrap.log:\n${tail(log, 15)}`;
    throw e;
  }
  progress(`template ${hash}: debootstrap done in ${((Date.now() - t0) / 1000).toFixed(1)} s; customising`);
  await applyCustomisation(target);
}

/** Applies {@link customisation} to a root filesystem. */
export async function applyCustomisation(root: string): Promise<void> {
  const c = customisation();
  for (const f of c.files) {
    const p = path.join(root, f.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, f.content, { mode: f.mode });
    fs.chmodSync(p, f.mode);
  }
  for (const r of c.remove) fs.rmSync(path.join(root, r), { force: true });
  for (const t of c.truncate) fs.writeFileSync(path.join(root, t), "");
  // The template's own systemctl, in a chroot: it only creates symlinks, it starts nothing.
  await runLocal("chroot", [root, "systemctl", "enable", ...c.enable], { stepId: "local.template" });
  await runLocal("chroot", [root, "systemctl", "mask", ...c.mask], { stepId: "local.template" });
  // apt's downloaded package files are not needed in a template.
  await runLocal("sh", ["-c", 'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages', "sh", root], {
    stepId: "local.template",
  });
}
