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
import { LocalSlotDriver, type FleetHost, type GroupProvisioner, type LocalBalancer, type LocalFleet } from "./slot-driver";
import type { SlotName } from "../../rollout/driver";
import type { Environment } from "../../model/environment";
import { hostPortOf } from "../../model/app";
import type { HealthSpec } from "../../model/health";
import type { ListenAddress } from "../../model/net";

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
    async activate(slot, drainMs) {
      await switchSlot(balancerStore(o), slot);
      // HTTP mode routes per request: requests already on the old slot finish there. Give them time.
      await sleep(drainMs);
    },
  };
}

/** The local driver for an environment, with real machines and HAProxy. */
export function createLocalDriver(env: Environment, provisioner: GroupProvisioner, paths: LocalPaths = defaultPaths()): LocalSlotDriver {
  const listen = env.local.listen;
  const hostPort = hostPortOf(env.app);
  return new LocalSlotDriver({
    env: env.name,
    stateDir: envDir(paths, env.name),
    hostPort,
    health: env.app.health,
    url: `http://${listen.address}:${listen.port}/`,
    fleet: localFleet(paths),
    provisioner,
    balancer: localBalancer({ env: env.name, paths, listen, hostPort, health: env.app.health }),
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
