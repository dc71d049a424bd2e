// Unit: the rollout engine's decisions against a scripted driver. Does not prove that a real load
// balancer drops no request (the e2e rollout test does).
import { ConfigError, RegistryError } from "../../core/errors";
import { describe, expect, it } from "vitest";
import { rollout, rollback, type RolloutEvent } from "../../rollout/rollout";
import type { ProbeResult, SlotName } from "../../rollout/driver";
import { fakeClock, fakeDriver } from "../helpers/fake-slot-driver";

const healthy = (slot: SlotName): ProbeResult[] => [
  { host: `${slot}-1`, ok: true, status: 200, detail: "ok" },
  { host: `${slot}-2`, ok: true, status: 200, detail: "ok" },
];
const broken = (slot: SlotName): ProbeResult[] => [
  { host: `${slot}-1`, ok: false, status: 500, detail: "unhealthy: broken build" },
  { host: `${slot}-2`, ok: true, status: 200, detail: "ok" },
];
const policy = { healthDeadlineMs: 5_000, healthyRounds: 2, probeIntervalMs: 1_000, drainMs: 2_000, soakMs: 3_000, soakFailureRounds: 2 };

describe("rollout", () => {
  it("v1 -> v2: prepares the idle slot, gates, switches, soaks, keeps the old slot by default", async () => {
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(calls).toEqual([
      "prepare green app:v2 x2",
      "probe green",
      "probe green",
      "commit green",
      "switch green drain=2000",
      "probe green",
      "probe green",
      "probe green",
      "probe green",
    ]);
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "switch", "soak"]);
    expect(report.phases.find((p) => p.name === "soak")?.ms).toBe(3_000);
    expect(state.live).toBe("green");
    expect(state.slots.blue.image).toBe("app:v1");
    expect({ from: report.fromImage, to: report.toImage, fromSlot: report.fromSlot, toSlot: report.toSlot }).toEqual({
      from: "app:v1",
      to: "app:v2",
      fromSlot: "blue",
      toSlot: "green",
    });
  });

  it("retires the old slot when keepPrevious is false", async () => {
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, keepPrevious: false }, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(calls.at(-1)).toBe("retire blue");
    expect(state.slots.blue.hosts).toEqual([]);
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "switch", "soak", "retire"]);
  });

  it("a broken image never receives traffic, its hosts are removed and the report names the probe", async () => {
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? broken(s) : healthy(s)));
    const report = await rollout({ driver, image: "app:broken", policy, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(calls.some((c) => c.startsWith("switch") || c.startsWith("commit"))).toBe(false);
    expect(calls.at(-1)).toBe("discard green");
    expect(state.live).toBe("blue");
    expect(report.reason).toBe(
      'the green slot did not become healthy within 5000 ms: green-1: status 500: "unhealthy: broken build"',
    );
    expect(report.failedProbes).toEqual([{ host: "green-1", ok: false, status: 500, detail: "unhealthy: broken build" }]);
  });

  it("needs consecutive healthy rounds: a flapping host fails the gate", async () => {
    const { driver, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s, r) => (s === "green" && r % 2 === 1 ? broken(s) : healthy(s)));
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(state.live).toBe("blue");
  });

  it("a host failing during the soak puts traffic back on the old slot automatically", async () => {
    // green healthy for the gate (2 rounds) and the first soak round, then one host dies.
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s, r) =>
      s === "green" && r >= 3 ? [{ host: "green-2", ok: false, status: null, detail: "connect ECONNREFUSED" }] : healthy(s),
    );
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.outcome).toBe("rolled-back");
    expect(state.live).toBe("blue");
    expect(calls.filter((c) => c.startsWith("switch"))).toEqual(["switch green drain=2000", "switch blue drain=2000"]);
    expect(calls.at(-1)).toBe("retire green");
    expect(report.reason).toBe('the green slot failed during the soak: green-2: no response: "connect ECONNREFUSED"');
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "switch", "soak", "rollback"]);
  });

  it("one failed soak round below the threshold does not roll back", async () => {
    const { driver, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s, r) => (s === "green" && r === 3 ? broken(s) : healthy(s)));
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(state.live).toBe("green");
  });

  it("bad input found while preparing (a refused password, a file the environment names) is thrown as itself, not a failed rollout", async () => {
    for (const error of [
      new RegistryError("auth", "reg:5000", "registry reg:5000 refused the credentials of user ci (401): check registry.password"),
      new ConfigError("longshore.yaml", [{ path: "app.imageFrom", message: "./app.tar does not exist" }]),
    ]) {
      const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
      driver.prepareSlot = async () => {
        calls.push("prepare");
        throw error;
      };
      await expect(rollout({ driver, image: "app:v2", policy, clock: fakeClock() })).rejects.toBe(error);
      expect(calls).toEqual(["prepare"]);
      expect(state.live).toBe("blue");
    }
    // An unreachable registry is not the user's input: a failed rollout, as before.
    const { driver } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    driver.prepareSlot = async () => {
      throw new RegistryError("unreachable", "reg:5000", "cannot reach registry reg:5000");
    };
    expect(await rollout({ driver, image: "app:v2", policy, clock: fakeClock() })).toMatchObject({ outcome: "failed", reason: "preparing the green slot failed: cannot reach registry reg:5000" });
  });

  it("a failed prepare touches no traffic", async () => {
    const { driver, calls, failOn, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    failOn.add("prepare");
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report).toMatchObject({ outcome: "failed", reason: "preparing the green slot failed: no capacity" });
    expect(calls).toEqual(["prepare green app:v2 x2"]);
    expect(state.live).toBe("blue");
  });

  it("a failed switch goes back to the old slot and removes the new hosts", async () => {
    const { driver, calls, failOn, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    failOn.add("switch green");
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(calls.slice(-2)).toEqual(["switch blue drain=2000", "retire green"]);
    expect(state.live).toBe("blue");
  });

  it("throws when traffic cannot be put back, saying so", async () => {
    const { driver, failOn } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    failOn.add("switch green");
    failOn.add("switch blue");
    await expect(rollout({ driver, image: "app:v2", policy, clock: fakeClock() })).rejects.toThrow(
      "the rollout failed (lb refused green) and putting traffic back also failed (lb refused blue): check the load balancer now",
    );
  });

  it("the first rollout of an empty environment goes to blue with the requested size", async () => {
    const { driver, calls, state } = fakeDriver({ live: null }, (s) => healthy(s));
    const report = await rollout({ driver, image: "app:v1", size: 2, policy, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(calls[0]).toBe("prepare blue app:v1 x2");
    expect(state.live).toBe("blue");
    expect(report.fromSlot).toBeNull();
  });
});

describe("rollout events and edge cases", () => {
  it("says each gate round, and a phase whose gate failed is not done", async () => {
    const events: RolloutEvent[] = [];
    const { driver } = fakeDriver({ live: "blue", blue: "app:v1" }, (s, r) => (s === "green" && r === 0 ? broken(s) : healthy(s)));
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, healthyRounds: 2, soakMs: 0 }, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(report.outcome).toBe("succeeded");
    expect(events).toEqual([
      { type: "phase-start", phase: "prepare" },
      { type: "phase-done", phase: "prepare", ms: 0, ok: true },
      { type: "phase-start", phase: "health-gate" },
      { type: "message", message: 'gate round 1: 1/2 healthy (green-1: status 500: "unhealthy: broken build")' },
      { type: "message", message: "gate round 2: 2/2 healthy, 1/2 in a row" },
      { type: "message", message: "gate round 3: 2/2 healthy, 2/2 in a row" },
      { type: "phase-done", phase: "health-gate", ms: 2_000, ok: true },
      { type: "phase-start", phase: "switch" },
      { type: "phase-done", phase: "switch", ms: 0, ok: true },
      { type: "phase-start", phase: "soak" },
      { type: "phase-done", phase: "soak", ms: 0, ok: true },
    ]);

    const failed: RolloutEvent[] = [];
    const bad = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? broken(s) : healthy(s)));
    await rollout({ driver: bad.driver, image: "app:broken", policy: { ...policy, healthDeadlineMs: 1_000 }, clock: fakeClock(), onEvent: (e) => failed.push(e) });
    expect(failed.filter((e) => e.type !== "message")).toEqual([
      { type: "phase-start", phase: "prepare" },
      { type: "phase-done", phase: "prepare", ms: 0, ok: true },
      { type: "phase-start", phase: "health-gate" },
      { type: "phase-done", phase: "health-gate", ms: 1_000, ok: false },
    ]);
  });

  it("takes app.health's rounds: three healthy rounds in a row when healthyRounds is 3", async () => {
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    await rollout({ driver, image: "app:v2", policy: { ...policy, healthyRounds: 3, soakMs: 0 }, clock: fakeClock() });
    expect(calls.slice(0, 6)).toEqual(["prepare green app:v2 x2", "probe green", "probe green", "probe green", "commit green", "switch green drain=2000"]);
  });

  it("a slot with no hosts never passes the gate", async () => {
    const { driver } = fakeDriver({ live: "blue", blue: "app:v1" }, () => []);
    const report = await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report).toMatchObject({ outcome: "failed", reason: "the green slot did not become healthy within 5000 ms: no hosts to probe" });
  });

  it("the new slot gets as many hosts as the live one by default", async () => {
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1", size: 3 }, (s) => healthy(s));
    await rollout({ driver, image: "app:v2", policy, clock: fakeClock() });
    expect(calls[0]).toBe("prepare green app:v2 x3");
  });

  it("a first rollout that fails its soak stays live (there is nothing to go back to) and is not removed", async () => {
    const events: RolloutEvent[] = [];
    const { driver, calls, state } = fakeDriver({ live: null }, (s, r) => (r >= 2 ? broken(s) : healthy(s)));
    const report = await rollout({ driver, image: "app:v1", size: 2, policy, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(report).toMatchObject({
      outcome: "failed",
      fromSlot: null,
      toSlot: "blue",
      reason: 'the blue slot failed during the soak: blue-1: status 500: "unhealthy: broken build"; nothing ran before it, so it stays live',
      failedProbes: [{ host: "blue-1", ok: false, status: 500, detail: "unhealthy: broken build" }],
      warnings: [],
    });
    expect(calls.filter((c) => !c.startsWith("probe"))).toEqual(["prepare blue app:v1 x2", "commit blue", "switch blue drain=2000"]);
    expect([state.live, state.slots.blue.image]).toEqual(["blue", "app:v1"]);
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "switch", "soak"]);
    expect(events.find((e) => e.type === "phase-done" && e.phase === "soak")).toEqual({ type: "phase-done", phase: "soak", ms: 1_000, ok: false });
  });

  it("a failure to retire the old slot is a warning, not a failed rollout", async () => {
    const { driver } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    driver.retireSlot = async () => {
      throw new Error("machinectl busy");
    };
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, keepPrevious: false }, clock: fakeClock() });
    expect([report.outcome, report.warnings]).toEqual(["succeeded", ["retiring the old blue hosts failed (traffic is on green): machinectl busy"]]);
  });

  it("a failure to remove the new hosts after a failed gate keeps the first reason and adds a warning", async () => {
    const { driver } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? broken(s) : healthy(s)));
    driver.discardPrepared = async () => {
      throw new Error("machinectl busy");
    };
    const report = await rollout({ driver, image: "app:broken", policy: { ...policy, healthDeadlineMs: 0 }, clock: fakeClock() });
    expect([report.outcome, report.reason, report.warnings]).toEqual([
      "failed",
      'the green slot did not become healthy within 0 ms: green-1: status 500: "unhealthy: broken build"',
      ["could not remove the new green hosts: machinectl busy"],
    ]);
  });
});

