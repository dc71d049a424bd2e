/**
 * OpenSSH known_hosts files, read and decided on without ssh2: parsing and matching are pure; only
 * {@link readKnownHostsFile} and {@link appendKnownHostsLine} touch the disk.
 *
 * Supported, as in `sshd(8)` "SSH_KNOWN_HOSTS FILE FORMAT": comma-separated host patterns with `*`,
 * `?` and `!` negation, `[host]:port` for non-22 ports, hashed names (`|1|salt|HMAC-SHA1`), the
 * `@revoked` marker (the key is refused for every host, which fails closed), comments and blank lines.
 * `@cert-authority` lines are skipped: longshore does not accept host certificates.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { appendFile, readFile, stat } from "node:fs/promises";
import { decodeKeyBlob, fingerprintOf, normaliseFingerprint } from "./fingerprint";

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number;
  marker: "revoked" | "cert-authority" | null;
  /** Plain host patterns, or null for a hashed entry. */
  patterns: string[] | null;
  /** Salt and HMAC-SHA1 digest of a hashed (`|1|...`) entry. */
  hashed: { salt: Buffer; digest: Buffer } | null;
  keyType: string;
  /** Raw public key blob. */
  key: Buffer;
}

/** A line that could not be used (it is skipped, like OpenSSH does). */
export interface KnownHostsProblem {
  line: number;
  message: string;
}

/** Parses the text of a known_hosts file. Never throws: bad lines are reported and skipped. */
export function parseKnownHosts(text: string): { entries: KnownHostEntry[]; problems: KnownHostsProblem[] } {
  const entries: KnownHostEntry[] = [];
  const problems: KnownHostsProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry["marker"] = null;
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else return void problems.push({ line, message: `unknown marker ${m}` });
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64) return void problems.push({ line, message: "expected: hosts keytype base64-key" });
    const key = decodeKeyBlob(keyType, base64);
    if (!key) return void problems.push({ line, message: `key is not valid base64 of a ${keyType} key` });
    if (hosts.startsWith("|")) {
      const hashed = parseHashedHost(hosts);
      if (!hashed) return void problems.push({ line, message: "hashed host name is not |1|salt|hash" });
      entries.push({ line, marker, patterns: null, hashed, keyType, key });
    } else {
      entries.push({ line, marker, patterns: hosts.split(",").filter((p) => p !== ""), hashed: null, keyType, key });
    }
  });
  return { entries, problems };
}

function parseHashedHost(field: string): { salt: Buffer; digest: Buffer } | null {
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field);
  if (!m) return null;
  const salt = Buffer.from(m[1]!, "base64");
  const digest = Buffer.from(m[2]!, "base64");
  return salt.length === 20 && digest.length === 20 ? { salt, digest } : null;
}

/** The name a host is looked up under: `host` on port 22, `[host]:port` otherwise (lower-cased). */
export function knownHostsName(address: string, port: number): string {
  const host = address.toLowerCase();
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The `|1|salt|hash` form of a host name, for writing hashed files or tests. */
export function hashKnownHostsName(name: string, salt: Buffer): string {
  const digest = createHmac("sha1", salt).update(name).digest();
  return `|1|${salt.toString("base64")}|${digest.toString("base64")}`;
}

/** True when `entry`'s host field names `address:port`. */
export function entryMatchesHost(entry: KnownHostEntry, address: string, port: number): boolean {
  const name = knownHostsName(address, port);
  if (entry.hashed) {
    const digest = createHmac("sha1", entry.hashed.salt).update(name).digest();
    return timingSafeEqual(digest, entry.hashed.digest);
  }
  let matched = false;
  for (const pattern of entry.patterns ?? []) {
    const negated = pattern.startsWith("!");
    if (globMatch(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false; // a matching negation overrides every positive match
      matched = true;
    }
  }
  return matched;
}

/** OpenSSH-style wildcard match (`*` any run, `?` one character), case-insensitive. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .toLowerCase()
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${re}$`).test(name);
}

/** What {@link decideHostKey} concluded. `unknown`: nothing is known about this host at all. */
export type HostKeyVerdict = "accept" | "unknown" | "mismatch" | "revoked";

/** Inputs to {@link decideHostKey}: the presented key and everything the policy knows. */
export interface HostKeyFacts {
  address: string;
  port: number;
  presented: Buffer;
  /** Pinned `SHA256:` fingerprints (any one may match). */
  pinned: readonly string[];
  /** Entries from every known_hosts file consulted. */
  entries: readonly KnownHostEntry[];
}

/**
 * Decides on a presented host key. A revoked key is refused even when pinned; otherwise the key
 * must equal a pinned fingerprint or a known_hosts key for this host. `expected` lists the
 * fingerprints that would have been accepted (for the error message).
 */
export function decideHostKey(facts: HostKeyFacts): { verdict: HostKeyVerdict; expected: string[]; presented: string } {
  const presented = fingerprintOf(facts.presented);
  const expected = new Set<string>();
  for (const p of facts.pinned) expected.add(normaliseFingerprint(p) ?? p);
  let revoked = false;
  for (const e of facts.entries) {
    if (e.marker === "revoked") {
      if (e.key.equals(facts.presented)) revoked = true;
    } else if (e.marker === null && entryMatchesHost(e, facts.address, facts.port)) {
      expected.add(fingerprintOf(e.key));
    }
  }
  const list = [...expected];
  if (revoked) return { verdict: "revoked", expected: list, presented };
  if (expected.has(presented)) return { verdict: "accept", expected: list, presented };
  return { verdict: list.length === 0 ? "unknown" : "mismatch", expected: list, presented };
}

/** Key types known for a host, so a client can ask the server for one of those first. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], address: string, port: number): string[] {
  const types = entries.filter((e) => e.marker === null && entryMatchesHost(e, address, port)).map((e) => e.keyType);
  return [...new Set(types)];
}

/** One plain known_hosts line for a host and key blob. */
export function knownHostsLine(address: string, port: number, keyType: string, key: Buffer): string {
  return `${knownHostsName(address, port)} ${keyType} ${key.toString("base64")}`;
}

/** Reads and parses a known_hosts file; a missing file is an empty one (as in OpenSSH). */
export async function readKnownHostsFile(path: string): Promise<KnownHostEntry[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return parseKnownHosts(text).entries;
}

/**
 * Appends one line to a known_hosts file, creating it with mode 0600. Adds the newline the file
 * may lack at its end so the new entry never merges into the last one.
 */
export async function appendKnownHostsLine(path: string, line: string): Promise<void> {
  let prefix = "";
  try {
    const size = (await stat(path)).size;
    if (size > 0) {
      const text = await readFile(path);
      if (text[text.length - 1] !== 0x0a) prefix = "\n";
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await appendFile(path, `${prefix}${line}\n`, { mode: 0o600 });
}
