/**
 * Wires the local slot driver to real parts: each slot generation is a local machine group (its own
 * local environment, so `local ls` shows it and `local down` can remove it), and the environment's
 * HAProxy lives in a machine-less local environment named after the environment itself.
 */
import { downEnvironment, listEnvironments, readEnvironment, upEnvironment } from "./environment";
import { reloadHaproxy, startHaproxy, switchSlot } from "./haproxy";
import type { HaproxyServer } from "./haproxy-config";
import { DEFAULT_BRIDGE } from "./network";
import { defaultPaths, envDir, envStateFile, type LocalPaths } from "./paths";
import { isSameProcess, sleep } from "./proc";
import { loadEnvState, newEnvState, StateStore } from "./state";
import { DEFAULT_SUBNET } from "./subnet";
import { LocalSlotDriver, type FleetHost, type LocalBalancer, type LocalFleet, type ProvisionFn } from "./slot-driver";
import type { SlotName } from "../rollout/driver";
import type { Environment } from "../config/environment";

/** Machine groups as local environments. */
export function localFleet(paths: LocalPaths): LocalFleet {
  return {
    async create(group, size, progress) {
      const up = await upEnvironment({ env: group, machines: size, paths, progress });
      return up.machines.map((m): FleetHost => ({ name: m.name, address: m.address }));
    },
    async destroy(group, progress) {
      await downEnvironment({ env: group, paths, progress });
    },
  };
}

/** Where the environment's HAProxy listens and what it checks. */
export interface BalancerOptions {
  env: string;
  paths: LocalPaths;
  listen: { address: string; port: number };
  appPort: number;
  healthPath: string;
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
  const health = { path: o.healthPath, expectStatus: 200, intervalMs: 1000, fall: 2, rise: 2 };
  const servers = (hosts: FleetHost[]): HaproxyServer[] => hosts.map((h) => ({ name: h.name, address: h.address, port: o.appPort }));
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
    async activate(slot, drainMs) {
      await switchSlot(balancerStore(o), slot);
      // HTTP mode routes per request: requests already on the old slot finish there. Give them time.
      await sleep(drainMs);
    },
  };
}

/** Parses `ADDRESS:PORT`. */
export function parseListen(listen: string): { address: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { address: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

/** The local driver for an environment file, with real machines and HAProxy. */
export function createLocalDriver(env: Environment, provision: ProvisionFn, paths: LocalPaths = defaultPaths()): LocalSlotDriver {
  const listen = parseListen(env.local.listen);
  return new LocalSlotDriver({
    env: env.name,
    stateDir: envDir(paths, env.name),
    appPort: env.app.port,
    healthPath: env.app.healthPath,
    url: `http://${listen.address}:${listen.port}/`,
    fleet: localFleet(paths),
    provision,
    balancer: localBalancer({ env: env.name, paths, listen, appPort: env.app.port, healthPath: env.app.healthPath }),
  });
}

/**
 * Removes everything of an environment: every machine group it created (also ones a crash left
 * behind, found by name), then its load balancer.
 */
export async function destroyLocalEnvironment(envName: string, progress: (line: string) => void, paths: LocalPaths = defaultPaths()): Promise<string[]> {
  const groups = listEnvironments(paths).filter((g) => new RegExp(`^${envName}-(blue|green)-g\\d+$`).test(g));
  for (const g of groups) await downEnvironment({ env: g, paths, progress });
  if (readEnvironment(envName, paths)) await downEnvironment({ env: envName, paths, progress });
  return groups;
}
