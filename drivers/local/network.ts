/**
 * The host side of the machines' network: the bridge, the FORWARD rules that let machines talk
 * when dockerd has set the FORWARD policy to DROP, and the inotify sysctl. Thin wrappers over `ip`,
 * `iptables` and /proc/sys; the decisions live in subnet.ts and ipam.ts.
 */
import * as fs from "node:fs";
import { ConfigError } from "../../core/errors";
import { runLocal } from "./exec";
import { collidingRoutes, type RouteEntry, type Subnet } from "./subnet";
import type { FirewallRule } from "./state";

/** The default bridge name. */
export const DEFAULT_BRIDGE = "longshore0";

/** This computer's IPv4 routes in every table. */
export async function readRoutes(): Promise<RouteEntry[]> {
  const r = await runLocal("ip", ["-j", "-4", "route", "show", "table", "all"], { stepId: "local.network" });
  const parsed = JSON.parse(r.stdout || "[]") as Array<{ dst: string; dev?: string; type?: string }>;
  // Local/broadcast entries describe this computer's own addresses; they are listed as `type local`.
  return parsed.filter((x) => !x.type || x.type === "unicast").map((x) => ({ dst: x.dst, ...(x.dev ? { dev: x.dev } : {}) }));
}

/** Refuses a subnet that overlaps a route of this computer other than our bridge's. */
export async function assertSubnetFree(subnet: Subnet, bridge: string, source = "--subnet"): Promise<void> {
  const clash = collidingRoutes(subnet, await readRoutes(), bridge);
  if (clash.length) {
    throw new ConfigError(source, [
      {
        path: source,
        message: `${subnet.cidr} overlaps existing route(s) ${clash.map((c) => `${c.dst}${c.dev ? ` dev ${c.dev}` : ""}`).join(", ")}`,
      },
    ], { suggestion: "Choose another private subnet with --subnet (for example 10.213.48.0/24)." });
  }
}

/** The link's IPv4 addresses (`a.b.c.d/p`), or null when the link does not exist. */
export async function linkAddresses(name: string): Promise<string[] | null> {
  const r = await runLocal("ip", ["-j", "-4", "addr", "show", "dev", name], { okExitCodes: "any" });
  if (r.exitCode !== 0) return null;
  const parsed = JSON.parse(r.stdout || "[]") as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>;
  return (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** True when a network link with this name exists. */
export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Creates the bridge with `gateway/prefix` and brings it up. */
export async function createBridge(name: string, gateway: string, prefix: number): Promise<void> {
  await runLocal("ip", ["link", "add", name, "type", "bridge"], { stepId: "local.bridge" });
  await runLocal("ip", ["addr", "add", `${gateway}/${prefix}`, "dev", name], { stepId: "local.bridge" });
  await runLocal("ip", ["link", "set", name, "up"], { stepId: "local.bridge" });
}

/** Deletes a link if it exists (bridge or veth). */
export async function deleteLink(name: string): Promise<void> {
  if (!linkExists(name)) return;
  await runLocal("ip", ["link", "delete", name], { stepId: "local.network", okExitCodes: "any" });
}

/** The ACCEPT rules that let machines on `bridge` reach each other, tagged with the environment. */
export function bridgeForwardRules(bridge: string, env: string): FirewallRule[] {
  const comment = ["-m", "comment", "--comment", `longshore:${env}`];
  return [
    { table: "filter", chain: "FORWARD", spec: ["-i", bridge, "-o", bridge, ...comment, "-j", "ACCEPT"], phase: "intent" },
  ];
}

/** True when the rule is in the kernel's ruleset. */
export async function ruleExists(rule: FirewallRule): Promise<boolean> {
  const r = await runLocal("iptables", ["-w", "5", "-t", rule.table, "-C", rule.chain, ...rule.spec], { okExitCodes: "any" });
  return r.exitCode === 0;
}

/** Inserts the rule at the top of its chain (before anything dockerd put there) unless present. */
export async function addRule(rule: FirewallRule): Promise<void> {
  if (await ruleExists(rule)) return;
  await runLocal("iptables", ["-w", "5", "-t", rule.table, "-I", rule.chain, "1", ...rule.spec], { stepId: "local.firewall" });
}

/** Deletes every copy of exactly this rule; a missing rule is fine. */
export async function deleteRule(rule: FirewallRule): Promise<void> {
  for (let i = 0; i < 10 && (await ruleExists(rule)); i++) {
    await runLocal("iptables", ["-w", "5", "-t", rule.table, "-D", rule.chain, ...rule.spec], { stepId: "local.firewall" });
  }
}

/** Reads a sysctl by its dotted key. */
export function readSysctl(key: string): string {
  return fs.readFileSync(`/proc/sys/${key.replace(/\./g, "/")}`, "utf8").trim();
}

/** Writes a sysctl by its dotted key. */
export function writeSysctl(key: string, value: string): void {
  fs.writeFileSync(`/proc/sys/${key.replace(/\./g, "/")}`, value);
}

/** The inotify instances limit, raised when many machines run (each systemd inside uses several). */
export const INOTIFY_KEY = "fs.inotify.max_user_instances";

/** The inotify limit needed for `machines` machines, or null when the default suffices. */
export function inotifyNeeded(machines: number, current: number): number | null {
  // ~8 instances per booted machine; keep headroom for the computer's own processes.
  const want = machines >= 8 ? Math.max(1024, machines * 16) : 0;
  return want > current ? want : null;
}
