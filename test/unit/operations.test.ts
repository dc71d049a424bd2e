// Unit: the environment operations (lock, desired state, audit) over a scripted driver. Does not
// prove anything about real machines (the e2e rollout test does).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { demoEnvironmentText, parseEnvironment } from "../../config/environment-file";
import { environmentFiles, planUp, runRollout, runUp } from "../../rollout/operations";
import { readAudit } from "../../rollout/audit-log";
import { acquireLock } from "../../rollout/lock";
import { fakeClock, fakeDriver } from "../helpers/fake-slot-driver";
import type { Environment } from "../../config/environment";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-ops-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function fixture(name: string) {
  const dir = path.join(root, name);
  const envFile = path.join(dir, "longshore.yaml");
  const text = demoEnvironmentText("longshore-demo:v1");
  mkdirSync(dir, { recursive: true });
  writeFileSync(envFile, text);
  const r = parseEnvironment(text);
  if (!r.ok) throw new Error("demo env does not parse");
  return { env: r.value, envText: text, files: environmentFiles(envFile, path.join(dir, "state"), "demo") };
}
const healthy = (s: string) => [{ host: `${s}-1`, ok: true, status: 200, detail: "ok" }];

describe("planUp", () => {
  const env = (live: "blue" | "green" | null, blue: string | null): Environment =>
    ({ ...fixture("plan").env, live, slots: { blue: { image: blue, size: 2 }, green: { image: null, size: 2 } } }) as Environment;
  it("brings up the first version of an empty environment", () => {
    expect(planUp(env(null, "a:v1"), { live: null, images: { blue: null, green: null } })).toEqual({
      action: "rollout",
      image: "a:v1",
      size: 2,
      reason: "nothing is running: bringing up a:v1",
    });
  });
  it("does nothing when the live slot runs the desired image", () => {
    expect(planUp(env("blue", "a:v1"), { live: "blue", images: { blue: "a:v1", green: null } }).action).toBe("none");
  });
  it("refuses to change a running version: that is a rollout", () => {
    expect(planUp(env("blue", "a:v2"), { live: "blue", images: { blue: "a:v1", green: null } })).toEqual({
      action: "refuse",
      reason: "blue runs a:v1 but the file wants a:v2: use `longshore rollout a:v2`",
    });
  });
});

describe("operations", () => {
  it("up then rollout: records the desired state and one audit line each", async () => {
    const f = fixture("ok");
    const { driver } = fakeDriver({ live: null }, (s) => healthy(s));
    const up = await runUp({ ...f, driver, clock: fakeClock(), policy: { healthyRounds: 1 } });
    expect(up.report?.outcome).toBe("succeeded");
    const afterUp = parseEnvironment(readFileSync(f.files.envFile, "utf8"));
    expect(afterUp.ok && afterUp.value.live).toBe("blue");

    const text = readFileSync(f.files.envFile, "utf8");
    const env = (parseEnvironment(text) as { ok: true; value: Environment }).value;
    const report = await runRollout({ ...f, env, envText: text, driver, image: "longshore-demo:v2", clock: fakeClock(), policy: { healthyRounds: 1, soakMs: 0 } });
    expect(report.outcome).toBe("succeeded");
    const after = parseEnvironment(readFileSync(f.files.envFile, "utf8"));
    expect(after.ok && [after.value.live, after.value.slots.green.image, after.value.slots.blue.image]).toEqual([
      "green",
      "longshore-demo:v2",
      "longshore-demo:v1",
    ]);
    const audit = await readAudit(f.files.auditFile);
    expect(audit.map((a) => [a.action, a.fromImage, a.toImage, a.outcome])).toEqual([
      ["up", null, "longshore-demo:v1", "succeeded"],
      ["rollout", "longshore-demo:v1", "longshore-demo:v2", "succeeded"],
    ]);
    expect(Object.keys(audit[1]!.phases)).toEqual(["prepare", "health-gate", "switch", "soak"]);
  });

  it("a failed rollout leaves the environment file as it was and audits the reason", async () => {
    const f = fixture("fail");
    const { driver } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) =>
      s === "green" ? [{ host: "green-1", ok: false, status: 500, detail: "broken" }] : healthy(s),
    );
    const report = await runRollout({ ...f, driver, image: "longshore-demo:broken", clock: fakeClock(), policy: { healthDeadlineMs: 0 } });
    expect(report.outcome).toBe("failed");
    expect(readFileSync(f.files.envFile, "utf8")).toBe(f.envText);
    const [entry] = await readAudit(f.files.auditFile);
    expect(entry?.outcome).toBe("failed");
    expect(entry?.reason).toBe('the green slot did not become healthy within 0 ms: green-1: status 500: "broken"');
  });

  it("a concurrent rollout is refused by the lock and changes nothing", async () => {
    const f = fixture("locked");
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1" }, (s) => healthy(s));
    const held = await acquireLock(f.files.lockFile, { operation: "rollout" });
    try {
      await expect(runRollout({ ...f, driver, image: "longshore-demo:v2", clock: fakeClock() })).rejects.toThrow(/^the environment is locked: rollout by /);
      expect(calls).toEqual([]);
      expect(await readAudit(f.files.auditFile)).toEqual([]);
    } finally {
      await held.release();
    }
  });
});
