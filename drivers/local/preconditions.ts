/**
 * What this computer must have for local machines, checked before anything is touched, with a
 * message naming what to install. The decision is pure over injected facts.
 */
import { PreconditionError } from "../../core/errors";
import { hasCommand } from "./exec";

/** A tool the local driver runs and the Debian package that provides it. */
export interface RequiredTool {
  command: string;
  debianPackage: string;
  why: string;
}

/** Tools `local up` needs. */
export const UP_TOOLS: readonly RequiredTool[] = [
  { command: "systemd-nspawn", debianPackage: "systemd-container", why: "boots the machines" },
  { command: "debootstrap", debianPackage: "debootstrap", why: "builds the machines' root filesystem" },
  { command: "haproxy", debianPackage: "haproxy", why: "is the local load balancer" },
  { command: "ssh-keygen", debianPackage: "openssh-client", why: "makes the machines' SSH keys" },
  { command: "ip", debianPackage: "iproute2", why: "creates the bridge" },
  { command: "iptables", debianPackage: "iptables", why: "lets machines reach each other when dockerd set FORWARD to DROP" },
  { command: "flock", debianPackage: "util-linux", why: "serialises concurrent longshore commands" },
];

/** Tools `local down` needs (it removes what `up` made with them). */
export const DOWN_TOOLS: readonly RequiredTool[] = UP_TOOLS.filter((t) => ["ip", "iptables", "flock"].includes(t.command));

/** Facts about this computer. */
export interface HostFacts {
  platform: NodeJS.Platform;
  uid: number;
  /** Commands found on PATH. */
  present: ReadonlySet<string>;
}

/** Every unmet precondition, as one message each. */
export function preconditionProblems(facts: HostFacts, tools: readonly RequiredTool[] = UP_TOOLS): string[] {
  if (facts.platform !== "linux") {
    return [`local machines need Linux with systemd-nspawn (this is ${facts.platform}); use the aws driver instead`];
  }
  const problems: string[] = [];
  if (facts.uid !== 0) problems.push("run as root (sudo longshore local ...): machines need mounts, cgroups, a bridge and iptables");
  for (const t of tools) {
    if (!facts.present.has(t.command)) problems.push(`${t.command} not found: install the Debian package "${t.debianPackage}" (it ${t.why})`);
  }
  return problems;
}

/** Throws a {@link PreconditionError} listing every problem, or returns when all is there. */
export async function assertPreconditions(tools: readonly RequiredTool[] = UP_TOOLS): Promise<void> {
  const present = new Set<string>();
  if (process.platform === "linux") {
    await Promise.all(tools.map(async (t) => ((await hasCommand(t.command)) ? present.add(t.command) : undefined)));
  }
  const problems = preconditionProblems({ platform: process.platform, uid: process.getuid?.() ?? -1, present }, tools);
  if (problems.length) {
    const pkgs = tools.filter((t) => !present.has(t.command)).map((t) => t.debianPackage);
    throw new PreconditionError(`this computer cannot run local machines yet:\n${problems.map((p) => `  - ${p}`).join("\n")}`, {
      ...(pkgs.length && process.platform === "linux" ? { suggestion: `apt-get install ${[...new Set(pkgs)].join(" ")}` } : {}),
      context: { problems },
    });
  }
}
