/**
 * Points in time as users write them on the command line (`--since 10m`, `--until
 * 2026-12-04T15:00:00Z`), and as the engine reads and prints them. Times are nanoseconds since the
 * Unix epoch as a bigint: the engine's log timestamps and events carry nanoseconds, and ordering
 * lines of several hosts needs all of them. Pure: the current time is an argument.
 */
import { ConfigError, type ConfigIssue } from "./errors";

/** Nanoseconds since 1970-01-01T00:00:00Z. */
export type EpochNs = bigint;

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** Nanoseconds per unit of a relative time (`1h30m`): Go's units the engine takes, plus `d` (24 h). */
const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  ms: NS_PER_MS,
  s: NS_PER_S,
  m: 60n * NS_PER_S,
  h: 3_600n * NS_PER_S,
  d: 86_400n * NS_PER_S,
};

/** What a flag's message says it takes. */
const EXPECTED = "a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400)";

const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+)(?:\.(\d+))?(ns|us|ms|s|m|h|d)/g;
const UNIX = /^(\d+)(?:\.(\d{1,9}))?$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** A decimal fraction's digits (`5` of `1.5`) scaled to `unit`, truncated. */
function fraction(digits: string | undefined, unit: bigint): bigint {
  if (!digits) return 0n;
  return (BigInt(digits) * unit) / 10n ** BigInt(digits.length);
}

/**
 * Parses one time flag: a duration is that long before `nowNs`, an RFC 3339 time is absolute (its
 * zone required: a time without one would mean another instant on each host), a bare number is Unix
 * seconds (fractions to the nanosecond). A problem is a ConfigError at the flag (`--since`).
 */
export function parseTimeFlag(flag: string, value: string, nowNs: EpochNs): EpochNs {
  const fail = (message: string): never => {
    throw new ConfigError("command line", [{ path: flag, message }]);
  };
  const v = value.trim();
  if (v === "") return fail(`must be ${EXPECTED}; got nothing`);
  if (UNIX.test(v)) {
    const [, s, frac] = UNIX.exec(v)!;
    return BigInt(s!) * NS_PER_S + fraction(frac, NS_PER_S);
  }
  if (DURATION.test(v)) {
    let total = 0n;
    for (const [, whole, frac, unit] of v.matchAll(DURATION_PART)) {
      const ns = UNIT_NS[unit!]!;
      total += BigInt(whole!) * ns + fraction(frac, ns);
    }
    const at = nowNs - total;
    return at < 0n ? fail(`${JSON.stringify(value)} reaches before 1970`) : at;
  }
  const m = RFC3339.exec(v);
  if (m) {
    const [, y, mo, d, h, mi, s, frac, zone] = m;
    const fields = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)] as const;
    const ms = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]);
    const back = new Date(ms);
    // Date.UTC rolls 2026-02-30 over to March: a date that does not exist is a typo, said so.
    if (back.getUTCMonth() !== fields[1] - 1 || back.getUTCDate() !== fields[2] || fields[3] > 23 || fields[4] > 59 || fields[5] > 59) {
      return fail(`${JSON.stringify(value)} is not a valid date and time`);
    }
    let offsetMin = 0;
    if (zone !== "Z" && zone !== "z") {
      const [hh, mm] = zone!.slice(1).split(":").map(Number) as [number, number];
      if (hh > 23 || mm > 59) return fail(`${JSON.stringify(value)} has an invalid zone offset`);
      offsetMin = (zone!.startsWith("-") ? -1 : 1) * (hh * 60 + mm);
    }
    const at = (BigInt(ms) - BigInt(offsetMin) * 60_000n) * NS_PER_MS + fraction(frac, NS_PER_S);
    return at < 0n ? fail(`${JSON.stringify(value)} is before 1970`) : at;
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v)) return fail(`${JSON.stringify(value)} needs a time zone (Z or +01:00): without one, each host would read another instant`);
  if (/^-/.test(v)) return fail(`${JSON.stringify(value)}: a duration counts back from now, write it without a sign (10m)`);
  return fail(`must be ${EXPECTED}; got ${JSON.stringify(value)}`);
}

/** The two flags of a time range, parsed against one `nowNs`; `--until` before `--since` is a problem. */
export function parseTimeRange(flags: { since?: string; until?: string }, nowNs: EpochNs): { since: EpochNs | null; until: EpochNs | null } {
  const problems: ConfigError[] = [];
  const parse = (flag: string, value: string | undefined): EpochNs | null => {
    if (value === undefined) return null;
    try {
      return parseTimeFlag(flag, value, nowNs);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(e);
      return null;
    }
  };
  const since = parse("--since", flags.since);
  const until = parse("--until", flags.until);
  if (problems.length) throw new ConfigError("command line", problems.flatMap((p) => p.issues));
  if (since !== null && until !== null && until < since) {
    throw new ConfigError("command line", [{ path: "--until", message: `${formatRfc3339Nano(until)} is before --since (${formatRfc3339Nano(since)})` }]);
  }
  return { since, until };
}

/**
 * {@link parseTimeRange} for a verb that reports every flag's problem at once: the problems are
 * added to `issues` and the range is then empty.
 */
export function collectTimeRange(flags: { since?: string; until?: string }, nowNs: EpochNs, issues: ConfigIssue[]): { since: EpochNs | null; until: EpochNs | null } {
  try {
    return parseTimeRange(flags, nowNs);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    issues.push(...e.issues);
    return { since: null, until: null };
  }
}

/** The engine's form of an instant for `--since`/`--until`: Unix seconds and nanoseconds (`1764860400.000000000`). */
export function engineTimestamp(ns: EpochNs): string {
  return `${ns / NS_PER_S}.${(ns % NS_PER_S).toString().padStart(9, "0")}`;
}

/** RFC 3339 in UTC with nine fraction digits, as `docker logs --timestamps` prints it. */
export function formatRfc3339Nano(ns: EpochNs): string {
  const ms = Number(ns / NS_PER_MS);
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${(ns % NS_PER_S).toString().padStart(9, "0")}Z`;
}

/**
 * Reads an RFC 3339 time the engine printed (`2026-12-04T15:00:00.123456789Z`, or with an offset);
 * null for anything else. Unlike {@link parseTimeFlag} this never throws: host output is data.
 */
export function parseEngineTime(text: string): EpochNs | null {
  try {
    return RFC3339.test(text) ? parseTimeFlag("time", text, 0n) : null;
  } catch {
    return null;
  }
}

/** `Date.now()` as {@link EpochNs}. */
export function msToNs(ms: number): EpochNs {
  return BigInt(Math.trunc(ms)) * NS_PER_MS;
}
