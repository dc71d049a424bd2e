/**
 * `longshore lock status` and `longshore lock release [--force]`: the environment's operation lock
 * (core/lock.ts; on this computer, in the state directory: cli/environment-deps.ts). The lock is
 * the kernel's (flock), so it ends with its holder's process; what can outlive it is the holder's
 * record in the lock file (a crash, SIGKILL). `release` removes such a stale record; a live holder
 * only with `--force`, which removes the lock file and says what that means. With `driver: aws` the
 * environment also has a lock across operators, an object in the stack's lock bucket
 * (drivers/aws): `status` reads it; `release` of one that is held needs `--force`, as no PID can be
 * checked across machines, and deletes only the object it read (`If-Match`).
 */
import type { Command } from "commander";
import { LockHeldError } from "../core/errors";
import { describeHolder, forceRemoveLock, inspectLock, removeStaleLock, type LockHolder, type LockState } from "../core/lock";
import { AwsSlotDriver, type SharedLockState } from "../drivers/aws/aws-driver";
import { environmentFiles } from "../rollout/operations";
import type { VerbDeps } from "./deps";
import { DEFAULT_ENV_FILE, openEnvironment } from "./open-environment";

interface LockFlags {
  file?: string;
  json?: boolean;
  force?: boolean;
}

/** Who holds a held lock, in words: the record, or the flock process when there is no record yet. */
function holderText(s: LockState & { state: "held" }): string {
  return s.holder ? describeHolder(s.holder) : `pid ${s.lockPid ?? "?"} (it has not written its record yet)`;
}

/** The human view of `lock status`. Pure. */
export function lockStatusText(env: string, s: LockState): string {
  const head =
    s.state === "free"
      ? `environment ${env}: free`
      : s.state === "held"
        ? `environment ${env}: held by ${holderText(s)}`
        : `environment ${env}: free, with a stale record: ${describeHolder(s.record)}\n` +
          "  No process holds the lock: that holder ended without removing its record (a crash, a kill). It blocks nothing;\n" +
          "  `longshore lock release` removes it.";
  return `${head}\nlock file: ${s.path}${s.state === "held" && s.lockPid !== null ? ` (locked by the flock process ${s.lockPid})` : ""}\n`;
}

/** The `--json` view of `lock status`. Pure. */
export function lockStatusJson(env: string, s: LockState): Record<string, unknown> {
  const holder: LockHolder | null = s.state === "held" ? s.holder : s.record;
  return { environment: env, lockFile: s.path, state: s.state, holder, lockPid: s.state === "held" ? s.lockPid : null };
}

/** What `lock release` does for a state. Pure. */
export type ReleaseDecision =
  | { action: "nothing" }
  | { action: "remove-stale"; record: LockHolder | null }
  | { action: "refuse"; state: LockState & { state: "held" } }
  | { action: "force"; state: LockState & { state: "held" } };

/** Decides `lock release`: nothing to do, remove a stale record (or an empty file), refuse a live holder, or (`--force`) remove its file. Pure. */
export function releaseDecision(s: LockState, force: boolean): ReleaseDecision {
  if (s.state === "held") return force ? { action: "force", state: s } : { action: "refuse", state: s };
  if (s.state === "stale") return { action: "remove-stale", record: s.record };
  return s.exists ? { action: "remove-stale", record: null } : { action: "nothing" };
}

/** `s3://bucket/key` of a shared lock. */
const objectUrl = (s: { bucket: string; key: string }) => `s3://${s.bucket}/${s.key}`;

/** Who holds a shared lock, in words. */
function sharedHolderText(s: SharedLockState & { state: "held" }): string {
  return s.holder ? describeHolder(s.holder) : `an unreadable record (ETag ${s.etag})`;
}

/** The human view of the lock across operators (aws). Pure. */
export function sharedLockStatusText(s: SharedLockState): string {
  if (s.state === "none") return `lock across operators: none (${s.reason})\n`;
  if (s.state === "free") return `lock across operators: ${objectUrl(s)}: free\n`;
  return (
    `lock across operators: ${objectUrl(s)}: held by ${sharedHolderText(s)}\n` +
    "  There is no PID to check across machines: longshore cannot tell whether that operation still runs.\n" +
    "  If it is gone for good (killed, its machine lost), `longshore lock release --force` removes its lock object.\n"
  );
}

/** The `--json` view of the lock across operators. Pure. */
export function sharedLockStatusJson(s: SharedLockState): Record<string, unknown> {
  if (s.state === "none") return { state: "none", reason: s.reason };
  return { state: s.state, object: objectUrl(s), holder: s.state === "held" ? s.holder : null, etag: s.state === "held" ? s.etag : null };
}

