/**
 * Accessories on the local driver: each one machine of its own (`<env>-acc-<name>`), created when
 * missing before an app slot is prepared and never touched by rollouts after that; its data a
 * directory of this computer bound into the machine (accessory-layout.ts). The machine and its
 * container are provisioned by the same provisioner as the app's hosts (the engine steps, then the
 * app's image and run steps with the accessory as the app, model/accessory.ts), then checked by
 * the accessory's own health check over SSH (accessory-health.ts).
 *
 * `longshore accessory upgrade` replaces the container (create-then-swap, the data stays);
 * `accessory status` reads what runs; `destroy` removes the machines and, when asked, the data.
 * Secrets travel as `Sensitive` into the container's 0600 env file only; no log line, argv, state
 * file or error carries them (the health output is redacted of them).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readFileIfExists, writeFileAtomic } from "../../core/atomic-write";
import { HealthCheckError } from "../../core/errors";
import { withLock } from "../../core/lock";
import { redactText, type Sensitive } from "../../core/sensitive";
import { accessoryApp, accessoryGroupName, type AccessorySpec } from "../../model/accessory";
import { registryFor } from "../../model/deployment";
import type { Environment } from "../../model/environment";
import type { ResolvedSecrets } from "../../model/secret-resolve";
import type { SshTarget } from "../../model/ssh-target";
import { provisionHosts } from "../../provisioner/apply-host";
import { bundleSourceOf, resolveBundle, verifyBundleInput } from "../../provisioner/provision-inputs";
import type { BundleRef, ImageSource } from "../../provisioner/steps/engine-context";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import type { ProgressFn } from "../../rollout/driver";
import { accessoryContainerCommand, accessoryHealthCommand, healthyContainerId, parseAccessoryContainer, type AccessoryContainer } from "./accessory-health";
import {
  accessoryDataBind,
  accessoryDataDir,
  accessoryDataDirs,
  accessoryFirewallRules,
  accessoryGroups,
  accessoriesDataRoot,
  ACCESSORY_DATA_MOUNT,
  ACCESSORY_SLOT,
  appToAccessoryRules,
} from "./accessory-layout";
import { addFirewallRules } from "./bridge";
import { localDebianArch, type LocalBundleOptions } from "./group-provisioner";
import { ensureHostImage, type HostImage } from "./host-image";
import { resolveImageSource } from "./image-source";
import { downMachineGroup, envLockFile, machineGroupSshTargets, machineStatuses, readMachineGroup, upMachineGroup } from "./machine-group";
import { envDir, envStateFile, type LocalPaths } from "./paths";
import type { FleetHost, GroupProvisioner } from "./slot-driver";
import { loadEnvState, StateStore, type FirewallRule } from "./state";
import { templateRecipeFor } from "./template-recipe";

/** Opens an SSH connection to a machine (the ssh2 transport; tests may pass another). */
export type AccessoryConnect = (target: SshTarget) => Promise<Transport>;

/** What the accessory operations need: the environment, its secrets, and how to reach things. */
export interface AccessoryContext {
  env: Environment;
  secrets: ResolvedSecrets;
  paths: LocalPaths;
  /** The bundle directory `engine.bundle` names, already verified. @default verified here when needed */
  verified?: BundleRef | null;
  /** How a recipe's bundle is resolved (the environment's lock...). @default the cache, then apt */
  bundleOptions?: LocalBundleOptions;
  /** `DOCKER_HOST` (the `engine` image source's engine). @default the engine's default socket */
  dockerHost?: string;
  /** Where the image source was chosen, for errors about it. @default app.imageFrom in the environment */
  imageFromNamedBy?: { source: string; key: string };
  /** Records that an image ref is an image id (the environment's `longshore.lock`). @default nothing is recorded */
  recordImage?: (ref: string, imageId: string) => Promise<void>;
  /** @default the ssh2 transport */
  connect?: AccessoryConnect;
}

/** What longshore recorded about an accessory's machine (in its group's directory, so it goes with it). */
interface AccessoryRecord {
  name: string;
  /** The image its container was last provisioned with. */
  image: string;
  provisionedAt: string;
  /** Whether that container passed its health check since (a rollout checks one that did not again). */
  healthy: boolean;
}

/** An accessory's host, as the operations report it. */
export interface AccessoryHost {
  name: string;
  group: string;
  host: string;
  address: string;
  /** The image its container runs (as last provisioned). */
  image: string;
  /** The data directory on this computer. */
  dataDir: string;
  /** What the operation did: made the machine, booted it again, or found it running. */
  action: "created" | "restarted" | "unchanged";
  /** The container that passed the health check. */
  containerId: string;
}

