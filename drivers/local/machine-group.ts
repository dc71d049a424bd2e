/**
 * A machine group: N local machines on the shared bridge, brought up and torn down as a unit (what
 * `longshore local up --env NAME` makes; each slot generation of an environment is one).
 * `upMachineGroup` records each resource in the group's state before creating it;
 * `downMachineGroup` removes exactly what the state lists, whatever point `up` reached.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, LongshoreError } from "../../core/errors";
import type { SshTarget } from "../../model/ssh-target";
import { cgroupMemoryBytes, currentHierarchies, machineCgroupDirs, removeEmptyParents } from "./cgroups";
import { writeFileAtomic } from "../../core/atomic-write";
import { stopHaproxy } from "./haproxy";
import { renderInventory, renderKnownHosts, sshTargets } from "./inventory";
import { withLock } from "../../core/lock";
import { bootMachine, isMounted, machineLayout, mountOverlay, personalise, teardownMachine, waitForSsh } from "./machine";
import { DEFAULT_BRIDGE } from "./network";
import { nspawnMachineName, vethName } from "./nspawn";
import { defaultPaths, envDir, envStateFile, type LocalPaths } from "./paths";
import { assertPreconditions, DOWN_TOOLS } from "./preconditions";
import { isSameProcess } from "./proc";
import { withSharedState } from "./shared-state";
import { ensureKeyPair } from "./ssh-keys";
import { EnvNameSchema, loadEnvState, newEnvState, StateStore, type EnvState, type MachineRecord } from "./state";
import { DEFAULT_SUBNET, gatewayOf, parseSubnet } from "./subnet";
import { closeFirewall, joinBridge, leaveBridge, openFirewall } from "./bridge";
import { ensureTemplate, type Progress } from "./template";
import { DEFAULT_RECIPE, type TemplateRecipe } from "./template-recipe";

/** Options of {@link upMachineGroup}. */
export interface UpOptions {
  env: string;
  /** How many machines the environment should have (1..100). */
  machines: number;
  /** The bridge's subnet; default 10.213.47.0/24. Must match the bridge if it exists already. */
  subnet?: string;
  /** Default `longshore0`. */
  bridge?: string;
  paths?: LocalPaths;
  recipe?: TemplateRecipe;
  progress?: Progress;
  /** How long each machine may take until sshd answers; default 90 s. */
  bootTimeoutMs?: number;
  /** Skip the tool checks (tests that checked already). */
  skipPreconditions?: boolean;
  /**
   * A host image (drivers/local/host-image.ts) the machines boot from: its layer sits between the
   * template and each machine's own upper dir. @default none: the bare template
   */
  hostImage?: { id: string; layer: string };
  /**
   * More `HOST:MACHINE` directories bound into each new machine (an accessory's data directory),
   * recorded with the machine so a re-boot binds them again. @default none
   */
  binds?: readonly string[];
}

/** A machine as `local ls` shows it. */
export interface MachineStatus {
  name: string;
  address: string;
  state: "running" | "stopped" | "creating";
  hostKey: string | null;
  pid: number | null;
  /** Memory cgroup usage in bytes, when running. */
  memoryBytes: number | null;
}

/** What `up` produced. */
export interface UpResult {
  state: EnvState;
  inventoryFile: string;
  knownHostsFile: string;
  machines: MachineStatus[];
  /** Time from start of `up` until every machine answered SSH. */
  durationMs: number;
}

const ENV_LOCK_WAIT_MS = 5 * 60_000;

/** The lock of a machine group's state (held while `up` or `down` changes it). */
export function envLockFile(paths: LocalPaths, env: string): string {
  return `${envDir(paths, env)}.lock`;
}

function validateUp(o: UpOptions) {
  const issues: { path: string; message: string }[] = [];
  const name = EnvNameSchema.safeParse(o.env);
  if (!name.success) issues.push({ path: "--env", message: name.error.issues[0]!.message });
  if (!Number.isInteger(o.machines) || o.machines < 1 || o.machines > 100) {
    issues.push({ path: "--machines", message: `must be a whole number from 1 to 100 (got ${o.machines})` });
  }
  const bridge = o.bridge ?? DEFAULT_BRIDGE;
  if (!/^[a-z][a-z0-9-]{0,14}$/.test(bridge)) issues.push({ path: "--bridge", message: "an interface name of at most 15 characters" });
  let subnet;
  try {
    subnet = parseSubnet(o.subnet ?? DEFAULT_SUBNET);
  } catch (e) {
    if (e instanceof ConfigError) issues.push(...e.issues);
    else throw e;
  }
  if (issues.length || !subnet) throw new ConfigError("local up", issues);
  return { subnet, bridge };
}

