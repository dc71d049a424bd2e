/**
 * A unified diff (`diff -u` format) of two texts, for `longshore plan` to show what a changed file
 * would become. Pure. Line-based, with a longest-common-subsequence alignment; texts too large to
 * align cheaply are shown as a whole replacement (still correct, just less tidy).
 */

/** Options of {@link unifiedDiff}. */
export interface DiffOptions {
  /** Names in the `---`/`+++` header lines. */
  oldLabel: string;
  newLabel: string;
  /** Unchanged lines shown around each change; default 3 (as diff -u). */
  context?: number;
}

type Op = { kind: " " | "-" | "+"; line: string; oldNo: number; newNo: number };

/** Beyond this many cells the LCS table is not built (a 2000 x 2000 line file is 4M cells). */
const MAX_CELLS = 4_000_000;

function splitLines(text: string): { lines: string[]; finalNewline: boolean } {
  if (text === "") return { lines: [], finalNewline: true };
  const finalNewline = text.endsWith("\n");
  const lines = (finalNewline ? text.slice(0, -1) : text).split("\n");
  return { lines, finalNewline };
}

/** The edit script: LCS alignment of lines (common prefix and suffix trimmed first). */
function editScript(a: string[], b: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const ma = a.slice(pre, a.length - suf);
  const mb = b.slice(pre, b.length - suf);
  const ops: Op[] = [];
  for (let i = 0; i < pre; i++) ops.push({ kind: " ", line: a[i]!, oldNo: i, newNo: i });
  const n = ma.length;
  const m = mb.length;
  if (n * m > MAX_CELLS) {
    ma.forEach((line, i) => ops.push({ kind: "-", line, oldNo: pre + i, newNo: pre }));
    mb.forEach((line, j) => ops.push({ kind: "+", line, oldNo: pre + n, newNo: pre + j }));
  } else {
    // lcs[i][j] = LCS length of ma[i..] and mb[j..], in one flat array.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = ma[i] === mb[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && ma[i] === mb[j]) {
        ops.push({ kind: " ", line: ma[i]!, oldNo: pre + i, newNo: pre + j });
        i++;
        j++;
      } else if (j === m || (i < n && lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
        // Deletions before insertions within a change, as diff prints them.
        ops.push({ kind: "-", line: ma[i]!, oldNo: pre + i, newNo: pre + j });
        i++;
      } else {
        ops.push({ kind: "+", line: mb[j]!, oldNo: pre + i, newNo: pre + j });
        j++;
      }
    }
  }
  for (let k = 0; k < suf; k++) {
    const oi = a.length - suf + k;
    const ni = b.length - suf + k;
    ops.push({ kind: " ", line: a[oi]!, oldNo: oi, newNo: ni });
  }
  return ops;
}

/**
 * The unified diff from `oldText` to `newText`, or `""` when they are equal. A missing final
 * newline is marked `\ No newline at end of file`, as diff does.
 */
export function unifiedDiff(oldText: string, newText: string, options: DiffOptions): string {
  if (oldText === newText) return "";
  const context = options.context ?? 3;
  const A = splitLines(oldText);
  const B = splitLines(newText);
  // The final line's newline state is part of its content for comparison (diff treats it so).
  const a = A.lines.map((l, i) => (i === A.lines.length - 1 && !A.finalNewline ? `${l}\0` : l));
  const b = B.lines.map((l, i) => (i === B.lines.length - 1 && !B.finalNewline ? `${l}\0` : l));
  const ops = editScript(a, b);

  const changed = ops.map((o, k) => (o.kind !== " " ? k : -1)).filter((k) => k >= 0);
  const hunks: Array<[number, number]> = [];
  for (const k of changed) {
    const start = Math.max(0, k - context);
    const end = Math.min(ops.length - 1, k + context);
    const last = hunks[hunks.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else hunks.push([start, end]);
  }

  const out = [`--- ${options.oldLabel}`, `+++ ${options.newLabel}`];
  for (const [s, e] of hunks) {
    const slice = ops.slice(s, e + 1);
    const oldCount = slice.filter((o) => o.kind !== "+").length;
    const newCount = slice.filter((o) => o.kind !== "-").length;
    const first = slice[0]!;
    const oldStart = oldCount === 0 ? first.oldNo : first.oldNo + 1;
    const newStart = newCount === 0 ? first.newNo : first.newNo + 1;
    const range = (start: number, count: number) => (count === 1 ? `${start}` : `${start},${count}`);
    out.push(`@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@`);
    for (const o of slice) {
      const noNewline = o.line.endsWith("\0");
      out.push(`${o.kind}${noNewline ? o.line.slice(0, -1) : o.line}`);
      if (noNewline) out.push("\\ No newline at end of file");
    }
  }
  return `${out.join("\n")}\n`;
}