function recordFile(paths: LocalPaths, group: string): string {
  return path.join(envDir(paths, group), "accessory.json");
}

function readRecord(paths: LocalPaths, group: string): AccessoryRecord | null {
  const text = readFileIfExists(recordFile(paths, group));
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as AccessoryRecord;
  } catch {
    return null;
  }
}

function writeRecord(paths: LocalPaths, group: string, record: AccessoryRecord): void {
  writeFileAtomic(recordFile(paths, group), JSON.stringify(record, null, 2) + "\n", 0o600);
}

/** Every secret of the environment's accessories, for redacting what their hosts print. */
function accessorySecrets(ctx: Pick<AccessoryContext, "secrets">): Sensitive[] {
  return Object.values(ctx.secrets.accessories ?? {}).flatMap((s) => Object.values(s));
}

/**
 * The bundle and host image the accessories' machines use: the same as the app's (cached once
 * made), settled once per context.
 */
function engineOf(ctx: AccessoryContext): (progress: ProgressFn) => Promise<{ bundle: BundleRef | null; hostImage: HostImage | null }> {
  let settled: Promise<{ bundle: BundleRef | null; hostImage: HostImage | null }> | undefined;
  return (progress) => {
    settled ??= (async () => {
      const { env, paths } = ctx;
      const source = bundleSourceOf(env.engine);
      let bundle: BundleRef | null = null;
      if (source !== null) {
        if (typeof source !== "function" && "dir" in source) bundle = ctx.verified ?? (await verifyBundleInput(source.dir, "environment"));
        else bundle = await resolveBundle(typeof source === "function" ? source(localDebianArch()) : source, { ...ctx.bundleOptions, cacheDir: paths.cacheDir, createdBy: "longshore local", log: progress });
      }
      const hostImage = env.local.hostImage && bundle !== null ? await ensureHostImage({ paths, engine: env.engine, bundle, recipe: templateRecipeFor(env.hosts.os), progress }) : null;
      return { bundle, hostImage };
    })();
    settled.catch(() => (settled = undefined));
    return settled;
  };
}

/** Adds `rules` to a machine group's state and the kernel, under the group's lock. */
async function addGroupRules(paths: LocalPaths, group: string, rules: readonly FirewallRule[]): Promise<void> {
  if (rules.length === 0) return;
  await withLock(envLockFile(paths, group), { what: `machine group ${group}`, operation: "accessory firewall", waitMs: 5 * 60_000 }, async () => {
    const file = envStateFile(paths, group);
    const state = loadEnvState(file);
    if (!state) throw new Error(`machine group ${group} has no state: cannot record its firewall rules`);
    await addFirewallRules(new StateStore(file, state), rules);
  });
}

/** Runs one command on an accessory's machine over one pinned SSH connection. */
async function onHost(ctx: Pick<AccessoryContext, "connect">, target: SshTarget, command: Parameters<Transport["exec"]>[0]) {
  const t = await (ctx.connect ?? ((x: SshTarget) => connectSsh(x, { connectDeadlineMs: 15_000 })))(target);
  try {
    return await t.exec(command);
  } finally {
    await t.close().catch(() => undefined);
  }
}

