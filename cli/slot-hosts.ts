/**
 * What `logs` and `events` share before they read from hosts: the flags that pick the hosts
 * (`--slot`, `--host`), the environment (the aws driver refused for now), the secrets their output
 * is redacted of, and the hosts themselves, from the environment's driver (its live slot and its
 * hosts' pinned SSH targets, `SlotDriver.sshHosts`). Every problem is a ConfigError with the
 * flag's or the file's path, found before any host is contacted.
 */
import type { Command } from "commander";
import { ConfigError, type ConfigIssue } from "../core/errors";
import type { Sensitive } from "../core/sensitive";
import type { LoadedEnvironment } from "../model/environment-file";
import { SLOTS, type SlotName } from "../model/names";
import type { SshTarget } from "../model/ssh-target";
import type { VerbDeps } from "./deps";
import { DEFAULT_ENV_FILE, displayName, openEnvironment, readSecrets } from "./open-environment";

/** The flags every reading verb has. */
export interface HostFlags {
  file?: string;
  json?: boolean;
  slot?: string;
  host?: string[];
}

/** Adds `-f FILE`, `--slot`, `--host` (repeatable) and `--json` (described by the verb). */
export function addHostOptions(cmd: Command, json: string): Command {
  return cmd
    .option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`)
    .option("--slot <slot>", "read the hosts of this slot, blue or green (default: the live slot)")
    .option("--host <name>", "read only this host of the slot (repeatable; default: every host)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--json", json);
}

/** The `--slot` flag's problem, if any. Pure. */
export function slotIssue(slot: string | undefined): ConfigIssue[] {
  return slot === undefined || (SLOTS as readonly string[]).includes(slot) ? [] : [{ path: "--slot", message: `must be blue or green; got ${JSON.stringify(slot)}` }];
}

/** The hosts `--host` names, in the slot's order; a name the slot does not have is a problem naming the ones it has. Pure. */
export function pickHosts(slot: SlotName, targets: readonly SshTarget[], names: readonly string[] | undefined): SshTarget[] {
  if (!names || names.length === 0) return [...targets];
  const known = new Set(targets.map((t) => t.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) {
    throw new ConfigError("command line", unknown.map((n) => ({ path: "--host", message: `${JSON.stringify(n)} is not a host of the ${slot} slot (it has ${[...known].join(", ")})` })));
  }
  return targets.filter((t) => names.includes(t.name));
}

/** What a reading verb works with once its flags and the file are checked. */
export interface OpenedHosts {
  loaded: LoadedEnvironment;
  /** Every secret of the environment: what output is redacted of. */
  secrets: Sensitive[];
  slot: SlotName;
  targets: SshTarget[];
}

/**
 * Opens the environment and finds the hosts to read, after `check` (the verb's own flag checks,
 * with the file loaded) passed. Secrets are read (every source): output that shows one shows
 * `[redacted]`, and without the values there is nothing to redact them by. The hosts are the
 * slot's committed ones (not those a rollout is still preparing), in the slot's order.
 */
export async function openHosts(flags: HostFlags, deps: VerbDeps, verb: string, check: (loaded: LoadedEnvironment) => void = () => undefined): Promise<OpenedHosts> {
  const loaded = await openEnvironment(flags.file, deps);
  const shown = displayName(loaded, deps.cwd);
  const unsupported = (driver: string) => new ConfigError(shown, [{ path: "driver", message: `\`longshore ${verb}\` is not supported by the ${driver} driver yet (local environments only)` }]);
  // Refused before its driver is made (that needs the Pulumi workspace).
  if (loaded.env.driver === "aws") throw unsupported("aws");
  check(loaded);
  const resolved = await readSecrets(loaded, deps);
  const secrets = [...Object.values(resolved.app), ...Object.values(resolved.accessories ?? {}).flatMap((a) => Object.values(a)), ...(resolved.registryPassword ? [resolved.registryPassword] : [])];
  const driver = await deps.environmentDriver({ env: loaded.env, file: loaded.file, baseDir: loaded.baseDir, secrets: null, bundle: null, compose: loaded.compose, displayName: shown }, () => undefined);
  if (!driver.sshHosts) throw unsupported(loaded.env.driver);
  const [status, hosts] = await Promise.all([driver.status(), driver.sshHosts()]);
  const slot = (flags.slot as SlotName | undefined) ?? status.live;
  if (slot === null) {
    throw new ConfigError("command line", [{ path: "--slot", message: `nothing is live in environment ${loaded.env.name}: name a slot (--slot blue|green), or roll out first` }]);
  }
  const targets = hosts.filter((h) => h.role === slot && h.prepared !== true).map((h) => h.target);
  if (targets.length === 0) {
    throw new ConfigError("command line", [{ path: "--slot", message: `the ${slot} slot of environment ${loaded.env.name} has no hosts${status.live !== null && status.live !== slot ? ` (live: ${status.live})` : ""}` }]);
  }
  return { loaded, secrets, slot, targets: pickHosts(slot, targets, flags.host) };
}

/** Host names padded to one width, as `docker compose logs` pads service names. */
export function hostPrefixes(targets: readonly SshTarget[]): Map<string, string> {
  const width = Math.max(0, ...targets.map((t) => t.name.length));
  return new Map(targets.map((t) => [t.name, `${t.name.padEnd(width)} | `]));
}
