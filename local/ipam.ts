/**
 * The state every environment on this computer shares: the bridge, who uses it, which address each
 * machine has, and the sysctls raised for the machines. Decisions are pure functions over this data;
 * `shared-state.ts` loads and saves it under a lock.
 */
import { z } from "zod";
import { ConfigError } from "../core/errors";
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
