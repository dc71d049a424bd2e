/**
 * The environment's audit log: one JSON object per line, appended, never rewritten. One line per
 * operation keeps `git diff` and merges trivial, and `jq` reads it directly.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";

/** One finished (or failed) operation. */
export interface AuditEntry {
  when: string;
  who: string;
  action: "up" | "rollout" | "rollback" | "destroy";
  environment: string;
  fromImage: string | null;
  toImage: string | null;
  fromSlot: string | null;
  toSlot: string | null;
  outcome: "succeeded" | "failed" | "rolled-back";
  /** Why it failed or rolled back, in the user's terms (already redacted). */
  reason?: string;
  /** Milliseconds per phase, in order. */
  phases: Record<string, number>;
}

/** Formats one entry as its line (stable key order, so lines diff cleanly). */
export function formatAuditLine(entry: AuditEntry): string {
  const ordered: AuditEntry = {
    when: entry.when,
    who: entry.who,
    action: entry.action,
    environment: entry.environment,
    fromImage: entry.fromImage,
    toImage: entry.toImage,
    fromSlot: entry.fromSlot,
    toSlot: entry.toSlot,
    outcome: entry.outcome,
    ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
    phases: entry.phases,
  };
  return JSON.stringify(ordered) + "\n";
}

/** Appends one entry (O_APPEND: concurrent writers never interleave within a line this short). */
export async function appendAudit(file: string, entry: AuditEntry): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, formatAuditLine(entry), { mode: 0o644 });
}

/** Reads all entries (for `status` and tests). */
export async function readAudit(file: string): Promise<AuditEntry[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as AuditEntry);
}
