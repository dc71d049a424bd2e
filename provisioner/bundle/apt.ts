/**
 * apt, driven with a private configuration, resolves and downloads the bundle: its own state,
 * cache, sources list and dpkg status file, the target architecture, no preferences and no other
 * sources from the controller. The controller's `apt.conf.d` still applies (proxies, the
 * archive's Valid-Until policy): that is how this machine reaches its mirror. Pure helpers only:
 * option lists and parsers of apt's output; `build.ts` runs the commands.
 */
import * as path from "node:path";

/** The private directory tree apt works in for one recipe. */
export interface AptDirs {
  root: string;
  state: string;
  lists: string;
  cache: string;
  archives: string;
  etc: string;
  sourcesList: string;
  /** An empty directory: no `*.list`/`*.sources` from the controller. */
  sourceParts: string;
  preferencesParts: string;
  trustedParts: string;
  log: string;
  /** The dpkg status file the resolution runs against (empty, or the baseline). */
  status: string;
  /** An always-empty status file (to resolve the baseline itself). */
  emptyStatus: string;
}

/** The layout under `root` (`<cache>/apt/<recipe key>`). */
export function aptDirs(root: string): AptDirs {
  const etc = path.join(root, "etc");
  const state = path.join(root, "state");
  const cache = path.join(root, "cache");
  return {
    root,
    state,
    lists: path.join(state, "lists"),
    cache,
    archives: path.join(cache, "archives"),
    etc,
    sourcesList: path.join(etc, "sources.list"),
    sourceParts: path.join(etc, "sources.list.d"),
    preferencesParts: path.join(etc, "preferences.d"),
    trustedParts: path.join(etc, "trusted.gpg.d"),
    log: path.join(root, "log"),
    status: path.join(state, "status"),
    emptyStatus: path.join(state, "status-empty"),
  };
}

/**
 * `-o` options that make apt use only the private tree and resolve for `arch`.
 * `status` picks the dpkg status file (the baseline, or an empty one).
 */
export function aptOptions(dirs: AptDirs, arch: string, status: string = dirs.status): string[] {
  const o: Array<[string, string]> = [
    ["Dir::State", dirs.state],
    ["Dir::State::Lists", dirs.lists],
    ["Dir::State::status", status],
    ["Dir::State::extended_states", path.join(dirs.state, "extended_states")],
    ["Dir::Cache", dirs.cache],
    ["Dir::Cache::archives", dirs.archives],
    // apt rebuilds its binary cache on every run when these are "" (Debian's docker images set
    // that); a private cache file makes each later apt call here ~1 s faster.
    ["Dir::Cache::pkgcache", path.join(dirs.cache, "pkgcache.bin")],
    ["Dir::Cache::srcpkgcache", path.join(dirs.cache, "srcpkgcache.bin")],
    ["Dir::Etc::SourceList", dirs.sourcesList],
    ["Dir::Etc::SourceParts", dirs.sourceParts],
    ["Dir::Etc::Preferences", path.join(dirs.etc, "preferences")],
    ["Dir::Etc::PreferencesParts", dirs.preferencesParts],
    // Every source names its keyring (signed-by); nothing else is trusted.
    ["Dir::Etc::Trusted", path.join(dirs.etc, "trusted.gpg")],
    ["Dir::Etc::TrustedParts", dirs.trustedParts],
    ["Dir::Log", dirs.log],
    ["APT::Architecture", arch],
    ["APT::Architectures", arch],
    ["APT::Install-Recommends", "false"],
    ["APT::Install-Suggests", "false"],
  ];
  return o.flatMap(([k, v]) => ["-o", `${k}=${v}`]);
}

/** A package record from the archive's index (`apt-cache show name=version`). */
export interface IndexRecord {
  name: string;
  version: string;
  arch: string;
  size: number;
  /** The sha256 the signed index promises for the .deb. */
  sha256: string;
  /** `Filename:`: where the archive keeps the .deb, relative to its root (`pool/main/r/runc/...deb`). Absent when the record has none. */
  archivePath?: string;
}

/**
 * Parses `apt-cache show` output into records (Package, Version, Architecture, Size, SHA256, Filename).
 * A version published in several suites is listed once.
 */
