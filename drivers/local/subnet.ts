/**
 * IPv4 subnet arithmetic for the bridge: parse a CIDR, pick the gateway and the machines' pool, and
 * detect a collision with the computer's existing routes. Pure functions only.
 */
import { ConfigError } from "../../core/errors";

/** A parsed IPv4 network. */
export interface Subnet {
  /** Canonical `a.b.c.d/p` with host bits cleared. */
  cidr: string;
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
}

/** The default subnet of the `longshore0` bridge. */
export const DEFAULT_SUBNET = "10.213.47.0/24";

/** First host number handed to machines (`.1` is the gateway, `.2`-`.9` are kept spare). */
export const FIRST_MACHINE_HOST = 10;

/** `a.b.c.d` to an unsigned 32-bit number, or null when it is not a dotted quad. */
export function ipToNumber(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** An unsigned 32-bit number to `a.b.c.d`. */
export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses a subnet for the bridge. Only private (RFC 1918) networks from /16 to /28 are accepted: the
 * bridge must never shadow a public address, and smaller networks leave no room for machines.
 */
export function parseSubnet(text: string, source = "--subnet"): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  const ip = m ? ipToNumber(m[1]!) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || ip === null || !(prefix >= 0 && prefix <= 32)) {
    throw new ConfigError(source, [{ path: source, message: `"${text}" is not an IPv4 CIDR like 10.213.47.0/24` }]);
  }
  const network = (ip & mask(prefix)) >>> 0;
  const issues: string[] = [];
  if (prefix < 16 || prefix > 28) issues.push(`prefix /${prefix} is outside /16../28`);
  if (!isPrivate(network, prefix)) issues.push(`${numberToIp(network)}/${prefix} is not a private (RFC 1918) network`);
  if (network !== ip) issues.push(`host bits are set (did you mean ${numberToIp(network)}/${prefix}?)`);
  if (issues.length) {
    throw new ConfigError(
      source,
      issues.map((message) => ({ path: source, message })),
    );
  }
  return { cidr: `${numberToIp(network)}/${prefix}`, network, prefix };
}

function isPrivate(network: number, prefix: number): boolean {
  const inside = (base: string, p: number) => prefix >= p && ((network & mask(p)) >>> 0) === ipToNumber(base);
  return inside("10.0.0.0", 8) || inside("172.16.0.0", 12) || inside("192.168.0.0", 16);
}

/** The bridge's own address: the first host of the subnet. */
export function gatewayOf(subnet: Subnet): string {
  return numberToIp(subnet.network + 1);
}

/** Every address machines may get, in order (from `.10` up to the last host before broadcast). */
export function machinePool(subnet: Subnet): string[] {
  const size = 2 ** (32 - subnet.prefix);
  const out: string[] = [];
  for (let h = FIRST_MACHINE_HOST; h < size - 1; h++) out.push(numberToIp(subnet.network + h));
  return out;
}

/** True when `ip` lies inside `subnet`. */
export function contains(subnet: Subnet, ip: string): boolean {
  const n = ipToNumber(ip);
  return n !== null && ((n & mask(subnet.prefix)) >>> 0) === subnet.network;
}

/** One route of this computer, as `ip -j route` reports it. */
export interface RouteEntry {
  /** `default`, `a.b.c.d` or `a.b.c.d/p`. */
  dst: string;
  dev?: string;
}

/**
 * The routes that overlap `subnet`, ignoring the default route (it overlaps everything by design)
 * and routes on our own bridge (they are ours).
 */
export function collidingRoutes(subnet: Subnet, routes: readonly RouteEntry[], ownBridge: string): RouteEntry[] {
  return routes.filter((r) => {
    if (r.dst === "default" || r.dev === ownBridge) return false;
    const [addr, p] = r.dst.split("/");
    const n = ipToNumber(addr ?? "");
    if (n === null) return false;
    const prefix = p === undefined ? 32 : Number(p);
    if (prefix === 0) return false;
    const shorter = Math.min(prefix, subnet.prefix);
    return ((n & mask(shorter)) >>> 0) === ((subnet.network & mask(shorter)) >>> 0);
  });
}
