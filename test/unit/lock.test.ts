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
});
