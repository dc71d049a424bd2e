// Unit: the audit log on a real temp directory. Does not prove appends from two machines to one file on a network filesystem.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { appendAudit, formatAuditLine, readAudit, type AuditEntry } from "../../rollout/audit-log";

const dir = mkdtempSync(path.join(os.tmpdir(), "longshore-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