describe("the rollback target and the gate", () => {
  it("keeps the version the idle slot holds until the new hosts pass their gate: a failed rollout leaves it for rollback", async () => {
    // blue runs v2, green keeps v1 for rollback; v3 fails its gate in green.
    // The probe answers for what it probes: the prepared v3 hosts are broken, the kept v1 hosts are not.
    let v3Prepared = () => false;
    const { driver, calls, state, prepared } = fakeDriver({ live: "blue", blue: "app:v2", green: "app:v1" }, (s) => (s === "green" && v3Prepared() ? broken(s) : healthy(s)));
    v3Prepared = () => prepared.green?.image === "app:v3";
    const report = await rollout({ driver, image: "app:v3", policy, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(calls.filter((c) => !c.startsWith("probe"))).toEqual(["prepare green app:v3 x2", "discard green"]);
    expect([state.live, state.slots.green.image, state.slots.green.hosts.length]).toEqual(["blue", "app:v1", 2]);
    // ... so an instant rollback to v1 is still possible.
    const back = await rollback({ driver, policy, clock: fakeClock() });
    expect([back.outcome, back.toImage, state.live]).toEqual(["succeeded", "app:v1", "green"]);
  });

  it("the prepared hosts replace the kept version only once they passed the gate", async () => {
    const { driver, calls, state, prepared } = fakeDriver({ live: "blue", blue: "app:v2", green: "app:v1" }, (s) => healthy(s));
    let duringGate: [string | null, boolean] | undefined;
    const probe = driver.probe.bind(driver);
    driver.probe = async (slot) => {
      duringGate ??= [state.slots.green.image, prepared.green !== undefined];
      return probe(slot);
    };
    await rollout({ driver, image: "app:v3", policy: { ...policy, soakMs: 0 }, clock: fakeClock() });
    expect(duringGate).toEqual(["app:v1", true]);
    expect(calls.indexOf("commit green")).toBe(calls.indexOf("switch green drain=2000") - 1);
    expect(state.slots.green.image).toBe("app:v3");
  });

  it("ends the gate early when a new host's app container has exited, with its last log lines", async () => {
    const events: RolloutEvent[] = [];
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? [{ host: "green-1", ok: false, status: null, detail: "connect ECONNREFUSED" }] : healthy(s)));
    driver.appStates = async () => [
      { host: "green-1", status: "exited", exitCode: 3, restartCount: 0, logTail: ["starting", "boom: no DATABASE_URL"] },
      { host: "green-2", status: "running", exitCode: 0, restartCount: 0, logTail: [] },
    ];
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, healthDeadlineMs: 120_000 }, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(report.outcome).toBe("failed");
    expect(report.reason).toBe("the green slot's app stopped before becoming healthy: green-1: exited 3; last log lines: starting | boom: no DATABASE_URL");
    expect(report.appStates).toEqual([{ host: "green-1", status: "exited", exitCode: 3, restartCount: 0, logTail: ["starting", "boom: no DATABASE_URL"] }]);
    // One round, not 120: the gate did not wait for a container that cannot recover.
    expect(calls.filter((c) => c === "probe green")).toHaveLength(1);
    expect(report.gateRounds).toBe(1);
    expect(calls.at(-1)).toBe("discard green");
    expect(events.filter((e) => e.type === "message").map((e) => (e as { message: string }).message)).toEqual([
      "gate round 1: 0/1 healthy (green-1: no response: \"connect ECONNREFUSED\")",
      "gate round 1: green-1: exited 3; last log lines: starting | boom: no DATABASE_URL",
    ]);
  });

  it("a container the engine keeps restarting ends the gate too; a running one that is merely slow does not", async () => {
    const slow = fakeDriver({ live: "blue", blue: "app:v1" }, (s, r) => (s === "green" && r < 3 ? broken(s) : healthy(s)));
    slow.driver.appStates = async () => [{ host: "green-1", status: "running", exitCode: 0, restartCount: 0, logTail: [] }];
    expect((await rollout({ driver: slow.driver, image: "app:v2", policy: { ...policy, soakMs: 0 }, clock: fakeClock() })).outcome).toBe("succeeded");
    const looping = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? broken(s) : healthy(s)));
    looping.driver.appStates = async () => [{ host: "green-1", status: "running", exitCode: 1, restartCount: 4, logTail: ["panic"] }];
    const report = await rollout({ driver: looping.driver, image: "app:v2", policy, clock: fakeClock() });
    expect(report.reason).toBe("the green slot's app stopped before becoming healthy: green-1: running (restarted 4 times); last log lines: panic");
  });
});