/** Waits until the accessory is healthy on its host; returns its container id, or throws a HealthCheckError (redacted). */
async function waitHealthy(ctx: AccessoryContext, name: string, spec: AccessorySpec, target: SshTarget, progress: ProgressFn): Promise<string> {
  const t0 = Date.now();
  const deadlineMs = spec.health.deadlineSeconds * 1000;
  const r = await onHost(ctx, target, accessoryHealthCommand(name, spec, deadlineMs));
  const id = r.exitCode === 0 ? healthyContainerId(r.stdout) : null;
  if (id === null) {
    const said = redactText(r.stderr.trim() || r.stdout.trim(), accessorySecrets(ctx));
    throw new HealthCheckError(`accessory ${name} did not become healthy on ${target.name} within ${spec.health.deadlineSeconds} s: ${said || `exit ${r.exitCode ?? r.signal}`}`, {
      context: { accessory: name, host: target.name },
      suggestion: `Look at it with \`longshore accessory status\`; accessories.${name}.health says what counts as healthy.`,
    });
  }
  progress(`accessory ${name}: healthy on ${target.name} (port ${spec.port}${spec.health.command ? ", health command" : ""}) after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return id;
}

/** Provisions the accessory's machine: the engine steps, then its container from `image`. */
async function provisionAccessory(ctx: AccessoryContext, engine: ReturnType<typeof engineOf>, name: string, image: string, progress: ProgressFn): Promise<void> {
  const { env, paths, secrets } = ctx;
  const spec = env.accessories[name]!;
  const group = accessoryGroupName(env.name, name);
  const { bundle } = await engine(progress);
  const source: ImageSource = await resolveImageSource(image, paths.cacheDir, env, secrets, progress, {
    ...(ctx.dockerHost !== undefined ? { dockerHost: ctx.dockerHost } : {}),
    ...(ctx.imageFromNamedBy !== undefined ? { imageFromNamedBy: ctx.imageFromNamedBy } : {}),
  });
  const app = accessoryApp(name, spec, secrets.accessories?.[name] ?? {}, ACCESSORY_DATA_MOUNT, image);
  const done = new Map<string, string[]>();
  const result = await provisionHosts({
    targets: machineGroupSshTargets(group, paths),
    engine: env.engine,
    app,
    registry: registryFor(env.registry, secrets.registryPassword, image),
    image: source,
    bundle,
    slot: ACCESSORY_SLOT,
    mode: "apply",
    // The accessory's own check follows (its port, not the app's HTTP path).
    omitSteps: ["app.health"],
    onEvent: (e) => {
      if (e.type === "step-done" && e.status === "changed") done.set(e.host, [...(done.get(e.host) ?? []), e.stepId]);
      else if (e.type === "host-done") progress(`${e.host}: ${e.status} in ${(e.durationMs / 1000).toFixed(1)} s (changed: ${done.get(e.host)?.join(", ") || "nothing"})`);
      else if (e.type === "step-progress") progress(`${e.host}: ${e.stepId}: ${e.message}`);
    },
  });
  if (result.error) throw result.error;
  const imageId = "imageId" in source ? source.imageId : undefined;
  if (ctx.recordImage && imageId) await ctx.recordImage(image, imageId);
  writeRecord(paths, group, { name, image, provisionedAt: new Date().toISOString(), healthy: false });
}

/** Waits until the accessory is healthy, and records that it was. */
async function checkHealthy(ctx: AccessoryContext, name: string, group: string, target: SshTarget, progress: ProgressFn): Promise<string> {
  const id = await waitHealthy(ctx, name, ctx.env.accessories[name]!, target, progress);
  const record = readRecord(ctx.paths, group);
  if (record && !record.healthy) writeRecord(ctx.paths, group, { ...record, healthy: true });
  return id;
}

/**
 * Makes sure accessory `name` runs: a running machine that was provisioned is left exactly as it
 * is (its health is not even asked: rollouts never touch it); a stopped one is booted again (its
 * container comes back by its restart policy, its data by the bind); a missing one is created
 * and provisioned with `image` (default the file's `accessories.<name>.image`), then checked.
 */
async function ensureOne(ctx: AccessoryContext, engine: ReturnType<typeof engineOf>, name: string, progress: ProgressFn, image?: string): Promise<AccessoryHost> {
  const { env, paths } = ctx;
  const spec = env.accessories[name]!;
  const group = accessoryGroupName(env.name, name);
  const dataDir = accessoryDataDir(paths, env.name, name);
  const before = readMachineGroup(group, paths);
  const record = before ? readRecord(paths, group) : null;
  const running = before !== undefined && before.phase === "ready" && before.machines.length === 1 && machineStatuses(before).every((m) => m.state === "running");
  if (running && record !== null && record.healthy) {
    const m = before.machines[0]!;
    // Rules are in the kernel unless this computer restarted since; adding them again is a no-op otherwise.
    await addGroupRules(paths, group, accessoryFirewallRules(before.bridge, group, m.address));
    return { name, group, host: m.name, address: m.address, image: record.image, dataDir, action: "unchanged", containerId: "" };
  }
  const { hostImage } = await engine(progress);
  fs.mkdirSync(accessoriesDataRoot(paths, env.name), { recursive: true, mode: 0o700 });
  const existed = fs.existsSync(dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  progress(
    !before
      ? `accessory ${name}: creating machine ${group}, data in ${dataDir}${existed ? " (kept from before: its data is back)" : ""}`
      : !running
        ? `accessory ${name}: machine not running; booting ${group} again`
        : record === null
          ? `accessory ${name}: ${group} was never provisioned; provisioning it`
          : `accessory ${name}: its last health check did not pass; checking it again`,
  );
  const up = await upMachineGroup({
    env: group,
    machines: 1,
    paths,
    progress,
    recipe: templateRecipeFor(env.hosts.os),
    binds: [accessoryDataBind(paths, env.name, name)],
    ...(hostImage ? { hostImage: { id: hostImage.id, layer: hostImage.layer } } : {}),
  });
  const m = up.state.machines[0]!;
  await addGroupRules(paths, group, accessoryFirewallRules(up.state.bridge, group, m.address));
  const target = machineGroupSshTargets(group, paths)[0]!;
  const provision = record === null;
  const use = image ?? record?.image ?? spec.image;
  if (provision) await provisionAccessory(ctx, engine, name, use, progress);
  const containerId = await checkHealthy(ctx, name, group, target, progress);
  return { name, group, host: m.name, address: m.address, image: use, dataDir, action: provision ? "created" : "restarted", containerId };
}

/**
 * Makes sure every accessory of the environment runs ({@link ensureOne}), one after the other;
 * returns their hosts by name order.
 */
export async function ensureAccessories(ctx: AccessoryContext, progress: ProgressFn): Promise<AccessoryHost[]> {
  const engine = engineOf(ctx);
  const out: AccessoryHost[] = [];
  for (const name of Object.keys(ctx.env.accessories).sort()) out.push(await ensureOne(ctx, engine, name, progress));
  return out;
}

/**
 * The app's provisioner with the environment's accessories: before each slot is prepared they are
 * made sure to run (made when missing; a running one is not touched), and each new group's hosts
 * may reach each accessory's port (the rules go with the group). The provisioner itself passes
 * the accessories' addresses to the app's containers (group-provisioner.ts). Without accessories
 * it is `inner` itself.
 */
export function withAccessories(inner: GroupProvisioner, ctx: AccessoryContext): GroupProvisioner {
  if (Object.keys(ctx.env.accessories).length === 0) return inner;
  const engine = engineOf(ctx);
  return {
    ...inner,
    async prepare(image, progress) {
      await inner.prepare(image, progress);
      for (const name of Object.keys(ctx.env.accessories).sort()) await ensureOne(ctx, engine, name, progress);
    },
    async provision(group, hosts, image, slot, progress, lenders) {
      await allowAppHosts(ctx, group, hosts);
      await inner.provision(group, hosts, image, slot, progress, lenders);
    },
  };
}

/** Lets the hosts of an app group reach every accessory's port. */
async function allowAppHosts(ctx: AccessoryContext, group: string, hosts: readonly FleetHost[]): Promise<void> {
  const state = readMachineGroup(group, ctx.paths);
  if (!state) return;
  const accessories = Object.entries(ctx.env.accessories).flatMap(([name, spec]) => {
    const address = readMachineGroup(accessoryGroupName(ctx.env.name, name), ctx.paths)?.machines[0]?.address;
    return address === undefined ? [] : [{ address, port: spec.port }];
  });
  await addGroupRules(ctx.paths, group, appToAccessoryRules(state.bridge, group, hosts.map((h) => h.address), accessories));
}

/** What `accessory upgrade` did. */
export interface AccessoryUpgrade {
  accessory: string;
  host: string;
  address: string;
  /** The image it ran before (as last provisioned), or null when it had no machine. */
  fromImage: string | null;
  toImage: string;
  /** Its container before (null when there was none) and after. */
  fromContainer: string | null;
  toContainer: string;
  dataDir: string;
  durationMs: number;
}

/**
 * Replaces accessory `name`'s container with one from `image` (the file's current env, secrets,
 * volumes and command), leaving its data and machine: create-then-swap by the app's own run step
 * (a new container that does not start gives the old one back), then its health check. A missing
 * machine is created with `image`. Throws a HealthCheckError when the new container is not healthy
 * in time (it is left running, for a look; the previous image is named).
 */
export async function upgradeAccessory(ctx: AccessoryContext, name: string, image: string, progress: ProgressFn): Promise<AccessoryUpgrade> {
  const t0 = Date.now();
  const { env, paths } = ctx;
  const group = accessoryGroupName(env.name, name);
  const engine = engineOf(ctx);
  const had = readMachineGroup(group, paths);
  const before = had ? readRecord(paths, group) : null;
  const ensured = await ensureOne(ctx, engine, name, progress, image);
  const target = machineGroupSshTargets(group, paths)[0]!;
  const fromContainer = had ? parseAccessoryContainer((await onHost(ctx, target, accessoryContainerCommand(name))).stdout)?.id ?? null : null;
  if (ensured.action !== "created") {
    progress(`accessory ${name}: replacing its container with ${image} (data stays in ${ensured.dataDir})`);
    await provisionAccessory(ctx, engine, name, image, progress);
  }
  let toContainer: string;
  try {
    toContainer = ensured.action === "created" ? ensured.containerId : await checkHealthy(ctx, name, group, target, progress);
  } catch (e) {
    if (e instanceof HealthCheckError && before) {
      throw new HealthCheckError(`${e.message}\n(it ran ${before.image} before; the environment file still names that image)`, {
        context: e.context,
        suggestion: `\`longshore accessory upgrade ${name} ${before.image}\` puts the previous image back (the data directory is the same).`,
      });
    }
    throw e;
  }
  return {
    accessory: name,
    host: ensured.host,
    address: ensured.address,
    fromImage: before?.image ?? null,
    toImage: image,
    fromContainer,
    toContainer,
    dataDir: ensured.dataDir,
    durationMs: Date.now() - t0,
  };
}

