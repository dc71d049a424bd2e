/**
 * Runs programs on this computer (the controller) for the local driver: argv arrays only, never a
 * shell string built from input. A non-zero exit becomes a {@link CommandFailedError} unless the
 * caller accepts it.
 */
import { spawn } from "node:child_process";
import { CommandFailedError } from "../../core/errors";
import { quoteArg } from "../../core/quote";

/** What a finished local command did. */
export interface LocalResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link runLocal}. */
export interface RunLocalOptions {
  /** Bytes for stdin. */
  input?: string | Uint8Array;
  /** Exit codes that count as success (default `[0]`); anything else throws. `"any"` never throws. */
  okExitCodes?: readonly number[] | "any";
  /** Kill the command (SIGKILL) after this long. Default 10 minutes. */
  timeoutMs?: number;
  /** Names the work in an error (`local.template`, `local.bridge`...). */
  stepId?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs `file` with `args`, collects output, and throws on a failure the caller did not accept. */
export function runLocal(file: string, args: readonly string[], options: RunLocalOptions = {}): Promise<LocalResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["pipe", "pipe", "pipe"],
      cwd: options.cwd,
      env: options.env ?? process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: Error | undefined;
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => (spawnError = e));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 600_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result: LocalResult = {
        exitCode: code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      const ok =
        options.okExitCodes === "any" || (code !== null && (options.okExitCodes ?? [0]).includes(code));
      if (spawnError || !ok) {
        reject(
          new CommandFailedError(
            {
              host: "localhost",
              stepId: options.stepId ?? "local.run",
              phase: "apply",
              command: [file, ...args].map(quoteArg).join(" "),
              exitCode: code,
              signal,
              stderrTail: spawnError ? spawnError.message : tail(result.stderr || result.stdout, 20),
            },
            { cause: spawnError },
          ),
        );
        return;
      }
      resolve(result);
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** The last `lines` lines of `text`. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** True when `name` is an executable on PATH (or an absolute executable path). */
export async function hasCommand(name: string): Promise<boolean> {
  const r = await runLocal("sh", ["-c", 'command -v "$1" >/dev/null 2>&1', "sh", name], { okExitCodes: "any" });
  return r.exitCode === 0;
}
