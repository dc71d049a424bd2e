/**
 * Where the local driver gets an image from. The demo images (`longshore-demo:v1|v2|broken`) are
 * built offline on this computer and streamed to hosts as archives, so the main job needs no
 * registry; any other reference is pinned to its manifest digest here, then pulled by the hosts
 * from its registry by that digest.
 */
import { buildDemoImage, DEMO_REPOSITORY, DEMO_VERSIONS, type DemoVersion } from "./demo-app";
import { registryFor } from "../../model/deployment";
import type { Environment } from "../../model/environment";
import type { ResolvedSecrets } from "../../model/secret-resolve";
import { resolveRegistryImage } from "../../provisioner/registry-image";
import type { ImageSource } from "../../provisioner/steps/engine-context";

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
  env: Pick<Environment, "registry" | "engine">,
  secrets: Pick<ResolvedSecrets, "registryPassword">,
  progress: (line: string) => void = () => undefined,
  resolve: typeof resolveRegistryImage = resolveRegistryImage,
): Promise<ImageSource> {
  const demo = demoVersionOf(image);
  if (demo === null) {
    const pinned = await resolve(image, {
      credentials: registryFor(env.registry, secrets.registryPassword, image),
      insecureRegistries: env.engine.daemon["insecure-registries"] ?? [],
    });
    if (pinned.mediaType !== null) progress(`${image} is ${pinned.digest}: hosts pull ${pinned.ref}`);
    return { source: "registry", ref: pinned.ref };
  }
  const built = buildDemoImage(demo, { cacheDir });
  return { source: "archive", localPath: built.file, imageId: built.imageId };
}
