/**
 * The local rollout driver: slots are sets of local machines, traffic is HAProxy. It composes three
 * narrower parts (a machine fleet, a provisioner, a balancer), each injected, so the slot
 * bookkeeping here is tested with fakes and the e2e test runs it on real machines.
 */
import { otherSlot } from "../../model/names";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../../core/atomic-write";
import type { HealthSpec } from "../../model/health";
import type { SshTarget } from "../../model/ssh-target";
import type { AppState, EngineState, EnvironmentHost, EnvironmentStatus, HookResult, HookSpec, HostKeyResult, HostStatus, ProbeResult, ProgressFn, SlotDriver, SlotName } from "../../rollout/driver";
import { probeHttp } from "../../rollout/http-probe";

/** A machine of the fleet, as the driver needs it. */
export interface FleetHost {
  name: string;
  address: string;
  /** The host image it booted from (drivers/local/host-image.ts). @default none: the bare template */
  hostImage?: string;
}

/** Creates and removes groups of machines (one group per slot generation). */
export interface LocalFleet {
  /** Creates a group of `size` machines, all ready for SSH; removes what it created if one fails. */
  create(group: string, size: number, progress: ProgressFn): Promise<FleetHost[]>;
  /** Removes a group (a missing one is fine). */
  destroy(group: string, progress: ProgressFn): Promise<void>;
}

/** Puts an image on a fresh group: engine, image, container on each host. */
export interface GroupProvisioner {
  /**
   * Everything that can be settled without a host (the engine bundle, the image's source), so a
   * problem shows before any machine is created. Called before each group is created.
   */
  prepare(image: string, progress: ProgressFn): Promise<void>;
  /**
   * Provisions every host of a fresh group with `image`. The hosts of the `lenders` groups (the
   * environment's running ones) may lend the image's blobs they hold; nothing else on them changes.
   */
  provision(group: string, hosts: FleetHost[], image: string, slot: SlotName, progress: ProgressFn, lenders?: readonly string[]): Promise<void>;
  /** The host image fresh groups boot from, once `prepare` settled it; null for the bare template. */
  hostImage?(): { id: string; layer: string } | null;
}

/** The load balancer's view: which servers each slot has and which slot is live. */
export interface LocalBalancer {
  /** Sets the servers of both slots. Servers of a slot that is not live take no traffic. */
  setServers(slots: Record<SlotName, FleetHost[]>): Promise<void>;
  /**
   * New requests go to `slot` once the balancer's own checks see `hosts` up (a switch never sends
   * traffic to servers it has not checked); requests in flight to the other slot finish within `drainMs`.
   */
  activate(slot: SlotName, hosts: readonly FleetHost[], drainMs: number): Promise<void>;
}

/** Hosts of one slot generation: its machine group and the image it runs (null while provisioning). */
export interface SlotGroup {
  image: string | null;
  group: string | null;
  hosts: FleetHost[];
}

/** What the driver remembers between commands, in the environment's state directory. */
export interface SlotState {
  generation: number;
  live: SlotName | null;
  /**
   * Each slot's hosts, and the group being prepared for it: the slot keeps its hosts (the previous
   * version, the rollback target) until the prepared group passed its gate.
   */
  slots: Record<SlotName, SlotGroup & { prepared?: SlotGroup | null }>;
}

/** An environment with nothing in it. */
export function emptySlotState(): SlotState {
  const none = { image: null, group: null, hosts: [] };
  return { generation: 0, live: null, slots: { blue: { ...none }, green: { ...none } } };
}

/** A group's name: environment, slot and generation, so a new version never reuses a machine. */
export function groupName(env: string, slot: SlotName, generation: number): string {
  return `${env}-${slot}-g${generation}`;
}

/** Options for {@link LocalSlotDriver}. */
export interface LocalSlotDriverOptions {
  env: string;
  /** Where slots.json lives (the environment's state directory). */
  stateDir: string;
  /** The port traffic reaches the app on, on each host. */
  hostPort: number;
  /** The app's health check (`app.health`). */
  health: HealthSpec;
  /** The URL users reach (HAProxy's frontend). */
  url: string;
  fleet: LocalFleet;
  provisioner: GroupProvisioner;
  balancer: LocalBalancer;
  /** What the app's container does on each machine of a group; without it the gate only probes HTTP. @default none */
  appStates?: (group: string) => Promise<AppState[]>;
  /** Checks the pinned SSH host key of each host of a group (host-keys.ts with the real transport). */
  hostKeys: (group: string, hosts: FleetHost[]) => Promise<HostKeyResult[]>;
  /**
   * Runs a before-switch hook on `host` of `group`, which runs `image` (hook-runner.ts). Without it
   * the driver has no `runHook`, and the engine refuses a configured hook before preparing. @default none
   */
  runHook?: (group: string, host: FleetHost, image: string, hook: HookSpec, progress: ProgressFn) => Promise<HookResult>;
  /**
   * Reads the container engine of each host of a group over one pinned SSH connection each
   * (engine-states.ts). Without it the driver has no `engineStates`. @default none
   */
  engineStates?: (group: string, hosts: FleetHost[]) => Promise<EngineState[]>;
  /**
   * How hosts are reached over SSH: the pinned targets of a group's machines, and the environment's
   * hosts outside its slots (its accessories'). Without it the driver has no `sshHosts`. @default none
   */
  ssh?: { targets(group: string): SshTarget[]; otherHosts(): EnvironmentHost[] };
  /** How messages name this driver. @default "the local driver" */
  name?: string;
}

