/**
 * Commands are data: an argv array plus how to run it. They become shell text in exactly one
 * place, {@link renderCommand}, which is also the only place that decides how secrets print.
 */
import type { Readable } from "node:stream";
import { quoteArg } from "../core/quote";
import { Sensitive, REDACTED_TEXT } from "../core/sensitive";

/** One argv element: plain text, or a value that must print as `[redacted]`. */
export type Arg = string | Sensitive;

/**
 * What a command reads on stdin. Secrets that a command needs go here (or in a 0600 file), never
 * in argv, because a host's process list shows argv to every local user.
 * A function is called once per attempt and must return a fresh stream (retries re-read it).
 */
export type StdinSource = string | Uint8Array | Sensitive | (() => Readable);

/** A command to run on a host. */
export interface Command {
  argv: readonly Arg[];
  /** Run as root: through `sudo -n` when the connection's user is not root. */
  sudo?: boolean;
  stdin?: StdinSource;
  /** Exit codes that count as success; default `[0]`. */
  okExitCodes?: readonly number[];
  /** Per-command timeout; the transport's default applies when unset. */
  timeoutMs?: number;
}

/** How {@link renderCommand} treats secrets, privilege and long scripts. */
export interface RenderOptions {
  /**
   * `exec`: the text sent to the host (secrets in clear). `display`: every word, secrets
   * redacted (logs, plan hashes). `summary`: as `display`, with each multi-line argument (an
   * `sh -c` script) cut to its first line and its line count, for errors and reports: the step id
   * already says which script, and 20 lines of it would bury the exit code and stderr.
   */
  mode: "exec" | "display" | "summary";
  /** Prefix `sudo -n --` when the command asks for root and the user is not root. */
  useSudo?: boolean;
}

/**
 * The one function that turns a command into shell text.
 * `sudo -n` never prompts: a sudo that wants a password fails at once instead of hanging.
 */
export function renderCommand(cmd: Pick<Command, "argv" | "sudo">, options: RenderOptions): string {
  const words = cmd.argv.map((a) =>
    a instanceof Sensitive ? (options.mode === "exec" ? quoteArg(a.reveal()) : REDACTED_TEXT) : quoteArg(options.mode === "summary" ? firstLineOf(a) : a),
  );
  const prefix = cmd.sudo && options.useSudo ? ["sudo", "-n", "--"] : [];
  return [...prefix, ...words].join(" ");
}

/** A multi-line argument as its first line and line count (`# longshore engine.install … (24 lines)`); others as they are. */
function firstLineOf(arg: string): string {
  if (!arg.includes("\n")) return arg;
  // A trailing newline ends the last line; it does not start another.
  const lines = arg.replace(/\n$/, "").split("\n");
  return `${lines[0]} … (${lines.length} lines)`;
}

/** Shorthand for a command from plain words. */
export function cmd(...argv: Arg[]): Command {
  return { argv };
}

/** Shorthand for a root command. */
export function sudo(...argv: Arg[]): Command {
  return { argv, sudo: true };
}

/** A shell snippet as one command (`sh -c SCRIPT`), for pipelines and redirections. */
export function shell(script: string, extra: Omit<Command, "argv"> = {}): Command {
  return { argv: ["sh", "-c", script], ...extra };
}

/** Collects the secrets a command carries, so text coming back can be redacted too. */
export function secretsOf(cmd: Command): Sensitive[] {
  const out = cmd.argv.filter((a): a is Sensitive => a instanceof Sensitive);
  if (cmd.stdin instanceof Sensitive) out.push(cmd.stdin);
  return out;
}
