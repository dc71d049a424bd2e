// Unit: `lock status|release` with `driver: aws` through the CLI program, a real AwsSlotDriver over an in-memory lock store and a fake workspace. Does not prove S3's behaviour (test/integration/s3-lock-client.test.ts runs the real client against a fake S3) or the Automation API wiring.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliDeps } from "../../cli/deps";
import { EXIT } from "../../cli/exit-codes";
import { main } from "../../cli/main";
import { systemSecretReader } from "../../core/secret-reader";
import { AwsSlotDriver, type LockObjectClient } from "../../drivers/aws/aws-driver";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-cli-lock-aws-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ENV = `name: shop
driver: aws
app: { name: shop, image: shop:1.0, port: 8080 }
slots: { blue: { image: shop:1.0, size: 1 }, green: { image: null } }
live: blue
aws:
  region: eu-west-1
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop
  adminCidrs: [203.0.113.7/32]
`;
const OBJ = "s3://longshore-lock-abc123/locks/shop.json";
const BOB = { id: "11111111-1111-1111-1111-111111111111", operation: "rollout", user: "bob", hostname: "desk", pid: 7, since: "2026-12-04T04:59:00.000Z" };

class Buf {
  text = "";
  write(c: string) {
    this.text += c;
    return true;
  }
}

/** A CLI whose aws driver's lock store is `store` (one object, an ETag per write); every store call recorded. */
function harness(name: string) {
  const cwd = path.join(root, name);
  mkdirSync(cwd, { recursive: true });
  writeFileSync(path.join(cwd, "longshore.yaml"), ENV);
  const stdout = new Buf();
  const stderr = new Buf();
  const state: { object: { body: string; etag: string } | null; calls: string[]; writes: number; afterRead?: () => void } = { object: null, calls: [], writes: 0 };
  const store: LockObjectClient = {
    putIfAbsent: async (_b, k, body) => {
      state.calls.push(`put ${k}`);
      if (state.object) return false;
      state.object = { body, etag: `"e${++state.writes}"` };
      return true;
    },
    get: async (_b, k) => {
      state.calls.push(`get ${k}`);
      const read = state.object;
      state.afterRead?.();
      return read;
    },
    deleteIfMatch: async (_b, k, etag) => {
      state.calls.push(`delete ${k} if-match ${etag}`);
      if (state.object?.etag !== etag) return false;
      state.object = null;
      return true;
    },
  };
  const deps: CliDeps = {
    connect: async () => {
      throw new Error("test: no ssh");
    },
    stdout,
    stderr,
    env: {},
    cwd,
    homeDir: root,
    readFile: (p) => readFile(p, "utf8"),
    secretReader: systemSecretReader({}),
    startDemoSshd: async () => {
      throw new Error("test: no demo");
    },
    environmentDriver: async (target) =>
      new AwsSlotDriver({ env: target.env, file: target.file, workspace: { up: async () => expect.unreachable("no pulumi up"), outputs: async () => ({ lockBucket: "longshore-lock-abc123" }) }, lockClient: store }),
    destroyEnvironment: async () => [],
    operationLockDir: () => path.join(cwd, "state"),
    gitUserEmail: async () => null,
    userAtHost: () => "me@laptop",
  };
  const run = async (...argv: string[]) => {
    stdout.text = "";
    stderr.text = "";
    return main(argv, deps);
  };
  const put = (body: string) => (state.object = { body, etag: `"e${++state.writes}"` });
  return { run, stdout, stderr, state, put, lockFile: path.join(cwd, "state", "shop.lock") };
}

describe("lock status with driver: aws", () => {
  it("shows this computer's lock and the lock object: free, then held by whom since when", async () => {
    const h = harness("status");
    expect(await h.run("lock", "status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(`environment shop: free\nlock file: ${h.lockFile}\nlock across operators: ${OBJ}: free\n`);
    h.put(JSON.stringify(BOB));
    expect(await h.run("lock", "status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      `environment shop: free\nlock file: ${h.lockFile}\n` +
        `lock across operators: ${OBJ}: held by rollout by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z\n` +
        "  There is no PID to check across machines: longshore cannot tell whether that operation still runs.\n" +
        "  If it is gone for good (killed, its machine lost), `longshore lock release --force` removes its lock object.\n",
    );
    expect(await h.run("lock", "status", "--json")).toBe(EXIT.ok);
    expect(JSON.parse(h.stdout.text)).toEqual({
      environment: "shop",
      lockFile: h.lockFile,
      state: "free",
      holder: null,
      lockPid: null,
      shared: { state: "held", object: OBJ, holder: BOB, etag: '"e1"' },
    });
    expect(h.state.calls).toEqual(["get locks/shop.json", "get locks/shop.json", "get locks/shop.json"]);
  });
});

describe("lock release with driver: aws", () => {
  it("a held lock object is refused without --force (exit 6, no PID to check across machines), removed with it (If-Match the ETag read)", async () => {
    const h = harness("release");
    h.put(JSON.stringify(BOB));
    expect(await h.run("lock", "release")).toBe(EXIT.rolloutFailed);
    expect(h.stderr.text).toBe(
      `error: environment shop is locked across operators by rollout by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z (${OBJ})\n` +
        "hint: There is no PID to check across machines, so longshore cannot tell whether that operation still runs. Wait for it to end; if it is gone for good (killed, its machine lost), `longshore lock release --force` removes its lock object.\n",
    );
    expect(h.state.object).not.toBeNull();
    expect(await h.run("lock", "release", "--force")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(`environment shop: removed the lock object ${OBJ} of rollout by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z (--force)\n`);
    expect(h.stderr.text).toBe("warning: if rollout by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z still runs, it was not stopped, and the next operation can run alongside it\n");
    expect(h.state.object).toBeNull();
    expect(h.state.calls).toEqual(["get locks/shop.json", "get locks/shop.json", 'delete locks/shop.json if-match "e1"']);
    // Free: the local behaviour (nothing to release).
    expect(await h.run("lock", "release")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("environment shop: the lock is free and has no record; nothing to release\n");
  });

  it("--force on an object that changed hands since it was read removes nothing (exit 6)", async () => {
    const h = harness("release-race");
    h.put(JSON.stringify(BOB));
    // Another operator's force-release and retake lands between this read and the conditional delete.
    h.state.afterRead = () => {
      h.state.afterRead = undefined;
      h.put(JSON.stringify({ ...BOB, id: "22222222-2222-2222-2222-222222222222", user: "carol" }));
    };
    expect(await h.run("lock", "release", "--force", "--json")).toBe(EXIT.rolloutFailed);
    expect(h.stderr.text.split("\n")[0]).toBe(`error: environment shop: the lock object ${OBJ} changed hands while it was being released; nothing removed`);
    expect(h.state.calls).toEqual(["get locks/shop.json", 'delete locks/shop.json if-match "e1"']);
    expect(h.state.object).toEqual({ body: expect.stringContaining('"user":"carol"'), etag: '"e2"' });
  });
});