/** One accessory as `accessory status` shows it. */
export interface AccessoryStatus {
  name: string;
  /** `accessories.<name>.image` in the file (null: the file no longer names it, its machine is left). */
  desiredImage: string | null;
  /** What its container was last provisioned with (null: never). */
  image: string | null;
  group: string;
  host: string | null;
  address: string | null;
  machine: "running" | "stopped" | "creating" | "missing";
  container: AccessoryContainer | null;
  /** The health check, one attempt: ok, or why not (null when the host could not be asked). */
  health: { ok: boolean; detail: string } | null;
  dataDir: string;
  /** Whether the data directory exists on this computer. */
  dataExists: boolean;
}

/** Each accessory of the file, and any machine of one the file no longer names, with what its host says (one SSH connection each). */
export async function accessoryStatuses(ctx: Pick<AccessoryContext, "env" | "paths" | "connect">): Promise<AccessoryStatus[]> {
  const { env, paths } = ctx;
  const names = [...new Set([...Object.keys(env.accessories), ...accessoryGroups(paths, env.name).map((g) => g.name)])].sort();
  return Promise.all(
    names.map(async (name): Promise<AccessoryStatus> => {
      const group = accessoryGroupName(env.name, name);
      const state = readMachineGroup(group, paths);
      const m = state?.machines[0];
      const machine = m ? machineStatuses(state!)[0]!.state : "missing";
      const spec = env.accessories[name];
      const dataDir = accessoryDataDir(paths, env.name, name);
      const status: AccessoryStatus = {
        name,
        desiredImage: spec?.image ?? null,
        image: state ? (readRecord(paths, group)?.image ?? null) : null,
        group,
        host: m?.name ?? null,
        address: m?.address ?? null,
        machine,
        container: null,
        health: null,
        dataDir,
        dataExists: fs.existsSync(dataDir),
      };
      if (machine !== "running") return status;
      try {
        const target = machineGroupSshTargets(group, paths)[0]!;
        status.container = parseAccessoryContainer((await onHost(ctx, target, accessoryContainerCommand(name))).stdout);
        if (spec) {
          const r = await onHost(ctx, target, accessoryHealthCommand(name, spec, 0));
          // Only the script's own first line: what follows it may hold a secret, and status reads none to redact it with.
          const detail = r.exitCode === 0 ? "healthy" : (r.stderr.trim().split("\n")[0] ?? "") || `exit ${r.exitCode ?? r.signal}`;
          status.health = { ok: r.exitCode === 0, detail };
        }
      } catch (e) {
        status.health = { ok: false, detail: `could not ask the host: ${(e as Error).message.split("\n")[0]}` };
      }
      return status;
    }),
  );
}

