/**
 * The rollout engine: prepare the idle slot -> health gate -> switch -> soak -> retire, or put
 * traffic back. It only orchestrates: every effect goes through the {@link SlotDriver}, time through
 * an injected clock, so unit tests drive it with a fake in microseconds and the same code runs the
 * local driver and AWS.
 */
import { ConfigError, RegistryError, RolloutError } from "../core/errors";
import { quoteArg } from "../core/quote";
import { otherSlot, type AppState, type HookResult, type HookSpec, type ProbeResult, type SlotDriver, type SlotName } from "./driver";

/** Time, injected so tests do not sleep. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** How a rollout behaves; every field has a documented default in {@link DEFAULT_ROLLOUT_POLICY}. */
export interface RolloutPolicy {
  /** How long the new slot may take to become healthy before the rollout gives up. */
  healthDeadlineMs: number;
  /** Consecutive all-healthy probe rounds needed to pass the gate (1 = first success). */
  healthyRounds: number;
  /** Time between probe rounds (gate and soak). */
  probeIntervalMs: number;
  /** How long in-flight requests to the old slot get to finish after the switch. */
  drainMs: number;
  /** How long the new slot must stay healthy, under traffic, before the old one is retired. */
  soakMs: number;
  /** Consecutive failed soak rounds (any host) that trigger the automatic rollback. */
  soakFailureRounds: number;
  /** Keep the old slot's hosts after success, for an instant `rollback` (until the next rollout). */
  keepPrevious: boolean;
  /**
   * Run once on the first new host after the gate and before the switch (`rollout.beforeSwitch`);
   * a failure aborts the rollout with traffic untouched. @default none
   */
  beforeSwitch?: HookSpec;
}

/** Safe defaults: a short gate, a 30 s soak, old hosts kept for instant rollback. */
export const DEFAULT_ROLLOUT_POLICY: RolloutPolicy = {
  healthDeadlineMs: 120_000,
  healthyRounds: 2,
  probeIntervalMs: 1_000,
  drainMs: 5_000,
  soakMs: 30_000,
  soakFailureRounds: 2,
  keepPrevious: true,
};

/** The phases, in order. */
export type PhaseName = "prepare" | "health-gate" | "before-switch" | "switch" | "soak" | "retire" | "rollback";

/** What the before-switch hook did, in a report: its command and {@link HookResult}. */
export type HookReport = { command: string[] } & HookResult;

/** What happened, for the CLI, `--json` and the audit log. */
export interface RolloutReport {
  outcome: "succeeded" | "failed" | "rolled-back";
  fromSlot: SlotName | null;
  toSlot: SlotName;
  fromImage: string | null;
  toImage: string;
  /** Duration of each phase that ran, in order. */
  phases: Array<{ name: PhaseName; ms: number }>;
  /** Why it failed or rolled back. */
  reason?: string;
  /** The probes that failed, when health decided the outcome. */
  failedProbes?: ProbeResult[];
  /** The app containers that stopped or kept restarting, when that ended the gate early. */
  appStates?: AppState[];
  /** How many probe rounds the health gate ran (each `app.health.intervalSeconds` apart). */
  gateRounds?: number;
  /** The before-switch hook, when it ran (its output redacted of the app's secrets). @default none (no hook ran) */
  hook?: HookReport;
  /** Problems that did not change the outcome (e.g. retiring old hosts failed). */
  warnings: string[];
}

/** Progress events for the CLI. */
export type RolloutEvent =
  | { type: "phase-start"; phase: PhaseName }
  | { type: "phase-done"; phase: PhaseName; ms: number; ok: boolean }
  | { type: "message"; message: string };

/** What a rollout needs. */
export interface RolloutInput {
  driver: SlotDriver;
  image: string;
  /** Hosts in the new slot; default: as many as the live slot has, at least 1. */
  size?: number;
  policy?: Partial<RolloutPolicy>;
  clock?: Clock;
  onEvent?: (e: RolloutEvent) => void;
}

