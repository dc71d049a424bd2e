/**
 * One error hierarchy for all of longshore. Every error has a stable `code`, a message in the
 * user's terms, optional `context` (already redacted: never put a clear secret here), a
 * `suggestion` for what to do next and the `cause` it wraps. The CLI maps classes to exit codes in
 * one place (`cli/exit-codes.ts`); nothing else decides exit codes.
 */

/** Options shared by every longshore error. */
export interface LongshoreErrorOptions {
  /** What the user can do about it, one sentence. */
  suggestion?: string;
  /** Structured, already-redacted detail (host, step id, paths...). */
  context?: Record<string, unknown>;
  /** The lower-level error this one wraps. */
  cause?: unknown;
}

/** Base class: never thrown directly, always through a subclass with its own code. */
export abstract class LongshoreError extends Error {
  abstract readonly code: string;
  readonly suggestion: string | undefined;
  readonly context: Record<string, unknown>;

  constructor(message: string, options: LongshoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.suggestion = options.suggestion;
    this.context = options.context ?? {};
  }

  /** A JSON-safe view for `--json` output. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.suggestion ? { suggestion: this.suggestion } : {}),
      ...(Object.keys(this.context).length ? { context: this.context } : {}),
    };
  }
}

/** One problem found in user input, with the path to it (`web.yaml: slots.green.image`). */
export interface ConfigIssue {
  /** Where the problem is: file (when known) and dotted path inside it. */
  path: string;
  message: string;
}

/**
 * How many problems an error shows; the rest are counted (`and 99,950 more`). A file with 100,000
 * unknown keys is one mistake (a wrong file, a bad generator), not 100,000 lines to read.
 */
export const MAX_SHOWN_ISSUES = 50;

/** `1,234`: counts as people read them. */
function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** The message of an error that lists problems: a title with their number, the first {@link MAX_SHOWN_ISSUES}, the rest counted. */
function listMessage(title: string, lines: readonly string[]): string {
  const shown = lines.slice(0, MAX_SHOWN_ISSUES).map((l) => `  ${l}`);
  if (lines.length > MAX_SHOWN_ISSUES) shown.push(`  and ${count(lines.length - MAX_SHOWN_ISSUES)} more`);
  return `${title} (${count(lines.length)} problem${lines.length === 1 ? "" : "s"}):\n${shown.join("\n")}`;
}

/** The first {@link MAX_SHOWN_ISSUES} of a list for JSON output, and how many were left out. */
function listJson<T>(issues: readonly T[]): { issues: readonly T[]; moreIssues?: number } {
  return issues.length > MAX_SHOWN_ISSUES ? { issues: issues.slice(0, MAX_SHOWN_ISSUES), moreIssues: issues.length - MAX_SHOWN_ISSUES } : { issues };
}

/**
 * Invalid user input (config file, inventory, flags). Lists every problem, never just the first
 * (the message and JSON show the first {@link MAX_SHOWN_ISSUES}; `issues` holds them all).
 */
export class ConfigError extends LongshoreError {
  readonly code = "CONFIG_INVALID";
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[], options: LongshoreErrorOptions = {}) {
    super(listMessage(`${source} is invalid`, issues.map((i) => `${i.path}: ${i.message}`)), options);
    this.issues = issues;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...listJson(this.issues) };
  }
}

/**
 * Awaits the checks of independent inputs (secrets, hosts, files) and reports every problem at
 * once: when several fail with ConfigErrors, one ConfigError ("the input is invalid") lists all
 * their issues, each with its own path; a single one is thrown as it is. Any other error is thrown
 * before them: it is not the input's fault, and hiding it behind input problems would mislead.
 */
export async function allInputs<T extends readonly unknown[] | []>(checks: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = (await Promise.allSettled(checks)) as PromiseSettledResult<unknown>[];
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => s.reason as unknown);
  const other = failed.findIndex((e) => !(e instanceof ConfigError));
  if (other !== -1) throw failed[other];
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) {
    const errors = failed as ConfigError[];
    const suggestions = [...new Set(errors.map((e) => e.suggestion).filter((s): s is string => s !== undefined))];
    throw new ConfigError("the input", errors.flatMap((e) => e.issues), suggestions.length ? { suggestion: suggestions.join(" ") } : {});
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** One problem found in an engine bundle: the file (relative to the bundle) and what is wrong. */
export interface BundleIssue {
  /** Path inside the bundle directory (`debs/tini_0.19.0-1+b3_amd64.deb`, `manifest.json`). */
  file: string;
  message: string;
  /** The sha256 the manifest promises, when the problem is a checksum. */
  expected?: string;
  /** The sha256 the file has, when the problem is a checksum. */
  actual?: string;
}

/**
 * An engine bundle that cannot be trusted: a file whose sha256 differs from its manifest, a missing
 * or extra file, a manifest whose bundle id does not match its content. Lists every problem.
 */
export class BundleError extends LongshoreError {
  readonly code = "BUNDLE_INVALID";
  readonly issues: readonly BundleIssue[];

  constructor(bundle: string, issues: readonly BundleIssue[], options: LongshoreErrorOptions = {}) {
    super(listMessage(`bundle ${bundle} is invalid`, issues.map((i) => `${i.file}: ${i.message}`)), {
      suggestion: "Rebuild the bundle with `longshore engine bundle`; never edit a bundle by hand.",
      ...options,
      context: { bundle, ...options.context },
    });
    this.issues = issues;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...listJson(this.issues) };
  }
}

/** Something this computer lacks (a tool, root, Linux). */
export class PreconditionError extends LongshoreError {
  readonly code = "PRECONDITION_FAILED";
}

