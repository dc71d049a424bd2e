/**
 * The environment verbs: `up`, `rollout`, `rollback`, `status`, `destroy`. They load the
 * environment file (every problem reported before anything is touched), get a driver from the
 * injected factory, run the operation and print its report: phases with durations for humans,
 * one JSON document with `--json`.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { allInputs, ConfigError, PreconditionError, RolloutError } from "../core/errors";
import { defaultCacheDir } from "../core/cache-dir";
import { layeredImageSource } from "../provisioner/layers/layered-source";
import { acquireLock } from "../core/lock";
import { isBundleDirectory } from "../model/engine";
import { MAX_LOCAL_SLOT_SIZE, type Environment } from "../model/environment";
import { demoEnvironmentText, updateEnvironmentText, writeEnvironmentText, type LoadedEnvironment } from "../model/environment-file";
import { parseImageReference, resolveImageArgument } from "../model/image-reference";
import { imageFromFlag, imageFromText, type ImageFrom } from "../model/image-from";
import type { LoadedLock } from "../model/lock-file";
import type { ResolvedSecrets } from "../model/secret-resolve";
import type { VerifiedBundle } from "../provisioner/bundle/verify";
import { verifyBundleInput } from "../provisioner/provision-inputs";
import type { EngineState, EnvironmentStatus, HostKeyResult, ProbeResult, SlotDriver, SlotName } from "../rollout/driver";
import type { EngineDiskUsage } from "../model/engine-report";
import { environmentFiles, runRollback, runRollout, runUp, type OperationInput } from "../rollout/operations";
import type { RolloutEvent, RolloutReport } from "../rollout/rollout";
import { checkReport, checkText } from "./check";
import { quoteArg } from "../core/quote";
import { destroyDataDecision } from "../drivers/local/accessory-layout";
import type { DriverTarget, VerbDeps } from "./deps";
import { EXIT } from "./exit-codes";
import type { OutStream } from "./output";
import { operatorOf } from "./operator";
import { DEFAULT_ENV_FILE, displayName, environmentFilePath, openEnvironment, readLock, readSecrets } from "./open-environment";

export { DEFAULT_ENV_FILE };
/** The image `up` puts in a new demo environment. */
export const DEMO_IMAGE = "longshore-demo:v1";

interface EnvFlags {
  file?: string;
  json?: boolean;
}

