// Does not prove: behaviour on a network filesystem (the locks live on local disk).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { LockHeldError } from "../../core/errors";
import { acquireLock, withLock } from "../../local/lock";

describe("acquireLock (flock)", () => {
  it("is exclusive, times out with LockHeldError, and is free again after release", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-lock-"));
    const file = path.join(dir, "x.lock");
    const first = await acquireLock(file, 1000, "test resource");
    await expect(acquireLock(file, 300, "test resource")).rejects.toBeInstanceOf(LockHeldError);
    await first.release();
    await first.release();
    const order: string[] = [];
    await Promise.all([
      withLock(file, 5000, "t", async () => {
        order.push("a-in");
        await new Promise((r) => setTimeout(r, 200));
        order.push("a-out");
      }),
      new Promise((r) => setTimeout(r, 50)).then(() => withLock(file, 5000, "t", async () => void order.push("b"))),
    ]);
    expect(order).toEqual(["a-in", "a-out", "b"]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