/** What {@link destroyAccessories} removed and kept. */
export interface AccessoriesRemoved {
  /** The accessory machine groups removed. */
  groups: string[];
  /** Data directories left on this computer (`--keep-data`). */
  keptData: string[];
  /** Data directories removed (`--delete-data`). */
  deletedData: string[];
}

/**
 * Removes every accessory machine of `env` (also of accessories the file no longer names); with
 * `data: "delete"`, their data directories too, else they stay for a later `up`.
 */
export async function destroyAccessories(env: string, paths: LocalPaths, data: "none" | "keep" | "delete", progress: ProgressFn): Promise<AccessoriesRemoved> {
  const groups = accessoryGroups(paths, env).map((g) => g.group);
  for (const g of groups) await downMachineGroup({ env: g, paths, progress });
  const dirs = accessoryDataDirs(paths, env);
  if (data === "delete") {
    for (const d of dirs) {
      fs.rmSync(d, { recursive: true, force: true });
      progress(`accessory data ${d}: removed`);
    }
    fs.rmSync(accessoriesDataRoot(paths, env), { recursive: true, force: true });
    return { groups, keptData: [], deletedData: dirs };
  }
  for (const d of dirs) progress(`accessory data ${d}: kept`);
  return { groups, keptData: dirs, deletedData: [] };
}