/** Describes failed probes in one line each: `web-2: status 500: "database down"`; no probes at all: `no hosts to probe`. */
export function describeProbes(probes: readonly ProbeResult[]): string {
  if (probes.length === 0) return "no hosts to probe";
  return probes
    .filter((p) => !p.ok)
    .map((p) => `${p.host}: ${p.status === null ? "no response" : `status ${p.status}`}: ${JSON.stringify(p.detail.slice(0, 200))}`)
    .join("; ");
}

/**
 * Runs a rollout. Never throws for a failed rollout: the report says what happened and where
 * traffic is. Throws only when the driver fails in a way that leaves traffic unknown (then the
 * error says so).
 */
export async function rollout(input: RolloutInput): Promise<RolloutReport> {
  const policy = { ...DEFAULT_ROLLOUT_POLICY, ...input.policy };
  const clock = input.clock ?? systemClock;
  const emit = input.onEvent ?? (() => {});
  const { driver } = input;
  // Said before anything is read or made: a hook that cannot run must not leave new hosts behind.
  if (policy.beforeSwitch && !driver.runHook) {
    throw new ConfigError("environment", [
      { path: "rollout.beforeSwitch", message: `is not supported by ${driver.name ?? "this driver"} yet` },
    ]);
  }

  const before = await driver.status();
  const from = before.live;
  const to: SlotName = from === null ? "blue" : otherSlot(from);
  const size = input.size ?? Math.max(1, from ? before.slots[from].hosts.length : 1);
  const report: RolloutReport = {
    outcome: "succeeded",
    fromSlot: from,
    toSlot: to,
    fromImage: from ? before.slots[from].image : null,
    toImage: input.image,
    phases: [],
    warnings: [],
  };

  // A phase whose body reports failure (a gate or soak that did not pass) is not "done": `succeeded` says so.
  const phase = async <T>(name: PhaseName, body: () => Promise<T>, succeeded: (result: T) => boolean = () => true): Promise<T> => {
    emit({ type: "phase-start", phase: name });
    const start = clock.now();
    let ok = false;
    try {
      const result = await body();
      ok = succeeded(result);
      return result;
    } finally {
      const ms = clock.now() - start;
      report.phases.push({ name, ms });
      emit({ type: "phase-done", phase: name, ms, ok });
    }
  };
  const fail = (outcome: "failed" | "rolled-back", reason: string, probes?: ProbeResult[]): RolloutReport => {
    report.outcome = outcome;
    report.reason = reason;
    if (probes) report.failedProbes = probes.filter((p) => !p.ok);
    return report;
  };
  const say = (message: string) => emit({ type: "message", message });
  // Removing the new hosts after a failure is cleanup: its own failure must not hide the first one.
  const discardNew = async () => {
    try {
      await driver.retireSlot(to, say);
    } catch (e) {
      report.warnings.push(`could not remove the new ${to} hosts: ${(e as Error).message}`);
    }
  };

  // Removing the prepared hosts after a failed gate: the slot keeps what it had (the rollback target).
  const discardPrepared = async () => {
    try {
      await driver.discardPrepared(to, say);
    } catch (e) {
      report.warnings.push(`could not remove the new ${to} hosts: ${(e as Error).message}`);
    }
  };

  // 1. Fresh hosts in the idle slot, beside what it held (the previous version, kept for rollback
  //    until the new hosts have passed their gate).
  try {
    await phase("prepare", () => driver.prepareSlot(to, input.image, size, say));
  } catch (e) {
    // Bad input (a file the environment names, refused registry credentials, a missing image) is
    // found while the slot is prepared, before any host exists: it is the user's to fix, said as
    // such (exit 2), not a failed rollout.
    if (isInputError(e)) throw e;
    return fail("failed", `preparing the ${to} slot failed: ${(e as Error).message}`);
  }

  // 2. Health gate: every new host healthy for `healthyRounds` rounds in a row, before any traffic.
  const gate = await phase("health-gate", () => waitHealthy(driver, to, policy, clock, say), (g) => g.ok);
  report.gateRounds = gate.rounds;
  if (!gate.ok) {
    await discardPrepared();
    if (gate.stopped) report.appStates = gate.stopped;
    return fail(
      "failed",
      gate.stopped
        ? `the ${to} slot's app stopped before becoming healthy: ${describeStopped(gate.stopped)}`
        : `the ${to} slot did not become healthy within ${policy.healthDeadlineMs} ms: ${describeProbes(gate.last)}`,
      gate.last,
    );
  }

  // 3. The before-switch hook (a migration), once, on one new host: the new version is healthy, and
  //    the old one still serves every request. If it fails, nothing has moved.
  if (policy.beforeSwitch) {
    const hook = policy.beforeSwitch;
    let result: HookResult;
    try {
      result = await phase("before-switch", () => runHook(driver, to, hook, say), (r) => r.exitCode === 0);
    } catch (e) {
      await discardPrepared();
      return fail("failed", `the before-switch hook \`${commandText(hook.command)}\` could not run on the ${to} slot: ${(e as Error).message}`);
    }
    report.hook = { command: [...hook.command], ...result };
    if (result.exitCode !== 0) {
      await discardPrepared();
      return fail("failed", describeHookFailure(report.hook, hook.timeoutMs));
    }
  }

  // 4. Switch: the new hosts become the slot's (the version it kept goes), then new traffic goes to
  //    the new slot and the old slot drains.
  try {
    await phase("switch", async () => {
      await driver.commitSlot(to, say);
      await driver.switchTraffic(to, policy.drainMs);
    });
  } catch (e) {
    const back = await putTrafficBack(driver, from, policy.drainMs);
    await discardNew();
    if (!back.ok) throw trafficUnknown(e as Error, back.error);
    return fail("failed", `switching traffic to ${to} failed: ${(e as Error).message}`);
  }

  // 5. Soak: the new slot serves real traffic while we watch it. Any sustained failure => back.
  const soak = await phase("soak", () => watchSoak(driver, to, policy, clock), (w) => w.ok);
  if (!soak.ok && from === null) {
    // Nothing ran before: there is no slot to put traffic back on, and a driver never removes the
    // live slot's hosts. The new slot stays live (and the environment file valid), said plainly.
    return fail(
      "failed",
      `the ${to} slot failed during the soak: ${describeProbes(soak.last)}; nothing ran before it, so it stays live`,
      soak.last,
    );
  }
  if (!soak.ok) {
    const back = await phase("rollback", () => putTrafficBack(driver, from, policy.drainMs), (b) => b.ok);
    if (!back.ok) throw trafficUnknown(new Error(describeProbes(soak.last)), back.error);
    await discardNew();
    return fail("rolled-back", `the ${to} slot failed during the soak: ${describeProbes(soak.last)}`, soak.last);
  }

  // 6. Retire the old slot, unless it is kept for an instant rollback.
  if (from !== null && !policy.keepPrevious) {
    try {
      await phase("retire", () => driver.retireSlot(from, say));
    } catch (e) {
      report.warnings.push(`retiring the old ${from} hosts failed (traffic is on ${to}): ${(e as Error).message}`);
    }
  }
  return report;
}

