/**
 * JSON files on hosts are rendered from objects, never from text templates: the same value always
 * gives the same bytes (keys sorted at every level, two-space indent, trailing newline), so the same
 * config has the same sha256 and an unchanged config never triggers an upload or a restart.
 */

/** A JSON value as `canonicalJson` accepts it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Recursively sorts object keys (arrays keep their order: order is meaning there). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * Stable JSON text for a file: sorted keys, `indent` spaces (default 2), trailing newline.
 * Rejects values JSON cannot carry faithfully (functions, NaN, Infinity, bigint) instead of
 * silently dropping or nulling them.
 */
export function canonicalJson(value: unknown, indent = 2): string {
  assertJsonSafe(value, "$");
  return JSON.stringify(sortKeys(value), null, indent) + "\n";
}

/** Compact stable JSON (no whitespace, no trailing newline): what hashes are computed over. */
export function canonicalJsonCompact(value: unknown): string {
  assertJsonSafe(value, "$");
  return JSON.stringify(sortKeys(value));
}

function assertJsonSafe(value: unknown, path: string): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} cannot be written as JSON`);
      return;
    case "undefined":
      return; // dropped by sortKeys in objects; arrays must not hold undefined (checked below)
    case "object":
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (v === undefined) throw new TypeError(`${path}[${i}]: undefined cannot be written as JSON`);
          assertJsonSafe(v, `${path}[${i}]`);
        });
        return;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
        // Sensitive, Date, Map...: their JSON form is not what the file should hold.
        throw new TypeError(`${path}: only plain objects can be written as JSON (got ${value.constructor?.name ?? "object"})`);
      }
      for (const [k, v] of Object.entries(value)) assertJsonSafe(v, `${path}.${k}`);
      return;
    default:
      throw new TypeError(`${path}: a ${typeof value} cannot be written as JSON`);
  }
}
