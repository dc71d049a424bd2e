/**
 * The `web` stack's config (`Pulumi.<stack>.yaml`, namespace `web:`), parsed once into plain data
 * before any resource is declared: every problem is reported with its path, all at once. Strict:
 * an unknown key (a typo such as `web:liveslot`) is an error, never silently ignored.
 *
 * Secrets (the registry password, app secrets) must be set with `pulumi config set --secret`; a
 * secret found in clear is refused. Parsed secrets are {@link Sensitive}, so no error, log or
 * output can print them.
 */
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../core/errors";
import { Sensitive } from "../core/sensitive";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type PathIssue } from "./zod-issues";

// ---------------------------------------------------------------------------------------------
// Small values

const IPV4_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const CIDR4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}/(?:3[0-2]|[12]?[0-9])$`);
/** IPv6 CIDR in any of the usual spellings (checked loosely: hex groups, at most one `::`). */
const CIDR6 = /^(?=.*:)(?!.*::.*::)[0-9A-Fa-f:]{2,39}\/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])$/;

/** True for a CIDR that covers every address (`0.0.0.0/0`, `::/0`, `10.0.0.0/0`...). */
export function isWorldCidr(cidr: string): boolean {
  return /\/0$/.test(cidr.trim());
}

const PORT_MESSAGE = "must be an integer from 1 to 65535";
const port = z.number(PORT_MESSAGE).int(PORT_MESSAGE).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);

/** Pulumi config set with `--path` stores numbers as text: accept `"2"` where a count is wanted. */
function count(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.preprocess(
    (v) => (typeof v === "string" && /^[0-9]+$/.test(v) ? Number(v) : v),
    z.number(message).int(message).min(min, message).max(max, message),
  );
}

/** Same for true/false. */
const flag = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());

/** `[registry[:port]/]repository[:tag][@sha256:digest]`, lower-case as the engine requires. */
const imageRef = z
  .string()
  .regex(
    /^(?:[a-z0-9.-]+(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    "must be an image reference like name:tag or registry.example:5000/team/name:tag (lower-case)",
  )
  // AWS tag values hold at most 256 characters, and every host is tagged with its image.
  .max(256, "must be at most 256 characters");

const amiId = z.string().regex(/^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0123456789abcdef0");

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
const NO_NEWLINE = "must not contain a newline";

/** A secret: plain text from the config, kept as {@link Sensitive} from here on. */
const secret = z
  .string()
  .refine((v) => !/[\r\n\0]/.test(v), NO_NEWLINE)
  .transform((v) => new Sensitive(v));

// ---------------------------------------------------------------------------------------------
// The schema

/** Slot names, in the order reports use. */
export const SLOTS = ["blue", "green"] as const;
/** A slot of the blue/green pair. */
export type SlotName = (typeof SLOTS)[number];

/** Most hosts one slot may have (an ALB target group takes 1000; keep plans reviewable). */
export const MAX_SLOT_SIZE = 100;

const slotSchema = z.strictObject({
  /** The image this slot runs. Required when `size` is more than 0. */
  image: imageRef.optional(),
  /** Hosts in the slot; 0 retires the slot. */
  size: count(0, MAX_SLOT_SIZE).default(0),
  /** Pin this slot's machine image; default: the newest Debian 12 AMI at each `pulumi up`. */
  amiId: amiId.optional(),
});

const appSchema = z.strictObject({
  /** The container's name on each host. */
  name: z
    .string()
    .regex(/^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/, "must be a lower-case DNS label of 1-32 letters, digits or '-'")
    .default("app"),
  /** The port the app listens on inside its container. */
  port: port.default(8080),
  /** The host port the load balancer sends traffic to; default: the same as `port`. */
  hostPort: port.optional(),
  healthPath: z.string().regex(/^\/[\x21-\x7e]*$/, "must start with / and contain no spaces or control characters").default("/healthz"),
  env: z
    .record(envName, z.union([z.string(), z.number(), z.boolean()], "must be a string, number or boolean").transform(String))
    .default({}),
  /** Secret environment variables; must be set with `pulumi config set --secret`. */
  secrets: z.record(envName, secret).default({}),
});

const healthCheckSchema = z.strictObject({
  /** The target groups' check interval. */
  intervalSeconds: count(5, 300).default(10),
  timeoutSeconds: count(2, 120).default(5),
  healthyThreshold: count(2, 10).default(2),
  unhealthyThreshold: count(2, 10).default(2),
  /** HTTP codes that count as healthy, in the target group's syntax (`200`, `200-299`, `200,204`). */
  matcher: z
    .string()
    .regex(/^[1-5][0-9]{2}(?:-[1-5][0-9]{2})?(?:,[1-5][0-9]{2}(?:-[1-5][0-9]{2})?)*$/, "must be HTTP codes like 200, 200-299 or 200,204")
    .default("200"),
  /** How long the health gate waits for a slot before failing the update. */
  deadlineSeconds: count(10, 3600).default(300),
});

const registrySchema = z.strictObject({
  server: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, "must be a registry host[:port], lower-case, no scheme"),
  username: z.string().min(1).regex(/^\S+$/, "must not contain whitespace"),
  password: secret,
});

/**
 * Engine options, passed through to the provisioner (its own schema, config/engine.ts, checks
 * every daemon.json key before any host is touched). Here only the shape is checked.
 */
const engineSchema = z.strictObject({
  /** `bundle` (offline .deb bundle, the default) or `distro` (the host's apt sources). */
  channel: z.enum(["bundle", "distro"]).optional(),
  /** dockerd's daemon.json subset, under dockerd's own key names. */
  daemon: z.record(z.string(), z.unknown()).optional(),
});

const SSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,2}(?: [^\r\n]*)?$/;
const CIDR_MESSAGE = "must be a CIDR such as 203.0.113.7/32 or 2001:db8::/64";

/** Schema of the stack config (after reading `web:*` keys into one object). */
export const webStackConfigSchema = z
  .strictObject({
    /** Names and tags the environment; default: the stack's name. */
    environment: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,23}$/, "must be a lower-case name of 1-24 letters, digits or '-', starting with a letter"),
    vpcCidr: z
      .string()
      .regex(CIDR4, "must be an IPv4 CIDR such as 10.0.0.0/16")
      .refine((c) => {
        const p = Number(c.split("/")[1]);
        return p >= 16 && p <= 24;
      }, "must have a prefix length from /16 to /24")
      .default("10.0.0.0/16"),
    /** Availability zones to use, in order; default: the region's first `azCount` available ones. */
    availabilityZones: z
      .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$/, "must be an availability zone name such as eu-west-1a"))
      .min(2, "must list at least 2 zones (a load balancer needs two)")
      .max(6)
      .optional(),
    azCount: count(2, 6).default(2),
    instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as t3.small").default("t3.small"),
    rootVolumeGb: count(8, 1024).default(16),
    /** Your own public key, authorized for the hosts' default user (`admin` on Debian's AMIs). */
    sshPublicKey: z.string().regex(SSH_PUBLIC_KEY, "must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... you@laptop'"),
    sshUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name").default("admin"),
    /** Who may reach the hosts' SSH port and the load balancer's test listeners. */
    adminCidrs: z
      .array(
        z
          .string()
          .refine((c) => CIDR4.test(c) || CIDR6.test(c), CIDR_MESSAGE)
          .refine((c) => !isWorldCidr(c), "would open SSH to the whole internet: list your own address ranges"),
      )
      .min(1, "must list at least one address range (SSH is never open to the world)"),
    /** Both slots; absent means both empty (network and load balancer only). */
    slots: z.strictObject({ blue: slotSchema.prefault({}), green: slotSchema.prefault({}) }).prefault({}),
    /** The slot that receives traffic; absent until the first switch (the listener answers 503). */
    liveSlot: z.enum(SLOTS).optional(),
    /** A canary split: both slots' weights (0-999); absent means all traffic to `liveSlot`. */
    weights: z.strictObject({ blue: count(0, 999), green: count(0, 999) }).optional(),
    app: appSchema.prefault({}),
    healthCheck: healthCheckSchema.prefault({}),
    /** Seconds a target group keeps serving in-flight requests of a host being removed. */
    deregistrationDelaySeconds: count(0, 3600).default(60),
    /** Load balancer ports that reach one slot each (admins only), for checks before a switch. */
    testListenerPorts: z.strictObject({ blue: port.default(8081), green: port.default(8082) }).prefault({}),
    /** An ACM certificate: adds an HTTPS listener and turns port 80 into a redirect. */
    certificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate\/[0-9a-f-]+$/, "must be an ACM certificate ARN")
      .optional(),
    engine: engineSchema.prefault({}),
    registry: registrySchema.optional(),
    /** TCP ports hosts may reach on the internet (apt, the registry). */
    hostEgressPorts: z.array(port).min(1).default([80, 443]),
    /** Run the provisioner on each host (`false`: hosts only, e.g. to debug cloud-init). */
    provision: flag.default(true),
    /** Extra tags on every resource that takes tags. */
    tags: z.record(z.string().regex(/^[\w .:/=+@-]{1,128}$/, "must be a valid AWS tag key"), z.string().max(256)).default({}),
  })
  .superRefine((c, ctx) => {
    for (const slot of SLOTS) {
      const s = c.slots[slot];
      if (s.size > 0 && s.image === undefined) {
        ctx.addIssue({ code: "custom", path: ["slots", slot, "image"], message: `is required when size is more than 0` });
      }
    }
    if (c.liveSlot !== undefined && c.slots[c.liveSlot].size === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["liveSlot"],
        message: `the live slot (${c.liveSlot}) has no hosts: give slots.${c.liveSlot} an image and a size first`,
      });
    }
    if (c.weights !== undefined) {
      if (c.liveSlot === undefined) {
        ctx.addIssue({ code: "custom", path: ["weights"], message: "needs liveSlot: a split is between the live slot and the other one" });
      } else if (c.weights[c.liveSlot] === 0) {
        ctx.addIssue({ code: "custom", path: ["weights", c.liveSlot], message: "must be more than 0 for the live slot" });
      }
      for (const slot of SLOTS) {
        if (c.weights[slot] > 0 && c.slots[slot].size === 0 && slot !== c.liveSlot) {
          ctx.addIssue({ code: "custom", path: ["weights", slot], message: `must be 0 while slots.${slot} has no hosts` });
        }
      }
    }
    const { blue, green } = c.testListenerPorts;
    if (blue === green) ctx.addIssue({ code: "custom", path: ["testListenerPorts", "green"], message: "must differ from testListenerPorts.blue" });
    for (const slot of SLOTS) {
      if ([80, 443].includes(c.testListenerPorts[slot])) {
        ctx.addIssue({ code: "custom", path: ["testListenerPorts", slot], message: "must not be 80 or 443 (the public listeners)" });
      }
    }
    for (const key of Object.keys(c.app.secrets)) {
      if (Object.hasOwn(c.app.env, key)) ctx.addIssue({ code: "custom", path: ["app", "secrets", key], message: "is also set in app.env" });
    }
  });

/** The parsed stack config: plain data, defaults filled in, secrets {@link Sensitive}. */
export type WebStackConfig = z.output<typeof webStackConfigSchema>;
/** One slot's parsed config. */
export type SlotConfig = WebStackConfig["slots"][SlotName];

/** What {@link parseWebStackConfig} needs besides the values. */
export interface ParseWebStackOptions {
  /** The Pulumi stack's name: the default `environment`. */
  stack: string;
  /** Top-level keys (without the `web:` namespace) that Pulumi holds as secrets. */
  secretKeys?: readonly string[];
  /** Names the config in the error; default `stack config (Pulumi.<stack>.yaml)`. */
  source?: string;
}

/** Keys whose values are secrets: they must be set with `--secret`. */
function secretProblems(raw: Record<string, unknown>, secretKeys: ReadonlySet<string>): PathIssue[] {
  const out: PathIssue[] = [];
  const message = "holds a secret, so it must be set with `pulumi config set --secret`";
  if (raw.registry !== undefined && !secretKeys.has("registry")) out.push({ path: ["registry"], message });
  const app = raw.app;
  if (typeof app === "object" && app !== null && "secrets" in app && !secretKeys.has("app")) {
    out.push({ path: ["app", "secrets"], message });
  }
  return out;
}

/**
 * Parses the stack config. `raw` holds the `web:` keys without their namespace, values already
 * decoded from JSON where they were objects, lists, numbers or booleans.
 *
 * @throws ConfigError listing every problem in file order, each with its path (`slots.green.image`).
 */
export function parseWebStackConfig(raw: Record<string, unknown>, options: ParseWebStackOptions): WebStackConfig {
  const source = options.source ?? `stack config (Pulumi.${options.stack}.yaml)`;
  const input = { environment: options.stack, ...raw };
  const result = webStackConfigSchema.safeParse(input, { error: friendlyErrorMap });
  const issues: PathIssue[] = [...secretProblems(raw, new Set(options.secretKeys ?? []))];
  if (!result.success) {
    // A record key that fails its own schema: report why (its message), not zod's "Invalid key in record".
    const explained = result.error.issues.map((i) =>
      i.code === "invalid_key" && i.issues.length > 0 ? { ...i, message: i.issues.map((x) => x.message).join("; ") } : i,
    );
    issues.push(
      ...zodPathIssues(explained).map((i) =>
        // The default environment comes from the stack name: say so, or the user looks for a key they never set.
        i.path[0] === "environment" && raw.environment === undefined
          ? { ...i, message: `${i.message} (it defaults to the stack name "${options.stack}": set web:environment)` }
          : i,
      ),
    );
  }
  if (issues.length) {
    const sorted: ConfigIssue[] = formatIssues(sortByDocumentOrder(issues, input));
    throw new ConfigError(source, sorted, {
      suggestion: "Fix the values with `pulumi config set --path <key> <value>` (add --secret for secrets) and run again.",
    });
  }
  return result.data!;
}

/**
 * Turns Pulumi's raw config map (`{"web:slots": "{...}", "aws:region": "eu-west-1"}`, every value
 * a string) into the object {@link parseWebStackConfig} takes: only this project's keys, without
 * the namespace, JSON values decoded. A value that is not JSON stays a string.
 */
export function projectConfigValues(all: Record<string, string>, project: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const prefix = `${project}:`;
  for (const [key, value] of Object.entries(all)) {
    if (!key.startsWith(prefix)) continue;
    let decoded: unknown = value;
    if (/^\s*[[{]/.test(value) || /^(true|false|null|-?[0-9]+(\.[0-9]+)?)$/.test(value)) {
      try {
        decoded = JSON.parse(value);
      } catch {
        decoded = value;
      }
    }
    out[key.slice(prefix.length)] = decoded;
  }
  return out;
}
