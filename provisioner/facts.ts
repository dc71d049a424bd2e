/**
 * Host facts: what a host is (OS, architecture, kernel, cgroup version, init system, free disk,
 * memory, an existing container engine), gathered read-only in ONE round-trip: a small POSIX shell
 * script prints delimited sections, and pure parsers (exported, tested on fixture text) read them.
 * Step plans take these facts as input, so planning stays pure.
 *
 * This is the ONE host probe: `longshore facts` shows these facts, and the engine steps plan from
 * the subset `engineHostFacts()` (provisioner/steps/engine-facts.ts) picks out of them.
 */
import { CommandFailedError, LongshoreError } from "../core/errors";
import { shell } from "./command";
import type { Transport } from "./transport/transport";

/** What {@link gatherFacts} learns about a host. */
export interface HostFacts {
  os: {
    /** os-release `ID` (e.g. `debian`); `linux` when unset, as os-release(5) specifies. */
    id: string;
    /** os-release `VERSION_ID` (e.g. `12`), null when unset (rolling releases). */
    versionId: string | null;
    /** os-release `PRETTY_NAME`; `Linux` when unset. */
    prettyName: string;
    /** os-release `VERSION_CODENAME` (e.g. `bookworm`), null when unset. */
    codename: string | null;
  };
  /** Debian's architecture name for `uname -m`; `unknown` for anything else longshore has no bundle for. */
  arch: "amd64" | "arm64" | "unknown";
  /** Raw `uname -m` (x86_64, aarch64...). */
  machine: string;
  /**
   * `dpkg --print-architecture` (the name package archives use: amd64, arm64, armhf...), null on a
   * host without dpkg. Engine bundles are matched against this, not the mapped `arch`.
   */
  dpkgArch: string | null;
  /** `uname -r`. */
  kernel: string;
  /** v2 when /sys/fs/cgroup is a cgroup2 filesystem (unified), else v1 (legacy or hybrid). */
  cgroup: "v1" | "v2";
  /** systemd when PID 1 is systemd: longshore's engine install relies on its units. */
  init: "systemd" | "other";
  /** PID 1's name (`/proc/1/comm`). */
  initProcess: string;
  /** `/run/systemd/system` exists: systemd booted this host (sd_booted(3)), so units can be started. */
  systemdBooted: boolean;
  /** Bytes available to unprivileged users on `/`. */
  diskFreeBytes: number;
  memory: { totalBytes: number; availableBytes: number };
  /** CPUs this host's processes may use (`nproc`), or null when the host does not say. */
  cpus: number | null;
  /**
   * The container engine already there: null when no `docker` CLI is installed; `version` null
   * when the CLI is there but no engine answered (stopped, or not allowed to reach it).
   */
  engine: { name: "docker"; version: string | null } | null;
  /** The installed (`ii`) engine package and its Debian version, or null: docker.io or docker-ce. */
  enginePackage: { name: string; version: string } | null;
}

/** Engine packages whose installed version the probe reports, in order of preference. */
export const ENGINE_PACKAGE_NAMES = ["docker.io", "docker-ce"] as const;

/** The facts output could not be read (a host that is not Linux, or a broken coreutils). */
export class FactsError extends LongshoreError {
  readonly code = "FACTS_UNREADABLE";
}

const MARK = "@@longshore-facts:";

/**
 * The one script gatherFacts runs. POSIX sh, read-only, no root needed (docker is asked through
 * `sudo -n` only when asking as the user fails). Each probe prints under its own marker so one
 * missing tool cannot shift another's output.
 */
