/**
 * Reading a host's container engine for `longshore status`: one read-only command (one
 * round-trip) that prints `docker info` and `docker system df` as JSON, each under its own marker
 * with its exit code, so one failing cannot hide or shift the other. Pure: the command and the
 * parser of its output; the drivers run it over their own connections.
 */
import { parseDockerInfo, parseSystemDf, type EngineDiskUsage, type EngineInfo } from "../model/engine-report";
import type { Command } from "./command";

const MARK = "@@longshore-engine:";

/** Go templates the engine's client renders: the whole objects, as JSON. */
export const ENGINE_INSPECT_FORMAT = "{{json .}}";

/**
 * The script: `docker info` then `docker system df`, each under a marker and followed by its exit
 * code. A hung engine must not hang `status`: each call is bounded by `timeout` when the host has it.
 */
export const ENGINE_INSPECT_SCRIPT = [
  `t() { if command -v timeout >/dev/null 2>&1; then timeout 15 "$@"; else "$@"; fi; }`,
  `printf '${MARK}info@@\\n'; t docker info --format "$1"; printf '\\n${MARK}info-exit:%s@@\\n' "$?"`,
  `printf '${MARK}df@@\\n'; t docker system df --format "$1"; printf '\\n${MARK}df-exit:%s@@\\n' "$?"`,
  `exit 0`,
].join("\n");

/** The one command run per host (as root: the engine's socket is root's). */
export function engineInspectCommand(): Command {
  return { argv: ["sh", "-c", ENGINE_INSPECT_SCRIPT, "sh", ENGINE_INSPECT_FORMAT], sudo: true, timeoutMs: 40_000 };
}

/** What the command found: the engine and its disk usage, or why either is missing. */
export interface EngineInspection {
  engine?: EngineInfo;
  disk?: EngineDiskUsage[];
  /** Each problem, `docker info: ...` / `docker system df: ...`. Empty when both were read. */
  problems: string[];
}

/** Splits the output into its sections: name -> text, and name -> the exit code printed after it. */
function sections(stdout: string): { text: Map<string, string>; exit: Map<string, number> } {
  const text = new Map<string, string>();
  const exit = new Map<string, number>();
  const re = /^@@longshore-engine:([a-z]+)(?:-exit:(\d+))?@@$/gm;
  const marks = [...stdout.matchAll(re)];
  marks.forEach((m, i) => {
    if (m[2] !== undefined) {
      exit.set(m[1]!, Number(m[2]));
      return;
    }
    const start = (m.index ?? 0) + m[0].length + 1;
    const end = i + 1 < marks.length ? (marks[i + 1]!.index ?? stdout.length) : stdout.length;
    text.set(m[1]!, stdout.slice(start, end).trim());
  });
  return { text, exit };
}

/**
 * Reads the command's stdout; `stderr` (what the engine's client complained about) goes into a
 * problem when a call failed. Pure.
 */
export function parseEngineInspection(stdout: string, stderr = ""): EngineInspection {
  const { text, exit } = sections(stdout);
  const problems: string[] = [];
  const why = (name: string, what: string): string | null => {
    const code = exit.get(name);
    if (code === undefined) return `${what}: no answer (the command's output was cut short)`;
    if (code === 0) return null;
    const said = stderr.trim().split("\n").filter((l) => l.trim() !== "").slice(-1)[0];
    return `${what}: exit ${code}${code === 124 ? " (timed out)" : code === 127 ? " (docker is not installed)" : ""}${said ? `: ${said}` : ""}`;
  };
  const out: EngineInspection = { problems };
  const infoFailed = why("info", "docker info");
  if (infoFailed) problems.push(infoFailed);
  else {
    const r = parseDockerInfo(text.get("info") ?? "");
    if (r.ok) out.engine = r.value;
    else problems.push(r.message);
  }
  const dfFailed = why("df", "docker system df");
  if (dfFailed) problems.push(dfFailed);
  else {
    const r = parseSystemDf(text.get("df") ?? "");
    if (r.ok) out.disk = r.value;
    else problems.push(r.message);
  }
  return out;
}
