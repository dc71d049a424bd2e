/**
 * How a local machine is started: the systemd-nspawn argv and the small `sh` wrapper that moves
 * itself into the machine's cgroups before exec'ing nspawn. Pure functions; the flags and why each
 * is needed are measured facts (docs/local-driver.md).
 */
import { quoteArg } from "../../core/quote";

/** What {@link nspawnArgv} needs. */
export interface NspawnSpec {
  /** nspawn's machine name (`-M`): short, because the host-side veth is `vb-<name>`. */
  machineName: string;
  /** The machine's root (the overlay mount point). */
  root: string;
  bridge: string;
  /** A real directory for /var/lib/docker (overlayfs there makes Docker fall back to vfs). */
  dockerDir: string;
  /** Extra `HOST:MACHINE` binds. */
  binds?: readonly string[];
}

/**
 * The argv of systemd-nspawn for one machine.
 * - `--register=no --keep-unit`: there is no systemd (no machined, no system bus) on this computer.
 * - `--console=passive`: detached, no TTY; output goes to the machine's log file.
 * - `--system-call-filter=@keyring`: runc needs session keyrings inside.
 */
export function nspawnArgv(spec: NspawnSpec): string[] {
  return [
    "systemd-nspawn",
    "--boot",
    "--register=no",
    "--keep-unit",
    "--console=passive",
    "-M",
    spec.machineName,
    "-D",
    spec.root,
    "--network-veth",
    `--network-bridge=${spec.bridge}`,
    `--bind=${spec.dockerDir}:/var/lib/docker`,
    ...(spec.binds ?? []).map((b) => `--bind=${b}`),
    "--system-call-filter=@keyring",
  ];
}

/**
 * The `sh -c` script that joins each cgroup (writing its own PID, `$$`, to `cgroup.procs`) and then
 * becomes nspawn, so nspawn and everything it starts live in the machine's cgroups from the start.
 * Exit code 97 means a cgroup could not be joined.
 */
export function spawnScript(cgroupDirs: readonly string[], argv: readonly string[]): string {
  const joins = cgroupDirs.map((d) => `echo $$ > ${quoteArg(`${d}/cgroup.procs`)} || exit 97`);
  return [...joins, `exec ${argv.map(quoteArg).join(" ")}`].join("\n");
}

/**
 * nspawn's machine name for an address: `ls-<third>-<fourth octet>`, unique on the shared bridge
 * and short enough that the host-side veth name `vb-ls-47-10` fits the kernel's 15 characters.
 */
export function nspawnMachineName(address: string): string {
  const o = address.split(".");
  return `ls-${o[2]}-${o[3]}`;
}

/** The host-side veth nspawn creates for `--network-veth` (`vb-` + the machine name). */
export function vethName(nspawnName: string): string {
  return `vb-${nspawnName}`;
}
