/**
 * `longshore.lock`: what an environment's deliveries are pinned to, beside its environment file and
 * reviewed in git. Per architecture the engine bundle (the recipe it was resolved from, the
 * bundle's manifest id and every package's version, so a diff in review shows which versions
 * moved), and per image reference the image ID it resolved to.
 *
 * One schema, parsed once (every problem with its path: `longshore.lock: engine.amd64.id: ...`),
 * printed one way (fixed key order, sorted maps: the same lock always gives the same bytes). The
 * parse, print and edit functions are pure; reading and writing the file are the thin edges at the
 * end of this module.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import { stringify } from "yaml";
import { writeFileAtomic } from "../core/atomic-write";
import { ConfigError } from "../core/errors";
import { fsErrorProblem } from "../core/input-files";
import { withLock } from "../core/lock";
import { BUNDLE_RECIPE_PATTERN, DEB_ARCHES, parseBundleRecipe } from "./engine";
import { imageReferenceSchema } from "./image-reference";
import { parseYamlText } from "./yaml-text";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type ParseResult } from "./zod-issues";

/** The lock file's name; it sits in the environment file's directory. */
export const LOCK_FILE_NAME = "longshore.lock";

/** The format this longshore reads and writes. Bumped only for a change older versions would misread. */
export const LOCK_FORMAT_VERSION = 1;

/** A Debian architecture name (`amd64`). */
export type DebArch = (typeof DEB_ARCHES)[number];

const sha256Hex = z.string().regex(/^[a-f0-9]{64}$/, "must be a bundle id: 64 lower-case hex digits");
const debPackageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name");
const debVersion = z.string().regex(/^[A-Za-z0-9.+~:-]+$/, "must be a Debian version such as 20.10.24+dfsg1-1+deb12u1+b6");

/** One architecture's pinned engine bundle. */
export const bundlePinSchema = z.strictObject({
  /** The recipe it was resolved from, for this architecture (`debian-bookworm-amd64`). */
  recipe: z.string().regex(BUNDLE_RECIPE_PATTERN, "must be a recipe name debian-<suite>-<arch> such as debian-bookworm-amd64"),
  /** The bundle manifest's id: the sha256 of its content (every package's name, version and sha256). */
  id: sha256Hex,
  /** Every package in the bundle and its full Debian version: what a review of a change reads. */
  packages: z.record(debPackageName, debVersion).refine((p) => Object.keys(p).length > 0, "must list the bundle's packages"),
});

/** A pinned bundle. */
export type BundlePin = z.output<typeof bundlePinSchema>;

