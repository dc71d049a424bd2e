/**
 * What other parts of longshore need to reach an environment's machines: an inventory file (the
 * YAML format config/inventory.ts reads), SshTarget values for code, and a known_hosts file for
 * OpenSSH. All pinned to the host keys longshore generated, so nothing is ever trusted on first use.
 */
import { stringify } from "yaml";
import type { SshTarget } from "../../model/ssh-target";
import { knownHostsLine } from "./ssh-keys";
import type { EnvState } from "./state";

/** Machines that have a host key (i.e. got far enough to be reachable). */
function reachable(state: EnvState) {
  return state.machines.filter((m) => m.hostKey && m.phase !== "intent");
}

/** The inventory YAML: `hosts: NAME: {address, port, user, identity, hostKey}`. */
export function renderInventory(state: EnvState): string {
  if (!state.clientKey) throw new Error(`environment ${state.env} has no client key yet`);
  const hosts: Record<string, unknown> = {};
  for (const m of reachable(state)) {
    hosts[m.name] = {
      address: m.address,
      port: 22,
      user: "root",
      identity: state.clientKey.privatePath,
      hostKey: m.hostKey!.fingerprint,
    };
  }
  return `# Written by longshore local up (environment ${state.env}); host keys are pinned.\n${stringify({ hosts })}`;
}

/** One known_hosts line per machine, for `ssh -o UserKnownHostsFile=...`. */
export function renderKnownHosts(state: EnvState): string {
  return reachable(state)
    .map((m) => knownHostsLine(m.address, 22, m.hostKey!.publicKey))
    .join("\n")
    .concat("\n");
}

/**
 * The machines as SSH targets: root with the environment's client key, host key pinned by
 * fingerprint (and the known_hosts file, when written).
 */
export function sshTargets(state: EnvState): SshTarget[] {
  if (!state.clientKey) return [];
  const clientKey = state.clientKey.privatePath;
  return reachable(state).map((m) => ({
    name: m.name,
    address: m.address,
    port: 22,
    user: "root",
    auth: { privateKeyFile: clientKey },
    hostKey: {
      fingerprints: [m.hostKey!.fingerprint],
      ...(state.knownHostsFile ? { knownHostsFile: state.knownHostsFile } : {}),
    },
    sudo: false,
  }));
}
