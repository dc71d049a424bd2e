/**
 * A scripted SlotDriver and a clock that only moves when slept on, for unit tests of the rollout
 * engine and the operations built on it.
 */
import type { Clock } from "../../rollout/rollout";
import type { EnvironmentStatus, HookResult, HookSpec, HostKeyState, HostStatus, ProbeResult, ProgressFn, SlotDriver, SlotName } from "../../rollout/driver";

/** A clock that only moves when the engine sleeps (plus a fixed cost per probe). */
export function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

export type ProbeScript = (slot: SlotName, round: number) => ProbeResult[];

/** What a scripted hook does: its result, given the slot's prepared hosts (the first is where it runs). */
export type HookScript = (slot: SlotName, hook: HookSpec, progress: ProgressFn, prepared: HostStatus[]) => HookResult | Promise<HookResult>;

/** A driver that records every call and answers probes from a script; with `hook`, it can run a before-switch hook. */
export function fakeDriver(init: { live: SlotName | null; blue?: string | null; green?: string | null; size?: number }, script: ProbeScript, hook?: HookScript) {
  const calls: string[] = [];
  const rounds: Record<SlotName, number> = { blue: 0, green: 0 };
  const hosts = (slot: SlotName, image: string | null, n: number): HostStatus[] =>
    image === null ? [] : Array.from({ length: n }, (_, i) => ({ name: `${slot}-${i + 1}`, address: `10.0.0.${i}`, image }));
  const state: EnvironmentStatus = {
    live: init.live,
    url: "http://127.0.0.1:8080/",
    slots: {
      blue: { image: init.blue ?? null, hosts: hosts("blue", init.blue ?? null, init.size ?? 2) },
      green: { image: init.green ?? null, hosts: hosts("green", init.green ?? null, init.size ?? 2) },
    },
  };
  const failOn = new Set<string>();
  // What prepareSlot made, beside what the slot keeps until commitSlot.
  const prepared: Partial<Record<SlotName, { image: string; hosts: HostStatus[] }>> = {};
  /** Host-key states by host name, where a real handshake would not find the pinned key. */
  const keys = new Map<string, { state: HostKeyState; detail: string }>();
  const driver: SlotDriver = {
    async status() {
      return structuredClone(state);
    },
    async prepareSlot(slot, image, size) {
      calls.push(`prepare ${slot} ${image} x${size}`);
      if (failOn.has("prepare")) throw new Error("no capacity");
      prepared[slot] = { image, hosts: hosts(slot, image, size) };
      return prepared[slot].hosts;
    },
    async commitSlot(slot) {
      calls.push(`commit ${slot}`);
      const p = prepared[slot];
      if (!p) throw new Error(`nothing prepared for ${slot}`);
      state.slots[slot] = p;
      delete prepared[slot];
    },
    async discardPrepared(slot) {
      calls.push(`discard ${slot}`);
      delete prepared[slot];
    },
    async probe(slot) {
      calls.push(`probe ${slot}`);
      return script(slot, rounds[slot]++);
    },
    async checkHostKeys(slot) {
      calls.push(`keys ${slot}`);
      return state.slots[slot].hosts.map((h) => ({ host: h.name, ...(keys.get(h.name) ?? { state: "match" as const, detail: "presented the pinned key" }) }));
    },
    async switchTraffic(slot, drainMs) {
      calls.push(`switch ${slot} drain=${drainMs}`);
      if (failOn.has(`switch ${slot}`)) throw new Error(`lb refused ${slot}`);
      state.live = slot;
    },
    async retireSlot(slot) {
      calls.push(`retire ${slot}`);
      delete prepared[slot];
      state.slots[slot] = { image: null, hosts: [] };
    },
  };
  if (hook) {
    driver.runHook = async (slot, spec, progress) => {
      calls.push(`hook ${slot} ${spec.command.join(" ")}`);
      return hook(slot, spec, progress, prepared[slot]?.hosts ?? []);
    };
  }
  return { driver, calls, state, failOn, prepared, keys };
}

