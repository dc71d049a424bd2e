/**
 * Verifies a bundle directory against its manifest before anything from it goes to a host: the
 * manifest must parse, its id must match its content, and every .deb must exist with the size and
 * sha256 the manifest promises; no other file may sit in `debs/`. Every problem is reported (file,
 * expected and actual sha256), not just the first.
 *
 * Hashing 60+ MB costs every command that uses the bundle ~0.15 s. A full verification leaves a
 * stamp (`.verified`: the manifest id and each .deb's size, inode and ctime); the next one that
 * finds every file with the same identity trusts the earlier hashes. ctime cannot be set back by
 * `touch` or by writing the file, so a changed file is hashed again. Hosts check every .deb with
 * sha256sum when they receive it either way, and `rehash` (the CLI's `--verify`) ignores the stamp.
 */
import { createHash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import * as path from "node:path";
import { BundleError, type BundleIssue } from "../../core/errors";
import {
  DEBS_DIR,
  MANIFEST_FILE,
  bundleIdOf,
  bundleManifestSchema,
  type BundleManifest,
} from "./manifest";

/** A bundle that passed verification: its directory and manifest. */
export interface VerifiedBundle {
  dir: string;
  manifest: BundleManifest;
}

/** sha256 (hex) of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("error", reject)
      .on("data", (chunk) => hash.update(chunk))
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/** Reads and validates `manifest.json` without hashing the packages (structure and id only). */
export async function readManifest(dir: string): Promise<{ manifest: BundleManifest | null; issues: BundleIssue[] }> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, MANIFEST_FILE), "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { manifest: null, issues: [{ file: MANIFEST_FILE, message: code === "ENOENT" ? "missing" : `unreadable (${code})` }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { manifest: null, issues: [{ file: MANIFEST_FILE, message: `not valid JSON (${(e as Error).message})` }] };
  }
  const parsed = bundleManifestSchema.safeParse(json);
  if (!parsed.success) {
    return {
      manifest: null,
      issues: parsed.error.issues.map((i) => ({
        file: MANIFEST_FILE,
        message: `${i.path.map(String).join(".") || "(root)"}: ${i.message}`,
      })),
    };
  }
  const manifest = parsed.data as BundleManifest;
  const actual = bundleIdOf(manifest);
  if (actual !== manifest.id) {
    return {
      manifest: null,
      issues: [
        {
          file: MANIFEST_FILE,
          message: `bundle id does not match the manifest's content: expected ${manifest.id}, actual ${actual}`,
          expected: manifest.id,
          actual,
        },
      ],
    };
  }
  return { manifest, issues: [] };
}

/**
 * Re-hashes every file of the bundle in `dir` against its manifest. Resolves with the manifest when
 * everything matches; rejects with a {@link BundleError} (code BUNDLE_INVALID) listing each
 * problem otherwise.
 */
export async function verifyBundle(dir: string, options: VerifyBundleOptions = {}): Promise<VerifiedBundle> {
  const { manifest, issues } = await readManifest(dir);
  if (!manifest) throw new BundleError(dir, issues);
  if (!options.rehash && (await stampHolds(dir, manifest))) return { dir, manifest };

  const problems: BundleIssue[] = [];
  const listed = new Set(manifest.packages.map((p) => p.filename));
  let present: string[] = [];
  try {
    present = await fs.readdir(path.join(dir, DEBS_DIR));
  } catch (e) {
    problems.push({ file: `${DEBS_DIR}/`, message: `missing (${(e as NodeJS.ErrnoException).code})` });
  }
  for (const f of present.sort()) {
    if (!listed.has(f)) problems.push({ file: `${DEBS_DIR}/${f}`, message: "not listed in the manifest" });
  }

  const queue = [...manifest.packages];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const rel = `${DEBS_DIR}/${p.filename}`;
      const file = path.join(dir, DEBS_DIR, p.filename);
      let size: number;
      try {
        size = (await fs.stat(file)).size;
      } catch {
        problems.push({ file: rel, message: "missing" });
        continue;
      }
      const actual = await sha256File(file);
      if (actual !== p.sha256) {
        problems.push({ file: rel, message: `sha256 mismatch: expected ${p.sha256}, actual ${actual}`, expected: p.sha256, actual });
      } else if (size !== p.size) {
        problems.push({ file: rel, message: `size mismatch: expected ${p.size} bytes, actual ${size}` });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));

  if (problems.length > 0) {
    problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    throw new BundleError(dir, problems);
  }
  await writeStamp(dir, manifest);
  return { dir, manifest };
}

/** Options of {@link verifyBundle}. */
export interface VerifyBundleOptions {
  /** Files hashed at once. @default 4 */
  concurrency?: number;
  /** Hash every file even when the stamp of an earlier verification still holds. @default false */
  rehash?: boolean;
}

/** The stamp a full verification leaves in the bundle directory. */
export const VERIFIED_STAMP = ".verified";

/** What identifies a file's content without reading it: size, inode and ctime (which nothing sets back). */
async function identity(file: string): Promise<string | null> {
  try {
    const st = await fs.stat(file, { bigint: true });
    return `${st.size}:${st.ino}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

/** The stamp of the directory as it is now, or null when a listed file is missing. */
async function stampOf(dir: string, manifest: BundleManifest): Promise<string | null> {
  const debs = await fs.readdir(path.join(dir, DEBS_DIR)).catch(() => [] as string[]);
  const ids = await Promise.all(manifest.packages.map((p) => identity(path.join(dir, DEBS_DIR, p.filename))));
  if (ids.includes(null)) return null;
  // The listing is part of it: an extra file in debs/ must be reported, so it breaks the stamp.
  return JSON.stringify({ id: manifest.id, debs: debs.sort(), files: manifest.packages.map((p, i) => `${p.filename} ${ids[i]}`).sort() });
}

async function stampHolds(dir: string, manifest: BundleManifest): Promise<boolean> {
  const stamp = await fs.readFile(path.join(dir, VERIFIED_STAMP), "utf8").catch(() => null);
  return stamp !== null && stamp === (await stampOf(dir, manifest));
}

async function writeStamp(dir: string, manifest: BundleManifest): Promise<void> {
  const tmp = path.join(dir, `${VERIFIED_STAMP}.${process.pid}.tmp`);
  try {
    const stamp = await stampOf(dir, manifest);
    if (stamp === null) return;
    await fs.writeFile(tmp, stamp);
    await fs.rename(tmp, path.join(dir, VERIFIED_STAMP));
  } catch {
    // A read-only cache only costs the next run a re-hash.
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}