/** The driver's hook runner (checked to exist before the rollout began). */
function runHook(driver: SlotDriver, slot: SlotName, hook: HookSpec, say: (m: string) => void): Promise<HookResult> {
  if (!driver.runHook) throw new Error("the driver cannot run hooks");
  return driver.runHook(slot, hook, say);
}

/** A command as a shell would read it (`sh -c 'exit 3'`). */
function commandText(argv: readonly string[]): string {
  return argv.map(quoteArg).join(" ");
}

/** Output lines a failed hook's reason quotes. */
const HOOK_REASON_LINES = 5;

/**
 * Why a hook failed, in one line: its command, host, how it ended and its last output lines
 * (`the before-switch hook \`bin/migrate\` on green-1 exited 3; last output: boom | bye`).
 */
export function describeHookFailure(hook: HookReport, timeoutMs: number): string {
  const how = hook.timedOut
    ? `did not finish within ${timeoutMs / 1000} s and was stopped`
    : hook.exitCode !== null
      ? `exited ${hook.exitCode}`
      : hook.signal
        ? `was killed by signal ${hook.signal}`
        : "ended without an exit status";
  const lines = hook.outputTail.slice(-HOOK_REASON_LINES).map((l) => l.slice(0, 200));
  const output = lines.length ? `; last output: ${lines.join(" | ")}` : "; it printed nothing";
  return `the before-switch hook \`${commandText(hook.command)}\` on ${hook.host} ${how}${output}`;
}

