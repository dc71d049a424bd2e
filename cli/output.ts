/**
 * Everything the CLI prints: progress (live lines on a terminal, plain lines otherwise, nothing
 * with --json), errors (message and suggestion; stack traces only with LONGSHORE_DEBUG=1), and
 * small formatting helpers. Results go to stdout; progress and errors go to stderr, so
 * `longshore facts --json > facts.json` stays clean.
 */
import { AggregateHostError, LongshoreError } from "../core/errors";
import type { RunEvent } from "../provisioner/runner";
import { fitToWidth, paint, paintStatus } from "./color";

/** The bit of a stream the CLI writes to (process.stdout or a test's buffer). */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** The terminal's width, when it is one (read at each use: it changes when the terminal is resized). @default unknown (80 assumed on a terminal) */
  columns?: number;
  /** Takes ANSI colour (decided once by main.ts: cli/color.ts). @default false */
  color?: boolean;
}

/** How progress is shown. */
export type ProgressMode = "tty" | "plain" | "off";

/** Picks the progress mode: off for --json, live lines on a terminal, plain lines otherwise. */
export function progressMode(stream: OutStream, json: boolean): ProgressMode {
  if (json) return "off";
  return stream.isTTY ? "tty" : "plain";
}

/** Per-host progress. */
export interface Progress {
  /** Sets a host's status text (`connecting`, `gathering facts`, `done`...). */
  status(host: string, text: string): void;
  /** Feeds a runner event (for verbs that provision). */
  onRunEvent(event: RunEvent): void;
  /** Stops updating (the final lines stay on screen). */
  finish(): void;
}

/** The width assumed for a terminal that does not say its own. */
const DEFAULT_COLUMNS = 80;

/** What a live block drew last: how many lines, at which terminal width. */
export interface DrawnBlock {
  lines: number;
  columns: number;
}

/**
 * One redraw of a live block: back up over the lines drawn before, then each row cleared and
 * rewritten, cut to the terminal's width less one column (a row as wide as the terminal would
 * wrap, and the cursor-up count would then miss a line). After the terminal got narrower the
 * old block may have been re-wrapped onto more lines than were drawn, so the new block starts
 * below it instead of backing up into lines that are not ours. Pure.
 */
export function progressFrame(rows: readonly string[], previous: DrawnBlock | null, columns: number): string {
  const up = previous !== null && previous.lines > 0 && columns >= previous.columns ? `\x1b[${previous.lines}A` : "";
  return up + rows.map((r) => `\x1b[2K${fitToWidth(r, columns - 1)}\n`).join("");
}

/**
 * Creates progress output. On a TTY, one line per host, redrawn in place (cursor up, clear line;
 * {@link progressFrame}), statuses coloured when the stream takes colour; in plain mode, one line
 * per change (`web-1: connecting`); off prints nothing.
 */
export function createProgress(stream: OutStream, mode: ProgressMode, hosts: readonly string[] = []): Progress {
  const lines = new Map<string, string>(hosts.map((h) => [h, "waiting"]));
  let drawn: DrawnBlock | null = null;
  let finished = false;
  const width = Math.max(0, ...[...lines.keys()].map((h) => h.length));
  const redraw = () => {
    const w = Math.max(width, ...[...lines.keys()].map((h) => h.length));
    const columns = stream.columns ?? DEFAULT_COLUMNS;
    const rows = [...lines].map(([h, text]) => `${h.padEnd(w)}  ${paintStatus(stream, text)}`);
    stream.write(progressFrame(rows, drawn, columns));
    drawn = { lines: rows.length, columns };
  };
  const status = (host: string, text: string) => {
    if (mode === "off" || finished) return;
    if (mode === "plain") {
      stream.write(`${host}: ${text}\n`);
      return;
    }
    lines.set(host, text);
    redraw();
  };
  return {
    status,
    onRunEvent(e) {
      switch (e.type) {
        case "host-start":
          return status(e.host, "connecting");
        case "step-start":
          return status(e.host, `${e.stepId} (${e.index + 1}/${e.total})`);
        case "step-progress":
          return status(e.host, `${e.stepId}: ${e.message}`);
        case "step-retry":
          return status(e.host, `${e.stepId}: retry ${e.attempt} in ${(e.delayMs / 1000).toFixed(1)} s`);
        case "step-done":
          return mode === "plain" ? status(e.host, `${e.stepId} ${e.status}`) : undefined;
        case "host-done":
          return status(e.host, e.status === "ok" ? "done" : "FAILED");
      }
    },
    finish() {
      finished = true;
    },
  };
}

/**
 * Prints an error the way users see it: `error: <message>` and `hint: <suggestion>`. For several
 * failed hosts, the distinct hints of each failure. Stack traces (with causes) only when `debug`.
 */
export function printError(err: unknown, stream: OutStream, debug: boolean): void {
  const e = err instanceof Error ? err : new Error(String(err));
  stream.write(`${paint(stream, "failed", "error:")} ${e.message}\n`);
  const hints = new Set<string>();
  if (e instanceof LongshoreError && e.suggestion) hints.add(e.suggestion);
  if (e instanceof AggregateHostError) {
    for (const f of e.failures) if (f.error instanceof LongshoreError && f.error.suggestion) hints.add(f.error.suggestion);
  }
  for (const h of hints) stream.write(`hint: ${h}\n`);
  if (debug) {
    const stacks = e instanceof AggregateHostError ? e.failures.map((f) => f.error) : [e];
    for (const s of stacks) {
      let cur: unknown = s;
      while (cur instanceof Error) {
        stream.write(`${cur.stack ?? cur.message}\n`);
        cur = cur.cause;
        if (cur instanceof Error) stream.write("caused by: ");
      }
    }
  }
}

/** A JSON-safe view of an error for --json output. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof LongshoreError) return err.toJSON();
  return { code: "UNEXPECTED", message: err instanceof Error ? err.message : String(err) };
}

/** Bytes in binary units with one decimal (`78.8 GiB`). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Left-aligned columns separated by two spaces; trailing spaces trimmed. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + (rows.length ? "\n" : "");
}
