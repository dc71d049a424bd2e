/**
 * A scripted, in-memory {@link Transport} for unit tests: commands are answered by rules matched on
 * the command's shell text, files live in a Map (so sha256 and upload agree and a second run sees
 * the first run's uploads), every call is recorded, and any call can be delayed.
 * It proves nothing about SSH; the integration tests do that against a real sshd.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Sensitive } from "../../core/sensitive";
import { renderCommand, type Command } from "../../provisioner/command";
import type { ExecOptions, ExecResult, Transport, UploadOptions, UploadResult, UploadSource } from "../../provisioner/transport/transport";

/** What a rule's result function sees. */
export interface RuleContext {
  fake: FakeTransport;
  /** The command as the host would receive it (exec rendering, secrets in clear: the fake is the host). */
  text: string;
  command: Command;
  /** How many times this rule matched before (0 the first time). */
  count: number;
}

/** Answers the commands it matches. The first matching rule wins. */
export interface FakeRule {
  match: string | RegExp | ((text: string) => boolean);
  result?: Partial<ExecResult> | ((ctx: RuleContext) => Partial<ExecResult>);
  /** Reject the exec with this error instead (a transport failure). */
  error?: Error | ((ctx: RuleContext) => Error);
  delayMs?: number;
}

/** One recorded call. */
export type FakeCall =
  | { kind: "exec"; text: string; display: string; options: ExecOptions }
  | { kind: "upload"; path: string; bytes: number; options: UploadOptions }
  | { kind: "sha256"; path: string; sudo: boolean | undefined }
  | { kind: "close" };

/** Counts transports open at once, across a fleet of fakes (for concurrency limits). */
export class InFlight {
  current = 0;
  max = 0;
  open(): void {
    this.current++;
    this.max = Math.max(this.max, this.current);
  }
  closed(): void {
    this.current--;
  }
}

/** Shared host state, so a second transport to the same host sees what the first one left. */
export interface FakeHostState {
  files: Map<string, Buffer>;
  /** Free-form flags that rules read and write (e.g. "installed"). */
  flags: Record<string, unknown>;
}

export interface FakeTransportOptions {
  rules?: FakeRule[];
  state?: FakeHostState;
  /** Initial files (path -> content), when no state is passed. */
  files?: Record<string, string>;
  needsSudo?: boolean;
  /** Delay every call by this much (ms). */
  delayMs?: number;
  inFlight?: InFlight;
  /** What an unmatched command does: succeed with exit 0 (default) or reject. */
  unmatched?: "ok" | "error";
}

export function newHostState(files: Record<string, string> = {}): FakeHostState {
  return { files: new Map(Object.entries(files).map(([p, c]) => [p, Buffer.from(c)])), flags: {} };
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export class FakeTransport implements Transport {
  readonly host: string;
  readonly needsSudo: boolean;
  readonly calls: FakeCall[] = [];
  readonly state: FakeHostState;
  closeCount = 0;
  private readonly rules: FakeRule[];
  private readonly counts = new Map<FakeRule, number>();
  private readonly options: FakeTransportOptions;

  constructor(host: string, options: FakeTransportOptions = {}) {
    this.host = host;
    this.options = options;
    this.needsSudo = options.needsSudo ?? false;
    this.rules = options.rules ?? [];
    this.state = options.state ?? newHostState(options.files);
    options.inFlight?.open();
  }

  /** The exec calls' shell texts, in order. */
  get execs(): string[] {
    return this.calls.flatMap((c) => (c.kind === "exec" ? [c.text] : []));
  }

  /** Every call as one short line (`exec: ...`, `upload: /path`, `sha256: /path`, `close`), in order. */
  get log(): string[] {
    return this.calls.map((c) => (c.kind === "close" ? "close" : `${c.kind}: ${c.kind === "exec" ? c.text : c.path}`));
  }

  async exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    const text = renderCommand(command, { mode: "exec", useSudo: this.needsSudo });
    const display = renderCommand(command, { mode: "display", useSudo: this.needsSudo });
    this.calls.push({ kind: "exec", text, display, options });
    const rule = this.rules.find((r) =>
      typeof r.match === "string" ? r.match === text : r.match instanceof RegExp ? r.match.test(text) : r.match(text),
    );
    await this.delay(rule?.delayMs);
    if (!rule) {
      if (this.options.unmatched === "error") throw new Error(`fake transport: no rule for \`${text}\``);
      return { exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 0 };
    }
    const count = this.counts.get(rule) ?? 0;
    this.counts.set(rule, count + 1);
    const ctx: RuleContext = { fake: this, text, command, count };
    if (rule.error) throw typeof rule.error === "function" ? rule.error(ctx) : rule.error;
    const r = typeof rule.result === "function" ? rule.result(ctx) : (rule.result ?? {});
    // Live output as a real transport gives it (here in one chunk, before the command ends).
    if (r.stdout) options.onStdout?.(Buffer.from(r.stdout));
    if (r.stderr) options.onStderr?.(Buffer.from(r.stderr));
    return { exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 0, ...r };
  }

  async upload(source: UploadSource, remotePath: string, options: UploadOptions = {}): Promise<UploadResult> {
    let data: Buffer;
    if ("content" in source) {
      const c = source.content;
      data = c instanceof Sensitive ? Buffer.from(c.reveal()) : Buffer.from(c);
    } else {
      data = readFileSync(source.localPath);
    }
    this.calls.push({ kind: "upload", path: remotePath, bytes: data.byteLength, options });
    await this.delay();
    const hash = sha256(data);
    const current = this.state.files.get(remotePath);
    if (!options.force && current && sha256(current) === hash) return { uploaded: false, bytes: 0, sha256: hash };
    this.state.files.set(remotePath, data);
    return { uploaded: true, bytes: data.byteLength, sha256: hash };
  }

  async sha256(remotePath: string, options: { sudo?: boolean } = {}): Promise<string | null> {
    this.calls.push({ kind: "sha256", path: remotePath, sudo: options.sudo });
    await this.delay();
    const current = this.state.files.get(remotePath);
    return current ? sha256(current) : null;
  }

  async close(): Promise<void> {
    this.calls.push({ kind: "close" });
    if (this.closeCount++ === 0) this.options.inFlight?.closed();
  }

  private async delay(extra = 0): Promise<void> {
    const ms = (this.options.delayMs ?? 0) + extra;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  }
}