/** How a transport failed; decides whether a retry can help. */
export type TransportErrorKind =
  | "dns"
  | "refused"
  | "timeout"
  | "auth"
  | "host-key"
  | "disconnected"
  | "command-timeout"
  | "sudo"
  | "aborted"
  | "protocol";

const RETRYABLE: ReadonlySet<TransportErrorKind> = new Set(["refused", "timeout", "disconnected"]);

/** Failure to reach or talk to a host. Never raised for a command's non-zero exit. */
export class TransportError extends LongshoreError {
  readonly code = "TRANSPORT_FAILED";
  readonly kind: TransportErrorKind;
  readonly host: string;
  /** A retry may succeed (refused while booting, timeouts, dropped connections). Auth and host-key never. */
  readonly retryable: boolean;

  constructor(kind: TransportErrorKind, host: string, message: string, options: LongshoreErrorOptions = {}) {
    super(`${host}: ${message}`, { ...options, context: { host, kind, ...options.context } });
    this.kind = kind;
    this.host = host;
    this.retryable = RETRYABLE.has(kind);
  }
}

/** The host presented a key that does not match what longshore expects. Fails closed. */
export class HostKeyError extends LongshoreError {
  readonly code = "HOST_KEY_MISMATCH";
  readonly host: string;
  readonly expected: readonly string[];
  readonly presented: string;

  constructor(host: string, expected: readonly string[], presented: string, options: LongshoreErrorOptions = {}) {
    const exp = expected.length ? expected.join(", ") : "(no key known for this host)";
    super(`${host}: host key verification failed: expected ${exp}, presented ${presented}`, {
      suggestion:
        expected.length === 0
          ? "Pin the host's key (hostKey: SHA256:...) or point knownHosts at a file that has it; use --trust-on-first-use only if you know the network is safe."
          : "If the host was legitimately rebuilt, update its pinned key; otherwise treat this as an attack.",
      ...options,
      context: { host, expected, presented, ...options.context },
    });
    this.host = host;
    this.expected = expected;
    this.presented = presented;
  }
}

/** A command ran and exited non-zero (or died on a signal), where success was required. */
export class CommandFailedError extends LongshoreError {
  readonly code = "COMMAND_FAILED";
  readonly host: string;
  readonly stepId: string;
  /** The command as shown to humans, secrets redacted. */
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Last lines of stderr, redacted. */
  readonly stderrTail: string;

  constructor(
    args: {
      host: string;
      stepId: string;
      phase: string;
      command: string;
      exitCode: number | null;
      signal: string | null;
      stderrTail: string;
    },
    options: LongshoreErrorOptions = {},
  ) {
    const how = args.exitCode === null ? `was killed by signal ${args.signal ?? "(unknown)"}` : `exited ${args.exitCode}`;
    const tail = args.stderrTail.trim() ? `\n${indent(args.stderrTail.trim())}` : "";
    super(`${args.host}: ${args.stepId} (${args.phase}): \`${args.command}\` ${how}${tail}`, {
      ...options,
      context: { ...args, ...options.context },
    });
    this.host = args.host;
    this.stepId = args.stepId;
    this.command = args.command;
    this.exitCode = args.exitCode;
    this.signal = args.signal;
    this.stderrTail = args.stderrTail;
  }
}

/** The container a command was to run in is not on the host (not running, or no such service): nothing ran. */
export class ContainerNotFoundError extends LongshoreError {
  readonly code = "CONTAINER_NOT_FOUND";
}

/** A health check did not pass in time. */
export class HealthCheckError extends LongshoreError {
  readonly code = "HEALTH_CHECK_FAILED";
}

/** Several hosts failed; each failure is kept whole. */
export class AggregateHostError extends LongshoreError {
  readonly code = "HOSTS_FAILED";
  readonly failures: ReadonlyArray<{ host: string; error: Error }>;

  constructor(failures: ReadonlyArray<{ host: string; error: Error }>, total: number) {
    super(
      `${failures.length} of ${total} host${total === 1 ? "" : "s"} failed:\n` +
        failures.map((f) => indent(f.error.message)).join("\n"),
    );
    this.failures = failures;
  }
}

/** Another operation holds the environment's lock. */
export class LockHeldError extends LongshoreError {
  readonly code = "LOCK_HELD";
}

/** A rollout failed and traffic was kept on (or returned to) the old slot. */
export class RolloutError extends LongshoreError {
  readonly code = "ROLLOUT_FAILED";
}

/** Something that must be installed by the user (e.g. the Pulumi CLI) is absent. */
export class MissingToolError extends LongshoreError {
  readonly code = "TOOL_MISSING";
}

/** How talking to a container registry failed; decides the exit code. */
export type RegistryErrorKind =
  /** The registry refused the credentials, or wants some and none were given: input to fix. */
  | "auth"
  /** No such repository or tag: input to fix. */
  | "not-found"
  /** The registry could not be reached (DNS, refused, timeout, TLS). */
  | "unreachable"
  /** The registry answered something longshore cannot use. */
  | "protocol";

/**
 * A container registry (Docker Registry HTTP API v2) failed or refused a request. The message
 * names the registry's `host[:port]`; it never holds a password or a token.
 */
export class RegistryError extends LongshoreError {
  readonly code = "REGISTRY_FAILED";
  readonly kind: RegistryErrorKind;
  /** The registry's `host[:port]`. */
  readonly registry: string;

  constructor(kind: RegistryErrorKind, registry: string, message: string, options: LongshoreErrorOptions = {}) {
    super(message, { ...options, context: { registry, kind, ...options.context } });
    this.kind = kind;
    this.registry = registry;
  }
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}
