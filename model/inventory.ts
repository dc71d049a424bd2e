/**
 * The inventory: a YAML (or JSON) file naming the hosts to reach over SSH and how to verify and
 * log in to each. Parsed once, before any host is touched; every problem is reported at once with
 * its path (`inventory.yaml: hosts.web-1.port: must be between 1 and 65535`). The format is
 * documented for users in docs/inventory.md.
 *
 * `parseInventory` is pure (text in, targets or issues out); `loadInventory` is the thin edge that
 * reads the file and throws a {@link ConfigError}.
 */
import * as path from "node:path";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { fsErrorProblem } from "../core/input-files";
import { hostAddressSchema, portSchema } from "./net";
import type { SshTarget } from "./ssh-target";
import { parseYamlText } from "./yaml-text";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type PathIssue, type ParseResult } from "./zod-issues";

/** OpenSSH's SHA256 fingerprint (`ssh-keygen -lf`): `SHA256:` and 43 unpadded base64 characters. */
export const FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Inventory host names: they appear in reports and in `jump:` references. */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;


const fingerprintSchema = z
  .string()
  .regex(FINGERPRINT_PATTERN, {
    error: "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)",
  });


const userSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, { error: "must be a user name (letters, digits, '_', '.', '-')" });


const pathSchema = z.string().min(1);

/** Settings that may appear in `defaults:` and in each host. */
const sharedFields = {
  port: portSchema.optional(),
  user: userSchema.optional(),
  /** Private key file; relative paths are relative to the inventory file's directory. */
  identity: pathSchema.optional(),
  /** Authenticate with the ssh-agent at $SSH_AUTH_SOCK. */
  agent: z.boolean().optional(),
  knownHosts: pathSchema.optional(),
  trustOnFirstUse: z.boolean().optional(),
  sudo: z.boolean().optional(),
};

/** A jump host written inline (it cannot itself name a further jump; name a host for that). */
const inlineJumpSchema = z.strictObject({
  address: hostAddressSchema,
  ...sharedFields,
  hostKey: fingerprintSchema.optional(),
  hostKeys: z.array(fingerprintSchema).min(1).optional(),
});

const hostSchema = z.strictObject({
  address: hostAddressSchema,
  ...sharedFields,
  hostKey: fingerprintSchema.optional(),
  hostKeys: z.array(fingerprintSchema).min(1).optional(),
  /** The name of another host in this file, or an inline bastion. */
  jump: z.union([z.string().min(1), inlineJumpSchema]).optional(),
});

const defaultsSchema = z.strictObject(sharedFields);

/** The inventory file's shape (after YAML parsing, before cross-field checks). */
export const inventorySchema = z.strictObject({
  defaults: defaultsSchema.optional(),
  hosts: z.record(z.string(), hostSchema),
});

/** The parsed file, before it becomes targets. */
export type InventoryDocument = z.output<typeof inventorySchema>;
type HostEntry = z.output<typeof hostSchema>;
type InlineJump = z.output<typeof inlineJumpSchema>;
type Defaults = z.output<typeof defaultsSchema>;

/** What the parser needs from the outside world, passed in so that parsing stays pure. */
export interface InventoryParseOptions {
  /** The file's name as the user knows it; prefixes every issue path. */
  file?: string;
  /** Relative `identity` / `knownHosts` paths are resolved against this directory. */
  baseDir: string;
  /** `~/` in paths expands to this; TOFU records to `<homeDir>/.ssh/known_hosts` by default. */
  homeDir: string;
  /** $SSH_AUTH_SOCK, used for hosts with `agent: true`. */
  sshAuthSock?: string;
}

/** Parses inventory text (YAML or JSON) into targets, or returns every problem found. Pure. */
export function parseInventory(text: string, options: InventoryParseOptions): ParseResult<SshTarget[]> {
  const y = parseYamlText(text, options.file);
  if (!y.ok) return y;
  const r = inventoryFromData(y.data, options);
  return r.ok ? r : { ok: false, issues: formatIssues(r.issues, options.file) };
}

/**
 * Validates already-parsed data (from YAML, JSON, or built from command-line flags) and builds
 * targets. Issues keep their paths as arrays so callers can map them (the CLI maps them to flags).
 */
export function inventoryFromData(
  data: unknown,
  options: InventoryParseOptions,
): { ok: true; value: SshTarget[] } | { ok: false; issues: PathIssue[] } {
  if (data === null || data === undefined) {
    return { ok: false, issues: [{ path: [], message: "the inventory is empty: expected a hosts: mapping" }] };
  }
  const issues: PathIssue[] = [];
  const parsed = inventorySchema.safeParse(data, { error: friendlyErrorMap });
  if (!parsed.success) issues.push(...zodPathIssues(parsed.error.issues));

  // Cross-field checks run on the raw data too, so a file with a bad port AND a missing identity
  // reports both at once (zod skips refinements on objects that already have issues).
  issues.push(...crossFieldIssues(data, options));
  if (issues.length || !parsed.success) return { ok: false, issues: sortByDocumentOrder(issues, data) };
  return { ok: true, value: buildTargets(parsed.data, options) };
}

