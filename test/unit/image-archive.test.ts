// Reads demo archives and pushes them to an in-process fake registry on 127.0.0.1: does NOT prove a real registry or docker accepts the push (the e2e registry test does).
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensitive } from "../../core/sensitive";
import { demoImage } from "../../drivers/local/demo-app";
import { writeTar } from "../../drivers/local/tar";
import { DockerArchiveError, openTarStream, readDockerArchive, tarEntries } from "../../provisioner/image-archive";
import { RegistryError } from "../../core/errors";
import { MEDIA_TYPES, pushDockerArchive } from "../../provisioner/registry-push";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-image-archive-"));
const v1 = demoImage("v1");
const tarFile = path.join(dir, "v1.tar");
const gzFile = path.join(dir, "v1.tar.gz");
fs.writeFileSync(tarFile, v1.archive);
fs.writeFileSync(gzFile, gzipSync(v1.archive));
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("docker save archives", () => {
  it("reads the image ID, tags and layers of a plain and a gzipped archive", async () => {
    for (const f of [tarFile, gzFile]) {
      const info = await readDockerArchive(f);
      expect(info.imageId).toBe(v1.imageId);
      expect(info.repoTags).toEqual(["longshore-demo:v1"]);
      expect(info.diffIds).toEqual([v1.diffId]);
      expect(info.layers).toEqual([`${v1.diffId.slice(7)}/layer.tar`]);
    }
  });

  it("streams members in order with their sizes, skipping unread bodies", async () => {
    const names: string[] = [];
    let layerHash = "";
    for await (const m of tarEntries(await openTarStream(tarFile))) {
      names.push(`${m.type} ${m.name}`);
      if (m.name.endsWith("layer.tar")) {
        const h = createHash("sha256");
        await m.pipe((c) => void h.update(c));
        layerHash = `sha256:${h.digest("hex")}`;
      }
    }
    const hex = v1.diffId.slice(7);
    const config = v1.imageId.slice(7);
    expect(names).toEqual([`5 ${hex}/`, `0 ${hex}/VERSION`, `0 ${hex}/json`, `0 ${hex}/layer.tar`, `0 ${config}.json`, "0 manifest.json", "0 repositories"].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)));
    expect(layerHash).toBe(v1.diffId);
  });

  it("reads GNU long names (more than 100 characters)", async () => {
    const long = `${"d".repeat(120)}/file.txt`;
    const file = path.join(dir, "long.tar");
    // GNU tar writes a long name as an 'L' member followed by the real header.
    fs.mkdirSync(path.join(dir, "src", "d".repeat(120)), { recursive: true });
    fs.writeFileSync(path.join(dir, "src", long), "long body");
    execFileSync("tar", ["--format=gnu", "-cf", file, "-C", path.join(dir, "src"), long]);
    const seen: Array<[string, string]> = [];
    for await (const m of tarEntries(await openTarStream(file))) seen.push([m.name, (await m.buffer()).toString()]);
    expect(seen).toEqual([[long, "long body"]]);
  });

  it("refuses what is not a docker save archive, saying why", async () => {
    const noManifest = path.join(dir, "plain.tar");
    fs.writeFileSync(noManifest, writeTar([{ type: "file", path: "hello.txt", content: "hi" }]));
    await expect(readDockerArchive(noManifest)).rejects.toThrow(new DockerArchiveError(`${noManifest}: not a docker save archive (no manifest.json)`));
    const junk = path.join(dir, "junk.tar");
    fs.writeFileSync(junk, Buffer.alloc(1024, 7));
    await expect(readDockerArchive(junk)).rejects.toThrow(new DockerArchiveError(`${junk}: not a tar archive (header checksum mismatch)`));
    const cut = path.join(dir, "cut.tar");
    fs.writeFileSync(cut, v1.archive.subarray(0, 4096));
    await expect(readDockerArchive(cut)).rejects.toThrow(new RegExp(`^${cut}: tar archive is truncated`));
    fs.writeFileSync(cut, v1.archive.subarray(0, v1.archive.length - 1024));
    await expect(readDockerArchive(cut)).rejects.toThrow(new DockerArchiveError(`${cut}: tar archive is truncated (no end-of-archive marker)`));
    const gz = path.join(dir, "cut.tar.gz");
    fs.writeFileSync(gz, gzipSync(v1.archive).subarray(0, 2000));
    await expect(readDockerArchive(gz)).rejects.toThrow(new DockerArchiveError(`${gz}: gzip data is damaged or cut short (unexpected end of file)`));
    await expect(readDockerArchive(path.join(dir, "nosuch.tar"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

/** A minimal Registry v2 in memory: checks every blob's digest like the real one does. */
function fakeRegistry(options: { password?: string } = {}) {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { type: string; body: Buffer }>();
  const log: string[] = [];
  let uploads = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url!, "http://x");
      log.push(`${req.method} ${url.pathname}${url.searchParams.has("digest") ? "?digest" : ""}`);
      if (options.password) {
        const want = `Basic ${Buffer.from(`ci:${options.password}`).toString("base64")}`;
        // As distribution's htpasswd auth answers: a Basic challenge.
        if (req.headers.authorization !== want) return void res.writeHead(401, { "www-authenticate": 'Basic realm="fake"' }).end("unauthorized");
      }
      const body = Buffer.concat(chunks);
      let m: RegExpExecArray | null;
      if (req.method === "HEAD" && (m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname))) {
        return void res.writeHead(blobs.has(m[2]!) ? 200 : 404).end();
      }
      if (req.method === "POST" && /^\/v2\/(.+)\/blobs\/uploads\/$/.test(url.pathname)) {
        // Like the real registry: the Location carries its own query (state) that must be kept.
        return void res.writeHead(202, { location: `${url.pathname}u${++uploads}?_state=abc` }).end();
      }
      if (req.method === "PUT" && /\/blobs\/uploads\/u\d+$/.test(url.pathname)) {
        const digest = url.searchParams.get("digest")!;
        if (url.searchParams.get("_state") !== "abc") return void res.writeHead(400).end("lost state");
        if (sha(body) !== digest) return void res.writeHead(400).end(`digest mismatch: ${sha(body)}`);
        blobs.set(digest, body);
        return void res.writeHead(201).end();
      }
      if (req.method === "PUT" && (m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname))) {
        manifests.set(`${m[1]}:${m[2]}`, { type: String(req.headers["content-type"]), body });
        return void res.writeHead(201, { "docker-content-digest": sha(body) }).end();
      }
      res.writeHead(404).end();
    });
  });
  return { server, blobs, manifests, log };
}

