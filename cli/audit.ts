/**
 * `longshore audit [--since TIME] [-f FILE] [--json]`: the environment's audit log
 * (`<name>.audit.jsonl` beside the environment file, rollout/audit-log.ts) as one row per
 * operation. An operation with a started line and no finished line is `running` while it holds
 * the environment's lock on this computer, else `interrupted`. Reads no secrets, touches no host.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { inspectLock } from "../core/lock";
import { msToNs, parseTimeFlag } from "../core/time-spec";
import { auditOperations, operationsSince, readAudit, type AuditOperation, type RunningOperation } from "../rollout/audit-log";
import { environmentFiles } from "../rollout/operations";
import type { VerbDeps } from "./deps";
import { table } from "./output";
import { DEFAULT_ENV_FILE, openEnvironment } from "./open-environment";

interface AuditFlags {
  file?: string;
  json?: boolean;
  since?: string;
}

/** `2026-11-22T10:00:00Z`: UTC to the second, as `--since` takes it back. */
function shortTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `12.3 s`, `4m 05s`, `2h 03m`. Pure. */
export function formatDuration(ms: number): string {
  // Rounded first, so 59.96 s is `1m 00s`, never `60.0 s`.
  if (Math.round(ms / 100) < 600) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** `demo:v1 -> demo:v2`; `(none)` where there was no image, `?` where the log does not know. */
function images(op: AuditOperation): string {
  // Only a finished line that did not throw knows where it started from.
  const knowsFrom = op.finishedAt !== null && op.outcome !== "error";
  const from = op.fromImage ?? (knowsFrom ? "(none)" : "?");
  const to = op.toImage ?? (knowsFrom ? "(none)" : "?");
  return `${from} -> ${to}`;
}

/** The human view of `audit`: one row per operation, oldest first. `nowMs` gives a running one its time so far. Pure. */
export function auditTable(ops: readonly AuditOperation[], nowMs: number): string {
  const rows = [["TIME", "OPERATOR", "OPERATION", "IMAGE", "OUTCOME", "DURATION"]];
  for (const op of ops) {
    const duration = op.durationMs !== null ? formatDuration(op.durationMs) : op.outcome === "running" ? `${formatDuration(Math.max(0, nowMs - Date.parse(op.startedAt)))} so far` : "-";
    rows.push([shortTime(op.startedAt), op.who, op.action, images(op), op.outcome, duration]);
  }
  return table(rows);
}

/** Adds `audit`. */
export function register(program: Command, deps: VerbDeps): void {
  program
    .command("audit")
    .description("the environment's audit log: who ran which operation when, from which image to which, its outcome and duration")
    .option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`)
    .option("--since <time>", "only operations under way at or after TIME: a duration before now (10m, 1h30m, 2d), an RFC 3339 time or Unix seconds")
    .option("--json", "print one JSON array of operations")
    .action(async (flags: AuditFlags) => {
      const now = Date.now();
      // The flag is checked before any file is read.
      const sinceMs = flags.since === undefined ? null : Number(parseTimeFlag("--since", flags.since, msToNs(now)) / 1_000_000n);
      const loaded = await openEnvironment(flags.file, deps);
      const files = environmentFiles(loaded.file, deps.operationLockDir(loaded.env), loaded.env.name);
      const shown = path.relative(deps.cwd, files.auditFile).startsWith("..") ? files.auditFile : path.relative(deps.cwd, files.auditFile);
      const lock = inspectLock(files.lockFile);
      const running: RunningOperation | null = lock.state === "held" && lock.holder ? { operation: lock.holder.operation, since: lock.holder.since } : null;
      const all = auditOperations(await readAudit(files.auditFile, shown), running);
      const ops = sinceMs === null ? all : operationsSince(all, sinceMs);
      if (flags.json === true) {
        deps.stdout.write(`${JSON.stringify(ops, null, 2)}\n`);
        return;
      }
      if (ops.length === 0) {
        deps.stdout.write(`no operations${sinceMs === null ? "" : ` since ${shortTime(new Date(sinceMs).toISOString())}`} in ${shown}\n`);
        return;
      }
      deps.stdout.write(auditTable(ops, now));
    });
}