/** The whole lock file. */
export const lockFileSchema = z
  .strictObject({
    version: z.literal(LOCK_FORMAT_VERSION, `must be ${LOCK_FORMAT_VERSION} (the lock format this longshore reads)`),
    /** The engine bundle per architecture. @default {} (nothing pinned) */
    engine: z.partialRecord(z.enum(DEB_ARCHES, `must be an architecture: ${DEB_ARCHES.join(", ")}`), bundlePinSchema).default({}),
    /** Image reference → the image ID it resolved to (`sha256:...`). @default {} (nothing pinned) */
    images: z.record(imageReferenceSchema, z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be an image ID: sha256: and 64 lower-case hex digits")).default({}),
  })
  .superRefine((lock, ctx) => {
    for (const [arch, pin] of Object.entries(lock.engine)) {
      const parsed = pin ? parseBundleRecipe(pin.recipe) : null;
      if (parsed && parsed.arch !== arch) {
        const what = parsed.arch === null ? "names no architecture" : `is for ${parsed.arch}`;
        ctx.addIssue({ code: "custom", path: ["engine", arch, "recipe"], message: `${what}, but is pinned under ${arch} (expected debian-${parsed.suite}-${arch})` });
      }
    }
  });

/** A parsed lock file. */
export type LockFile = z.output<typeof lockFileSchema>;

/** The lock with nothing pinned (what a missing file means). */
export const EMPTY_LOCK: LockFile = Object.freeze({ version: LOCK_FORMAT_VERSION, engine: {}, images: {} }) as LockFile;

/**
 * Parses lock text; `file` (the name the user knows it by) prefixes every problem's path. An
 * empty file is a problem: a lock is never empty once written, so an empty one was cut short. Pure.
 */
export function parseLockFile(text: string, file = LOCK_FILE_NAME): ParseResult<LockFile> {
  const y = parseYamlText(text, file);
  if (!y.ok) return y;
  if (y.data === null || y.data === undefined) {
    return { ok: false, issues: [{ path: file, message: `the file is empty: expected version: ${LOCK_FORMAT_VERSION} (delete it to pin afresh)` }] };
  }
  const r = lockFileSchema.safeParse(y.data, { error: friendlyErrorMap });
  if (r.success) return { ok: true, value: r.data };
  // In the order the file lists them, so they read top to bottom.
  return { ok: false, issues: formatIssues(sortByDocumentOrder(zodPathIssues(r.error.issues), y.data), file) };
}

/** The comment longshore writes at the top of the file. */
export const LOCK_HEADER = `# ${LOCK_FILE_NAME}: what this environment's deliveries are pinned to (docs/environment.md).
# Written by longshore (the first up/rollout, \`longshore engine update\`): do not edit it by hand;
# keep it in git and review its changes like code.
`;

/**
 * The file's text: the header, then `version`, `engine` (architectures, then each pin's recipe, id
 * and packages, in that order; packages sorted by name) and `images` (sorted by reference).
 * Deterministic: equal locks give equal bytes. Pure.
 */
export function serializeLockFile(lock: LockFile): string {
  const sorted = <V>(o: Partial<Record<string, V>>) => new Map(Object.keys(o).sort().map((k) => [k, o[k] as V]));
  const engine = new Map(
    [...sorted(lock.engine)].map(([arch, pin]) => [arch, new Map<string, unknown>([["recipe", pin.recipe], ["id", pin.id], ["packages", sorted(pin.packages)]])]),
  );
  const doc = new Map<string, unknown>([
    ["version", lock.version],
    ["engine", engine],
    ["images", sorted(lock.images)],
  ]);
  return LOCK_HEADER + stringify(doc, { lineWidth: 0 });
}

/** The lock with `pin` for `arch` (replacing any pin there). Pure. */
export function withBundle(lock: LockFile, arch: DebArch, pin: BundlePin): LockFile {
  return { ...lock, engine: { ...lock.engine, [arch]: { recipe: pin.recipe, id: pin.id, packages: { ...pin.packages } } } };
}

/** The lock without a pin for `arch`. Pure. */
export function withoutBundle(lock: LockFile, arch: DebArch): LockFile {
  const engine = { ...lock.engine };
  delete engine[arch];
  return { ...lock, engine };
}

/** The lock with `ref` pinned to `imageId` (`sha256:...`). Pure. */
export function withImage(lock: LockFile, ref: string, imageId: string): LockFile {
  return { ...lock, images: { ...lock.images, [ref]: imageId } };
}

/** How two pins' packages differ: each list sorted by package name. */
export interface PackageChanges {
  added: Array<{ name: string; version: string }>;
  removed: Array<{ name: string; version: string }>;
  changed: Array<{ name: string; from: string; to: string }>;
}

/** What changes from `before` (undefined: nothing pinned, every package is added) to `after`. Pure. */
export function diffPackages(before: BundlePin | undefined, after: BundlePin): PackageChanges {
  const old = before?.packages ?? {};
  const now = after.packages;
  const names = [...new Set([...Object.keys(old), ...Object.keys(now)])].sort();
  const out: PackageChanges = { added: [], removed: [], changed: [] };
  for (const name of names) {
    const from = old[name];
    const to = now[name];
    if (from === undefined && to !== undefined) out.added.push({ name, version: to });
    else if (from !== undefined && to === undefined) out.removed.push({ name, version: from });
    else if (from !== to) out.changed.push({ name, from: from!, to: to! });
  }
  return out;
}

/** True when there is nothing in `c`. */
export function noPackageChanges(c: PackageChanges): boolean {
  return c.added.length === 0 && c.removed.length === 0 && c.changed.length === 0;
}

/**
 * One line per change, as `longshore engine update` prints them: `docker.io 20.10.24 -> 20.10.25`,
 * `added foo 1.0`, `removed bar 2.0`. Pure.
 */
export function describePackageChanges(c: PackageChanges): string[] {
  return [
    ...c.changed.map((p) => `${p.name} ${p.from} -> ${p.to}`),
    ...c.added.map((p) => `added ${p.name} ${p.version}`),
    ...c.removed.map((p) => `removed ${p.name} ${p.version}`),
  ];
}

/** Where the lock of the environment file `envFile` is: `longshore.lock` in the same directory. Pure. */
export function lockFilePath(envFile: string): string {
  return path.join(path.dirname(envFile), LOCK_FILE_NAME);
}

// ---------------------------------------------------------------------------------------------
// The edges: reading and writing the file.

/** A lock read from disk. */
export interface LoadedLock {
  /** The file's absolute path (it may not exist yet). */
  file: string;
  /** Its name as the user knows it, for messages. */
  name: string;
  lock: LockFile;
  /** False when there was no file (nothing pinned). */
  exists: boolean;
}

/**
 * Reads the lock at `file`. A missing file means nothing is pinned; an unreadable or malformed one
 * is a {@link ConfigError} listing every problem (exit 2), raised before any host is touched.
 * `name` is how messages call the file. @default name: the file's base name
 */
export async function readLockFile(file: string, name = path.basename(file)): Promise<LoadedLock> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await fs.readFile(absolute, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { file: absolute, name, lock: EMPTY_LOCK, exists: false };
    throw new ConfigError(name, [{ path: name, message: `the file ${fsErrorProblem(e)}` }]);
  }
  const r = parseLockFile(text, name);
  if (!r.ok) {
    throw new ConfigError(name, r.issues, {
      suggestion: `${LOCK_FILE_NAME} is written by longshore: restore it from git, or delete it and run \`longshore engine update\` to pin afresh.`,
    });
  }
  return { file: absolute, name, lock: r.value, exists: true };
}