/** The machine names of an environment: `<env>-1`, `<env>-2`, ... */
export function machineNames(env: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${env}-${i + 1}`);
}

/**
 * Brings the environment to `machines` running machines reachable over SSH with pinned host keys,
 * and writes its inventory. Re-running is cheap: running machines are kept, stopped ones booted
 * again, missing ones added. On failure, whatever this call created is removed again.
 */
export async function upMachineGroup(options: UpOptions): Promise<UpResult> {
  const started = Date.now();
  const { subnet, bridge } = validateUp(options);
  if (!options.skipPreconditions) await assertPreconditions();
  const paths = options.paths ?? defaultPaths();
  const progress = options.progress ?? (() => undefined);
  const env = options.env;
  const dir = envDir(paths, env);
  const stateFile = envStateFile(paths, env);

  return withLock(envLockFile(paths, env), { what: `machine group ${env}`, operation: "local up", waitMs: ENV_LOCK_WAIT_MS }, async () => {
    const existing = loadEnvState(stateFile);
    if (existing && existing.phase === "removing") {
      throw new ConfigError("local up", [{ path: "--env", message: `environment ${env} was being removed; run \`longshore local down --env ${env}\` first` }]);
    }
    if (existing && (existing.subnet !== subnet.cidr || existing.bridge !== bridge)) {
      throw new ConfigError("local up", [
        { path: "--subnet", message: `environment ${env} uses ${existing.bridge} ${existing.subnet}; run down first to change it` },
      ]);
    }
    if (existing && existing.machines.length > options.machines) {
      throw new ConfigError("local up", [
        { path: "--machines", message: `environment ${env} has ${existing.machines.length} machines; run down first to have fewer` },
      ]);
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const store = new StateStore(
      stateFile,
      existing ?? newEnvState({ env, stateDir: dir, sharedDir: paths.sharedDir, bridge, subnet: subnet.cidr, gateway: gatewayOf(subnet), now: new Date() }),
    );
    if (!existing) store.update((s) => s);
    else store.update((s) => ({ ...s, phase: "creating" }));
    const before = new Set(store.state.machines.map((m) => m.name));

    try {
      const template = await ensureTemplate(paths, options.recipe ?? DEFAULT_RECIPE, progress);
      store.update((s) => ({ ...s, template: { hash: template.hash, rootfs: template.rootfs }, ...(options.hostImage ? { hostImage: options.hostImage } : {}) }));
      // overlayfs takes lower layers top first: the host image's layer above the template.
      const image = store.state.hostImage;
      const lowerDir = image ? `${image.layer}:${template.rootfs}` : template.rootfs;
      const key = await ensureKeyPair(path.join(dir, "id_ed25519"), `longshore-${env}`);
      store.update((s) => ({ ...s, clientKey: { privatePath: key.privatePath, publicPath: key.publicPath, fingerprint: key.fingerprint } }));

      const names = machineNames(env, options.machines);
      const addresses = await joinBridge(paths, stateFile, env, bridge, subnet, names, progress);

      await openFirewall(store, bridge, env);

      // Machine records (intent) for every machine not known yet.
      const hierarchies = currentHierarchies();
      const fresh: MachineRecord[] = names
        .filter((n) => !before.has(n))
        .map((name) => {
          const address = addresses[name]!;
          const nspawnName = nspawnMachineName(address);
          const mdir = path.join(dir, "machines", name);
          const layout = machineLayout(mdir);
          return {
            name,
            nspawnName,
            address,
            phase: "intent" as const,
            dir: mdir,
            rootDir: layout.rootDir,
            upperDir: layout.upperDir,
            workDir: layout.workDir,
            dockerDir: layout.dockerDir,
            logFile: layout.logFile,
            overlayMounted: false,
            binds: [`${layout.dockerDir}:/var/lib/docker`, ...(options.binds ?? [])],
            cgroups: machineCgroupDirs(hierarchies, env, nspawnName),
            veth: vethName(nspawnName),
          };
        });
      if (fresh.length) store.update((s) => ({ ...s, machines: [...s.machines, ...fresh] }));

      const t0 = Date.now();
      await Promise.all(
        store.state.machines.map(async (m) => {
          if (m.pid && m.pidStartTime && isSameProcess(m.pid, m.pidStartTime)) return;
          // Not running (crashed, killed, this computer rebooted, or a new machine): clear whatever its
          // last run left (processes in its cgroups, a veth, a stale mount) before booting it.
          if (m.phase !== "intent") {
            await teardownMachine(m);
            progress(`machine ${m.name}: not running; booting it again`);
          }
          await startOne(store, m.name, subnet.prefix, lowerDir, bridge, key.publicKey, options.bootTimeoutMs ?? 90_000, progress, t0);
        }),
      );

      const inventoryFile = path.join(dir, "inventory.yaml");
      const knownHostsFile = path.join(dir, "known_hosts");
      store.update((s) => ({ ...s, inventoryFile, knownHostsFile }));
      writeFileAtomic(knownHostsFile, renderKnownHosts(store.state), 0o644);
      writeFileAtomic(inventoryFile, renderInventory(store.state), 0o600);
      store.update((s) => ({ ...s, phase: "ready" }));
      const durationMs = Date.now() - started;
      progress(`environment ${env}: ${store.state.machines.length} machine(s) ready in ${(durationMs / 1000).toFixed(1)} s; inventory ${inventoryFile}`);
      return { state: store.state, inventoryFile, knownHostsFile, machines: machineStatuses(store.state), durationMs };
    } catch (error) {
      progress(`environment ${env}: up failed; removing what this run created`);
      try {
        if (!existing) {
          await removeEverything(store, paths, stateFile, progress);
        } else {
          const added = store.state.machines.filter((m) => !before.has(m.name));
          await removeMachines(store, added, progress);
          // Free the addresses of the machines that are really gone (and of those never recorded).
          const kept = new Set(store.state.machines.map((m) => m.name));
          await withSharedState(paths, async (shared) => ({
            state: { ...shared, allocations: Object.fromEntries(Object.entries(shared.allocations).filter(([, o]) => !(o.user === stateFile && !kept.has(o.machine)))) },
            result: undefined,
          }));
          store.update((s) => ({ ...s, phase: "ready" }));
        }
      } catch (cleanupError) {
        (error as Error).message += `\n(cleanup after the failure also failed: ${(cleanupError as Error).message}; run \`longshore local down --env ${env}\`)`;
      }
      throw error;
    }
  });
}

