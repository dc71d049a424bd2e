/**
 * The archive's signed indexes, read without apt (the edge of the native resolver): for each
 * source of a recipe, `dists/<suite>/InRelease` over HTTP(S), its clearsigned signature checked
 * with openpgp against the source's keyring, then each `<component>/binary-<arch>/Packages.gz`
 * (or `.xz`, decoded by xz.ts: nothing is spawned) whose size and sha256 the signed text gives, parsed. Verified files are cached under
 * `<cache>/archive/` like apt's lists; a cached Packages file whose sha256 is the signed one is
 * never downloaded again.
 *
 * Valid-Until policy: an InRelease whose `Valid-Until` has passed is refused (a replayed, stale
 * index would hide security updates), unless the caller sets `checkValidUntil: false` (the CLI:
 * `LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL=false`, for a dated snapshot mirror; apt's
 * `Acquire::Check-Valid-Until "false"` is the same choice).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import * as openpgp from "openpgp";
import { BundleError, PreconditionError } from "../../core/errors";
import type { AptSource, BundleRecipe } from "../../model/engine";
import { parsePackagesIndex, parseRelease, type PackageRecord, type ReleaseInfo } from "./deb822";
import { xzDecompress } from "./xz";

/** Options of {@link loadArchiveIndexes}. */
export interface ArchiveIndexOptions {
  /** Verified indexes are cached in `<cacheDir>/archive/`. */
  cacheDir: string;
  /** Fetch InRelease again (default true). False reuses the cached one (still checked). */
  refresh?: boolean;
  /** Refuse an InRelease past its Valid-Until. @default true */
  checkValidUntil?: boolean;
  /** The clock for Valid-Until. @default the current time */
  now?: Date;
  log?: (line: string) => void;
}

/** One source's verified index. */
export interface SourceIndex {
  source: AptSource;
  release: ReleaseInfo;
  /** The keyring file the signature was checked against. */
  keyring: string;
  packages: PackageRecord[];
}

/** longshore's own copy of Debian's archive keyring (keys/README.md says where it came from). */
export function shippedKeyringDir(): string {
  const candidates = [path.resolve(__dirname, "..", "..", "keys"), path.resolve(__dirname, "..", "..", "..", "keys")];
  return candidates.find((d) => existsSync(path.join(d, "debian-archive-keyring.gpg"))) ?? candidates[0]!;
}

/**
 * The keyring file to check `signedBy` with: the file itself when it exists, else longshore's
 * shipped copy of the same file name (Debian's keyring, which only Debian machines have).
 */
export async function keyringFile(signedBy: string, shippedDir: string = shippedKeyringDir()): Promise<string> {
  if (await exists(signedBy)) return signedBy;
  const shipped = path.join(shippedDir, path.basename(signedBy));
  if (await exists(shipped)) return shipped;
  throw new PreconditionError(`keyring ${signedBy} does not exist (and longshore ships no ${path.basename(signedBy)})`, {
    suggestion: "Install the archive's keyring package (debian-archive-keyring) or point signedBy at the right file.",
  });
}