/** Read-modify-writes within this process run one at a time per file. */
const pending = new Map<string, Promise<unknown>>();

/**
 * Changes the lock at `file` with `change` (pure), atomically: under a lock between longshore
 * processes (a kernel flock on a file in the temporary directory, never in the git checkout) and
 * one at a time within this process, it reads the current file, applies `change` and writes the
 * result with an atomic rename, only when the text changes. Resolves with the new lock and
 * whether the file was written.
 */
export function updateLockFile(file: string, change: (lock: LockFile) => LockFile): Promise<{ lock: LockFile; written: boolean }> {
  const absolute = path.resolve(file);
  const mutex = path.join(os.tmpdir(), `longshore-lockfile-${createHash("sha256").update(absolute).digest("hex").slice(0, 16)}.lck`);
  const run = async () =>
    withLock(mutex, { what: absolute, operation: "update longshore.lock", waitMs: 30_000, removeOnRelease: true }, async () => {
      const current = await readLockFile(absolute);
      const next = change(current.lock);
      const text = serializeLockFile(next);
      const before = current.exists ? await fs.readFile(absolute, "utf8") : null;
      if (text !== before) writeFileAtomic(absolute, text, 0o644);
      return { lock: next, written: text !== before };
    });
  const prev = pending.get(absolute) ?? Promise.resolve();
  const result = prev.then(run, run);
  const settled = result.catch(() => undefined);
  pending.set(absolute, settled);
  void settled.then(() => {
    if (pending.get(absolute) === settled) pending.delete(absolute);
  });
  return result;
}

/** Pins `ref` to `imageId` in the lock at `lockPath` (see {@link updateLockFile}). */
export async function recordImage(lockPath: string, ref: string, imageId: string): Promise<void> {
  const ok = imageReferenceSchema.safeParse(ref);
  if (!ok.success || !/^sha256:[a-f0-9]{64}$/.test(imageId)) {
    throw new Error(`recordImage: ${JSON.stringify(ref)} -> ${JSON.stringify(imageId)} is not an image reference and an image ID`);
  }
  await updateLockFile(lockPath, (lock) => (lock.images[ref] === imageId ? lock : withImage(lock, ref, imageId)));
}

/** Pins `arch`'s bundle in the lock at `lockPath` (see {@link updateLockFile}). */
export async function recordBundle(lockPath: string, arch: DebArch, pin: BundlePin): Promise<void> {
  await updateLockFile(lockPath, (lock) => withBundle(lock, arch, pin));
}
