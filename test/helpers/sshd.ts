/**
 * A real OpenSSH sshd for integration tests: `/usr/sbin/sshd -D -e -f <generated config>` on
 * 127.0.0.1 with a free port, its own ed25519 host key and an authorized_keys file for a generated
 * client key, all in a private temp dir. Stopped by PID (its connection children too); a process
 * exit handler stops whatever a failing test left behind. Needs root (sshd's privilege separation).
 * bench/provisioner.ts starts its sshd fleet with it too: keep this module free of test-framework imports.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SshTarget } from "../../model/ssh-target";

/** How to start one sshd. */
export interface SshdOptions {
  /** The user tests log in as (reported back; every user may log in with the client key). Default root. */
  user?: string;
  /** Start listening only after this many ms (to exercise dial retries); `ready` resolves then. */
  delayMs?: number;
  /** sshd_config lines placed before the defaults (the first value of a keyword wins in sshd_config). */
  extraConfig?: string[];
  /** sshd LogLevel; default VERBOSE (logs every connection and auth). */
  logLevel?: "INFO" | "VERBOSE" | "DEBUG1" | "DEBUG2" | "DEBUG3";
}

/** A running (or about to run) sshd. */
export interface Sshd {
  address: "127.0.0.1";
  port: number;
  user: string;
  /** `SHA256:...` exactly as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** `ssh-ed25519 AAAA...` (no comment). */
  hostPublicKey: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...` */
  knownHostsLine: string;
  clientKeyPath: string;
  /** The temp dir holding keys and config (removed by stop). */
  dir: string;
  /** sshd's PID (undefined until a delayed start happened). */
  readonly pid: number | undefined;
  /** Resolves when the port accepts connections; rejects with sshd's log if it failed to start. */
  ready: Promise<void>;
  /** Everything sshd wrote to stderr so far. */
  log(): string;
  /** Stops sshd and its connection children by PID and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<{ stopSync(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const item of [...live]) item.stopSync();
  });
}

/** Starts an sshd; waits until it listens unless `delayMs` is set (then await `ready`). */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  installExitHook();
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "longshore-sshd-"));
  // Non-root users must reach authorized_keys (sshd reads it as them).
  chmodSync(dir, 0o755);
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  keygen(hostKey);
  keygen(clientKey);
  const authorizedKeys = join(dir, "authorized_keys");
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o644 });
  const hostPublicKey = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const hostKeyFingerprint = execFileSync("ssh-keygen", ["-lf", `${hostKey}.pub`], { encoding: "utf8" }).split(/\s+/)[1]!;
  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      ...(options.extraConfig ?? []),
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      "PidFile none",
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      `AuthorizedKeysFile ${authorizedKeys}`,
      "Subsystem sftp internal-sftp",
      "UseDNS no",
      "PrintMotd no",
      "MaxStartups 100",
      `LogLevel ${options.logLevel ?? "VERBOSE"}`,
      "",
    ].join("\n"),
  );

  let child: ChildProcess | undefined;
  let log = "";
  let stopped = false;
  let delayTimer: NodeJS.Timeout | undefined;

  const killTree = (signal: NodeJS.Signals) => {
    if (!child?.pid) return;
    for (const pid of [...descendantsOf(child.pid), child.pid]) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const entry = {
    stopSync() {
      if (delayTimer) clearTimeout(delayTimer);
      killTree("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    },
  };
  live.add(entry);

  const ready = new Promise<void>((resolve, reject) => {
    const launch = () => {
      if (stopped) return reject(new Error("sshd stopped before it started"));
      const proc = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      const timer = setTimeout(() => reject(new Error(`sshd did not listen within 10 s:\n${log}`)), 10_000);
      proc.stderr!.setEncoding("utf8");
      proc.stderr!.on("data", (text: string) => {
        log += text;
        if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited (${code ?? signal}) before listening:\n${log}`));
      });
    };
    if (options.delayMs) delayTimer = setTimeout(launch, options.delayMs);
    else launch();
  });
  // A delayed start is awaited by the test; keep an unobserved rejection from crashing the run.
  ready.catch(() => undefined);
  if (!options.delayMs) await ready;

  return {
    address: "127.0.0.1",
    port,
    user: options.user ?? "root",
    hostKeyFingerprint,
    hostPublicKey,
    knownHostsLine: `[127.0.0.1]:${port} ${hostPublicKey}`,
    clientKeyPath: clientKey,
    dir,
    get pid() {
      return child?.pid;
    },
    ready,
    log: () => log,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (delayTimer) clearTimeout(delayTimer);
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((r) => proc.once("exit", () => r()));
        killTree("SIGTERM");
        const escalate = setTimeout(() => killTree("SIGKILL"), 3_000);
        await exited;
        clearTimeout(escalate);
      }
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    },
  };
}

/** A throwaway local user for tests that need a non-root login. */
export interface TestUser {
  name: string;
  /** Deletes the user, its home and its sudoers file. Idempotent. */
  remove(): void;
}

/**
 * Creates `lstest<random>` with a home dir and a usable (non-locked) account. With
 * `sudo: "nopasswd"` it gets an /etc/sudoers.d file granting passwordless sudo.
 */
export function createTestUser(options: { sudo?: "nopasswd" | "none" } = {}): TestUser {
  installExitHook();
  const name = `lstest${randomBytes(4).toString("hex")}`;
  const sudoers = `/etc/sudoers.d/${name}`;
  let removed = false;
  const entry = {
    stopSync() {
      if (removed) return;
      removed = true;
      rmSync(sudoers, { force: true });
      try {
        execFileSync("userdel", ["-r", name], { stdio: "ignore" });
      } catch {
        // userdel exits non-zero when there was no mail spool to remove; the user is gone anyway.
      }
      live.delete(entry);
    },
  };
  live.add(entry);
  execFileSync("useradd", ["-m", "-s", "/bin/sh", name], { stdio: "ignore" });
  // useradd leaves the password "!" (locked); without PAM, sshd refuses locked accounts even for keys.
  execFileSync("usermod", ["-p", "*", name], { stdio: "ignore" });
  if (options.sudo === "nopasswd") {
    writeFileSync(sudoers, `${name} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    execFileSync("visudo", ["-cf", sudoers], { stdio: "ignore" });
  }
  return { name, remove: () => entry.stopSync() };
}

function keygen(path: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path], { stdio: "ignore" });
}

/** A port that was free a moment ago (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Every process below `root` (sshd's per-connection children and their sessions), from /proc. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // The command name may hold spaces and parens: the fields after the last ")" are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/**
 * The target to reach `sshd` as root with the generated client key and ONLY its host key pinned:
 * what most tests connect with. `over` replaces any field (user, auth, hostKey, jump...).
 */
export function pinnedTarget(sshd: Pick<Sshd, "address" | "port" | "clientKeyPath" | "hostKeyFingerprint">, name: string, over: Partial<SshTarget> = {}): SshTarget {
  return {
    name,
    address: sshd.address,
    port: sshd.port,
    user: "root",
    auth: { privateKeyFile: sshd.clientKeyPath },
    hostKey: { fingerprints: [sshd.hostKeyFingerprint] },
    ...over,
  };
}

