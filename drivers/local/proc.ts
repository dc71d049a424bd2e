/**
 * Processes on this computer, identified by PID *and* start time: a PID alone can be reused by an
 * unrelated process after ours died, and the local driver must never signal what it did not start.
 */
import * as fs from "node:fs";

/**
 * The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot) parsed
 * from the stat line. The command name (field 2) may contain spaces and parentheses, so parsing
 * starts after the last `)`.
 */
export function parseStartTime(statLine: string): string | null {
  const close = statLine.lastIndexOf(")");
  if (close < 0) return null;
  // After ") " come fields 3.. ; start time is field 22 => index 19 in this slice.
  const fields = statLine.slice(close + 2).trim().split(/\s+/);
  return fields[19] ?? null;
}

/** The start time of `pid`, or null when no such process exists. */
export function processStartTime(pid: number): string | null {
  try {
    return parseStartTime(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** True while the process `pid` that started at `startTime` is still alive (and not a zombie). */
export function isSameProcess(pid: number, startTime: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (parseStartTime(stat) !== startTime) return false;
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Waits until the identified process is gone; true when it went within `timeoutMs`. */
export async function waitForExit(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcess(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Sends `signal` to the identified process only (checked just before). Returns false when it was
 * already gone or is someone else's process now.
 */
export function signalProcess(pid: number, startTime: string, signal: NodeJS.Signals): boolean {
  if (!isSameProcess(pid, startTime)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process politely: `signal` (default SIGTERM), then SIGKILL after `graceMs`.
 * With `repeatEveryMs`, the polite signal is sent again at that interval: a machine that is still
 * booting has no handler for it yet (its init ignores it), and would otherwise wait out the grace.
 * Returns how it ended.
 */
export async function stopProcess(
  pid: number,
  startTime: string,
  graceMs: number,
  signal: NodeJS.Signals = "SIGTERM",
  repeatEveryMs?: number,
): Promise<"not-running" | "stopped" | "killed"> {
  if (!signalProcess(pid, startTime, signal)) return "not-running";
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    const slice = Math.min(repeatEveryMs ?? graceMs, deadline - Date.now());
    if (await waitForExit(pid, startTime, slice)) return "stopped";
    if (repeatEveryMs) signalProcess(pid, startTime, signal);
  }
  signalProcess(pid, startTime, "SIGKILL");
  await waitForExit(pid, startTime, 5_000);
  return "killed";
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
