/**
 * The environment's audit log: one JSON object per line, appended, never rewritten, so `git diff`
 * and merges stay trivial and `jq` reads it directly.
 *
 * Each operation appends two lines: `started` once it holds the environment's lock (before it
 * changes anything), and `finished` when it ends, stamped with the end time. Lines are therefore
 * in time order (one operation at a time holds the lock), and an operation killed mid-way still
 * left its `started` line: a `started` with no `finished` of the same `id` is one that never ended.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { HookResult } from "./driver";

/** The operations the log records. */
export type AuditAction = "up" | "rollout" | "rollback" | "destroy";

/** What every line has. */
interface AuditLineBase {
  /** ISO-8601: when the operation started (`started`) or ended (`finished`). */
  when: string;
  /** The same on an operation's two lines. */
  id: string;
  /** The operator: `$LONGSHORE_OPERATOR`, else git's `user.email`, else user@host (resolved by the CLI). */
  who: string;
  action: AuditAction;
  environment: string;
}

/** An operation took the lock and is about to change things. */
export interface AuditStarted extends AuditLineBase {
  event: "started";
  /** The image it means to put live, when known before it runs (rollout, up). */
  image?: string;
}

/** An operation ended: with its report, or with an error (`outcome: "error"`, nothing else known). */
export interface AuditFinished extends AuditLineBase {
  event: "finished";
  /** When the operation started (its `started` line's `when`). */
  startedAt: string;
  fromImage: string | null;
  toImage: string | null;
  fromSlot: string | null;
  toSlot: string | null;
  /** `error`: it threw (e.g. traffic left unknown); `reason` is the error's message. */
  outcome: "succeeded" | "failed" | "rolled-back" | "error";
  /** Why it failed, rolled back or threw, in the user's terms (already redacted). */
  reason?: string;
  /** Milliseconds per phase, in order (empty when it threw). */
  phases: Record<string, number>;
  /** The before-switch hook, when it ran. @default none (no hook ran) */
  hook?: AuditHook;
}

/** Output lines of a hook the audit log keeps (the newest; the report keeps more). */
export const AUDIT_HOOK_LINES = 20;

/** What the audit log says of a before-switch hook that ran: the driver's result, its output cut to {@link AUDIT_HOOK_LINES} lines. */
export type AuditHook = HookResult & {
  /** The argv as the environment file gives it. */
  command: string[];
};

/** One line of the log. */
export type AuditEntry = AuditStarted | AuditFinished;

/** Formats one entry as its line (stable key order, so lines diff cleanly). */
export function formatAuditLine(entry: AuditEntry): string {
  const base = { when: entry.when, id: entry.id, who: entry.who, action: entry.action, environment: entry.environment, event: entry.event };
  if (entry.event === "started") return JSON.stringify({ ...base, ...(entry.image !== undefined ? { image: entry.image } : {}) }) + "\n";
  return (
    JSON.stringify({
      ...base,
      startedAt: entry.startedAt,
      fromImage: entry.fromImage,
      toImage: entry.toImage,
      fromSlot: entry.fromSlot,
      toSlot: entry.toSlot,
      outcome: entry.outcome,
      ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
      phases: entry.phases,
      ...(entry.hook !== undefined ? { hook: auditHookOf(entry.hook) } : {}),
    }) + "\n"
  );
}

/** A hook's record in stable key order, its output cut to the newest {@link AUDIT_HOOK_LINES} lines. */
export function auditHookOf(hook: AuditHook): AuditHook {
  return {
    command: hook.command,
    host: hook.host,
    exitCode: hook.exitCode,
    ...(hook.signal !== undefined ? { signal: hook.signal } : {}),
    ...(hook.timedOut ? { timedOut: true } : {}),
    durationMs: Math.round(hook.durationMs),
    outputTail: hook.outputTail.slice(-AUDIT_HOOK_LINES),
  };
}

/** Appends one entry (O_APPEND: concurrent writers never interleave within a line this short). */
export async function appendAudit(file: string, entry: AuditEntry): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, formatAuditLine(entry), { mode: 0o644 });
}

/** Reads all entries, in file order (lines written before `started`/`finished` existed have no `event`). */
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

/** True for a `finished` line (the one with the outcome). */
export function isFinished(entry: AuditEntry): entry is AuditFinished {
  return entry.event === "finished";
}