/** Slots on local machines. */
export class LocalSlotDriver implements SlotDriver {
  private readonly file: string;
  readonly name: string;
  /** Present only when the options give a hook runner (see {@link LocalSlotDriverOptions.runHook}). @default none */
  readonly runHook?: (slot: SlotName, hook: HookSpec, progress: ProgressFn) => Promise<HookResult>;
  /** Present only when the options give an engine reader (see {@link LocalSlotDriverOptions.engineStates}). @default none */
  readonly engineStates?: (slot: SlotName) => Promise<EngineState[]>;
  /** Present only when the options say how hosts are reached (see {@link LocalSlotDriverOptions.ssh}). @default none */
  readonly sshHosts?: () => Promise<EnvironmentHost[]>;

  constructor(private readonly o: LocalSlotDriverOptions) {
    this.file = path.join(o.stateDir, "slots.json");
    this.name = o.name ?? "the local driver";
    const run = o.runHook;
    if (run) this.runHook = async (slot, hook, progress) => {
      // Once, on the first prepared host: the hosts that passed the gate and take traffic next.
      const prepared = (await this.load()).slots[slot].prepared;
      const first = prepared?.hosts[0];
      if (!prepared?.group || prepared.image === null || !first) throw new Error(`the ${slot} slot has no prepared hosts to run the hook on`);
      return run(prepared.group, first, prepared.image, hook, progress);
    };
    const engines = o.engineStates;
    if (engines) this.engineStates = async (slot) => {
      // The slot's own hosts, as status lists them (not a rollout's prepared ones).
      const { group, hosts } = (await this.load()).slots[slot];
      return group === null || hosts.length === 0 ? [] : engines(group, hosts);
    };
    const ssh = o.ssh;
    if (ssh) this.sshHosts = async () => {
      const state = await this.load();
      const out: EnvironmentHost[] = [];
      for (const slot of ["blue", "green"] as const) {
        const { group, prepared } = state.slots[slot];
        for (const [g, isPrepared] of [[group, false], [prepared?.group ?? null, true]] as const) {
          if (g === null) continue;
          for (const target of ssh.targets(g)) out.push({ name: target.name, role: slot, ...(isPrepared ? { prepared: true } : {}), target });
        }
      }
      return [...out, ...ssh.otherHosts()];
    };
  }

  /** The persisted slot state (empty when the environment has none yet). */
  async load(): Promise<SlotState> {
    try {
      return JSON.parse(await fs.readFile(this.file, "utf8")) as SlotState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptySlotState();
      throw e;
    }
  }

  private async save(state: SlotState): Promise<void> {
    writeFileAtomic(this.file, JSON.stringify(state, null, 2) + "\n", 0o600);
  }

  async status(): Promise<EnvironmentStatus> {
    const s = await this.load();
    const view = (slot: SlotName) => ({
      image: s.slots[slot].image,
      hosts: s.slots[slot].hosts.map((h): HostStatus => ({ ...h, image: s.slots[slot].image ?? "" })),
    });
    return { live: s.live, url: this.o.url, slots: { blue: view("blue"), green: view("green") } };
  }

  async prepareSlot(slot: SlotName, image: string, size: number, progress: ProgressFn): Promise<HostStatus[]> {
    const state = await this.load();
    if (state.live === slot) throw new Error(`refusing to replace the live slot (${slot})`);
    await this.o.provisioner.prepare(image, progress);
    // A group a crashed rollout left half-prepared is nobody's rollback target.
    await this.dropPrepared(state, slot, progress);
    state.generation += 1;
    const group = groupName(this.o.env, slot, state.generation);
    const kept = state.slots[slot].group;
    if (kept) progress(`keeping ${kept} (${state.slots[slot].image}) until the new hosts pass their gate`);
    // Record the group before creating it, so a crash half-way still lets `destroy` find it.
    state.slots[slot].prepared = { image: null, group, hosts: [] };
    await this.save(state);
    try {
      const hosts = await this.o.fleet.create(group, size, progress);
      state.slots[slot].prepared = { image: null, group, hosts };
      await this.save(state);
      // The running groups (the live slot's, and this slot's kept one) hold most of an update's layers.
      const lenders = [state.slots[otherSlot(slot)].group, kept].filter((g): g is string => g !== null);
      await this.o.provisioner.provision(group, hosts, image, slot, progress, lenders);
      state.slots[slot].prepared = { image, group, hosts };
      await this.save(state);
      // The idle slot takes no traffic: the balancer checks the new hosts while the gate runs.
      await this.o.balancer.setServers(serversOf(state));
      return hosts.map((h) => ({ ...h, image }));
    } catch (e) {
      // The group stays recorded until it is gone, so the next rollout (or `destroy`) removes it if
      // this removal fails; and that failure must not hide why the slot could not be prepared.
      await this.dropPrepared(state, slot, progress).catch((d: unknown) => progress(`could not remove ${group}: ${(d as Error).message}`));
      throw e;
    }
  }

