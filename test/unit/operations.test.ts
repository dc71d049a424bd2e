// Unit: the environment operations (lock, desired state written back from the driver's status,
// audit) over a scripted driver and a real lock. Does not prove anything about real machines (the
// e2e rollout test does).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LockHeldError } from "../../core/errors";
import { acquireLock } from "../../core/lock";
import { demoEnvironmentText, parseEnvironment, updateEnvironmentText, type DesiredStateChange } from "../../model/environment-file";
import type { Environment } from "../../model/environment";
import { environmentFiles, planUp, policyOf, runRollback, runRollout, runUp } from "../../rollout/operations";
import { isFinished, readAudit, type AuditEntry } from "../../rollout/audit-log";
import type { SlotName } from "../../rollout/driver";
import { fakeClock, fakeDriver } from "../helpers/fake-slot-driver";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-ops-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function parsed(text: string): Environment {
  const r = parseEnvironment(text);
  if (!r.ok) throw new Error(`does not parse: ${JSON.stringify(r.issues)}`);
  return r.value;
}

/** The demo environment in its own directory, with the desired state `change` already recorded. */
function fixture(name: string, change: DesiredStateChange = {}, edit: (text: string) => string = (t) => t) {
  const dir = path.join(root, name);
  const envFile = path.join(dir, "longshore.yaml");
  const text = updateEnvironmentText(edit(demoEnvironmentText("longshore-demo:v1")), change);
  mkdirSync(dir, { recursive: true });
  writeFileSync(envFile, text);
  return { env: parsed(text), envText: text, files: environmentFiles(envFile, path.join(dir, "state"), "demo"), actor: "ops@example.com" };
}
function fileState(f: { files: { envFile: string } }) {
  const env = parsed(readFileSync(f.files.envFile, "utf8"));
  return { live: env.live, blue: env.slots.blue.image, green: env.slots.green.image, app: env.app.image };
}
const healthy = (s: string) => [{ host: `${s}-1`, ok: true, status: 200, detail: "ok" }];
const fast = { healthyRounds: 1, soakMs: 0 };

describe("environmentFiles and policyOf", () => {
  it("keeps the lock with the machine's state and the audit log beside the environment file", () => {
    expect(environmentFiles("/srv/shop/longshore.yaml", "/var/lib/longshore", "shop")).toEqual({
      envFile: "/srv/shop/longshore.yaml",
      lockFile: "/var/lib/longshore/shop.lock",
      auditFile: "/srv/shop/shop.audit.jsonl",
    });
  });

  it("reads rollout: and the app's health check", () => {
    const env = parsed(
      demoEnvironmentText("a:v1")
        .replace("    path: /healthz", "    path: /healthz\n    intervalSeconds: 0.5\n    healthyRounds: 4")
        .replace("keepPrevious: true", "keepPrevious: false"),
    );
    expect(policyOf(env)).toEqual({ healthDeadlineMs: 120_000, soakMs: 10_000, drainMs: 2_000, keepPrevious: false, healthyRounds: 4, probeIntervalMs: 500 });
  });
});

describe("planUp", () => {
  const env = (live: SlotName | null, blue: string | null, app = "a:v1"): Environment => {
    const base = fixture("plan").env;
    return { ...base, live, app: { ...base.app, image: app }, slots: { blue: { image: blue, size: 3 }, green: { image: null, size: 2 } } };
  };
  const running = (live: SlotName | null, blue: string | null) => ({ live, images: { blue, green: null } });

  it("with nothing running brings up app.image, whatever the slots last ran, at the live slot's size", () => {
    expect(planUp(env(null, null), running(null, null))).toEqual({ action: "rollout", image: "a:v1", size: 3, reason: "nothing is running: bringing up a:v1" });
    expect(planUp(env("blue", "a:v0", "a:v2"), running(null, null))).toEqual({ action: "rollout", image: "a:v2", size: 3, reason: "nothing is running: bringing up a:v2" });
  });

  it("does nothing when the live slot runs app.image", () => {
    expect(planUp(env("blue", "a:v1"), running("blue", "a:v1"))).toEqual({ action: "none", reason: "blue is live and runs a:v1: nothing to do" });
  });

  it("does nothing but says so when app.image differs from what is live", () => {
    expect(planUp(env("blue", "a:v1", "a:v2"), running("blue", "a:v1"))).toEqual({
      action: "none",
      reason: "blue is live and runs a:v1; app.image is a:v2: deploy it with `longshore rollout`",
    });
  });

  it("refuses to change a running version or the live slot: that is a rollout or a rollback", () => {
    expect(planUp(env("blue", "a:v2"), running("blue", "a:v1"))).toEqual({
      action: "refuse",
      reason: "blue runs a:v1 but the file wants a:v2: use `longshore rollout a:v2`",
    });
    expect(planUp(env("green", null), { live: "blue", images: { blue: "a:v1", green: "a:v0" } })).toEqual({
      action: "refuse",
      reason: "the file says green is live but blue is: use `longshore rollback` or `longshore rollout`",
    });
  });
});