describe("rollback", () => {
  it("refuses when nothing is live", async () => {
    const { driver } = fakeDriver({ live: null }, (s) => healthy(s));
    await expect(rollback({ driver, policy, clock: fakeClock() })).rejects.toThrow("nothing is live: there is nothing to roll back from");
  });

  it("reports its phases, the failed gate as not done", async () => {
    const events: RolloutEvent[] = [];
    const { driver } = fakeDriver({ live: "green", blue: "app:v1", green: "app:v2" }, (s) => (s === "blue" ? broken(s) : healthy(s)));
    const report = await rollback({ driver, policy: { ...policy, healthDeadlineMs: 1_000 }, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(report.reason).toBe('the previous slot (blue) is not healthy, traffic stays on green: blue-1: status 500: "unhealthy: broken build"');
    expect(events).toEqual([
      { type: "phase-start", phase: "health-gate" },
      { type: "message", message: 'gate round 1: 1/2 healthy (blue-1: status 500: "unhealthy: broken build")' },
      { type: "message", message: 'gate round 2: 1/2 healthy (blue-1: status 500: "unhealthy: broken build")' },
      { type: "phase-done", phase: "health-gate", ms: 1_000, ok: false },
    ]);
  });


  it("switches back to the kept slot after its health gate", async () => {
    const { driver, calls, state } = fakeDriver({ live: "green", blue: "app:v1", green: "app:v2" }, (s) => healthy(s));
    const report = await rollback({ driver, policy, clock: fakeClock() });
    expect(report.outcome).toBe("succeeded");
    expect(calls).toEqual(["probe blue", "probe blue", "switch blue drain=2000"]);
    expect(state.live).toBe("blue");
    expect({ from: report.fromImage, to: report.toImage }).toEqual({ from: "app:v2", to: "app:v1" });
  });

  it("refuses when the previous slot has no hosts", async () => {
    const { driver } = fakeDriver({ live: "green", green: "app:v2" }, (s) => healthy(s));
    await expect(rollback({ driver, policy, clock: fakeClock() })).rejects.toThrow(
      "the previous slot (blue) has no hosts: an instant rollback is not possible",
    );
  });

  it("keeps traffic where it is when the previous slot is unhealthy", async () => {
    const { driver, calls, state } = fakeDriver({ live: "green", blue: "app:v1", green: "app:v2" }, (s) => (s === "blue" ? broken(s) : healthy(s)));
    const report = await rollback({ driver, policy, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(calls.some((c) => c.startsWith("switch"))).toBe(false);
    expect(state.live).toBe("green");
  });
});

describe("the before-switch hook", () => {
  const hook = { command: ["bin/migrate", "up"], timeoutMs: 600_000 };
  const ran = (host: string, exitCode: number | null, outputTail: string[], extra: object = {}) => ({ host, exitCode, durationMs: 1_500, outputTail, ...extra });

  it("runs once, on the first prepared host, after the gate and before the switch; its lines are progress and its result is in the report", async () => {
    const events: RolloutEvent[] = [];
    const seen: Array<{ spec: unknown; on: string[] }> = [];
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s), (_slot, spec, progress, prepared) => {
      seen.push({ spec, on: prepared.map((h) => h.name) });
      progress("green-1: migrating 1 of 2");
      progress("green-1: done");
      return ran(prepared[0]!.name, 0, ["migrating 1 of 2", "done"]);
    });
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, soakMs: 0, beforeSwitch: hook }, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(report.outcome).toBe("succeeded");
    expect(calls).toEqual(["prepare green app:v2 x2", "probe green", "probe green", "hook green bin/migrate up", "commit green", "switch green drain=2000", "probe green"]);
    expect(seen).toEqual([{ spec: hook, on: ["green-1", "green-2"] }]);
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "before-switch", "switch", "soak"]);
    expect(report.hook).toEqual({ command: ["bin/migrate", "up"], host: "green-1", exitCode: 0, durationMs: 1_500, outputTail: ["migrating 1 of 2", "done"] });
    expect(state.live).toBe("green");
    const start = events.findIndex((e) => e.type === "phase-start" && e.phase === "before-switch");
    expect(events.slice(start, start + 4)).toEqual([
      { type: "phase-start", phase: "before-switch" },
      { type: "message", message: "green-1: migrating 1 of 2" },
      { type: "message", message: "green-1: done" },
      { type: "phase-done", phase: "before-switch", ms: 0, ok: true },
    ]);
  });

  it("a hook that exits non-zero aborts: the prepared hosts are discarded, traffic is never switched, the reason names the hook, its exit code and its last lines", async () => {
    const events: RolloutEvent[] = [];
    const output = ["one", "two", "three", "four", "five", "ERROR: relation \"users\" already exists"];
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1", green: "app:v0" }, (s) => healthy(s), (_s, _h, _p, prepared) => ran(prepared[0]!.name, 3, output));
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, beforeSwitch: hook }, clock: fakeClock(), onEvent: (e) => events.push(e) });
    expect(calls).toEqual(["prepare green app:v2 x2", "probe green", "probe green", "hook green bin/migrate up", "discard green"]);
    expect(calls.some((c) => c.startsWith("switch") || c.startsWith("commit"))).toBe(false);
    // Traffic stays on v1, and green keeps the version it held (still the rollback target).
    expect([state.live, state.slots.green.image]).toEqual(["blue", "app:v0"]);
    expect(report).toMatchObject({
      outcome: "failed",
      fromSlot: "blue",
      toSlot: "green",
      reason: 'the before-switch hook `bin/migrate up` on green-1 exited 3; last output: two | three | four | five | ERROR: relation "users" already exists',
      hook: { command: ["bin/migrate", "up"], host: "green-1", exitCode: 3, durationMs: 1_500, outputTail: output },
      warnings: [],
    });
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "before-switch"]);
    expect(events.find((e) => e.type === "phase-done" && e.phase === "before-switch")).toEqual({ type: "phase-done", phase: "before-switch", ms: 0, ok: false });
  });

  it.each<[string, object, string]>([
    ["stopped at its timeout", { exitCode: null, timedOut: true, outputTail: [] }, "the before-switch hook `bin/migrate up` on green-1 did not finish within 600 s and was stopped; it printed nothing"],
    ["killed by a signal", { exitCode: null, signal: "KILL", outputTail: ["Killed"] }, "the before-switch hook `bin/migrate up` on green-1 was killed by signal KILL; last output: Killed"],
    ["an argv with spaces and quotes", { exitCode: 1, outputTail: ["x"] }, "the before-switch hook `sh -c 'echo \"a b\"; exit 1'` on green-1 exited 1; last output: x"],
  ])("a hook %s fails the rollout, saying how", async (name, result, reason) => {
    const spec = name.startsWith("an argv") ? { command: ["sh", "-c", 'echo "a b"; exit 1'], timeoutMs: 600_000 } : hook;
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s), () => ({ host: "green-1", durationMs: 600_000, ...result }) as never);
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, beforeSwitch: spec }, clock: fakeClock() });
    expect([report.outcome, report.reason, calls.at(-1), state.live]).toEqual(["failed", reason, "discard green", "blue"]);
  });

  it("a hook that could not be run (the host is unreachable) fails the rollout the same way, without a hook record", async () => {
    const { driver, calls, state } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s), () => {
      throw new Error("green-1: connection refused");
    });
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() });
    expect(report).toMatchObject({ outcome: "failed", reason: "the before-switch hook `bin/migrate up` could not run on the green slot: green-1: connection refused" });
    expect(report.hook).toBeUndefined();
    expect([calls.at(-1), state.live]).toEqual(["discard green", "blue"]);
  });

  it("a first rollout whose hook fails never gets traffic: nothing is live", async () => {
    const { driver, calls, state } = fakeDriver({ live: null }, (s) => healthy(s), () => ran("blue-1", 2, ["no database"]));
    const report = await rollout({ driver, image: "app:v1", size: 1, policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() });
    expect([report.outcome, state.live]).toEqual(["failed", null]);
    expect(calls.filter((c) => !c.startsWith("probe"))).toEqual(["prepare blue app:v1 x1", "hook blue bin/migrate up", "discard blue"]);
  });

  it("does not run when the gate fails", async () => {
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => (s === "green" ? broken(s) : healthy(s)), () => ran("green-1", 0, []));
    const report = await rollout({ driver, image: "app:broken", policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() });
    expect(report.outcome).toBe("failed");
    expect(calls.some((c) => c.startsWith("hook"))).toBe(false);
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate"]);
  });

  it("a driver that cannot run hooks is refused before it prepares anything, at rollout.beforeSwitch", async () => {
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s));
    const refused = await rollout({ driver, image: "app:v2", policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toBe("environment is invalid (1 problem):\n  rollout.beforeSwitch: is not supported by this driver yet");
    expect(calls).toEqual([]);
    const named = { ...fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s)).driver, name: "the aws driver" };
    await expect(rollout({ driver: named, image: "app:v2", policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() })).rejects.toThrow("rollout.beforeSwitch: is not supported by the aws driver yet");
  });

  it("without a hook, a driver that could run one is never asked to", async () => {
    const { driver, calls } = fakeDriver({ live: "blue", blue: "app:v1" }, (s) => healthy(s), () => ran("green-1", 0, []));
    const report = await rollout({ driver, image: "app:v2", policy: { ...policy, soakMs: 0 }, clock: fakeClock() });
    expect(calls.some((c) => c.startsWith("hook"))).toBe(false);
    expect(report.hook).toBeUndefined();
  });

  it("rollback never runs the hook", async () => {
    const { driver, calls } = fakeDriver({ live: "green", blue: "app:v1", green: "app:v2" }, (s) => healthy(s), () => ran("blue-1", 0, []));
    const report = await rollback({ driver, policy: { ...policy, beforeSwitch: hook }, clock: fakeClock() });
    expect([report.outcome, calls]).toEqual(["succeeded", ["probe blue", "probe blue", "switch blue drain=2000"]]);
  });
});
