// Unit: `audit`, `lock status|release`, `version` and colour through the CLI program, with real files in a
// temp directory, real flock holders (core/lock.ts) and a scripted driver. Does not prove the real
// drivers' wiring, or what a real terminal shows (escape codes are asserted as bytes).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { auditTable, formatDuration } from "../../cli/audit";
import type { CliDeps } from "../../cli/deps";
import { EXIT } from "../../cli/exit-codes";
import { releaseDecision } from "../../cli/lock";
import { main } from "../../cli/main";
import { versionReport, versionText } from "../../cli/version";
import { acquireLock, inspectLock, readHolder } from "../../core/lock";
import { systemSecretReader } from "../../core/secret-reader";
import { serializeLockFile, withBundle, EMPTY_LOCK } from "../../model/lock-file";
import { auditOperations, formatAuditLine, operationsSince, type AuditEntry } from "../../rollout/audit-log";
import { fakeDriver } from "../helpers/fake-slot-driver";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-cli-audit-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const me = `${os.userInfo().username}@${os.hostname()}`;

class Buf {
  text = "";
  constructor(readonly isTTY = false) {}
  write(c: string) {
    this.text += c;
    return true;
  }
}

function harness(name: string, o: { env?: Record<string, string>; tty?: boolean } = {}) {
  const cwd = path.join(root, name);
  mkdirSync(cwd, { recursive: true });
  const stdout = new Buf(o.tty);
  const stderr = new Buf(o.tty);
  const { driver } = fakeDriver({ live: null }, (s) => [{ host: `${s}-1`, ok: true, status: 200, detail: "ok" }]);
  const deps: CliDeps = {
    connect: async () => {
      throw new Error("test: no ssh");
    },
    stdout,
    stderr,
    env: o.env ?? {},
    cwd,
    homeDir: root,
    readFile: (p) => readFile(p, "utf8"),
    secretReader: systemSecretReader({}),
    startDemoSshd: async () => {
      throw new Error("test: no demo");
    },
    environmentDriver: async () => driver,
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
  return { run, stdout, stderr, cwd, file: path.join(cwd, "longshore.yaml"), lockFile: path.join(cwd, "state", "demo.lock"), auditFile: path.join(cwd, "demo.audit.jsonl") };
}

const ENV = `name: demo
app:
  name: demo
  image: shop/web:v1
  health: { path: /healthz, intervalSeconds: 0.2, healthyRounds: 1 }
rollout: { healthDeadlineSeconds: 0.5, soakSeconds: 0, drainSeconds: 0 }
`;

const base = { who: "ops@example.com", environment: "demo" } as const;
/** A log: a rollout that succeeded, a rollback that rolled back... every outcome, and one killed mid-way. */
const LOG: AuditEntry[] = [
  { when: "2026-11-22T10:00:00.000Z", id: "a", ...base, action: "up", event: "started", image: "shop/web:v1" },
  { when: "2026-11-22T10:00:58.110Z", id: "a", ...base, action: "up", event: "finished", startedAt: "2026-11-22T10:00:00.000Z", fromImage: null, toImage: "shop/web:v1", fromSlot: null, toSlot: "blue", outcome: "succeeded", phases: { prepare: 21000 } },
  { when: "2026-11-22T11:00:00.000Z", id: "b", who: "ci", environment: "demo", action: "rollout", event: "started", image: "shop/web:v2" },
  { when: "2026-11-22T11:04:05.000Z", id: "b", who: "ci", environment: "demo", action: "rollout", event: "finished", startedAt: "2026-11-22T11:00:00.000Z", fromImage: "shop/web:v1", toImage: "shop/web:v2", fromSlot: "blue", toSlot: "green", outcome: "rolled-back", reason: "soak: 5xx", phases: {} },
  { when: "2026-11-22T12:00:00.000Z", id: "c", ...base, action: "rollout", event: "started", image: "shop/web:v3" },
  { when: "2026-11-22T13:00:00.000Z", id: "d", ...base, action: "rollback", event: "started" },
  { when: "2026-11-22T15:02:30.000Z", id: "d", ...base, action: "rollback", event: "finished", startedAt: "2026-11-22T13:00:00.000Z", fromImage: null, toImage: null, fromSlot: null, toSlot: null, outcome: "error", reason: "traffic unknown", phases: {} },
  { when: "2026-11-22T16:00:00.000Z", id: "e", ...base, action: "rollout", event: "started", image: "shop/web:v4" },
];
const logText = LOG.map(formatAuditLine).join("");

describe("audit: the operations of the log", () => {
  it("joins started and finished lines by id; an unfinished one is interrupted unless the live lock holder is it", () => {
    const free = auditOperations(LOG, null);
    expect(free.map((o) => [o.id, o.outcome, o.durationMs])).toEqual([
      ["a", "succeeded", 58110],
      ["b", "rolled-back", 245000],
      ["c", "interrupted", null],
      ["d", "error", 7350000],
      ["e", "interrupted", null],
    ]);
    // The holder took the lock just before its started line: it is the newest unfinished operation.
    const held = auditOperations(LOG, { operation: "rollout", since: "2026-11-22T15:59:59.900Z" });
    expect(held.map((o) => o.outcome)).toEqual(["succeeded", "rolled-back", "interrupted", "error", "running"]);
    // Another operation holds it (destroy writes no audit line), or it took the lock after that line was written.
    expect(auditOperations(LOG, { operation: "destroy", since: "2026-11-22T15:59:59.900Z" })[4]!.outcome).toBe("interrupted");
    expect(auditOperations(LOG, { operation: "rollout", since: "2026-11-22T16:30:00.000Z" })[4]!.outcome).toBe("interrupted");
  });

  it("a line of the older format (no event, no id) and a finished line without its started line stand alone", () => {
    const legacy = { when: "2026-01-01T00:00:00.000Z", who: "x", action: "rollout", environment: "demo", fromImage: "a:1", toImage: "a:2", fromSlot: "blue", toSlot: "green", outcome: "failed", phases: { prepare: 5 } };
    const orphan = LOG[1]!;
    const ops = auditOperations([legacy as unknown as AuditEntry, orphan], null);
    expect(ops.map((o) => [o.id, o.startedAt, o.finishedAt, o.outcome, o.durationMs])).toEqual([
      [null, "2026-01-01T00:00:00.000Z", null, "failed", null],
      ["a", "2026-11-22T10:00:00.000Z", "2026-11-22T10:00:58.110Z", "succeeded", 58110],
    ]);
  });

  it("--since keeps the operations under way at or after the time: ended then or later, started then or later, running", () => {
    const ops = auditOperations(LOG, { operation: "rollout", since: "2026-11-22T15:59:59.900Z" });
    expect(operationsSince(ops, Date.parse("2026-11-22T11:04:05.000Z")).map((o) => o.id)).toEqual(["b", "c", "d", "e"]);
    expect(operationsSince(ops, Date.parse("2026-11-22T15:00:00.000Z")).map((o) => o.id)).toEqual(["d", "e"]);
    expect(operationsSince(ops, Date.parse("2026-11-23T00:00:00.000Z")).map((o) => o.id)).toEqual(["e"]);
  });

  it("renders one row per operation: time, operator, operation, from -> to image, outcome, duration", () => {
    const ops = auditOperations(LOG, { operation: "rollout", since: "2026-11-22T15:59:59.900Z" });
    expect(auditTable(ops, Date.parse("2026-11-22T16:00:12.340Z"))).toBe(
      [
        "TIME                  OPERATOR         OPERATION  IMAGE                       OUTCOME      DURATION",
        "2026-11-22T10:00:00Z  ops@example.com  up         (none) -> shop/web:v1       succeeded    58.1 s",
        "2026-11-22T11:00:00Z  ci               rollout    shop/web:v1 -> shop/web:v2  rolled-back  4m 05s",
        "2026-11-22T12:00:00Z  ops@example.com  rollout    ? -> shop/web:v3            interrupted  -",
        "2026-11-22T13:00:00Z  ops@example.com  rollback   ? -> ?                      error        2h 03m",
        "2026-11-22T16:00:00Z  ops@example.com  rollout    ? -> shop/web:v4            running      12.3 s so far",
        "",
      ].join("\n"),
    );
    expect([0, 59_949, 59_950, 3_599_499, 3_599_500, 86_400_000].map(formatDuration)).toEqual(["0.0 s", "59.9 s", "1m 00s", "59m 59s", "1h 00m", "24h 00m"]);
  });
});

describe("longshore audit", () => {
  it("prints the log as a table; --json as one array; --since filters; running while the lock is held", async () => {
    const h = harness("audit");
    writeFileSync(h.file, ENV);
    writeFileSync(h.auditFile, logText);
    expect(await h.run("audit")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(auditTable(auditOperations(LOG, null), 0));
    expect(h.stdout.text.split("\n")[5]).toBe("2026-11-22T16:00:00Z  ops@example.com  rollout    ? -> shop/web:v4            interrupted  -");

    expect(await h.run("audit", "--json", "--since", "2026-11-22T14:00:00+01:00")).toBe(EXIT.ok);
    const json = JSON.parse(h.stdout.text) as Array<Record<string, unknown>>;
    expect(json.map((o) => o["id"])).toEqual(["d", "e"]);
    expect(json[0]).toEqual({
      id: "d",
      action: "rollback",
      environment: "demo",
      who: "ops@example.com",
      startedAt: "2026-11-22T13:00:00.000Z",
      finishedAt: "2026-11-22T15:02:30.000Z",
      durationMs: 7350000,
      fromImage: null,
      toImage: null,
      fromSlot: null,
      toSlot: null,
      outcome: "error",
      reason: "traffic unknown",
      phases: {},
    });

    // The lock held by the operation that wrote the last started line: running.
    const held = await acquireLock(h.lockFile, { what: "environment demo", operation: "rollout", now: () => new Date("2026-11-22T15:59:59.000Z") });
    try {
      expect(await h.run("audit", "--since", "1795356000")).toBe(EXIT.ok);
      expect(h.stdout.text.split("\n").slice(1, -1).map((l) => l.split(/\s{2,}/)[4])).toEqual(["error", "running"]);
    } finally {
      await held.release();
    }
    expect(await h.run("audit", "--since", "2030-01-01T00:00:00Z")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("no operations since 2030-01-01T00:00:00Z in demo.audit.jsonl\n");
  });

  it("reads what a real rollout wrote; no log is no operations", async () => {
    const h = harness("audit-real");
    writeFileSync(h.file, ENV);
    expect(await h.run("audit")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("no operations in demo.audit.jsonl\n");
    expect(await h.run("rollout")).toBe(EXIT.ok);
    expect(await h.run("audit")).toBe(EXIT.ok);
    expect(h.stdout.text).toMatch(/^TIME {18}OPERATOR {3}OPERATION {2}IMAGE {18}OUTCOME {4}DURATION\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}me@laptop {2}rollout {4}\(none\) -> shop\/web:v1 {2}succeeded {2}\d+\.\d s\n$/);
  });

  it("a bad --since is exit 2 before any file is read; a damaged log is exit 2 naming each line", async () => {
    const h = harness("audit-bad");
    expect(await h.run("audit", "--since", "yesterday")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      'error: command line is invalid (1 problem):\n  --since: must be a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400); got "yesterday"\n',
    );
    writeFileSync(h.file, ENV);
    writeFileSync(h.auditFile, `${formatAuditLine(LOG[0]!)}<<<<<<< HEAD\n${formatAuditLine(LOG[1]!)}[1]\n`);
    expect(await h.run("audit")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      "error: demo.audit.jsonl is invalid (2 problems):\n" +
        '  demo.audit.jsonl:2: is not JSON: "<<<<<<< HEAD"\n' +
        "  demo.audit.jsonl:4: is not an audit entry (an object with when and action)\n" +
        "hint: The audit log is only ever appended to: restore the lines from git (after a merge, keep both sides' lines in time order).\n",
    );
  });
});

describe("longshore lock", () => {
  it("status: free; held by whom (a real flock holder); stale (a record written by hand)", async () => {
    const h = harness("lock-status");
    writeFileSync(h.file, ENV);
    expect(await h.run("lock", "status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(`environment demo: free\nlock file: ${h.lockFile}\n`);

    const held = await acquireLock(h.lockFile, { what: "environment demo", operation: "rollout", now: () => new Date("2026-12-04T05:00:00Z") });
    try {
      expect(await h.run("lock", "status")).toBe(EXIT.ok);
      expect(h.stdout.text).toMatch(
        new RegExp(`^environment demo: held by rollout by ${me} \\(pid ${process.pid}\\) since 2026-12-04T05:00:00.000Z\nlock file: ${h.lockFile} \\(locked by the flock process \\d+\\)\n$`),
      );
      expect(await h.run("lock", "status", "--json")).toBe(EXIT.ok);
      expect(JSON.parse(h.stdout.text)).toEqual({
        environment: "demo",
        lockFile: h.lockFile,
        state: "held",
        holder: { operation: "rollout", user: os.userInfo().username, hostname: os.hostname(), pid: process.pid, since: "2026-12-04T05:00:00.000Z" },
        lockPid: expect.any(Number),
      });
    } finally {
      await held.release();
    }

    writeFileSync(h.lockFile, JSON.stringify({ operation: "rollout", user: "alice", hostname: "laptop", pid: 4242, since: "2026-12-04T05:00:00.000Z" }));
    expect(await h.run("lock", "status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      "environment demo: free, with a stale record: rollout by alice@laptop (pid 4242) since 2026-12-04T05:00:00.000Z\n" +
        "  No process holds the lock: that holder ended without removing its record (a crash, a kill). It blocks nothing;\n" +
        "  `longshore lock release` removes it.\n" +
        `lock file: ${h.lockFile}\n`,
    );
  });

  it("release: removes a stale record; with none, says so", async () => {
    const h = harness("lock-release-stale");
    writeFileSync(h.file, ENV);
    expect(await h.run("lock", "release")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("environment demo: the lock is free and has no record; nothing to release\n");
    mkdirSync(path.dirname(h.lockFile), { recursive: true });
    writeFileSync(h.lockFile, JSON.stringify({ operation: "rollout", user: "alice", hostname: "laptop", pid: 4242, since: "2026-12-04T05:00:00.000Z" }));
    expect(await h.run("lock", "release")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("environment demo: removed the stale record of rollout by alice@laptop (pid 4242) since 2026-12-04T05:00:00.000Z (no process held the lock)\n");
    expect(existsSync(h.lockFile)).toBe(false);
  });

  it("release refuses a live holder (exit 6, naming it); --force removes its file, says what that means, and a new operation can start", async () => {
    const h = harness("lock-release-live");
    writeFileSync(h.file, ENV);
    const held = await acquireLock(h.lockFile, { what: "environment demo", operation: "rollout", now: () => new Date("2026-12-04T05:00:00Z"), removeOnRelease: true });
    const who = `rollout by ${me} (pid ${process.pid}) since 2026-12-04T05:00:00.000Z`;
    try {
      expect(await h.run("lock", "release")).toBe(EXIT.rolloutFailed);
      expect(h.stderr.text).toBe(
        `error: environment demo is locked: ${who}\n` +
          `hint: Wait for it to finish. If it is hung, stop it (kill ${process.pid}): the kernel then releases its lock. \`longshore lock release --force\` removes the lock file anyway, without stopping it.\n`,
      );
      expect(readHolder(h.lockFile)?.operation).toBe("rollout");

      expect(await h.run("lock", "release", "--force")).toBe(EXIT.ok);
      expect(h.stdout.text).toBe(`environment demo: removed the lock file of ${who} (--force)\n`);
      expect(h.stderr.text).toBe(
        `warning: ${who} keeps running, and keeps its lock on the removed file: it was not stopped. The next operation locks a new file and can run alongside it. If it is hung, stop it: kill ${process.pid}\n`,
      );
      expect(inspectLock(h.lockFile).state).toBe("free");
      // A new operation starts although the old holder still has its kernel lock (on the removed file).
      expect(await h.run("rollout")).toBe(EXIT.ok);
    } finally {
      await held.release();
    }
  });

  it("releaseDecision", () => {
    const holder = { operation: "up", user: "a", hostname: "h", pid: 1, since: "s" };
    const held = { state: "held", path: "/l", holder, lockPid: 2 } as const;
    expect(releaseDecision({ state: "free", path: "/l", record: null, exists: false }, true)).toEqual({ action: "nothing" });
    expect(releaseDecision({ state: "free", path: "/l", record: null, exists: true }, false)).toEqual({ action: "remove-stale", record: null });
    expect(releaseDecision({ state: "stale", path: "/l", record: holder }, false)).toEqual({ action: "remove-stale", record: holder });
    expect(releaseDecision(held, false)).toEqual({ action: "refuse", state: held });
    expect(releaseDecision(held, true)).toEqual({ action: "force", state: held });
  });
});

describe("longshore version", () => {
  const pin = { recipe: "debian-bookworm-amd64", id: "3f2a9c1b0d4e".padEnd(64, "0"), packages: { containerd: "1.6.20~ds1-1+b1", "docker.io": "20.10.24+dfsg1-1+deb12u1+b6" } };

  it("version and --version: longshore's version and the engine bundle the lock here pins, or none", async () => {
    const h = harness("version");
    for (const argv of [["version"], ["--version"], ["-V"]]) {
      expect(await h.run(...argv)).toBe(EXIT.ok);
      expect(h.stdout.text).toBe("longshore 0.1.0\nengine bundle: none pinned (no longshore.lock)\n");
    }
    writeFileSync(path.join(h.cwd, "longshore.lock"), serializeLockFile(withBundle(withBundle(EMPTY_LOCK, "amd64", pin), "arm64", { ...pin, recipe: "debian-bookworm-arm64", packages: { containerd: "1" } })));
    expect(await h.run("--version")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      "longshore 0.1.0\n" +
        "engine bundle: amd64 debian-bookworm-amd64, bundle 3f2a9c1b0d4e, docker.io 20.10.24+dfsg1-1+deb12u1+b6 (longshore.lock)\n" +
        "engine bundle: arm64 debian-bookworm-arm64, bundle 3f2a9c1b0d4e (longshore.lock)\n",
    );
  });

  it("-f FILE reads the lock beside FILE; --json; a lock that pins no engine says so; a malformed lock is exit 2", async () => {
    const h = harness("version-f");
    mkdirSync(path.join(h.cwd, "prod"));
    writeFileSync(path.join(h.cwd, "prod", "longshore.lock"), serializeLockFile(withBundle(EMPTY_LOCK, "amd64", pin)));
    expect(await h.run("version", "-f", "prod/longshore.yaml", "--json")).toBe(EXIT.ok);
    expect(JSON.parse(h.stdout.text)).toEqual({
      version: "0.1.0",
      lockFile: "prod/longshore.lock",
      engine: [{ arch: "amd64", recipe: "debian-bookworm-amd64", id: pin.id, engine: { package: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6" } }],
    });
    expect(versionText(versionReport("1.2.3", { file: "/x/longshore.lock", name: "longshore.lock", lock: EMPTY_LOCK, exists: true }))).toBe(
      "longshore 1.2.3\nengine bundle: none pinned in longshore.lock\n",
    );
    writeFileSync(path.join(h.cwd, "longshore.lock"), "version: 7\n");
    expect(await h.run("version")).toBe(EXIT.badInput);
    expect(h.stdout.text).toBe("longshore 0.1.0\n");
    expect(h.stderr.text.split("\n")[0]).toBe("error: longshore.lock is invalid (1 problem):");
  });
});

describe("colour", () => {
  const RED_ERROR = "\x1b[1;31merror:\x1b[0m";
  const check = async (env: Record<string, string>, tty: boolean, ...flags: string[]) => {
    const h = harness(`color-${Object.keys(env).join("-")}-${tty}-${flags.join("")}`, { env, tty });
    expect(await h.run(...flags, "check")).toBe(EXIT.badInput);
    const usage = await h.run("check", "--bogus", ...flags);
    expect(usage).toBe(EXIT.badInput);
    return h.stderr.text;
  };

  it("errors are red on a terminal (ours and commander's usage errors)", async () => {
    const h = harness("color-on", { tty: true });
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text.startsWith(`${RED_ERROR} longshore.yaml is invalid (1 problem):\n`)).toBe(true);
    expect(await h.run("check", "--bogus")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(`${RED_ERROR} unknown option '--bogus'\n(run with --help for usage)\n`);
  });

  it.each([
    ["NO_COLOR=1", { NO_COLOR: "1" }, true, []],
    ["NO_COLOR=0 (any non-empty value)", { NO_COLOR: "0" }, true, []],
    ["TERM=dumb", { TERM: "dumb" }, true, []],
    ["--no-color before the verb", {}, true, ["--no-color"]],
    ["not a terminal", {}, false, []],
  ])("no escape codes with %s", async (_name, env, tty, flags) => {
    const text = await check(env, tty, ...flags);
    expect(text).not.toContain("\x1b");
    expect(text).toContain("error: unknown option '--bogus'\n");
  });

  it("--no-color counts after the verb too, but not after --; an empty NO_COLOR does not count", async () => {
    const h = harness("color-after", { tty: true });
    expect(await h.run("check", "--no-color")).toBe(EXIT.badInput);
    expect(h.stderr.text).not.toContain("\x1b");
    const empty = harness("color-empty", { tty: true, env: { NO_COLOR: "" } });
    expect(await empty.run("check")).toBe(EXIT.badInput);
    expect(empty.stderr.text.startsWith(RED_ERROR)).toBe(true);
  });
});
