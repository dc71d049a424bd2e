/**
 * The one lock of longshore: an exclusive lock between longshore processes on this computer, held
 * by the kernel (flock(2)) so that a crashed holder can never leave a stale lock behind. Node has
 * no flock binding, so a tiny util-linux `flock` child holds it: it takes the lock, says so, and
 * keeps it until its stdin closes, which also happens when our process dies.
 *
 * The holder writes who it is into the lock file, so a second operation is refused with the
 * holder's name (`rollout by alice@laptop (pid 4242) since ...`) instead of a bare "busy".
 *
 * A holder may remove the lock file when it is done (`removeOnRelease`), so nothing is left behind
 * for a thing that is gone. That is safe because every acquirer checks, once it holds the lock,
 * that the file it locked is still the one at the path (a waiter that locked a file removed
 * meanwhile lets go and tries again on the new one). A holder removes only the file it locked: once
 * `longshore lock release --force` has removed it, a new operation's file is at the path.
 *
 * The lock itself is never stale, but its record can be: a holder killed before its release leaves
 * the file naming it. That blocks nothing (the next holder overwrites it); {@link inspectLock} tells
 * the two apart without taking the lock.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LockHeldError, PreconditionError } from "./errors";

/** Who holds a lock. */
export interface LockHolder {
  operation: string;
  user: string;
  hostname: string;
  pid: number;
  since: string;
}

/** A held lock; {@link HeldLock.release} is safe to call twice. */
export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  release(): Promise<void>;
}

/** Options of {@link acquireLock}. */
export interface LockOptions {
  /** What is locked, for the error (`environment shop`). */
  what: string;
  /** What the holder does (`rollout`), recorded for whoever finds the lock busy. @default "longshore" */
  operation?: string;
  /** How long to wait for another holder; 0 refuses at once. @default 0 */
  waitMs?: number;
  /** Remove the lock file on release (while still holding it). @default false */
  removeOnRelease?: boolean;
  now?: () => Date;
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env["USER"] ?? "unknown";
  }
}

/** Reads the holder recorded in a lock file, or null. */
export function readHolder(lockPath: string): LockHolder | null {
  try {
    const h = JSON.parse(fs.readFileSync(lockPath, "utf8")) as LockHolder;
    return typeof h.pid === "number" && typeof h.operation === "string" ? h : null;
  } catch {
    return null;
  }
}

/** `rollout by alice@laptop (pid 4242) since 2026-12-04T05:00:00.000Z` */
export function describeHolder(h: LockHolder): string {
  return `${h.operation} by ${h.user}@${h.hostname} (pid ${h.pid}) since ${h.since}`;
}

/** The inode the process `pid` holds open at `file` (its flock), or null. Linux's /proc. */
function lockedInode(pid: number, file: string): number | null {
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link === file || link === `${file} (deleted)`) return fs.statSync(`/proc/${pid}/fd/${fd}`).ino;
    }
  } catch {
    // The process is gone: it holds nothing.
  }
  return null;
}

function inodeAt(file: string): number | null {
  try {
    return fs.statSync(file).ino;
  } catch {
    return null;
  }
}

/** Takes the lock at `lockPath` (created if missing), or throws {@link LockHeldError} naming the holder. */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<HeldLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    // The raw lock never removes its file: only a holder that checked the file is its own may.
    const held = await acquireOnce(lockPath, { ...options, removeOnRelease: false, waitMs: Math.max(0, deadline - Date.now()) });
    // The file may have been removed by its last holder while we waited: then we hold nothing anyone else sees.
    const ino = lockedInode(held.pid, path.resolve(lockPath));
    if (ino !== null && ino === inodeAt(lockPath)) {
      // Only the holder writes, and only once it knows the file it holds is the one at the path.
      fs.writeFileSync(lockPath, `${JSON.stringify(held.lock.holder)}\n`);
      if (!options.removeOnRelease) return held.lock;
      let removed = false;
      return {
        ...held.lock,
        release() {
          // Removed while still held: an acquirer that then locks the removed file sees it is gone.
          // Only the file this holder locked: after `lock release --force` removed it, the path names
          // the lock of the operation that started since, which is not this holder's to remove.
          if (!removed && inodeAt(lockPath) === ino) fs.rmSync(lockPath, { force: true });
          removed = true;
          return held.lock.release();
        },
      };
    }
    await held.lock.release();
  }
}

function acquireOnce(lockPath: string, options: LockOptions): Promise<{ lock: HeldLock; pid: number }> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  const waitMs = options.waitMs ?? 0;
  const holder: LockHolder = {
    operation: options.operation ?? "longshore",
    user: userName(),
    hostname: os.hostname(),
    pid: process.pid,
    since: (options.now ?? (() => new Date()))().toISOString(),
  };
  return new Promise((resolve, reject) => {
    const wait = waitMs > 0 ? ["-w", (waitMs / 1000).toFixed(1)] : ["-n"];
    const child = spawn("flock", ["-x", ...wait, lockPath, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
    let done = false;
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => {
      if (done) return;
      done = true;
      reject(e);
    });
    child.stdout.on("data", (c: Buffer) => {
      if (done || !c.toString().includes("locked")) return;
      done = true;
      let released: Promise<void> | undefined;
      const lock: HeldLock = {
        path: lockPath,
        holder,
        release() {
          released ??= new Promise<void>((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once("close", () => r());
            child.stdin.end();
          });
          return released;
        },
      };
      resolve({ lock, pid: child.pid! });
    });
    child.on("close", (code) => {
      if (done) return;
      done = true;
      const current = readHolder(lockPath);
      const who = current ? describeHolder(current) : "another longshore process";
      reject(
        new LockHeldError(`${options.what} is locked: ${who}${waitMs > 0 ? ` (waited ${(waitMs / 1000).toFixed(1)} s)` : ""}`, {
          suggestion: "Wait for that operation to finish, then try again. (The lock is the kernel's: it ends with its holder's process, so it is never stale.)",
          context: { lock: lockPath, holder: current, exitCode: code, stderr: stderr.trim() },
        }),
      );
    });
  });
}

