/**
 * The local driver's engine inspection for `status`: per machine of a group, one SSH connection
 * with the machine's pinned host key (its handshake is the host-key check) and one read-only
 * command (provisioner/engine-inspect.ts), in parallel. A machine whose key does not match is
 * never asked: the connection is refused before anything runs.
 */
import type { SshTarget } from "../../model/ssh-target";
import { engineInspectCommand, parseEngineInspection } from "../../provisioner/engine-inspect";
import type { SshConnectOptions } from "../../provisioner/transport/connect-options";
import { HOST_KEY_CHECK_OPTIONS, hostKeyCheckOf, hostKeyMatched } from "../../provisioner/transport/host-key-check";
import type { EngineState } from "../../rollout/driver";
import type { Connect } from "./host-keys";
import { machineGroupSshTargets } from "./machine-group";
import type { LocalPaths } from "./paths";
import type { FleetHost } from "./slot-driver";

/** One dial, a short handshake (as the host-key check), and a bounded command. */
export const ENGINE_STATE_CONNECT_OPTIONS: SshConnectOptions = { ...HOST_KEY_CHECK_OPTIONS, commandTimeoutMs: 45_000 };

/** Reads one host's engine over one connection to `target`; never rejects. */
export async function engineStateOf(host: FleetHost, target: SshTarget | undefined, connect: Connect): Promise<EngineState> {
  const base = { host: host.name, ...(host.hostImage ? { hostImage: host.hostImage } : {}) };
  if (!target) return { ...base, hostKey: { state: "unknown", detail: "no pinned host key recorded for this machine" }, reason: "not asked: no pinned host key recorded for this machine" };
  let transport;
  try {
    transport = await connect(target, ENGINE_STATE_CONNECT_OPTIONS);
  } catch (e) {
    const hostKey = hostKeyCheckOf(target, e);
    const reason = hostKey.state === "mismatch" ? "not asked: its SSH host key does not match its pin" : `not asked: ${hostKey.detail.split("\n")[0]}`;
    return { ...base, hostKey, reason };
  }
  const hostKey = hostKeyMatched(target);
  try {
    const r = await transport.exec(engineInspectCommand());
    if (r.exitCode !== 0) return { ...base, hostKey, reason: `the inspection failed: exit ${r.exitCode ?? `signal ${r.signal}`}: ${r.stderr.trim().split("\n").slice(-1)[0] ?? ""}` };
    const found = parseEngineInspection(r.stdout, r.stderr);
    return {
      ...base,
      hostKey,
      ...(found.engine ? { engine: found.engine } : {}),
      ...(found.disk ? { disk: found.disk } : {}),
      ...(found.problems.length ? { reason: found.problems.join("; ") } : {}),
    };
  } catch (e) {
    return { ...base, hostKey, reason: `the inspection failed: ${(e as Error).message.split("\n")[0]}` };
  } finally {
    await transport.close().catch(() => undefined);
  }
}

/** The local driver's `engineStates` option: the machines of a group, reached with their pins under `paths`. */
export function localEngineStates(paths: LocalPaths, connect: Connect): (group: string, hosts: FleetHost[]) => Promise<EngineState[]> {
  return (group, hosts) => {
    const targets = machineGroupSshTargets(group, paths);
    return Promise.all(hosts.map((h) => engineStateOf(h, targets.find((t) => t.name === h.name), connect)));
  };
}
