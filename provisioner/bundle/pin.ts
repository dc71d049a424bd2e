/**
 * Bundles pinned by the environment's lock (`longshore.lock`): what to do about a recipe given
 * what the lock pins for the architecture and what the cache holds is decided by one pure
 * function ({@link decideBundle}); finding the pinned bundle in the cache is the one thin edge.
 * A pinned bundle that is cached is used as it is: no apt-get, no network.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { BundlePin } from "../../model/lock-file";
import type { BundleManifest } from "./manifest";
import { readManifest, verifyBundle, type VerifiedBundle } from "./verify";

/** What resolving a recipe's bundle does, decided from the lock and the cache. */
export type BundleDecision =
  /** The lock pins it and the cache has it, verified: use it; apt is not run, the network not used. */
  | { action: "use-cached"; id: string }
  /** The lock pins it, the cache lacks it: build from the archive and refuse a bundle with another id. */
  | { action: "build-and-compare"; id: string }
  /** Nothing pinned for this architecture: build (or reuse) as without a lock, then pin the result. */
  | { action: "build-and-pin" }
  /** The lock pins another recipe for this architecture (engine.bundle changed): re-resolve with `engine update`. */
  | { action: "recipe-changed"; pinned: string };

/**
 * The decision for the recipe `recipe` (`debian-bookworm-amd64`), given the lock's pin for its
 * architecture (undefined: none) and whether a verified bundle with the pinned id is cached. Pure.
 */
export function decideBundle(recipe: string, pin: BundlePin | undefined, pinnedIsCached: boolean): BundleDecision {
  if (pin === undefined) return { action: "build-and-pin" };
  if (pin.recipe !== recipe) return { action: "recipe-changed", pinned: pin.recipe };
  return pinnedIsCached ? { action: "use-cached", id: pin.id } : { action: "build-and-compare", id: pin.id };
}

/** The lock's record of a bundle built from `recipe` (its name, id and package versions). Pure. */
export function bundlePinOf(recipe: string, manifest: Pick<BundleManifest, "id" | "packages">): BundlePin {
  return { recipe, id: manifest.id, packages: Object.fromEntries(manifest.packages.map((p) => [p.name, p.version])) };
}

/**
 * The bundle with manifest id `id` under `<cacheDir>/bundles`, re-hashed against its manifest, or
 * null when there is none (or only a damaged copy, which is never used). Reads directory names and
 * manifests only: a bundle directory is `<name>-<engine version>-<first 12 hex of the id>`.
 */
export async function findCachedBundle(cacheDir: string, id: string, verify: (dir: string) => Promise<VerifiedBundle> = verifyBundle): Promise<VerifiedBundle | null> {
  const root = path.join(cacheDir, "bundles");
  const entries = await fs.readdir(root).catch(() => [] as string[]);
  for (const e of entries.sort()) {
    if (e.startsWith(".") || !e.endsWith(`-${id.slice(0, 12)}`)) continue;
    const dir = path.join(root, e);
    const { manifest } = await readManifest(dir);
    if (manifest?.id !== id) continue;
    try {
      return await verify(dir);
    } catch {
      continue; // damaged: rebuilt from the archive, never shipped
    }
  }
  return null;
}