/** Runs `fn` while holding the lock at `lockPath`. */
export async function withLock<T>(lockPath: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(lockPath, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** One flock(2) lock as /proc/locks lists it. */
export interface ProcFlock {
  /** The process that took it (the `flock` child of a longshore process); 0 when not visible here. */
  pid: number;
  major: number;
  minor: number;
  inode: number;
}

/**
 * The granted FLOCK locks of a /proc/locks text (`1: FLOCK  ADVISORY  WRITE 2796 fe:00:2147969 0 EOF`);
 * waiters (`1: -> FLOCK ...`) and POSIX locks are left out. Pure.
 */
export function parseProcLocks(text: string): ProcFlock[] {
  const out: ProcFlock[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (m) out.push({ pid: Math.max(0, Number(m[1])), major: parseInt(m[2]!, 16), minor: parseInt(m[3]!, 16), inode: Number(m[4]) });
  }
  return out;
}

/** The state of a lock file, as `longshore lock status` reports it. */
export type LockState =
  /** No process holds it and no holder is recorded; `exists`: there is a lock file (empty, or not a record). */
  | { state: "free"; path: string; record: null; exists: boolean }
  /** No process holds it, but the file still names a holder: one that ended without removing it (a crash, SIGKILL). */
  | { state: "stale"; path: string; record: LockHolder }
  /**
   * A process holds it. `holder` is the record in the file, or null when it is not this holder's yet
   * (the holder writes it just after it takes the lock); `lockPid` is the `flock` process holding it.
   */
  | { state: "held"; path: string; holder: LockHolder | null; lockPid: number | null };

/**
 * What holds the lock at `lockPath`, without taking it (taking it, even for a moment, would turn
 * away an operation starting then). Linux: the kernel's list of flock locks (/proc/locks) against
 * the file's device and inode.
 */
export function inspectLock(lockPath: string): LockState {
  const file = path.resolve(lockPath);
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(file, { bigint: true });
  } catch {
    return { state: "free", path: file, record: null, exists: false };
  }
  const record = readHolder(file);
  // The kernel's major/minor split of a dev_t (glibc's gnu_dev_major/minor).
  const major = Number(((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn));
  const minor = Number((st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn));
  const inode = Number(st.ino);
  let table: string;
  try {
    table = fs.readFileSync("/proc/locks", "utf8");
  } catch (e) {
    throw new PreconditionError(`cannot tell who holds ${file}: /proc/locks ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      suggestion: "The kernel's list of locks is Linux's /proc/locks: run longshore on Linux with /proc mounted.",
      cause: e,
    });
  }
  const locks = parseProcLocks(table).filter((l) => l.inode === inode);
  // Some filesystems (overlayfs) report another device to stat than to /proc/locks: then the
  // holding process must have this very file open.
  const lock = locks.find((l) => l.major === major && l.minor === minor) ?? locks.find((l) => l.pid > 0 && lockedInode(l.pid, file) === inode);
  if (!lock) return record ? { state: "stale", path: file, record } : { state: "free", path: file, record: null, exists: true };
  const lockPid = lock.pid > 0 ? lock.pid : null;
  // The record is this holder's when it names the process that started the flock child.
  const mine = record !== null && (lockPid === null || record.pid === lockPid || record.pid === parentPid(lockPid));
  return { state: "held", path: file, holder: mine ? record : null, lockPid };
}

function parentPid(pid: number): number | null {
  try {
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after the last `)`.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/**
 * Removes a lock file that names a holder no process is: takes the lock (so no operation can
 * start meanwhile), removes the file, lets go. Throws {@link LockHeldError} when it is held.
 */
export async function removeStaleLock(lockPath: string, what: string): Promise<void> {
  const held = await acquireLock(lockPath, { what, operation: "lock release", removeOnRelease: true });
  await held.release();
}

/**
 * Removes the lock file of a live holder (`lock release --force`), when it is still the one
 * `expected` was read from. The holder is not stopped and keeps its kernel lock on the removed
 * file; the next acquirer locks a new file at the path, and this holder's release leaves that one
 * alone. Returns false when the file changed meanwhile (another holder, or none): nothing removed.
 */
export function forceRemoveLock(lockPath: string, expected: LockState & { state: "held" }): boolean {
  const now = inspectLock(lockPath);
  if (now.state !== "held" || now.lockPid !== expected.lockPid || JSON.stringify(now.holder) !== JSON.stringify(expected.holder)) return false;
  fs.rmSync(lockPath, { force: true });
  return true;
}
