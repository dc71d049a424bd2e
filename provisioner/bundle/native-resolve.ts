/**
 * What apt would install, decided without apt: given the parsed `Packages` indexes of a recipe's
 * sources, the same set `apt-get install --no-install-recommends` resolves today (see build.ts).
 * Pure. The rules, as apt applies them for a single architecture with no pinning:
 *
 * - candidate of a name: its highest version (dpkg order) for the target arch or `all` across all
 *   sources (the first source wins a tie).
 * - baseline `minbase`: every `Priority: required` package plus `apt`, closed over Depends and
 *   Pre-Depends against an empty status (what build.ts's writeMinbaseStatus asks apt for).
 * - the recipe's packages, closed over Depends and Pre-Depends (never Recommends) against the
 *   baseline; a dependency the baseline (or an earlier choice) satisfies adds nothing.
 * - a dependency `a | b`: satisfied if any alternative is installed or chosen; else the first
 *   alternative with an installable candidate: a real package whose candidate satisfies the
 *   version relation, or else a package that provides the name (a versioned relation needs a
 *   versioned Provides). Among several providers, the higher Priority, then the name, wins.
 * - like apt-get, every requested package is marked first, then dependencies are followed in order.
 *
 * Conflicts and Breaks are not evaluated (the engine's set has none among its candidates; a
 * change there shows up as a difference from apt in the integration test).
 */
import { PreconditionError } from "../../core/errors";
import type { IndexRecord } from "./apt";
import type { DependencyGroup, PackageRecord, Relation } from "./deb822";
import { compareDebianVersions, versionSatisfies } from "./debian-version";

/** An index of candidates for one architecture. */
export class CandidateIndex {
  readonly #candidates = new Map<string, PackageRecord>();
  readonly #providers = new Map<string, PackageRecord[]>();

  /** `records` in source order (the recipe's sources order); only `arch` and `all` count. */
  constructor(records: Iterable<PackageRecord>, readonly arch: string) {
    for (const r of records) {
      if (r.arch !== arch && r.arch !== "all") continue;
      const had = this.#candidates.get(r.name);
      if (!had || compareDebianVersions(r.version, had.version) > 0) this.#candidates.set(r.name, r);
    }
    for (const r of this.#candidates.values()) {
      for (const p of r.provides) {
        const list = this.#providers.get(p.name) ?? [];
        list.push(r);
        this.#providers.set(p.name, list);
      }
    }
  }

  candidate(name: string): PackageRecord | undefined {
    return this.#candidates.get(name);
  }

  /** Candidates that provide `name`. */
  providers(name: string): readonly PackageRecord[] {
    return this.#providers.get(name) ?? [];
  }

  /** Names of every candidate with `Priority: required`, sorted. */
  required(): string[] {
    return [...this.#candidates.values()].filter((r) => r.priority === "required").map((r) => r.name).sort();
  }
}

const PRIORITY_RANK: Record<string, number> = { required: 5, important: 4, standard: 3, optional: 2, extra: 1 };

/** True when `pkg` (installed or chosen) satisfies `rel` by its own name and version. */
function realSatisfies(pkg: PackageRecord, rel: Relation): boolean {
  if (rel.archQualifier === "any" && pkg.multiArch !== "allowed") return false;
  if (rel.archQualifier && rel.archQualifier !== "any" && rel.archQualifier !== "native" && rel.archQualifier !== pkg.arch) return false;
  return !rel.relation || versionSatisfies(pkg.version, rel.relation, rel.version!);
}

/** True when `pkg` satisfies `rel` through one of its Provides. */
function providesSatisfies(pkg: PackageRecord, rel: Relation): boolean {
  if (rel.archQualifier === "any" && pkg.multiArch !== "foreign" && pkg.multiArch !== "allowed") return false;
  return pkg.provides.some((p) => p.name === rel.name && (!rel.relation || (p.relation === "=" && versionSatisfies(p.version!, rel.relation, rel.version!))));
}


/** A set of installed (or to-be-installed) packages, one version per name. */
class Selection {
  readonly byName = new Map<string, PackageRecord>();
  readonly #providing = new Map<string, PackageRecord[]>();

  add(p: PackageRecord): void {
    this.byName.set(p.name, p);
    for (const v of p.provides) {
      const list = this.#providing.get(v.name) ?? [];
      list.push(p);
      this.#providing.set(v.name, list);
    }
  }

