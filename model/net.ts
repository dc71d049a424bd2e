/**
 * Network values every layer writes the same way: ports, IPv4/IPv6 addresses and CIDRs, host
 * names, `ADDRESS:PORT` listen addresses, absolute paths. One rule each, so a value the engine,
 * HAProxy or AWS would refuse is refused here first, with the user's key path.
 */
import { z } from "zod";
import { PEER_BLOB_PORT } from "./image-from";

const PORT_MESSAGE = "must be a whole number from 1 to 65535";

/** A TCP port, 1-65535. */
export const portSchema = z.number().int(PORT_MESSAGE).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);

const IPV4_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4_TEXT = `${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}`;
/** A dotted-quad IPv4 address, each octet 0-255. */
export const IPV4 = new RegExp(`^${IPV4_TEXT}$`);
/** An IPv4 CIDR such as 10.0.0.0/16. */
export const CIDR4 = new RegExp(`^${IPV4_TEXT}/(?:3[0-2]|[12]?[0-9])$`);
/** A DNS host name (labels of letters, digits and '-'), up to 253 characters. */
export const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** True for an IPv6 address in one of the usual forms (full, `::`-compressed, IPv4 tail); no zone ids. */
export function isIPv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return false;
  let body = text;
  const tail = /:((?:\d+\.){3}\d+)$/.exec(text);
  if (tail) {
    if (!IPV4.test(tail[1]!)) return false;
    body = text.slice(0, -tail[1]!.length) + "0:0";
  }
  const halves = body.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === "" ? [] : h.split(":")));
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? groups.length < 8 : groups.length === 8;
}

/** True for an IPv6 CIDR (`2001:db8::/64`). */
export function isCidr6(text: string): boolean {
  const m = /^([^/]+)\/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$/.exec(text);
  return m !== null && isIPv6(m[1]!);
}

