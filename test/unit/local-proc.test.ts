// Does not prove: anything about processes other than this test's own children.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { isSameProcess, parseStartTime, processStartTime, stopProcess } from "../../drivers/local/proc";

describe("parseStartTime", () => {
  it("reads field 22 even when the command name has spaces and parentheses", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    const line = `4242 (we (ird) name) S ${fields.slice(1).join(" ")}`;
    // field 3 is the state ("S"), fields 4.. follow; field 22 is the 20th after ")".
    expect(parseStartTime(line)).toBe("22");
  });
});

describe("process identity", () => {
  it("stops its own child by PID + start time and then no longer recognises the PID", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid!;
    const start = processStartTime(pid)!;
    expect(isSameProcess(pid, start)).toBe(true);
    expect(isSameProcess(pid, String(Number(start) + 1))).toBe(false);
    expect(await stopProcess(pid, String(Number(start) + 1), 100)).toBe("not-running");
    expect(isSameProcess(pid, start)).toBe(true);
    expect(await stopProcess(pid, start, 5_000)).toBe("stopped");
    expect(isSameProcess(pid, start)).toBe(false);
  });
});
