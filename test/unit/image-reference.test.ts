// Unit: the one image-reference grammar (model/image-reference.ts): parsing, the registry a
// reference is pulled from, release labels and `rollout`'s :TAG shorthand, with fast-check for the
// parser's round trip. Does not prove that a registry or the engine accepts every reference
// longshore accepts (the e2e tests pull and run real ones).
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  imageReferenceSchema,
  isRegistryOf,
  MAX_IMAGE_REFERENCE_LENGTH,
  parseImageReference,
  registryOf,
  releaseLabel,
  resolveImageArgument,
  type ImageReference,
} from "../../model/image-reference";

const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
const GENERAL = "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]";
const TAG_MESSAGE = "tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'";

/** A reference written back from its parts. */
function format(r: ImageReference): string {
  return `${r.registry === null ? "" : `${r.registry}/`}${r.repository}${r.tag === null ? "" : `:${r.tag}`}${r.digest === null ? "" : `@${r.digest}`}`;
}

describe("parseImageReference", () => {
  it.each<[string, ImageReference]>([
    ["busybox", { registry: null, repository: "busybox", tag: null, digest: null }],
    ["library/busybox:1.36", { registry: null, repository: "library/busybox", tag: "1.36", digest: null }],
    ["10.213.47.1:5000/team/web:v2.0.1-rc_1", { registry: "10.213.47.1:5000", repository: "team/web", tag: "v2.0.1-rc_1", digest: null }],
    ["localhost/web", { registry: "localhost", repository: "web", tag: null, digest: null }],
    ["localhost:5000/web:v1", { registry: "localhost:5000", repository: "web", tag: "v1", digest: null }],
    [`registry.example/web@${digest}`, { registry: "registry.example", repository: "web", tag: null, digest }],
    [`web:1.0@${digest}`, { registry: null, repository: "web", tag: "1.0", digest }],
    ["my-app__x/a.b-c:Latest", { registry: null, repository: "my-app__x/a.b-c", tag: "Latest", digest: null }],
    ["docker.io/library/nginx:1.25", { registry: "docker.io", repository: "library/nginx", tag: "1.25", digest: null }],
    ["a---b/c", { registry: null, repository: "a---b/c", tag: null, digest: null }],
  ])("parses %s", (ref, parts) => {
    expect(parseImageReference(ref)).toEqual({ ok: true, value: parts });
  });

  it.each<[string, string]>([
    ["", "must not be empty"],
    ["Web:1.0", "repository name must be lower-case"],
    ["team/Web", "repository name must be lower-case"],
    ["Registry.example/web", "registry host must be lower-case"],
    ["reg_x.example/web", "registry host must be a DNS name or an IPv4 address"],
    ["re-.example/web", "registry host must be a DNS name or an IPv4 address"],
    ["registry.example:0/web", "registry port must be 1-65535"],
    ["registry.example:65536/web", "registry port must be 1-65535"],
    ["web@sha256:abc", "digest must be sha256: followed by 64 lower-case hex digits"],
    [`web@sha256:${"A".repeat(64)}`, "digest must be sha256: followed by 64 lower-case hex digits"],
    [`web@sha512:${"a".repeat(64)}`, "digest must be sha256: followed by 64 lower-case hex digits"],
    ["web:.hidden", TAG_MESSAGE],
    ["web:-x", TAG_MESSAGE],
    [`web:${"x".repeat(129)}`, TAG_MESSAGE],
    ["web app", "must not contain whitespace"],
    ["web\tapp", "must not contain whitespace"],
    ["a".repeat(MAX_IMAGE_REFERENCE_LENGTH + 1), `must be at most ${MAX_IMAGE_REFERENCE_LENGTH} characters`],
    ["a//b", GENERAL],
    ["-web", GENERAL],
    ["web..x", GENERAL],
    [":v1", GENERAL],
    [`@${digest}`, GENERAL],
    ["host:5000:1/web", GENERAL],
    ["web/", GENERAL],
  ])("refuses %j: %s", (ref, message) => {
    expect(parseImageReference(ref)).toEqual({ ok: false, message });
  });

  it("accepts a reference of exactly the longest length", () => {
    const ref = `${"a".repeat(MAX_IMAGE_REFERENCE_LENGTH - 3)}:v1`;
    expect(parseImageReference(ref).ok).toBe(true);
  });

  it("imageReferenceSchema reports the parser's message", () => {
    const r = imageReferenceSchema.safeParse("Web:1");
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toEqual(["repository name must be lower-case"]);
    expect(imageReferenceSchema.parse("web:1")).toBe("web:1");
  });
});