export const FACTS_SCRIPT = [
  `m() { printf '\\n${MARK}%s@@\\n' "$1"; }`,
  // A docker engine that hangs on its socket must not hang facts.
  `t() { if command -v timeout >/dev/null 2>&1; then timeout 10 "$@"; else "$@"; fi; }`,
  `m os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null`,
  `m uname-m; uname -m`,
  `m uname-r; uname -r`,
  `m cgroup; stat -fc %T /sys/fs/cgroup 2>/dev/null`,
  `m init; cat /proc/1/comm 2>/dev/null`,
  `m systemd; if [ -d /run/systemd/system ]; then echo yes; else echo no; fi`,
  `m dpkg-arch; dpkg --print-architecture 2>/dev/null`,
  // \${Package} etc. are dpkg-query's own fields, not shell expansions (single quotes).
  `m engine-package; dpkg-query -W -f '\${Package} \${db:Status-Abbrev}\${Version}\\n' ${ENGINE_PACKAGE_NAMES.join(" ")} 2>/dev/null`,
  // busybox df has no --output: fall back to the POSIX format (1024-byte blocks).
  `m df; df -B1 --output=avail / 2>/dev/null || df -Pk / 2>/dev/null`,
  `m meminfo; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo 2>/dev/null`,
  `m cpus; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null`,
  `m docker`,
  `if command -v docker >/dev/null 2>&1; then echo cli; ` +
    `t docker version --format '{{.Server.Version}}' 2>/dev/null || t sudo -n docker version --format '{{.Server.Version}}' 2>/dev/null || true; ` +
    `else echo absent; fi`,
  `m end`,
  `exit 0`,
].join("\n");

/**
 * Splits a script's output into its sections (name -> text, trimmed of the markers' newlines): each
 * section starts at a line `@@longshore-<script>:<name>@@` (the facts script's, by default; the
 * prune listing's too).
 */
export function splitSections(stdout: string, script = "facts"): Map<string, string> {
  const out = new Map<string, string>();
  const re = new RegExp(`^@@longshore-${script}:([a-z0-9-]+)@@$`, "gm");
  const marks = [...stdout.matchAll(re)];
  marks.forEach((m, i) => {
    const start = (m.index ?? 0) + m[0].length + 1;
    const end = i + 1 < marks.length ? (marks[i + 1]!.index ?? stdout.length) : stdout.length;
    out.set(m[1]!, stdout.slice(start, end).replace(/\n$/, ""));
  });
  return out;
}

/** Reads os-release(5): `KEY=value` lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string): HostFacts["os"] {
  const vars = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\([\\$"`])/g, "$1");
    else if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1);
    vars.set(m[1]!, v);
  }
  return {
    id: vars.get("ID") || "linux",
    versionId: vars.get("VERSION_ID") || null,
    prettyName: vars.get("PRETTY_NAME") || "Linux",
    codename: vars.get("VERSION_CODENAME") || null,
  };
}

/** Maps `uname -m` to Debian's architecture names. */
export function parseArch(text: string): { arch: HostFacts["arch"]; machine: string } {
  const machine = text.trim();
  if (machine === "x86_64" || machine === "amd64") return { arch: "amd64", machine };
  if (machine === "aarch64" || machine === "arm64" || machine.startsWith("armv8")) return { arch: "arm64", machine };
  return { arch: "unknown", machine };
}

/** `stat -fc %T /sys/fs/cgroup`: `cgroup2fs` is the unified hierarchy (v2); tmpfs (hybrid/legacy) is v1. */
export function parseCgroupVersion(text: string): HostFacts["cgroup"] {
  return text.trim() === "cgroup2fs" ? "v2" : "v1";
}

/** `/proc/1/comm`. */
export function parseInit(text: string): { init: HostFacts["init"]; initProcess: string } {
  const initProcess = text.trim();
  return { init: initProcess === "systemd" ? "systemd" : "other", initProcess };
}

/** `df -B1 --output=avail /` (bytes), or POSIX `df -Pk /` (1024-byte blocks, 4th column). */
export function parseDfAvail(text: string): number {
  const lines = text.trim().split("\n").map((l) => l.trim()).filter(Boolean);
  const header = lines[0] ?? "";
  if (/^Avail/.test(header) && lines.length >= 2 && /^\d+$/.test(lines[1]!)) return Number(lines[1]);
  if (/^Filesystem/.test(header) && lines.length >= 2) {
    const cols = lines[lines.length - 1]!.split(/\s+/);
    if (cols.length >= 6 && /^\d+$/.test(cols[3]!)) return Number(cols[3]) * 1024;
  }
  throw new FactsError(`cannot read free disk space from df output: ${JSON.stringify(text.slice(0, 200))}`);
}

