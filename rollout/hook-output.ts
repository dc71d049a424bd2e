/**
 * A hook's output as the rollout shows and keeps it: stdout and stderr cut into lines as chunks
 * arrive (a line split across chunks, or a UTF-8 character split across them, is put back
 * together), each line redacted of the app's secret values before anyone sees it, control
 * characters dropped, and the last lines kept for the report. Pure: the driver feeds it what the
 * transport receives.
 */
import { StringDecoder } from "node:string_decoder";
import { redactText, type Sensitive } from "../core/sensitive";

/** Output lines a report keeps of a hook (the newest). */
export const HOOK_OUTPUT_TAIL_LINES = 200;

/** Characters a kept or shown line has at most; a longer one is cut and ends with `…`. */
export const HOOK_LINE_MAX_CHARS = 2_000;

/** Text without a newline longer than this is taken as a line of its own (a progress bar drawn with `\r`). */
const MAX_PENDING_CHARS = 64 * 1024;

type Stream = "stdout" | "stderr";

/** Collects a hook's output into redacted lines. */
export class HookOutput {
  readonly #secrets: Sensitive[];
  readonly #onLine: (line: string) => void;
  readonly #tailLines: number;
  /** The longest secret value: that much of an unfinished line is held back when it is cut, so no secret is cut in two. */
  readonly #holdBack: number;
  readonly #decoders: Record<Stream, StringDecoder> = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  readonly #pending: Record<Stream, string> = { stdout: "", stderr: "" };
  readonly #tail: string[] = [];

  /** `onLine` gets each line as it completes, already redacted and cut. */
  constructor(secrets: Iterable<Sensitive>, onLine: (line: string) => void = () => undefined, tailLines = HOOK_OUTPUT_TAIL_LINES) {
    this.#secrets = [...secrets];
    this.#onLine = onLine;
    this.#tailLines = tailLines;
    this.#holdBack = Math.max(0, ...this.#secrets.map((s) => s.reveal().length));
  }

  /** Takes a chunk of one stream. */
  push(stream: Stream, chunk: Buffer | string): void {
    let text = this.#pending[stream] + (typeof chunk === "string" ? chunk : this.#decoders[stream].write(chunk));
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      this.#line(text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    if (text.length > MAX_PENDING_CHARS + this.#holdBack) {
      const cut = text.length - this.#holdBack;
      this.#line(text.slice(0, cut));
      text = text.slice(cut);
    }
    this.#pending[stream] = text;
  }

  /** Ends both streams (an unfinished last line counts) and returns the kept lines. */
  end(): string[] {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.#pending[stream] + this.#decoders[stream].end();
      this.#pending[stream] = "";
      if (rest !== "") this.#line(rest);
    }
    return this.tail;
  }

  /** The newest lines so far, oldest first. */
  get tail(): string[] {
    return [...this.#tail];
  }

  #line(raw: string): void {
    // Redacted whole, before it is cut: a cut must never leave the start of a secret behind. A
    // line redrawn with `\r` (a progress bar) shows as it was last drawn.
    const redrawn = redactText(raw, this.#secrets).split("\r").filter((s) => s !== "");
    const clean = (redrawn.at(-1) ?? "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
    // Blank lines say nothing in a progress stream or a report.
    if (clean.trim() === "") return;
    const line = clean.length > HOOK_LINE_MAX_CHARS ? `${clean.slice(0, HOOK_LINE_MAX_CHARS)}…` : clean;
    this.#tail.push(line);
    if (this.#tail.length > this.#tailLines) this.#tail.shift();
    this.#onLine(line);
  }
}
