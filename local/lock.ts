/**
 * Exclusive locks between longshore processes on this computer, held by the kernel (flock(2)) so a
 * crashed holder can never leave a stale lock behind. Node has no flock binding, so a tiny
 * util-linux `flock` child holds it for us: it takes the lock, prints a line, and keeps it until
 * its stdin closes — which also happens when our process dies.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LockHeldError } from "../core/errors";

/** A held lock; {@link HeldLock.release} is safe to call twice. */
export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Takes the lock at `lockPath` (created if missing), waiting up to `waitMs` for another holder. */
export function acquireLock(lockPath: string, waitMs: number, what: string): Promise<HeldLock> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  return new Promise((resolve, reject) => {
    const seconds = Math.max(0, waitMs / 1000).toFixed(1);
    const child = spawn("flock", ["-x", "-w", seconds, lockPath, "sh", "-c", "echo locked; exec cat >/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
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
      resolve({
        path: lockPath,
        release() {
          released ??= new Promise<void>((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once("close", () => r());
            child.stdin.end();
          });
          return released;
        },
      });
    });
    child.on("close", (code) => {
      if (done) return;
      done = true;
      reject(
        new LockHeldError(`${what} is busy: another longshore process holds ${lockPath} (waited ${seconds} s)`, {
          suggestion: "Wait for the other longshore command to finish, then try again.",
          context: { lock: lockPath, exitCode: code, stderr: stderr.trim() },
        }),
      );
    });
  });
}

/** Runs `fn` while holding the lock at `lockPath`. */
export async function withLock<T>(lockPath: string, waitMs: number, what: string, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(lockPath, waitMs, what);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