/** Adds `lock status` and `lock release`. */
export function register(program: Command, deps: VerbDeps): void {
  const lock = program.command("lock").description("the environment's operation lock: who holds it; release a stale one");
  const fileOption = `environment file (default ./${DEFAULT_ENV_FILE})`;

  const open = async (flags: LockFlags) => {
    const loaded = await openEnvironment(flags.file, deps);
    return { loaded, env: loaded.env.name, lockFile: environmentFiles(loaded.file, deps.operationLockDir(loaded.env), loaded.env.name).lockFile };
  };
  /** With `driver: aws`, the driver that reads the lock across operators (its lock object); else null. */
  const sharedLockDriver = async (loaded: Awaited<ReturnType<typeof openEnvironment>>): Promise<AwsSlotDriver | null> => {
    if (loaded.env.driver !== "aws") return null;
    const driver = await deps.environmentDriver({ env: loaded.env, file: loaded.file, baseDir: loaded.baseDir, secrets: null, bundle: null }, () => undefined);
    return driver instanceof AwsSlotDriver ? driver : null;
  };

  lock
    .command("status")
    .description("free, held (operation, user, host, pid, since), or free with a stale holder record")
    .option("-f, --file <file>", fileOption)
    .option("--json", "print one JSON document")
    .action(async (flags: LockFlags) => {
      const { loaded, env, lockFile } = await open(flags);
      const s = inspectLock(lockFile);
      const shared = await (await sharedLockDriver(loaded))?.sharedLockState();
      deps.stdout.write(
        flags.json === true
          ? `${JSON.stringify({ ...lockStatusJson(env, s), ...(shared ? { shared: sharedLockStatusJson(shared) } : {}) }, null, 2)}\n`
          : lockStatusText(env, s) + (shared ? sharedLockStatusText(shared) : ""),
      );
    });

  lock
    .command("release")
    .description("remove a stale holder record; a live holder is refused (exit 6) unless --force")
    .option("-f, --file <file>", fileOption)
    .option("--force", "remove the lock file of a live holder too (aws: the held lock object): it keeps running, and a new operation can start alongside it")
    .option("--json", "print one JSON document")
    .action(async (flags: LockFlags): Promise<void> => {
      const { loaded, env, lockFile } = await open(flags);
      const aws = await sharedLockDriver(loaded);
      const shared = await aws?.sharedLockState();
      if (aws && shared?.state === "held") {
        // Across machines there is no process to ask: a held lock object is released only on --force.
        if (flags.force !== true) {
          throw new LockHeldError(`environment ${env} is locked across operators by ${sharedHolderText(shared)} (${objectUrl(shared)})`, {
            suggestion:
              "There is no PID to check across machines, so longshore cannot tell whether that operation still runs. Wait for it to end; if it is gone for good (killed, its machine lost), `longshore lock release --force` removes its lock object.",
            context: { object: objectUrl(shared), holder: shared.holder },
          });
        }
        if (!(await aws.forceReleaseSharedLock(shared))) {
          throw new LockHeldError(`environment ${env}: the lock object ${objectUrl(shared)} changed hands while it was being released; nothing removed`, {
            suggestion: "Run `longshore lock status` to see who holds it now.",
            context: { object: objectUrl(shared) },
          });
        }
        if (flags.json === true) {
          deps.stdout.write(`${JSON.stringify({ environment: env, lockObject: objectUrl(shared), released: "forced", holder: shared.holder }, null, 2)}\n`);
          return;
        }
        deps.stderr.write(`warning: if ${sharedHolderText(shared)} still runs, it was not stopped, and the next operation can run alongside it\n`);
        deps.stdout.write(`environment ${env}: removed the lock object ${objectUrl(shared)} of ${sharedHolderText(shared)} (--force)\n`);
        return;
      }
      const s = inspectLock(lockFile);
      const decision = releaseDecision(s, flags.force === true);
      const done = (released: string, holder: LockHolder | null, text: string): void =>
        void deps.stdout.write(flags.json === true ? `${JSON.stringify({ environment: env, lockFile: s.path, released, holder }, null, 2)}\n` : text);
      switch (decision.action) {
        case "nothing":
          return done("nothing", null, `environment ${env}: the lock is free and has no record; nothing to release\n`);
        case "remove-stale":
          // Under the lock: no operation can take it between the look and the removal.
          await removeStaleLock(lockFile, `environment ${env}`);
          return done(
            "stale",
            decision.record,
            decision.record
              ? `environment ${env}: removed the stale record of ${describeHolder(decision.record)} (no process held the lock)\n`
              : `environment ${env}: removed a lock file with no record (no process held the lock)\n`,
          );
        case "refuse":
          throw new LockHeldError(`environment ${env} is locked: ${holderText(decision.state)}`, {
            suggestion: `Wait for it to finish. If it is hung, stop it (kill ${pidOf(decision.state)}): the kernel then releases its lock. \`longshore lock release --force\` removes the lock file anyway, without stopping it.`,
            context: { lock: s.path, holder: decision.state.holder, lockPid: decision.state.lockPid },
          });
        case "force": {
          if (!forceRemoveLock(lockFile, decision.state)) {
            throw new LockHeldError(`environment ${env}: the lock changed hands while it was being released; nothing removed`, {
              suggestion: "Run `longshore lock status` to see who holds it now.",
              context: { lock: s.path },
            });
          }
          const pid = pidOf(decision.state);
          if (flags.json !== true) {
            deps.stderr.write(
              `warning: ${holderText(decision.state)} keeps running, and keeps its lock on the removed file: it was not stopped. ` +
                `The next operation locks a new file and can run alongside it. If it is hung, stop it: kill ${pid}\n`,
            );
          }
          return done("forced", decision.state.holder, `environment ${env}: removed the lock file of ${holderText(decision.state)} (--force)\n`);
        }
      }
    });
}

/** The process to stop: the holder's own, else the flock process. */
function pidOf(s: LockState & { state: "held" }): number | string {
  return s.holder?.pid ?? s.lockPid ?? "?";
}
