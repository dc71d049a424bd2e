/**
 * One operation at a time per environment. The lock is a file created with O_EXCL, holding who
 * took it; a second rollout is refused naming the holder. A lock whose process is gone (same
 * machine, PID no longer alive) is reported as stale; it is broken only when asked explicitly.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LockHeldError } from "../core/errors";

/** Who holds a lock. */
export interface LockHolder {
  operation: string;
  user: string;
  hostname: string;
  pid: number;
  since: string;
}

/** A held lock; release it in a `finally`. */
export interface HeldLock {
  holder: LockHolder;
  release(): Promise<void>;
}

/** Options for {@link acquireLock}. */
export interface AcquireOptions {
  operation: string;
  /** Remove an existing lock first, even a live one. For a lock left by a crash. */
  breakLock?: boolean;
  /** For tests: whether a PID is alive. */
  isAlive?: (pid: number) => boolean;
  now?: () => Date;
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when the holder is on this machine and its process is gone. */
export function isStale(holder: LockHolder, isAlive: (pid: number) => boolean = defaultIsAlive): boolean {
  return holder.hostname === os.hostname() && !isAlive(holder.pid);
}

/** Takes the lock at `lockPath` or throws {@link LockHeldError} naming who holds it. */
export async function acquireLock(lockPath: string, options: AcquireOptions): Promise<HeldLock> {
  const isAlive = options.isAlive ?? defaultIsAlive;
  const holder: LockHolder = {
    operation: options.operation,
    user: os.userInfo().username,
    hostname: os.hostname(),
    pid: process.pid,
    since: (options.now ?? (() => new Date()))().toISOString(),
  };
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  if (options.breakLock) await fs.rm(lockPath, { force: true });
  try {
    await fs.writeFile(lockPath, JSON.stringify(holder) + "\n", { flag: "wx", mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const current = await readHolder(lockPath);
    const who = current
      ? `${current.operation} by ${current.user}@${current.hostname} (pid ${current.pid}) since ${current.since}`
      : "an unreadable lock file";
    const stale = current !== null && isStale(current, isAlive);
    throw new LockHeldError(`the environment is locked: ${who}${stale ? " (its process is gone: the lock is stale)" : ""}`, {
      suggestion: stale
        ? "Run again with --break-lock to remove the stale lock."
        : "Wait for that operation to finish; use --break-lock only if you are sure it is dead.",
      context: { lockPath, holder: current, stale },
    });
  }
  let released = false;
  return {
    holder,
    async release() {
      if (released) return;
      released = true;
      // Remove only our own lock: someone may have broken it and taken a new one meanwhile.
      const current = await readHolder(lockPath);
      if (current && current.pid === holder.pid && current.since === holder.since) await fs.rm(lockPath, { force: true });
    },
  };
}

/** Reads the holder of a lock, or null when there is none. */
export async function readHolder(lockPath: string): Promise<LockHolder | null> {
  try {
    return JSON.parse(await fs.readFile(lockPath, "utf8")) as LockHolder;
  } catch {
    return null;
  }
}
