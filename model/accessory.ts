/**
 * Accessories: the stateful services beside the app (a database, a cache), `accessories:` in the
 * environment file. Each runs as one container on a long-lived host of its own that app rollouts
 * never replace, and the app's containers reach it by its name.
 *
 * Its `command`, `env`, `secrets` and `volumes` are the app's keys with the app's rules (taken from
 * model/app.ts, not restated). What differs: `port` is required (there is no sensible default for a
 * database), the health check is the port answering on the accessory's host (plus an optional
 * command run in the container) instead of HTTP, and every volume's data lives in the accessory
 * host's data directory, which outlives the container and the host (see {@link accessoryVolume}).
 */
import { z } from "zod";
import type { Sensitive } from "../core/sensitive";
import { appShape, parseResolvedApp, refineApp, type ResolvedApp, type VolumeSpec } from "./app";
import { volumeText } from "./deployment";
import { imageReferenceSchema } from "./image-reference";
import { dnsLabelSchema } from "./names";
import { portSchema, RESERVED_HOST_PORTS } from "./net";
import { secretSourceSchema } from "./secret";

/** The app's keys with secret sources: accessories take theirs from here. */
const app = appShape(secretSourceSchema);


/** Longest an accessory may take to become healthy: an hour. */
export const MAX_ACCESSORY_HEALTH_SECONDS = 3600;

const accessoryHealthSchema = z.strictObject({
  /**
   * Run in the container (`docker exec`) once the port answers; healthy when it exits 0, e.g.
   * `[redis-cli, ping]` or `[pg_isready, -U, postgres]`. @default none: the port answering is enough
   */
  command: z
    .array(z.string().regex(/^[^\0]*$/, "must not contain a NUL character"))
    .min(1, "must name a program: [PROGRAM, ARGS...]")
    .refine((argv) => argv[0] !== "", "must name a program: [PROGRAM, ARGS...] (the program is empty)")
    .optional(),
  /** How long the accessory may take to become healthy after its container starts. @default 60 */
  deadlineSeconds: z.number().positive().max(MAX_ACCESSORY_HEALTH_SECONDS).default(60),
});

/**
 * `accessories.<name>.host`: the accessory's host. On the local driver it is one machine of its
 * own, booted like the slots' machines (the same template or host image); no key changes that yet.
 */
const accessoryHostSchema = z.strictObject({});

/** One accessory as the environment file writes it (secrets are sources). */
export const accessorySpecSchema = z
  .strictObject({
    /** The image it runs. Changed only by `longshore accessory upgrade NAME IMAGE`, which writes it back here. */
    image: imageReferenceSchema,
    /** The port it listens on in its container; published on its host at the same number, where the app reaches it. */
    port: portSchema.superRefine((port, ctx) => {
      const owner = RESERVED_HOST_PORTS[port];
      if (owner !== undefined) ctx.addIssue({ code: "custom", message: `must not be ${port}: ${owner} uses it on the accessory's host` });
    }),
    /** Replaces the image's CMD. @default the image's */
    command: app.command,
    /** Plain environment variables. @default {} */
    env: app.env,
    /** Secret environment variables: where each value comes from (never the value). @default {} */
    secrets: app.secrets,
    /**
     * `SOURCE:TARGET[:ro|rw]`, as for the app; every source lives in the accessory's data
     * directory (a named volume in `volumes/NAME`, a host path in `paths/PATH`). @default []
     */
    volumes: app.volumes,
    /** Its host. @default {} (one machine of its own on the local driver) */
    host: accessoryHostSchema.prefault({}),
    /** When it counts as up. @default { deadlineSeconds: 60 } (the port answering on its host) */
    health: accessoryHealthSchema.prefault({}),
  })
  .superRefine(refineApp);

/** `accessories:`: name (a DNS label: what the app's containers resolve) -> accessory. */
export const accessoriesSchema = z.record(dnsLabelSchema, accessorySpecSchema);

/** A validated accessory, secrets as sources. */
export type AccessorySpec = z.output<typeof accessorySpecSchema>;

/** Between the environment's name and the accessory's in its machine group's name. */
export const ACCESSORY_GROUP_INFIX = "-acc-";

/** Longest machine group name (model/names.ts machineGroupNameSchema). */
const MAX_GROUP_NAME = 24;

/** The local machine group of an accessory: `<env>-acc-<name>`. Pure. */
export function accessoryGroupName(env: string, name: string): string {
  return `${env}${ACCESSORY_GROUP_INFIX}${name}`;
}

/**
 * Problems of the accessories that depend on the rest of the environment, each with its path
 * under `accessories`: a name the app has, or one whose machine group name would be too long.
 * (Driver rules, `pulumi` sources and `driver: aws`, are the environment schema's.) Pure.
 */
export function accessoryNameProblems(envName: string, appName: string, names: readonly string[]): Array<{ path: string[]; message: string }> {
  const out: Array<{ path: string[]; message: string }> = [];
  for (const name of names) {
    if (name === appName) out.push({ path: ["accessories", name], message: `must not be named like the app (app.name: ${appName}): both would answer to that name` });
    const group = accessoryGroupName(envName, name);
    if (group.length > MAX_GROUP_NAME) {
      const most = MAX_GROUP_NAME - accessoryGroupName(envName, "").length;
      out.push({ path: ["accessories", name], message: `is too long for this environment: its machine group ${group} has more than ${MAX_GROUP_NAME} characters (at most ${most} here)` });
    }
  }
  return out;
}

/**
 * Where a volume's source lives on the accessory's host: under `dataDir` (the host's directory
 * that outlives its containers and, on the local driver, the host itself), a named volume in
 * `volumes/NAME` and a host path in `paths/PATH`. Always a bind mount, so the data is a plain
 * directory the operator can see and back up. Pure.
 */
export function accessoryVolume(v: VolumeSpec, dataDir: string): VolumeSpec {
  const source = v.kind === "volume" ? `${dataDir}/volumes/${v.source}` : `${dataDir}/paths${v.source === "/" ? "" : v.source}`;
  return { kind: "bind", source, target: v.target, readOnly: v.readOnly };
}

/**
 * The accessory as the provisioner's app (one container through the app's own steps): its name,
 * `image` (default the file's), command, port (published at the same number), env, the secret
 * `values` read from its sources, its volumes moved into `dataDir` ({@link accessoryVolume}), and
 * `restart: unless-stopped`. Everything else takes the app schema's defaults; its HTTP health
 * check is not used (the accessory's is the port). Pure; throws a ConfigError only for a value the
 * model refused already.
 */
export function accessoryApp(name: string, spec: AccessorySpec, values: Readonly<Record<string, Sensitive>>, dataDir: string, image: string = spec.image): ResolvedApp {
  return parseResolvedApp(
    {
      name,
      image,
      ...(spec.command !== undefined ? { command: spec.command } : {}),
      port: spec.port,
      env: spec.env,
      secrets: { ...values },
      volumes: spec.volumes.map((v) => volumeText(accessoryVolume(v, dataDir))),
      restart: "unless-stopped",
    },
    `accessory ${name}`,
    `accessories.${name}`,
  );
}
