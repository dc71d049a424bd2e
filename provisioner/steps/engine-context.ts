/**
 * What the engine and app steps plan from: host facts (probed once per host before planning),
 * validated config, the verified bundle, the image to deliver, and the few values that make the
 * plan reproducible (`now`, `auditUser`, `planHash` are passed in, never read inside a plan).
 */
import type { ResolvedApp } from "../../model/app";
import type { EngineOptions } from "../../model/engine";
import type { ResolvedRegistry } from "../../model/registry";
import type { BundleManifest } from "../bundle/manifest";
import type { LayeredImage } from "../layers/layered-image";

/** What longshore needs to know about a host before planning (picked from the one facts probe by `engineHostFacts`, `engine-facts.ts`). */
export interface HostFacts {
  /** dpkg's architecture name (`amd64`, `arm64`). */
  arch: string;
  /** `/etc/os-release` ID (`debian`, `ubuntu`). */
  osId: string;
  /** `/etc/os-release` VERSION_ID (`12`). */
  osVersionId: string;
  /** `/etc/os-release` VERSION_CODENAME (`bookworm`). */
  osCodename: string;
  /** 2 when /sys/fs/cgroup is cgroup2fs (unified), else 1 (legacy or hybrid). */
  cgroupVersion: 1 | 2;
  /** systemd is PID 1 (`/run/systemd/system` exists). */
  systemd: boolean;
  /** The installed engine package's version (docker.io or docker-ce), or null. */
  engineVersion: string | null;
  /** CPUs the host has, or null when unknown. */
  cpus: number | null;
  /** The host's memory in bytes. */
  memoryBytes: number;
}

/**
 * The image to run: blobs in the controller's cache (delivered layer by layer), a `docker save`
 * archive on the controller (streamed whole), or a reference to pull; with, for a Compose app, its
 * other services' images ({@link CompanionImages}).
 */
export type ImageSource = (SingleImageSource) & {
  /**
   * A Compose app's other images: each reference as the Compose file writes it → what the hosts
   * run it as (the image ID of a layered delivery, whose blobs are in `layers.also`; a
   * digest-pinned reference pulled with the app's). @default none
   */
  companions?: CompanionImages;
};

/** A Compose file's image reference → what the hosts run it as. */
export type CompanionImages = Readonly<Record<string, string>>;

/** One image's source. */
export type SingleImageSource =
  | {
      source: "layers";
      /** The image as blobs: what the hosts' stores must hold before `image.layers` loads it. */
      layers: LayeredImage;
      /** The controller's cache directory whose blob cache holds them. */
      cacheDir: string;
      /** The image ID (`layers.imageId`). */
      imageId: string;
    }
  | {
      source: "archive";
      /** `docker save` output on the controller (`.tar`, or already gzip-compressed `.tar.gz`/`.tgz`). */
      localPath: string;
      /** The image ID (`sha256:<64 hex>`) the archive loads as. */
      imageId: string;
    }
  | {
      source: "registry";
      /** What to pull; pin with `@sha256:` for immutable rollouts. */
      ref: string;
      /** When known, the image ID the pull must produce (checked, and used to skip the pull). */
      imageId?: string;
    };

/** A bundle that passed `verifyBundle`: its directory on the controller and its manifest. */
export interface BundleRef {
  dir: string;
  manifest: BundleManifest;
}

/** Everything the engine and app steps plan from. */
export interface ProvisionContext {
  facts: HostFacts;
  engine: EngineOptions;
  /** Required when `engine.channel` is `bundle`; ignored for `distro`. */
  bundle: BundleRef | null;
  /** The app; `app.image` is what this host runs. Secrets are {@link Sensitive} values. */
  app: ResolvedApp;
  /** Credentials for pulling `app.image`, or null. */
  registry: ResolvedRegistry | null;
  /** How the image gets to the host. */
  image: ImageSource;
  /** The release label (`releaseLabel(app.image)`): names the container and labels it. */
  release: string;
  /** The slot this host serves (`blue`, `green`). */
  slot: string;
  /** How long `app.health` waits for the app (the environment's `rollout.healthDeadlineSeconds`). */
  healthDeadlineMs: number;
  /** Who runs this (for the audit line): e.g. `$USER@controller`. */
  auditUser: string;
  /** When this run started, ISO-8601 (for the audit line; plans never read the clock). */
  now: string;
  /** Hash of the desired app state, put on the container as a label. Must not depend on the label itself. */
  planHash?: string;
  /**
   * Names the app's containers resolve to fixed addresses (`--add-host`, Compose `extra_hosts`):
   * the environment's accessories, so `db` reaches the database host from every app host.
   * @default [] (none)
   */
  extraHosts?: readonly ExtraHost[];
}

/** One name an app container resolves to a fixed address. */
export interface ExtraHost {
  /** A DNS name (an accessory's name). */
  name: string;
  /** Its IPv4 address. */
  address: string;
}

/** Paths longshore owns on a host. */
export const HOST_PATHS = {
  bundleRoot: "/var/lib/longshore/bundle",
  engineState: "/var/lib/longshore/engine",
  /**
   * What config the running dockerd read: `start <digest>` written by systemd each time docker
   * starts, then `reload <digest>` per reload (engine-start.ts). Never written by a step itself.
   */
  runningConfig: "/var/lib/longshore/engine/running-config",
  /**
   * What the running dockerd reported right after its start (`pid <MainPID>`, then the facts of
   * engine-verify.ts's ENGINE_FACT_FORMATS, a line each): written by the recorder after each start
   * (ExecStartPost), removed at each start and reload, read by engine.verify for the same PID.
   */
  runningFacts: "/var/lib/longshore/engine/running-facts",
  /** The script systemd runs at each docker start and reload to write {@link HOST_PATHS.runningConfig}. */
  recordConfigScript: "/var/lib/longshore/engine/record-config.sh",
  daemonJson: "/etc/docker/daemon.json",
  hostsDropIn: "/etc/systemd/system/docker.service.d/longshore-hosts.conf",
  /** The drop-in that makes docker.service run {@link HOST_PATHS.recordConfigScript}. */
  recordDropIn: "/etc/systemd/system/docker.service.d/longshore-record.conf",
  /** Env files, one directory per app: `<appEnvDir>/<app>/<app>-<release>.env` (0600). */
  appEnvDir: "/etc/longshore/apps",
  auditLog: "/var/log/longshore/audit.log",
  /** Image blobs by sha256 (`sha256/<hex>`), kept for the host's peers and its next deliveries. */
  blobStore: "/var/lib/longshore/blobs",
} as const;

/** The verified bundle, or an error saying the plan cannot be made without one. */
export function requireBundle(ctx: Pick<ProvisionContext, "bundle" | "engine">): BundleRef {
  if (!ctx.bundle) throw new Error(`engine.channel is ${ctx.engine.channel} but no verified bundle was given to the plan`);
  return ctx.bundle;
}
