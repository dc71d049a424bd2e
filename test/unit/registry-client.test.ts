// Unit: WWW-Authenticate parsing, the registry client's Basic and Bearer auth and the pinning of a
// tag to its manifest digest, against in-process HTTP servers on 127.0.0.1 that answer like
// distribution does. Does NOT prove a real registry or token service (Docker Hub, GHCR) accepts
// these requests: the e2e registry tests cover Debian's docker-registry with htpasswd (Basic) only.
import { createHash } from "node:crypto";
import * as http from "node:http";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { resolveImageSource } from "../../drivers/local/image-source";
import { isInsecureRegistry, registryApiOf } from "../../model/registry";
import { parseAuthChallenges, registryClient } from "../../provisioner/registry-client";
import { MANIFEST_MEDIA_TYPES, resolveRegistryImage, type ResolveRegistryImageOptions } from "../../provisioner/registry-image";
import { freePortOn } from "../helpers/docker-registry";

const PASSWORD = "hunter2-registry-pass";
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const basicOf = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const ci = { username: "ci", password: new Sensitive(PASSWORD) };

describe("parseAuthChallenges", () => {
  it.each([
    [
      "Docker Hub's Bearer",
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [{ scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" } }],
    ],
    ["distribution's htpasswd Basic", 'Basic realm="longshore-test"', [{ scheme: "basic", params: { realm: "longshore-test" } }]],
    [
      "ECR's Basic with a service",
      'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"',
      [{ scheme: "basic", params: { realm: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/", service: "ecr.amazonaws.com" } }],
    ],
    [
      "an expired token (error params)",
      'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:team/app:pull",error="invalid_token"',
      [{ scheme: "bearer", params: { realm: "https://ghcr.io/token", service: "ghcr.io", scope: "repository:team/app:pull", error: "invalid_token" } }],
    ],
    [
      "two challenges, spaces around commas and '='",
      'Basic realm="reg" , Bearer realm = "https://t.example/token", service=reg.example',
      [
        { scheme: "basic", params: { realm: "reg" } },
        { scheme: "bearer", params: { realm: "https://t.example/token", service: "reg.example" } },
      ],
    ],
    [
      "commas and escaped quotes inside quoted strings",
      'Bearer realm="https://t.example/token?a=1,b=2",scope="repository:a/b:pull,push",error_description="say \\"hi\\", then go", Basic realm="x,y"',
      [
        { scheme: "bearer", params: { realm: "https://t.example/token?a=1,b=2", scope: "repository:a/b:pull,push", error_description: 'say "hi", then go' } },
        { scheme: "basic", params: { realm: "x,y" } },
      ],
    ],
    [
      "scheme and param names in any case, an unquoted value, a token68",
      "NEGOTIATE abc+/==, BASIC Realm=plain",
      [
        { scheme: "negotiate", params: {}, token68: "abc+/==" },
        { scheme: "basic", params: { realm: "plain" } },
      ],
    ],
    ["a scheme alone", "Basic", [{ scheme: "basic", params: {} }]],
    ["nothing", "", []],
    ["an unterminated quoted string runs to the end", 'Basic realm="open, still', [{ scheme: "basic", params: { realm: "open, still" } }]],
  ])("%s", (_name, header, expected) => {
    expect(parseAuthChallenges(header)).toEqual(expected);
  });
});

describe("registryApiOf and isInsecureRegistry", () => {
  it.each([
    ["nginx:1.25", [], { server: "docker.io", baseUrl: "https://registry-1.docker.io", repository: "library/nginx", reference: "1.25" }],
    ["docker.io/team/app", [], { server: "docker.io", baseUrl: "https://registry-1.docker.io", repository: "team/app", reference: "latest" }],
    ["registry.example.com/team/shop:1.4.2", [], { server: "registry.example.com", baseUrl: "https://registry.example.com", repository: "team/shop", reference: "1.4.2" }],
    ["10.213.47.1:5000/team/shop:1", ["10.213.47.1:5000"], { server: "10.213.47.1:5000", baseUrl: "http://10.213.47.1:5000", repository: "team/shop", reference: "1" }],
    ["10.213.47.1:5000/team/shop:1", ["10.213.0.0/16"], { server: "10.213.47.1:5000", baseUrl: "http://10.213.47.1:5000", repository: "team/shop", reference: "1" }],
    ["10.213.47.1:5000/team/shop:1", ["10.214.0.0/16", "10.213.47.1:5001"], { server: "10.213.47.1:5000", baseUrl: "https://10.213.47.1:5000", repository: "team/shop", reference: "1" }],
    ["127.0.0.1:5000/shop@sha256:" + "a".repeat(64), [], { server: "127.0.0.1:5000", baseUrl: "http://127.0.0.1:5000", repository: "shop", reference: "sha256:" + "a".repeat(64) }],
    ["localhost:5000/shop:2", [], { server: "localhost:5000", baseUrl: "http://localhost:5000", repository: "shop", reference: "2" }],
  ])("%s with insecure %j", (ref, insecure, expected) => {
    expect(registryApiOf(ref, insecure)).toEqual(expected);
  });

  it("a DNS name is insecure only when listed as host:port", () => {
    expect(isInsecureRegistry("reg.internal:5000", ["reg.internal:5000"])).toBe(true);
    expect(isInsecureRegistry("reg.internal:5000", ["10.0.0.0/8"])).toBe(false);
    expect(isInsecureRegistry("reg.internal", ["reg.internal:443"])).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// In-process registries

interface Seen {
  method: string;
  path: string;
  auth: string;
  accept?: string;
}

/** What the fake sends for a manifest: one body per `repo:tag`, with its content type. */
type Manifests = Record<string, { type: string; body: string; digestHeader?: string }>;

/**
 * A registry on 127.0.0.1 that wants `mode` auth. Bearer: 401 with a challenge naming its own
 * `/token` realm, which wants `ci`'s Basic credentials (or gives anonymous tokens when
 * `anonymous`), and answers `token` or `access_token`.
 */
function fakeRegistry(mode: "basic" | "bearer", options: { manifests?: Manifests; anonymous?: boolean; tokenField?: "token" | "access_token" } = {}) {
  const seen: Seen[] = [];
  const tokens = new Set<string>();
  let issued = 0;
  let port = 0;
  const authKind = (h: string | undefined) => (h === undefined ? "none" : h.startsWith("Basic ") ? (h === basicOf("ci", PASSWORD) ? "basic ok" : "basic wrong") : h.startsWith("Bearer ") ? (tokens.has(h.slice(7)) ? "bearer ok" : "bearer wrong") : "other");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    seen.push({ method: req.method!, path: url.pathname + url.search, auth: authKind(req.headers.authorization), ...(req.headers.accept ? { accept: req.headers.accept } : {}) });
    if (url.pathname === "/token") {
      const ok = req.headers.authorization === basicOf("ci", PASSWORD) || (options.anonymous && req.headers.authorization === undefined);
      if (!ok) return void res.writeHead(401, { "content-type": "application/json" }).end('{"details":"incorrect username or password"}');
      const token = `tok-${++issued}`;
      tokens.add(token);
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ [options.tokenField ?? "token"]: token, expires_in: 300 }));
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    const repo = m?.[1] ?? "";
    const granted = mode === "basic" ? authKind(req.headers.authorization) === "basic ok" : authKind(req.headers.authorization) === "bearer ok";
    if (!granted) {
      const challenge =
        mode === "basic"
          ? 'Basic realm="fake-registry"'
          : `Bearer realm="http://127.0.0.1:${port}/token",service="fake-registry",scope="repository:${repo}:pull"`;
      return void res
        .writeHead(401, { "www-authenticate": challenge, "content-type": "application/json" })
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    const manifest = m ? options.manifests?.[`${m[1]}:${m[2]}`] : undefined;
    if (!manifest) return void res.writeHead(404, { "content-type": "application/json" }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    res.writeHead(200, { "content-type": manifest.type, "docker-content-digest": manifest.digestHeader ?? sha(manifest.body) }).end(manifest.body);
  });
  return {
    seen,
    server,
    get host() {
      return `127.0.0.1:${port}`;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async start() {
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as { port: number }).port;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const MANIFEST = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPES.dockerManifest, config: { digest: sha("config") }, layers: [] });
const INDEX = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPES.ociIndex, manifests: [] });
const manifests: Manifests = {
  "team/app:1": { type: MANIFEST_MEDIA_TYPES.dockerManifest, body: MANIFEST },
  "team/app:multi": { type: MANIFEST_MEDIA_TYPES.ociIndex, body: INDEX },
  "team/app:lying": { type: MANIFEST_MEDIA_TYPES.dockerManifest, body: MANIFEST, digestHeader: sha("something else") },
  "team/app:old": { type: "application/vnd.docker.distribution.manifest.v1+prettyjws", body: "{}" },
};

/** The password is nowhere in what an error shows. */
function expectNoPassword(e: unknown) {
  const err = e as RegistryError;
  expect(err.message + JSON.stringify(err) + inspect(err) + (err.suggestion ?? "")).not.toContain(PASSWORD);
  expect(JSON.stringify(err)).not.toContain(Buffer.from(`ci:${PASSWORD}`).toString("base64"));
}

describe("registryClient against a registry that wants Bearer tokens", () => {
  const reg = fakeRegistry("bearer", { manifests });
  beforeAll(() => reg.start());
  afterAll(() => reg.stop());

  it("answers the 401's challenge with a token got with Basic credentials, then reuses the token", async () => {
    reg.seen.length = 0;
    const client = registryClient({ baseUrl: reg.url, credentials: ci });
    const r1 = await client.request("GET", "/v2/team/app/manifests/1");
    expect([r1.status, await r1.text()]).toEqual([200, MANIFEST]);
    const r2 = await client.request("GET", "/v2/team/app/manifests/1", { expect: [200] });
    expect(r2.status).toBe(200);
    expect(reg.seen.map((s) => `${s.method} ${s.path} ${s.auth}`)).toEqual([
      "GET /v2/team/app/manifests/1 none",
      "GET /token?service=fake-registry&scope=repository%3Ateam%2Fapp%3Apull basic ok",
      "GET /v2/team/app/manifests/1 bearer ok",
      "GET /v2/team/app/manifests/1 bearer ok",
    ]);
  });

  it("a wrong password is refused at the token service: an auth error naming the registry and the user, never the password", async () => {
    const client = registryClient({ baseUrl: reg.url, credentials: { username: "ci", password: new Sensitive(`${PASSWORD}-wrong`) }, credentialsKey: "registry.password" });
    const err = await client.request("GET", "/v2/team/app/manifests/1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({
      kind: "auth",
      registry: reg.host,
      message: `registry ${reg.host} refused the credentials of user ci (401 at its token service ${reg.host}): check registry.password`,
    });
    expectNoPassword(err);
    expect(inspect(err)).not.toContain(`${PASSWORD}-wrong`);
  });

  it("without credentials the token request is anonymous; when it is refused, the registry's own 401 comes back", async () => {
    reg.seen.length = 0;
    const client = registryClient({ baseUrl: reg.url });
    const err = await client.request("GET", "/v2/team/app/manifests/1", { expect: [200] }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: "auth",
      message: `${reg.host}: GET /v2/team/app/manifests/1 answered 401 (expected 200): {"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`,
    });
    expect(reg.seen.map((s) => `${s.path} ${s.auth}`)).toEqual(["/v2/team/app/manifests/1 none", "/token?service=fake-registry&scope=repository%3Ateam%2Fapp%3Apull none"]);
  });
});

describe("registryClient: anonymous tokens and access_token", () => {
  const reg = fakeRegistry("bearer", { manifests, anonymous: true, tokenField: "access_token" });
  beforeAll(() => reg.start());
  afterAll(() => reg.stop());

  it("pulls a public image with an anonymous token given as access_token", async () => {
    reg.seen.length = 0;
    const r = await registryClient({ baseUrl: reg.url }).request("GET", "/v2/team/app/manifests/1", { expect: [200] });
    expect(r.status).toBe(200);
    expect(reg.seen.map((s) => s.auth)).toEqual(["none", "none", "bearer ok"]);
  });
});

describe("registryClient against a registry that wants Basic auth", () => {
  const reg = fakeRegistry("basic", { manifests });
  beforeAll(() => reg.start());
  afterAll(() => reg.stop());

  it("answers the Basic challenge, then sends Basic credentials up front", async () => {
    reg.seen.length = 0;
    const client = registryClient({ baseUrl: reg.url, credentials: ci });
    await client.request("GET", "/v2/team/app/manifests/1", { expect: [200] });
    await client.request("GET", "/v2/team/app/manifests/1", { expect: [200] });
    expect(reg.seen.map((s) => s.auth)).toEqual(["none", "basic ok", "basic ok"]);
  });

  it("a wrong password: an auth error naming the registry and the user, never the password", async () => {
    const client = registryClient({ baseUrl: reg.url, credentials: { username: "ci", password: new Sensitive("not-the-password") }, credentialsKey: "registry.password" });
    const err = await client.request("GET", "/v2/team/app/manifests/1").catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "auth", registry: reg.host, message: `registry ${reg.host} refused the credentials of user ci (401): check registry.password` });
    expect(inspect(err) + JSON.stringify(err)).not.toContain("not-the-password");
  });

  it("sends a body again when the request is retried after the challenge", async () => {
    reg.seen.length = 0;
    let opened = 0;
    const client = registryClient({ baseUrl: reg.url, credentials: ci });
    const r = await client.request("PUT", "/v2/team/app/manifests/new", { body: () => (opened++, Buffer.from("{}")) });
    await r.body?.cancel();
    expect([opened, reg.seen.map((s) => s.auth)]).toEqual([2, ["none", "basic ok"]]);
  });
});

describe("resolveRegistryImage", () => {
  const reg = fakeRegistry("bearer", { manifests });
  beforeAll(() => reg.start());
  afterAll(() => reg.stop());
  const opts = (o: Partial<ResolveRegistryImageOptions> = {}): ResolveRegistryImageOptions => ({ credentials: ci, ...o });

  it("pins a tag to the sha256 of the manifest it names, asking for Docker v2 and OCI manifests and indexes", async () => {
    reg.seen.length = 0;
    expect(await resolveRegistryImage(`${reg.host}/team/app:1`, opts())).toEqual({
      ref: `${reg.host}/team/app@${sha(MANIFEST)}`,
      digest: sha(MANIFEST),
      mediaType: MANIFEST_MEDIA_TYPES.dockerManifest,
    });
    expect(reg.seen.at(-1)!.accept).toBe(
      "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
    );
  });

  it("pins an index as a whole (each host's engine picks its platform)", async () => {
    expect(await resolveRegistryImage(`${reg.host}/team/app:multi`, opts())).toEqual({ ref: `${reg.host}/team/app@${sha(INDEX)}`, digest: sha(INDEX), mediaType: MANIFEST_MEDIA_TYPES.ociIndex });
  });

  it("takes a digest reference as it is, asking nothing", async () => {
    reg.seen.length = 0;
    const digest = `sha256:${"b".repeat(64)}`;
    expect(await resolveRegistryImage(`${reg.host}/team/app:1@${digest}`, opts())).toEqual({ ref: `${reg.host}/team/app@${digest}`, digest, mediaType: null });
    expect(reg.seen).toEqual([]);
  });

  it.each([
    ["a missing tag names the reference", "team/app:2", opts(), "not-found", (h: string) => `${h}/team/app:2: registry ${h} has no such image (404 MANIFEST_UNKNOWN: manifest unknown)`],
    [
      "a wrong password names the registry and where the password comes from",
      "team/app:1",
      opts({ credentials: { username: "ci", password: new Sensitive("wrong-one") } }),
      "auth",
      (h: string) => `registry ${h} refused the credentials of user ci (401 at its token service ${h}): check registry.password`,
    ],
    [
      "no credentials for a private registry",
      "team/app:1",
      opts({ credentials: null }),
      "auth",
      (h: string) => `registry ${h} wants credentials to pull ${h}/team/app (401 UNAUTHORIZED: authentication required)`,
    ],
    ["a body that does not match Docker-Content-Digest", "team/app:lying", opts(), "protocol", (h: string) => `${h}/team/app:lying: registry ${h} said the manifest is ${sha("something else")}, but its body hashes to ${sha(MANIFEST)}`],
    [
      "a schema 1 manifest",
      "team/app:old",
      opts(),
      "protocol",
      (h: string) => `${h}/team/app:old: registry ${h} sent a manifest of type application/vnd.docker.distribution.manifest.v1+prettyjws, which cannot be pinned`,
    ],
  ])("%s", async (_name, repoTag, o, kind, message) => {
    const err = await resolveRegistryImage(`${reg.host}/${repoTag}`, o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect({ kind: (err as RegistryError).kind, registry: (err as RegistryError).registry, message: (err as Error).message }).toEqual({ kind, registry: reg.host, message: message(reg.host) });
    expectNoPassword(err);
  });

  it("a registry this computer cannot reach: an unreachable error naming it, suggesting a digest reference", async () => {
    const port = await freePortOn("127.0.0.1");
    const err = (await resolveRegistryImage(`127.0.0.1:${port}/team/app:1`, opts()).catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect([err.kind, err.registry, err.message]).toEqual([
      "unreachable",
      `127.0.0.1:${port}`,
      `127.0.0.1:${port}/team/app:1: cannot reach registry 127.0.0.1:${port} (GET /v2/team/app/manifests/1): connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    expect(err.suggestion).toBe(
      `longshore asks the registry from this computer which manifest the tag names, before any host is touched. Make 127.0.0.1:${port} reachable from here, or deploy a digest reference (127.0.0.1:${port}/team/app@sha256:...), which is used as it is.`,
    );
  });

  it("over plain HTTP only for an insecure registry: HTTPS otherwise", async () => {
    const urls: string[] = [];
    const fetchSpy: typeof fetch = async (input) => {
      urls.push(String(input));
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("getaddrinfo ENOTFOUND reg.internal"), { code: "ENOTFOUND" }) });
    };
    const e1 = await resolveRegistryImage("reg.internal:5000/team/app:1", opts({ fetch: fetchSpy })).catch((e: unknown) => e);
    const e2 = await resolveRegistryImage("reg.internal:5000/team/app:1", opts({ fetch: fetchSpy, insecureRegistries: ["reg.internal:5000"] })).catch((e: unknown) => e);
    expect(urls).toEqual(["https://reg.internal:5000/v2/team/app/manifests/1", "http://reg.internal:5000/v2/team/app/manifests/1"]);
    expect((e1 as Error).message).toBe("reg.internal:5000/team/app:1: cannot reach registry reg.internal:5000 (GET /v2/team/app/manifests/1): getaddrinfo ENOTFOUND reg.internal");
    expect((e1 as RegistryError).suggestion).toContain("(over HTTPS, or list it in engine.daemon.insecure-registries if it speaks plain HTTP)");
    expect((e2 as RegistryError).suggestion).not.toContain("HTTPS");
  });
});

describe("the local driver's image source", () => {
  const env = (insecure?: string[]) => ({
    registry: { server: "10.213.47.1:5000", username: "ci", password: { env: "P" } },
    engine: { daemon: insecure ? { "insecure-registries": insecure } : {} },
    app: { imageFrom: "registry" },
  });
  const secrets = { registryPassword: new Sensitive(PASSWORD) };

  it("pins a registry image with the credentials of its own registry only, and says what hosts pull", async () => {
    const calls: Array<[string, ResolveRegistryImageOptions]> = [];
    const lines: string[] = [];
    const digest = `sha256:${"c".repeat(64)}`;
    const fake = async (ref: string, o: ResolveRegistryImageOptions) => {
      calls.push([ref, o]);
      return { ref: `${ref.replace(/:[^:/]+$/, "")}@${digest}`, digest, mediaType: MANIFEST_MEDIA_TYPES.dockerManifest };
    };
    const e = env(["10.213.47.1:5000"]) as never;
    expect(await resolveImageSource("10.213.47.1:5000/team/shop:1", "/nonexistent", e, secrets, (l) => lines.push(l), { resolve: fake })).toEqual({
      source: "registry",
      ref: `10.213.47.1:5000/team/shop@${digest}`,
    });
    expect(await resolveImageSource("other.example/team/shop:1", "/nonexistent", e, secrets, undefined, { resolve: fake })).toEqual({ source: "registry", ref: `other.example/team/shop@${digest}` });
    expect(calls.map(([ref, o]) => [ref, o.credentials === null ? null : o.credentials.username, o.insecureRegistries])).toEqual([
      ["10.213.47.1:5000/team/shop:1", "ci", ["10.213.47.1:5000"]],
      ["other.example/team/shop:1", null, ["10.213.47.1:5000"]],
    ]);
    expect(calls[0]![1].credentials!.password.reveal()).toBe(PASSWORD);
    expect(lines).toEqual([`10.213.47.1:5000/team/shop:1 is ${digest}: hosts pull 10.213.47.1:5000/team/shop@${digest}`]);
  });
});
