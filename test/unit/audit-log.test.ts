// Unit: the audit log on a real temp directory. Does not prove appends from two machines to one file on a network filesystem.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { appendAudit, formatAuditLine, isFinished, readAudit, type AuditFinished, type AuditStarted } from "../../rollout/audit-log";

const dir = mkdtempSync(path.join(os.tmpdir(), "longshore-audit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("audit log", () => {
  const started: AuditStarted = {
    image: "demo:broken",
    event: "started",
    environment: "demo",
    action: "rollout",
    who: "ops@example.com",
    id: "0b1c",
    when: "2026-11-22T10:00:00.000Z",
  };
  const finished: AuditFinished = {
    phases: { prepare: 1200, "health-gate": 2000 },
    outcome: "failed",
    when: "2026-11-22T10:00:03.200Z",
    startedAt: "2026-11-22T10:00:00.000Z",
    event: "finished",
    id: "0b1c",
    who: "ops@example.com",
    action: "rollout",
    environment: "demo",
    fromImage: "demo:v1",
    toImage: "demo:broken",
    fromSlot: "blue",
    toSlot: "green",
    reason: "green-1: status 500",
  };

  it("writes one line per entry with a stable key order: started, then finished stamped with the end", () => {
    expect(formatAuditLine(started)).toBe(
      '{"when":"2026-11-22T10:00:00.000Z","id":"0b1c","who":"ops@example.com","action":"rollout","environment":"demo","event":"started","image":"demo:broken"}\n',
    );
    expect(formatAuditLine(finished)).toBe(
      '{"when":"2026-11-22T10:00:03.200Z","id":"0b1c","who":"ops@example.com","action":"rollout","environment":"demo","event":"finished",' +
        '"startedAt":"2026-11-22T10:00:00.000Z","fromImage":"demo:v1","toImage":"demo:broken","fromSlot":"blue","toSlot":"green",' +
        '"outcome":"failed","reason":"green-1: status 500","phases":{"prepare":1200,"health-gate":2000}}\n',
    );
  });

  it("a finished line says the before-switch hook ran: command, host, exit code, duration and its newest 20 output lines, after the phases", () => {
    const output = Array.from({ length: 25 }, (_, i) => `line ${i + 1}`);
    const line = formatAuditLine({
      ...finished,
      reason: undefined,
      phases: { prepare: 1200, "health-gate": 2000, "before-switch": 1500 },
      hook: { outputTail: output, durationMs: 1499.6, exitCode: 3, host: "green-1", command: ["bin/migrate", "up"] },
    });
    expect(line).toBe(
      '{"when":"2026-11-22T10:00:03.200Z","id":"0b1c","who":"ops@example.com","action":"rollout","environment":"demo","event":"finished",' +
        '"startedAt":"2026-11-22T10:00:00.000Z","fromImage":"demo:v1","toImage":"demo:broken","fromSlot":"blue","toSlot":"green",' +
        '"outcome":"failed","phases":{"prepare":1200,"health-gate":2000,"before-switch":1500},' +
        `"hook":{"command":["bin/migrate","up"],"host":"green-1","exitCode":3,"durationMs":1500,"outputTail":${JSON.stringify(output.slice(5))}}}\n`,
    );
    const timedOut = JSON.parse(formatAuditLine({ ...finished, hook: { command: ["x"], host: "green-1", exitCode: null, timedOut: true, durationMs: 600_000, outputTail: [] } })).hook;
    expect(timedOut).toEqual({ command: ["x"], host: "green-1", exitCode: null, timedOut: true, durationMs: 600_000, outputTail: [] });
  });

  it("appends and never rewrites", async () => {
    const file = path.join(dir, "audit", "demo.audit.jsonl");
    await appendAudit(file, started);
    await appendAudit(file, finished);
    const firstBytes = readFileSync(file, "utf8");
    await appendAudit(file, { ...finished, outcome: "succeeded", toImage: "demo:v2", reason: undefined });
    const text = readFileSync(file, "utf8");
    expect(text.startsWith(firstBytes)).toBe(true);
    const entries = await readAudit(file);
    expect(entries.map((e) => e.event)).toEqual(["started", "finished", "finished"]);
    expect(entries.filter(isFinished).map((e) => [e.toImage, e.outcome])).toEqual([
      ["demo:broken", "failed"],
      ["demo:v2", "succeeded"],
    ]);
  });
});