  async probe(slot: SlotName): Promise<ProbeResult[]> {
    const s = (await this.load()).slots[slot];
    const hosts = s.prepared ? s.prepared.hosts : s.hosts;
    return Promise.all(
      hosts.map((h) =>
        probeHttp(h.name, `http://${h.address}:${this.o.hostPort}${this.o.health.path}`, {
          timeoutMs: this.o.health.timeoutSeconds * 1000,
          expectStatus: this.o.health.status,
        }),
      ),
    );
  }

  async appStates(slot: SlotName): Promise<AppState[]> {
    const s = (await this.load()).slots[slot];
    const group = s.prepared?.group ?? s.group;
    return group && this.o.appStates ? this.o.appStates(group) : [];
  }

  async commitSlot(slot: SlotName, progress: ProgressFn): Promise<void> {
    const state = await this.load();
    const prepared = state.slots[slot].prepared;
    if (!prepared || prepared.image === null) throw new Error(`the ${slot} slot has no prepared hosts to commit`);
    const previous = state.slots[slot].group;
    state.slots[slot] = { image: prepared.image, group: prepared.group, hosts: prepared.hosts, prepared: null };
    await this.save(state);
    if (previous) {
      // Removing the version the slot kept is cleanup: the environment file no longer names it.
      await this.o.fleet.destroy(previous, progress).catch((e: unknown) => progress(`could not remove ${previous}: ${(e as Error).message}; \`longshore destroy\` removes it`));
    }
  }

  async discardPrepared(slot: SlotName, progress: ProgressFn): Promise<void> {
    const state = await this.load();
    await this.dropPrepared(state, slot, progress);
  }

  async checkHostKeys(slot: SlotName): Promise<HostKeyResult[]> {
    const { group, hosts } = (await this.load()).slots[slot];
    return group === null || hosts.length === 0 ? [] : this.o.hostKeys(group, hosts);
  }

  async switchTraffic(slot: SlotName, drainMs: number): Promise<void> {
    const state = await this.load();
    const { hosts } = state.slots[slot];
    if (hosts.length === 0) throw new Error(`the ${slot} slot has no hosts to send traffic to`);
    await this.o.balancer.activate(slot, hosts, drainMs);
    state.live = slot;
    await this.save(state);
  }

  async retireSlot(slot: SlotName, progress: ProgressFn): Promise<void> {
    const state = await this.load();
    if (state.live === slot) throw new Error(`refusing to retire the live slot (${slot})`);
    await this.dropPrepared(state, slot, progress);
    await this.clearSlot(state, slot, progress);
  }

  /** Removes the slot's prepared group, if any, and gives the balancer back the slot's own hosts. */
  private async dropPrepared(state: SlotState, slot: SlotName, progress: ProgressFn): Promise<void> {
    const prepared = state.slots[slot].prepared;
    if (!prepared?.group) return;
    await this.o.balancer.setServers(serversOf({ ...state, slots: { ...state.slots, [slot]: { ...state.slots[slot], prepared: null } } }));
    await this.o.fleet.destroy(prepared.group, progress);
    state.slots[slot].prepared = null;
    await this.save(state);
  }

  private async clearSlot(state: SlotState, slot: SlotName, progress: ProgressFn): Promise<void> {
    const { group } = state.slots[slot];
    if (group === null) return;
    state.slots[slot] = { image: null, group: null, hosts: [], prepared: null };
    await this.o.balancer.setServers(serversOf(state));
    await this.o.fleet.destroy(group, progress);
    await this.save(state);
  }
}

/** What the balancer checks for each slot: the prepared hosts while there are any, else the slot's. */
function serversOf(state: SlotState): Record<SlotName, FleetHost[]> {
  const of = (slot: SlotName) => state.slots[slot].prepared?.hosts ?? state.slots[slot].hosts;
  return { blue: of("blue"), green: of("green") };
}
