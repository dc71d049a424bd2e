// Unit: the one lock (core/lock.ts) on a real temp directory with real flock(1) children. Does not
// prove behaviour on a network filesystem (the locks live on local disk).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LockHeldError } from "../../core/errors";
import { acquireLock, readHolder, withLock } from "../../core/lock";
import { compileTree } from "../helpers/compiled-tree";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-lock-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("acquireLock", () => {
  it("refuses a second holder at once, naming the first; is free again after release (twice is fine)", async () => {
    const file = path.join(dir, "a.lock");
    const held = await acquireLock(file, { what: "environment shop", operation: "rollout", now: () => new Date("2026-01-02T03:04:05Z") });
    expect(readHolder(file)).toEqual({ operation: "rollout", user: os.userInfo().username, hostname: os.hostname(), pid: process.pid, since: "2026-01-02T03:04:05.000Z" });
    const err = await acquireLock(file, { what: "environment shop", operation: "rollback" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).message).toBe(
      `environment shop is locked: rollout by ${os.userInfo().username}@${os.hostname()} (pid ${process.pid}) since 2026-01-02T03:04:05.000Z`,
    );
    await held.release();
    await held.release();
    const again = await acquireLock(file, { what: "environment shop", operation: "rollback" });
    expect(readHolder(file)?.operation).toBe("rollback");
    await again.release();
  });

  it("waits its turn when asked to, in order", async () => {
    const file = path.join(dir, "b.lock");
    const order: string[] = [];
    await Promise.all([
      withLock(file, { what: "t", waitMs: 5000 }, async () => {
        order.push("a-in");
        await new Promise((r) => setTimeout(r, 200));
        order.push("a-out");
      }),
      new Promise((r) => setTimeout(r, 50)).then(() => withLock(file, { what: "t", waitMs: 5000 }, async () => void order.push("b"))),
    ]);
    expect(order).toEqual(["a-in", "a-out", "b"]);
    await expect(acquireLock(file, { what: "t", waitMs: 0 }).then((l) => l.release())).resolves.toBeUndefined();
  });

  it("times out a wait with LockHeldError", async () => {
    const file = path.join(dir, "c.lock");
    const held = await acquireLock(file, { what: "t" });
    const err = await acquireLock(file, { what: "t", waitMs: 300 }).catch((e: unknown) => e);
    expect((err as LockHeldError).message).toMatch(/^t is locked: longshore by .* \(waited 0\.3 s\)$/);
    await held.release();
  });

  it("is never stale: a holder process killed with SIGKILL leaves the lock free", async () => {
    const tree = compileTree(["core/lock.ts"], "ls-lock");
    try {
      const file = path.join(dir, "d.lock");
      // Another longshore process takes the lock with the real module, then dies without releasing it.
      const script = `require(${JSON.stringify(tree.file("core/lock"))}).acquireLock(${JSON.stringify(file)}, { what: "t", operation: "rollout" }).then(() => { console.log("locked"); setInterval(() => {}, 1000); });`;
      const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      const busy = await acquireLock(file, { what: "t" }).catch((e: unknown) => e);
      expect((busy as LockHeldError).message).toContain(`t is locked: rollout by ${os.userInfo().username}@${os.hostname()} (pid ${child.pid})`);
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(child.pid!, "SIGKILL");
      await exited;
      const lock = await acquireLock(file, { what: "t", waitMs: 5000 });
      await lock.release();
    } finally {
      tree.remove();
    }
  });

  it("removeOnRelease leaves no file behind, and waiters on the removed file still exclude each other", async () => {
    const file = path.join(dir, "e.lock");
    const first = await acquireLock(file, { what: "t", removeOnRelease: true });
    expect(fs.existsSync(file)).toBe(true);
    await first.release();
    expect(fs.existsSync(file)).toBe(false);
    // Six holders at once, each removing the file on release: never two inside at the same time.
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        withLock(file, { what: "t", operation: `op${i}`, waitMs: 20_000, removeOnRelease: true }, async () => {
          inside += 1;
          most = Math.max(most, inside);
          expect(readHolder(file)?.operation).toBe(`op${i}`);
          await new Promise((r) => setTimeout(r, 30));
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(fs.existsSync(file)).toBe(false);
  });

  it("a waiter whose file was removed while it waited locks the file that is at the path, not the removed one", async () => {
    const file = path.join(dir, "f.lock");
    const a = await acquireLock(file, { what: "t", operation: "a" });
    const b = acquireLock(file, { what: "t", operation: "b", waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 200)); // b's flock now waits on the file a holds
    fs.rmSync(file); // ... which goes away before a lets go
    await a.release();
    const held = await b;
    // b holds the lock of the file now at the path: a third process is refused, naming b.
    const c = await acquireLock(file, { what: "t", operation: "c" }).catch((e: unknown) => e);
    expect((c as LockHeldError).message).toMatch(/^t is locked: b by /);
    await held.release();
  });
});
