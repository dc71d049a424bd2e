// Unit: reading a lock's state without taking it, removing a stale record, and --force's removal, with real
// flock(1) children on a temp directory. Does not prove behaviour on overlayfs or a network filesystem.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LockHeldError } from "../../core/errors";
import { acquireLock, forceRemoveLock, inspectLock, parseProcLocks, readHolder, removeStaleLock, type LockHolder } from "../../core/lock";
import { compileTree } from "../helpers/compiled-tree";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-lock-inspect-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const me = `${os.userInfo().username}@${os.hostname()}`;
const SINCE = "2026-12-04T05:00:00.000Z";
const record = (over: Partial<LockHolder> = {}): LockHolder => ({ operation: "rollout", user: "alice", hostname: "laptop", pid: 4242, since: SINCE, ...over });

/** The pid of this process's `flock` child that holds `file` (what /proc/locks names). */
function flockChildOf(file: string): number {
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const [, comm, , ppid] = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat) ?? [];
      if (comm === "flock" && Number(ppid) === process.pid && fs.readdirSync(`/proc/${pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file)) return Number(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  throw new Error(`no flock child holds ${file}`);
}

describe("parseProcLocks", () => {
  it("reads the granted FLOCK locks (pid, device, inode); waiters and POSIX locks are left out", () => {
    const text = [
      "1: FLOCK  ADVISORY  WRITE 2796 fe:00:2147969 0 EOF",
      "1: -> FLOCK  ADVISORY  WRITE 2801 fe:00:2147969 0 EOF",
      "2: POSIX  ADVISORY  WRITE 612 00:19:1234 0 EOF",
      "3: FLOCK  ADVISORY  READ 0 103:0a:77 0 EOF",
      "",
    ].join("\n");
    expect(parseProcLocks(text)).toEqual([
      { pid: 2796, major: 0xfe, minor: 0, inode: 2147969 },
      { pid: 0, major: 0x103, minor: 0x0a, inode: 77 },
    ]);
  });
});

describe("inspectLock", () => {
  it("free: no file; free with an empty file; held: the holder's record and its flock process", async () => {
    const file = path.join(dir, "a.lock");
    expect(inspectLock(file)).toEqual({ state: "free", path: file, record: null, exists: false });
    fs.writeFileSync(file, "");
    expect(inspectLock(file)).toEqual({ state: "free", path: file, record: null, exists: true });
    const held = await acquireLock(file, { what: "t", operation: "rollout", now: () => new Date(SINCE) });
    try {
      expect(inspectLock(file)).toEqual({
        state: "held",
        path: file,
        holder: { operation: "rollout", user: os.userInfo().username, hostname: os.hostname(), pid: process.pid, since: SINCE },
        lockPid: flockChildOf(file),
      });
    } finally {
      await held.release();
    }
  });

  it("stale: a record written by hand that no process holds; held again once one takes it", async () => {
    const file = path.join(dir, "b.lock");
    fs.writeFileSync(file, `${JSON.stringify(record())}\n`);
    expect(inspectLock(file)).toEqual({ state: "stale", path: file, record: record() });
    const held = await acquireLock(file, { what: "t", operation: "up" });
    expect(inspectLock(file)).toMatchObject({ state: "held", holder: { operation: "up", pid: process.pid } });
    await held.release();
    expect(inspectLock(file)).toMatchObject({ state: "stale", record: { operation: "up" } });
  });

  it("a holder killed with SIGKILL leaves a stale record, not a held lock; removeStaleLock removes it", async () => {
    const tree = compileTree(["core/lock.ts"], "ls-lock-inspect");
    try {
      const file = path.join(dir, "c.lock");
      const script = `require(${JSON.stringify(tree.file("core/lock"))}).acquireLock(${JSON.stringify(file)}, { what: "t", operation: "rollout", removeOnRelease: true }).then(() => { console.log("locked"); setInterval(() => {}, 1000); });`;
      const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      // Held by another process: its record names it, /proc/locks its flock child.
      expect(inspectLock(file)).toMatchObject({ state: "held", holder: { operation: "rollout", pid: child.pid } });
      await expect(removeStaleLock(file, "environment shop")).rejects.toThrow(`environment shop is locked: rollout by ${me} (pid ${child.pid})`);
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(child.pid!, "SIGKILL");
      await exited;
      // Its flock child goes when its stdin closes: shortly after.
      for (let i = 0; i < 50 && inspectLock(file).state === "held"; i++) await new Promise((r) => setTimeout(r, 50));
      expect(inspectLock(file)).toMatchObject({ state: "stale", record: { operation: "rollout", pid: child.pid } });
      await removeStaleLock(file, "environment shop");
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      tree.remove();
    }
  });
});

describe("forceRemoveLock (lock release --force)", () => {
  it("removes a live holder's file; the next operation locks a new file; the old holder's release leaves that one alone", async () => {
    const file = path.join(dir, "d.lock");
    const a = await acquireLock(file, { what: "t", operation: "a", removeOnRelease: true });
    const seen = inspectLock(file);
    if (seen.state !== "held") throw new Error("expected held");
    expect(forceRemoveLock(file, seen)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    // a still holds its kernel lock, on the removed file: a new operation is not refused by it.
    const b = await acquireLock(file, { what: "t", operation: "b", removeOnRelease: true });
    expect(readHolder(file)?.operation).toBe("b");
    // a ends: its release removes only the file it locked, so b's lock still excludes others.
    await a.release();
    expect(readHolder(file)?.operation).toBe("b");
    const c = await acquireLock(file, { what: "t", operation: "c" }).catch((e: unknown) => e);
    expect(c).toBeInstanceOf(LockHeldError);
    expect((c as LockHeldError).message).toMatch(/^t is locked: b by /);
    await b.release();
    expect(fs.existsSync(file)).toBe(false);
  });

  it("removes nothing when the lock changed hands since it was looked at", async () => {
    const file = path.join(dir, "e.lock");
    const a = await acquireLock(file, { what: "t", operation: "a" });
    const seen = inspectLock(file);
    await a.release();
    if (seen.state !== "held") throw new Error("expected held");
    const b = await acquireLock(file, { what: "t", operation: "b" });
    expect(forceRemoveLock(file, seen)).toBe(false);
    expect(readHolder(file)?.operation).toBe("b");
    await b.release();
  });
});
