/**
 * The application: one container per host from one image, as the environment file says it
 * (`app:`), with everything a real app needs: command, ports, env, secrets, volumes, resource
 * limits, logging and its health check. Every key uses the engine's own vocabulary so users can
 * look it up in Docker's documentation.
 *
 * One concept, two stages: {@link appSpecSchema} holds secret *sources* (what a user writes);
 * {@link resolvedAppSchema} holds secret *values* as {@link Sensitive} (what the provisioner and
 * the Pulumi provider take). Both come from {@link appSchemaWith}, so they cannot disagree.
 */
import { z } from "zod";
import { healthSchema } from "./health";
import { DEFAULT_IMAGE_FROM, imageFromSchema } from "./image-from";
import { imageReferenceSchema } from "./image-reference";
import { dnsLabelSchema, envVarNameSchema } from "./names";
import { portSchema } from "./net";
import { envFileSizeProblem, envValueProblem, secretSourceSchema, secretValueSchema } from "./secret";
import { Sensitive } from "../core/sensitive";
import { parseOrThrow } from "./zod-issues";

const NO_NUL = "must not contain a NUL character";
const argv = z.array(z.string().regex(/^[^\0]*$/, NO_NUL));

/** A plain env value: strings, numbers and booleans are written as text. */
const envValue = z.union([z.string(), z.number(), z.boolean()], "must be a string, number or boolean").transform((v) => String(v));

// ---------------------------------------------------------------------------------------------
// Volumes

const NAMED_VOLUME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const VOLUME_MESSAGE = "must be SOURCE:TARGET[:ro|rw], SOURCE an absolute host path or a volume name, TARGET an absolute path in the container";

/** A parsed volume: a host directory (bind mount) or a named volume of the engine. */
export interface VolumeSpec {
  kind: "bind" | "volume";
  /** The host path (`bind`) or the volume's name (`volume`). */
  source: string;
  /** The absolute path in the container. */
  target: string;
  readOnly: boolean;
}

/** Parses `SOURCE:TARGET[:ro|rw]`, or says what is wrong. Pure. */
export function parseVolume(text: string): { ok: true; value: VolumeSpec } | { ok: false; message: string } {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3) return { ok: false, message: VOLUME_MESSAGE };
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (mode !== undefined && mode !== "ro" && mode !== "rw") return { ok: false, message: `mode must be ro or rw (got ${JSON.stringify(mode)})` };
  const badPath = (p: string) => !/^\/[^\0\n\r,]*$/.test(p) || p.split("/").includes("..");
  if (badPath(target)) return { ok: false, message: "target must be an absolute path in the container, without '..' or ','" };
  if (target === "/") return { ok: false, message: "target must not be / (the container's root)" };
  if (source.startsWith("/")) {
    if (badPath(source)) return { ok: false, message: "source must be an absolute host path without '..' or ','" };
    return { ok: true, value: { kind: "bind", source, target, readOnly: mode === "ro" } };
  }
  if (!NAMED_VOLUME.test(source) || source.length < 2) {
    return { ok: false, message: "source must be an absolute host path or a volume name (letters, digits, '_', '.', '-'; at least 2)" };
  }
  return { ok: true, value: { kind: "volume", source, target, readOnly: mode === "ro" } };
}

const volumeSchema = z.string().transform((v, ctx) => {
  const r = parseVolume(v);
  if (!r.ok) {
    ctx.addIssue({ code: "custom", message: r.message });
    return z.NEVER;
  }
  return r.value;
});

// ---------------------------------------------------------------------------------------------
// Resources and logging

/** The engine's smallest memory limit. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes of a size as the engine writes it (`512m`, `1g`, `65536`), or null. Pure. */
export function parseByteSize(text: string): number | null {
  const m = /^([1-9][0-9]{0,12})([bkmg]?)$/i.exec(text);
  return m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : null;
}

