// The pieces of layer-by-layer delivery that need no host: the controller's blob cache (real files,
// archives made here), the engine source against a fake engine API on a unix socket, the blob
// exchange's choices, and the host scripts that receive a blob, run through a real /bin/sh.
// Does NOT prove a real engine loads what the store holds, or peers over a network (the e2e
// image-delivery test does).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, PreconditionError } from "../../core/errors";
import { layeredImageSource } from "../../provisioner/layers/layered-source";
import { demoImage } from "../../drivers/local/demo-app";
import { writeTar } from "../../drivers/local/tar";
import { imageFromFlag, imageFromText } from "../../model/image-from";
import { isPrivateIPv4 } from "../../model/net";
import { cacheArchive, cachedBlobPath, cachedImage, importArchiveStream } from "../../provisioner/layers/blob-cache";
import { DIGEST_MISMATCH_EXIT, httpdAllowList, PEER_GET_SCRIPT, RECEIVE_BLOB_SCRIPT } from "../../provisioner/layers/blob-delivery";
import { BlobExchange } from "../../provisioner/layers/blob-exchange";
import { cacheEngineImage, DEFAULT_ENGINE_SOCKET, engineSocketOf } from "../../provisioner/layers/engine-export";
import { blobsOf, dockerLoadManifest, imageBytes, loadFromStoreArgs, type LayeredImage } from "../../provisioner/layers/layered-image";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-image-layers-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A docker save archive with two layers (the second given gzip-compressed when asked). */
function twoLayerArchive(opts: { gzipTop?: boolean; wrongDiffId?: boolean } = {}) {
  const base = writeTar([{ type: "file", path: "etc/base", content: "base layer\n".repeat(1000) }]);
  const top = writeTar([{ type: "file", path: "app/v", content: "2\n" }]);
  const config = Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: [sha(base), opts.wrongDiffId ? sha("other") : sha(top)] } }));
  const archive = writeTar([
    { type: "file", path: "aaa/layer.tar", content: base },
    { type: "file", path: "bbb/layer.tar", content: opts.gzipTop ? gzipSync(top) : top },
    { type: "file", path: `${sha(config).slice(7)}.json`, content: config },
    { type: "file", path: "manifest.json", content: JSON.stringify([{ Config: `${sha(config).slice(7)}.json`, RepoTags: ["team/app:2"], Layers: ["aaa/layer.tar", "bbb/layer.tar"] }]) },
  ]);
  return { base, top, config, archive };
}

describe("the blob cache", () => {
  it("stores each layer under the sha256 of its uncompressed bytes (a gzip layer too), the config under the image ID", async () => {
    const cache = path.join(dir, "c1");
    const a = twoLayerArchive({ gzipTop: true });
    const image = await importArchiveStream(cache, Readable.from([a.archive]), "test.tar");
    expect(image).toEqual({
      imageId: sha(a.config),
      config: { digest: sha(a.config), size: a.config.length },
      layers: [
        { digest: sha(a.base), size: a.base.length },
        { digest: sha(a.top), size: a.top.length },
      ],
      repoTags: ["team/app:2"],
    });
    for (const [digest, bytes] of [[sha(a.base), a.base], [sha(a.top), a.top], [sha(a.config), a.config]] as const) {
      expect(fs.readFileSync(cachedBlobPath(cache, digest)).equals(bytes)).toBe(true);
    }
    expect(await cachedImage(cache, image.imageId)).toEqual(image);
    expect(fs.readdirSync(path.join(cache, "blobs", "sha256")).filter((f) => f.startsWith("."))).toEqual([]);
  });

  it("refuses an archive whose layer does not hash to the config's diff_id, naming the layer", async () => {
    const a = twoLayerArchive({ wrongDiffId: true });
    await expect(importArchiveStream(path.join(dir, "c2"), Readable.from([a.archive]), "bad.tar")).rejects.toThrow(
      `bad.tar: layer bbb/layer.tar has sha256 ${sha(a.top)}, but the image config says ${sha("other")}: the archive is damaged`,
    );
  });

  it("a cached image whose blob was truncated is not a cache hit; the demo archive is read once", async () => {
    const cache = path.join(dir, "c3");
    const demo = demoImage("v1");
    const file = path.join(dir, "demo.tar");
    fs.writeFileSync(file, demo.archive);
    const image = await cacheArchive(cache, file);
    expect(image.imageId).toBe(demo.imageId);
    expect(image.layers.map((l) => l.digest)).toEqual([demo.diffId]);
    expect(imageBytes(image)).toBe(blobsOf(image).reduce((s, b) => s + b.size, 0));
    fs.truncateSync(cachedBlobPath(cache, demo.diffId), 10);
    expect(await cachedImage(cache, demo.imageId)).toBeNull();
    expect((await cacheArchive(cache, file)).imageId).toBe(demo.imageId);
    expect(await cachedImage(cache, demo.imageId)).not.toBeNull();
  });
});