function addEnvOptions(cmd: Command): Command {
  return cmd.option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`).option("--json", "print one JSON document (no progress output)");
}

/** A printer of phase progress on stderr (nothing with --json). */
function phaseProgress(stream: OutStream, json: boolean): { onEvent: (e: RolloutEvent) => void; line: (s: string) => void } {
  const line = (s: string) => {
    if (!json) stream.write(`${s}\n`);
  };
  return {
    line,
    onEvent: (e) => {
      if (e.type === "phase-start") line(`==> ${e.phase}`);
      else if (e.type === "phase-done") line(`<== ${e.phase} ${e.ok ? "done" : "failed"} in ${seconds(e.ms)}`);
      else line(`    ${e.message}`);
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeProbe(p: ProbeResult): string {
  return `${p.host}: ${p.status === null ? "no response" : `HTTP ${p.status}`}${p.ok ? "" : ` ${JSON.stringify(p.detail)}`}`;
}

/**
 * Prints a rollout report and sets the exit code it deserves. Where traffic is comes from the
 * driver after the operation (`now`), not from what the report expected: a first rollout that
 * failed its soak stays live, for one.
 */
function printReport(report: RolloutReport, now: EnvironmentStatus, json: boolean, deps: VerbDeps): void {
  const url = now.url;
  if (json) {
    deps.stdout.write(JSON.stringify({ ...report, url }, null, 2) + "\n");
  } else {
    const live = now.live;
    const where = live === null ? "nothing" : `${live}${now.slots[live].image ? ` (${now.slots[live].image})` : ""}`;
    const head =
      report.outcome === "succeeded"
        ? `${report.toImage} is live on ${report.toSlot}`
        : report.outcome === "rolled-back"
          ? `rolled back: traffic is on ${where} again`
          : `failed: traffic ${live === report.fromSlot ? "stays" : "is"} on ${where}`;
    deps.stdout.write(`${head}\n`);
    for (const p of report.phases) deps.stdout.write(`  ${p.name.padEnd(12)} ${seconds(p.ms)}\n`);
    if (report.hook) deps.stdout.write(`hook: ${describeHookRun(report.hook)}\n`);
    if (report.reason) deps.stdout.write(`reason: ${report.reason}\n`);
    for (const p of report.failedProbes ?? []) deps.stdout.write(`  ${describeProbe(p)}\n`);
    for (const w of report.warnings) deps.stdout.write(`warning: ${w}\n`);
    if (url && report.outcome === "succeeded") deps.stdout.write(`url: ${url}\n`);
  }
  if (report.outcome !== "succeeded") deps.setExitCode(EXIT.rolloutFailed);
}

/** One line on a hook that ran: `bin/migrate up on green-1: exit 0 after 2.1 s`. */
function describeHookRun(hook: NonNullable<RolloutReport["hook"]>): string {
  const how = hook.timedOut ? "stopped at its timeout" : hook.exitCode !== null ? `exit ${hook.exitCode}` : `signal ${hook.signal ?? "?"}`;
  return `${hook.command.map(quoteArg).join(" ")} on ${hook.host}: ${how} after ${seconds(hook.durationMs)}`;
}

/**
 * The bundle directory `engine.bundle` names, verified as the file's input (a ConfigError at
 * `<file>: engine.bundle`); null when the engine comes from a recipe or the distribution.
 */
function bundleInput(loaded: LoadedEnvironment, deps: VerbDeps): Promise<VerifiedBundle | null> {
  const { engine } = loaded.env;
  if (engine.channel !== "bundle" || !isBundleDirectory(engine.bundle)) return Promise.resolve(null);
  return verifyBundleInput(engine.bundle, displayName(loaded, deps.cwd));
}

/**
 * What `app.imageFrom` names, checked as the file's input: an archive is read into the blob cache
 * (whole, every layer against its diff_id, holding `app.image`), the engine is asked whether it has
 * `app.image`. A problem is a ConfigError at `app.imageFrom`; null for a registry (asked at rollout).
 */
async function imageInput(loaded: LoadedEnvironment, deps: VerbDeps): Promise<string | null> {
  const { app } = loaded.env;
  const name = displayName(loaded, deps.cwd);
  if (app.imageFrom === "registry") return null;
  const dockerHost = deps.env["DOCKER_HOST"];
  try {
    const source = await layeredImageSource(app.imageFrom, app.image, {
      cacheDir: defaultCacheDir(deps.env as NodeJS.ProcessEnv),
      ...(dockerHost !== undefined ? { dockerHost } : {}),
      namedBy: { source: name, key: "app.imageFrom" },
    });
    const layers = source.layers.layers.length;
    return `app.imageFrom: ${imageFromText(app.imageFrom)}: ${app.image} is ${source.imageId}, ${layers} layer${layers === 1 ? "" : "s"}, each checked against its diff_id`;
  } catch (e) {
    if (e instanceof PreconditionError) throw new ConfigError(name, [{ path: "app.imageFrom", message: e.message }], e.suggestion ? { suggestion: e.suggestion } : {});
    throw e;
  }
}

/**
 * Everything an operation needs once the file is loaded (every problem reported) and the verb's
 * arguments are checked against it, before anything is touched: when the operation may create
 * hosts, its secrets (every source read) and a bundle directory (verified), their problems
 * reported together; then the driver.
 */
async function operationInput(
  loaded: LoadedEnvironment,
  deps: VerbDeps,
  progress: ReturnType<typeof phaseProgress>,
  createsHosts: boolean,
  target: Pick<DriverTarget, "imageFromNamedBy"> = {},
) {
  const [secrets, bundle, lock]: [ResolvedSecrets | null, VerifiedBundle | null, LoadedLock | null] = createsHosts
    ? await allInputs([readSecrets(loaded, deps, { deferPulumi: loaded.env.driver === "aws" }), bundleInput(loaded, deps), readLock(loaded, deps.cwd)])
    : [null, null, null];
  const dockerHost = deps.env["DOCKER_HOST"];
  const driverTarget: DriverTarget = { env: loaded.env, file: loaded.file, baseDir: loaded.baseDir, secrets, bundle, lock, compose: loaded.compose, displayName: displayName(loaded, deps.cwd), ...(dockerHost !== undefined ? { dockerHost } : {}), ...target };
  const driver = await deps.environmentDriver(driverTarget, progress.line);
  const input: OperationInput = {
    env: loaded.env,
    envText: loaded.text,
    files: environmentFiles(loaded.file, deps.operationLockDir(loaded.env), loaded.env.name),
    driver,
    onEvent: progress.onEvent,
    actor: await operatorOf(deps, loaded.baseDir),
  };
  return { driver, input, target: driverTarget };
}

/**
 * The environment with `app.imageFrom` replaced by `--from`'s source (an archive read relative to
 * the working directory), refused where the driver cannot deliver it.
 */
export function withImageFrom(loaded: LoadedEnvironment, from: ImageFrom, cwd: string): LoadedEnvironment {
  const resolved: ImageFrom = typeof from === "string" ? from : { archive: path.resolve(cwd, from.archive) };
  if (loaded.env.driver === "aws" && resolved !== "registry") {
    throw new ConfigError("command line", [{ path: "--from", message: `${imageFromText(from)}: the aws driver's hosts pull from a registry; --from engine and FILE work on the local driver` }]);
  }
  return { ...loaded, env: { ...loaded.env, app: { ...loaded.env.app, imageFrom: resolved } } };
}

