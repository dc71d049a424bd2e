/**
 * Shell quoting, in one place: the provisioner's commands, the templates written on hosts and the
 * local driver's wrappers all quote through {@link quoteArg}.
 */

/** Characters that never need quoting in a POSIX shell word. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one word for a POSIX shell so that `sh -c` sees exactly `word`.
 * Single quotes keep everything literal; an embedded `'` becomes `'\''`.
 */
export function quoteArg(word: string): string {
  if (word === "") return "''";
  if (SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
