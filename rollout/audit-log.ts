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
import { ConfigError, type ConfigIssue } from "../core/errors";
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

/**
 * Reads all entries, in file order (lines written before `started`/`finished` existed have no
 * `event`); none when there is no file. A line that is not an entry (a merge conflict's markers, a
 * line cut short) is a {@link ConfigError} naming every such line (`demo.audit.jsonl:3`); `name`
 * is how messages call the file. @default name: the file's base name
 */
export async function readAudit(file: string, name = path.basename(file)): Promise<AuditEntry[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const r = parseAuditText(text, name);
  if (!r.ok) throw new ConfigError(name, r.issues, { suggestion: "The audit log is only ever appended to: restore the lines from git (after a merge, keep both sides' lines in time order)." });
  return r.entries;
}

/** The entries of an audit log's text, or every line that is not one. Pure. */
export function parseAuditText(text: string, name: string): { ok: true; entries: AuditEntry[] } | { ok: false; issues: ConfigIssue[] } {
  const entries: AuditEntry[] = [];
  const issues: ConfigIssue[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      issues.push({ path: `${name}:${i + 1}`, message: `is not JSON: ${JSON.stringify(line.length > 40 ? `${line.slice(0, 40)}...` : line)}` });
      return;
    }
    const e = value as Partial<AuditEntry> | null;
    if (typeof e !== "object" || e === null || Array.isArray(e) || typeof e.when !== "string" || typeof e.action !== "string" || Number.isNaN(Date.parse(e.when))) {
      issues.push({ path: `${name}:${i + 1}`, message: "is not an audit entry (an object with when and action)" });
      return;
    }
    entries.push(e as AuditEntry);
  });
  return issues.length ? { ok: false, issues } : { ok: true, entries };
}

/** True for a `finished` line (the one with the outcome). */
export function isFinished(entry: AuditEntry): entry is AuditFinished {
  return entry.event === "finished";
}

/**
 * One operation as the log tells it: its two lines joined by `id`. `outcome` is the finished
 * line's, or for an operation with no finished line `running` (it still holds the environment's
 * lock) or `interrupted` (it ended without one: killed, a lost machine).
 */
export interface AuditOperation {
  /** Null for a line written before operations had ids (one line per operation). */
  id: string | null;
  action: string;
  environment: string;
  who: string;
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601; null while running, when interrupted, and for a line of the older format. */
  finishedAt: string | null;
  /** Null when unknown (not finished; older format). */
  durationMs: number | null;
  /** Null: no image (an empty environment), or unknown (not finished, `error`). */
  fromImage: string | null;
  toImage: string | null;
  fromSlot: string | null;
  toSlot: string | null;
  outcome: AuditFinished["outcome"] | "running" | "interrupted";
  /** Why it failed, rolled back or threw. @default none */
  reason?: string;
  /** Milliseconds per phase (empty when not finished). */
  phases: Record<string, number>;
  /** The before-switch hook, when it ran. @default none */
  hook?: AuditHook;
}

/** The live holder of the environment's lock, as far as the log needs it. */
export interface RunningOperation {
  /** What it does (`rollout`): the lock holder's operation. */
  operation: string;
  /** ISO-8601: since when it holds the lock (before its started line). */
  since: string;
}

/** A line of the format before `started`/`finished`: one per operation, `when` its start. */
interface LegacyLine extends Omit<AuditFinished, "event" | "id" | "startedAt"> {
  event?: undefined;
}

/**
 * The operations of a log, in the order they started. A started line with no finished line is
 * `running` when it is the newest such line and `lock` (the environment's live lock holder, null
 * when nobody holds it) is that operation; every other one is `interrupted`. Pure.
 */
export function auditOperations(entries: readonly AuditEntry[], lock: RunningOperation | null): AuditOperation[] {
  const ops: AuditOperation[] = [];
  const byId = new Map<string, AuditOperation>();
  for (const entry of entries as ReadonlyArray<AuditEntry | LegacyLine>) {
    if (entry.event === "started") {
      const op: AuditOperation = {
        id: entry.id,
        action: entry.action,
        environment: entry.environment,
        who: entry.who,
        startedAt: entry.when,
        finishedAt: null,
        durationMs: null,
        fromImage: null,
        toImage: entry.image ?? null,
        fromSlot: null,
        toSlot: null,
        outcome: "interrupted",
        phases: {},
      };
      ops.push(op);
      byId.set(entry.id, op);
      continue;
    }
    const finished = entry.event === "finished" ? entry : null;
    const op = finished ? byId.get(finished.id) : undefined;
    const startedAt = finished ? (op?.startedAt ?? finished.startedAt) : entry.when;
    const joined: AuditOperation = {
      id: finished?.id ?? null,
      action: entry.action,
      environment: entry.environment,
      who: entry.who,
      startedAt,
      finishedAt: finished?.when ?? null,
      durationMs: finished ? Math.max(0, Date.parse(finished.when) - Date.parse(startedAt)) : null,
      fromImage: entry.fromImage,
      toImage: entry.toImage,
      fromSlot: entry.fromSlot,
      toSlot: entry.toSlot,
      outcome: entry.outcome,
      ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
      phases: entry.phases ?? {},
      ...(finished?.hook !== undefined ? { hook: finished.hook } : {}),
    };
    // A finished line whose started line is not in the file (cut off, or merged away) stands alone.
    if (op) Object.assign(op, joined);
    else ops.push(joined);
  }
  const open = ops.filter((o) => o.finishedAt === null && o.id !== null);
  const newest = open[open.length - 1];
  if (newest && lock && lock.operation === newest.action && Date.parse(lock.since) <= Date.parse(newest.startedAt)) newest.outcome = "running";
  return ops;
}

/**
 * The operations under way at or after `sinceMs` (epoch milliseconds): those that ended then or
 * later, that started then or later, and a running one whatever its start. Pure.
 */
export function operationsSince(ops: readonly AuditOperation[], sinceMs: number): AuditOperation[] {
  return ops.filter((o) => o.outcome === "running" || Date.parse(o.finishedAt ?? o.startedAt) >= sinceMs);
}