/** The image `rollout` deploys: the argument (`:TAG` is app.image's repository at TAG), else app.image. */
export function rolloutImage(arg: string | undefined, env: Environment): string {
  const image = arg === undefined ? env.app.image : resolveImageArgument(arg, env.app.image);
  const r = parseImageReference(image);
  if (!r.ok) throw new ConfigError("command line", [{ path: "IMAGE", message: `${JSON.stringify(arg)} ${r.message}` }]);
  return image;
}

/** Adds `check`, `up`, `rollout`, `rollback`, `status` and `destroy`. */
export function register(program: Command, deps: VerbDeps): void {
  addEnvOptions(program.command("check").description("validate the environment file and everything it names (files, secret sources); print it resolved, secrets redacted")).action(
    async (flags: EnvFlags) => {
      const loaded = await openEnvironment(flags.file, deps);
      const [secrets, bundle, , image] = await allInputs([
        readSecrets(loaded, deps, { deferPulumi: loaded.env.driver === "aws" }),
        bundleInput(loaded, deps),
        readLock(loaded, deps.cwd),
        imageInput(loaded, deps),
      ]);
      const report = checkReport(loaded, secrets, displayName(loaded, deps.cwd), bundle, image === null ? [] : [image]);
      deps.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : checkText(report));
    },
  );

  addEnvOptions(
    program
      .command("up")
      .description(`bring an environment to its desired state; with no ./${DEFAULT_ENV_FILE}, create the local demo environment`),
  ).action(async (flags: EnvFlags) => {
    const json = flags.json === true;
    const progress = phaseProgress(deps.stderr, json);
    const file = environmentFilePath(flags.file, deps.cwd);
    if (flags.file === undefined && !(await exists(deps, file))) {
      await writeEnvironmentText(file, demoEnvironmentText(DEMO_IMAGE));
      progress.line(`created ${file}: the local demo environment (${DEMO_IMAGE})`);
    }
    const { driver, input, target } = await operationInput(await openEnvironment(flags.file, deps), deps, progress, true);
    const { plan, report } = await runUp(input);
    // Accessories are made before a rollout's slot; with nothing to roll out, `up` still makes the missing ones.
    if (plan.action === "none" && deps.ensureAccessories && Object.keys(input.env.accessories).length > 0) {
      const held = await acquireLock(input.files.lockFile, { what: `environment ${input.env.name}`, operation: "up", removeOnRelease: true });
      try {
        await deps.ensureAccessories(target, progress.line);
      } finally {
        await held.release();
      }
    }
    const status = await driver.status();
    if (!report) {
      if (plan.action === "refuse") throw new RolloutError(plan.reason);
      if (json) deps.stdout.write(JSON.stringify({ plan, status }, null, 2) + "\n");
      else deps.stdout.write(`${plan.reason}\nurl: ${status.url ?? "(none)"}\n`);
      return;
    }
    printReport(report, status, json, deps);
  });

  addEnvOptions(
    program
      .command("rollout")
      .description("put IMAGE on fresh hosts in the idle slot, prove it healthy, run rollout.beforeSwitch (if set), move traffic, soak; or go back")
      .argument("[image]", "image reference, or :TAG for app.image's repository at TAG (default: app.image)"),
  )
    .option("--size <n>", "hosts in the new slot (default: the slot's size in the file)")
    .option("--from <source>", "where the hosts get the image: engine (your own engine), registry, or a docker save FILE (default: app.imageFrom)")
    .action(async (imageArg: string | undefined, flags: EnvFlags & { size?: string; from?: string }) => {
      const json = flags.json === true;
      const progress = phaseProgress(deps.stderr, json);
      const size = flags.size === undefined ? undefined : Number(flags.size);
      if (size !== undefined && (!Number.isInteger(size) || size < 1 || size > 100)) {
        throw new ConfigError("command line", [{ path: "--size", message: "must be a whole number from 1 to 100" }]);
      }
      const opened = await openEnvironment(flags.file, deps);
      // --from replaces app.imageFrom for this run only (the file keeps what it says).
      const loaded = flags.from === undefined ? opened : withImageFrom(opened, imageFromFlag(flags.from), deps.cwd);
      // The arguments are checked before any secret is read or driver made.
      const image = rolloutImage(imageArg, loaded.env);
      if (size !== undefined && loaded.env.driver === "local" && size > MAX_LOCAL_SLOT_SIZE) {
        throw new ConfigError("command line", [{ path: "--size", message: `must be at most ${MAX_LOCAL_SLOT_SIZE} on the local driver` }]);
      }
      const { driver, input } = await operationInput(loaded, deps, progress, true, flags.from === undefined ? {} : { imageFromNamedBy: { source: "command line", key: "--from" } });
      const report = await runRollout({ ...input, image, ...(size ? { size } : {}) });
      printReport(report, await driver.status(), json, deps);
    });

  addEnvOptions(program.command("rollback").description("send traffic back to the previous slot (instant when its hosts were kept)")).action(
    async (flags: EnvFlags) => {
      const json = flags.json === true;
      const progress = phaseProgress(deps.stderr, json);
      const { driver, input } = await operationInput(await openEnvironment(flags.file, deps), deps, progress, false);
      const report = await runRollback(input);
      printReport(report, await driver.status(), json, deps);
    },
  );

  addEnvOptions(program.command("status").description("slots, hosts, images, each host's health, SSH host key and container engine, and the live slot")).action(async (flags: EnvFlags) => {
    const json = flags.json === true;
    const loaded = await openEnvironment(flags.file, deps);
    const { driver } = await operationInput(loaded, deps, phaseProgress(deps.stderr, true), false);
    const env = loaded.env;
    const status = await driver.status();
    // HTTP answers say nothing about who answers: each host's SSH host key is checked against its pin too.
    const [blue, green, checks] = await Promise.all([driver.probe("blue"), driver.probe("green"), hostChecks(driver, status)]);
    const health: Record<SlotName, ProbeResult[]> = { blue, green };
    if (json) {
      deps.stdout.write(JSON.stringify({ environment: env.name, driver: env.driver, ...status, health, hostKeys: checks.hostKeys, engines: checks.engines }, null, 2) + "\n");
      return;
    }
    deps.stdout.write(statusText(env, status, health, checks.hostKeys, checks.inspected ? { states: checks.engines } : { unavailable: checks.unavailable }));
  });

  addEnvOptions(program.command("destroy").description("remove every host and the load balancer of an environment"))
    .option("--yes", "do not ask (required when stdin is not a terminal)")
    .option("--keep-data", "remove the accessories' machines but keep their data directories (a later up uses them again)")
    .option("--delete-data", "remove the accessories' data directories too")
    .action(async (flags: EnvFlags & { yes?: boolean; keepData?: boolean; deleteData?: boolean }) => {
      const json = flags.json === true;
      if (!flags.yes) {
        throw new ConfigError("command line", [{ path: "--yes", message: "destroy removes every host of the environment: confirm with --yes" }]);
      }
      const progress = phaseProgress(deps.stderr, json);
      const loaded: LoadedEnvironment = await openEnvironment(flags.file, deps);
      const env = loaded.env;
      const files = environmentFiles(loaded.file, deps.operationLockDir(env), env.name);
      const lock = await acquireLock(files.lockFile, { what: `environment ${env.name}`, operation: "destroy", removeOnRelease: true });
      try {
        // Asked under the lock, so no accessory's data appears between the question and the removal.
        const dataDirs = deps.accessoryData?.(env) ?? [];
        const decision = destroyDataDecision(dataDirs, flags);
        if (!decision.ok) throw new ConfigError("command line", decision.issues);
        const removed = await deps.destroyEnvironment(env, progress.line, { data: decision.data });
        const data = dataDirs.length === 0 ? {} : { data: decision.data === "delete" ? { kept: [], deleted: dataDirs } : { kept: dataDirs, deleted: [] } };
        // Like every operation, the file follows what is now true: nothing is live and no slot has hosts.
        const current = await deps.readFile(loaded.file).catch(() => loaded.text);
        await writeEnvironmentText(loaded.file, updateEnvironmentText(current, { live: null, images: { blue: null, green: null } }));
        if (json) deps.stdout.write(JSON.stringify({ environment: env.name, removed, ...data }, null, 2) + "\n");
        else {
          deps.stdout.write(`environment ${env.name}: removed (${removed.length ? removed.join(", ") : "no hosts"})\n`);
          if (data.data) deps.stdout.write(`accessory data ${data.data.kept.length ? `kept: ${data.data.kept.join(", ")}` : `removed: ${data.data.deleted.join(", ")}`}\n`);
        }
      } finally {
        await lock.release();
      }
    });
}

