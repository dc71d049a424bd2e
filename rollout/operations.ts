/**
 * What the CLI verbs do to an environment, driver-agnostic: take the lock, append a `started` line
 * to the audit log, run the rollout engine, record the new desired state in the environment file
 * and a `finished` line, release the lock. The CLI only wires a real driver in and prints.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { acquireLock } from "../core/lock";
import type { BeforeSwitchHook, Environment } from "../model/environment";
import { updateEnvironmentText, writeEnvironmentText } from "../model/environment-file";
import { otherSlot } from "../model/names";
import { appendAudit, auditHookOf, type AuditAction, type AuditFinished } from "./audit-log";
import type { HookSpec, SlotDriver } from "./driver";
import { rollback, rollout, type Clock, type RolloutEvent, type RolloutPolicy, type RolloutReport } from "./rollout";

/** Where an environment keeps its operational files. */
export interface EnvironmentFiles {
  /** The environment file (desired state, in git). */
  envFile: string;
  /** The lock file (not in git). */
  lockFile: string;
  /** The audit log (in git, next to the environment file). */
  auditFile: string;
}

/** Default places: the audit log beside the environment file, the lock in the state directory. */
export function environmentFiles(envFile: string, stateDir: string, envName: string): EnvironmentFiles {
  const dir = path.dirname(path.resolve(envFile));
  return { envFile, lockFile: path.join(stateDir, `${envName}.lock`), auditFile: path.join(dir, `${envName}.audit.jsonl`) };
}

/** The rollout policy an environment file asks for: `rollout:` and the app's health check. */
export function policyOf(env: Environment): Partial<RolloutPolicy> {
  return {
    healthDeadlineMs: env.rollout.healthDeadlineSeconds * 1000,
    soakMs: env.rollout.soakSeconds * 1000,
    drainMs: env.rollout.drainSeconds * 1000,
    keepPrevious: env.rollout.keepPrevious,
    ...(env.rollout.beforeSwitch ? { beforeSwitch: hookSpecOf(env.rollout.beforeSwitch) } : {}),
    healthyRounds: env.app.health.healthyRounds,
    probeIntervalMs: env.app.health.intervalSeconds * 1000,
  };
}

/** `rollout.beforeSwitch` as the engine takes it (milliseconds). */
export function hookSpecOf(hook: BeforeSwitchHook): HookSpec {
  return { command: [...hook.command], ...(hook.service !== undefined ? { service: hook.service } : {}), timeoutMs: hook.timeoutSeconds * 1000 };
}

/** Inputs shared by the operations. */
export interface OperationInput {
  env: Environment;
  /** The environment file's current text (rewritten with the new desired state on success). */
  envText: string;
  files: EnvironmentFiles;
  driver: SlotDriver;
  onEvent?: (e: RolloutEvent) => void;
  clock?: Clock;
  /** Overrides the environment's policy (tests shorten the soak). */
  policy?: Partial<RolloutPolicy>;
  /**
   * Who the audit log names: the operator, resolved by the CLI (`$LONGSHORE_OPERATOR`, else git's
   * `user.email`, else user@host; cli/operator.ts). Never guessed here.
   */
  actor: string;
}

/**
 * This computer's lock, then the one every operator's computer sees when the driver has one (the
 * aws driver's): both held for the whole operation, released in the reverse order.
 */
async function lockEnvironment(input: OperationInput, action: AuditAction): Promise<{ release(): Promise<void> }> {
  const local = await acquireLock(input.files.lockFile, { what: `environment ${input.env.name}`, operation: action, removeOnRelease: true });
  let shared;
  try {
    shared = await input.driver.sharedLock?.(action);
  } catch (e) {
    await local.release();
    throw e;
  }
  return {
    release: async () => {
      try {
        await shared?.release();
      } finally {
        await local.release();
      }
    },
  };
}

/** Runs an operation under the environment's lock, then records its outcome (file and audit log). */
async function audited(input: OperationInput, action: AuditAction, image: string | undefined, body: () => Promise<RolloutReport>): Promise<RolloutReport> {
  const lock = await lockEnvironment(input, action);
  try {
    return await recorded(input, action, image, body);
  } finally {
    await lock.release();
  }
}

/**
 * Runs an operation (the caller holds the lock) and records it: a `started` line before anything
 * changes (so one killed mid-way still left a line), then the file from the driver's status and a
 * `finished` line stamped with the end time, also when the operation threw.
 */
async function recorded(input: OperationInput, action: AuditAction, image: string | undefined, body: () => Promise<RolloutReport>): Promise<RolloutReport> {
  const line = { id: randomUUID(), who: input.actor, action, environment: input.env.name };
  const startedAt = new Date().toISOString();
  await appendAudit(input.files.auditFile, { when: startedAt, ...line, event: "started", ...(image !== undefined ? { image } : {}) });
  const finished = (rest: Omit<AuditFinished, "when" | "id" | "who" | "action" | "environment" | "event" | "startedAt">): AuditFinished => ({
    when: new Date().toISOString(),
    ...line,
    event: "finished",
    startedAt,
    ...rest,
  });
  let report: RolloutReport;
  try {
    report = await body();
  } catch (e) {
    // Even an operation that throws (traffic left unknown) may have changed what runs: record
    // what the driver says when it can, and let the first error be the one reported.
    await recordStatus(input).catch(() => undefined);
    const reason = e instanceof Error ? e.message : String(e);
    await appendAudit(input.files.auditFile, finished({ fromImage: null, toImage: image ?? null, fromSlot: null, toSlot: null, outcome: "error", reason, phases: {} })).catch(
      () => undefined,
    );
    throw e;
  }
  await recordStatus(input);
  await appendAudit(
    input.files.auditFile,
    finished({
      fromImage: report.fromImage,
      toImage: report.toImage,
      fromSlot: report.fromSlot,
      toSlot: report.toSlot,
      outcome: report.outcome,
      ...(report.reason ? { reason: report.reason } : {}),
      phases: Object.fromEntries(report.phases.map((p) => [p.name, Math.round(p.ms)])),
      ...(report.hook ? { hook: auditHookOf(report.hook) } : {}),
    }),
  );
  return report;
}