/** Result of waiting on health. */
interface HealthWatch {
  ok: boolean;
  last: ProbeResult[];
  /** Probe rounds the gate ran. */
  rounds: number;
  /** Set when the gate ended early because an app container stopped or kept restarting. */
  stopped?: AppState[];
}

/** Containers that will not become healthy by waiting: exited, dead, gone, or restarted by the engine. */
export function stoppedApps(states: readonly AppState[]): AppState[] {
  return states.filter((s) => ["exited", "dead", "missing", "restarting"].includes(s.status) || s.restartCount > 0);
}

/** `green-1: exited 3 (restarted 2 times); last log lines: boom | bye` per stopped host. */
export function describeStopped(states: readonly AppState[]): string {
  return states
    .map((s) => {
      const how = s.status === "missing" ? "no app container" : s.status === "exited" || s.status === "dead" ? `${s.status} ${s.exitCode ?? "?"}` : s.status;
      const restarts = s.restartCount > 0 ? ` (restarted ${s.restartCount} time${s.restartCount === 1 ? "" : "s"})` : "";
      const logs = s.logTail.length ? `; last log lines: ${s.logTail.map((l) => l.slice(0, 200)).join(" | ")}` : "";
      return `${s.host}: ${how}${restarts}${logs}`;
    })
    .join("; ");
}

async function waitHealthy(driver: SlotDriver, slot: SlotName, policy: RolloutPolicy, clock: Clock, say: (m: string) => void = () => {}): Promise<HealthWatch> {
  const deadline = clock.now() + policy.healthDeadlineMs;
  let streak = 0;
  let round = 0;
  let last: ProbeResult[] = [];
  for (;;) {
    last = await driver.probe(slot);
    round += 1;
    streak = last.length > 0 && last.every((p) => p.ok) ? streak + 1 : 0;
    const healthy = last.filter((p) => p.ok).length;
    say(`gate round ${round}: ${healthy}/${last.length} healthy${healthy < last.length ? ` (${describeProbes(last)})` : `, ${streak}/${policy.healthyRounds} in a row`}`);
    if (streak >= policy.healthyRounds) return { ok: true, last, rounds: round };
    if (healthy < last.length && driver.appStates) {
      // Waiting cannot help a container that has stopped: end now, with what it said.
      const stopped = stoppedApps(await driver.appStates(slot));
      if (stopped.length) {
        say(`gate round ${round}: ${describeStopped(stopped)}`);
        return { ok: false, last, stopped, rounds: round };
      }
    }
    if (clock.now() + policy.probeIntervalMs > deadline) return { ok: false, last, rounds: round };
    await clock.sleep(policy.probeIntervalMs);
  }
}