/** Reads an OpenPGP keyring (binary `.gpg` or ASCII-armored `.asc`). */
export async function readKeyring(file: string): Promise<openpgp.Key[]> {
  const bytes = await fs.readFile(file);
  try {
    return bytes.subarray(0, 5).toString("latin1") === "-----"
      ? await openpgp.readKeys({ armoredKeys: bytes.toString("utf8") })
      : await openpgp.readKeys({ binaryKeys: new Uint8Array(bytes) });
  } catch (e) {
    throw new PreconditionError(`keyring ${file} is not an OpenPGP keyring: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks a clearsigned InRelease against `keys` and returns the text the signature covers.
 * Accepted when at least one signature verifies with a key (or subkey) of the keyring; Debian
 * signs with several keys, some of which (an older release's) a keyring may lack.
 */
export async function verifyInRelease(armored: string, keys: openpgp.Key[], label: { uri: string; suite: string; keyring: string }): Promise<string> {
  const refuse = (cause?: unknown) =>
    new PreconditionError(`InRelease of ${label.uri} ${label.suite} is not signed by a key in ${label.keyring}`, {
      suggestion: "Check the mirror (a proxy or captive portal may rewrite it) and the source's keyring.",
      ...(cause ? { cause } : {}),
    });
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (e) {
    throw refuse(e);
  }
  const result = await openpgp.verify({ message, verificationKeys: keys, expectSigned: false });
  for (const s of result.signatures) {
    const ok = await s.verified.then(
      () => true,
      () => false,
    );
    if (ok) return result.data;
  }
  throw refuse();
}

/** Refuses a Release whose Valid-Until has passed (unless the policy is off). */
export function checkValidUntil(release: ReleaseInfo, label: { uri: string; suite: string }, now: Date, check: boolean): void {
  if (!check || !release.validUntil || release.validUntil.getTime() >= now.getTime()) return;
  throw new PreconditionError(
    `InRelease of ${label.uri} ${label.suite} expired at ${release.validUntil.toISOString()} (Valid-Until); refusing a possibly stale index`,
    { suggestion: "Use an up-to-date mirror, or, for a dated snapshot mirror, set LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL=false." },
  );
}

/** The cache directory of one source's suite (`<cache>/archive/<host_path>/<suite>`). */
export function suiteCacheDir(cacheDir: string, uri: string, suite: string): string {
  const host = uri.replace(/^[a-z]+:\/\//i, "").replace(/[^A-Za-z0-9.-]+/g, "_").replace(/^_+|_+$/g, "");
  return path.join(cacheDir, "archive", host, suite);
}

function joinUri(uri: string, rel: string): string {
  return `${uri.replace(/\/+$/, "")}/${rel}`;
}

/** GET `url`: its response with a body; a non-2xx answer or a network failure is a PreconditionError naming the URL. */
export async function fetchOk(url: string): Promise<Response & { body: NonNullable<Response["body"]> }> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    throw new PreconditionError(`could not fetch ${url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`, { cause: e });
  }
  if (!res.ok || !res.body) throw new PreconditionError(`could not fetch ${url}: HTTP ${res.status}`);
  return res as Response & { body: NonNullable<Response["body"]> };
}

/** GET `url` into memory ({@link fetchOk}'s errors). */
export async function fetchBytes(url: string): Promise<Buffer> {
  return Buffer.from(await (await fetchOk(url)).arrayBuffer());
}

/** Writes `data` to `file` atomically (temp file in the same directory, then rename). */
async function writeAtomic(file: string, data: Buffer | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Fetches (or reuses) and verifies the InRelease and Packages indexes of every source of
 * `recipe` for its architecture, in the recipe's source order.
 */
export async function loadArchiveIndexes(recipe: Pick<BundleRecipe, "sources" | "arch">, options: ArchiveIndexOptions): Promise<SourceIndex[]> {
  const log = options.log ?? (() => {});
  const keyrings = new Map<string, { file: string; keys: openpgp.Key[] }>();
  const out: SourceIndex[] = [];
  for (const source of recipe.sources) {
    let kr = keyrings.get(source.signedBy);
    if (!kr) {
      const file = await keyringFile(source.signedBy);
      kr = { file, keys: await readKeyring(file) };
      keyrings.set(source.signedBy, kr);
    }
    const label = { uri: source.uri, suite: source.suite, keyring: kr.file };
    const dir = suiteCacheDir(options.cacheDir, source.uri, source.suite);
    const cached = path.join(dir, "InRelease");
    let armored: string;
    if (options.refresh === false && (await exists(cached))) {
      armored = await fs.readFile(cached, "utf8");
    } else {
      const url = joinUri(source.uri, `dists/${source.suite}/InRelease`);
      armored = (await fetchBytes(url)).toString("utf8");
      log(`fetched ${url} (${armored.length} bytes)`);
    }
    const signed = await verifyInRelease(armored, kr.keys, label);
    const release = parseRelease(signed);
    checkValidUntil(release, label, options.now ?? new Date(), options.checkValidUntil !== false);
    await writeAtomic(cached, armored);

    const arches = release.separateArchAll ? [recipe.arch, "all"] : [recipe.arch];
    const packages: PackageRecord[] = [];
    for (const component of source.components) {
      for (const arch of arches) {
        const base = `${component}/binary-${arch}/Packages`;
        const listed = [".gz", ".xz", ""].map((ext) => release.sha256.get(base + ext)).find((f) => f !== undefined);
        if (!listed) {
          if (arch === "all") continue; // an archive without binary-all indexes
          throw new PreconditionError(`InRelease of ${source.uri} ${source.suite} lists no ${base}(.gz|.xz)`, {
            suggestion: `Check the component (${component}) and the architecture (${recipe.arch}) against the archive.`,
          });
        }
        const text = await loadPackagesFile(source, listed, dir, log);
        packages.push(...parsePackagesIndex(text, `${source.uri} ${source.suite} ${listed.path}`));
      }
    }
    out.push({ source, release, keyring: kr.file, packages });
  }
  return out;
}

/** One Packages file: from the cache when its sha256 is the signed one, else downloaded and checked. */
async function loadPackagesFile(
  source: AptSource,
  file: { path: string; size: number; sha256: string },
  dir: string,
  log: (line: string) => void,
): Promise<string> {
  const local = path.join(dir, file.path);
  let data: Buffer | null = await fs.readFile(local).catch(() => null);
  if (!data || data.length !== file.size || sha256(data) !== file.sha256) {
    const url = joinUri(source.uri, `dists/${source.suite}/${file.path}`);
    data = await fetchBytes(url);
    const actual = sha256(data);
    if (data.length !== file.size || actual !== file.sha256) {
      throw new BundleError(url, [
        {
          file: file.path,
          message: `does not match the signed InRelease: expected sha256 ${file.sha256} (${file.size} bytes), actual ${actual} (${data.length} bytes)`,
          expected: file.sha256,
          actual,
        },
      ], { suggestion: "The mirror serves an index that does not match its signed InRelease (mid-sync, or tampered): retry later or use another mirror." });
    }
    await writeAtomic(local, data);
    log(`fetched ${url} (${(data.length / 1048576).toFixed(1)} MiB)`);
  }
  const bytes: Buffer = data;
  try {
    const raw = file.path.endsWith(".gz") ? gunzipSync(bytes) : file.path.endsWith(".xz") ? xzDecompress(bytes) : bytes;
    return raw.toString("utf8");
  } catch (e) {
    // The bytes are the signed ones: a failure here is a decoder limitation, never the mirror's fault.
    throw new PreconditionError(`could not decompress ${source.uri} ${source.suite} ${file.path}: ${(e as Error).message}`, { cause: e });
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