describe("operations", () => {
  it("up then rollout: records the desired state from the driver and one audit line each", async () => {
    const f = fixture("ok");
    const { driver } = fakeDriver({ live: null }, (s) => healthy(s));
    const up = await runUp({ ...f, driver, clock: fakeClock(), policy: { healthyRounds: 1 } });
    expect(up.plan).toEqual({ action: "rollout", image: "longshore-demo:v1", size: 2, reason: "nothing is running: bringing up longshore-demo:v1" });
    expect(up.report?.outcome).toBe("succeeded");
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null, app: "longshore-demo:v1" });

    const text = readFileSync(f.files.envFile, "utf8");
    const report = await runRollout({ ...f, env: parsed(text), envText: text, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    expect(report.outcome).toBe("succeeded");
    expect(fileState(f)).toEqual({ live: "green", blue: "longshore-demo:v1", green: "longshore-demo:v2", app: "longshore-demo:v1" });
    const audit = (await readAudit(f.files.auditFile)).filter(isFinished);
    expect(audit.map((a) => [a.action, a.fromImage, a.toImage, a.fromSlot, a.toSlot, a.outcome])).toEqual([
      ["up", null, "longshore-demo:v1", null, "blue", "succeeded"],
      ["rollout", "longshore-demo:v1", "longshore-demo:v2", "blue", "green", "succeeded"],
    ]);
    expect(Object.keys(audit[1]!.phases)).toEqual(["prepare", "health-gate", "switch", "soak"]);
  });

  it("the audit log names the actor given, on both lines of each operation", async () => {
    const f = fixture("actor", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    await runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast, actor: "ci-job-42" });
    await runRollback({ ...f, driver, clock: fakeClock(), policy: fast });
    expect((await readAudit(f.files.auditFile)).map((a) => [a.event, a.who])).toEqual([
      ["started", "ci-job-42"],
      ["finished", "ci-job-42"],
      ["started", "ops@example.com"],
      ["finished", "ops@example.com"],
    ]);
  });

  it("appends a started line before anything changes and a finished line stamped at the end, in time order", async () => {
    const f = fixture("started", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    // What the log holds while the operation runs: an operation killed here must have left a line.
    let during: AuditEntry[] = [];
    const prepare = driver.prepareSlot.bind(driver);
    driver.prepareSlot = async (...args) => {
      during = await readAudit(f.files.auditFile);
      await new Promise((r) => setTimeout(r, 20));
      return prepare(...args);
    };
    const before = new Date().toISOString();
    await runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    const after = new Date().toISOString();
    expect(during.map((e) => [e.event, e.action, e.who, e.environment, "image" in e ? e.image : undefined])).toEqual([
      ["started", "rollout", "ops@example.com", "demo", "longshore-demo:v2"],
    ]);
    const [started, finished, ...rest] = await readAudit(f.files.auditFile);
    expect(rest).toEqual([]);
    expect(started).toEqual(during[0]);
    if (!finished || !isFinished(finished)) throw new Error(`no finished line: ${JSON.stringify(finished)}`);
    expect([finished.id, finished.startedAt, finished.outcome, finished.toImage]).toEqual([started!.id, started!.when, "succeeded", "longshore-demo:v2"]);
    expect(started!.id).toMatch(/^[0-9a-f-]{36}$/);
    // Each line is stamped when it is written: the start before the end, both within the call.
    expect([before <= started!.when, started!.when < finished.when, finished.when <= after]).toEqual([true, true, true]);
  });

  it("an operation that throws still leaves its started line and a finished line with outcome error and the message", async () => {
    const f = fixture("throws-audit", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver, failOn } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    failOn.add("switch green");
    failOn.add("switch blue");
    const message = "the rollout failed (lb refused green) and putting traffic back also failed (lb refused blue): check the load balancer now";
    await expect(runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast })).rejects.toThrow(message);
    const lines = await readAudit(f.files.auditFile);
    expect(lines.map((e) => [e.event, e.action])).toEqual([
      ["started", "rollout"],
      ["finished", "rollout"],
    ]);
    const { when, id, startedAt, ...rest } = lines[1] as Extract<AuditEntry, { event: "finished" }>;
    expect([id, startedAt]).toEqual([lines[0]!.id, lines[0]!.when]);
    expect(when >= startedAt).toBe(true);
    expect(rest).toEqual({
      who: "ops@example.com",
      action: "rollout",
      environment: "demo",
      event: "finished",
      fromImage: null,
      toImage: "longshore-demo:v2",
      fromSlot: null,
      toSlot: null,
      outcome: "error",
      reason: message,
      phases: {},
    });
  });

  it("up with the environment already up to date changes nothing and audits nothing", async () => {
    const f = fixture("uptodate", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    const up = await runUp({ ...f, driver, clock: fakeClock() });
    expect(up).toEqual({ plan: { action: "none", reason: "blue is live and runs longshore-demo:v1: nothing to do" } });
    expect(calls).toEqual([]);
    expect(readFileSync(f.files.envFile, "utf8")).toBe(f.envText);
    expect(await readAudit(f.files.auditFile)).toEqual([]);
  });

  it("after a failed rollout the slot keeps its previous version (the rollback target) in the file too; live is unchanged; the reason is audited", async () => {
    // green holds v0 (kept for rollback); the broken rollout prepares beside it and is discarded.
    const f = fixture("fail", { live: "blue", images: { blue: "longshore-demo:v1", green: "longshore-demo:v0" } });
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v0" }, (s) =>
      s === "green" ? [{ host: "green-1", ok: false, status: 500, detail: "broken" }] : healthy(s),
    );
    const report = await runRollout({ ...f, driver, image: "longshore-demo:broken", clock: fakeClock(), policy: { healthDeadlineMs: 0 } });
    expect(report.outcome).toBe("failed");
    expect(calls.filter((c) => !c.startsWith("probe"))).toEqual(["prepare green longshore-demo:broken x2", "discard green"]);
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v0", app: "longshore-demo:v1" });
    const [entry] = (await readAudit(f.files.auditFile)).filter(isFinished);
    expect([entry?.action, entry?.outcome, entry?.reason]).toEqual([
      "rollout",
      "failed",
      'the green slot did not become healthy within 0 ms: green-1: status 500: "broken"',
    ]);
  });

  it("rollout.beforeSwitch reaches the engine in milliseconds, and the hook that ran is audited with the outcome", async () => {
    const withHook = (t: string) => t.replace("  keepPrevious: true", "  keepPrevious: true\n  beforeSwitch: { command: [bin/migrate, up], timeoutSeconds: 90 }");
    expect(policyOf(parsed(withHook(demoEnvironmentText("a:v1")))).beforeSwitch).toEqual({ command: ["bin/migrate", "up"], timeoutMs: 90_000 });
    const f = fixture("hook", { live: "blue", images: { blue: "longshore-demo:v1" } }, withHook);
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s), (slot, spec) => ({
      host: `${slot}-1`,
      exitCode: spec.timeoutMs === 90_000 ? 4 : 0,
      durationMs: 2_345,
      outputTail: ["ERROR: lock timeout"],
    }));
    const report = await runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    expect(report.outcome).toBe("failed");
    expect(calls.filter((c) => !c.startsWith("probe"))).toEqual(["prepare green longshore-demo:v2 x2", "hook green bin/migrate up", "discard green"]);
    const [entry] = (await readAudit(f.files.auditFile)).filter(isFinished);
    expect(entry).toMatchObject({
      outcome: "failed",
      reason: "the before-switch hook `bin/migrate up` on green-1 exited 4; last output: ERROR: lock timeout",
      hook: { command: ["bin/migrate", "up"], host: "green-1", exitCode: 4, durationMs: 2_345, outputTail: ["ERROR: lock timeout"] },
    });
    expect(Object.keys(entry!.phases)).toEqual(["prepare", "health-gate", "before-switch"]);
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null, app: "longshore-demo:v1" });
  });

  it("a rollout that throws (traffic left unknown) still records what the driver says runs", async () => {
    const f = fixture("throws", { live: "blue", images: { blue: "longshore-demo:v1", green: "longshore-demo:v0" } });
    const { driver, failOn } = fakeDriver({ live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v0" }, (s) => healthy(s));
    failOn.add("switch green");
    failOn.add("switch blue");
    await expect(runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast })).rejects.toThrow(
      "the rollout failed (lb refused green) and putting traffic back also failed (lb refused blue): check the load balancer now",
    );
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null, app: "longshore-demo:v1" });
  });

  it("after a rollout with keepPrevious false the retired slot's image is null", async () => {
    const f = fixture("retire", { live: "blue", images: { blue: "longshore-demo:v1" } }, (t) => t.replace("keepPrevious: true", "keepPrevious: false"));
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    const report = await runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    expect(report.outcome).toBe("succeeded");
    expect(calls.at(-1)).toBe("retire blue");
    expect(fileState(f)).toEqual({ live: "green", blue: null, green: "longshore-demo:v2", app: "longshore-demo:v1" });
  });

  it("a rollout's new slot takes the size the file gives the idle slot, or --size", async () => {
    const f = fixture("size", { live: "blue", images: { blue: "longshore-demo:v1" }, sizes: { green: 3 } });
    const a = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    await runRollout({ ...f, driver: a.driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    const b = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    await runRollout({ ...f, driver: b.driver, image: "longshore-demo:v2", size: 5, clock: fakeClock(), policy: fast });
    expect([a.calls[0], b.calls[0]]).toEqual(["prepare green longshore-demo:v2 x3", "prepare green longshore-demo:v2 x5"]);
  });

  it("rollback records the previous slot as live again, keeping both images", async () => {
    const f = fixture("rollback", { live: "green", images: { blue: "longshore-demo:v1", green: "longshore-demo:v2" } });
    const { driver } = fakeDriver({ live: "green", blue: "longshore-demo:v1", green: "longshore-demo:v2" }, (s) => healthy(s));
    const report = await runRollback({ ...f, driver, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v2", app: "longshore-demo:v1" });
    expect((await readAudit(f.files.auditFile)).filter(isFinished).map((a) => [a.action, a.fromSlot, a.toSlot, a.outcome])).toEqual([["rollback", "green", "blue", "succeeded"]]);
  });

  it("keeps what was edited in the file during the operation, and its comments", async () => {
    const f = fixture("edited");
    const { driver } = fakeDriver({ live: null }, (s) => healthy(s));
    const prepare = driver.prepareSlot.bind(driver);
    driver.prepareSlot = async (...args) => {
      writeFileSync(f.files.envFile, readFileSync(f.files.envFile, "utf8").replace("image: longshore-demo:v1 ", "image: longshore-demo:v3 "));
      return prepare(...args);
    };
    await runUp({ ...f, driver, clock: fakeClock(), policy: fast });
    const text = readFileSync(f.files.envFile, "utf8");
    expect(fileState(f)).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null, app: "longshore-demo:v3" });
    expect(text).toMatch(/\nlive: blue +# set by longshore after the first successful rollout\n/);
  });

  it("a second operation while one holds the lock is a LockHeldError naming the holder, and changes nothing", async () => {
    const f = fixture("locked", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    const held = await acquireLock(f.files.lockFile, { what: "environment demo", operation: "rollout", now: () => new Date("2026-12-04T05:00:00Z") });
    try {
      const who = `rollout by ${os.userInfo().username}@${os.hostname()} (pid ${process.pid}) since 2026-12-04T05:00:00.000Z`;
      for (const op of [
        () => runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock() }),
        () => runRollback({ ...f, driver, clock: fakeClock() }),
      ]) {
        const err = await op().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LockHeldError);
        expect((err as LockHeldError).message).toBe(`environment demo is locked: ${who}`);
      }
      expect(calls).toEqual([]);
      expect(await readAudit(f.files.auditFile)).toEqual([]);
      expect(readFileSync(f.files.envFile, "utf8")).toBe(f.envText);
    } finally {
      await held.release();
    }
    // Released: the next operation runs.
    expect((await runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast })).outcome).toBe("succeeded");
  });

  it("up plans under the lock: while another operation holds it, up is refused before reading what runs", async () => {
    const f = fixture("up-locked");
    const { driver, calls } = fakeDriver({ live: null }, (s) => healthy(s));
    let statusCalls = 0;
    const status = driver.status.bind(driver);
    driver.status = async () => {
      statusCalls++;
      return status();
    };
    const held = await acquireLock(f.files.lockFile, { what: "environment demo", operation: "rollout" });
    try {
      await expect(runUp({ ...f, driver, clock: fakeClock(), policy: fast })).rejects.toBeInstanceOf(LockHeldError);
    } finally {
      await held.release();
    }
    expect([statusCalls, calls]).toEqual([0, []]);
  });

  it("one operation at a time: two at once, the second is refused while the first runs", async () => {
    const f = fixture("concurrent", { live: "blue", images: { blue: "longshore-demo:v1" } });
    const { driver } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const prepare = driver.prepareSlot.bind(driver);
    driver.prepareSlot = async (...args) => {
      await gate;
      return prepare(...args);
    };
    const first = runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: fast });
    // Wait until the first holds the lock (its holder is in the file).
    for (let i = 0; i < 200 && !readFileSync(f.files.lockFile, { encoding: "utf8", flag: "a+" }).includes('"operation":"rollout"'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = await runRollback({ ...f, driver, clock: fakeClock() }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(LockHeldError);
    expect((second as LockHeldError).message).toMatch(/^environment demo is locked: rollout by .+ \(pid \d+\) since /);
    release();
    expect((await first).outcome).toBe("succeeded");
  });
});