/** An OCI image layout tar (no manifest.json): an index of two platforms, gzip layers, named by digest. */
function ociLayout() {
  const blobs: Array<{ path: string; content: Buffer }> = [];
  const put = (content: Buffer) => {
    blobs.push({ path: `blobs/sha256/${sha(content).slice(7)}`, content });
    return { digest: sha(content), size: content.length };
  };
  const image = (arch: string) => {
    const layer = writeTar([{ type: "file", path: `etc/${arch}`, content: `${arch}\n`.repeat(500) }]);
    const gz = gzipSync(layer);
    const layerDesc = put(gz);
    const config = Buffer.from(JSON.stringify({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] } }));
    const configDesc = put(config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layerDesc }] }));
    return { layer, config, manifest: { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifest), platform: { os: "linux", architecture: arch } } };
  };
  const amd = image("amd64");
  const arm = image("arm64");
  const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [amd.manifest, arm.manifest] }));
  const innerDesc = put(inner);
  const index = { schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", ...innerDesc, annotations: { "io.containerd.image.name": "docker.io/team/app:3", "org.opencontainers.image.ref.name": "3" } }] };
  const tar = writeTar([
    { type: "file", path: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
    { type: "file", path: "index.json", content: JSON.stringify(index) },
    ...blobs.map((b) => ({ type: "file" as const, path: b.path, content: b.content })),
  ]);
  return { tar, amd, arm };
}

describe("OCI archives", () => {
  it("follows the index to this computer's platform (or the one asked for), storing its layer uncompressed", async () => {
    const oci = ociLayout();
    const file = path.join(dir, "oci.tar");
    fs.writeFileSync(file, oci.tar);
    const amd = await cacheArchive(path.join(dir, "c5"), file, { platform: "linux/amd64" });
    expect(amd).toEqual({
      imageId: sha(oci.amd.config),
      config: { digest: sha(oci.amd.config), size: oci.amd.config.length },
      layers: [{ digest: sha(oci.amd.layer), size: oci.amd.layer.length }],
      repoTags: ["team/app:3"],
    });
    const arm = await importArchiveStream(path.join(dir, "c5"), Readable.from([oci.tar]), "oci.tar", { platform: "linux/arm64" });
    expect(arm.layers).toEqual([{ digest: sha(oci.arm.layer), size: oci.arm.layer.length }]);
    await expect(importArchiveStream(path.join(dir, "c5"), Readable.from([oci.tar]), "oci.tar", { platform: "linux/s390x" })).rejects.toThrow(
      "oci.tar: the index has no image for linux/s390x (it has linux/amd64, linux/arm64)",
    );
  });

  it("a blob that does not hash to its name is refused, naming it", async () => {
    const name = `blobs/sha256/${sha(gzipSync(writeTar([{ type: "file", path: "etc/amd64", content: "amd64\n".repeat(500) }]))).slice(7)}`;
    const tampered = writeTar([
      { type: "file", path: "index.json", content: "{}" },
      { type: "file", path: name, content: gzipSync(Buffer.from("something else")) },
    ]);
    await expect(importArchiveStream(path.join(dir, "c6"), Readable.from([tampered]), "bad-oci.tar")).rejects.toThrow(`bad-oci.tar: ${name} hashes to sha256:`);
  });
});

describe("the engine source", () => {
  it("DOCKER_HOST: unset is the default socket, unix:// a path, tcp:// refused", () => {
    expect(engineSocketOf(undefined)).toBe(DEFAULT_ENGINE_SOCKET);
    expect(engineSocketOf("unix:///run/user/1000/docker.sock")).toBe("/run/user/1000/docker.sock");
    expect(() => engineSocketOf("tcp://10.0.0.1:2376")).toThrow("DOCKER_HOST=tcp://10.0.0.1:2376: longshore reads images only from an engine on a unix socket");
  });

  it("reads an image through the engine API once, then from the cache; names a missing image and a missing engine", async () => {
    const socket = path.join(dir, "engine.sock");
    const a = twoLayerArchive();
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url === "/images/team%2Fapp%3A2/json") return void res.end(JSON.stringify({ Id: sha(a.config) }));
      if (req.url === "/images/get?names=team%2Fapp%3A2") return void res.end(a.archive);
      res.statusCode = 404;
      res.end('{"message":"No such image"}');
    });
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      const cache = path.join(dir, "c4");
      const first = await cacheEngineImage(cache, socket, "team/app:2");
      expect(first.imageId).toBe(sha(a.config));
      const second = await cacheEngineImage(cache, socket, "team/app:2");
      expect(second).toEqual({ ...first, repoTags: ["team/app:2"] });
      expect(requests).toEqual(["GET /images/team%2Fapp%3A2/json", "GET /images/get?names=team%2Fapp%3A2", "GET /images/team%2Fapp%3A2/json"]);
      await expect(cacheEngineImage(cache, socket, "team/app:9")).rejects.toThrow(`the engine at ${socket} has no image team/app:9`);
      await expect(cacheEngineImage(cache, socket, "team/app:9")).rejects.toBeInstanceOf(PreconditionError);
      // Through the layered source, a missing image is the input's problem, at the key or flag that chose the engine.
      const bad = await layeredImageSource("engine", "team/app:9", { cacheDir: cache, dockerHost: `unix://${socket}`, namedBy: { source: "command line", key: "--from" } }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ConfigError);
      expect((bad as ConfigError).issues).toEqual([{ path: "--from", message: `the engine at ${socket} has no image team/app:9` }]);
    } finally {
      await new Promise((r) => server.close(r));
    }
    await expect(cacheEngineImage(dir, path.join(dir, "none.sock"), "team/app:2")).rejects.toThrow(
      `no container engine answers at ${path.join(dir, "none.sock")} (ENOENT), so the image team/app:2 cannot be read from it`,
    );
  });
});

