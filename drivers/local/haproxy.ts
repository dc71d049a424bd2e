/**
 * The local load balancer: an HAProxy process that longshore starts, reloads and stops by PID,
 * with its own configuration, map file, server-state file and admin socket under the environment's
 * state directory. It listens where the environment says (`local.listen`). Everything is recorded in the environment's state
 * before it is started, so `local down` stops it even after a crash.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../../core/errors";
import { runLocal } from "./exec";
import { writeFileAtomic } from "../../core/atomic-write";
import { DEFAULT_HEALTH, type HealthSpec } from "../../model/health";
import { renderHaproxyConfig, renderSlotMap, type HaproxyConfigInput, type HaproxyServer, type Slot } from "./haproxy-config";
import { HaproxyRuntime, HaproxyRuntimeError } from "./haproxy-runtime";
import { isSameProcess, processStartTime, sleep, stopProcess } from "./proc";
import type { HaproxyRecord, StateStore } from "./state";

/** What the load balancer serves. */
export interface LoadBalancerSpec {
  /** TCP port to listen on. */
  port: number;
  /** IPv4 address to bind (the environment's `local.listen`). @default "127.0.0.1" */
  address?: string;
  slots: { blue: HaproxyServer[]; green: HaproxyServer[] };
  /** The slot that receives traffic at start; default blue. Ignored on reload (the live slot is kept). */
  live?: Slot;
  /** The app's health check. @default the model's defaults */
  health?: HealthSpec;
}

/** Files of the load balancer under the environment's directory. */
export function haproxyFiles(stateDir: string) {
  const dir = path.join(stateDir, "haproxy");
  return {
    dir,
    configFile: path.join(dir, "haproxy.cfg"),
    pidFile: path.join(dir, "haproxy.pid"),
    socket: path.join(dir, "admin.sock"),
    mapFile: path.join(dir, "slot.map"),
    serverStateFile: path.join(dir, "server-state"),
  };
}

function haproxyUserExists(): boolean {
  try {
    return /^haproxy:/m.test(fs.readFileSync("/etc/passwd", "utf8"));
  } catch {
    return false;
  }
}

function configInput(env: string, files: ReturnType<typeof haproxyFiles>, spec: LoadBalancerSpec): HaproxyConfigInput {
  return {
    env,
    bind: { address: spec.address ?? "127.0.0.1", port: spec.port },
    statsSocket: files.socket,
    mapFile: files.mapFile,
    serverStateFile: files.serverStateFile,
    slots: spec.slots,
    health: spec.health ?? DEFAULT_HEALTH,
    ...(haproxyUserExists() ? { runAs: { user: "haproxy", group: "haproxy" } } : {}),
  };
}