async function watchSoak(driver: SlotDriver, slot: SlotName, policy: RolloutPolicy, clock: Clock): Promise<HealthWatch> {
  const end = clock.now() + policy.soakMs;
  let failing = 0;
  let rounds = 0;
  let last: ProbeResult[] = [];
  // Probe at the start, every interval, and once more at the very end of the soak.
  for (;;) {
    last = await driver.probe(slot);
    rounds += 1;
    failing = last.length > 0 && last.every((p) => p.ok) ? 0 : failing + 1;
    if (failing >= policy.soakFailureRounds) return { ok: false, last, rounds };
    if (clock.now() >= end) return { ok: true, last, rounds };
    await clock.sleep(Math.min(policy.probeIntervalMs, end - clock.now()));
  }
}

async function putTrafficBack(
  driver: SlotDriver,
  from: SlotName | null,
  drainMs: number,
): Promise<{ ok: true } | { ok: false; error: Error }> {
  // With no previous slot there is nothing to go back to: the first rollout simply did not happen.
  if (from === null) return { ok: true };
  try {
    await driver.switchTraffic(from, drainMs);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: e as Error };
  }
}

function trafficUnknown(first: Error, second: Error): RolloutError {
  return new RolloutError(
    `the rollout failed (${first.message}) and putting traffic back also failed (${second.message}): check the load balancer now`,
    { suggestion: "Run `longshore status` to see where traffic goes, then `longshore rollback`." },
  );
}

/** What a rollback needs. */
export interface RollbackInput {
  driver: SlotDriver;
  policy?: Partial<RolloutPolicy>;
  clock?: Clock;
  onEvent?: (e: RolloutEvent) => void;
}

/**
 * Instant rollback: traffic goes back to the previous slot when its hosts still exist and pass the
 * health gate. The current slot is kept (it becomes the idle one), so a rollback can be undone.
 */
export async function rollback(input: RollbackInput): Promise<RolloutReport> {
  const policy = { ...DEFAULT_ROLLOUT_POLICY, ...input.policy };
  const clock = input.clock ?? systemClock;
  const emit = input.onEvent ?? (() => {});
  const status = await input.driver.status();
  if (status.live === null) throw new RolloutError("nothing is live: there is nothing to roll back from");
  const to = otherSlot(status.live);
  if (status.slots[to].hosts.length === 0 || status.slots[to].image === null) {
    throw new RolloutError(`the previous slot (${to}) has no hosts: an instant rollback is not possible`, {
      suggestion: `Roll out the previous image again instead: longshore rollout <image>.`,
    });
  }
  const report: RolloutReport = {
    outcome: "succeeded",
    fromSlot: status.live,
    toSlot: to,
    fromImage: status.slots[status.live].image,
    toImage: status.slots[to].image,
    phases: [],
    warnings: [],
  };
  const timed = async <T>(name: PhaseName, body: () => Promise<T>, succeeded: (result: T) => boolean = () => true): Promise<T> => {
    emit({ type: "phase-start", phase: name });
    const start = clock.now();
    let ok = false;
    try {
      const result = await body();
      ok = succeeded(result);
      return result;
    } finally {
      const ms = clock.now() - start;
      report.phases.push({ name, ms });
      emit({ type: "phase-done", phase: name, ms, ok });
    }
  };
  const gate = await timed(
    "health-gate",
    () => waitHealthy(input.driver, to, policy, clock, (message) => emit({ type: "message", message })),
    (g) => g.ok,
  );
  if (!gate.ok) {
    report.outcome = "failed";
    report.reason = `the previous slot (${to}) is not healthy, traffic stays on ${status.live}: ${describeProbes(gate.last)}`;
    report.failedProbes = gate.last.filter((p) => !p.ok);
    return report;
  }
  await timed("switch", () => input.driver.switchTraffic(to, policy.drainMs));
  return report;
}

/** Errors that are the user's input, whenever they are found. */
function isInputError(e: unknown): boolean {
  return e instanceof ConfigError || (e instanceof RegistryError && (e.kind === "auth" || e.kind === "not-found"));
}
