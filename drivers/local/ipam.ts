/**
 * The state every environment on this computer shares: the bridge, who uses it, which address each
 * machine has, and the sysctls raised for the machines. Decisions are pure functions over this data;
 * `shared-state.ts` loads and saves it under a lock.
 */
import { z } from "zod";
import { ConfigError } from "../../core/errors";
import { machinePool, parseSubnet } from "./subnet";

const SysctlChange = z.object({ key: z.string(), previous: z.string(), value: z.string() });

/** The shared allocation file (`<sharedDir>/ipam.json`). */
export const SharedStateSchema = z.object({
  version: z.literal(1),
  bridge: z
    .object({
      name: z.string(),
      cidr: z.string(),
      gateway: z.string(),
      /** False when the bridge existed before longshore first used it: then it is never removed. */
      createdByLongshore: z.boolean(),
    })
    .nullable(),
  /** Environments using the bridge, keyed by their state file's absolute path. */
  users: z.record(z.string(), z.object({ env: z.string(), since: z.string() })),
  /** Address -> owner. */
  allocations: z.record(z.string(), z.object({ user: z.string(), machine: z.string() })),
  /** Kernel settings raised while machines run; restored when the last environment is gone. */
  sysctls: z.array(SysctlChange),
});

/** See {@link SharedStateSchema}. */
export type SharedState = z.infer<typeof SharedStateSchema>;

/** A sysctl change recorded so it can be undone. */
export type SysctlChange = z.infer<typeof SysctlChange>;

/** The state before anything was created. */
export function emptySharedState(): SharedState {
  return { version: 1, bridge: null, users: {}, allocations: {}, sysctls: [] };
}

/**
 * Gives each of `machines` an address for `user`: an address it already holds is kept (re-runs
 * are stable), otherwise the lowest free one. Throws when the pool is exhausted.
 */
export function allocateAddresses(
  state: SharedState,
  cidr: string,
  user: string,
  machines: readonly string[],
): { state: SharedState; addresses: Record<string, string> } {
  const allocations = { ...state.allocations };
  const addresses: Record<string, string> = {};
  for (const [ip, owner] of Object.entries(allocations)) {
    if (owner.user === user && machines.includes(owner.machine)) addresses[owner.machine] = ip;
  }
  const free = machinePool(parseSubnet(cidr)).filter((ip) => !(ip in allocations));
  const missing = machines.filter((m) => !(m in addresses));
  if (missing.length > free.length) {
    throw new ConfigError("--machines", [
      {
        path: "--machines",
        message: `${missing.length} more machine(s) asked for but only ${free.length} address(es) are free in ${cidr}`,
      },
    ]);
  }
  missing.forEach((m, i) => {
    const ip = free[i]!;
    allocations[ip] = { user, machine: m };
    addresses[m] = ip;
  });
  return { state: { ...state, allocations }, addresses };
}

/** Frees the addresses of `user` (all of them, or only those of `machines`). */
export function releaseAddresses(state: SharedState, user: string, machines?: readonly string[]): SharedState {
  const allocations = Object.fromEntries(
    Object.entries(state.allocations).filter(
      ([, o]) => !(o.user === user && (machines === undefined || machines.includes(o.machine))),
    ),
  );
  return { ...state, allocations };
}

/** Registers `user` as a user of the bridge. */
export function addUser(state: SharedState, user: string, env: string, now: string): SharedState {
  if (state.users[user]) return state;
  return { ...state, users: { ...state.users, [user]: { env, since: now } } };
}

/** Removes `user` and every address it holds. */
export function removeUser(state: SharedState, user: string): SharedState {
  const users = { ...state.users };
  delete users[user];
  return releaseAddresses({ ...state, users }, user);
}

/**
 * Forgets users whose state file no longer exists (deleted by hand after a crash): their addresses
 * would otherwise be lost forever. `exists` is injected so this stays pure.
 */
export function dropVanishedUsers(state: SharedState, exists: (stateFile: string) => boolean): SharedState {
  let next = state;
  for (const user of Object.keys(state.users)) if (!exists(user)) next = removeUser(next, user);
  for (const o of Object.values(next.allocations)) {
    if (!next.users[o.user] && !exists(o.user)) next = releaseAddresses(next, o.user);
  }
  return next;
}

/** Total number of machines holding an address on the bridge. */
export function machineCount(state: SharedState): number {
  return Object.keys(state.allocations).length;
}

/** The bridge as the shared state records it. */
export type BridgeRecord = NonNullable<SharedState["bridge"]>;

/** What joining the bridge has to do. */
export type BridgePlan =
  | { action: "create"; bridge: BridgeRecord }
  | { action: "adopt"; bridge: BridgeRecord }
  | { action: "use" }
  | { action: "refuse"; path: string; message: string };

/**
 * Decides how an environment joins the bridge, from the shared record and the link's current
 * addresses (null: no such link). A link that exists but was not made by longshore is adopted only
 * when it already has our gateway address, and is then never removed.
 */
export function planBridge(shared: SharedState, linkAddresses: readonly string[] | null, want: { name: string; cidr: string; gateway: string; prefix: number }): BridgePlan {
  if (shared.bridge && (shared.bridge.name !== want.name || shared.bridge.cidr !== want.cidr)) {
    return { action: "refuse", path: "--subnet", message: `the local bridge ${shared.bridge.name} already serves ${shared.bridge.cidr} for other environments` };
  }
  const record = { name: want.name, cidr: want.cidr, gateway: want.gateway };
  if (linkAddresses === null) return { action: "create", bridge: { ...record, createdByLongshore: true } };
  if (shared.bridge) return { action: "use" };
  if (!linkAddresses.includes(`${want.gateway}/${want.prefix}`)) {
    return {
      action: "refuse",
      path: "--bridge",
      message: `a link named ${want.name} exists with addresses [${linkAddresses.join(", ")}], not ${want.gateway}/${want.prefix}; longshore will not change it`,
    };
  }
  return { action: "adopt", bridge: { ...record, createdByLongshore: false } };
}

/**
 * What leaving the bridge has to undo once `user` is gone: when nobody is left, the sysctls go back
 * to their recorded values and the bridge is removed — only if longshore created it.
 */
export function planLeave(shared: SharedState, user: string, exists: (stateFile: string) => boolean): {
  state: SharedState;
  restoreSysctls: SysctlChange[];
  removeBridge: string | null;
} {
  let next = dropVanishedUsers(removeUser(shared, user), (f) => f !== user && exists(f));
  if (Object.keys(next.users).length || Object.keys(next.allocations).length) return { state: next, restoreSysctls: [], removeBridge: null };
  const removeBridge = next.bridge?.createdByLongshore ? next.bridge.name : null;
  const restoreSysctls = next.sysctls;
  next = { ...next, bridge: null, sysctls: [] };
  return { state: next, restoreSysctls, removeBridge };
}
