/**
 * Provisions a fresh local machine group for a rollout: the engine from the bundle, the image
 * (demo images streamed as archives, others pulled), the app container, its health.
 */
import * as os from "node:os";
import type { Environment } from "../config/environment";
import { environmentSshTargets } from "./environment";
import { resolveImageSource } from "./image-source";
import type { LocalPaths } from "./paths";
import type { ProvisionFn } from "./slot-driver";

/** The provisioning entry point (provisioner/apply-host.ts), loaded when first needed. */
type ProvisionHosts = (input: Record<string, unknown>) => Promise<{ error?: Error | undefined }>;

/** A {@link ProvisionFn} for local machine groups of `env`. */
export function localGroupProvisioner(env: Environment, paths: LocalPaths): ProvisionFn {
  return async (group, _hosts, image, slot, progress) => {
    const targets = environmentSshTargets(group, paths);
    const imageSource = resolveImageSource(image, paths.cacheDir);
    progress(`provisioning ${targets.length} host${targets.length === 1 ? "" : "s"} of ${group} with ${image}`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { provisionHosts } = require("../provisioner/apply-host") as { provisionHosts: ProvisionHosts };
    const result = await provisionHosts({
      targets,
      app: { name: env.app.name, port: env.app.port, healthPath: env.app.healthPath, image, version: image.split(":").pop() ?? "latest" },
      image: imageSource,
      slot,
      cacheDir: paths.cacheDir,
      auditUser: `${os.userInfo().username}@${os.hostname()}`,
      onProgress: progress,
    });
    if (result.error) throw result.error;
  };
}
