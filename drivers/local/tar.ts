/**
 * A minimal, deterministic POSIX ustar writer: directories, regular files and symlinks with fixed
 * owner, group and mtime, in the order given. Enough for image layers and `docker save` archives,
 * whose bytes (and so whose digests) must not depend on when or where they were built.
 */

/** One archive member. */
export type TarEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; mode?: number; content: Uint8Array | string }
  | { type: "symlink"; path: string; target: string };

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: value ${value} does not fit in ${width - 1} octal digits`);
  return s.padStart(width - 1, "0") + "\0";
}

function splitName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: "" };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { name: rest, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${name}`);
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const p = entry.type === "dir" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitName(p);
  const mode = entry.type === "symlink" ? 0o777 : (entry.mode ?? (entry.type === "dir" ? 0o755 : 0o644));
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode, 8), 100, 8, "ascii");
  h.write(octal(0, 8), 108, 8, "ascii"); // uid
  h.write(octal(0, 8), 116, 8, "ascii"); // gid
  h.write(octal(size, 12), 124, 12, "ascii");
  h.write(octal(0, 12), 136, 12, "ascii"); // mtime: the epoch, always
  h.write("        ", 148, 8, "ascii"); // checksum placeholder
  h.write(entry.type === "file" ? "0" : entry.type === "dir" ? "5" : "2", 156, 1, "ascii");
  if (entry.type === "symlink") {
    if (Buffer.byteLength(entry.target) > 100) throw new Error(`tar: symlink target too long: ${entry.target}`);
    h.write(entry.target, 157, 100, "utf8");
  }
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write("root", 265, 32, "ascii");
  h.write("root", 297, 32, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, 8, "ascii");
  return h;
}

/** The archive's bytes. Entries are written in the order given (sort them for reproducibility). */
export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.path.startsWith("/") || e.path.split("/").includes("..")) throw new Error(`tar: unsafe path ${e.path}`);
    if (seen.has(e.path)) throw new Error(`tar: duplicate path ${e.path}`);
    seen.add(e.path);
    const data = e.type === "file" ? (typeof e.content === "string" ? Buffer.from(e.content, "utf8") : Buffer.from(e.content)) : Buffer.alloc(0);
    parts.push(header(e, data.length), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

/** Sorts entries by path so parents come before children and the order never depends on input order. */
export function sortEntries<T extends TarEntry>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Member names and types of an archive written by {@link writeTar} (or any plain ustar). */
export function listTar(archive: Uint8Array): Array<{ path: string; type: string; size: number; mode: number; mtime: number; uid: number; gid: number; linkname: string }> {
  const buf = Buffer.from(archive);
  const out = [];
  for (let off = 0; off + BLOCK <= buf.length; ) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const str = (s: number, l: number) => h.subarray(s, s + l).toString("utf8").replace(/\0.*$/s, "");
    const num = (s: number, l: number) => parseInt(str(s, l).trim() || "0", 8);
    const prefix = str(345, 155);
    const name = str(0, 100);
    const size = num(124, 12);
    const flag = str(156, 1);
    out.push({
      path: prefix ? `${prefix}/${name}` : name,
      type: flag === "5" ? "dir" : flag === "2" ? "symlink" : "file",
      size,
      mode: num(100, 8),
      mtime: num(136, 12),
      uid: num(108, 8),
      gid: num(116, 8),
      linkname: str(157, 100),
    });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

/** The content of one member, or undefined. */
export function readTarMember(archive: Uint8Array, memberPath: string): Buffer | undefined {
  const buf = Buffer.from(archive);
  for (let off = 0; off + BLOCK <= buf.length; ) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const str = (s: number, l: number) => h.subarray(s, s + l).toString("utf8").replace(/\0.*$/s, "");
    const prefix = str(345, 155);
    const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    const size = parseInt(str(124, 12).trim() || "0", 8);
    if (name === memberPath) return buf.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return undefined;
}
