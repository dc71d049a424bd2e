// Unit: the environment lock and the audit log on a real temp directory. Does not prove that two
// machines sharing a network filesystem exclude each other (O_EXCL over NFS is not guaranteed).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireLock, readHolder } from "../../rollout/lock";
import { appendAudit, formatAuditLine, readAudit, type AuditEntry } from "../../rollout/audit-log";
import { LockHeldError } from "../../core/errors";

const dir = mkdtempSync(path.join(os.tmpdir(), "longshore-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lock", () => {
  it("refuses a second holder, naming the first", async () => {
    const file = path.join(dir, "a.lock");
    const held = await acquireLock(file, { operation: "rollout", now: () => new Date("2026-01-02T03:04:05Z") });
    const second = acquireLock(file, { operation: "rollout" });
    await expect(second).rejects.toBeInstanceOf(LockHeldError);
    await expect(acquireLock(file, { operation: "rollback" })).rejects.toThrow(
      `the environment is locked: rollout by ${os.userInfo().username}@${os.hostname()} (pid ${process.pid}) since 2026-01-02T03:04:05.000Z`,
    );
    await held.release();
    expect(await readHolder(file)).toBeNull();
    const again = await acquireLock(file, { operation: "rollback" });
    expect((await readHolder(file))?.operation).toBe("rollback");
    await again.release();
  });

  it("reports a lock whose process is gone as stale, and breaks it only on request", async () => {
    const file = path.join(dir, "b.lock");
    await acquireLock(file, { operation: "rollout" });
    const err = await acquireLock(file, { operation: "rollout", isAlive: () => false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).message).toContain("(its process is gone: the lock is stale)");
    expect((err as LockHeldError).suggestion).toBe("Run again with --break-lock to remove the stale lock.");
    const broken = await acquireLock(file, { operation: "rollback", breakLock: true });
    expect((await readHolder(file))?.operation).toBe("rollback");
    await broken.release();
  });

  it("release does not remove a lock someone else took after breaking ours", async () => {
    const file = path.join(dir, "c.lock");
    const first = await acquireLock(file, { operation: "rollout", now: () => new Date(1) });
    const thief = await acquireLock(file, { operation: "rollback", breakLock: true, now: () => new Date(2) });
    await first.release();
    expect((await readHolder(file))?.operation).toBe("rollback");
    await thief.release();
  });
});

describe("audit log", () => {
  const entry: AuditEntry = {
    phases: { prepare: 1200, "health-gate": 2000 },
    outcome: "failed",
    when: "2026-11-22T10:00:00.000Z",
    who: "ops@ci",
    action: "rollout",
    environment: "demo",
    fromImage: "demo:v1",
    toImage: "demo:broken",
    fromSlot: "blue",
    toSlot: "green",
    reason: "green-1: status 500",
  };

  it("writes one line per entry with a stable key order", () => {
    expect(formatAuditLine(entry)).toBe(
      '{"when":"2026-11-22T10:00:00.000Z","who":"ops@ci","action":"rollout","environment":"demo","fromImage":"demo:v1",' +
        '"toImage":"demo:broken","fromSlot":"blue","toSlot":"green","outcome":"failed","reason":"green-1: status 500",' +
        '"phases":{"prepare":1200,"health-gate":2000}}\n',
    );
  });

  it("appends and never rewrites", async () => {
    const file = path.join(dir, "audit", "demo.audit.jsonl");
    await appendAudit(file, entry);
    const firstBytes = readFileSync(file, "utf8");
    await appendAudit(file, { ...entry, outcome: "succeeded", toImage: "demo:v2", reason: undefined });
    const text = readFileSync(file, "utf8");
    expect(text.startsWith(firstBytes)).toBe(true);
    expect((await readAudit(file)).map((e) => [e.toImage, e.outcome])).toEqual([
      ["demo:broken", "failed"],
      ["demo:v2", "succeeded"],
    ]);
  });
});
