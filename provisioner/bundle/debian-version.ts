/**
 * dpkg's version comparison (deb-version(7)): `[epoch:]upstream[-revision]`, compared epoch first
 * (numerically), then upstream, then revision, each with dpkg's `verrevcmp`: alternating non-digit
 * runs (letters sort before non-letters, `~` before everything, even the end of the string) and
 * digit runs (numerically). Pure.
 *
 * Hand-written on purpose: no well-kept npm package implements dpkg's ordering (the few that exist
 * are unmaintained single-author packages), and it is ~40 lines of dpkg's own lib/dpkg/version.c.
 */

/** A parsed Debian version. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Splits `[epoch:]upstream[-revision]` (the revision is after the last `-`). */
export function parseDebianVersion(version: string): DebianVersion {
  const v = version.trim();
  const colon = v.indexOf(":");
  const epoch = colon > 0 && /^[0-9]+$/.test(v.slice(0, colon)) ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return dash >= 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: "" };
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** dpkg's `order()`: `~` < end of string < letters < everything else. */
function order(c: number | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126 /* ~ */) return -1;
  return c + 256;
}

/** dpkg's `verrevcmp` on one part (upstream or revision). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(i < a.length ? a.charCodeAt(i) : undefined);
      const bc = order(j < b.length ? b.charCodeAt(j) : undefined);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (i < a.length && isDigit(a.charCodeAt(i)) && j < b.length && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Negative when `a` sorts before `b`, 0 when dpkg considers them equal, positive after. */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return Math.sign(verrevcmp(x.upstream, y.upstream)) || Math.sign(verrevcmp(x.revision, y.revision));
}

/** A version relation of a dependency (`<<`, `<=`, `=`, `>=`, `>>`). */
export type VersionRelation = "<<" | "<=" | "=" | ">=" | ">>";

/** True when `version` satisfies `relation wanted` (`>= 1.2`). */
export function versionSatisfies(version: string, relation: VersionRelation, wanted: string): boolean {
  const c = compareDebianVersions(version, wanted);
  switch (relation) {
    case "<<":
      return c < 0;
    case "<=":
      return c <= 0;
    case "=":
      return c === 0;
    case ">=":
      return c >= 0;
    case ">>":
      return c > 0;
  }
}