/**
 * The file follows what is now true, whatever the outcome: the live slot and what each slot runs,
 * so it never names hosts that are gone (a retired or discarded slot) or misses new ones.
 */
async function recordStatus(input: OperationInput): Promise<void> {
  const now = await input.driver.status();
  const text = updateEnvironmentText(await currentText(input), {
    live: now.live,
    images: { blue: now.slots.blue.hosts.length ? now.slots.blue.image : null, green: now.slots.green.hosts.length ? now.slots.green.image : null },
  });
  await writeEnvironmentText(input.files.envFile, text);
}

/** The file as it is now (a driver may have edited it during the operation), else the text it was loaded with. */
async function currentText(input: OperationInput): Promise<string> {
  try {
    return await readFile(input.files.envFile, "utf8");
  } catch {
    return input.envText;
  }
}

/** `longshore rollout IMAGE`. */
export function runRollout(input: OperationInput & { image: string; size?: number }): Promise<RolloutReport> {
  return audited(input, "rollout", input.image, () =>
    rollout({
      driver: input.driver,
      image: input.image,
      size: input.size ?? input.env.slots[input.env.live === null ? "blue" : otherSlot(input.env.live)].size,
      policy: { ...policyOf(input.env), ...input.policy },
      ...(input.clock ? { clock: input.clock } : {}),
      ...(input.onEvent ? { onEvent: input.onEvent } : {}),
    }),
  );
}

/** `longshore rollback`. */
export function runRollback(input: OperationInput): Promise<RolloutReport> {
  return audited(input, "rollback", undefined, () =>
    rollback({
      driver: input.driver,
      policy: { ...policyOf(input.env), ...input.policy },
      ...(input.clock ? { clock: input.clock } : {}),
      ...(input.onEvent ? { onEvent: input.onEvent } : {}),
    }),
  );
}

/** What `up` decided to do. */
export type UpPlan =
  | { action: "none"; reason: string }
  | { action: "rollout"; image: string; size: number; reason: string }
  | { action: "refuse"; reason: string };

/**
 * Decides what `up` must do to bring the environment to its desired state. Pure.
 * `up` creates what is missing; changing a running version is a rollout's job, so a live slot
 * whose image differs from the file is refused with the command to run instead.
 */
export function planUp(env: Environment, actual: { live: "blue" | "green" | null; images: Record<"blue" | "green", string | null> }): UpPlan {
  if (actual.live === null) {
    const slot = env.live ?? "blue";
    // What the file asks for; a slot's recorded image is history once its hosts are gone.
    const image = env.app.image;
    return { action: "rollout", image, size: env.slots[slot].size, reason: `nothing is running: bringing up ${image}` };
  }
  const desired = env.live === null ? null : env.slots[env.live].image;
  const running = actual.images[actual.live];
  if (env.live !== null && env.live !== actual.live) {
    return { action: "refuse", reason: `the file says ${env.live} is live but ${actual.live} is: use \`longshore rollback\` or \`longshore rollout\`` };
  }
  if (desired !== null && desired !== running) {
    return { action: "refuse", reason: `${actual.live} runs ${running} but the file wants ${desired}: use \`longshore rollout ${desired}\`` };
  }
  if (running !== env.app.image) {
    return { action: "none", reason: `${actual.live} is live and runs ${running}; app.image is ${env.app.image}: deploy it with \`longshore rollout\`` };
  }
  return { action: "none", reason: `${actual.live} is live and runs ${running}: nothing to do` };
}

/** `longshore up`: the first rollout of an empty environment, or nothing when it is up to date. */
export async function runUp(input: OperationInput): Promise<{ plan: UpPlan; report?: RolloutReport }> {
  // The plan is made under the lock: what runs cannot change between deciding and doing.
  const lock = await lockEnvironment(input, "up");
  try {
    const status = await input.driver.status();
    const plan = planUp(input.env, { live: status.live, images: { blue: status.slots.blue.image, green: status.slots.green.image } });
    if (plan.action !== "rollout") return { plan };
    const report = await recorded(input, "up", plan.image, () =>
      rollout({
        driver: input.driver,
        image: plan.image,
        size: plan.size,
        // The first version has nothing to soak against and no one to roll back to.
        policy: { ...policyOf(input.env), soakMs: 0, ...input.policy },
        ...(input.clock ? { clock: input.clock } : {}),
        ...(input.onEvent ? { onEvent: input.onEvent } : {}),
      }),
    );
    return { plan, report };
  } finally {
    await lock.release();
  }
}
