/**
 * Credentials for pulling the app's image from a private registry. The password is a secret
 * source in the environment file and a {@link Sensitive} value once resolved; hosts get it only
 * on `docker login --password-stdin`, and log out right after the pull.
 */
import { z } from "zod";
import { secretSourceSchema, secretValueSchema } from "./secret";

/** A registry's `host[:port]`, as image references write it. */
export const REGISTRY_SERVER = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/;

/** The registry schema with a given schema for the password (source or resolved value). */
export function registrySchemaWith<S extends z.ZodType>(secret: S) {
  return z.strictObject({
    /** The registry's `host[:port]`, as image references write it (no scheme). */
    server: z.string().regex(REGISTRY_SERVER, "must be a registry host[:port], lower-case, no scheme"),
    username: z.string().min(1).max(256).regex(/^\S+$/, "must not contain whitespace"),
    password: secret,
  });
}

/** `registry:` as the environment file writes it. */
export const registrySpecSchema = registrySchemaWith(secretSourceSchema);
/** Registry credentials with the password resolved. */
export const resolvedRegistrySchema = registrySchemaWith(secretValueSchema);

/** Registry credentials, password as a source. */
export type RegistrySpec = z.output<typeof registrySpecSchema>;
/** Registry credentials, password as a {@link Sensitive} value. */
export type ResolvedRegistry = z.output<typeof resolvedRegistrySchema>;
