/**
 * Turning a validated provisioning config into what the steps plan from, on the controller and
 * before any host is touched: the engine bundle (a directory verified file by file, or a recipe
 * built or reused from the cache) and the image source (an archive's image ID read from the
 * archive itself, or a registry reference).
 */
import { promises as fsp } from "node:fs";
import { parseImageReference, type AppSpec } from "../config/app";
import { ARCHIVE_IMAGE_PLACEHOLDER, type BundleSource, type ImageSpec } from "../config/provision";
import { buildBundle, type BuildBundleOptions, type BuildBundleResult } from "./bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "./bundle/recipe";
import { verifyBundle, type VerifiedBundle } from "./bundle/verify";
import { readDockerArchive } from "./image-archive";
import type { BundleRef, ImageSource } from "./steps/engine-context";

/** What {@link resolveBundle} may do (injected by tests). */
export interface BundleDeps {
  /** longshore's cache directory (recipes are built under `<cacheDir>/bundles`). */
  cacheDir: string;
  createdBy: string;
  log?: (line: string) => void;
  readFile?: (file: string) => Promise<string>;
  build?: (options: BuildBundleOptions) => Promise<BuildBundleResult>;
  verify?: (dir: string) => Promise<VerifiedBundle>;
}

/**
 * The verified bundle: a directory is re-hashed against its manifest (`BundleError` lists every
 * bad file); a recipe name is built from this computer's Debian sources, or reused when the cache
 * has the same packages, and then verified the same way.
 */
export async function resolveBundle(source: BundleSource, deps: BundleDeps): Promise<BundleRef> {
  const verify = deps.verify ?? verifyBundle;
  if ("dir" in source) return verify(source.dir);
  const read = deps.readFile ?? ((f: string) => fsp.readFile(f, "utf8"));
  const recipe = debianRecipe({
    suite: source.recipe.suite,
    arch: source.recipe.arch,
    hostSources: parseDeb822Sources(await read(HOST_DEBIAN_SOURCES)),
  });
  const built = await (deps.build ?? buildBundle)({
    recipe,
    cacheDir: deps.cacheDir,
    createdBy: deps.createdBy,
    ...(deps.log ? { log: deps.log } : {}),
  });
  return verify(built.dir);
}

/** The image source the steps take, and the tags an archive loads as. */
export interface ResolvedImage {
  image: ImageSource;
  repoTags: string[];
}

/** Reads an archive's image ID (no docker needed); a pull reference is taken as it is. */
export async function resolveImageSource(spec: ImageSpec): Promise<ResolvedImage> {
  if ("archive" in spec) {
    const info = await readDockerArchive(spec.archive);
    return { image: { source: "archive", localPath: spec.archive, imageId: info.imageId }, repoTags: info.repoTags };
  }
  return { image: { source: "registry", ref: spec.pull, ...(spec.id ? { imageId: spec.id } : {}) }, repoTags: [] };
}

/**
 * The app with `image` set to what the archive is tagged as (its first valid tag), in place of the
 * placeholder the config parser put there. Only a name: archives run by image ID.
 */
export function withArchiveTag(app: AppSpec, repoTags: readonly string[]): AppSpec {
  if (app.image !== ARCHIVE_IMAGE_PLACEHOLDER) return app;
  const tag = repoTags.find((t) => parseImageReference(t).ok);
  return tag ? { ...app, image: tag } : app;
}
