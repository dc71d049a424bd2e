/**
 * The one interface through which rollouts talk to infrastructure. The local driver (nspawn
 * machines + HAProxy) and the aws driver (Pulumi Automation API over stacks/web) implement it;
 * unit tests use a scripted fake. The rollout engine never knows which one it drives.
 */

import type { EngineDiskUsage, EngineInfo } from "../model/engine-report";
import { otherSlot, type SlotName } from "../model/names";
import type { SshTarget } from "../model/ssh-target";

export { otherSlot, type SlotName };

/** One host serving a slot. */
export interface HostStatus {
  name: string;
  address: string;
  /** The image the host runs (as deployed, not as desired). */
  image: string;
  /** The host image it booted from (the engine baked in), when it did. @default none: a bare base system */
  hostImage?: string;
}

/** What a slot currently has. */
export interface SlotStatus {
  image: string | null;
  hosts: HostStatus[];
}

/** What the driver sees right now. */
export interface EnvironmentStatus {
  live: SlotName | null;
  slots: Record<SlotName, SlotStatus>;
  /** Where users reach the app (load balancer URL), when there is one. */
  url: string | null;
}

/** One health probe of one host. */
export interface ProbeResult {
  host: string;
  ok: boolean;
  /** HTTP status, or null when no response came (refused, timeout). */
  status: number | null;
  /** The start of the response body or the transport error, for reports. */
  detail: string;
}

/** One host's app container, as the engine sees it. */
export interface AppState {
  host: string;
  /** `running`, `exited`, `restarting`, `created`, `dead`, or `missing` (no container). */
  status: string;
  /** The exit code of the last run (meaningful when exited). */
  exitCode: number | null;
  /** How many times the engine restarted it. */
  restartCount: number;
  /** Its last log lines (stdout and stderr), oldest first, secrets as they are in the app's own output. */
  logTail: string[];
}

/**
 * What an SSH handshake with a host's pinned host key found.
 * - `match`: the host presented its pinned key.
 * - `mismatch`: it presented another key (the connection was refused, as every connection is).
 * - `unreachable`: no handshake happened, so nothing is known about the key.
 * - `unknown`: this driver does not check host keys.
 */
export type HostKeyState = "match" | "mismatch" | "unreachable" | "unknown";

/** One host's {@link HostKeyState}. */
export interface HostKeyResult {
  host: string;
  state: HostKeyState;
  /** For reports: the presented and pinned fingerprints on a mismatch, the reason it is unreachable or unknown. */
  detail: string;
}

/**
 * One host's container engine, read over one SSH connection that also checked the host key
 * against its pin: what `docker info` and `docker system df` report. A host whose key does not
 * match is never asked (no connection is made), so it has no engine fields, only the reason.
 */
export interface EngineState {
  host: string;
  /** The host-key check of that same connection. */
  hostKey: { state: HostKeyState; detail: string };
  /** The host image it booted from, as {@link HostStatus.hostImage}. @default none: a bare base system */
  hostImage?: string;
  /** What `docker info` reports. @default none: see {@link reason} */
  engine?: EngineInfo;
  /** What `docker system df` reports, a row per type. @default none: see {@link reason} */
  disk?: EngineDiskUsage[];
  /** Why {@link engine} or {@link disk} is missing (a host-key mismatch, an unreachable host, an engine that did not answer). @default none */
  reason?: string;
}

/** A host of the environment and how to reach it over SSH (its pinned host key in `target`). */
export interface EnvironmentHost {
  name: string;
  /** What it serves: a slot, or an accessory. */
  role: SlotName | "accessory";
  /** True for a slot's prepared hosts (a rollout that has not committed them). @default false */
  prepared?: boolean;
  target: SshTarget;
}

/** Progress lines from a driver (per host, per phase); never carries secrets. */
export type ProgressFn = (message: string) => void;

/** A command run once before traffic moves (`rollout.beforeSwitch`, see {@link SlotDriver.runHook}). */
export interface HookSpec {
  /** The whole argv (it replaces the image's ENTRYPOINT and CMD). */
  command: string[];
  /** Compose apps only: the service whose container the hook is like. @default the served service (`app.service`) */
  service?: string;
  /** Stopped and failed after this long. */
  timeoutMs: number;
}

