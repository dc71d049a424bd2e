/**
 * The environment: one application's desired state, reviewed in git (`longshore.yaml`), the same
 * on every driver. The CLI, the local driver, the `web` Pulumi program and the aws driver all read
 * it through this schema; nothing else describes the app, its engine or its registry.
 */
import { z } from "zod";
import { accessoriesSchema, accessoryNameProblems } from "./accessory";
import { appSpecSchema } from "./app";
import { awsSchema, MAX_AWS_SLOT_SIZE } from "./aws";
import { engineOptionsSchema, isBundleDirectory } from "./engine";
import { imageReferenceSchema, isRegistryOf, parseImageReference, registryOf } from "./image-reference";
import { environmentNameSchema, SLOTS, slotNameSchema } from "./names";
import { listenAddressSchema } from "./net";
import { REGISTRY_SERVER, registrySpecSchema } from "./registry";

/** Most hosts a slot may have on the local driver (the bridge's /24 holds both slots and more). */
export const MAX_LOCAL_SLOT_SIZE = 50;

const slotSchema = z.strictObject({
  /** The image this slot runs; null when the slot has no hosts. Written by rollouts. @default null */
  image: imageReferenceSchema.nullable().default(null),
  /** Hosts in the slot when it runs an image. @default 2 */
  size: z.number().int().min(1).max(MAX_AWS_SLOT_SIZE).default(2),
});

/** Longest a `rollout.beforeSwitch` hook may run: a day. */
export const MAX_HOOK_TIMEOUT_SECONDS = 86_400;

/**
 * `rollout.beforeSwitch`: a command run once before traffic moves (docs/rollouts.md, "The
 * before-switch hook"), e.g. the app's database migration.
 */
export const beforeSwitchSchema = z.strictObject({
  /**
   * The whole argv, run instead of the image's ENTRYPOINT and CMD (`docker run --entrypoint
   * PROGRAM IMAGE ARGS...`): `[bin/rails, db:migrate]`. To go through an entrypoint script, name
   * it first.
   */
  command: z
    .array(z.string().regex(/^[^\0]*$/, "must not contain a NUL character"))
    .min(1, "must name a program: [PROGRAM, ARGS...]")
    .refine((argv) => argv[0] !== "", "must name a program: [PROGRAM, ARGS...] (the program is empty)"),
  /** Compose apps only (`app.compose`): the service whose container the hook is like. @default app.service */
  service: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Compose service name (letters, digits, '_', '.', '-')")
    .optional(),
  /** How long the hook may run before it is stopped and the rollout aborted. @default 600 */
  timeoutSeconds: z.number().positive().max(MAX_HOOK_TIMEOUT_SECONDS).default(600),
});

/** A parsed `rollout.beforeSwitch`, defaults filled in. */
export type BeforeSwitchHook = z.output<typeof beforeSwitchSchema>;

/** How rollouts behave (`rollout:`). */
export const rolloutPolicySchema = z.strictObject({
  /** How long new hosts may take to pass the health gate. @default 120 */
  healthDeadlineSeconds: z.number().positive().max(3600).default(120),
  /** How long the new slot serves traffic under watch before the old one may go. @default 30 */
  soakSeconds: z.number().min(0).max(86_400).default(30),
  /** How long requests in flight to the old slot get after the switch. @default 5 */
  drainSeconds: z.number().min(0).max(3600).default(5),
  /** Keep the old slot's hosts after a rollout for an instant `longshore rollback`. @default true */
  keepPrevious: z.boolean().default(true),
  /**
   * A command (a migration) run once, in a new container like the app's, on the first new host,
   * after the health gate and before the traffic switch; a failure aborts the rollout.
   * @default none (no hook)
   */
  beforeSwitch: beforeSwitchSchema.optional(),
});

/** `local:`: the local driver's load balancer. */
export const localSchema = z.strictObject({
  /** Where HAProxy listens on this computer. @default "127.0.0.1:8080" */
  listen: listenAddressSchema.default({ address: "127.0.0.1", port: 8080 }),
  /**
   * Boot machines from a host image: the template with the engine installed from the bundle and
   * configured (made once per bundle and engine options, then cached), so a rollout's fresh
   * machines start with the engine ready. @default true
   */
  hostImage: z.boolean().default(true),
});

/** The host operating systems longshore provisions, and the Debian release (suite) of each. */
export const HOST_OS = { "debian-12": "bookworm", "debian-13": "trixie" } as const;

/** A host operating system. */
export type HostOs = keyof typeof HOST_OS;

