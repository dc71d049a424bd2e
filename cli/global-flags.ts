/**
 * The two flags of the whole program that main.ts reads before commander does. `--no-color` counts
 * anywhere before a `--` (so `longshore rollout --no-color` works like `longshore --no-color
 * rollout`, although the program's own options otherwise count only before the verb). `--version`
 * (`-V`), as the first word, is the `version` verb: it prints the pinned engine bundle too.
 */

/** The command line with `--no-color` taken out, and whether it was there. Pure. */
export function globalFlags(argv: readonly string[]): { argv: string[]; noColor: boolean } {
  const end = argv.indexOf("--");
  const before = end === -1 ? argv : argv.slice(0, end);
  const after = end === -1 ? [] : argv.slice(end);
  const kept = before.filter((a) => a !== "--no-color");
  const rest = [...kept, ...after];
  const noColor = kept.length !== before.length;
  return { argv: rest[0] === "--version" || rest[0] === "-V" ? ["version", ...rest.slice(1)] : rest, noColor };
}
