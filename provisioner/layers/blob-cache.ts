/**
 * The controller's blob cache: images taken apart into blobs, each stored once under the sha256
 * of its uncompressed bytes (`<cacheDir>/blobs/sha256/<hex>`), with one small index per image
 * (`<cacheDir>/blobs/images/<hex>.json`). Filled from a `docker save` or OCI archive stream (a file,
 * or the operator's engine): every layer is hashed as it is stored, gzip-compressed layers are
 * stored uncompressed, and the result must match the config's `rootfs.diff_ids` exactly, so a
 * damaged archive is refused before any host sees it. An image already in the cache is not read
 * again.
 */
import { once } from "node:events";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import * as path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { writeFileAtomic } from "../../core/atomic-write";
import { archiveInfoFrom, archiveReadError, DockerArchiveError, openTarStream, readDockerArchive, tarEntries, type TarMember } from "../image-archive";
import { hexOf, type BlobRef, type LayeredImage } from "./layered-image";

/** Members buffered for their JSON (manifest.json, configs, OCI indexes); layers are streamed. */
const SMALL_JSON = 4 * 2 ** 20;

/** Where the cache keeps blobs and image indexes. */
export function blobCacheDirs(cacheDir: string): { root: string; blobs: string; images: string } {
  const root = path.join(cacheDir, "blobs");
  return { root, blobs: path.join(root, "sha256"), images: path.join(root, "images") };
}

/** The cached file of a blob. */
export function cachedBlobPath(cacheDir: string, digest: string): string {
  return path.join(blobCacheDirs(cacheDir).blobs, hexOf(digest));
}

/** The image `imageId` as the cache holds it, or null when its index or any of its blobs is missing. */
export async function cachedImage(cacheDir: string, imageId: string): Promise<LayeredImage | null> {
  let image: LayeredImage;
  try {
    image = JSON.parse(await fsp.readFile(path.join(blobCacheDirs(cacheDir).images, `${hexOf(imageId)}.json`), "utf8")) as LayeredImage;
  } catch {
    return null;
  }
  for (const b of [image.config, ...image.layers]) {
    const st = await fsp.stat(cachedBlobPath(cacheDir, b.digest)).catch(() => null);
    if (!st || st.size !== b.size) return null;
  }
  return image;
}

/** Reads an archive file into the cache (or finds it there): the image as blobs. */
export async function cacheArchive(cacheDir: string, file: string): Promise<LayeredImage> {
  const info = await readDockerArchive(file);
  const hit = await cachedImage(cacheDir, info.imageId);
  if (hit) return { ...hit, repoTags: info.repoTags };
  let stream: Readable;
  try {
    stream = await openTarStream(file);
  } catch (e) {
    throw archiveReadError(e, file);
  }
  return importArchiveStream(cacheDir, stream, file);
}

/**
 * Stores every layer of a `docker save` / OCI archive stream in the cache and checks them against
 * the image's config. `label` names the source in errors (a file, `engine image myapp:2`).
 */
export async function importArchiveStream(cacheDir: string, stream: AsyncIterable<Buffer | string>, label: string): Promise<LayeredImage> {
  const dirs = blobCacheDirs(cacheDir);
  await fsp.mkdir(dirs.blobs, { recursive: true });
  await fsp.mkdir(dirs.images, { recursive: true });
  const small = new Map<string, Buffer>();
  const stored = new Map<string, BlobRef>();
  try {
    for await (const m of tarEntries(stream)) {
      const name = m.name.replace(/^\.\//, "");
      if (m.type !== "0") continue;
      if (isLayerMember(name)) {
        stored.set(name, await storeMember(m, dirs.blobs));
      } else if (m.size <= SMALL_JSON) {
        small.set(name, await m.buffer());
      }
    }
  } catch (e) {
    throw archiveReadError(e, label);
  }
  // OCI archives keep configs under blobs/ too: they were stored; read them back as JSON members.
  for (const [name, blob] of stored) {
    if (blob.size <= SMALL_JSON && !small.has(name)) {
      const bytes = await fsp.readFile(path.join(dirs.blobs, hexOf(blob.digest)));
      if (bytes[0] === 0x7b) small.set(name, bytes);
    }
  }
  const info = archiveInfoFrom(small, label);
  const layers: BlobRef[] = [];
  const byDigest = new Map([...stored.values()].map((b) => [b.digest, b]));
  info.diffIds.forEach((diffId, i) => {
    const member = stored.get(info.layers[i]!.replace(/^\.\//, ""));
    if (member && member.digest !== diffId) {
      throw new DockerArchiveError(`${label}: layer ${info.layers[i]} has sha256 ${member.digest}, but the image config says ${diffId}: the archive is damaged`);
    }
    const blob = member ?? byDigest.get(diffId);
    if (!blob) throw new DockerArchiveError(`${label}: layer ${info.layers[i]} (${diffId}) is not in the archive`);
    layers.push(blob);
  });
  const config: BlobRef = { digest: info.imageId, size: info.config.length };
  await writeBlob(dirs.blobs, info.config, config.digest);
  const image: LayeredImage = { imageId: info.imageId, config, layers, repoTags: info.repoTags };
  await writeFileAtomic(path.join(dirs.images, `${hexOf(info.imageId)}.json`), JSON.stringify(image, null, 2) + "\n");
  return image;
}

/** Members that may be layers: `<id>/layer.tar` (docker save) and everything under `blobs/` (OCI). */
function isLayerMember(name: string): boolean {
  return name.endsWith("/layer.tar") || name.endsWith(".tar") || name.startsWith("blobs/");
}

async function writeBlob(dir: string, bytes: Buffer, digest: string): Promise<void> {
  const file = path.join(dir, hexOf(digest));
  if ((await fsp.stat(file).catch(() => null))?.size === bytes.length) return;
  await writeFileAtomic(file, bytes);
}

/**
 * Streams one member into the store under the sha256 of its uncompressed bytes (a gzip member is
 * decompressed on the way), through a temporary file renamed into place.
 */
async function storeMember(m: TarMember, dir: string): Promise<BlobRef> {
  const tmp = path.join(dir, `.in-${process.pid}-${randomBytes(6).toString("hex")}`);
  const hash = createHash("sha256");
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const src = new PassThrough();
  let done: Promise<void> | null = null;
  try {
    await m.pipe(async (chunk) => {
      if (!done) {
        const gzip = chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b;
        done = gzip ? pipeline(src, createGunzip(), counter, createWriteStream(tmp)) : pipeline(src, counter, createWriteStream(tmp));
        done.catch(() => undefined);
      }
      if (!src.write(chunk)) await Promise.race([once(src, "drain"), done]);
    });
    if (!done) done = pipeline(src, counter, createWriteStream(tmp));
    src.end();
    await done;
    const digest = `sha256:${hash.digest("hex")}`;
    await fsp.rename(tmp, path.join(dir, hexOf(digest)));
    return { digest, size };
  } catch (e) {
    src.destroy();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}
