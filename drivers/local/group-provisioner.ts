/**
 * Provisions a fresh local machine group for a rollout, exactly as the environment file says: the
 * engine from its bundle (`engine.bundle`, for this computer's architecture: local machines are
 * containers of this computer) with `engine.daemon`'s options, the image (the demo images streamed
 * as archives, any other pulled with the environment's registry credentials), and the app
 * container with its env, secrets, volumes, limits, logging and command. Health is left to the
 * rollout's gate, which probes every host from here through the network the traffic takes.
 */
import * as os from "node:os";
import { ConfigError } from "../../core/errors";
import type { ResolvedCompose } from "../../model/app";
import { deploymentOf } from "../../model/deployment";
import { DEB_ARCHES } from "../../model/engine";
import type { Environment } from "../../model/environment";
import type { ResolvedSecrets } from "../../model/secret-resolve";
import { provisionHosts } from "../../provisioner/apply-host";
import { bundleSourceOf, resolveBundle, verifyBundleInput, type BundleDeps } from "../../provisioner/provision-inputs";
import type { BundleRef, ImageSource } from "../../provisioner/steps/engine-context";
import type { BlobDeliveryReport } from "../../provisioner/layers/blob-delivery";
import { machineGroupSshTargets } from "./machine-group";
import { accessoryExtraHosts } from "./accessory-layout";
import { resolveImageSource } from "./image-source";
import { templateRecipeFor } from "./template-recipe";
import { ensureHostImage, type HostImage } from "./host-image";
import type { LocalPaths } from "./paths";
import type { GroupProvisioner } from "./slot-driver";

/** Node's name for this computer's architecture, as Debian names it. */
const DEBIAN_ARCH: Record<string, (typeof DEB_ARCHES)[number]> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "armhf",
  ia32: "i386",
  ppc64: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
};

/** This computer's Debian architecture (what its local machines run). */
export function localDebianArch(nodeArch: string = os.arch()): (typeof DEB_ARCHES)[number] {
  const arch = DEBIAN_ARCH[nodeArch];
  if (!arch) throw new ConfigError("environment", [{ path: "engine.bundle", message: `longshore builds no engine bundle for this computer's architecture (${nodeArch})` }]);
  return arch;
}

/** How the local provisioner resolves a recipe's bundle, beyond the cache (see provisioner/provision-inputs.ts). */
export type LocalBundleOptions = Pick<BundleDeps, "lock" | "run" | "readFile" | "build">;

/**
 * A {@link GroupProvisioner} for the local machine groups of `env`. `verified` is the bundle
 * directory `engine.bundle` names when the caller verified it already (as input, before any
 * machine was made); a directory not verified yet is verified here, a recipe built or reused as
 * the environment's lock (`options.lock`) says: a pinned bundle in the cache is used with no
 * apt-get. `options` also lets tests inject how apt runs and the controller's sources.
 */