/** True for a TCP port: a whole number from 1 to 65535 (the rule {@link portSchema} checks). */
export function isPort(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** `ipv4`, `ipv6`, or null for text that is neither CIDR. */
export function cidrFamily(cidr: string): "ipv4" | "ipv6" | null {
  if (CIDR4.test(cidr)) return "ipv4";
  return isCidr6(cidr) ? "ipv6" : null;
}

/** True for a decimal port number 1-65535 written as text. */
export function isPortText(text: string): boolean {
  return /^[0-9]{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
}

/** Why a value is not a {@link isHostAddress host address}. */
export const HOST_ADDRESS_MESSAGE = "must be a host name (letters, digits, '-' and '.') or an IPv4 or IPv6 address";

/**
 * The one rule for where longshore connects: a DNS host name, a dotted-quad IPv4 address, or an
 * IPv6 address written bare (no brackets, no zone). Nothing else reaches ssh2, a log line or a
 * known_hosts file: no control characters, no unicode, no `user@`, no `:port`, nothing over 253
 * characters. Digits and dots alone must be a valid IPv4 address: resolvers read `10.0.0.256` or
 * `167772165` as numbers, not as names.
 */
export function isHostAddress(text: string): boolean {
  if (text.length > 253) return false;
  if (IPV4.test(text) || isIPv6(text)) return true;
  return HOSTNAME.test(text) && !/^[0-9.]+$/.test(text);
}

/** A host address (see {@link isHostAddress}). */
export const hostAddressSchema = z.string().refine(isHostAddress, HOST_ADDRESS_MESSAGE);

/** True for a CIDR that covers every address (`0.0.0.0/0`, `::/0`). */
export function isWorldCidr(cidr: string): boolean {
  return /\/0$/.test(cidr.trim());
}

/** An absolute path without `..` or control characters. */
export const absolutePathSchema = z
  .string()
  .regex(/^\/[^\0\n\r]*$/, "must be an absolute path")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

/** A listen address: `ADDRESS:PORT` with an IPv4 address. */
export interface ListenAddress {
  address: string;
  port: number;
}

/** Parses `ADDRESS:PORT` (IPv4, port 1-65535), or null. */
export function parseListenAddress(text: string): ListenAddress | null {
  const i = text.lastIndexOf(":");
  if (i <= 0) return null;
  const address = text.slice(0, i);
  const port = text.slice(i + 1);
  return IPV4.test(address) && isPortText(port) ? { address, port: Number(port) } : null;
}

/** `ADDRESS:PORT`, parsed. */
export const listenAddressSchema = z.string().transform((v, ctx) => {
  const parsed = parseListenAddress(v);
  if (parsed === null) {
    ctx.addIssue({ code: "custom", message: "must be IPV4-ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080" });
    return z.NEVER;
  }
  return parsed;
});

/** An address family, as the limits and messages name it. */
export type IpFamily = "ipv4" | "ipv6";

/** Bits in an address of each family. */
export const FAMILY_BITS: Readonly<Record<IpFamily, number>> = Object.freeze({ ipv4: 32, ipv6: 128 });

/** An inclusive range of addresses of one family, as unsigned integers. */
export interface AddressRange {
  family: IpFamily;
  first: bigint;
  last: bigint;
}

function ipv4Value(text: string): bigint {
  return text.split(".").reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Value(text: string): bigint {
  let body = text;
  const tail = /:((?:\d+\.){3}\d+)$/.exec(text);
  if (tail) {
    const v = ipv4Value(tail[1]!);
    body = `${text.slice(0, -tail[1]!.length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, rest] = body.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/**
 * The addresses an IPv4 or IPv6 CIDR covers, or null for text that is neither. Host bits are
 * ignored (`10.1.2.3/8` covers 10.0.0.0-10.255.255.255), as a prefix match does. Pure.
 */
export function cidrRange(cidr: string): AddressRange | null {
  const family: IpFamily | null = CIDR4.test(cidr) ? "ipv4" : isCidr6(cidr) ? "ipv6" : null;
  if (family === null) return null;
  const slash = cidr.lastIndexOf("/");
  const address = cidr.slice(0, slash);
  const hostBits = BigInt(FAMILY_BITS[family] - Number(cidr.slice(slash + 1)));
  const value = family === "ipv4" ? ipv4Value(address) : ipv6Value(address);
  const first = (value >> hostBits) << hostBits;
  return { family, first, last: first + (1n << hostBits) - 1n };
}

/**
 * The same addresses as `ranges` (all of one family), as the fewest ranges: sorted, with
 * overlapping and touching ranges joined. Pure.
 */
export function mergeRanges<R extends { first: bigint; last: bigint }>(ranges: readonly R[]): Array<{ first: bigint; last: bigint }> {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const merged: Array<{ first: bigint; last: bigint }> = [];
  for (const r of sorted) {
    const top = merged[merged.length - 1];
    if (top !== undefined && r.first <= top.last + 1n) {
      if (r.last > top.last) top.last = r.last;
    } else {
      merged.push({ first: r.first, last: r.last });
    }
  }
  return merged;
}

/** How many distinct addresses `ranges` (all of one family) cover together: overlaps count once. Pure. */
export function coveredAddresses(ranges: readonly { first: bigint; last: bigint }[]): bigint {
  return mergeRanges(ranges).reduce((n, r) => n + (r.last - r.first + 1n), 0n);
}

/** Addresses in one block of this prefix length (`/8` of IPv4: 2^24). */
export function prefixSize(family: IpFamily, prefix: number): bigint {
  return 1n << BigInt(FAMILY_BITS[family] - prefix);
}

/**
 * An address count, exact and short: in digits below 65 536, else `2^k` for a power of two and
 * `more than 2^k` otherwise (k the largest power below), so IPv6 counts stay readable.
 */
export function describeAddressCount(n: bigint): string {
  if (n < 65_536n) return n.toString();
  const k = n.toString(2).length - 1;
  return n === 1n << BigInt(k) ? `2^${k}` : `more than 2^${k}`;
}

/**
 * The widest share of each family a set of ranges may open, as a prefix length: together (overlaps
 * counted once) they may cover at most as many addresses as one block of that length.
 */
export interface CoverageLimit {
  ipv4: number;
  ipv6: number;
}

/** Nothing wider than one /8 of IPv4 (2^24 addresses) or one /32 of IPv6 (2^96, one ISP's allocation). */
export const DEFAULT_ADMIN_COVERAGE: Readonly<CoverageLimit> = Object.freeze({ ipv4: 8, ipv6: 32 });

/** A family whose ranges cover more than its limit allows. */
export interface CoverageExcess {
  family: IpFamily;
  /** Distinct addresses the family's ranges cover. */
  covered: bigint;
  /** The most the limit allows. */
  allowed: bigint;
  /** The limit, as a prefix length. */
  prefix: number;
}

/**
 * Per family, the ranges that cover more addresses together than one block of the limit's prefix
 * length: IPv4 first, then IPv6. Text that is not a CIDR is skipped (it has its own problem). Pure.
 *
 * @throws RangeError for a limit that is not a whole prefix length from 1 to the family's bits.
 */
export function coverageExcesses(cidrs: readonly string[], limit: CoverageLimit): CoverageExcess[] {
  for (const family of ["ipv4", "ipv6"] as const) {
    const p = limit[family];
    if (!Number.isInteger(p) || p < 1 || p > FAMILY_BITS[family]) throw new RangeError(`${family} limit: ${p} is not a prefix length from 1 to ${FAMILY_BITS[family]}`);
  }
  const ranges = cidrs.map(cidrRange).filter((r): r is AddressRange => r !== null);
  return (["ipv4", "ipv6"] as const).flatMap((family) => {
    const covered = coveredAddresses(ranges.filter((r) => r.family === family));
    const allowed = prefixSize(family, limit[family]);
    return covered > allowed ? [{ family, covered, allowed, prefix: limit[family] }] : [];
  });
}

/**
 * The message for an excess: the rule (overlaps counted once, at most one /N), what the ranges
 * cover, and the key that sets the limit (`limitKey`, e.g. `aws.adminCidrsMaxCoverage`).
 */
export function describeCoverageExcess(e: CoverageExcess, limitKey: string): string {
  const name = e.family === "ipv4" ? "IPv4" : "IPv6";
  const addresses = (n: bigint) => `${describeAddressCount(n)} address${n === 1n ? "" : "es"}`;
  return (
    `the ${name} ranges together cover ${addresses(e.covered)} (overlaps counted once), ` +
    `more than one /${e.prefix} (${addresses(e.allowed)}) allows (${limitKey}.${e.family}: ${e.prefix}): list narrower ranges`
  );
}

/** An IPv4 address of the private ranges (RFC 1918: 10/8, 172.16/12, 192.168/16). Pure. */
export function isPrivateIPv4(text: string): boolean {
  if (!IPV4.test(text)) return false;
  const [a, b] = text.split(".").map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/**
 * Ports longshore itself uses on every host it provisions, and what for: neither a Compose
 * service nor an accessory may publish them.
 */
export const RESERVED_HOST_PORTS: Readonly<Record<number, string>> = { 22: "the host's SSH server", [PEER_BLOB_PORT]: "longshore's blob exchange between hosts" };
