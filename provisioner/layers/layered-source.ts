/**
 * The image source of an `engine` or `archive` delivery: the image taken apart into the
 * controller's blob cache, checked before any host is touched (the engine has it, the archive is
 * whole and holds the image the environment deploys).
 */
import { ConfigError } from "../../core/errors";
import { fsErrorProblem, inputPathProblem } from "../../core/input-files";
import type { ImageFrom } from "../../model/image-from";
import { archiveHolds } from "../../model/image-reference";
import { DockerArchiveError } from "../image-archive";
import type { ImageSource } from "../steps/engine-context";
import { cacheArchive } from "./blob-cache";
import { cacheEngineImage, engineSocketOf, NoSuchEngineImageError } from "./engine-export";
import type { LayeredImage } from "./layered-image";

/** What a layered source needs from the outside. */
export interface LayeredSourceDeps {
  /** longshore's cache directory (its blob cache is `<cacheDir>/blobs`). */
  cacheDir: string;
  /** `DOCKER_HOST` as the operator set it (the engine source's socket). @default unix:///var/run/docker.sock */
  dockerHost?: string;
  /** Where a bad archive is reported: the environment file and key, or the flag. @default { source: "--from", key: "--from" } */
  namedBy?: { source: string; key: string };
}

/** The blobs of `ref` from the operator's engine or an archive, in the controller's cache. */
export async function layeredImageSource(from: Exclude<ImageFrom, "registry">, ref: string, deps: LayeredSourceDeps): Promise<Extract<ImageSource, { source: "layers" }>> {
  const layers = from === "engine" ? await engineLayers(ref, deps) : await archiveLayers(from.archive, ref, deps);
  return { source: "layers", layers, cacheDir: deps.cacheDir, imageId: layers.imageId };
}

/** The engine's image; an image it does not have is the input's problem, at the key or flag that chose the engine. */
async function engineLayers(ref: string, deps: LayeredSourceDeps): Promise<LayeredImage> {
  try {
    return await cacheEngineImage(deps.cacheDir, engineSocketOf(deps.dockerHost), ref);
  } catch (e) {
    if (!(e instanceof NoSuchEngineImageError)) throw e;
    const by = deps.namedBy ?? { source: "--from", key: "--from" };
    throw new ConfigError(by.source, [{ path: by.key, message: e.message }], { cause: e, ...(e.suggestion ? { suggestion: e.suggestion } : {}) });
  }
}

async function archiveLayers(file: string, ref: string, deps: LayeredSourceDeps): Promise<LayeredImage> {
  const by = deps.namedBy ?? { source: "--from", key: "--from" };
  const refuse = (message: string) => new ConfigError(by.source, [{ path: by.key, message }], { suggestion: "Name a `docker save` archive of the image (`docker save -o app.tar IMAGE`)." });
  const problem = await inputPathProblem(file, "file");
  if (problem !== null) throw refuse(`${file} ${problem}`);
  let image: LayeredImage;
  try {
    image = await cacheArchive(deps.cacheDir, file);
  } catch (e) {
    if (e instanceof DockerArchiveError) throw refuse(e.message);
    if (typeof (e as NodeJS.ErrnoException).code === "string" && !(e instanceof ConfigError)) throw refuse(`${file} ${fsErrorProblem(e)}`);
    throw e;
  }
  if (!archiveHolds(image.repoTags, ref)) {
    throw refuse(`${file} holds ${image.repoTags.length ? image.repoTags.join(", ") : "an untagged image"}, not ${ref}`);
  }
  return image;
}
