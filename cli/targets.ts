/**
 * Target flags shared by every verb that talks to hosts: `--inventory FILE`, or `--host ADDR`
 * (repeatable) with connection flags. Flags are turned into the same data an inventory file holds
 * and checked by the same rules, with problems reported against the flag names (`--port: ...`).
 */
import * as path from "node:path";
import type { Command } from "commander";
import { ConfigError } from "../core/errors";
import { identityFileProblem, inventoryFromData, loadInventory, NO_AUTH, NO_HOST_KEY, resolveUserPath } from "../model/inventory";
import { HOST_ADDRESS_MESSAGE, isHostAddress } from "../model/net";
import { formatPath, type PathIssue } from "../model/zod-issues";
import type { SshTarget } from "../model/ssh-target";

/** The parsed target flags (commander's option object). */
export interface TargetFlags {
  inventory?: string;
  host?: string[];
  port?: string;
  user?: string;
  identity?: string;
  agent?: boolean;
  hostKey?: string[];
  knownHosts?: string;
  trustOnFirstUse?: boolean;
  jump?: string;
  jumpHostKey?: string[];
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds the target flags to a verb. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("-i, --inventory <file>", "inventory file (YAML or JSON, see docs/inventory.md)")
    .option("--host <address>", "a host to reach (repeatable) instead of an inventory", collect)
    .option("--port <n>", "SSH port for --host (default 22)")
    .option("--user <name>", "user for --host (default root)")
    .option("--identity <file>", "private key file for --host")
    .option("--agent", "authenticate --host with the ssh-agent at $SSH_AUTH_SOCK")
    .option("--host-key <SHA256:...>", "pinned host key fingerprint for --host (repeatable)", collect)
    .option("--known-hosts <file>", "OpenSSH known_hosts file to verify --host against")
    .option("--trust-on-first-use", "accept an unknown --host key once and record it (known_hosts)")
    .option("--jump <[user@]host[:port]>", "bastion to tunnel through (same identity and known_hosts)")
    .option("--jump-host-key <SHA256:...>", "pinned host key fingerprint of the --jump host (repeatable)", collect);
}

/** Where flags resolve paths, env variables and files. */
export interface TargetEnv {
  cwd: string;
  homeDir: string;
  sshAuthSock?: string;
  readFile(path: string): Promise<string>;
}

const SOURCE = "command line";

/** Resolves targets from flags or an inventory file; throws {@link ConfigError} before any host is contacted. */
export async function resolveTargets(flags: TargetFlags, env: TargetEnv): Promise<SshTarget[]> {
  const hostFlags = connectionFlagsUsed(flags);
  if (flags.inventory !== undefined) {
    if (hostFlags.length) {
      throw new ConfigError(SOURCE, hostFlags.map((f) => ({ path: f, message: "cannot be combined with --inventory (set it in the inventory file)" })));
    }
    return loadInventory(path.resolve(env.cwd, flags.inventory), {
      homeDir: env.homeDir,
      readFile: env.readFile,
      ...(env.sshAuthSock ? { sshAuthSock: env.sshAuthSock } : {}),
    });
  }
  const r = targetsFromFlags(flags, env);
  const issues = r.ok ? [] : [...r.issues];
  // The key file is input too: checked before any host, reported with the flag's other problems.
  if (flags.identity !== undefined) {
    const file = resolveUserPath(flags.identity, { baseDir: env.cwd, homeDir: env.homeDir });
    const problem = await identityFileProblem(file, env.readFile);
    if (problem !== null) issues.push({ path: "--identity", message: `${file} ${problem}` });
  }
  if (!r.ok || issues.length) throw new ConfigError(SOURCE, issues, { suggestion: "Run with --help for the flags; docs/inventory.md explains each setting." });
  return r.value;
}

function connectionFlagsUsed(f: TargetFlags): string[] {
  const used: Array<[unknown, string]> = [
    [f.host, "--host"],
    [f.port, "--port"],
    [f.user, "--user"],
    [f.identity, "--identity"],
    [f.agent, "--agent"],
    [f.hostKey, "--host-key"],
    [f.knownHosts, "--known-hosts"],
    [f.trustOnFirstUse, "--trust-on-first-use"],
    [f.jump, "--jump"],
    [f.jumpHostKey, "--jump-host-key"],
  ];
  return used.filter(([v]) => v !== undefined).map(([, name]) => name);
}

const FIELD_FLAGS: Record<string, string> = {
  address: "--host",
  port: "--port",
  user: "--user",
  identity: "--identity",
  agent: "--agent",
  hostKeys: "--host-key",
  knownHosts: "--known-hosts",
  trustOnFirstUse: "--trust-on-first-use",
};

const JUMP = /^(?:([^@\s]+)@)?(\[[^\]\s]+\]|[^:@\s[\]]+)(?::([^:@\s]*))?$/;

