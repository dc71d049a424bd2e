/**
 * Parsers of the archive's deb822 files (deb822(5)): the `Packages` index and the signed text of
 * `InRelease`. Pure: text in, records out. Field names are case-insensitive; a line starting with
 * a space or tab continues the previous field (a line of ` .` is an empty line inside it).
 */
import type { VersionRelation } from "./debian-version";

/** One stanza: field names lower-cased, values trimmed, continuation lines joined with `\n`. */
export type Stanza = Map<string, string>;

/** Field names as Debian writes them, lower-cased without work. */
const CANONICAL = new Map(
  ["Package", "Version", "Architecture", "Multi-Arch", "Priority", "Depends", "Pre-Depends", "Provides", "Filename", "Size", "SHA256", "Description", "Description-md5", "Installed-Size", "Maintainer", "Section", "MD5sum", "Homepage", "Source", "Tag", "Recommends", "Suggests", "Breaks", "Replaces", "Conflicts", "Enhances", "Built-Using", "Static-Built-Using"].map((k) => [k, k.toLowerCase()]),
);

/**
 * Splits deb822 text into stanzas (blank lines separate them; `#` comment lines are skipped).
 * With `keep`, only those (lower-case) fields are stored: a Packages index is ~50 MB, mostly
 * descriptions nobody here reads.
 */
export function parseStanzas(text: string, keep?: ReadonlySet<string>): Stanza[] {
  const out: Stanza[] = [];
  let current: Stanza = new Map();
  let last: string | null = null;
  const flush = () => {
    if (current.size > 0) out.push(current);
    current = new Map();
    last = null;
  };
  // Works on offsets: a skipped line (most of a Packages index) is never copied.
  let start = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = length;
    const from = start;
    let to = end;
    start = end + 1;
    if (to > from && text.charCodeAt(to - 1) === 13) to--;
    let first = from;
    while (first < to && (text.charCodeAt(first) === 32 || text.charCodeAt(first) === 9)) first++;
    if (first === to) {
      flush(); // an empty or blank line
      continue;
    }
    if (first > from) {
      // A continuation line.
      if (last !== null) {
        const body = text.slice(first, to).trimEnd();
        current.set(last, `${current.get(last) ?? ""}\n${body === "." ? "" : body}`);
      }
      continue;
    }
    if (text.charCodeAt(from) === 35 /* # */) continue;
    const colon = text.indexOf(":", from);
    if (colon <= from || colon >= to) continue;
    const raw = text.slice(from, colon);
    const key = CANONICAL.get(raw) ?? raw.trim().toLowerCase();
    if (keep && !keep.has(key)) {
      last = null;
      continue;
    }
    last = key;
    current.set(key, text.slice(colon + 1, to).trim());
  }
  flush();
  return out;
}

/** One alternative of a dependency: `name[:arch] [(rel version)]`. */
export interface Relation {
  name: string;
  /** `any`, `native` or an architecture name, when the dependency is qualified. */
  archQualifier?: string;
  relation?: VersionRelation;
  version?: string;
}

/** A dependency: its alternatives (`a | b`), in the order written. */
export type DependencyGroup = Relation[];

const RELATION = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

/**
 * Parses a relationship field (`Depends`, `Pre-Depends`, `Provides`): comma-separated groups of
 * `|`-separated alternatives. The obsolete `<` and `>` mean `<=` and `>=` (deb-control(5)). Throws
 * on text that is not a relation (the field is from a signed index: a parse failure is a bug to
 * see, not to skip).
 */
export function parseRelations(value: string | undefined): DependencyGroup[] {
  if (!value) return [];
  return value
    .split(",")
    .map((g) => g.trim())
    .filter((g) => g !== "")
    .map((group) =>
      group.split("|").map((alt) => {
        const m = RELATION.exec(alt.trim());
        if (!m) throw new Error(`not a package relation: ${JSON.stringify(alt.trim())}`);
        const rel = m[3] === "<" ? "<=" : m[3] === ">" ? ">=" : (m[3] as VersionRelation | undefined);
        return {
          name: m[1]!,
          ...(m[2] ? { archQualifier: m[2] } : {}),
          ...(rel ? { relation: rel, version: m[4]! } : {}),
        };
      }),
    );
}

/** A binary package's record in a `Packages` index: what resolving and downloading need. */
export interface PackageRecord {
  name: string;
  version: string;
  arch: string;
  /** `same`, `foreign`, `allowed` or `no`. @default "no" */
  multiArch: string;
  /** `required`, `important`, `standard`, `optional`, `extra`, or "" when absent. */
  priority: string;
  depends: DependencyGroup[];
  preDepends: DependencyGroup[];
  /** What the package provides (virtual names, optionally versioned with `=`). */
  provides: Relation[];
  /** The path of the .deb under the archive's URI (`pool/main/...`). */
  filename: string;
  size: number;
  sha256: string;
}