const memorySchema = z.string().superRefine((v, ctx) => {
  const bytes = parseByteSize(v);
  if (bytes === null) ctx.addIssue({ code: "custom", message: "must be a size like 512m or 1g (a number and b, k, m or g)" });
  else if (bytes < MIN_MEMORY_BYTES) ctx.addIssue({ code: "custom", message: "must be at least 6m (the engine's smallest limit)" });
});

const resourcesSchema = z.strictObject({
  /** The container's memory limit (`--memory`), e.g. `512m`. @default no limit */
  memory: memorySchema.optional(),
  /** CPUs the container may use (`--cpus`), e.g. 1.5. @default no limit */
  cpus: z.number().min(0.01).max(1024).optional(),
});

/** Log drivers longshore runs containers with, and the options each takes (the engine's names). */
export const LOG_DRIVER_OPTIONS = {
  "json-file": ["max-size", "max-file", "compress", "labels", "env", "tag", "mode", "max-buffer-size"],
  local: ["max-size", "max-file", "compress", "mode", "max-buffer-size"],
  journald: ["tag", "labels", "env", "env-regex", "mode", "max-buffer-size"],
  syslog: ["syslog-address", "syslog-facility", "syslog-format", "tag", "labels", "env", "mode", "max-buffer-size"],
  none: [],
} as const satisfies Record<string, readonly string[]>;
const SIZE = /^[1-9][0-9]*[kmg]?$/;
const LOG_OPTION_RULES: Record<string, { test: (v: string) => boolean; message: string }> = {
  "max-size": { test: (v) => SIZE.test(v), message: "must be a size like 10m, 512k or 1g" },
  "max-file": { test: (v) => /^[1-9][0-9]{0,3}$/.test(v), message: "must be a whole number of files, as a string (\"3\")" },
  compress: { test: (v) => v === "true" || v === "false", message: "must be \"true\" or \"false\"" },
  mode: { test: (v) => v === "blocking" || v === "non-blocking", message: "must be blocking or non-blocking" },
  "max-buffer-size": { test: (v) => SIZE.test(v), message: "must be a size like 4m" },
  "syslog-address": { test: (v) => /^(tcp|udp|tcp\+tls):\/\/[^\s/]+:[0-9]{1,5}$|^unix(gram)?:\/\/\/\S+$/.test(v), message: "must be tcp|udp|tcp+tls://HOST:PORT or unix:///PATH" },
};

const loggingSchema = z
  .strictObject({
    /** The container's log driver (`--log-driver`). @default the engine's `log-driver` */
    driver: z.enum(Object.keys(LOG_DRIVER_OPTIONS) as [keyof typeof LOG_DRIVER_OPTIONS, ...Array<keyof typeof LOG_DRIVER_OPTIONS>]),
    /** Its options (`--log-opt KEY=VALUE`), values as strings. @default {} */
    options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  })
  .superRefine((l, ctx) => {
    const allowed: readonly string[] = LOG_DRIVER_OPTIONS[l.driver];
    for (const [key, value] of Object.entries(l.options)) {
      if (!allowed.includes(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["options", key],
          message: allowed.length ? `is not an option of the ${l.driver} log driver (${allowed.join(", ")})` : `the ${l.driver} log driver takes no options`,
        });
        continue;
      }
      const rule = LOG_OPTION_RULES[key];
      if (rule && !rule.test(value)) ctx.addIssue({ code: "custom", path: ["options", key], message: rule.message });
      if (/[\0\n\r]/.test(value)) ctx.addIssue({ code: "custom", path: ["options", key], message: "must not contain a newline or NUL" });
    }
  });

// ---------------------------------------------------------------------------------------------
// The app

/** Restart policies (`--restart`). */
export const RESTART_POLICIES = ["no", "always", "unless-stopped", "on-failure"] as const;

/**
 * The app schema with a given schema for secret values: sources in the environment file, resolved
 * values in the provisioner. Everything else is the same.
 */
export function appSchemaWith<S extends z.ZodType>(secret: S) {
  return z.strictObject({ ...appShape(secret), compose: resolvedComposeSchema.optional() }).superRefine(refineApp);
}

