/**
 * Where an environment's accessories live on the local driver, and the rules about them that need
 * no machine: each accessory is a one-machine group `<env>-acc-<name>` (model/accessory.ts), its
 * data a directory of this computer, `<stateRoot>/<env>.data/<name>`, bound into the machine at
 * {@link ACCESSORY_DATA_MOUNT} (so it outlives the container, the machine and, with
 * `destroy --keep-data`, the environment); the firewall rules that let only the app's hosts reach
 * it, on its port; and what `destroy` may do with the data. Pure, but for the two readers of the
 * state on disk at the bottom.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ConfigIssue } from "../../core/errors";
import { accessoryGroupName } from "../../model/accessory";
import type { Environment } from "../../model/environment";
import type { ExtraHost } from "../../provisioner/steps/engine-context";
import { listMachineGroups, readMachineGroup } from "./machine-group";
import type { LocalPaths } from "./paths";
import type { FirewallRule } from "./state";

/** Where an accessory machine sees its data directory (the volumes' sources are under it). */
export const ACCESSORY_DATA_MOUNT = "/var/lib/longshore/data";

/** The `io.longshore.slot` label of an accessory's container: it serves no slot. */
export const ACCESSORY_SLOT = "accessory";

/**
 * The directory of this computer that holds an environment's accessory data: `<stateRoot>/<env>.data`
 * (a `.` no machine group name has, so no group's directory is ever it).
 */
export function accessoriesDataRoot(paths: Pick<LocalPaths, "stateRoot">, env: string): string {
  return path.join(paths.stateRoot, `${env}.data`);
}

/** One accessory's data directory on this computer. */
export function accessoryDataDir(paths: Pick<LocalPaths, "stateRoot">, env: string, name: string): string {
  return path.join(accessoriesDataRoot(paths, env), name);
}

/** The nspawn bind of an accessory's data directory into its machine. */
export function accessoryDataBind(paths: Pick<LocalPaths, "stateRoot">, env: string, name: string): string {
  return `${accessoryDataDir(paths, env, name)}:${ACCESSORY_DATA_MOUNT}`;
}

/** The accessory name of a machine group of `env`, or null when the group is not one of its accessories'. */
export function accessoryOfGroup(env: string, group: string): string | null {
  const prefix = accessoryGroupName(env, "");
  const name = group.startsWith(prefix) ? group.slice(prefix.length) : "";
  return /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(name) ? name : null;
}

function comment(group: string): string[] {
  return ["-m", "comment", "--comment", `longshore:${group}`];
}

/**
 * The rules of an accessory's own group: nothing forwarded on the bridge reaches its address but
 * replies to what it opened and what an app host's rule ({@link appToAccessoryRules}) lets in.
 * In the `mangle` table, which the kernel walks before `filter`, whose bridge-wide ACCEPT every
 * group adds on top. Listed in insertion order: each goes to the top of the chain, so the DROP
 * ends last.
 */
export function accessoryFirewallRules(bridge: string, group: string, address: string): FirewallRule[] {
  const base = ["-i", bridge, "-o", bridge, "-d", `${address}/32`];
  return [
    { table: "mangle", chain: "FORWARD", spec: [...base, ...comment(group), "-j", "DROP"], phase: "intent" },
    { table: "mangle", chain: "FORWARD", spec: [...base, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", ...comment(group), "-j", "ACCEPT"], phase: "intent" },
  ];
}

/**
 * The rules that let the hosts of an app's group reach each accessory on its port (TCP), recorded
 * in that group's state so they go with it. Inserted after (so above) the accessory's DROP.
 */
export function appToAccessoryRules(bridge: string, group: string, hosts: readonly string[], accessories: ReadonlyArray<{ address: string; port: number }>): FirewallRule[] {
  return hosts.flatMap((host) =>
    accessories.map(
      (a): FirewallRule => ({
        table: "mangle",
        chain: "FORWARD",
        spec: ["-i", bridge, "-o", bridge, "-s", `${host}/32`, "-d", `${a.address}/32`, "-p", "tcp", "--dport", String(a.port), ...comment(group), "-j", "ACCEPT"],
        phase: "intent",
      }),
    ),
  );
}

/** What `destroy` does with accessory data: nothing to decide, keep it, or delete it. */
export type DataDecision = { ok: true; data: "none" | "keep" | "delete" } | { ok: false; issues: ConfigIssue[] };

/**
 * What `destroy` may do with the accessory data directories that exist (`dataDirs`), given
 * `--keep-data` and `--delete-data`: with data, one of the two is required, never both. Pure.
 */
export function destroyDataDecision(dataDirs: readonly string[], flags: { keepData?: boolean; deleteData?: boolean }): DataDecision {
  if (flags.keepData && flags.deleteData) {
    return { ok: false, issues: [{ path: "--keep-data", message: "and --delete-data contradict each other: pass one of them" }] };
  }
  if (flags.keepData) return { ok: true, data: "keep" };
  if (flags.deleteData) return { ok: true, data: "delete" };
  if (dataDirs.length === 0) return { ok: true, data: "none" };
  return {
    ok: false,
    issues: [
      {
        path: "--keep-data or --delete-data",
        message: `is required: the accessories' data is in ${dataDirs.join(", ")}; --keep-data removes their machines and keeps it (a later up uses it again), --delete-data removes it too`,
      },
    ],
  };
}

/** The accessory data directories of `env` on this computer, sorted. */
export function accessoryDataDirs(paths: Pick<LocalPaths, "stateRoot">, env: string): string[] {
  const root = accessoriesDataRoot(paths, env);
  try {
    return fs
      .readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(root, e.name))
      .sort();
  } catch {
    return [];
  }
}

/** The accessory machine groups of `env` that exist, by accessory name, sorted (also ones the file no longer names). */
export function accessoryGroups(paths: LocalPaths, env: string): Array<{ name: string; group: string }> {
  return listMachineGroups(paths).flatMap((group) => {
    const name = accessoryOfGroup(env, group);
    return name === null ? [] : [{ name, group }];
  });
}

/**
 * The names the app's containers resolve to their accessories (`--add-host NAME:ADDRESS`): each
 * accessory of the file whose machine exists, by name. Reads the machine groups' state only.
 */
export function accessoryExtraHosts(env: Pick<Environment, "name" | "accessories">, paths: LocalPaths): ExtraHost[] {
  return Object.keys(env.accessories)
    .sort()
    .flatMap((name) => {
      const address = readMachineGroup(accessoryGroupName(env.name, name), paths)?.machines[0]?.address;
      return address === undefined ? [] : [{ name, address }];
    });
}
