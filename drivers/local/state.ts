/**
 * The on-disk record of one local environment: every resource `up` created, written atomically
 * BEFORE the resource is created (its intent) and updated after. `down` reads it and removes
 * exactly what it lists — also after a crash or a half-finished `up` — and nothing else.
 */
import * as fs from "node:fs";
import { z } from "zod";
import { machineGroupNameSchema } from "../../model/names";
import { ConfigError } from "../../core/errors";
import { readFileIfExists, writeFileAtomic } from "../../core/atomic-write";

/** How far a machine got. `intent`: recorded, maybe partly created. */
export const MachinePhase = z.enum(["intent", "prepared", "running", "stopped"]);

/** One machine and every resource that belongs to it. */
export const MachineRecordSchema = z.object({
  name: z.string(),
  /** nspawn's `-M` name (short; names the veth). */
  nspawnName: z.string(),
  address: z.string(),
  phase: MachinePhase,
  /** The machine's directory on the controller (upper, work, docker, keys, log). */
  dir: z.string(),
  /** The overlay mount point (the machine's `/`). */
  rootDir: z.string(),
  upperDir: z.string(),
  workDir: z.string(),
  /** Real directory bound to /var/lib/docker. */
  dockerDir: z.string(),
  logFile: z.string(),
  /** True once the overlay is (or may be) mounted: down unmounts it when /proc/mounts lists it. */
  overlayMounted: z.boolean(),
  /** `HOST:MACHINE` binds made by nspawn inside its own mount namespace (gone with it). */
  binds: z.array(z.string()),
  cgroups: z.array(z.string()),
  veth: z.string(),
  pid: z.number().int().positive().optional(),
  /** /proc/PID/stat start time: a PID whose start time differs is not ours. */
  pidStartTime: z.string().optional(),
  hostKey: z.object({ publicKey: z.string(), fingerprint: z.string() }).optional(),
});

/** See {@link MachineRecordSchema}. */
export type MachineRecord = z.infer<typeof MachineRecordSchema>;

/** A firewall rule longshore added (iptables argv after the `-I/-D CHAIN`). */
export const FirewallRuleSchema = z.object({
  table: z.string(),
  chain: z.string(),
  spec: z.array(z.string()),
  /** `intent`: about to be added; `added`: in the kernel (down deletes it if still there). */
  phase: z.enum(["intent", "added"]),
});

/** See {@link FirewallRuleSchema}. */
export type FirewallRule = z.infer<typeof FirewallRuleSchema>;

/** The HAProxy process longshore owns for this environment. */
export const HaproxyRecordSchema = z.object({
  configFile: z.string(),
  pidFile: z.string(),
  socket: z.string(),
  mapFile: z.string(),
  serverStateFile: z.string(),
  bind: z.object({ address: z.string(), port: z.number().int() }),
  /** Every HAProxy process started and not yet known to be gone (old ones finish in-flight work after a reload). */
  processes: z.array(z.object({ pid: z.number().int().positive(), startTime: z.string() })),
  liveSlot: z.enum(["blue", "green"]),
});

/** See {@link HaproxyRecordSchema}. */
export type HaproxyRecord = z.infer<typeof HaproxyRecordSchema>;

/** The whole state of one environment. */
export const EnvStateSchema = z.object({
  version: z.literal(1),
  env: z.string(),
  /** `up` in progress (or crashed), `up` finished, `down` in progress (or crashed). */
  phase: z.enum(["creating", "ready", "removing"]),
  createdAt: z.string(),
  updatedAt: z.string(),
  stateDir: z.string(),
  /** The shared allocation directory this environment registered with. */
  sharedDir: z.string(),
  bridge: z.string(),
  subnet: z.string(),
  gateway: z.string(),
  template: z.object({ hash: z.string(), rootfs: z.string() }).optional(),
  /** The host image layer the machines boot from, above the template (drivers/local/host-image.ts). */
  hostImage: z.object({ id: z.string(), layer: z.string() }).optional(),
  clientKey: z.object({ privatePath: z.string(), publicPath: z.string(), fingerprint: z.string() }).optional(),
  machines: z.array(MachineRecordSchema),
  firewall: z.array(FirewallRuleSchema),
  haproxy: HaproxyRecordSchema.optional(),
  inventoryFile: z.string().optional(),
  knownHostsFile: z.string().optional(),
});

/** See {@link EnvStateSchema}. */
export type EnvState = z.infer<typeof EnvStateSchema>;

/** Reads an environment's state, or undefined when it has none. */
export function loadEnvState(file: string): EnvState | undefined {
  const text = readFileIfExists(file);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: "(root)", message: `not JSON: ${(e as Error).message}` }]);
  }
  const parsed = EnvStateSchema.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(root)", message: i.message })),
    );
  }
  return parsed.data;
}

/**
 * Keeps an environment's state on disk. Every mutation goes through {@link StateStore.update},
 * which writes the whole file atomically before returning, so the file is never behind reality by
 * more than the one resource being created.
 */
export class StateStore {
  #state: EnvState;

  constructor(
    readonly file: string,
    initial: EnvState,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.#state = initial;
  }

  /** The current state (a snapshot; do not mutate it). */
  get state(): EnvState {
    return this.#state;
  }

  /** Applies `change` to a copy and persists it. */
  update(change: (s: EnvState) => EnvState): EnvState {
    const next = { ...change(structuredClone(this.#state)), updatedAt: this.clock().toISOString() };
    writeFileAtomic(this.file, JSON.stringify(next, null, 2) + "\n", 0o600);
    this.#state = next;
    return next;
  }

  /** Updates one machine by name. */
  updateMachine(name: string, change: (m: MachineRecord) => MachineRecord): EnvState {
    return this.update((s) => ({ ...s, machines: s.machines.map((m) => (m.name === name ? change(m) : m)) }));
  }

  /** Removes the state file (after a complete `down`). */
  remove(): void {
    fs.rmSync(this.file, { force: true });
  }
}

/** A new, empty state for `env`. */
export function newEnvState(args: {
  env: string;
  stateDir: string;
  sharedDir: string;
  bridge: string;
  subnet: string;
  gateway: string;
  now: Date;
}): EnvState {
  const at = args.now.toISOString();
  return {
    version: 1,
    env: args.env,
    phase: "creating",
    createdAt: at,
    updatedAt: at,
    stateDir: args.stateDir,
    sharedDir: args.sharedDir,
    bridge: args.bridge,
    subnet: args.subnet,
    gateway: args.gateway,
    machines: [],
    firewall: [],
  };
}

/** Machine group names: the model's rule. */
export const EnvNameSchema = machineGroupNameSchema;
