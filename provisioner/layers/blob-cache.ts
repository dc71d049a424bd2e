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
import * as os from "node:os";
import * as path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { writeFileAtomic } from "../../core/atomic-write";
import { archiveInfoFrom, archiveReadError, DockerArchiveError, openTarStream, readDockerArchive, tarEntries, type DockerArchiveInfo, type TarMember } from "../image-archive";
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
export async function cacheArchive(cacheDir: string, file: string, options: { platform?: string } = {}): Promise<LayeredImage> {
  // A docker save archive names its image in one cheap pass; an OCI layout is read in full.
  const info = await readDockerArchive(file).catch((e: unknown) => {
    if (e instanceof DockerArchiveError && /no manifest\.json/.test(e.message)) return null;
    throw e;
  });
  const hit = info && (await cachedImage(cacheDir, info.imageId));
  if (info && hit) return { ...hit, repoTags: info.repoTags };
  let stream: Readable;
  try {
    stream = await openTarStream(file);
  } catch (e) {
    throw archiveReadError(e, file);
  }
  return importArchiveStream(cacheDir, stream, file, options);
}

/**
 * Stores every layer of a `docker save` / OCI archive stream in the cache and checks them against
 * the image's config. `label` names the source in errors (a file, `engine image myapp:2`).
 */
export async function importArchiveStream(
  cacheDir: string,
  stream: AsyncIterable<Buffer | string>,
  label: string,
  options: { /** The platform picked from a multi-platform OCI index. @default this computer's */ platform?: string } = {},
): Promise<LayeredImage> {
  const dirs = blobCacheDirs(cacheDir);
  await fsp.mkdir(dirs.blobs, { recursive: true });
  await fsp.mkdir(dirs.images, { recursive: true });
  const small = new Map<string, Buffer>();
  const stored = new Map<string, StoredBlob>();
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
  // A blob under blobs/sha256/<hex> must hash to its name as stored (compressed or not).
  for (const [name, blob] of stored) {
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
    if (m && blob.raw !== `sha256:${m[1]}`) throw new DockerArchiveError(`${label}: ${name} hashes to ${blob.raw}: the archive is damaged`);
  }
  const info = small.has("manifest.json") ? archiveInfoFrom(small, label) : ociInfo(small, label, options.platform ?? controllerPlatform());
  const layers: BlobRef[] = [];
  const byDigest = new Map([...stored.values()].map((b) => [b.digest, b]));
  const ref = (b: StoredBlob): BlobRef => ({ digest: b.digest, size: b.size });
  info.diffIds.forEach((diffId, i) => {
    const stashed = stored.get(info.layers[i]!.replace(/^\.\//, ""));
    const member = stashed ? ref(stashed) : undefined;
    if (member && member.digest !== diffId) {
      throw new DockerArchiveError(`${label}: layer ${info.layers[i]} has sha256 ${member.digest}, but the image config says ${diffId}: the archive is damaged`);
    }
    const other = byDigest.get(diffId);
    const blob = member ?? (other ? ref(other) : undefined);
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
async function storeMember(m: TarMember, dir: string): Promise<StoredBlob> {
  const tmp = path.join(dir, `.in-${process.pid}-${randomBytes(6).toString("hex")}`);
  const hash = createHash("sha256");
  const rawHash = createHash("sha256");
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
      rawHash.update(chunk);
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
    return { digest, size, raw: `sha256:${rawHash.digest("hex")}` };
  } catch (e) {
    src.destroy();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** A stored member: its uncompressed blob, and the sha256 of the bytes as the archive had them. */
interface StoredBlob extends BlobRef {
  raw: string;
}

/** Node's name for this computer's architecture, as OCI platforms name it. */
const OCI_ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

/** This computer's platform, `linux/<arch>`: what local machines run. */
export function controllerPlatform(nodeArch: string = os.arch()): string {
  return `linux/${OCI_ARCH[nodeArch] ?? nodeArch}`;
}

interface OciDescriptor {
  mediaType?: string;
  digest?: string;
  platform?: { os?: string; architecture?: string };
  annotations?: Record<string, string>;
}

/**
 * What an OCI image layout (`index.json`, no `manifest.json`) says about its image: the index is
 * followed to a manifest, a multi-platform index picking `platform`. Layer members are named by
 * their compressed digest; the config's diff_ids name their uncompressed content.
 */
function ociInfo(small: ReadonlyMap<string, Buffer>, label: string, platform: string): DockerArchiveInfo {
  const json = (name: string, what: string): Record<string, unknown> => {
    const bytes = small.get(name);
    if (!bytes) throw new DockerArchiveError(`${label}: ${what} (${name}) is not in the archive`);
    try {
      return JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new DockerArchiveError(`${label}: ${name} is not JSON (${(e as Error).message})`);
    }
  };
  if (!small.has("index.json")) throw new DockerArchiveError(`${label}: not a docker save or OCI archive (no manifest.json, no index.json)`);
  const blobName = (d: OciDescriptor) => `blobs/sha256/${hexOf(String(d.digest))}`;
  let node = json("index.json", "the OCI index");
  let tags: string[] = [];
  const [wantOs, wantArch] = platform.split("/");
  for (let depth = 0; Array.isArray(node["manifests"]); depth++) {
    const manifests = node["manifests"] as OciDescriptor[];
    tags = tags.concat(manifests.flatMap((m) => tagOf(m.annotations)));
    const pick =
      manifests.length === 1 && !manifests[0]!.platform
        ? manifests[0]
        : manifests.find((m) => (m.platform?.os ?? "linux") === wantOs && m.platform?.architecture === wantArch);
    if (!pick) {
      const have = manifests.map((m) => `${m.platform?.os ?? "?"}/${m.platform?.architecture ?? "?"}`).join(", ");
      throw new DockerArchiveError(`${label}: the index has no image for ${platform} (it has ${have || "none"})`);
    }
    if (depth > 4) throw new DockerArchiveError(`${label}: the OCI index nests too deep`);
    node = json(blobName(pick), "a manifest the index names");
  }
  const configDesc = node["config"] as OciDescriptor | undefined;
  if (!configDesc?.digest) throw new DockerArchiveError(`${label}: the image manifest names no config`);
  const config = small.get(blobName(configDesc));
  if (!config) throw new DockerArchiveError(`${label}: the config ${configDesc.digest} is not in the archive`);
  let diffIds: string[];
  try {
    diffIds = (JSON.parse(config.toString("utf8")) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  } catch (e) {
    throw new DockerArchiveError(`${label}: the image config is not JSON (${(e as Error).message})`);
  }
  const layers = ((node["layers"] as OciDescriptor[] | undefined) ?? []).map(blobName);
  if (layers.length !== diffIds.length) throw new DockerArchiveError(`${label}: the manifest lists ${layers.length} layers but the config has ${diffIds.length} diff_ids`);
  return { imageId: `sha256:${createHash("sha256").update(config).digest("hex")}`, repoTags: [...new Set(tags)], config, layers, diffIds };
}

/** The `repo:tag` an OCI descriptor's annotations name (containerd's full name, or the ref name when it is one). */
function tagOf(annotations: Record<string, string> | undefined): string[] {
  const full = annotations?.["io.containerd.image.name"];
  if (full) return [full.replace(/^docker\.io\/library\//, "").replace(/^docker\.io\//, "")];
  const ref = annotations?.["org.opencontainers.image.ref.name"];
  return ref && /[:/]/.test(ref) && !/^[^:/]+$/.test(ref) ? [ref] : [];
}