export function parseIndexRecords(text: string): IndexRecord[] {
  const seen = new Set<string>();
  const out: IndexRecord[] = [];
  for (const record of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}: (.+)$`, "m").exec(record)?.[1]?.trim();
    const name = field("Package");
    if (!name) continue;
    const version = field("Version");
    const arch = field("Architecture");
    const size = field("Size");
    const sha256 = field("SHA256");
    const archivePath = field("Filename");
    if (!version || !arch || !size || !sha256 || !archivePath || !/^[0-9]+$/.test(size) || !/^[a-f0-9]{64}$/.test(sha256)) {
      throw new Error(`apt-cache show: the record of ${name} lacks Version, Architecture, Size, SHA256 or Filename`);
    }
    const key = `${name}=${version}=${arch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ name, version, arch, size: Number(size), sha256, archivePath });
  }
  return out;
}

/** One line of `apt-get download --print-uris`: `'<uri>' <local file name> <size> SHA256:<hex>`. */
export interface PrintedUri {
  /** The full URI apt would fetch (percent-encoded as apt writes it). */
  uri: string;
  /** apt's local file name (`name_version_arch.deb`, ':' as `%3a`). */
  filename: string;
  size: number;
  sha256: string;
}

/** Parses `apt-get download --print-uris` output (other lines are ignored). */
export function parsePrintUris(text: string): PrintedUri[] {
  const out: PrintedUri[] = [];
  for (const line of text.split("\n")) {
    const m = /^'([^']+)' (\S+) ([0-9]+) SHA256:([a-f0-9]{64})$/.exec(line.trim());
    if (m) out.push({ uri: m[1]!, filename: m[2]!, size: Number(m[3]), sha256: m[4]! });
  }
  return out;
}

/**
 * The archive root a package's URI points into: `uri` without `/<archivePath>` (compared
 * percent-decoded, as apt encodes `+` and `~`), or null when the URI does not end with it.
 */
export function archiveRootOf(uri: string, archivePath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(uri);
  } catch {
    return null;
  }
  const suffix = `/${archivePath}`;
  if (!decoded.endsWith(suffix)) return null;
  const root = decoded.slice(0, -suffix.length);
  return root.length > 0 ? root : null;
}

/** A package apt would install, from `apt-get -s` (`Inst name (version release [arch])`). */
export interface SimulatedInstall {
  name: string;
  version: string;
  arch: string;
}

/** Parses `apt-get install -s` output (only the `Inst` lines matter). */
export function parseSimulatedInstalls(text: string): SimulatedInstall[] {
  const out: SimulatedInstall[] = [];
  for (const line of text.split("\n")) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) [^[]*\[([^\]]+)\]\)/.exec(line);
    if (m) out.push({ name: m[1]!.replace(/:[a-z0-9-]+$/, ""), version: m[2]!, arch: m[3]! });
  }
  return out;
}

/**
 * Collects the names of Priority: required packages from `apt-cache dumpavail` output, fed line
 * by line (the text is ~50 MB for Debian main: never held whole).
 */
export class RequiredPackageCollector {
  #name: string | null = null;
  #required = false;
  readonly names = new Set<string>();

  line(l: string): void {
    if (l === "") return this.#end();
    if (l.startsWith("Package: ")) this.#name = l.slice(9).trim();
    else if (l.startsWith("Priority: ")) this.#required = l.slice(10).trim() === "required";
  }

  /** Call once after the last line. */
  finish(): Set<string> {
    this.#end();
    return this.names;
  }

  #end(): void {
    if (this.#name && this.#required) this.names.add(this.#name);
    this.#name = null;
    this.#required = false;
  }
}

/**
 * Turns `apt-cache show name=version ...` records into a dpkg status file in which exactly those
 * packages are installed: each record gets `Status: install ok installed` after its Package line.
 * Duplicate records (one version published in two suites) are kept once.
 */
export function statusFromRecords(recordsText: string): { text: string; count: number } {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const record of recordsText.split(/\n\s*\n/)) {
    const name = /^Package: (.+)$/m.exec(record)?.[1]?.trim();
    const version = /^Version: (.+)$/m.exec(record)?.[1]?.trim();
    if (!name || !version) continue;
    const key = `${name}=${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(record.trim().replace(/^(Package: .+)$/m, "$1\nStatus: install ok installed"));
  }
  return { text: out.length ? out.join("\n\n") + "\n" : "", count: out.length };
}
