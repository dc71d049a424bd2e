/**
 * The real reads behind secret sources (model/secret-resolve.ts decides what to make of them; this
 * only reads): the operator's environment (handed in by the edge that owns it), files with their
 * permission bits (the mode checked is that of the file read), and commands run without a shell,
 * with a time limit and a bounded output.
 */
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";

/** The largest secret value read from a file or a command (one byte more is kept, to see "too long"). */
export const MAX_SECRET_BYTES = 32 * 1024;

/** What a file read returned. */
export interface SecretFile {
  isFile: boolean;
  /** Permission bits (`stat.mode & 0o7777`). */
  mode: number;
  content: Buffer;
}

/** What a command run returned. */
export interface SecretCommandResult {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
  /** Set when the command could not be started (ENOENT...). */
  spawnError?: string;
  timedOut?: boolean;
}

/** The reads a secret resolution needs; the edges provide the real ones, tests scripted ones. */
export interface SecretReader {
  /** The operator's environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads a file (rejecting with a Node error such as ENOENT). */
  readFile(absolutePath: string): Promise<SecretFile>;
  /** Runs `argv` without a shell in `cwd`, with a time limit. */
  run(argv: readonly string[], cwd: string, timeoutMs: number): Promise<SecretCommandResult>;
}

/** A {@link SecretReader} over this process's environment, the file system and child processes. */
export function systemSecretReader(env: Readonly<Record<string, string | undefined>>): SecretReader {
  return {
    env,
    async readFile(file) {
      // Open once and stat the open file: the mode and the bytes are of the same file.
      const handle = await fs.open(file, "r");
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) return { isFile: false, mode: stat.mode & 0o7777, content: Buffer.alloc(0) };
        const content = stat.size > MAX_SECRET_BYTES + 1 ? Buffer.alloc(MAX_SECRET_BYTES + 1) : await handle.readFile();
        return { isFile: true, mode: stat.mode & 0o7777, content };
      } finally {
        await handle.close();
      }
    },
    run(argv, cwd, timeoutMs) {
      return new Promise<SecretCommandResult>((resolve) => {
        const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...env } as NodeJS.ProcessEnv });
        const out: Buffer[] = [];
        let size = 0;
        let stderr = "";
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (d: Buffer) => {
          // Keep one byte more than allowed, so "too long" is still seen, never an unbounded buffer.
          if (size <= MAX_SECRET_BYTES) out.push(d);
          size += d.length;
        });
        child.stderr.on("data", (d: Buffer) => {
          if (stderr.length < 4096) stderr += d.toString();
        });
        child.on("error", (e) => {
          clearTimeout(timer);
          resolve({ exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr, spawnError: (e as NodeJS.ErrnoException).code ?? e.message });
        });
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          resolve({ exitCode: code, signal, stdout: Buffer.concat(out), stderr, ...(timedOut ? { timedOut: true } : {}) });
        });
      });
    },
  };
}