/**
 * Reads and parses an inventory file and checks the private key files it names (each must exist,
 * be a file and not be empty), before any host is contacted; throws {@link ConfigError} listing
 * every problem, a key file's at the key that named it (`hosts.web-1.identity`, `defaults.identity`).
 */
export async function loadInventory(
  file: string,
  env: { homeDir: string; sshAuthSock?: string; readFile?: (p: string) => Promise<string> },
): Promise<SshTarget[]> {
  const read = env.readFile ?? ((p: string) => readFile(p, "utf8"));
  const suggestion = "Fix the listed problems; docs/inventory.md describes the format.";
  let text: string;
  try {
    text = await read(file);
  } catch (err) {
    throw new ConfigError(file, [{ path: file, message: `the file ${fsErrorProblem(err)}` }], {
      suggestion: "Check the --inventory path.",
      cause: err,
    });
  }
  const options: InventoryParseOptions = {
    file,
    baseDir: path.dirname(path.resolve(file)),
    homeDir: env.homeDir,
    ...(env.sshAuthSock ? { sshAuthSock: env.sshAuthSock } : {}),
  };
  const y = parseYamlText(text, file);
  if (!y.ok) throw new ConfigError(file, y.issues, { suggestion });
  const r = inventoryFromData(y.data, options);
  const keyIssues = await identityFileIssues(y.data, options, read);
  if (r.ok && keyIssues.length === 0) return r.value;
  const issues = [...(r.ok ? [] : r.issues), ...keyIssues];
  throw new ConfigError(file, formatIssues(sortByDocumentOrder(issues, y.data), file), { suggestion });
}

/**
 * Why a private key file cannot be used (`does not exist`, `is a directory`, `is empty`), or null.
 * Read through `read`, the way the CLI reads every file; whether it holds a usable key is for the
 * SSH client to say.
 */
export async function identityFileProblem(file: string, read: (p: string) => Promise<string>): Promise<string | null> {
  try {
    return (await read(file)).length === 0 ? "is empty" : null;
  } catch (e) {
    return fsErrorProblem(e);
  }
}