describe("the blob exchange", () => {
  it("the first host that needs a blob gets it from the controller, the next from that host once it holds it", async () => {
    const x = new BlobExchange(["a", "b"]);
    x.serving("a", "10.0.0.1");
    x.serving("b", "10.0.0.2");
    const first = await x.sourceFor("a", "sha256:1");
    expect(first.from).toBe("controller");
    let second: unknown = null;
    const waiting = x.sourceFor("b", "sha256:1").then((s) => (second = s));
    await new Promise((r) => setImmediate(r));
    expect(second).toBeNull();
    if (first.from === "controller") first.settle(true);
    await waiting;
    expect(second).toEqual({ from: "peer", peer: "a", address: "10.0.0.1" });
  });

  it("a claimer that failed or cannot serve leaves the blob to the controller again; a failed peer is not asked twice", async () => {
    const x = new BlobExchange(["a", "b", "c"]);
    x.serving("b", "10.0.0.2");
    x.serving("c", "10.0.0.3");
    const a = await x.sourceFor("a", "sha256:1");
    const b = x.sourceFor("b", "sha256:1");
    if (a.from === "controller") a.settle(true); // a holds it but serves nothing
    const bSource = await b;
    expect(bSource.from).toBe("controller");
    if (bSource.from === "controller") bSource.settle(true);
    expect(await x.sourceFor("c", "sha256:1")).toEqual({ from: "peer", peer: "b", address: "10.0.0.2" });
    x.peerFailed("b", "sha256:1");
    expect((await x.sourceFor("c", "sha256:1")).from).toBe("controller");
  });

  it("allDone resolves once every host is done, failed ones included", async () => {
    const x = new BlobExchange(["a", "b"]);
    let done = false;
    void x.allDone().then(() => (done = true));
    x.done("a");
    x.done("a");
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    x.done("b");
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(true);
    expect(new BlobExchange(["solo"]).shared).toBe(false);
  });

  it("anyoneNeeds waits for every host's probe (a failed host counts as probed) and says whether one needs a blob", async () => {
    const settled = async (x: BlobExchange) => {
      let v: boolean | undefined;
      void x.anyoneNeeds().then((r) => (v = r));
      await new Promise((r) => setImmediate(r));
      return v;
    };
    const rerun = new BlobExchange(["a", "b", "c"]);
    rerun.probed("a", false);
    rerun.probed("b", false);
    expect(await settled(rerun)).toBeUndefined();
    rerun.done("c");
    expect(await settled(rerun)).toBe(false);
    const mixed = new BlobExchange(["a", "b"]);
    mixed.probed("a", false);
    mixed.probed("b", true);
    expect(await settled(mixed)).toBe(true);
  });
});

