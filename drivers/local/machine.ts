/**
 * One local machine: an overlay over the template, its own hostname, machine-id, static address,
 * SSH host key and authorized client key, booted with systemd-nspawn in its own cgroups, and torn
 * down again leaving nothing behind. Each function does one I/O phase; the environment module
 * (environment.ts) records intent in the state before calling them.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { TransportError } from "../../core/errors";
import { cgroupPids, createCgroup, removeCgroupTree } from "./cgroups";
import { runLocal, tail } from "./exec";
import { deleteLink } from "./network";
import { nspawnArgv, spawnScript } from "./nspawn";
import { isSameProcess, processStartTime, sleep, stopProcess } from "./proc";
import { ensureKeyPair, type KeyPairFiles } from "./ssh-keys";
import type { MachineRecord } from "./state";

/** Paths of a machine's resources under its directory. */
export function machineLayout(dir: string) {
  return {
    rootDir: path.join(dir, "root"),
    upperDir: path.join(dir, "upper"),
    workDir: path.join(dir, "work"),
    dockerDir: path.join(dir, "docker"),
    logFile: path.join(dir, "console.log"),
    hostKeyFile: path.join(dir, "ssh_host_ed25519_key"),
  };
}

/** The systemd-networkd file that gives `host0` (nspawn's veth inside) its static address. */
export function networkdFile(address: string, prefix: number, gateway: string): string {
  return `# Written by longshore.
[Match]
Name=host0

[Network]
Address=${address}/${prefix}
Gateway=${gateway}
LinkLocalAddressing=no
IPv6AcceptRA=no
`;
}

/** True when `mountPoint` is listed in /proc/mounts. */
export function isMounted(mountPoint: string): boolean {
  const want = mountPoint.replace(/ /g, "\\040");
  return fs
    .readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[1] === want);
}

/** Mounts the machine's overlay (template read-only below, the machine's upper dir on top). */
export async function mountOverlay(m: MachineRecord, lowerDir: string): Promise<void> {
  for (const d of [m.rootDir, m.upperDir, m.workDir, m.dockerDir]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  if (isMounted(m.rootDir)) return;
  await runLocal(
    "mount",
    ["-t", "overlay", "overlay", "-o", `lowerdir=${lowerDir},upperdir=${m.upperDir},workdir=${m.workDir}`, m.rootDir],
    { stepId: "local.machine" },
  );
}

/** What {@link personalise} writes into a machine before it boots. */
export interface Personality {
  hostname: string;
  address: string;
  prefix: number;
  gateway: string;
  /** The environment's client public key line, for /root/.ssh/authorized_keys. */
  clientPublicKey: string;
}

/**
 * Writes the machine's identity into its (mounted) root: hostname, a machine-id (kept once made), the
 * networkd file, root's authorized_keys, and an SSH host key generated here on the controller.
 * Returns the host key, whose fingerprint longshore pins.
 */
export async function personalise(m: MachineRecord, p: Personality): Promise<KeyPairFiles> {
  const r = (rel: string) => path.join(m.rootDir, rel);
  fs.writeFileSync(r("etc/hostname"), `${p.hostname}\n`);
  fs.writeFileSync(r("etc/hosts"), `127.0.0.1\tlocalhost\n127.0.1.1\t${p.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  // Like a VM's, the machine-id survives reboots: only a machine without one gets a new one.
  const id = fs.existsSync(r("etc/machine-id")) ? fs.readFileSync(r("etc/machine-id"), "utf8").trim() : "";
  if (!/^[0-9a-f]{32}$/.test(id)) {
    fs.rmSync(r("etc/machine-id"), { force: true });
    fs.writeFileSync(r("etc/machine-id"), `${randomBytes(16).toString("hex")}\n`, { mode: 0o444 });
  }
  fs.mkdirSync(r("etc/systemd/network"), { recursive: true });
  fs.writeFileSync(r("etc/systemd/network/10-host0.network"), networkdFile(p.address, p.prefix, p.gateway));
  fs.mkdirSync(r("root/.ssh"), { recursive: true, mode: 0o700 });
  fs.chmodSync(r("root/.ssh"), 0o700);
  fs.writeFileSync(r("root/.ssh/authorized_keys"), `${p.clientPublicKey.trim()}\n`, { mode: 0o600 });
  fs.chmodSync(r("root/.ssh/authorized_keys"), 0o600);
  // A new host key each time the machine is created; kept in the machine dir (root-only) too.
  const key = await ensureKeyPair(machineLayout(m.dir).hostKeyFile, `root@${p.hostname}`, !fs.existsSync(r("etc/ssh/ssh_host_ed25519_key")));
  fs.copyFileSync(key.privatePath, r("etc/ssh/ssh_host_ed25519_key"));
  fs.chmodSync(r("etc/ssh/ssh_host_ed25519_key"), 0o600);
  fs.copyFileSync(key.publicPath, r("etc/ssh/ssh_host_ed25519_key.pub"));
  fs.chmodSync(r("etc/ssh/ssh_host_ed25519_key.pub"), 0o644);
  return key;
}

/**
 * Boots the machine: creates its cgroups, then starts `sh` detached, which joins them and execs
 * systemd-nspawn. Returns nspawn's PID and start time (the shell *becomes* nspawn, so the PID is
 * the same).
 */
export async function bootMachine(m: MachineRecord, bridge: string): Promise<{ pid: number; startTime: string }> {
  for (const d of m.cgroups) createCgroup(d);
  // The docker directory's bind is nspawnArgv's own; any other recorded bind is passed on.
  const binds = m.binds.filter((b) => b !== `${m.dockerDir}:/var/lib/docker`);
  const argv = nspawnArgv({ machineName: m.nspawnName, root: m.rootDir, bridge, dockerDir: m.dockerDir, binds });
  const log = fs.openSync(m.logFile, "a", 0o600);
  try {
    const child = spawn("sh", ["-c", spawnScript(m.cgroups, argv)], {
      detached: true,
      stdio: ["ignore", log, log],
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start systemd-nspawn for ${m.name}`);
    child.unref();
    let exited: number | null | undefined;
    child.on("exit", (code) => (exited = code));
    // The shell needs a moment to join the cgroups and exec; its start time stays the same across exec.
    const startTime = processStartTime(pid);
    if (!startTime) throw new Error(`systemd-nspawn for ${m.name} exited at once; see ${m.logFile}`);
    await sleep(50);
    if (exited !== undefined) {
      throw new Error(
        `systemd-nspawn for ${m.name} exited with ${exited}${exited === 97 ? " (could not join its cgroups)" : ""}:\n${tail(fs.readFileSync(m.logFile, "utf8"), 10)}`,
      );
    }
    return { pid, startTime };
  } finally {
    fs.closeSync(log);
  }
}

