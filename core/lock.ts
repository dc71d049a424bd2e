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
 * meanwhile lets go and tries again on the new one).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LockHeldError } from "./errors";

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
          if (!removed) fs.rmSync(lockPath, { force: true });
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
