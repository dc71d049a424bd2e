/**
 * Provisions a fresh local machine group for a rollout: the engine from the bundle (built once on
 * this computer from Debian's archive, then reused), the image (demo images streamed as archives,
 * others pulled), the app container. Health is left to the rollout's gate, which probes every host
 * from here through the network the traffic takes.
 */
import type { Environment } from "../config/environment";
import { parseAppSpec } from "../config/app";
import { parseEngineOptions } from "../config/engine";
import { provisionHosts } from "../provisioner/apply-host";
import { resolveBundle } from "../provisioner/provision-inputs";
import type { BundleRef } from "../provisioner/steps/engine-context";
import { environmentSshTargets } from "./environment";
import { resolveImageSource } from "./image-source";
import type { LocalPaths } from "./paths";
import type { ProvisionFn } from "./slot-driver";

/** The bundle every local machine gets: Debian bookworm's engine for this computer's architecture. */
const LOCAL_BUNDLE = { recipe: { name: "debian-bookworm-amd64", source: "debian", suite: "bookworm", arch: "amd64" } } as const;

/** A {@link ProvisionFn} for local machine groups of `env`. */
export function localGroupProvisioner(env: Environment, paths: LocalPaths): ProvisionFn {
  // One verified bundle per process: every group of this environment reuses it.
  let bundle: Promise<BundleRef> | undefined;
  return async (group, _hosts, image, slot, progress) => {
    bundle ??= resolveBundle(LOCAL_BUNDLE, { cacheDir: paths.cacheDir, createdBy: "longshore local", log: progress });
    const targets = environmentSshTargets(group, paths);
    const source = resolveImageSource(image, paths.cacheDir);
    const app = parseAppSpec(
      {
        name: env.app.name,
        image,
        version: image.slice(image.lastIndexOf(":") + 1).replace(/[^A-Za-z0-9_.-]/g, "-"),
        containerPort: env.app.port,
        hostPort: env.app.port,
        health: { path: env.app.healthPath },
        slot,
      },
      "environment",
      "app",
    );
    progress(`provisioning ${targets.map((t) => t.name).join(", ")} with ${image}`);
    const result = await provisionHosts({
      targets,
      engine: parseEngineOptions({}, "environment", "engine"),
      app,
      image: source,
      bundle: await bundle,
      slot,
      mode: "apply",
      omitSteps: ["app.health"],
      onEvent: (e) => {
        if (e.type === "host-done") progress(`${e.host}: ${e.status} in ${(e.durationMs / 1000).toFixed(1)} s`);
      },
    });
    if (result.error) throw result.error;
  };
}
