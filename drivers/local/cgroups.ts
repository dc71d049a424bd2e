/**
 * cgroups for local machines. On a cgroup v1 (hybrid) computer whose PID 1 is not systemd, nspawn
 * would put every machine in the caller's cgroup; each machine gets its own cgroup in every
 * hierarchy instead, so its processes can be counted, measured and, on teardown, found and removed.
 * Parsing is pure; the few writes are at the bottom.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** A mounted cgroup hierarchy and where the current process sits in it. */
export interface CgroupHierarchy {
  /** `cpu`, `memory`, `name=systemd`, or `` for the unified (v2) hierarchy. */
  controllers: string;
  mountPoint: string;
  /** The current process's cgroup in this hierarchy (`/`, `/process_api/abc`...). */
  ownPath: string;
}

/**
 * The cgroup hierarchies of this computer from /proc/self/mountinfo and /proc/self/cgroup.
 * A hierarchy mounted more than once is listed once (first mount point).
 */
export function parseCgroupHierarchies(mountinfo: string, procSelfCgroup: string): CgroupHierarchy[] {
  const own = new Map<string, string>();
  for (const line of procSelfCgroup.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (m) own.set(m[1]!, m[2]!);
  }
  const out: CgroupHierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(" ");
    const right = line.slice(sep + 3).split(" ");
    const fstype = right[0];
    const mountPoint = left[4];
    if (!mountPoint || (fstype !== "cgroup" && fstype !== "cgroup2")) continue;
    let controllers = "";
    if (fstype === "cgroup") {
      const opts = (right[2] ?? "").split(",");
      const known = opts.filter((o) => !["rw", "ro", "relatime", "nosuid", "nodev", "noexec", "noatime", "clone_children", "xattr"].includes(o) && !o.startsWith("release_agent="));
      controllers = known.join(",");
    }
    if (seen.has(controllers)) continue;
    seen.add(controllers);
    // /proc/self/cgroup lists `cpu,cpuacct` when co-mounted; match by the exact controller set.
    const ownPath = own.get(controllers) ?? "/";
    out.push({ controllers, mountPoint: unescapeMount(mountPoint), ownPath });
  }
  return out;
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The cgroup directory of one machine in each hierarchy: under the caller's own cgroup (so limits
 * that apply to longshore also apply to its machines), in `longshore/<env>/<machine>`.
 */
export function machineCgroupDirs(hierarchies: readonly CgroupHierarchy[], env: string, machine: string): string[] {
  return hierarchies.map((h) => path.join(h.mountPoint, h.ownPath, "longshore", env, machine));
}

/** The hierarchies of this computer. */
export function currentHierarchies(): CgroupHierarchy[] {
  return parseCgroupHierarchies(
    fs.readFileSync("/proc/self/mountinfo", "utf8"),
    fs.readFileSync("/proc/self/cgroup", "utf8"),
  );
}

/**
 * Creates `dir` and its missing parents. cpuset cgroups start with no CPUs and no memory nodes (a
 * process cannot join them), so each new cpuset level copies its parent's.
 */
export function createCgroup(dir: string): void {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) createCgroup(parent);
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(dir);
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    const mine = path.join(dir, f);
    if (fs.existsSync(mine) && fs.readFileSync(mine, "utf8").trim() === "") {
      fs.writeFileSync(mine, fs.readFileSync(path.join(parent, f), "utf8"));
    }
  }
}

/**
 * Visits `dir` and every directory below it, children before their parent (so a visitor may
 * remove what it visits). A directory that vanished meanwhile is skipped.
 */
function walkDepthFirst(dir: string, visit: (d: string) => void): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) walkDepthFirst(path.join(dir, e.name), visit);
  visit(dir);
}

/** PIDs in `dir` and every cgroup below it. */
export function cgroupPids(dir: string): number[] {
  const out: number[] = [];
  walkDepthFirst(dir, (d) => {
    try {
      for (const p of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) if (p.trim()) out.push(Number(p));
    } catch {
      /* gone meanwhile */
    }
  });
  return [...new Set(out)];
}

/**
 * Removes `dir` and the cgroups nspawn and systemd created below it, deepest first. A missing
 * directory is fine; a cgroup that still has processes stays and is reported.
 */
export function removeCgroupTree(dir: string): string[] {
  const left: string[] = [];
  walkDepthFirst(dir, (d) => {
    try {
      fs.rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") left.push(d);
    }
  });
  return left;
}

/** Removes `dir`'s parents up to (not including) `stopAt` while they are empty. */
export function removeEmptyParents(dir: string, stopAt: string): void {
  let d = path.dirname(dir);
  while (d.startsWith(stopAt + path.sep) && d !== stopAt) {
    try {
      fs.rmdirSync(d);
    } catch {
      return;
    }
    d = path.dirname(d);
  }
}

/** Resident memory of a machine: the memory cgroup's usage (page cache included) in bytes, if known. */
export function cgroupMemoryBytes(dirs: readonly string[]): number | null {
  for (const d of dirs) {
    for (const f of ["memory.usage_in_bytes", "memory.current"]) {
      try {
        return Number(fs.readFileSync(path.join(d, f), "utf8").trim());
      } catch {
        /* not this hierarchy */
      }
    }
  }
  return null;
}
