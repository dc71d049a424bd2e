/**
 * Pushing a `docker save` archive into a registry (Docker Registry HTTP API v2) from the
 * controller, without a docker daemon: each layer gzip-compressed once into a temp file (its
 * digest must be known before the upload), then per blob `HEAD` (already there: skip), `POST`
 * an upload and `PUT` it monolithically with `?digest=`, then `PUT` an image manifest v2 schema 2
 * under the tag. The pulled image's ID is the config's digest, i.e. the archive's image ID.
 *
 * Requests go through the registry client (registry-client.ts), which answers Basic and Bearer
 * challenges; the password is a {@link Sensitive} and only ever goes into an Authorization header.
 */
import { once } from "node:events";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { LongshoreError } from "../core/errors";
import type { Sensitive } from "../core/sensitive";
import { openTarStream, readDockerArchive, tarEntries } from "./image-archive";
import { registryClient } from "./registry-client";

/** Media types of the image manifest v2, schema 2. */
export const MEDIA_TYPES = {
  manifest: "application/vnd.docker.distribution.manifest.v2+json",
  config: "application/vnd.docker.container.image.v1+json",
  layerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/**
 * A push went wrong in a way only a push can (no upload Location, a manifest stored under another
 * digest, an archive without its layers). Refused or failed requests are `RegistryError`s.
 */
export class RegistryPushError extends LongshoreError {
  readonly code = "REGISTRY_PUSH_FAILED";
}

/** Options of {@link pushDockerArchive}. */
export interface PushOptions {
  /** The `docker save` archive (tar or tar.gz). */
  archive: string;
  /** `http://10.213.47.1:5000` or `https://registry.example`: scheme, host, port; no path. */
  registryUrl: string;
  /** `team/web` (lower-case). */
  repository: string;
  tag: string;
  auth?: { username: string; password: Sensitive };
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What was pushed. */
export interface PushResult {
  /** `host:port/repository:tag`, what hosts pull. */
  ref: string;
  /** The manifest's digest (`sha256:...`): `ref@digest` pins it. */
  manifestDigest: string;
  /** The image ID hosts get after pulling (the config digest). */
  imageId: string;
  /** Blobs sent, and blobs the registry already had. */
  uploaded: number;
  skipped: number;
  /** Bytes of blob bodies sent. */
  bytes: number;
}

interface Blob {
  digest: string;
  size: number;
  mediaType: string;
  open(): Readable;
}

/** Pushes the archive's image to `registryUrl/repository:tag`. */
export async function pushDockerArchive(options: PushOptions): Promise<PushResult> {
  const client = registryClient({ baseUrl: options.registryUrl, credentials: options.auth ?? null });
  const base = new URL(options.registryUrl);
  const log = options.log ?? (() => undefined);
  const info = await readDockerArchive(options.archive);
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "longshore-push-"));
  try {
    const layers = await compressLayers(options.archive, info.layers, tmp);
    const configBlob: Blob = {
      digest: info.imageId,
      size: info.config.length,
      mediaType: MEDIA_TYPES.config,
      open: () => Readable.from([info.config]),
    };
    const http = client.request;
    const name = options.repository;
    let uploaded = 0;
    let skipped = 0;
    let bytes = 0;
    for (const blob of [...layers, configBlob]) {
      const head = await http("HEAD", `/v2/${name}/blobs/${blob.digest}`);
      await head.body?.cancel();
      if (head.status === 200) {
        skipped++;
        log(`blob ${blob.digest.slice(0, 19)} already present`);
        continue;
      }
      const start = await http("POST", `/v2/${name}/blobs/uploads/`, { expect: [202] });
      const location = start.headers.get("location");
      if (!location) throw new RegistryPushError(`${base.host}: POST /v2/${name}/blobs/uploads/ gave no Location header`);
      const target = new URL(location, base);
      target.searchParams.set("digest", blob.digest);
      await http("PUT", target.pathname + target.search, {
        expect: [201],
        body: blob.open,
        headers: { "content-type": "application/octet-stream", "content-length": String(blob.size) },
      });
      uploaded++;
      bytes += blob.size;
      log(`blob ${blob.digest.slice(0, 19)} uploaded (${blob.size} bytes)`);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: configBlob.mediaType, size: configBlob.size, digest: configBlob.digest },
        layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
      }),
    );
    const manifestDigest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
    const put = await http("PUT", `/v2/${name}/manifests/${options.tag}`, {
      expect: [201],
      body: () => manifest,
      headers: { "content-type": MEDIA_TYPES.manifest, "content-length": String(manifest.length) },
    });
    const echoed = put.headers.get("docker-content-digest");
    if (echoed && echoed !== manifestDigest) {
      throw new RegistryPushError(`${base.host}: the registry stored the manifest as ${echoed}, expected ${manifestDigest}`);
    }
    log(`manifest ${name}:${options.tag} = ${manifestDigest}`);
    return { ref: `${base.host}/${name}:${options.tag}`, manifestDigest, imageId: info.imageId, uploaded, skipped, bytes };
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** gzip -6 of each layer member into `dir`, with the digest and size of the compressed bytes (one pass). */
async function compressLayers(archive: string, layerPaths: readonly string[], dir: string): Promise<Blob[]> {
  const wanted = new Map(layerPaths.map((p, i) => [p.replace(/^\.\//, ""), i]));
  const out: Array<Blob | undefined> = new Array(layerPaths.length);
  for await (const m of tarEntries(await openTarStream(archive))) {
    const i = wanted.get(m.name.replace(/^\.\//, ""));
    if (i === undefined || out[i]) continue;
    const file = path.join(dir, `layer-${i}.tar.gz`);
    const gzip = createGzip({ level: 6 });
    const hash = createHash("sha256");
    let size = 0;
    gzip.on("data", (c: Buffer) => {
      hash.update(c);
      size += c.length;
    });
    const written = pipeline(gzip, createWriteStream(file));
    await m.pipe(
      // events.once removes its error listener when drain comes (a listener per wait piled up before).
      async (chunk) => {
        if (!gzip.write(chunk)) await once(gzip, "drain");
      },
    );
    gzip.end();
    await written;
    out[i] = { digest: `sha256:${hash.digest("hex")}`, size, mediaType: MEDIA_TYPES.layerGzip, open: () => createReadStream(file) };
  }
  const missing = layerPaths.filter((_, i) => !out[i]);
  if (missing.length) throw new RegistryPushError(`${archive}: layer member(s) not found: ${missing.join(", ")}`);
  return out as Blob[];
}