describe("the host scripts", () => {
  const store = path.join(dir, "store");
  const receive = (hex: string, input: Buffer) => spawnSync("sh", ["-c", RECEIVE_BLOB_SCRIPT, "sh", store, hex, "", "", ""], { input });

  it("receive: a gzip stream that hashes to its name enters the store; one that does not exits 65 and leaves nothing", () => {
    const blob = Buffer.from("layer bytes\n".repeat(100));
    const hex = sha(blob).slice(7);
    const ok = receive(hex, gzipSync(blob));
    expect([ok.status, ok.stderr.toString()]).toEqual([0, ""]);
    expect(fs.readFileSync(path.join(store, "sha256", hex)).equals(blob)).toBe(true);
    const other = "0".repeat(64);
    const bad = receive(other, gzipSync(blob));
    expect([bad.status, bad.stderr.toString()]).toEqual([DIGEST_MISMATCH_EXIT, `${sha(blob)}\n`]);
    expect(fs.readdirSync(store).sort()).toEqual(["sha256"]);
    expect(fs.readdirSync(path.join(store, "sha256"))).toEqual([hex]);
  });

  it("receive from a peer: an HTTP GET with bash /dev/tcp (a real server on 127.0.0.1); a 404 or a wrong body leaves nothing", async () => {
    const blob = Buffer.from("peer blob \r\n\n\x00 binary".repeat(5000));
    const hex = sha(blob).slice(7);
    const other = "1".repeat(64);
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.httpVersion}`);
      if (req.url === `/sha256/${hex}`) return void res.end(blob);
      if (req.url === `/sha256/${other}`) return void res.end("not what its name says");
      res.statusCode = 404;
      res.end("no");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = String((server.address() as { port: number }).port);
    const run = (h: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn("sh", ["-c", RECEIVE_BLOB_SCRIPT, "sh", path.join(dir, "peer-store"), h, "127.0.0.1", port, PEER_GET_SCRIPT]);
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("close", (code) => resolve({ code, stderr }));
      });
    try {
      expect(await run(hex)).toEqual({ code: 0, stderr: "" });
      expect(fs.readFileSync(path.join(dir, "peer-store", "sha256", hex)).equals(blob)).toBe(true);
      expect(await run("2".repeat(64))).toEqual({ code: 1, stderr: "peer answered: HTTP/1.1 404 Not Found\n" });
      expect((await run(other)).code).toBe(DIGEST_MISMATCH_EXIT);
      expect(fs.readdirSync(path.join(dir, "peer-store", "sha256"))).toEqual([hex]);
      expect(fs.readdirSync(path.join(dir, "peer-store")).sort()).toEqual(["sha256"]);
      expect(seen[0]).toBe(`GET /sha256/${hex} 1.0`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("load manifest and arguments, the httpd allow list, --from and private addresses", () => {
    const image: LayeredImage = {
      imageId: `sha256:${"c".repeat(64)}`,
      config: { digest: `sha256:${"c".repeat(64)}`, size: 10 },
      layers: [
        { digest: `sha256:${"a".repeat(64)}`, size: 5 },
        { digest: `sha256:${"a".repeat(64)}`, size: 5 },
        { digest: `sha256:${"b".repeat(64)}`, size: 7 },
      ],
      repoTags: ["team/app:2"],
    };
    expect(JSON.parse(dockerLoadManifest(image))).toEqual([
      { Config: `${"c".repeat(64)}.json`, RepoTags: ["team/app:2"], Layers: [`${"a".repeat(64)}.tar`, `${"a".repeat(64)}.tar`, `${"b".repeat(64)}.tar`] },
    ]);
    expect(loadFromStoreArgs("/s", image)).toEqual(["/s", dockerLoadManifest(image), "c".repeat(64), "a".repeat(64), "b".repeat(64)]);
    expect(imageBytes(image)).toBe(22);
    expect(httpdAllowList(["10.213.47.2", "10.213.47.3"])).toBe("A:10.213.47.2\nA:10.213.47.3\nD:*\n");
    expect([imageFromFlag("engine"), imageFromFlag("registry"), imageFromFlag("./app.tar")]).toEqual(["engine", "registry", { archive: "./app.tar" }]);
    expect(imageFromText({ archive: "a.tar" })).toBe("archive a.tar");
    expect(["10.1.2.3", "172.16.0.1", "172.32.0.1", "192.168.1.1", "8.8.8.8", "host.example"].map(isPrivateIPv4)).toEqual([true, true, false, true, false, false]);
  });
});
