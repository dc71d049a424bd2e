/**
 * Colour and terminal width of the CLI's output streams. Colour goes to a terminal only, and never
 * when `NO_COLOR` is set to anything non-empty (no-color.org), `TERM` is `dumb`, or the command line
 * says `--no-color`. main.ts decides once per stream ({@link withTerminal}); everything that prints
 * asks the stream ({@link paint}), so a test's buffer, a pipe or a file never gets escape codes.
 */
import type { OutStream } from "./output";

/** What a coloured word says: all went well, something changed, something failed. */
export type Tone = "ok" | "changed" | "failed";

const SGR: Record<Tone, string> = { ok: "32", changed: "33", failed: "1;31" };

/** True when `stream` should get colour. Pure. */
export function colorWanted(stream: Pick<OutStream, "isTTY">, env: Readonly<Record<string, string | undefined>>, noColorFlag: boolean): boolean {
  if (noColorFlag) return false;
  if ((env["NO_COLOR"] ?? "") !== "") return false;
  if (env["TERM"] === "dumb") return false;
  return stream.isTTY === true;
}

/**
 * `stream` with its colour decided: writes, `isTTY` and `columns` (read at each use, so a resized
 * terminal is seen) go to the stream itself.
 */
export function withTerminal(stream: OutStream, color: boolean): OutStream {
  return {
    write: (chunk: string) => stream.write(chunk),
    get isTTY() {
      return stream.isTTY;
    },
    get columns() {
      return stream.columns;
    },
    color,
  };
}

/** `text` in `tone`'s colour when `stream` takes colour; else `text` as it is. */
export function paint(stream: Pick<OutStream, "color">, tone: Tone, text: string): string {
  return stream.color === true ? `\x1b[${SGR[tone]}m${text}\x1b[0m` : text;
}

/** The tone of a status word the CLI prints (`done`, `changed`, `FAILED`...), or null for none. */
export function toneOf(status: string): Tone | null {
  switch (status) {
    case "ok":
    case "done":
    case "unchanged":
    case "succeeded":
      return "ok";
    case "changed":
    case "would-change":
    case "rolled-back":
      return "changed";
    case "failed":
    case "FAILED":
    case "error":
      return "failed";
    default:
      return null;
  }
}

/** A status word painted by its tone ({@link toneOf}). */
export function paintStatus(stream: Pick<OutStream, "color">, status: string): string {
  const tone = toneOf(status);
  return tone === null ? status : paint(stream, tone, status);
}

// ESC [ ... final byte (CSI: colours, cursor moves) and ESC ] ... BEL/ST (OSC: titles, links).
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

const ANSI_HERE = new RegExp(ANSI.source, "y");

/** `text` without ANSI escape sequences. Pure. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Columns a code point takes on a terminal: 0 for combining marks, 2 for wide (CJK, emoji), else 1. Pure. */
function cellWidth(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Columns `text` takes on a terminal (escape sequences take none). Pure. */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of stripAnsi(text)) w += cellWidth(ch.codePointAt(0)!);
  return w;
}

/**
 * `text` cut to at most `columns` terminal columns, ending in `…` when cut; escape sequences are
 * kept (they take no column), and a colour cut off mid-way is reset. Control characters (a line
 * break or tab inside a status) become spaces, so one line stays one line. Pure.
 */
export function fitToWidth(text: string, columns: number): string {
  const flat = text.replace(/[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f\t]/g, " ");
  if (displayWidth(flat) <= columns) return flat;
  if (columns <= 0) return "";
  let out = "";
  let used = 0;
  let styled = false;
  for (let i = 0; i < flat.length; ) {
    ANSI_HERE.lastIndex = i;
    const esc = flat[i] === "\x1b" ? ANSI_HERE.exec(flat) : null;
    if (esc) {
      out += esc[0];
      styled = esc[0] !== "\x1b[0m" && esc[0] !== "\x1b[m";
      i += esc[0].length;
      continue;
    }
    const cp = flat.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    const w = cellWidth(cp);
    // One column stays free for the ellipsis.
    if (used + w > columns - 1) break;
    out += ch;
    used += w;
    i += ch.length;
  }
  return `${out}…${styled ? "\x1b[0m" : ""}`;
}