  satisfies(rel: Relation): boolean {
    const real = this.byName.get(rel.name);
    if (real && realSatisfies(real, rel)) return true;
    return (this.#providing.get(rel.name) ?? []).some((p) => providesSatisfies(p, rel));
  }
}

/**
 * Installs `requested` onto `installed` (which it extends) and returns what was added, in the
 * order chosen. Throws a PreconditionError for a name with no candidate and for a dependency no
 * candidate satisfies, naming the chain that led to it.
 */
function install(index: CandidateIndex, installed: Selection, requested: readonly string[]): PackageRecord[] {
  const added: PackageRecord[] = [];
  const queue: Array<{ pkg: PackageRecord; chain: string[] }> = [];
  for (const name of requested) {
    if (installed.byName.has(name)) continue;
    const c = index.candidate(name);
    if (!c) {
      throw new PreconditionError(`package ${name} has no installation candidate for ${index.arch} in the recipe's sources`, {
        suggestion: "Check the package name, the suite and the architecture (and that the source's component has it).",
      });
    }
    installed.add(c);
    added.push(c);
    queue.push({ pkg: c, chain: [name] });
  }
  // Depth-first, like apt's MarkInstall: a package's dependencies are settled before the next one's.
  const visit = (pkg: PackageRecord, chain: string[]) => {
    for (const group of [...pkg.preDepends, ...pkg.depends]) {
      if (group.some((rel) => installed.satisfies(rel))) continue;
      const choice = choose(index, group);
      if (!choice) {
        throw new PreconditionError(
          `unsatisfiable dependency: ${[...chain, group.map(formatRelation).join(" | ")].join(" -> ")}: no candidate in the recipe's sources satisfies it`,
          { suggestion: "Check the recipe's sources (suite, -updates, -security) and components." },
        );
      }
      installed.add(choice);
      added.push(choice);
      visit(choice, [...chain, choice.name]);
    }
  };
  for (const { pkg, chain } of queue) visit(pkg, chain);
  return added;
}

/** The first alternative of `group` with an installable candidate. */
function choose(index: CandidateIndex, group: DependencyGroup): PackageRecord | undefined {
  for (const rel of group) {
    const real = index.candidate(rel.name);
    if (real && realSatisfies(real, rel)) return real;
    const providers = index
      .providers(rel.name)
      .filter((p) => providesSatisfies(p, rel))
      .sort((a, b) => (PRIORITY_RANK[b.priority] ?? 0) - (PRIORITY_RANK[a.priority] ?? 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (providers[0]) return providers[0];
  }
  return undefined;
}

/** What a minbase host has: every Priority: required package and apt, with their dependencies. */
export function minbaseSet(index: CandidateIndex): PackageRecord[] {
  return install(index, new Selection(), [...index.required(), "apt"].sort());
}

/** What {@link resolveNative} returns. */
export interface NativeResolution {
  /** The packages the bundle holds, in the order chosen. */
  packages: IndexRecord[];
  /** The index records of `packages`, same order. */
  records: PackageRecord[];
  /** The baseline the recipe was resolved against (empty for baseline `none`). */
  baseline: PackageRecord[];
}

/** The bundle's packages for `packages` on `baseline`, from candidates for `arch`. */
export function resolveNative(records: Iterable<PackageRecord>, target: { arch: string; packages: readonly string[]; baseline: "minbase" | "none" }): NativeResolution {
  const index = new CandidateIndex(records, target.arch);
  const baseline = target.baseline === "minbase" ? minbaseSet(index) : [];
  const installed = new Selection();
  for (const b of baseline) installed.add(b);
  const already = target.packages.filter((p) => installed.byName.has(p));
  if (already.length > 0) {
    throw new PreconditionError(`apt would not install ${already.join(", ")} (already in the baseline?)`, {
      suggestion: "Use baseline none, or check the recipe's packages.",
    });
  }
  const added = install(index, installed, target.packages);
  return {
    baseline,
    records: added,
    packages: added.map((p) => ({ name: p.name, version: p.version, arch: p.arch, size: p.size, sha256: p.sha256, archivePath: p.filename })),
  };
}

/** A relation as written in a control file (`a (>= 1) | b:any`). */
export function formatRelation(rel: Relation): string {
  return `${rel.name}${rel.archQualifier ? `:${rel.archQualifier}` : ""}${rel.relation ? ` (${rel.relation} ${rel.version})` : ""}`;
}

/**
 * A dpkg status file in which exactly `installed` is installed (the fields apt needs to resolve
 * against it): what the apt resolver's `state/status` holds, so an offline install can be
 * simulated against either.
 */
export function statusText(installed: readonly PackageRecord[]): string {
  const groups = (gs: DependencyGroup[]) => gs.map((g) => g.map(formatRelation).join(" | ")).join(", ");
  return installed
    .map((p) =>
      [
        `Package: ${p.name}`,
        "Status: install ok installed",
        ...(p.priority ? [`Priority: ${p.priority}`] : []),
        `Architecture: ${p.arch}`,
        ...(p.multiArch !== "no" ? [`Multi-Arch: ${p.multiArch}`] : []),
        `Version: ${p.version}`,
        ...(p.provides.length ? [`Provides: ${p.provides.map(formatRelation).join(", ")}`] : []),
        ...(p.preDepends.length ? [`Pre-Depends: ${groups(p.preDepends)}`] : []),
        ...(p.depends.length ? [`Depends: ${groups(p.depends)}`] : []),
        "",
      ].join("\n"),
    )
    .join("\n");
}
