/**
 * Network values every layer writes the same way: ports, IPv4/IPv6 addresses and CIDRs, host
 * names, `ADDRESS:PORT` listen addresses, absolute paths. One rule each, so a value the engine,
 * HAProxy or AWS would refuse is refused here first, with the user's key path.
 */
import { z } from "zod";

const PORT_MESSAGE = "must be a whole number from 1 to 65535";

/** A TCP port, 1-65535. */
export const portSchema = z.number(PORT_MESSAGE).int(PORT_MESSAGE).min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);

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