/** Builds targets from `--host` flags (pure). Issues name the flag at fault. */
export function targetsFromFlags(
  flags: TargetFlags,
  env: Omit<TargetEnv, "readFile">,
): { ok: true; value: SshTarget[] } | { ok: false; issues: Array<{ path: string; message: string }> } {
  const given = [...new Set(flags.host ?? [])];
  if (given.length === 0) {
    return { ok: false, issues: [{ path: "--host", message: "no target: pass --inventory FILE or --host ADDRESS" }] };
  }
  // Checked here, each with its value, so several --host flags say which one is wrong.
  const issues: Array<{ path: string; message: string }> = given
    .filter((h) => !isHostAddress(h))
    .map((h) => ({ path: "--host", message: `${HOST_ADDRESS_MESSAGE} (got ${describeInput(h)})` }));
  // When no --host is valid, one stand-in still lets the other flags be checked (all problems at
  // once); it never becomes a target, as the issues above are already there.
  const valid = given.filter(isHostAddress);
  const hosts = valid.length ? valid : ["localhost"];
  const conn: Record<string, unknown> = {
    ...(flags.port !== undefined ? { port: toNumber(flags.port) } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.identity !== undefined ? { identity: flags.identity } : {}),
    ...(flags.agent ? { agent: true } : {}),
    ...(flags.knownHosts !== undefined ? { knownHosts: flags.knownHosts } : {}),
    ...(flags.trustOnFirstUse ? { trustOnFirstUse: true } : {}),
  };
  let jump: Record<string, unknown> | undefined;
  if (flags.jump !== undefined) {
    const m = JUMP.exec(flags.jump);
    if (!m) issues.push({ path: "--jump", message: "must be [user@]host[:port]" });
    else {
      const { identity, agent, knownHosts, trustOnFirstUse } = conn;
      jump = {
        address: m[2]!.replace(/^\[(.*)\]$/, "$1"),
        ...(m[1] ? { user: m[1] } : {}),
        ...(m[3] !== undefined ? { port: toNumber(m[3]) } : {}),
        ...(identity !== undefined ? { identity } : {}),
        ...(agent !== undefined ? { agent } : {}),
        ...(knownHosts !== undefined ? { knownHosts } : {}),
        ...(trustOnFirstUse !== undefined ? { trustOnFirstUse } : {}),
        ...(flags.jumpHostKey?.length ? { hostKeys: flags.jumpHostKey } : {}),
      };
    }
  } else if (flags.jumpHostKey?.length) {
    issues.push({ path: "--jump-host-key", message: "only applies with --jump" });
  }
  // Host names only label reports; addresses such as ::1 are made into valid names.
  const names = new Map<string, string>();
  for (const h of hosts) names.set(h.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]/, "h"), h);
  const data = {
    hosts: Object.fromEntries(
      [...names].map(([name, address]) => [
        name,
        { address, ...conn, ...(flags.hostKey?.length ? { hostKeys: flags.hostKey } : {}), ...(jump ? { jump } : {}) },
      ]),
    ),
  };
  const r = inventoryFromData(data, {
    baseDir: env.cwd,
    homeDir: env.homeDir,
    ...(env.sshAuthSock ? { sshAuthSock: env.sshAuthSock } : {}),
  });
  if (r.ok && !issues.length) {
    // Name each target after the address the user typed.
    return { ok: true, value: r.value.map((t) => ({ ...t, name: names.get(t.name) ?? t.name })) };
  }
  if (!r.ok) issues.push(...r.issues.map(toFlagIssue));
  // The same problem on every --host is one problem with the flags.
  return { ok: false, issues: [...new Map(issues.map((i) => [`${i.path}\0${i.message}`, i])).values()] };
}

/** A value typed by the user, quoted (control characters escaped) and cut to 40 characters. */
function describeInput(value: string): string {
  return value.length <= 40 ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, 40))}... ${value.length.toLocaleString("en-US")} characters`;
}

function toNumber(s: string): number | string {
  return /^\d+$/.test(s.trim()) ? Number(s) : s;
}

/** Maps an inventory path (`hosts.<name>.port`, `hosts.<name>.jump.hostKeys[0]`) to the flag that set it. */
function toFlagIssue(i: PathIssue): { path: string; message: string } {
  const [, , field, ...rest] = i.path;
  const message = i.message === NO_AUTH ? "no way to log in: pass --identity FILE or --agent" : i.message === NO_HOST_KEY ? "no way to verify the host key: pass --host-key SHA256:..., --known-hosts FILE or --trust-on-first-use" : i.message;
  if (field === undefined) return { path: "--host", message };
  if (field === "jump") {
    const sub = rest[0];
    if (sub === "hostKeys") return { path: "--jump-host-key", message };
    if (sub === undefined || sub === "address" || sub === "port" || sub === "user") return { path: "--jump", message: message.replace("--host-key SHA256:...", "--jump-host-key SHA256:...") };
    return { path: FIELD_FLAGS[String(sub)] ?? `--jump (${formatPath(rest)})`, message };
  }
  return { path: FIELD_FLAGS[String(field)] ?? formatPath(i.path), message };
}

/** Parses `--concurrency N` (hosts at once, default 16). */
export function parseConcurrency(value: string | undefined, fallback = 16): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1) {
    throw new ConfigError(SOURCE, [{ path: "--concurrency", message: "must be a whole number of at least 1" }]);
  }
  return n;
}

/** True when any flag that describes a --host target was given. */
export function hasTargetFlags(flags: TargetFlags): boolean {
  return flags.inventory !== undefined || connectionFlagsUsed(flags).length > 0;
}