async function startOne(
  store: StateStore,
  name: string,
  prefix: number,
  lowerDir: string,
  bridge: string,
  clientPublicKey: string,
  bootTimeoutMs: number,
  progress: Progress,
  t0: number,
): Promise<void> {
  let m = store.state.machines.find((x) => x.name === name)!;
  store.updateMachine(name, (x) => ({ ...x, overlayMounted: true }));
  await mountOverlay(m, lowerDir);
  const hostKey = await personalise(m, { hostname: name, address: m.address, prefix, gateway: store.state.gateway, clientPublicKey });
  m = store.updateMachine(name, (x) => ({ ...x, phase: "prepared", hostKey: { publicKey: hostKey.publicKey, fingerprint: hostKey.fingerprint } }))
    .machines.find((x) => x.name === name)!;
  // The PID is only known after the spawn; the cgroups (already recorded) find the process if we crash in between.
  const { pid, startTime } = await bootMachine(m, bridge);
  m = store.updateMachine(name, (x) => ({ ...x, phase: "running", pid, pidStartTime: startTime })).machines.find((x) => x.name === name)!;
  await waitForSsh(m, bootTimeoutMs);
  progress(`machine ${name} (${m.address}) ready: sshd answered ${((Date.now() - t0) / 1000).toFixed(1)} s after boot start; host key ${hostKey.fingerprint}`);
}

async function removeMachines(store: StateStore, machines: readonly MachineRecord[], progress: Progress): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    machines.map(async (m) => {
      const t = await teardownMachine(m);
      if (t.cgroupsLeft.length) problems.push(`${m.name}: cgroups still busy: ${t.cgroupsLeft.join(", ")}`);
      for (const d of m.cgroups) removeEmptyParents(d, cgroupRoot(d));
      if (isMounted(m.rootDir)) {
        problems.push(`${m.name}: ${m.rootDir} is still mounted`);
        return;
      }
      if (!isInside(m.dir, path.dirname(store.file))) {
        problems.push(`${m.name}: its directory ${m.dir} is outside the environment's; not removing it`);
        return;
      }
      if (mountsUnder(m.dir).length) {
        problems.push(`${m.name}: mounts remain under ${m.dir}: ${mountsUnder(m.dir).join(", ")}`);
        return;
      }
      fs.rmSync(m.dir, { recursive: true, force: true });
      store.update((s) => ({ ...s, machines: s.machines.filter((x) => x.name !== m.name) }));
      progress(`machine ${m.name}: removed (${t.process})`);
    }),
  );
  return problems;
}

