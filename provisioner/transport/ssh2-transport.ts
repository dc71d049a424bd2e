/**
 * PLACEHOLDER, replaced on merge by the real ssh2 adapter (written on the `transport` branch).
 * It exists only so the CLI compiles and can be wired; it never connects anywhere.
 */
import type { Transport } from "./transport";
import type { SshConnectOptions, SshTarget } from "./ssh-target";

/** Opens an SSH connection to `target` (placeholder: always rejects). */
export async function connectSsh(target: SshTarget, options?: SshConnectOptions): Promise<Transport> {
  void options;
  throw new Error(`ssh2 transport not merged yet: cannot connect to ${target.name}`);
}