/** `hosts:`: what every host of the environment runs. */
export const hostsSchema = z.strictObject({
  /**
   * The hosts' operating system: the local driver's machine template, the AWS fleets' AMI, and
   * the default engine bundle recipe (`debian-bookworm` or `debian-trixie`: Debian 13's engine
   * 26 with the real Compose v2). Files without it keep Debian 12, so an existing environment
   * and its `longshore.lock` pins do not move; `longshore local demo` writes `debian-13`.
   * @default "debian-12"
   */
  os: z.enum(Object.keys(HOST_OS) as [HostOs, ...HostOs[]]).default("debian-12"),
});

/** The engine bundle recipe a host OS defaults to. */
export function defaultBundleRecipe(os: HostOs): string {
  return `debian-${HOST_OS[os]}`;
}

/** Schema of an environment file. Strict: an unknown key is an error, never ignored. */
export const environmentSchema = z.preprocess(defaultBundleFromOs, z
  .strictObject({
    /** 1-12 lower-case letters, digits or '-': names machines, state, stacks and tags. */
    name: environmentNameSchema,
    /** `local` (machines on this computer) or `aws` (the `web` Pulumi program). @default "local" */
    driver: z.enum(["local", "aws"]).default("local"),
    app: appSpecSchema,
    /**
     * Stateful services beside the app (a database, a cache): each on a long-lived host of its
     * own that rollouts never replace, reached by the app under its name (model/accessory.ts).
     * @default {} (none)
     */
    accessories: accessoriesSchema.default({}),
    /** What the hosts run. @default { os: debian-12 } */
    hosts: hostsSchema.prefault({}),
    /** Credentials for pulling the app's image. @default none (public images, or images delivered as archives) */
    registry: registrySpecSchema.optional(),
    /** How the engine is installed and configured on every host. @default { channel: bundle, daemon: {} } */
    engine: engineOptionsSchema.prefault({}),
    /** What each slot runs (written by rollouts). @default both empty, size 2 */
    slots: z.strictObject({ blue: slotSchema.prefault({}), green: slotSchema.prefault({}) }).prefault({}),
    /** The slot that receives traffic; null before the first rollout. @default null */
    live: slotNameSchema.nullable().default(null),
    rollout: rolloutPolicySchema.prefault({}),
    local: localSchema.prefault({}),
    /** Required with `driver: aws`. */
    aws: awsSchema.optional(),
  })
  .superRefine((env, ctx) => {
    // A recipe for another release than the hosts' would be refused by every host's facts probe.
    const recipe = env.engine.channel === "bundle" && !isBundleDirectory(env.engine.bundle) ? /^debian-([a-z]+)/.exec(env.engine.bundle)?.[1] : undefined;
    if (recipe !== undefined && recipe !== HOST_OS[env.hosts.os]) {
      ctx.addIssue({ code: "custom", path: ["engine", "bundle"], message: `is for Debian ${recipe}; hosts.os is ${env.hosts.os} (${HOST_OS[env.hosts.os]}): use ${defaultBundleRecipe(env.hosts.os)}, or leave engine.bundle out` });
    }
    if (env.app.compose !== undefined && env.hosts.os === "debian-12") {
      ctx.addIssue({ code: "custom", path: ["app", "compose"], message: "needs hosts.os: debian-13 (Debian 12 has no Compose v2: only the old Python docker-compose 1.29)" });
    }
    if (env.app.compose !== undefined && env.engine.channel === "distro") {
      ctx.addIssue({ code: "custom", path: ["engine", "channel"], message: "must be bundle for a Compose app (app.compose): the debian-trixie bundle carries Compose v2; the distro channel installs the engine only" });
    }
    if (env.app.compose !== undefined && env.driver === "aws") {
      ctx.addIssue({ code: "custom", path: ["app", "compose"], message: "is not supported by the aws driver yet: Compose apps run on the local driver" });
    }
    if (env.rollout.beforeSwitch?.service !== undefined && env.app.compose === undefined) {
      ctx.addIssue({ code: "custom", path: ["rollout", "beforeSwitch", "service"], message: "is for Compose apps (app.compose): a single-container app's hook runs like its one container; leave it out" });
    }
    for (const p of accessoryNameProblems(env.name, env.app.name, Object.keys(env.accessories))) ctx.addIssue({ code: "custom", ...p });
    if (env.live !== null && env.slots[env.live].image === null) {
      ctx.addIssue({ code: "custom", path: ["live"], message: `the live slot (${env.live}) has no image` });
    }
    // Compared only when both are well-formed: a malformed one is reported at its own path already.
    const wellFormed = env.registry && REGISTRY_SERVER.test(env.registry.server) && parseImageReference(env.app.image).ok;
    if (env.registry && wellFormed && !isRegistryOf(env.registry.server, env.app.image)) {
      ctx.addIssue({
        code: "custom",
        path: ["registry", "server"],
        message: `is not the registry of app.image (${env.app.image} is pulled from ${registryOf(env.app.image)})`,
      });
    }
    if (env.driver === "aws") {
      if (env.app.imageFrom !== "registry") {
        ctx.addIssue({
          code: "custom",
          path: ["app", "imageFrom"],
          message: "must be registry with driver: aws (its hosts pull the image; engine and archive deliveries work on the local driver)",
        });
      }
      // A target group's matcher takes 200-499.
      if (env.app.health.status < 200 || env.app.health.status > 499) {
        ctx.addIssue({ code: "custom", path: ["app", "health", "status"], message: "must be from 200 to 499 with driver: aws (what a load balancer's health check accepts)" });
      }
      if (env.aws === undefined) ctx.addIssue({ code: "custom", path: ["aws"], message: "is required with driver: aws (region, sshPublicKey, adminCidrs...)" });
      if (Object.keys(env.accessories).length > 0) {
        ctx.addIssue({ code: "custom", path: ["accessories"], message: "is not supported by the aws driver yet (accessories run on the local driver)" });
      }
      // The rollout engine refuses it too (before any host exists); said here, with the file's path.
      if (env.rollout.beforeSwitch !== undefined) {
        ctx.addIssue({ code: "custom", path: ["rollout", "beforeSwitch"], message: "is not supported by the aws driver yet (the local driver runs it)" });
      }
      // A host image is named by the bundle longshore.lock pins for the recipe: it needs both.
      if (env.aws?.hostImage === true && env.engine.channel !== "bundle") {
        ctx.addIssue({ code: "custom", path: ["aws", "hostImage"], message: "needs engine.channel: bundle (the image holds the pinned engine bundle; distro has none)" });
      } else if (env.aws?.hostImage === true && typeof env.engine.bundle === "string" && isBundleDirectory(env.engine.bundle)) {
        ctx.addIssue({ code: "custom", path: ["aws", "hostImage"], message: "needs engine.bundle to be a recipe name such as debian-bookworm (the image holds the bundle longshore.lock pins for it)" });
      }
      const w = env.aws?.weights;
      if (w !== undefined) {
        if (env.live === null) ctx.addIssue({ code: "custom", path: ["aws", "weights"], message: "needs live: a split is between the live slot and the other one" });
        else if (w[env.live] === 0) ctx.addIssue({ code: "custom", path: ["aws", "weights", env.live], message: "must be more than 0 for the live slot" });
        for (const slot of SLOTS) {
          if (w[slot] > 0 && env.slots[slot].image === null) {
            ctx.addIssue({ code: "custom", path: ["aws", "weights", slot], message: `must be 0 while slots.${slot} has no image` });
          }
        }
      }
    } else {
      for (const slot of SLOTS) {
        if (env.slots[slot].size > MAX_LOCAL_SLOT_SIZE) {
          ctx.addIssue({ code: "custom", path: ["slots", slot, "size"], message: `must be at most ${MAX_LOCAL_SLOT_SIZE} on the local driver` });
        }
      }
      const pulumiOnly = "is read by the web Pulumi program only (driver: aws); use { env }, { file } or { command } on the local driver";
      for (const [key, source] of Object.entries(env.app.secrets)) {
        if ("pulumi" in source) ctx.addIssue({ code: "custom", path: ["app", "secrets", key], message: pulumiOnly });
      }
      if (env.registry && "pulumi" in env.registry.password) ctx.addIssue({ code: "custom", path: ["registry", "password"], message: pulumiOnly });
      for (const [name, accessory] of Object.entries(env.accessories)) {
        for (const [key, source] of Object.entries(accessory.secrets)) {
          if ("pulumi" in source) ctx.addIssue({ code: "custom", path: ["accessories", name, "secrets", key], message: pulumiOnly });
        }
      }
    }
  }));

/**
 * `engine.bundle` left out follows `hosts.os` (the engine schema alone defaults to bookworm's).
 * Only fills a gap in well-shaped input: anything else is left for the schema to report.
 */
function defaultBundleFromOs(input: unknown): unknown {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return input;
  const raw = input as Record<string, unknown>;
  const os = (raw["hosts"] as Record<string, unknown> | undefined)?.["os"];
  if (typeof os !== "string" || !(os in HOST_OS)) return input;
  const engine = raw["engine"] ?? {};
  if (engine === null || typeof engine !== "object" || Array.isArray(engine)) return input;
  const e = engine as Record<string, unknown>;
  if (e["bundle"] !== undefined || (e["channel"] ?? "bundle") !== "bundle") return input;
  return { ...raw, engine: { ...e, bundle: defaultBundleRecipe(os as HostOs) } };
}

/** A parsed environment, defaults filled in; secrets are still sources. */
export type Environment = z.output<typeof environmentSchema>;
