/**
 * Where the local driver gets an image from. The demo images (`longshore-demo:v1|v2|broken`) are
 * built offline on this computer and delivered layer by layer, so the main job needs no registry;
 * any other image comes from where `app.imageFrom` says: the operator's engine or an archive (layer
 * by layer, provisioner/layers/), or its registry, pinned to its manifest digest here and pulled by
 * the hosts by that digest.
 */
import { buildDemoImage, DEMO_REPOSITORY, DEMO_VERSIONS, type DemoVersion } from "./demo-app";
import { ConfigError } from "../../core/errors";
import { type ResolvedCompose } from "../../model/app";
import { composeAppView, parseComposeFile } from "../../model/compose";
import { registryFor } from "../../model/deployment";
import type { Environment } from "../../model/environment";
import type { ResolvedSecrets } from "../../model/secret-resolve";
import { resolveRegistryImage } from "../../provisioner/registry-image";
import type { ImageSource } from "../../provisioner/steps/engine-context";
import { imageFromText } from "../../model/image-from";
import { cacheArchive } from "../../provisioner/layers/blob-cache";
import { layeredImageSource } from "../../provisioner/layers/layered-source";

/** What {@link resolveImageSource} needs besides the environment. */
export interface ImageSourceOptions {
  /** `DOCKER_HOST` (the `engine` source's engine). @default the engine's default socket */
  dockerHost?: string;
  /** Where the image source was chosen, for errors about it. @default { source: "environment", key: "app.imageFrom" } */
  imageFromNamedBy?: { source: string; key: string };
  /** Pins a registry image (injected by tests). @default resolveRegistryImage */
  resolve?: typeof resolveRegistryImage;
  /** A Compose app's file: its other services' images are resolved too (`companions`). @default none */
  compose?: ResolvedCompose | null;
}

/** The version of a demo image reference, or null for any other image. */
export function demoVersionOf(image: string): DemoVersion | null {
  const m = new RegExp(`^${DEMO_REPOSITORY}:(.+)$`).exec(image);
  const v = m?.[1];
  return v !== undefined && (DEMO_VERSIONS as readonly string[]).includes(v) ? (v as DemoVersion) : null;
}

/**
 * Resolves an image reference to what the provisioner's image step delivers, on this computer and
 * before any machine is created: a demo image's archive, or the registry image pinned to its
 * manifest digest (`resolveRegistryImage`, asked with `registry:`'s credentials when the image is
 * from that registry, over plain HTTP when `engine.daemon.insecure-registries` lists it). A
 * refused password, a missing tag or an unreachable registry is a `RegistryError` naming the registry.
 */
export async function resolveImageSource(
  image: string,
  cacheDir: string,
  env: Pick<Environment, "registry" | "engine" | "app">,
  secrets: Pick<ResolvedSecrets, "registryPassword">,
  progress: (line: string) => void = () => undefined,
  options: ImageSourceOptions = {},
): Promise<ImageSource> {
  const main = await resolveOneImage(image, cacheDir, env, secrets, progress, options);
  return options.compose ? addComposeCompanions(main, options.compose, cacheDir, env, secrets, progress, options) : main;
}

/**
 * A Compose app's other images (the services not of the app's repository), from where the app's
 * comes: blobs joining the app's layered delivery (`layers.also`), or digest-pinned references the
 * hosts pull with the app's. Resolved here, before any machine exists.
 */
export async function addComposeCompanions(
  main: ImageSource,
  compose: ResolvedCompose,
  cacheDir: string,
  env: Pick<Environment, "registry" | "engine" | "app">,
  secrets: Pick<ResolvedSecrets, "registryPassword">,
  progress: (line: string) => void,
  options: ImageSourceOptions,
): Promise<ImageSource> {
  const project = parseComposeFile(compose.text, composeAppView(env.app), compose.file);
  if (!project.ok) throw new ConfigError(compose.file, project.issues);
  const refs = [...new Set(Object.values(project.value.services).filter((s) => !s.runsAppImage).map((s) => s.image))].sort();
  if (refs.length === 0) return main;
  if (main.source === "archive") {
    const by = options.imageFromNamedBy ?? { source: "environment", key: "app.imageFrom" };
    throw new ConfigError(by.source, [{ path: by.key, message: `an archive holds one image; the Compose app's other images (${refs.join(", ")}) come from engine or registry` }]);
  }
  // Each from where the app's image comes: its blobs join a layered delivery, a registry one is pulled by digest.
  const companions: Record<string, string> = {};
  const also = [];
  for (const ref of refs) {
    const other = await resolveOneImage(ref, cacheDir, env, secrets, progress, options);
    if (other.source !== main.source) throw new Error(`${ref} resolved to ${other.source}, not ${main.source} like the app's image`);
    if (other.source === "layers") also.push(other.layers);
    companions[ref] = other.source === "registry" ? other.ref : other.imageId;
  }
  if (main.source === "layers") return { ...main, layers: { ...main.layers, also }, companions };
  return { ...main, companions };
}

/** One image's source: a demo image's layers, the operator's engine or archive, or the registry pinned by digest. */
async function resolveOneImage(
  image: string,
  cacheDir: string,
  env: Pick<Environment, "registry" | "engine" | "app">,
  secrets: Pick<ResolvedSecrets, "registryPassword">,
  progress: (line: string) => void,
  options: ImageSourceOptions,
): Promise<ImageSource> {
  const demo = demoVersionOf(image);
  if (demo !== null) {
    const layers = await cacheArchive(cacheDir, buildDemoImage(demo, { cacheDir }).file);
    return { source: "layers", layers, cacheDir, imageId: layers.imageId };
  }
  const from = env.app.imageFrom;
  if (from !== "registry") {
    progress(`image ${image}: from ${imageFromText(from)}, into the blob cache`);
    return layeredImageSource(from, image, {
      cacheDir,
      ...(options.dockerHost !== undefined ? { dockerHost: options.dockerHost } : {}),
      namedBy: options.imageFromNamedBy ?? { source: "environment", key: "app.imageFrom" },
    });
  }
  const pinned = await (options.resolve ?? resolveRegistryImage)(image, {
    credentials: registryFor(env.registry, secrets.registryPassword, image),
    insecureRegistries: env.engine.daemon["insecure-registries"] ?? [],
  });
  if (pinned.mediaType !== null) progress(`${image} is ${pinned.digest}: hosts pull ${pinned.ref}`);
  return { source: "registry", ref: pinned.ref };
}