/**
 * A Compose app's file as the hosts get it: its exact text, and the name the user knows it by (for
 * messages). Checked by model/compose.ts when the environment was loaded.
 */
export const resolvedComposeSchema = z.strictObject({
  /** The file as the user named it (`compose.yaml`). */
  file: z.string().min(1),
  /** Its exact text. */
  text: z.string().min(1),
});

/** The keys of the app, with a given schema for secret values (accessories, model/accessory.ts, take theirs from here too). */
export function appShape<S extends z.ZodType>(secret: S) {
  return {
    /** The app's name: names containers, env files and labels. A DNS label. */
    name: dnsLabelSchema,
    /**
     * The image to deploy: `longshore up` and `longshore rollout` with no argument put it on the
     * idle slot. For a Compose app, the image of `app.service` (and of every service of the same
     * repository, which follow it).
     */
    image: imageReferenceSchema,
    /**
     * Compose apps: the service that receives traffic (its `app.port` is published on the host
     * and health-gated). Required with `app.compose`. @default none (a single-container app)
     */
    service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Compose service name (letters, digits, '_', '.', '-')").optional(),
    /** Replaces the image's ENTRYPOINT (`[]` clears it). @default the image's */
    entrypoint: argv.optional(),
    /** Replaces the image's CMD. @default the image's */
    command: argv.min(1, "must not be empty (leave it out to keep the image's CMD)").optional(),
    /** The port the app listens on in its container. @default 8080 */
    port: portSchema.default(8080),
    /** The port on the host that the load balancer sends traffic to. @default port */
    hostPort: portSchema.optional(),
    /** Plain environment variables. @default {} */
    env: z.record(envVarNameSchema, envValue).default({}),
    /** Secret environment variables: where each value comes from (never the value). @default {} */
    secrets: z.record(envVarNameSchema, secret).default({}),
    /** `SOURCE:TARGET[:ro|rw]`: a host path or a named volume. @default [] */
    volumes: z.array(volumeSchema).max(64).default([]),
    /** Limits on the container. @default {} (none) */
    resources: resourcesSchema.default({}),
    /** The container's log driver and options. @default the engine's (`engine.daemon.log-driver`) */
    logging: loggingSchema.optional(),
    /** The HTTP health check. @default { path: /healthz, status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 } */
    health: healthSchema.prefault({}),
    /** Seconds the app gets to stop after SIGTERM before it is killed (`--stop-timeout`). @default 10 */
    stopTimeoutSeconds: z.number().int().min(0).max(3600).default(10),
    /** `--restart`. @default "unless-stopped" */
    restart: z.enum(RESTART_POLICIES).default("unless-stopped"),
    /** Run the engine's init (tini) as PID 1 to reap zombies and forward signals (`--init`). @default false */
    init: z.boolean().default(false),
    /** The user the app runs as (`--user`), e.g. `1000` or `app:app`. @default the image's */
    user: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/, "must be USER or USER:GROUP (names or numeric ids)")
      .optional(),
    };
}

/** The single-container keys a Compose app says in its Compose file instead, and what it is called there. */
const CONTAINER_ONLY_KEYS = { entrypoint: "entrypoint", command: "command", user: "user", logging: "logging", volumes: "volumes", resources: "deploy.resources or mem_limit/cpus", init: "init" } as const;

