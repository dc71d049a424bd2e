/**
 * Turns zod issues into {@link ConfigIssue}s that read well to a human: a dotted path
 * (`hosts.web-1.port`, `hostKeys[0]`) and a short message in plain words (`must be a number`,
 * `unknown key`). Every config parser uses this, so all of longshore reports input errors alike.
 */
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../core/errors";

/** A path segment that prints without quoting (`hosts.web-1.port`). */
const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a zod path: keys joined by dots, array indices as `[n]`, keys holding dots or spaces
 * quoted (`hosts["web.1"].port`) so a path is never ambiguous. The empty path is `(top level)`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = String(seg);
      if (PLAIN_KEY.test(key)) out += out === "" ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** Builds one issue; `file`, when known, prefixes the path (`inventory.yaml: hosts.a.port`). */
export function configIssue(path: readonly PropertyKey[], message: string, file?: string): ConfigIssue {
  const p = formatPath(path);
  return { path: file ? (path.length ? `${file}: ${p}` : file) : p, message };
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  switch (typeof value) {
    case "string":
      return "a string";
    case "number":
      return Number.isInteger(value) ? "a number" : "a decimal number";
    case "boolean":
      return value ? "true" : "false";
    case "object":
      return "a mapping";
    default:
      return typeof value;
  }
}

const EXPECTED_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping (key: value)",
  array: "a list",
  record: "a mapping (key: value)",
};

/**
 * A per-parse zod error map with plain-words messages. Pass it as `{ error: friendlyErrorMap }`
 * to `safeParse`; messages set on a schema itself (`{ error: "..." }`) still win.
 */
export const friendlyErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type": {
      if (issue.input === undefined) return "is required";
      const expected = EXPECTED_WORDS[issue.expected] ?? issue.expected;
      return `must be ${expected} (got ${describeValue(issue.input)})`;
    }
    case "too_small": {
      const n = Number(issue.minimum);
      if (issue.origin === "string") return n === 1 ? "must not be empty" : `must be at least ${n} characters`;
      if (issue.origin === "array" || issue.origin === "set")
        return n === 1 ? "must not be empty" : `must have at least ${n} items`;
      return issue.inclusive ? `must be at least ${n}` : `must be greater than ${n}`;
    }
    case "too_big": {
      const n = Number(issue.maximum);
      if (issue.origin === "string") return `must be at most ${n} characters`;
      if (issue.origin === "array" || issue.origin === "set") return `must have at most ${n} items`;
      return issue.inclusive ? `must be at most ${n}` : `must be less than ${n}`;
    }
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return issue.format === "regex" ? "has the wrong format" : `must be a valid ${issue.format}`;
    case "invalid_union":
      return "has the wrong type or shape";
    default:
      return undefined;
  }
};

/** A problem at a path, before it is formatted (parsers combine these, then format once). */
export interface PathIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Converts zod issues into path issues. An `unrecognized_keys` issue becomes one `unknown key`
 * issue per key, at the key's own path, so each can be found in the file. `prefix` is prepended
 * to every path (for a sub-document parsed on its own).
 */
export function zodPathIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): PathIssue[] {
  const out: PathIssue[] = [];
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    if (i.code === "unrecognized_keys") {
      for (const key of i.keys) out.push({ path: [...path, key], message: "unknown key" });
    } else if (i.code === "invalid_key" && i.issues.length > 0) {
      // A record key failed its own schema (`env: {1X: ...}`): say why, at the key's path.
      out.push({ path, message: i.issues.map((k) => k.message).join("; ") });
    } else {
      out.push({ path, message: i.message });
    }
  }
  return out;
}

/**
 * Sorts issues into the order their places appear in `data` (object keys in insertion order, which
 * is file order for parsed YAML/JSON; array items by index), so a user reads them top to bottom.
 * An issue about a whole object comes before issues inside it. Stable for equal positions.
 */
export function sortByDocumentOrder(issues: readonly PathIssue[], data: unknown): PathIssue[] {
  // Each object's keys are indexed once: looking a key up in Object.keys() per issue made 100,000
  // issues in one mapping take minutes.
  const keyIndex = new Map<object, Map<string, number>>();
  const indexOf = (obj: object): Map<string, number> => {
    let index = keyIndex.get(obj);
    if (!index) keyIndex.set(obj, (index = new Map(Object.keys(obj).map((k, i) => [k, i]))));
    return index;
  };
  const position = (path: readonly PropertyKey[]): number[] => {
    const out: number[] = [];
    let cur: unknown = data;
    for (const seg of path) {
      if (Array.isArray(cur) && typeof seg === "number") {
        out.push(seg);
        cur = cur[seg];
      } else if (typeof cur === "object" && cur !== null) {
        const keys = indexOf(cur);
        const i = keys.get(String(seg));
        // A key that is absent (e.g. "is required") sorts after the present ones.
        out.push(i === undefined ? keys.size : i);
        cur = i === undefined ? undefined : (cur as Record<string, unknown>)[String(seg)];
      } else {
        out.push(0);
        cur = undefined;
      }
    }
    return out;
  };
  const keyed = issues.map((issue, index) => ({ issue, index, pos: position(issue.path) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < Math.min(a.pos.length, b.pos.length); i++) {
      if (a.pos[i] !== b.pos[i]) return a.pos[i]! - b.pos[i]!;
    }
    return a.pos.length - b.pos.length || a.index - b.index;
  });
  return keyed.map((k) => k.issue);
}

/** Formats path issues as config issues, prefixing the file name when known. */
export function formatIssues(issues: readonly PathIssue[], file?: string): ConfigIssue[] {
  return issues.map((i) => configIssue(i.path, i.message, file));
}

/** Converts zod issues straight into config issues (see {@link zodPathIssues}). */
export function toConfigIssues(
  issues: readonly z.core.$ZodIssue[],
  options: { file?: string; prefix?: readonly PropertyKey[] } = {},
): ConfigIssue[] {
  return formatIssues(zodPathIssues(issues, options.prefix), options.file);
}

/** The result of {@link parseWith}: the typed value, or every problem found. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/** Parses `data` with `schema` using the friendly messages; never throws for bad input. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  data: unknown,
  options: { file?: string; prefix?: readonly PropertyKey[] } = {},
): ParseResult<z.output<S>> {
  const r = schema.safeParse(data, { error: friendlyErrorMap });
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, issues: toConfigIssues(r.error.issues, options) };
}

/**
 * Parses `data` with `schema` or throws a {@link ConfigError} titled `source` that lists every
 * problem. `prefix` places a sub-document (`engine`, `app`) inside its file: a dotted string or path.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  data: unknown,
  source: string,
  prefix: string | readonly PropertyKey[] = [],
): z.output<S> {
  const path = typeof prefix === "string" ? prefix.split(".").filter((k) => k !== "") : prefix;
  const r = parseWith(schema, data, { prefix: path });
  if (r.ok) return r.value;
  throw new ConfigError(source, r.issues);
}