/** Writes the configuration after HAProxy itself accepted it (`haproxy -c`). */
async function writeCheckedConfig(file: string, text: string): Promise<void> {
  const tmp = `${file}.new`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  try {
    await runLocal("haproxy", ["-c", "-q", "-f", tmp], { stepId: "local.haproxy" });
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Processes of the record that still run. */
function aliveProcesses(rec: HaproxyRecord): HaproxyRecord["processes"] {
  return rec.processes.filter((p) => isSameProcess(p.pid, p.startTime));
}

async function readNewPid(pidFile: string, notOneOf: readonly number[]): Promise<{ pid: number; startTime: string }> {
  for (let i = 0; i < 100; i++) {
    const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : "";
    const pid = Number(text.split("\n")[0]);
    if (Number.isInteger(pid) && pid > 0 && !notOneOf.includes(pid)) {
      const startTime = processStartTime(pid);
      if (startTime) return { pid, startTime };
    }
    await sleep(50);
  }
  throw new HaproxyRuntimeError(`HAProxy started but wrote no usable PID to ${pidFile}`);
}

/**
 * Starts the environment's load balancer. Fails if one is already running for it (use
 * {@link reloadHaproxy} to change servers).
 */
export async function startHaproxy(store: StateStore, spec: LoadBalancerSpec): Promise<HaproxyRecord> {
  const files = haproxyFiles(store.state.stateDir);
  const input = configInput(store.state.env, files, spec);
  if (store.state.haproxy && aliveProcesses(store.state.haproxy).length) {
    throw new ConfigError("load balancer", [{ path: "haproxy", message: `environment ${store.state.env} already runs HAProxy; reload it instead` }]);
  }
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const live = spec.live ?? "blue";
  writeFileAtomic(files.mapFile, renderSlotMap(live), 0o644);
  writeFileAtomic(files.serverStateFile, "", 0o644);
  await writeCheckedConfig(files.configFile, renderHaproxyConfig(input));
  fs.rmSync(files.pidFile, { force: true });
  const record: HaproxyRecord = {
    configFile: files.configFile,
    pidFile: files.pidFile,
    socket: files.socket,
    mapFile: files.mapFile,
    serverStateFile: files.serverStateFile,
    bind: { address: spec.address ?? "127.0.0.1", port: spec.port },
    processes: [],
    liveSlot: live,
  };
  store.update((s) => ({ ...s, haproxy: record }));
  // -D: the parent binds (so a busy port fails here, with HAProxy's message), forks and exits.
  await runLocal("haproxy", ["-D", "-f", files.configFile, "-p", files.pidFile], { stepId: "local.haproxy", timeoutMs: 30_000 });
  const proc = await readNewPid(files.pidFile, []);
  return store.update((s) => ({ ...s, haproxy: { ...s.haproxy!, processes: [proc] } })).haproxy!;
}

/**
 * Changes the server list with a graceful reload: a new HAProxy takes over the listening socket
 * (`-x` admin socket, no refused connection) and the old one (`-sf`) finishes its in-flight
 * requests, then exits. Server states and weights set at runtime carry over through the
 * server-state file; the live slot through the map file.
 */
export async function reloadHaproxy(store: StateStore, spec: Omit<LoadBalancerSpec, "live">): Promise<HaproxyRecord> {
  const rec = store.state.haproxy;
  if (!rec) throw new ConfigError("load balancer", [{ path: "haproxy", message: `environment ${store.state.env} runs no HAProxy; start it first` }]);
  const files = haproxyFiles(store.state.stateDir);
  const input = configInput(store.state.env, files, { ...spec, port: rec.bind.port, address: rec.bind.address });
  const alive = aliveProcesses(rec);
  if (!alive.length) throw new HaproxyRuntimeError(`HAProxy of environment ${store.state.env} is not running; start it again`);
  await writeCheckedConfig(files.configFile, renderHaproxyConfig(input));
  const runtime = new HaproxyRuntime(rec.socket, rec.mapFile);
  writeFileAtomic(files.serverStateFile, await runtime.serversState(), 0o644);
  const oldPids = alive.map((p) => p.pid);
  await runLocal(
    "haproxy",
    ["-D", "-f", files.configFile, "-p", files.pidFile, "-x", rec.socket, "-sf", ...oldPids.map(String)],
    { stepId: "local.haproxy", timeoutMs: 30_000 },
  );
  const proc = await readNewPid(files.pidFile, oldPids);
  return store.update((s) => ({ ...s, haproxy: { ...s.haproxy!, processes: [...alive, proc] } })).haproxy!;
}

/**
 * Sends new requests to `slot` without a reload; in-flight requests complete on the old slot.
 * The map file and the state follow, so a later reload keeps the choice.
 */
export async function switchSlot(store: StateStore, slot: Slot): Promise<void> {
  const rec = store.state.haproxy;
  if (!rec) throw new ConfigError("load balancer", [{ path: "haproxy", message: `environment ${store.state.env} runs no HAProxy` }]);
  await new HaproxyRuntime(rec.socket, rec.mapFile).switchTo(slot);
  writeFileAtomic(rec.mapFile, renderSlotMap(slot), 0o644);
  store.update((s) => ({ ...s, haproxy: { ...s.haproxy!, liveSlot: slot } }));
}

/** The runtime API client of the environment's HAProxy. */
export function haproxyRuntime(rec: HaproxyRecord): HaproxyRuntime {
  return new HaproxyRuntime(rec.socket, rec.mapFile);
}

/** Stops every HAProxy process of the record (by PID and start time), then forgets it. */
export async function stopHaproxy(store: StateStore): Promise<void> {
  const rec = store.state.haproxy;
  if (!rec) return;
  await Promise.all(rec.processes.map((p) => stopProcess(p.pid, p.startTime, 5_000)));
  for (const f of [rec.socket, rec.pidFile]) fs.rmSync(f, { force: true });
  store.update((s) => {
    const { haproxy: _gone, ...rest } = s;
    return rest;
  });
}

/** Forgets processes of the record that have exited (old ones after a reload). */
export function pruneHaproxyProcesses(store: StateStore): void {
  const rec = store.state.haproxy;
  if (!rec) return;
  const alive = aliveProcesses(rec);
  if (alive.length !== rec.processes.length) store.update((s) => ({ ...s, haproxy: { ...s.haproxy!, processes: alive } }));
}