/**
 * Each slot's host keys and engines. A driver that reads engines does both over one connection per
 * host; another one only checks the keys, and each host's engine entry says why it was not read.
 */
async function hostChecks(
  driver: SlotDriver,
  status: EnvironmentStatus,
): Promise<{ hostKeys: Record<SlotName, HostKeyResult[]>; engines: Record<SlotName, EngineState[]>; inspected: boolean; unavailable: string }> {
  const unavailable = `${driver.name ?? "this driver"} does not read its hosts' engines`;
  if (driver.engineStates) {
    const [blue, green] = await Promise.all([driver.engineStates("blue"), driver.engineStates("green")]);
    const keys = (states: EngineState[]) => states.map((e): HostKeyResult => ({ host: e.host, ...e.hostKey }));
    return { hostKeys: { blue: keys(blue), green: keys(green) }, engines: { blue, green }, inspected: true, unavailable };
  }
  const [blueKeys, greenKeys] = await Promise.all([driver.checkHostKeys("blue"), driver.checkHostKeys("green")]);
  const hostKeys: Record<SlotName, HostKeyResult[]> = { blue: blueKeys, green: greenKeys };
  const engines = (slot: SlotName): EngineState[] =>
    status.slots[slot].hosts.map((h): EngineState => {
      const k = hostKeys[slot].find((x) => x.host === h.name);
      return { host: h.name, hostKey: k ? { state: k.state, detail: k.detail } : { state: "unknown", detail: "not checked" }, ...(h.hostImage ? { hostImage: h.hostImage } : {}), reason: `not read: ${unavailable}` };
    });
  return { hostKeys, engines: { blue: engines("blue"), green: engines("green") }, inspected: false, unavailable };
}

