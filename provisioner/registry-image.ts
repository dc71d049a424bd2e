/**
 * Pinning a registry image before a delivery: the controller asks the image's registry which
 * manifest its tag names now, and the hosts then pull `repository@sha256:<that digest>`. A tag
 * that moves during a rollout cannot change what the second host gets, and a host never pulls
 * anything the controller did not see.
 */
import { createHash } from "node:crypto";
import { RegistryError } from "../core/errors";
import { parseImageReference } from "../model/image-reference";
import { registryApiOf } from "../model/registry";
import { registryClient, type RegistryCredentials } from "./registry-client";

/** Manifest media types longshore pins: a single image (Docker v2, OCI) or a multi-platform index. */
export const MANIFEST_MEDIA_TYPES = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
} as const;

const ACCEPT = Object.values(MANIFEST_MEDIA_TYPES).join(", ");

/** The engine refuses manifests over 4 MiB; so does longshore. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Options of {@link resolveRegistryImage}. */
export interface ResolveRegistryImageOptions {
  /**
   * Credentials for the image's own registry (what `registryFor` in model/deployment.ts gives for
   * it), or null to ask anonymously.
   */
  credentials: RegistryCredentials | null;
  /** `engine.daemon.insecure-registries`: those registries are asked over plain HTTP, as the hosts' engine does. @default [] */
  insecureRegistries?: readonly string[];
  /** Where the password comes from, named when it is refused. @default "registry.password" */
  credentialsKey?: string;
  /** Milliseconds each request may take. @default 30000 */
  timeoutMs?: number;
  /** The fetch to use (tests). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** A registry image pinned to its manifest. */
export interface PinnedImage {
  /** What hosts pull: `[registry/]repository@sha256:<64 hex>` (the tag dropped). */
  ref: string;
  /** The manifest's digest, `sha256:<64 hex>`. */
  digest: string;
  /** The manifest's media type, or null when the reference was pinned already (nothing was asked). */
  mediaType: string | null;
}

/** `[registry/]repository` of a reference, as written (no tag, no digest). */
function nameOf(ref: string): string {
  const r = parseImageReference(ref);
  if (!r.ok) throw new Error(`not an image reference: ${ref} (${r.message})`);
  return r.value.registry === null ? r.value.repository : `${r.value.registry}/${r.value.repository}`;
}

/** `(404 MANIFEST_UNKNOWN: manifest unknown)`: the status and the registry's own error, from its JSON body. */
async function statusWords(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const first = (JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors?.[0];
    if (first && typeof first.code === "string") return `${res.status} ${first.code}${typeof first.message === "string" ? `: ${first.message}` : ""}`;
  } catch {
    // Not the registry's JSON error body.
  }
  const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
  return snippet ? `${res.status}: ${snippet}` : String(res.status);
}

/**
 * Pins `ref` to the manifest its tag names now: `GET /v2/<repository>/manifests/<tag>` on the
 * controller (accepting Docker v2 and OCI manifests and indexes; an index is pinned as a whole,
 * and each host's engine picks its platform from it), the digest the sha256 of the body, checked
 * against the registry's `Docker-Content-Digest`.
 *
 * A reference that has a digest already is returned as it is, without asking the registry.
 *
 * The controller must reach the registry (over HTTPS, or plain HTTP for one listed in
 * `insecureRegistries`): when it cannot, this throws an `unreachable` {@link RegistryError} that
 * says so, suggesting a digest reference, which needs no lookup. A registry only the hosts can
 * reach is thus deployed by digest.
 *
 * Errors ({@link RegistryError}), each naming the registry: `auth` for refused or missing
 * credentials (`registry 10.213.47.1:5000 refused the credentials of user ci (401): check
 * registry.password`), `not-found` for a missing repository or tag (naming the reference),
 * `unreachable`, and `protocol` for an answer that cannot be pinned.
 */
export async function resolveRegistryImage(ref: string, options: ResolveRegistryImageOptions): Promise<PinnedImage> {
  const name = nameOf(ref);
  const api = registryApiOf(ref, options.insecureRegistries ?? []);
  if (api.reference.startsWith("sha256:")) return { ref: `${name}@${api.reference}`, digest: api.reference, mediaType: null };
  const credentialsKey = options.credentialsKey ?? "registry.password";
  const client = registryClient({
    baseUrl: api.baseUrl,
    credentials: options.credentials,
    credentialsKey,
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const server = api.server;
  let res: Response;
  try {
    res = await client.request("GET", `/v2/${api.repository}/manifests/${api.reference}`, { headers: { accept: ACCEPT } });
  } catch (e) {
    if (e instanceof RegistryError && e.kind === "unreachable") {
      throw new RegistryError("unreachable", e.registry, `${ref}: ${e.message}`, {
        cause: e,
        suggestion:
          `longshore asks the registry from this computer which manifest the tag names, before any host is touched. ` +
          `Make ${server} reachable from here${api.baseUrl.startsWith("https:") ? " (over HTTPS, or list it in engine.daemon.insecure-registries if it speaks plain HTTP)" : ""}, ` +
          `or deploy a digest reference (${name}@sha256:...), which is used as it is.`,
      });
    }
    throw e;
  }
  const user = options.credentials?.username;
  if (res.status === 401 || res.status === 403) {
    const words = await statusWords(res);
    throw user === undefined
      ? new RegistryError("auth", server, `registry ${server} wants credentials to pull ${name} (${words})`, {
          context: { status: res.status },
          suggestion: `Add registry: { server: ${server}, username, password } to the environment file.`,
        })
      : new RegistryError("auth", server, `registry ${server} does not let user ${user} pull ${name} (${words})`, {
          context: { status: res.status, user },
          suggestion: `Check the repository name and that ${user} may pull it.`,
        });
  }
  if (res.status === 404) {
    throw new RegistryError("not-found", server, `${ref}: registry ${server} has no such image (${await statusWords(res)})`, {
      context: { status: 404 },
      suggestion: "Check the repository and tag, and that the image was pushed.",
    });
  }
  if (res.status !== 200) {
    throw new RegistryError("protocol", server, `registry ${server} answered GET /v2/${api.repository}/manifests/${api.reference} with ${await statusWords(res)}`, {
      context: { status: res.status },
    });
  }
  const length = Number(res.headers.get("content-length") ?? "0");
  if (length > MAX_MANIFEST_BYTES) {
    await res.body?.cancel();
    throw new RegistryError("protocol", server, `${ref}: registry ${server} sent a manifest of ${length} bytes; at most ${MAX_MANIFEST_BYTES} are accepted`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_MANIFEST_BYTES) throw new RegistryError("protocol", server, `${ref}: registry ${server} sent a manifest of ${body.length} bytes; at most ${MAX_MANIFEST_BYTES} are accepted`);
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
  if (!(Object.values(MANIFEST_MEDIA_TYPES) as string[]).includes(mediaType)) {
    throw new RegistryError("protocol", server, `${ref}: registry ${server} sent a manifest of type ${mediaType || "(none)"}, which cannot be pinned`, {
      suggestion: `Push the image again with a current engine (it writes ${MANIFEST_MEDIA_TYPES.dockerManifest} or OCI manifests).`,
    });
  }
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  const told = res.headers.get("docker-content-digest");
  if (told !== null && told.startsWith("sha256:") && told !== digest) {
    throw new RegistryError("protocol", server, `${ref}: registry ${server} said the manifest is ${told}, but its body hashes to ${digest}`);
  }
  return { ref: `${name}@${digest}`, digest, mediaType };
}