/** Parses a `Packages` index. A record without Filename, Size or a SHA256 is refused with its name. */
const PACKAGE_FIELDS: ReadonlySet<string> = new Set(["package", "version", "architecture", "multi-arch", "priority", "depends", "pre-depends", "provides", "filename", "size", "sha256"]);

export function parsePackagesIndex(text: string, where = "Packages"): PackageRecord[] {
  return parseStanzas(text, PACKAGE_FIELDS).map((s) => {
    const name = s.get("package");
    const version = s.get("version");
    const arch = s.get("architecture");
    const filename = s.get("filename");
    const size = s.get("size");
    const sha256 = s.get("sha256");
    if (!name || !version || !arch || !filename || !size || !/^[0-9]+$/.test(size) || !sha256 || !/^[a-f0-9]{64}$/.test(sha256)) {
      throw new Error(`${where}: the record of ${name ?? "(no Package field)"} lacks Version, Architecture, Filename, Size or SHA256`);
    }
    const record = {
      name,
      version,
      arch,
      multiArch: s.get("multi-arch") ?? "no",
      priority: s.get("priority") ?? "",
      provides: parseRelations(s.get("provides")).flat(),
      filename,
      size: Number(size),
      sha256,
    } as PackageRecord;
    // Depends and Pre-Depends are parsed when first read: a resolution reads a few hundred of ~60,000.
    lazyRelations(record, "preDepends", s.get("pre-depends"), where);
    lazyRelations(record, "depends", s.get("depends"), where);
    return record;
  });
}

function lazyRelations(record: PackageRecord, key: "depends" | "preDepends", raw: string | undefined, where: string): void {
  let parsed: DependencyGroup[] | undefined = raw === undefined ? [] : undefined;
  Object.defineProperty(record, key, {
    enumerable: true,
    get: () => {
      if (parsed === undefined) {
        try {
          parsed = parseRelations(raw);
        } catch (e) {
          throw new Error(`${where}: ${record.name}: ${(e as Error).message}`);
        }
      }
      return parsed;
    },
  });
}

/** One file listed in a Release file's `SHA256` field. */
export interface ReleaseFile {
  path: string;
  size: number;
  sha256: string;
}

/** The fields of a (signed) `Release` text that longshore uses. */
export interface ReleaseInfo {
  suite?: string;
  codename?: string;
  date?: Date;
  validUntil?: Date;
  /** The `Architectures` field (empty when absent). */
  architectures: string[];
  /**
   * Whether arch `all` packages have their own `binary-all` index, as apt decides: `Architectures`
   * lists `all` and there is no `No-Support-for-Architecture-all: Packages`. Otherwise they are in
   * each `binary-<arch>` index.
   */
  separateArchAll: boolean;
  sha256: Map<string, ReleaseFile>;
}

/** Parses the signed text of `InRelease` (the part the signature covers). */
export function parseRelease(text: string): ReleaseInfo {
  const s = parseStanzas(text)[0];
  if (!s) throw new Error("the Release file is empty");
  const files = new Map<string, ReleaseFile>();
  for (const line of (s.get("sha256") ?? "").split("\n")) {
    const m = /^([a-f0-9]{64})\s+([0-9]+)\s+(\S+)$/.exec(line.trim());
    if (m) files.set(m[3]!, { sha256: m[1]!, size: Number(m[2]), path: m[3]! });
  }
  const date = (name: string) => {
    const v = s.get(name);
    if (v === undefined) return undefined;
    const d = new Date(v.replace(/ UTC$/, " GMT"));
    if (Number.isNaN(d.getTime())) throw new Error(`the Release file's ${name} is not a date: ${JSON.stringify(v)}`);
    return d;
  };
  const suite = s.get("suite");
  const codename = s.get("codename");
  const d = date("date");
  const vu = date("valid-until");
  const architectures = (s.get("architectures") ?? "").split(/\s+/).filter((a) => a !== "");
  return {
    ...(suite ? { suite } : {}),
    ...(codename ? { codename } : {}),
    ...(d ? { date: d } : {}),
    ...(vu ? { validUntil: vu } : {}),
    architectures,
    separateArchAll: architectures.includes("all") && !(s.get("no-support-for-architecture-all") ?? "").split(/\s+/).includes("Packages"),
    sha256: files,
  };
}