/** What a hook did. Its output is already redacted of the app's secrets. */
export interface HookResult {
  /** The host it ran on. */
  host: string;
  /** Its exit code; null when it died on a signal or was stopped at its timeout. */
  exitCode: number | null;
  /** The signal that ended it (`KILL`...), when one did. @default none */
  signal?: string;
  /** True when it was stopped because it ran past its timeout. @default false */
  timedOut?: boolean;
  durationMs: number;
  /** Its last output lines (stdout and stderr, as they came), oldest first. */
  outputTail: string[];
}

/** A lock held across every operator's computer (see {@link SlotDriver.sharedLock}); release is safe to call twice. */
export interface HeldSharedLock {
  release(): Promise<void>;
}

/** What a rollout needs from the infrastructure. */
export interface SlotDriver {
  /** How messages name the driver (`the aws driver`). @default "this driver" */
  readonly name?: string;
  /** The current state of both slots and the live slot. */
  status(): Promise<EnvironmentStatus>;
  /**
   * Gives `slot` fresh hosts running `image` (never patches existing ones), beside whatever the slot
   * has (the previous version kept for rollback stays until {@link commitSlot}: a driver that cannot
   * keep both says so in the report's progress). On failure the driver removes the hosts it created.
   */
  prepareSlot(slot: SlotName, image: string, size: number, progress: ProgressFn): Promise<HostStatus[]>;
  /**
   * Probes the health endpoint of every host of `slot` once, directly (not through the balancer):
   * the prepared hosts while there are any, else the slot's hosts.
   */
  probe(slot: SlotName): Promise<ProbeResult[]>;
  /** The prepared hosts passed their gate: they become the slot's, and what the slot had before goes. */
  commitSlot(slot: SlotName, progress: ProgressFn): Promise<void>;
  /** The prepared hosts failed: they go, and the slot keeps what it had (the rollback target). */
  discardPrepared(slot: SlotName, progress: ProgressFn): Promise<void>;
  /**
   * What each prepared (else current) host's app container is doing, with its last log lines, so a
   * gate can end early when a container has exited or keeps restarting. Optional: a driver that
   * cannot look inside hosts leaves it out.
   */
  appStates?(slot: SlotName): Promise<AppState[]>;
  /**
   * Runs `hook` once, in a new container like the app's (same image, env file, volumes and user)
   * on the first prepared host of `slot`, streaming each output line (secrets redacted) to
   * `progress`, and stops it at its timeout. Resolves with what it did for any exit code; rejects
   * only when it could not be run or watched. Optional: a driver without it cannot run hooks, and
   * the engine refuses a configured hook before it prepares anything.
   */
  runHook?(slot: SlotName, hook: HookSpec, progress: ProgressFn): Promise<HookResult>;
  /**
   * Checks the SSH host key of every host of `slot` against its pin: one handshake each, with the
   * pinned host-key policy, changing nothing. A driver that cannot check yet says `unknown` for
   * each host rather than guessing.
   */
  checkHostKeys(slot: SlotName): Promise<HostKeyResult[]>;
  /**
   * Reads the container engine of every host of `slot` (see {@link EngineState}): one SSH
   * connection and one read-only command per host, in parallel, the host key checked as
   * {@link checkHostKeys} does. Optional: a driver that cannot reach its hosts' engines leaves it
   * out, and `status` says so.
   */
  engineStates?(slot: SlotName): Promise<EngineState[]>;
  /**
   * Every host of the environment reachable over SSH: both slots' (prepared ones too) and the
   * accessories', for maintenance verbs (`prune`). Optional: a driver whose hosts longshore does
   * not reach over SSH leaves it out.
   */
  sshHosts?(): Promise<EnvironmentHost[]>;
  /**
   * Sends new traffic to `slot`; connections to the other slot finish (drain) within `drainMs`.
   * Must not drop a request.
   */
  switchTraffic(slot: SlotName, drainMs: number): Promise<void>;
  /** Removes the hosts of `slot` (it must not be live). */
  retireSlot(slot: SlotName, progress: ProgressFn): Promise<void>;
  /**
   * Takes the environment's lock shared by every operator (the computer's own lock is taken
   * first, by the caller), refusing with a LockHeldError that names the holder. Optional: a driver
   * whose environment lives on one computer needs none.
   */
  sharedLock?(operation: string): Promise<HeldSharedLock>;
}