/** One line on a host's engine for `status`: version, drivers, containers, images; or why it was not read. */
function describeEngine(e: EngineState | undefined): string {
  if (!e) return "engine not read";
  if (!e.engine) return `engine not read: ${e.reason ?? "no answer"}`;
  const g = e.engine;
  const images = `${g.images} image${g.images === 1 ? "" : "s"}`;
  return `engine ${g.serverVersion} (${g.storageDriver}, cgroup driver ${g.cgroupDriver}): ${g.containersRunning} of ${g.containers} container${g.containers === 1 ? "" : "s"} running, ${images}${e.reason ? `; ${e.reason}` : ""}`;
}

/** One line on a host's disk use as `docker system df` reports it (`images 1.984MB (1.984MB, 99% reclaimable), containers 0B, ...`). */
function describeDisk(rows: readonly EngineDiskUsage[]): string {
  return `disk: ${rows.map((r) => `${r.type.toLowerCase()} ${r.size}${r.sizeBytes > 0 ? ` (${r.reclaimable.replace(/\s*\(/, ", ").replace(/\)$/, "")} reclaimable)` : ""}`).join(", ")}`;
}

/** How `status` shows a host's key state. */
function describeHostKey(k: HostKeyResult | undefined): string {
  if (!k || k.state === "unknown") return "host key unknown";
  if (k.state === "match") return "host key ok";
  if (k.state === "mismatch") return "HOST KEY MISMATCH";
  return "host key not checked (unreachable)";
}

