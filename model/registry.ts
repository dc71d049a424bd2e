/**
 * Credentials for pulling the app's image from a private registry. The password is a secret
 * source in the environment file and a {@link Sensitive} value once resolved; hosts get it only
 * on `docker login --password-stdin`, and log out right after the pull.
 */
import { z } from "zod";
import { isRegistryOf, parseImageReference, registryOf } from "./image-reference";
import { cidrRange, IPV4 } from "./net";
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

/** Where the Registry HTTP API of an image lives, and what to ask it for. */
export interface RegistryApi {
  /** The registry's `host[:port]` as the reference writes it (`docker.io` for Docker Hub). */
  server: string;
  /** `https://host[:port]`, or `http://` for an insecure registry; Docker Hub's API is `https://registry-1.docker.io`. */
  baseUrl: string;
  /** The repository in the API's terms: Docker Hub's official images get `library/`. */
  repository: string;
  /** The tag to resolve (`latest` when the reference has none), or the digest the reference pins. */
  reference: string;
}

/**
 * True when the engine speaks plain HTTP to `server` (`host[:port]`), by dockerd's rules: it is
 * listed in `insecure-registries` as `host:port`, its host is an IPv4 address inside a CIDR listed
 * there, or it is a loopback address (`127.0.0.0/8`, `localhost`). A DNS name is not looked up to
 * match a CIDR (dockerd does). Pure.
 */
export function isInsecureRegistry(server: string, insecureRegistries: readonly string[]): boolean {
  const colon = server.lastIndexOf(":");
  const host = colon > 0 ? server.slice(0, colon) : server;
  if (host === "localhost") return true;
  const address = IPV4.test(host) ? cidrRange(`${host}/32`) : null;
  return [...insecureRegistries, "127.0.0.0/8"].some((entry) => {
    if (entry === server) return true;
    const range = address ? cidrRange(entry) : null;
    return range !== null && range.family === "ipv4" && address!.first >= range.first && address!.first <= range.last;
  });
}

/**
 * The registry API that serves a (valid) image reference, and the tag or digest to ask for.
 * Plain HTTP only for an insecure registry ({@link isInsecureRegistry}), HTTPS otherwise. Pure.
 */
export function registryApiOf(ref: string, insecureRegistries: readonly string[] = []): RegistryApi {
  const parsed = parseImageReference(ref);
  if (!parsed.ok) throw new Error(`not an image reference: ${ref} (${parsed.message})`);
  const { registry, repository, tag, digest } = parsed.value;
  const server = registryOf(ref);
  const hub = isRegistryOf("docker.io", ref);
  return {
    server,
    baseUrl: hub ? "https://registry-1.docker.io" : `${isInsecureRegistry(server, insecureRegistries) ? "http" : "https"}://${registry}`,
    repository: hub && !repository.includes("/") ? `library/${repository}` : repository,
    reference: digest ?? tag ?? "latest",
  };
}
