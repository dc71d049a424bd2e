/**
 * Reading `docker save` archives on the controller without a docker daemon: a streaming tar reader
 * (ustar, GNU long names, pax paths; gzip detected by its magic bytes) and what the provisioner
 * needs from the archive — the image ID (sha256 of the config JSON, what `docker image inspect`
 * prints after `docker load`), the repo tags and the layer members. Archives are streamed, never
 * held in memory: only `manifest.json` and the config are buffered.
 */
import { createHash } from "node:crypto";
import { createReadStream, promises as fsp } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";

/** One member's header. */
export interface TarHeader {
  name: string;
  size: number;
  /** `0` file, `5` directory, `2` symlink... (ustar typeflag). */
  type: string;
}

/** A member as {@link tarEntries} yields it: read its body at most once, or leave it (it is skipped). */
export interface TarMember extends TarHeader {
  /** The whole body in memory (for small members). */
  buffer(): Promise<Buffer>;
  /** Streams the body chunk by chunk. */
  pipe(onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void>;
}

/** Reads exact byte counts from a chunked stream. */
class ByteReader {
  #buf: Buffer = Buffer.alloc(0);
  readonly #it: AsyncIterator<Buffer | string>;
  #done = false;

  constructor(source: AsyncIterable<Buffer | string>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    const chunk = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    return true;
  }