export function localGroupProvisioner(
  env: Environment,
  secrets: ResolvedSecrets,
  paths: LocalPaths,
  verified: BundleRef | null = null,
  options: LocalBundleOptions & {
    /** `DOCKER_HOST` (the `engine` image source's engine). @default the engine's default socket */
    dockerHost?: string;
    /** Where the image source was chosen (`app.imageFrom` in the file, or `--from`), for errors about it. @default app.imageFrom */
    imageFromNamedBy?: { source: string; key: string };
    /** How each group's hosts got a layered image's blobs (progress, tests, benchmarks). @default none */
    onDelivered?: (hosts: Array<BlobDeliveryReport & { host: string }>) => void;
    /**
     * Records that a group runs `ref` as `imageId` (the environment's `longshore.lock`), once its
     * hosts are provisioned. @default nothing is recorded
     */
    recordImage?: (ref: string, imageId: string) => Promise<void>;
    /** A Compose app's file (`app.compose`), read and checked with the environment. @default none */
    compose?: ResolvedCompose | null;
  } = {},
): GroupProvisioner {
  const { dockerHost, imageFromNamedBy, onDelivered, recordImage, compose, ...bundleOptions } = options;
  // One verified bundle and one image source per process: every group of this environment reuses them.
  let bundle: Promise<BundleRef | null> | undefined = verified === null ? undefined : Promise.resolve(verified);
  const images = new Map<string, ImageSource>();
  // The host image fresh groups boot from (env.local.hostImage), settled by prepare after the bundle.
  let hostImage: HostImage | null = null;
  const arch = localDebianArch();
  const prepare = async (image: string, progress: (line: string) => void) => {
    bundle ??= (async () => {
      const source = bundleSourceOf(env.engine);
      if (source === null) return null;
      if (typeof source !== "function" && "dir" in source) return verifyBundleInput(source.dir, "environment");
      return resolveBundle(typeof source === "function" ? source(arch) : source, { ...bundleOptions, cacheDir: paths.cacheDir, createdBy: "longshore local", log: progress });
    })();
    // A failed bundle build is not remembered: the next rollout tries again.
    bundle.catch(() => (bundle = undefined));
    const resolved = await bundle;
    if (env.local.hostImage && resolved !== null && hostImage === null) {
      hostImage = await ensureHostImage({ paths, engine: env.engine, bundle: resolved, recipe: templateRecipeFor(env.hosts.os), progress });
    }
    if (!images.has(image)) {
      const options = { ...(dockerHost !== undefined ? { dockerHost } : {}), ...(imageFromNamedBy !== undefined ? { imageFromNamedBy } : {}), ...(compose ? { compose } : {}) };
      images.set(image, await resolveImageSource(image, paths.cacheDir, env, secrets, progress, options));
    }
  };
  /** A running group's hosts, or none when its state is gone (lending is only ever a saving). */
  const lenderTargets = (group: string) => {
    try {
      return machineGroupSshTargets(group, paths);
    } catch {
      return [];
    }
  };
  return {
    prepare,
    hostImage: () => hostImage,
    async provision(group, _hosts, image, slot, progress, lenders = []) {
      await prepare(image, progress);
      const targets = machineGroupSshTargets(group, paths);
      const deployment = deploymentOf(env, secrets, image, compose ?? null);
      progress(`provisioning ${targets.map((t) => t.name).join(", ")} with ${image}`);
      const delivered: Array<BlobDeliveryReport & { host: string }> = [];
      // What each host's steps did, for its summary line: on a host booted from a host image the
      // engine steps are all unchanged, and the line says so.
      const done = new Map<string, { changed: string[]; unchanged: number }>();
      const result = await provisionHosts({
        targets,
        engine: env.engine,
        app: deployment.app,
        registry: deployment.registry,
        image: images.get(image)!,
        // The app's containers reach each accessory by its name (its machine, made before this group).
        extraHosts: accessoryExtraHosts(env, paths),
        bundle: (await bundle) ?? null,
        slot,
        mode: "apply",
        healthDeadlineMs: env.rollout.healthDeadlineSeconds * 1000,
        omitSteps: ["app.health"],
        lenders: lenders.flatMap((g) => lenderTargets(g)),
        onEvent: (e) => {
          if (e.type === "step-done") {
            const d = done.get(e.host) ?? { changed: [], unchanged: 0 };
            done.set(e.host, d);
            if (e.status === "changed") d.changed.push(e.stepId);
            else if (e.status === "unchanged") d.unchanged++;
          } else if (e.type === "host-done") {
            const d = done.get(e.host);
            const what = d ? ` (changed: ${d.changed.join(", ") || "nothing"}; ${d.unchanged} unchanged)` : "";
            progress(`${e.host}: ${e.status} in ${(e.durationMs / 1000).toFixed(1)} s${what}`);
          }
          else if (e.type === "step-progress") progress(`${e.host}: ${e.stepId}: ${e.message}`);
          else if (e.type === "image-delivered") delivered.push({ host: e.host, ...e.delivery });
        },
      });
      onDelivered?.(delivered);
      if (result.error) throw result.error;
      const source = images.get(image)!;
      const imageId = source.imageId;
      if (recordImage && imageId) await recordImage(image, imageId);
      // A Compose app's other images delivered as layers are pinned too (registry ones are pinned by digest already).
      if (recordImage && source.source === "layers") for (const [ref, id] of Object.entries(source.companions ?? {})) await recordImage(ref, id);
    },
  };
}
