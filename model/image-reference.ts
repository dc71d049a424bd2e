/**
 * The one image-reference grammar: `[registry[:port]/]repository[:tag][@sha256:digest]`, as the
 * engine parses it, plus what longshore derives from a reference (its registry, its release label)
 * and the `:TAG` shorthand of `longshore rollout`.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/** A parsed image reference. */
export interface ImageReference {
  /** `registry.example:5000`, or null for the default registry (Docker Hub). */
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
/** AWS tag values hold at most 256 characters, and every cloud host is tagged with its image. */
export const MAX_IMAGE_REFERENCE_LENGTH = 256;

/**
 * Parses an image reference the way the engine's reference grammar does, refusing upper-case
 * repository and registry names. Returns the parts, or a message saying what is wrong.
 */
export function parseImageReference(ref: string): { ok: true; value: ImageReference } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message });
  const general = "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]";
  if (ref === "") return fail("must not be empty");
  if (/\s/.test(ref)) return fail("must not contain whitespace");
  if (ref.length > MAX_IMAGE_REFERENCE_LENGTH) return fail(`must be at most ${MAX_IMAGE_REFERENCE_LENGTH} characters`);

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
  const repository = parts.join("/");
  if (repository.length > 255) return fail("repository name must be at most 255 characters");
  for (const c of parts) {
    if (c !== c.toLowerCase()) return fail("repository name must be lower-case");
    if (!PATH_COMPONENT.test(c)) return fail(general);
  }
  return { ok: true, value: { registry, repository, tag, digest } };
}

/** An image reference string, validated. */
export const imageReferenceSchema = z.string().superRefine((ref, ctx) => {
  const r = parseImageReference(ref);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.message });
});

/** The registry a (valid) reference is pulled from: its registry part, or `docker.io`. */
export function registryOf(ref: string): string {
  const r = parseImageReference(ref);
  return r.ok && r.value.registry !== null ? r.value.registry : "docker.io";
}

/** Docker Hub's other spellings, which all name the default registry. */
const DOCKER_HUB = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** True when `server` (a registry's `host[:port]`) is where `ref` is pulled from. */
export function isRegistryOf(server: string, ref: string): boolean {
  const registry = registryOf(ref);
  return server === registry || (DOCKER_HUB.has(server) && DOCKER_HUB.has(registry));
}

const RELEASE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The release label of an image: its tag, else `sha256-` and the digest's first 12 hex digits,
 * else `latest`. Names the container (`<app>-<release>`) and labels it. A tag a container name
 * cannot hold (over 64 characters, or starting with `_`) becomes `tag-` and 12 hex digits of its
 * sha256, so two images never share a name. Pure.
 */
export function releaseLabel(ref: string): string {
  const at = ref.indexOf("@");
  const digest = at >= 0 ? ref.slice(at + 1) : null;
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(":");
  const tag = colon > name.lastIndexOf("/") ? name.slice(colon + 1) : null;
  if (tag && RELEASE.test(tag)) return tag;
  if (tag) return `tag-${createHash("sha256").update(tag).digest("hex").slice(0, 12)}`;
  if (digest) return `sha256-${digest.replace(/^sha256:/, "").slice(0, 12)}`;
  return "latest";
}

/**
 * What `longshore rollout` is asked to deploy: a full reference, or `:TAG` / `@sha256:DIGEST`
 * meaning that version of `appImage`'s repository. Pure.
 */
export function resolveImageArgument(arg: string, appImage: string): string {
  if (!arg.startsWith(":") && !arg.startsWith("@")) return arg;
  const r = parseImageReference(appImage);
  if (!r.ok) return arg;
  const base = r.value.registry !== null ? `${r.value.registry}/${r.value.repository}` : r.value.repository;
  return `${base}${arg}`;
}

/**
 * A reference as `docker save` records it in an archive's RepoTags: Docker Hub's short form (no
 * `docker.io/`, no `library/`) with its tag, `latest` when it has none; so `shop/app` is found in an
 * archive of `shop/app:latest`. Null for a digest reference, which RepoTags never holds. Pure.
 */
export function repoTagOf(ref: string): string | null {
  const r = parseImageReference(ref);
  if (!r.ok || r.value.digest !== null) return null;
  const { registry, repository, tag } = r.value;
  const name = registry === null || isRegistryOf("docker.io", ref) ? repository.replace(/^library\//, "") : `${registry}/${repository}`;
  return `${name}:${tag ?? "latest"}`;
}

/** True when an archive tagged `repoTags` holds `ref` (compared as {@link repoTagOf} normalises them). Pure. */
export function archiveHolds(repoTags: readonly string[], ref: string): boolean {
  const wanted = repoTagOf(ref);
  return wanted !== null && repoTags.some((t) => repoTagOf(t) === wanted);
}
