/**
 * The shared bridge and the firewall rules a machine group needs on it: joining (the bridge is
 * created by the first group, intent recorded first; addresses allocated under the shared lock;
 * the inotify limit raised when many machines run), leaving (the last group out removes the bridge
 * it created and restores the sysctls), and the group's tagged FORWARD rules.
 */
import * as fs from "node:fs";
import { ConfigError } from "../../core/errors";
import { addUser, allocateAddresses, dropVanishedUsers, machineCount, planBridge, planLeave, type SharedState } from "./ipam";
import {
  addRule,
  assertSubnetFree,
  bridgeForwardRules,
  createBridge,
  deleteLink,
  deleteRule,
  INOTIFY_KEY,
  inotifyNeeded,
  linkAddresses,
  linkExists,
  readSysctl,
  writeSysctl,
} from "./network";
import type { LocalPaths } from "./paths";
import { withSharedState } from "./shared-state";
import type { FirewallRule, StateStore } from "./state";
import { gatewayOf, type parseSubnet } from "./subnet";
import type { Progress } from "./template";

function sameRule(a: { table: string; chain: string; spec: string[] }, b: { table: string; chain: string; spec: string[] }): boolean {
  return a.table === b.table && a.chain === b.chain && a.spec.join("\0") === b.spec.join("\0");
}

/** Adds the group's FORWARD rules on the bridge: each recorded in the group's state first, then added. */
export async function openFirewall(store: StateStore, bridge: string, group: string): Promise<void> {
  await addFirewallRules(store, bridgeForwardRules(bridge, group));
}

/**
 * Adds `rules` in order (each inserted at the top of its chain), each recorded in the group's
 * state first, so the group's `down` removes it whatever point this reached. A rule already in
 * the kernel is left where it is.
 */
export async function addFirewallRules(store: StateStore, rules: readonly FirewallRule[]): Promise<void> {
  for (const rule of rules) {
    const known = store.state.firewall.some((r) => sameRule(r, rule));
    if (!known) store.update((s) => ({ ...s, firewall: [...s.firewall, rule] }));
    await addRule(rule);
    store.update((s) => ({ ...s, firewall: s.firewall.map((r) => (sameRule(r, rule) ? { ...r, phase: "added" } : r)) }));
  }
}

/** Removes every rule the group's state records. */
export async function closeFirewall(store: StateStore): Promise<void> {
  for (const rule of store.state.firewall) await deleteRule(rule);
  store.update((s) => ({ ...s, firewall: [] }));
}

/**
 * Joins the shared bridge under the shared lock: creates the bridge if needed (intent first),
 * registers this environment, allocates addresses and raises the inotify limit when many machines
 * run. Returns machine name -> address.
 */
export async function joinBridge(
  paths: LocalPaths,
  user: string,
  env: string,
  bridge: string,
  subnet: ReturnType<typeof parseSubnet>,
  names: string[],
  progress: Progress,
): Promise<Record<string, string>> {
  return withSharedState(paths, async (loaded, save) => {
    let shared = dropVanishedUsers(loaded, (f) => f === user || fs.existsSync(f));
    const gateway = gatewayOf(subnet);
    const plan = planBridge(shared, await linkAddresses(bridge), { name: bridge, cidr: subnet.cidr, gateway, prefix: subnet.prefix });
    if (plan.action === "refuse") throw new ConfigError("local up", [{ path: plan.path, message: plan.message }]);
    if (plan.action === "create") {
      await assertSubnetFree(subnet, bridge);
      // Intent first: if we die between these two lines, the last `down` still removes the bridge.
      shared = { ...shared, bridge: plan.bridge };
      save(shared);
      progress(`bridge ${bridge}: creating with ${gateway}/${subnet.prefix}`);
      await createBridge(bridge, gateway, subnet.prefix);
    } else if (plan.action === "adopt") {
      // Someone else made it: use it, never remove it.
      shared = { ...shared, bridge: plan.bridge };
    }
    shared = addUser(shared, user, env, new Date().toISOString());
    const allocated = allocateAddresses(shared, subnet.cidr, user, names);
    shared = allocated.state;
    shared = raiseInotifyIfNeeded(shared, progress);
    return { state: shared, result: allocated.addresses };
  });
}

function raiseInotifyIfNeeded(shared: SharedState, progress: Progress): SharedState {
  const current = Number(readSysctl(INOTIFY_KEY));
  const want = inotifyNeeded(machineCount(shared), current);
  if (want === null) return shared;
  const recorded = shared.sysctls.find((s) => s.key === INOTIFY_KEY);
  const next = {
    ...shared,
    sysctls: recorded
      ? shared.sysctls.map((s) => (s.key === INOTIFY_KEY ? { ...s, value: String(want) } : s))
      : [...shared.sysctls, { key: INOTIFY_KEY, previous: String(current), value: String(want) }],
  };
  writeSysctl(INOTIFY_KEY, String(want));
  progress(`${INOTIFY_KEY}: ${current} -> ${want} (restored when the last local environment is down)`);
  return next;
}

/** Leaves the shared bridge: frees this environment's addresses; the last one out removes the bridge it created and restores sysctls. */
export async function leaveBridge(paths: LocalPaths, user: string, progress: Progress): Promise<void> {
  await withSharedState(paths, async (loaded) => {
    const plan = planLeave(loaded, user, (f) => fs.existsSync(f));
    for (const s of plan.restoreSysctls) {
      // Only if nobody changed it since: then it is still our value to undo.
      if (readSysctl(s.key) === s.value) writeSysctl(s.key, s.previous);
      progress(`${s.key}: restored to ${s.previous}`);
    }
    if (plan.removeBridge && linkExists(plan.removeBridge)) {
      await deleteLink(plan.removeBridge);
      progress(`bridge ${plan.removeBridge}: removed (no environment uses it any more)`);
    }
    return { state: plan.state, result: undefined };
  });
}

