/**
 * The application longshore runs on each host: one container from one image, its ports, plain
 * environment, secrets (parsed straight into {@link Sensitive} values, so no error, log or report
 * can print them), restart policy and HTTP health check. Strict: unknown keys are errors.
 */
import { z } from "zod";
import { Sensitive } from "../core/sensitive";
import { parseOrThrow } from "./zod-issues";

// ---------------------------------------------------------------------------------------------
// Image references

/** A parsed `[registry[:port]/]repository[:tag][@sha256:digest]`. */
export interface ImageReference {
  /** `registry.example:5000`, or null for the default registry. */
  registry: string | null;
  /** `library/app`, `team/app`... (lower-case path components). */
  repository: string;
  tag: string | null;
  /** `sha256:<64 hex>`, or null. */
  digest: string | null;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses an image reference the way the engine's reference grammar does, refusing upper-case
 * repository and registry names. Returns the parts, or a message saying what is wrong.
 */
export function parseImageReference(ref: string): { ok: true; value: ImageReference } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  const general = "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]";
  if (ref === "") return fail("must not be empty");
  if (/\s/.test(ref)) return fail("must not contain whitespace");

  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return fail("digest must be sha256: followed by 64 lower-case hex digits");
  }

  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return fail("tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
  }

  if (rest.length === 0) return fail(general);
  if (rest.length > 255) return fail("repository name must be at most 255 characters");
  const parts = rest.split("/");
  let registry: string | null = null;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    const [host, port, extra] = registry.split(":");
    if (extra !== undefined) return fail(general);
    if (host !== host!.toLowerCase()) return fail("registry host must be lower-case");
    if (!host!.split(".").every((c) => DOMAIN_COMPONENT.test(c))) return fail("registry host must be a DNS name or an IPv4 address");
    if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
      return fail("registry port must be 1-65535");
    }
  }
  for (const c of parts) {
    if (c !== c.toLowerCase()) return fail("repository name must be lower-case");
    if (!PATH_COMPONENT.test(c)) return fail(general);
  }
  return { ok: true, value: { registry, repository: parts.join("/"), tag, digest } };
}

/** An image reference string, validated. */
export const imageReferenceSchema = z.string().superRefine((ref, ctx) => {
  const r = parseImageReference(ref);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
});

// ---------------------------------------------------------------------------------------------
// Small values

const PORT_MESSAGE = "must be an integer from 1 to 65535";
const port = z.number(PORT_MESSAGE).int(PORT_MESSAGE).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);

/** A DNS label: what host names, container names and systemd unit names all accept. */
export const dnsLabelSchema = z
  .string()
  .regex(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)");

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
const NO_NEWLINE = "must not contain a newline (docker --env-file reads one variable per line)";
const envValue = z
  .union([z.string(), z.number(), z.boolean()], "must be a string, number or boolean")
  .transform((v) => String(v))
  .refine((v) => !/[\r\n\0]/.test(v), NO_NEWLINE);

/** A secret from config: any string, kept as {@link Sensitive} from here on. Messages never echo it. */
export const secretSchema = z
  .union([z.string(), z.instanceof(Sensitive)], "must be a string")
  .transform((v) => (v instanceof Sensitive ? v : new Sensitive(v)))
  .refine((v) => !/[\r\n\0]/.test(v.reveal()), NO_NEWLINE);

// ---------------------------------------------------------------------------------------------
// The app spec

/** The container's HTTP health check, run on the host against 127.0.0.1:hostPort. */
export const healthSchema = z.strictObject({
  path: z.string().regex(/^\/[\x21-\x7e]*$/, "must start with / and contain no spaces or control characters").default("/healthz"),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** One attempt's limit (connect + response). */
  timeoutMs: z.number().int().min(100).max(60_000).default(2000),
  /** Give up after this long since the first attempt. */
  deadlineMs: z.number().int().min(0).max(3_600_000).default(60_000),
  /** Pause between attempts. */
  intervalMs: z.number().int().min(100).max(60_000).default(1000),
});

/** Credentials for a private registry; the password is only ever sent on `docker login`'s stdin. */
export const registryAuthSchema = z.strictObject({
  server: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, "must be a registry host[:port], lower-case, no scheme"),
  username: z.string().min(1).regex(/^[^\s]+$/, "must not contain whitespace"),
  password: secretSchema,
});

/** Schema of an app spec. */
export const appSpecSchema = z
  .strictObject({
    name: dnsLabelSchema,
    image: imageReferenceSchema,
    /** The release label: part of the container name, the env file name and the container's labels. */
    version: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"),
    containerPort: port,
    hostPort: port,
    env: z.record(envName, envValue).default({}),
    secrets: z.record(envName, secretSchema).default({}),
    restart: z.enum(["no", "always", "unless-stopped", "on-failure"]).default("unless-stopped"),
    health: healthSchema.prefault({}),
    registry: registryAuthSchema.optional(),
    /** Run the engine's init (tini, `docker run --init`) as PID 1 to reap zombies and forward signals. */
    init: z.boolean().default(false),
    slot: dnsLabelSchema.optional(),
  })
  .superRefine((app, ctx) => {
    for (const key of Object.keys(app.secrets)) {
      if (Object.hasOwn(app.env, key)) ctx.addIssue({ code: "custom", path: ["secrets", key], message: "is also set in env" });
    }
  });

/** A validated app spec (secrets are {@link Sensitive}). */
export type AppSpec = z.output<typeof appSpecSchema>;

/** Parses an app spec, or throws a ConfigError with every problem and its path (never a secret's value). */
export function parseAppSpec(input: unknown, source = "app spec", prefix = ""): AppSpec {
  return parseOrThrow(appSpecSchema, input, source, prefix);
}