/** Each `identity` the data names (defaults, hosts, inline jumps), checked once per key. Tolerant of malformed data. */
async function identityFileIssues(data: unknown, options: InventoryParseOptions, read: (p: string) => Promise<string>): Promise<PathIssue[]> {
  if (!isRecord(data)) return [];
  const named: Array<{ path: PropertyKey[]; value: string }> = [];
  const take = (obj: unknown, at: PropertyKey[]) => {
    if (isRecord(obj) && typeof obj["identity"] === "string" && obj["identity"] !== "") named.push({ path: [...at, "identity"], value: obj["identity"] });
  };
  take(data["defaults"], ["defaults"]);
  const hosts = isRecord(data["hosts"]) ? data["hosts"] : {};
  for (const [name, host] of Object.entries(hosts)) {
    take(host, ["hosts", name]);
    if (isRecord(host)) take(host["jump"], ["hosts", name, "jump"]);
  }
  const checked = await Promise.all(
    named.map(async (n): Promise<PathIssue | null> => {
      const file = resolveUserPath(n.value, options);
      const problem = await identityFileProblem(file, read);
      return problem === null ? null : { path: n.path, message: `${file} ${problem}` };
    }),
  );
  return checked.filter((i): i is PathIssue => i !== null);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The message for a host without an auth method (the CLI rewords it for flags). */
export const NO_AUTH = "no way to log in: set identity (a private key file) or agent: true";
/** The message for a host without a host-key source. */
export const NO_HOST_KEY = "no way to verify the host key: set hostKey, hostKeys, knownHosts or trustOnFirstUse: true";

/** Requirement checks that look at several fields, tolerant of malformed values (zod reports those). */
function crossFieldIssues(data: unknown, options: InventoryParseOptions): PathIssue[] {
  if (!isRecord(data) || !isRecord(data["hosts"])) return [];
  const hosts = data["hosts"];
  const defaults = isRecord(data["defaults"]) ? data["defaults"] : {};
  const issues: PathIssue[] = [];
  const names = Object.keys(hosts);
  if (names.length === 0) issues.push({ path: ["hosts"], message: "must list at least one host" });

  for (const name of names) {
    const at = ["hosts", name];
    if (!HOST_NAME_PATTERN.test(name)) {
      issues.push({ path: at, message: "host names may only contain letters, digits, '.', '_' and '-'" });
    }
    const host = hosts[name];
    if (!isRecord(host)) continue;
    issues.push(...accessIssues({ ...defaults, ...host }, at, options));
    const jump = host["jump"];
    if (typeof jump === "string" && jump !== "" && !(jump in hosts)) {
      issues.push({ path: [...at, "jump"], message: `no host named ${JSON.stringify(jump)} in this inventory` });
    } else if (isRecord(jump)) {
      issues.push(...accessIssues({ ...defaults, ...jump }, [...at, "jump"], options));
    }
  }
  issues.push(...jumpCycleIssues(hosts));
  return issues;
}

/** Every host (and inline jump) needs an auth method and a host-key source. */
function accessIssues(merged: Record<string, unknown>, at: PropertyKey[], options: InventoryParseOptions): PathIssue[] {
  const out: PathIssue[] = [];
  if (merged["identity"] === undefined && merged["agent"] !== true) out.push({ path: at, message: NO_AUTH });
  if (merged["agent"] === true && !options.sshAuthSock) {
    out.push({ path: [...at, "agent"], message: "SSH_AUTH_SOCK is not set: start ssh-agent or use identity instead" });
  }
  const hasKeySource =
    merged["hostKey"] !== undefined ||
    merged["hostKeys"] !== undefined ||
    merged["knownHosts"] !== undefined ||
    merged["trustOnFirstUse"] === true;
  if (!hasKeySource) out.push({ path: at, message: NO_HOST_KEY });
  return out;
}

/** Named jumps must not loop (a -> b -> a); each cycle is reported once, at its first host in file order. */
function jumpCycleIssues(hosts: Record<string, unknown>): PathIssue[] {
  const next = (name: string): string | undefined => {
    const h = hosts[name];
    const j = isRecord(h) ? h["jump"] : undefined;
    return typeof j === "string" && j in hosts ? j : undefined;
  };
  const reported = new Set<string>();
  const out: PathIssue[] = [];
  for (const start of Object.keys(hosts)) {
    const chain: string[] = [];
    let cur: string | undefined = start;
    while (cur !== undefined && !chain.includes(cur)) {
      chain.push(cur);
      cur = next(cur);
    }
    if (cur === undefined) continue;
    const cycle = chain.slice(chain.indexOf(cur));
    const key = [...cycle].sort().join("\0");
    if (reported.has(key)) continue;
    reported.add(key);
    out.push({ path: ["hosts", start, "jump"], message: `jump hosts form a cycle: ${[...cycle, cur].join(" -> ")}` });
  }
  return out;
}

/** A path from the inventory or a flag: `~` and `~/` are the home directory, a relative one starts at `baseDir`. */
export function resolveUserPath(p: string, options: Pick<InventoryParseOptions, "baseDir" | "homeDir">): string {
  if (p === "~") return options.homeDir;
  if (p.startsWith("~/")) return path.join(options.homeDir, p.slice(2));
  return path.resolve(options.baseDir, p);
}

/** Turns a validated document into targets (named jumps resolved, defaults applied). */
function buildTargets(doc: InventoryDocument, options: InventoryParseOptions): SshTarget[] {
  const defaults: Defaults = doc.defaults ?? {};
  const built = new Map<string, SshTarget>();
  const build = (name: string): SshTarget => {
    const done = built.get(name);
    if (done) return done;
    const entry = doc.hosts[name] as HostEntry;
    const target = toTarget(name, { ...defaults, ...entry }, options);
    if (typeof entry.jump === "string") target.jump = build(entry.jump);
    else if (entry.jump) target.jump = toTarget(`${name}.jump`, { ...defaults, ...entry.jump }, options);
    built.set(name, target);
    return target;
  };
  return Object.keys(doc.hosts).map(build);
}

function toTarget(name: string, h: Defaults & InlineJump, options: InventoryParseOptions): SshTarget {
  const user = h.user ?? "root";
  const fingerprints = [...(h.hostKey ? [h.hostKey] : []), ...(h.hostKeys ?? [])];
  const knownHostsFile = h.knownHosts ? resolveUserPath(h.knownHosts, options) : undefined;
  return {
    name,
    address: h.address,
    port: h.port ?? 22,
    user,
    auth: {
      ...(h.identity ? { privateKeyFile: resolveUserPath(h.identity, options) } : {}),
      ...(h.agent && options.sshAuthSock ? { agent: options.sshAuthSock } : {}),
    },
    hostKey: {
      ...(fingerprints.length ? { fingerprints: [...new Set(fingerprints)] } : {}),
      ...(knownHostsFile ? { knownHostsFile } : {}),
      ...(h.trustOnFirstUse
        ? { trustOnFirstUse: { recordTo: knownHostsFile ?? path.join(options.homeDir, ".ssh", "known_hosts") } }
        : {}),
    },
    sudo: h.sudo ?? user !== "root",
  };
}
