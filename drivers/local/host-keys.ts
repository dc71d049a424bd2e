/**
 * The local driver's host-key check: each machine's pinned key (recorded when `local up` made the
 * machine, drivers/local/inventory.ts) checked with one SSH handshake through the transport.
 */
import type { SshTarget } from "../../model/ssh-target";
import type { HostKeyResult } from "../../rollout/driver";
import type { SshConnectOptions } from "../../provisioner/transport/connect-options";
import { checkHostKey } from "../../provisioner/transport/host-key-check";
import type { Transport } from "../../provisioner/transport/transport";
import { machineGroupSshTargets } from "./machine-group";
import type { LocalPaths } from "./paths";
import type { FleetHost } from "./slot-driver";

/** Opens one connection (the ssh2 transport in production). */
export type Connect = (target: SshTarget, options?: SshConnectOptions) => Promise<Transport>;

/**
 * Checks `hosts` against the pins in their group's state, in parallel. A host the group's state
 * has no pinned key for is `unknown`: nothing to compare with.
 */
export async function checkPinnedHostKeys(targets: readonly SshTarget[], hosts: readonly FleetHost[], connect: Connect): Promise<HostKeyResult[]> {
  return Promise.all(
    hosts.map(async (h): Promise<HostKeyResult> => {
      const target = targets.find((t) => t.name === h.name);
      if (!target) return { host: h.name, state: "unknown", detail: "no pinned host key recorded for this machine" };
      return { host: h.name, ...(await checkHostKey(target, connect)) };
    }),
  );
}

/** The local driver's `hostKeys` option: the pins of a machine group, read from its state under `paths`. */
export function localHostKeys(paths: LocalPaths, connect: Connect): (group: string, hosts: FleetHost[]) => Promise<HostKeyResult[]> {
  return (group, hosts) => checkPinnedHostKeys(machineGroupSshTargets(group, paths), hosts, connect);
}
