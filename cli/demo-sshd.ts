/**
 * `longshore facts --demo`: a throwaway OpenSSH sshd on 127.0.0.1 with freshly generated keys, so
 * the whole path (inventory-less target, pinned host key, one connection, facts) can be tried
 * without any machine. Temporary: the local driver's machines replace it. The sshd is started in
 * the foreground (-D) so the PID we hold is the one we stop; nothing is stopped by name.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import * as path from "node:path";
import { MissingToolError, PreconditionError } from "../core/errors";
import type { SshTarget } from "../model/ssh-target";

/** A running demo sshd. */
export interface DemoSshd {
  target: SshTarget;
  pid: number;
  /** Stops the sshd (SIGTERM, then SIGKILL after 3 s) and removes its keys. Safe to call twice. */
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";
const KEYGEN = "ssh-keygen";

/** Starts the demo sshd and returns a target that pins its host key. */
export async function startDemoSshd(): Promise<DemoSshd> {
  if (!existsSync(SSHD)) {
    throw new MissingToolError(`${SSHD} not found`, { suggestion: "Install OpenSSH's server: apt-get install openssh-server" });
  }
  const dir = mkdtempSync(path.join(tmpdir(), "longshore-demo-sshd-"));
  let child: ChildProcess | undefined;
  try {
    const hostKey = path.join(dir, "host_ed25519");
    const clientKey = path.join(dir, "client_ed25519");
    keygen(["-q", "-t", "ed25519", "-N", "", "-C", "longshore-demo-host", "-f", hostKey]);
    keygen(["-q", "-t", "ed25519", "-N", "", "-C", "longshore-demo-client", "-f", clientKey]);
    writeFileSync(path.join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
    const fingerprint = keygen(["-l", "-E", "sha256", "-f", `${hostKey}.pub`]).split(/\s+/)[1] ?? "";
    const user = userInfo().username;
    const port = await freePort();
    const config = path.join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        "ListenAddress 127.0.0.1",
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        `PidFile ${path.join(dir, "sshd.pid")}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        // The keys live in a temp dir whose parents sshd would otherwise refuse as too open.
        "StrictModes no",
        "UsePAM no",
        `AllowUsers ${user}`,
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
        "",
      ].join("\n"),
    );
    // sshd refuses to start as root without its privilege-separation directory.
    if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    let stderr = "";
    child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));
    const up = await Promise.race([waitForPort(port, 10_000).then(() => true), exited.then(() => false)]);
    if (!up || child.pid === undefined) {
      throw new PreconditionError(`the demo sshd did not start: ${stderr.trim() || "no output"}`, {
        suggestion: "Check that openssh-server works here (sshd -t), and that this user may run it.",
      });
    }
    const proc = child;
    const pid = child.pid;
    let stopped: Promise<void> | undefined;
    return {
      pid,
      target: {
        name: "demo-sshd",
        address: "127.0.0.1",
        port,
        user,
        auth: { privateKeyFile: clientKey },
        hostKey: { fingerprints: [fingerprint] },
        sudo: user !== "root",
      },
      stop: () => (stopped ??= stopProcess(proc, exited).finally(() => rmSync(dir, { recursive: true, force: true }))),
    };
  } catch (err) {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function keygen(args: string[]): string {
  const r = spawnSync(KEYGEN, args, { encoding: "utf8" });
  if (r.error) throw new MissingToolError(`${KEYGEN} not found`, { suggestion: "Install OpenSSH: apt-get install openssh-client" });
  if (r.status !== 0) throw new PreconditionError(`${KEYGEN} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect({ host: "127.0.0.1", port });
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new PreconditionError(`the demo sshd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopProcess(proc: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}
