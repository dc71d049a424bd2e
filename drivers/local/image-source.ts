/**
 * Where the local driver gets an image from. The demo images (`longshore-demo:v1|v2|broken`) are
 * built offline on this computer and streamed to hosts as archives, so the main job needs no
 * registry; any other reference is pulled by the hosts from its registry.
 */
import { buildDemoImage, DEMO_REPOSITORY, DEMO_VERSIONS, type DemoVersion } from "./demo-app";
import type { ImageSource } from "../../provisioner/steps/engine-context";

/** The version of a demo image reference, or null for any other image. */
export function demoVersionOf(image: string): DemoVersion | null {
  const m = new RegExp(`^${DEMO_REPOSITORY}:(.+)$`).exec(image);
  const v = m?.[1];
  return v !== undefined && (DEMO_VERSIONS as readonly string[]).includes(v) ? (v as DemoVersion) : null;
}

/** Resolves an image reference to what the provisioner's image step delivers. */
export function resolveImageSource(image: string, cacheDir: string): ImageSource {
  const demo = demoVersionOf(image);
  if (demo === null) return { source: "registry", ref: image };
  const built = buildDemoImage(demo, { cacheDir });
  return { source: "archive", localPath: built.file, imageId: built.imageId };
}