/** `nproc`'s answer, or null (an older probe output has no section; a host without nproc says nothing). */
export function parseCpus(text: string | undefined): number | null {
  const n = Number((text ?? "").trim());
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** `/proc/meminfo` lines MemTotal and MemAvailable (kB, i.e. KiB) as bytes. */
export function parseMeminfo(text: string): HostFacts["memory"] {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    if (!m) throw new FactsError(`cannot read ${key} from /proc/meminfo`);
    return Number(m[1]) * 1024;
  };
  return { totalBytes: kib("MemTotal"), availableBytes: kib("MemAvailable") };
}

/** The docker section: `absent`, or `cli` followed by the engine's version when it answered. */
export function parseEngine(text: string): HostFacts["engine"] {
  const lines = text.trim().split("\n").map((l) => l.trim());
  if (lines[0] !== "cli") return null;
  const version = lines.slice(1).find((l) => /^\d+\.\d+/.test(l)) ?? null;
  return { name: "docker", version };
}

/**
 * dpkg-query's `<package> <status abbrev><version>` lines: the first package (in
 * {@link ENGINE_PACKAGE_NAMES} order) that is installed (`ii `), or null.
 */
export function parseEnginePackage(text: string): HostFacts["enginePackage"] {
  const installed = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) ii (\S+)$/.exec(line.trim());
    if (m) installed.set(m[1]!, m[2]!);
  }
  for (const name of ENGINE_PACKAGE_NAMES) {
    const version = installed.get(name);
    if (version) return { name, version };
  }
  return null;
}

/** Parses the whole output of {@link FACTS_SCRIPT}. Throws {@link FactsError} naming what is missing. */
export function parseFacts(stdout: string, host = "host"): HostFacts {
  const s = splitSections(stdout);
  // Sections that may legitimately be empty: os-release (defaults apply), cgroup (no cgroupfs is
  // v1-like), init (hidden /proc), docker (never empty: "absent" or "cli").
  const need = (name: string, mayBeEmpty = false): string => {
    const v = s.get(name);
    if (v === undefined || (!mayBeEmpty && v.trim() === "")) {
      throw new FactsError(`${host}: facts output has no ${name} section (is this a Linux host with coreutils?)`);
    }
    return v;
  };
  if (!s.has("end")) throw new FactsError(`${host}: facts output was cut short`);
  const { arch, machine } = parseArch(need("uname-m"));
  const { init, initProcess } = parseInit(need("init", true));
  return {
    os: parseOsRelease(need("os-release", true)),
    arch,
    machine,
    kernel: need("uname-r").trim(),
    cgroup: parseCgroupVersion(need("cgroup", true)),
    init,
    initProcess,
    systemdBooted: need("systemd").trim() === "yes",
    dpkgArch: need("dpkg-arch", true).trim() || null,
    diskFreeBytes: parseDfAvail(need("df")),
    memory: parseMeminfo(need("meminfo")),
    cpus: parseCpus(s.get("cpus")),
    engine: parseEngine(need("docker")),
    enginePackage: parseEnginePackage(need("engine-package", true)),
  };
}

/** Gathers a host's facts with one exec (one round-trip) and parses them. */
export async function gatherFacts(transport: Transport, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<HostFacts> {
  const command = shell(FACTS_SCRIPT);
  const r = await transport.exec(command, {
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (r.exitCode !== 0) {
    throw new CommandFailedError({
      host: transport.host,
      stepId: "facts.gather",
      phase: "facts",
      // The script is long and says nothing useful in a message; name it instead.
      command: `sh -c <facts script, ${FACTS_SCRIPT.length} bytes>`,
      exitCode: r.exitCode,
      signal: r.signal,
      stderrTail: r.stderr.trim().split("\n").slice(-10).join("\n"),
    });
  }
  return parseFacts(r.stdout, transport.host);
}
