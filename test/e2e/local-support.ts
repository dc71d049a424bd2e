/**
 * Helpers for the local driver's e2e tests: their own state directory, OpenSSH with the pinned
 * known_hosts, HTTP requests and a bounded HTTP load loop, and a snapshot of what a local
 * environment can leave behind on this computer.
 */
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { defaultPaths, type LocalPaths } from "../../drivers/local/paths";
import type { EnvState, MachineRecord } from "../../drivers/local/state";

/** Paths for a test: its own state root; the template cache and the shared bridge pool stay shared. */
export function testPaths(prefix: string): LocalPaths {
  return { ...defaultPaths(), stateRoot: fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`)) };
}

/** What a command over SSH did. */
export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` on a machine with OpenSSH, verifying the host key strictly against
 * `knownHostsFile` (default: the environment's pinned known_hosts). Never trusts on first use.
 */
export function ssh(state: EnvState, m: Pick<MachineRecord, "address">, command: string, options: { stdin?: Buffer | string; knownHostsFile?: string; extra?: string[] } = {}): Promise<SshResult> {
  const args = [
    "-i", state.clientKey!.privatePath,
    "-o", `UserKnownHostsFile=${options.knownHostsFile ?? state.knownHostsFile!}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "StrictHostKeyChecking=yes",
    "-o", "BatchMode=yes",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    ...(options.extra ?? []),
    `root@${m.address}`,
    command,
  ];
  return new Promise((resolve) => {
    const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.stdin ?? "");
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** One HTTP GET without keep-alive. */
export function httpGet(url: string, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** What a load run saw. */
export interface LoadResult {
  ok: number;
  non2xx: number;
  errors: string[];
  /** Response bodies in completion order (trimmed). */
  bodies: string[];
  /** Every request: when it started (ms since epoch), its status (null on error) and trimmed body. */
  samples: Array<{ startedAt: number; status: number | null; body: string }>;
}

/** Starts `concurrency` loops of GETs (new connection each) until `stop()` is called. */
export function startLoad(url: string, concurrency: number): { stop: () => Promise<LoadResult>; seen: () => number } {
  const result: LoadResult = { ok: 0, non2xx: 0, errors: [], bodies: [], samples: [] };
  let running = true;
  const worker = async () => {
    while (running) {
      const startedAt = Date.now();
      try {
        const r = await httpGet(url);
        if (r.status >= 200 && r.status < 300) result.ok++;
        else result.non2xx++;
        result.bodies.push(`${r.status} ${r.body.trim()}`);
        result.samples.push({ startedAt, status: r.status, body: r.body.trim() });
      } catch (e) {
        result.errors.push((e as Error).message);
        result.samples.push({ startedAt, status: null, body: (e as Error).message });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    seen: () => result.bodies.length + result.errors.length,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Everything of an environment that could be left on this computer, by its recorded names. */
export interface Leftovers {
  mounts: string[];
  links: string[];
  firewall: string[];
  cgroups: string[];
  processes: number[];
}

/** Lists what of `state` still exists (it must be empty after `down`). */
export function leftovers(state: EnvState): Leftovers {
  const mounts = fs.readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((p) => p.startsWith(state.stateDir));
  const linkNames = fs.readdirSync("/sys/class/net");
  const links = state.machines.map((m) => m.veth).filter((v) => linkNames.includes(v));
  const firewall = execFileSync("iptables", ["-w", "5", "-S"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`longshore:${state.env}"`) || l.includes(`longshore:${state.env} `));
  const cgroups = state.machines.flatMap((m) => m.cgroups).filter((d) => fs.existsSync(d));
  const processes = state.machines
    .filter((m) => m.pid && m.pidStartTime)
    .filter((m) => {
      try {
        const stat = fs.readFileSync(`/proc/${m.pid}/stat`, "utf8");
        const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return after[19] === m.pidStartTime && after[0] !== "Z";
      } catch {
        return false;
      }
    })
    .map((m) => m.pid!);
  return { mounts, links, firewall, cgroups, processes };
}

/** The processes in a machine's cgroups right now. */
export function cgroupProcessCount(m: MachineRecord): number {
  return m.cgroups.reduce((n, d) => {
    try {
      return n + fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).length;
    } catch {
      return n;
    }
  }, 0);
}