describe("parseImageReference properties", () => {
  const lower = "abcdefghijklmnopqrstuvwxyz0123456789";
  const pathComponent = fc
    .array(fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 })
    .chain((words) => fc.array(fc.constantFrom(".", "_", "__", "-", "--"), { minLength: words.length - 1, maxLength: words.length - 1 }).map((seps) => words.map((w, i) => (i === 0 ? w : `${seps[i - 1]}${w}`)).join("")));
  const domain = fc
    .array(fc.string({ unit: fc.constantFrom(...lower), minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 })
    .map((labels) => labels.join("."));
  const registry = fc.oneof(
    fc.constant(null),
    fc.constant("localhost"),
    fc.tuple(domain, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })).map(([d, p]) => (p === undefined ? `${d}.example` : `${d}:${p}`)),
  );
  const tag = fc.option(
    fc.tuple(fc.constantFrom(..."aZ09_"), fc.string({ unit: fc.constantFrom(..."abcXYZ019_.-"), maxLength: 20 })).map(([a, b]) => a + b),
    { nil: null },
  );
  const hexDigest = fc.option(
    fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`),
    { nil: null },
  );
  /** References built from valid parts. Without a registry, a first path component that looks like a host would be read as one: avoided. */
  const validParts = fc
    .record({ registry, path: fc.array(pathComponent, { minLength: 1, maxLength: 3 }), tag, digest: hexDigest })
    .filter((p) => p.registry !== null || p.path.length === 1 || !(p.path[0]!.includes(".") || p.path[0] === "localhost"))
    .map((p): ImageReference => ({ registry: p.registry, repository: p.path.join("/"), tag: p.tag, digest: p.digest }))
    .filter((r) => format(r).length <= MAX_IMAGE_REFERENCE_LENGTH && r.repository.length <= 255);

  it("every reference built from valid parts parses back to those parts", () => {
    fc.assert(
      fc.property(validParts, (parts) => {
        expect(parseImageReference(format(parts))).toEqual({ ok: true, value: parts });
      }),
      { numRuns: 500 },
    );
  });

  it("every reference the parser accepts round-trips through registry/repository/tag/digest", () => {
    // Mostly near-misses: valid references with characters inserted, and strings of the grammar's alphabet.
    const alphabet = fc.string({ unit: fc.constantFrom(..."abAB01:/@._-"), maxLength: 30 });
    const mutated = fc
      .tuple(validParts.map(format), fc.nat(), fc.constantFrom("", ":", "/", "@", ".", "-", "_", "A", "//", "::"))
      .map(([ref, at, insert]) => ref.slice(0, at % (ref.length + 1)) + insert + ref.slice(at % (ref.length + 1)));
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, alphabet, validParts.map(format)), (ref) => {
        const r = parseImageReference(ref);
        if (!r.ok) return;
        accepted++;
        expect(format(r.value)).toBe(ref);
        expect(parseImageReference(format(r.value))).toEqual(r);
      }),
      { numRuns: 1000 },
    );
    // The property says something only if many inputs were accepted.
    expect(accepted).toBeGreaterThan(200);
  });
});

describe("registryOf and isRegistryOf", () => {
  it("names the registry a reference is pulled from; Docker Hub by default", () => {
    expect(["nginx", "library/nginx:1", "docker.io/nginx", "localhost:5000/a", "reg.example/team/a:v1", "Not Valid"].map(registryOf)).toEqual([
      "docker.io",
      "docker.io",
      "docker.io",
      "localhost:5000",
      "reg.example",
      "docker.io",
    ]);
  });

  it.each<[string, string, boolean]>([
    ["docker.io", "nginx", true],
    ["index.docker.io", "library/nginx:1", true],
    ["registry-1.docker.io", "docker.io/team/app", true],
    ["docker.io", "index.docker.io/team/app", true],
    ["reg.example", "reg.example/app:v1", true],
    ["localhost", "localhost/app", true],
    ["reg.example:5000", "reg.example:5000/app", true],
    ["reg.example:5000", "reg.example/app", false],
    ["reg.example", "reg.example:5000/app", false],
    ["docker.io", "reg.example/app", false],
    ["reg.example", "nginx", false],
  ])("isRegistryOf(%s, %s) is %s", (server, ref, expected) => {
    expect(isRegistryOf(server, ref)).toBe(expected);
  });
});

describe("releaseLabel", () => {
  it.each<[string, string]>([
    ["web:v1", "v1"],
    ["reg.example:5000/web:v1.2-rc_1", "v1.2-rc_1"],
    ["web:Latest", "Latest"],
    [`web:v1@${digest}`, "v1"],
    [`web@${digest}`, "sha256-0123456789ab"],
    ["web", "latest"],
    ["reg.example:5000/web", "latest"],
  ])("%s => %s", (ref, label) => {
    expect(releaseLabel(ref)).toBe(label);
  });

  it("a tag that cannot name a container becomes tag- and its hash, so two images never share a name", () => {
    const long = `web:${"x".repeat(65)}`;
    expect([releaseLabel(long), releaseLabel(`${long}@${digest}`), releaseLabel("web:_x"), releaseLabel("web:_y")]).toEqual([
      "tag-9537c5fdf120",
      "tag-9537c5fdf120",
      "tag-a01e47cb4cec",
      "tag-8c8db88de5dd",
    ]);
  });
});

describe("resolveImageArgument", () => {
  it.each<[string, string, string]>([
    [":v2", "shop/web:v1", "shop/web:v2"],
    [":v2", "reg.example:5000/shop/web:v1", "reg.example:5000/shop/web:v2"],
    [":v2", `shop/web:v1@${digest}`, "shop/web:v2"],
    [`@${digest}`, "shop/web:v1", `shop/web@${digest}`],
    ["other/app:v9", "shop/web:v1", "other/app:v9"],
    ["web", "shop/web:v1", "web"],
    // Not valid references: the caller's parse says what is wrong with the result.
    [":", "shop/web:v1", "shop/web:"],
    [":v2", "Not Valid", ":v2"],
  ])("%s against %s => %s", (arg, appImage, expected) => {
    expect(resolveImageArgument(arg, appImage)).toBe(expected);
  });
});