/** The part of a machine's cgroup path above `longshore/`: the parent cgroups are removed up to there. */
function cgroupRoot(dir: string): string {
  const i = dir.lastIndexOf(`${path.sep}longshore${path.sep}`);
  return i < 0 ? path.dirname(dir) : dir.slice(0, i);
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/** Mount points at or below `dir` (from /proc/mounts). */
export function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(dir + path.sep));
}

async function removeEverything(store: StateStore, paths: LocalPaths, stateFile: string, progress: Progress): Promise<void> {
  store.update((s) => ({ ...s, phase: "removing" }));
  if (store.state.haproxy) {
    await stopHaproxy(store);
  }
  const problems = await removeMachines(store, store.state.machines, progress);
  await closeFirewall(store);
  if (problems.length) {
    // Keep this environment's addresses and its place on the bridge until its machines are really gone.
    throw new LocalTeardownError(`environment ${store.state.env} was not removed completely:\n${problems.map((p) => `  - ${p}`).join("\n")}`, {
      suggestion: "Stop whatever still uses these paths, then run `longshore local down` again.",
    });
  }
  await leaveBridge(paths, stateFile, progress);
  // Everything is gone: the directory (keys, inventory, logs) and the state file last. The
  // directory is the state file's, never a path read from the file.
  const dir = path.dirname(stateFile);
  for (const entry of fs.readdirSync(dir)) {
    if (path.join(dir, entry) !== stateFile) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  store.remove();
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Teardown could not remove everything (something is still busy). */
export class LocalTeardownError extends LongshoreError {
  readonly code = "LOCAL_TEARDOWN_INCOMPLETE";
}

/** Options of {@link downMachineGroup}. */
export interface DownOptions {
  env: string;
  paths?: LocalPaths;
  progress?: Progress;
}

/**
 * Removes everything the environment's state lists — machines (processes, cgroups, overlay, veth,
 * directories), firewall rules, HAProxy, its addresses — and, when it is the last user, the bridge
 * (only if longshore created it) and the sysctls it raised. Idempotent; safe after a crash.
 */
export async function downMachineGroup(options: DownOptions): Promise<{ removed: boolean; machines: number }> {
  const env = EnvNameSchema.safeParse(options.env);
  if (!env.success) throw new ConfigError("local down", [{ path: "--env", message: env.error.issues[0]!.message }]);
  await assertPreconditions(DOWN_TOOLS);
  const paths = options.paths ?? defaultPaths();
  const progress = options.progress ?? (() => undefined);
  const stateFile = envStateFile(paths, options.env);
  return withLock(envLockFile(paths, options.env), { what: `machine group ${options.env}`, operation: "local down", waitMs: ENV_LOCK_WAIT_MS, removeOnRelease: true }, async () => {
    const state = loadEnvState(stateFile);
    if (!state) {
      // No state: nothing of ours can exist, but a crash may have left our addresses registered.
      await leaveBridge(paths, stateFile, progress);
      return { removed: false, machines: 0 };
    }
    const machines = state.machines.length;
    await removeEverything(new StateStore(stateFile, state), paths, stateFile, progress);
    progress(`environment ${options.env}: removed`);
    return { removed: true, machines };
  });
}

/** The machines of an environment and whether each runs (PID and start time still match). */
export function machineStatuses(state: EnvState): MachineStatus[] {
  return state.machines.map((m) => {
    const running = !!(m.pid && m.pidStartTime && isSameProcess(m.pid, m.pidStartTime));
    return {
      name: m.name,
      address: m.address,
      state: running ? "running" : m.phase === "intent" || m.phase === "prepared" ? "creating" : "stopped",
      hostKey: m.hostKey?.fingerprint ?? null,
      pid: running ? m.pid! : null,
      memoryBytes: running ? cgroupMemoryBytes(m.cgroups) : null,
    };
  });
}

/** Reads an environment without locking (for `ls`). Undefined when it does not exist. */
export function readMachineGroup(env: string, paths: LocalPaths = defaultPaths()): EnvState | undefined {
  return loadEnvState(envStateFile(paths, env));
}

/** Every environment with a state file under the state root. */
export function listMachineGroups(paths: LocalPaths = defaultPaths()): string[] {
  try {
    return fs
      .readdirSync(paths.stateRoot, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(paths.stateRoot, e.name, "state.json")))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/**
 * The SSH targets of an environment's machines — root, the environment's client key, host keys
 * pinned — for code that provisions them. Empty when the environment does not exist.
 */
export function machineGroupSshTargets(env: string, paths: LocalPaths = defaultPaths()): SshTarget[] {
  const state = readMachineGroup(env, paths);
  return state ? sshTargets(state) : [];
}

export { sshTargets };
