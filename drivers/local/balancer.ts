/**
 * The environment's load balancer on this computer: HAProxy, owned by longshore, living in a
 * machine-less state directory named after the environment. Servers change by a graceful reload;
 * traffic switches through the runtime API's map, without a reload.
 */
import { haproxyRuntime, reloadHaproxy, startHaproxy, switchSlot } from "./haproxy";
import type { HaproxyServer } from "./haproxy-config";
import { DEFAULT_BRIDGE } from "./network";
import { envDir, envStateFile, type LocalPaths } from "./paths";
import { isSameProcess, sleep } from "./proc";
import { loadEnvState, newEnvState, StateStore } from "./state";
import { DEFAULT_SUBNET } from "./subnet";
import type { FleetHost, LocalBalancer } from "./slot-driver";
import type { SlotName } from "../../rollout/driver";
import type { HealthSpec } from "../../model/health";
import type { ListenAddress } from "../../model/net";

/** Where the environment's HAProxy listens and what it checks. */
export interface BalancerOptions {
  env: string;
  paths: LocalPaths;
  listen: ListenAddress;
  /** The port the app answers on, on each host. */
  hostPort: number;
  health: HealthSpec;
}

function balancerStore(o: BalancerOptions): StateStore {
  const file = envStateFile(o.paths, o.env);
  const existing = loadEnvState(file);
  if (existing) return new StateStore(file, existing);
  const fresh = newEnvState({
    env: o.env,
    stateDir: envDir(o.paths, o.env),
    sharedDir: o.paths.sharedDir,
    bridge: DEFAULT_BRIDGE,
    subnet: DEFAULT_SUBNET,
    gateway: "",
    now: new Date(),
  });
  const store = new StateStore(file, { ...fresh, phase: "ready" });
  store.update((s) => s);
  return store;
}

/** HAProxy through the local driver: reload when servers change, switch by map without reload. */
export function localBalancer(o: BalancerOptions): LocalBalancer {
  const health = o.health;
  const servers = (hosts: FleetHost[]): HaproxyServer[] => hosts.map((h) => ({ name: h.name, address: h.address, port: o.hostPort }));
  return {
    async setServers(slots) {
      const store = balancerStore(o);
      const spec = { port: o.listen.port, address: o.listen.address, slots: { blue: servers(slots.blue), green: servers(slots.green) }, health };
      const running = store.state.haproxy?.processes.some((p) => isSameProcess(p.pid, p.startTime)) ?? false;
      if (!running) {
        // Starting fresh: the slot that has servers is where new requests go until a switch says otherwise.
        const live: SlotName = store.state.haproxy?.liveSlot ?? (slots.blue.length ? "blue" : "green");
        if (store.state.haproxy) store.update(({ haproxy: _stale, ...rest }) => rest);
        await startHaproxy(store, { ...spec, live });
      } else {
        await reloadHaproxy(store, spec);
      }
    },
    async activate(slot, hosts, drainMs) {
      const store = balancerStore(o);
      const rec = store.state.haproxy;
      if (!rec) throw new Error(`environment ${o.env} runs no HAProxy: nothing to switch`);
      // HAProxy's own checks must see the new servers up (rise = healthyRounds) before traffic moves.
      const rounds = o.health.healthyRounds + 2;
      const timeoutMs = Math.max(10_000, rounds * (o.health.intervalSeconds + o.health.timeoutSeconds) * 1000);
      await haproxyRuntime(rec).waitForStatus(slot, hosts.map((h) => h.name), "UP", timeoutMs);
      await switchSlot(store, slot);
      // HTTP mode routes per request: requests already on the old slot finish there. Give them time.
      await sleep(drainMs);
    },
  };
}

