/**
 * One host's desired state, as the Pulumi ProvisionedHost provider hands it to the provisioner:
 * the slot, the app (image and secret values resolved), registry credentials, engine options and
 * how to reach the host. Plain JSON crosses that boundary (it is stored, encrypted, in the stack's
 * state), so this schema parses it; the contract's types are `z.input` of these schemas, never a
 * hand-written copy.
 */
import { z } from "zod";
import { Sensitive } from "../core/sensitive";
import { resolvedAppSchema } from "./app";
import { DEB_ARCHES, engineOptionsSchema } from "./engine";
import { bundlePinSchema } from "./lock-file";
import { slotNameSchema } from "./names";
import { absolutePathSchema, hostAddressSchema, portSchema } from "./net";
import { resolvedRegistrySchema } from "./registry";
import { FINGERPRINT_PATTERN } from "./inventory";

/**
 * One architecture's engine bundle as `longshore.lock` pins it (`engine.<arch>`), with the
 * architecture: the bundle a host must get, whatever the recipe resolves to today.
 */
export const hostBundlePinSchema = bundlePinSchema.extend({ arch: z.enum(DEB_ARCHES) });

/** What one host runs: the same blocks as the environment file, secrets resolved. */
export const hostPlanSchema = z.strictObject({
  slot: slotNameSchema,
  /** The app; `image` is the slot's image. */
  app: resolvedAppSchema,
  registry: resolvedRegistrySchema.optional(),
  engine: engineOptionsSchema.prefault({}),
  /** How long `app.health` waits for the app on the host (the environment's `rollout.healthDeadlineSeconds`). @default 120 */
  healthDeadlineSeconds: z.number().positive().max(3600).default(120),
  /**
   * For tests and hosts without a registry: a `docker save` archive on the machine that runs the
   * provider, streamed to the host instead of pulling `app.image` (which it must be tagged as).
   * The plan hash covers its path, not its bytes: name archives by version. @default none (pull)
   */
  imageArchive: absolutePathSchema.optional(),
  /**
   * Engine steps only: the app's steps (image, run, health, audit) are left out and `app` is not
   * used. For a host image's builder, whose disk becomes every host's: no app image, container or
   * secret may end up in it. @default false (every step)
   */
  engineOnly: z.boolean().optional(),
  /**
   * The engine bundle this host must get (the web program passes longshore.lock's pin with
   * `aws.hostImage`, whose AMI is named by it): the pinned bundle from the cache, else built from
   * the recipe and refused unless it comes out with the pinned id; a host of another architecture
   * is refused. @default none: the recipe's bundle as built or reused now
   */
  bundlePin: hostBundlePinSchema.optional(),
});

/** How the provider reaches one SSH server (a host, or the bastion in front of it). */
export const sshEndpointSchema = z.strictObject({
  /** The host's name in reports (`web-blue-0`). */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a host name (letters, digits, '.', '_', '-')"),
  /** Its address: a host name or an IP address, by the inventory's rule. */
  address: hostAddressSchema,
  port: portSchema,
  /** The login user; commands that need root use `sudo -n`. */
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "must be a user name (letters, digits, '_', '.', '-')"),
  /** The private key's text (OpenSSH or PEM); wrapped as {@link Sensitive} at once. */
  privateKey: z
    .union([z.string(), z.instanceof(Sensitive)], { error: (i) => (i.input === undefined ? "is required" : "must be the private key's text (a string)") })
    .transform((k) => (k instanceof Sensitive ? k : new Sensitive(k)))
    .refine((k) => /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(k.reveal()), "must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----)"),
  /** The host key's pinned fingerprint (`SHA256:...`), known before the host booted: never trusted on first use. */
  hostKeyFingerprint: z.string().regex(FINGERPRINT_PATTERN, "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)"),
});

/**
 * How the provider reaches a host: its endpoint, and with `aws.bastion` the bastion it is reached
 * through (its own pinned host key and login; the web program gives it the same deploy key).
 */
export const hostConnectionSchema = sshEndpointSchema.extend({
  /** A bastion to tunnel through: the host is dialled from there (SSH `direct-tcpip`). @default none (dialled directly) */
  jump: sshEndpointSchema.optional(),
});

/** Everything `applyHost` and `inspectHost` get. */
export const applyHostSchema = hostPlanSchema.extend({
  connection: hostConnectionSchema,
  /** The hash the program computed with `planHostHash`, for the report. */
  planHash: z.string(),
});

/** A host plan as JSON (secrets as clear strings or {@link Sensitive}). */
export type HostPlanInput = z.input<typeof hostPlanSchema>;
/** A validated host plan: secrets {@link Sensitive}, defaults filled in. */
export type HostPlan = z.output<typeof hostPlanSchema>;
/** A bundle pin with its architecture. */
export type HostBundlePin = z.output<typeof hostBundlePinSchema>;
/** One SSH endpoint as JSON. */
export type SshEndpointInput = z.input<typeof sshEndpointSchema>;
/** Connection details as JSON. */
export type HostConnectionInput = z.input<typeof hostConnectionSchema>;
/** Everything `applyHost` gets, as JSON. */
export type ApplyHostInput = z.input<typeof applyHostSchema>;