/** The rules across keys: a secret is not also an env value, the env file fits, one volume per target; Compose or not. */
export function refineApp(
  app: { env: Record<string, string>; secrets: Record<string, unknown>; volumes: VolumeSpec[]; compose?: unknown; service?: string | undefined } & Partial<Record<keyof typeof CONTAINER_ONLY_KEYS, unknown>>,
  ctx: z.RefinementCtx,
): void {
    if (app.compose !== undefined && app.service === undefined) ctx.addIssue({ code: "custom", path: ["service"], message: "is required with app.compose: the Compose service that receives traffic" });
    if (app.compose === undefined && app.service !== undefined) ctx.addIssue({ code: "custom", path: ["service"], message: "is for Compose apps: set app.compose too, or leave app.service out" });
    if (app.compose !== undefined) {
      for (const [key, there] of Object.entries(CONTAINER_ONLY_KEYS)) {
        const v = app[key as keyof typeof CONTAINER_ONLY_KEYS];
        const given = v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
        if (given) ctx.addIssue({ code: "custom", path: [key], message: `is for single-container apps: with app.compose, set ${there} on the services in the Compose file` });
      }
    }
    const secrets = app.secrets as Record<string, unknown>;
    for (const key of Object.keys(secrets)) {
      if (Object.hasOwn(app.env, key)) ctx.addIssue({ code: "custom", path: ["secrets", key], message: "is also set in env" });
    }
    const lines: Array<[string, string]> = [];
    for (const [key, value] of Object.entries(app.env)) {
      const problem = envValueProblem(key, value);
      if (problem) ctx.addIssue({ code: "custom", path: ["env", key], message: problem });
      lines.push([key, value]);
    }
    for (const [key, value] of Object.entries(secrets)) {
      if (!(value instanceof Sensitive)) continue;
      const problem = envValueProblem(key, value.reveal());
      // Only the line limit can be new here: the value schema already refused newlines.
      if (problem && !/newline/.test(problem)) ctx.addIssue({ code: "custom", path: ["secrets", key], message: problem });
      lines.push([key, value.reveal()]);
    }
    const size = envFileSizeProblem(lines);
    if (size) ctx.addIssue({ code: "custom", path: ["env"], message: size });
    const targets = new Map<string, number>();
    app.volumes.forEach((v, i) => {
      const seen = targets.get(v.target);
      if (seen !== undefined) ctx.addIssue({ code: "custom", path: ["volumes", i], message: `mounts ${v.target} again (also volumes[${seen}])` });
      else targets.set(v.target, i);
    });
    }

/**
 * The app as the environment file writes it: secrets are sources, and `imageFrom` says where the
 * hosts get the image (a concern of the controller's delivery, so the hosts' app has no such key).
 */
export const appSpecSchema = z
  .strictObject({
    ...appShape(secretSourceSchema),
    /**
     * Run the app as a Compose project: a Compose file (relative to the environment file) that
     * Compose itself runs on every host (`docker compose up`), instead of one container. Needs
     * `hosts.os: debian-13` and `app.service`. @default none (one container from app.image)
     */
    compose: z.string().min(1, "must name a Compose file, e.g. ./compose.yaml").regex(/^[^\0]*$/, NO_NUL).optional(),
    /**
     * Where the hosts get the image: `registry` (they pull it), `engine` (the operator's own
     * engine) or `{ archive: FILE }`; `rollout --from` overrides it. @default "registry"
     */
    imageFrom: imageFromSchema.default(DEFAULT_IMAGE_FROM),
  })
  .superRefine(refineApp);
/** The app with its secrets resolved to {@link Sensitive} values (the provisioner's and the Pulumi provider's input). */
export const resolvedAppSchema = appSchemaWith(secretValueSchema);

/** A validated app, secrets as sources. */
export type AppSpec = z.output<typeof appSpecSchema>;
/** A validated app, secrets as {@link Sensitive} values. */
export type ResolvedApp = z.output<typeof resolvedAppSchema>;
/** What a resolved app may be given as (plain JSON; secrets as clear strings are wrapped at once). */
export type ResolvedAppInput = z.input<typeof resolvedAppSchema>;

/** A Compose app's file as the hosts get it. */
export type ResolvedCompose = z.output<typeof resolvedComposeSchema>;

/** The host port traffic reaches the app on. */
export function hostPortOf(app: Pick<AppSpec, "port" | "hostPort">): number {
  return app.hostPort ?? app.port;
}

/** Parses a resolved app (tests, benchmarks, other processes' JSON); throws a ConfigError listing every problem. */
export function parseResolvedApp(input: unknown, source = "app", prefix = ""): ResolvedApp {
  return parseOrThrow(resolvedAppSchema, input, source, prefix);
}