/**
 * Waits until the machine's sshd answers on `address:port` with an SSH banner, or throws when the
 * deadline passes or the machine's nspawn process dies first.
 */
export async function waitForSsh(
  m: Pick<MachineRecord, "name" | "address" | "pid" | "pidStartTime" | "logFile">,
  deadlineMs: number,
  port = 22,
): Promise<number> {
  const started = Date.now();
  let last = "";
  while (Date.now() - started < deadlineMs) {
    if (m.pid && m.pidStartTime && !isSameProcess(m.pid, m.pidStartTime)) {
      throw new TransportError("refused", m.name, `the machine stopped while booting:\n${tail(readLog(m.logFile), 15)}`);
    }
    const banner = await readBanner(m.address, port, 1_000).catch((e: Error) => ((last = e.message), ""));
    if (banner.startsWith("SSH-")) return Date.now() - started;
    await sleep(100);
  }
  throw new TransportError("timeout", m.name, `sshd on ${m.address}:${port} did not answer within ${deadlineMs} ms (last: ${last || "no banner"})`, {
    context: { log: tail(readLog(m.logFile), 15) },
  });
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Connects, reads the server's first line (the SSH identification string) and closes. */
export function readBanner(address: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: address, port });
    let buf = "";
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(buf.split("\r\n")[0] ?? "");
    };
    const timer = setTimeout(() => done(new Error("timed out")), timeoutMs);
    sock.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      if (buf.includes("\n")) done();
    });
    sock.on("error", (e) => done(e));
    sock.on("end", () => done(buf ? undefined : new Error("closed without a banner")));
  });
}

/** What tearing a machine down found and did. */
export interface MachineTeardown {
  process: "not-running" | "stopped" | "killed" | "none";
  leftoverPids: number[];
  cgroupsLeft: string[];
}

/**
 * Stops and removes a machine: SIGTERM to its nspawn (a clean shutdown takes ~2 s), SIGKILL after
 * `graceMs`, then kills anything left in its own cgroups, removes the cgroups, deletes the veth if
 * nspawn left it, and unmounts the overlay. Missing pieces are fine; nothing outside the record is
 * touched (a PID whose start time differs is someone else's).
 */
export async function teardownMachine(m: MachineRecord, graceMs = 10_000): Promise<MachineTeardown> {
  let proc: MachineTeardown["process"] = "none";
  if (m.pid && m.pidStartTime) proc = await stopProcess(m.pid, m.pidStartTime, graceMs, "SIGTERM", 1_000);
  // Processes still in the machine's own cgroups belong to it (they can only be there because nspawn put them there).
  let leftover: number[] = [];
  for (let i = 0; i < 20; i++) {
    leftover = m.cgroups.flatMap((d) => cgroupPids(d));
    leftover = [...new Set(leftover)];
    if (!leftover.length) break;
    for (const pid of leftover) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    await sleep(100);
  }
  const cgroupsLeft = m.cgroups.flatMap((d) => removeCgroupTree(d));
  await deleteLink(m.veth);
  if (isMounted(m.rootDir)) {
    await runLocal("umount", [m.rootDir], { stepId: "local.machine", okExitCodes: "any" });
    if (isMounted(m.rootDir)) await runLocal("umount", ["-l", m.rootDir], { stepId: "local.machine" });
  }
  return { process: proc, leftoverPids: leftover, cgroupsLeft };
}