  /** Exactly `n` bytes, or null at a clean end of stream; throws on a stream cut mid-way. */
  async read(n: number): Promise<Buffer | null> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw new Error(`tar archive is truncated (wanted ${n} bytes, got ${this.#buf.length})`);
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Hands `n` bytes to `onChunk` as they arrive. */
  async forward(n: number, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) throw new Error(`tar archive is truncated (${left} bytes of a member missing)`);
      const take = Math.min(left, this.#buf.length);
      const part = this.#buf.subarray(0, take);
      this.#buf = this.#buf.subarray(take);
      left -= take;
      await onChunk(part);
    }
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

/** A numeric header field: octal text, or GNU base-256 (high bit set) for sizes beyond 8 GiB. */
function numberField(b: Buffer): number {
  if ((b[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const text = cString(b).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === numberField(h.subarray(148, 156));
}

/** pax extended header records (`<len> key=value\n`). */
function paxRecords(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.subarray(i, sp).toString("ascii"), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = body.subarray(sp + 1, i + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * The members of a tar stream, in order. A member's body must be consumed (or not at all) before
 * asking for the next member; an unread body is skipped.
 */
export async function* tarEntries(source: AsyncIterable<Buffer | string>): AsyncGenerator<TarMember> {
  const r = new ByteReader(source);
  let longName: string | null = null;
  let paxPath: string | null = null;
  for (;;) {
    const h = await r.read(512);
    // A tar ends with zero blocks; a stream that just stops was cut short (a partial copy).
    if (h === null) throw new Error("tar archive is truncated (no end-of-archive marker)");
    if (h.every((b) => b === 0)) return;
    if (!checksumOk(h)) throw new Error("not a tar archive (header checksum mismatch)");
    const size = numberField(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 0x30);
    const padded = Math.ceil(size / 512) * 512;
    if (type === "L" || type === "x" || type === "g") {
      const body = (await r.read(padded)) ?? Buffer.alloc(0);
      if (type === "L") longName = cString(body.subarray(0, size));
      if (type === "x") paxPath = paxRecords(body.subarray(0, size)).get("path") ?? paxPath;
      continue;
    }
    const magic = h.subarray(257, 263).toString("ascii");
    const prefix = magic.startsWith("ustar") ? cString(h.subarray(345, 500)) : "";
    const plain = cString(h.subarray(0, 100));
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${plain}` : plain);
    longName = null;
    paxPath = null;
    let consumed = false;
    const take = async (onChunk: (c: Buffer) => void | Promise<void>) => {
      if (consumed) throw new Error(`tar member ${name} was read twice`);
      consumed = true;
      await r.forward(size, onChunk);
      await r.read(padded - size);
    };
    yield {
      name,
      size,
      type,
      buffer: async () => {
        const parts: Buffer[] = [];
        await take((c) => void parts.push(Buffer.from(c)));
        return Buffer.concat(parts);
      },
      pipe: take,
    };
    if (!consumed) await take(() => undefined);
  }
}

/** A fresh stream of the archive's tar bytes: gunzipped when the file starts with gzip's magic bytes. */
export async function openTarStream(file: string): Promise<Readable> {
  const fh = await fsp.open(file, "r");
  let magic: Buffer;
  try {
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    magic = b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(file);
  if (magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    const out = new PassThrough();
    const gunzip = createGunzip();
    raw.on("error", (e) => out.destroy(e));
    gunzip.on("error", (e) => out.destroy(e));
    raw.pipe(gunzip).pipe(out);
    return out;
  }
  return raw;
}

/** What the provisioner needs to know about a `docker save` archive. */
export interface DockerArchiveInfo {
  /** `sha256:<hex>` of the config JSON: the image ID after `docker load` (and after a registry pull). */
  imageId: string;
  /** `repo:tag` names the archive loads as (may be empty). */
  repoTags: string[];
  /** The config JSON bytes. */
  config: Buffer;
  /** Paths of the layer members, bottom first (each an uncompressed or compressed tar). */
  layers: string[];
  /** The config's `rootfs.diff_ids` (sha256 of each uncompressed layer), bottom first. */
  diffIds: string[];
}

/** The problem with an archive that is not a usable `docker save` archive. */
export class DockerArchiveError extends Error {}

/** An error of the file system (`ENOENT`, `EISDIR`...), as opposed to one about the bytes read. */
function isSystemError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

const SMALL_MEMBER = 8 * 2 ** 20;

/** Reads a `docker save` archive's manifest and config (one streaming pass; layers are skipped). */
export async function readDockerArchive(file: string): Promise<DockerArchiveInfo> {
  const small = new Map<string, Buffer>();
  try {
    for await (const m of tarEntries(await openTarStream(file))) {
      // manifest.json names the config, and it may come before or after it: keep every small JSON.
      if (m.type === "0" && m.size <= SMALL_MEMBER && (m.name === "manifest.json" || m.name.endsWith(".json") || m.name.startsWith("blobs/sha256/"))) {
        small.set(m.name.replace(/^\.\//, ""), await m.buffer());
      }
    }
  } catch (e) {
    throw archiveReadError(e, file);
  }
  return archiveInfoFrom(small, file);
}

/**
 * What a failed read of an archive means: a file system error (no such file, a directory) stays
 * what it is; what the bytes say about the archive (cut short, not a tar, bad gzip data) becomes a
 * {@link DockerArchiveError} naming the file.
 */
export function archiveReadError(e: unknown, file: string): Error {
  if (isSystemError(e) || e instanceof DockerArchiveError) return e as Error;
  const zlib = typeof (e as NodeJS.ErrnoException).code === "string" && (e as NodeJS.ErrnoException).code!.startsWith("Z_");
  return new DockerArchiveError(`${file}: ${zlib ? `gzip data is damaged or cut short (${(e as Error).message})` : (e as Error).message}`, { cause: e });
}

/**
 * What `manifest.json` and the config (among the archive's small JSON members, by member name)
 * say about the image; `file` names the archive in messages.
 */
export function archiveInfoFrom(small: ReadonlyMap<string, Buffer>, file: string): DockerArchiveInfo {
  const manifestBytes = small.get("manifest.json");
  if (!manifestBytes) throw new DockerArchiveError(`${file}: not a docker save archive (no manifest.json)`);
  let manifest: Array<{ Config?: string; RepoTags?: string[] | null; Layers?: string[] }>;
  try {
    manifest = JSON.parse(manifestBytes.toString("utf8"));
  } catch (e) {
    throw new DockerArchiveError(`${file}: manifest.json is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(manifest) || manifest.length !== 1) {
    throw new DockerArchiveError(`${file}: manifest.json must describe exactly one image (it describes ${Array.isArray(manifest) ? manifest.length : "none"})`);
  }
  const entry = manifest[0]!;
  const config = entry.Config ? small.get(entry.Config) : undefined;
  if (!config) throw new DockerArchiveError(`${file}: the config ${entry.Config ?? "(unnamed)"} named by manifest.json is not in the archive`);
  let diffIds: string[] = [];
  try {
    diffIds = (JSON.parse(config.toString("utf8")) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  } catch (e) {
    throw new DockerArchiveError(`${file}: the image config is not JSON (${(e as Error).message})`);
  }
  const layers = entry.Layers ?? [];
  if (layers.length !== diffIds.length) {
    throw new DockerArchiveError(`${file}: manifest.json lists ${layers.length} layers but the config has ${diffIds.length} diff_ids`);
  }
  return {
    imageId: `sha256:${createHash("sha256").update(config).digest("hex")}`,
    repoTags: entry.RepoTags ?? [],
    config,
    layers,
    diffIds,
  };
}