describe("pushDockerArchive (fake registry)", () => {
  const reg = fakeRegistry();
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((r) => reg.server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(reg.server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => reg.server.close(() => r())));

  it("uploads the gzipped layer and the config, then a schema 2 manifest whose config digest is the image ID", async () => {
    const r = await pushDockerArchive({ archive: tarFile, registryUrl: url, repository: "team/demo", tag: "v1" });
    const host = new URL(url).host;
    expect(r).toMatchObject({ ref: `${host}/team/demo:v1`, imageId: v1.imageId, uploaded: 2, skipped: 0 });
    const stored = reg.manifests.get("team/demo:v1")!;
    expect(stored.type).toBe(MEDIA_TYPES.manifest);
    expect(r.manifestDigest).toBe(sha(stored.body));
    const manifest = JSON.parse(stored.body.toString());
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.config).toEqual({ mediaType: MEDIA_TYPES.config, size: reg.blobs.get(v1.imageId)!.length, digest: v1.imageId });
    expect(manifest.layers).toHaveLength(1);
    const layer = manifest.layers[0];
    expect(layer.mediaType).toBe(MEDIA_TYPES.layerGzip);
    const blob = reg.blobs.get(layer.digest)!;
    expect(layer.size).toBe(blob.length);
    // The compressed layer unpacks to the exact bytes the image's diff_id names.
    expect(sha(gunzipSync(blob))).toBe(v1.diffId);
    expect(r.bytes).toBe(blob.length + reg.blobs.get(v1.imageId)!.length);
  });

  it("a second push sends no blob and re-tags by manifest only", async () => {
    reg.log.length = 0;
    const r = await pushDockerArchive({ archive: gzFile, registryUrl: url, repository: "team/demo", tag: "again" });
    expect(r).toMatchObject({ uploaded: 0, skipped: 2, bytes: 0, imageId: v1.imageId });
    expect(reg.log.filter((l) => !l.startsWith("HEAD"))).toEqual(["PUT /v2/team/demo/manifests/again"]);
  });

  it("names the status and the registry's words when a request is refused, and never sends a password in clear text", async () => {
    const locked = fakeRegistry({ password: "hunter2-registry" });
    await new Promise<void>((r) => locked.server.listen(0, "127.0.0.1", r));
    const lockedUrl = `http://127.0.0.1:${(locked.server.address() as { port: number }).port}`;
    try {
      const err = await pushDockerArchive({ archive: tarFile, registryUrl: lockedUrl, repository: "demo", tag: "v1" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as Error).message).toBe(`${new URL(lockedUrl).host}: POST /v2/demo/blobs/uploads/ answered 401 (expected 202): unauthorized`);
      const ok = await pushDockerArchive({ archive: tarFile, registryUrl: lockedUrl, repository: "demo", tag: "v1", auth: { username: "ci", password: sensitive("hunter2-registry") } });
      expect(ok.uploaded).toBe(2);
    } finally {
      await new Promise<void>((r) => locked.server.close(() => r()));
    }
  });
});