/**
 * The human view of `status`: per host its HTTP health, its SSH host key against the pin and, when
 * `engines` gives their states, its container engine and disk use (when it says they are
 * unavailable, one line says why). Pure.
 */
export function statusText(
  env: Environment,
  status: EnvironmentStatus,
  health: Record<SlotName, ProbeResult[]>,
  hostKeys: Record<SlotName, HostKeyResult[]>,
  engines?: { states: Record<SlotName, EngineState[]> } | { unavailable: string },
): string {
  const lines = [`environment ${env.name} (${env.driver})  live: ${status.live ?? "none"}  url: ${status.url ?? "(none)"}`];
  const warnings: string[] = [];
  for (const slot of ["blue", "green"] as const) {
    const s = status.slots[slot];
    lines.push(`${slot}${status.live === slot ? " (live)" : ""}: ${s.image ?? "no image"}, ${s.hosts.length} host${s.hosts.length === 1 ? "" : "s"}`);
    for (const h of s.hosts) {
      const p = health[slot].find((x) => x.host === h.name);
      const k = hostKeys[slot].find((x) => x.host === h.name);
      const http = p ? (p.ok ? "healthy" : `unhealthy (${p.status ?? "no response"})`) : "unknown";
      lines.push(`  ${h.name.padEnd(24)} ${h.address.padEnd(15)} ${http.padEnd(23)} ${describeHostKey(k)}${h.hostImage ? `  host image ${h.hostImage}` : ""}`);
      if (engines && "states" in engines) {
        const e = engines.states[slot].find((x) => x.host === h.name);
        lines.push(`      ${describeEngine(e)}`);
        if (e?.disk) lines.push(`      ${describeDisk(e.disk)}`);
      }
      if (k?.state === "mismatch") {
        warnings.push(`warning: ${h.name}'s SSH host key does not match its pin (${k.detail}): longshore will not connect to it; unless the host was rebuilt, treat this as an attack`);
      }
    }
  }
  const anyHost = status.slots.blue.hosts.length + status.slots.green.hosts.length > 0;
  if (engines && "unavailable" in engines && anyHost) lines.push(`engines: not read (${engines.unavailable})`);
  return [...lines, ...warnings].join("\n") + "\n";
}

async function exists(deps: VerbDeps, file: string): Promise<boolean> {
  try {
    await deps.readFile(file);
    return true;
  } catch {
    return false;
  }
}

/** Re-exported for main.ts's real dependencies. */
export type { SlotDriver };
