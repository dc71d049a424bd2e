/**
 * `longshore accessory upgrade NAME IMAGE` and `longshore accessory status`: the environment's
 * accessories (stateful services rollouts never replace, docs/environment.md). `upgrade` is the
 * one way an accessory's container changes: explicitly, under the environment's lock, then its
 * health check, then `accessories.NAME.image` in the file. The local driver's real parts are wired
 * in here directly (drivers/local/accessories.ts), as `longshore local` does.
 */
import type { Command } from "commander";
import { acquireLock } from "../core/lock";
import { allInputs, ConfigError } from "../core/errors";
import { accessoryStatuses, upgradeAccessory, type AccessoryStatus } from "../drivers/local/accessories";
import { defaultPaths } from "../drivers/local/paths";
import { isBundleDirectory } from "../model/engine";
import type { Environment } from "../model/environment";
import { updateEnvironmentText, writeEnvironmentText } from "../model/environment-file";
import { parseImageReference, resolveImageArgument } from "../model/image-reference";
import { verifyBundleInput } from "../provisioner/provision-inputs";
import { environmentFiles } from "../rollout/operations";
import type { VerbDeps } from "./deps";
import { accessoryContextOf } from "./environment-deps";
import { DEFAULT_ENV_FILE, displayName, openEnvironment, readLock, readSecrets } from "./open-environment";

interface Flags {
  file?: string;
  json?: boolean;
}

function withEnvOptions(cmd: Command): Command {
  return cmd.option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`).option("--json", "print one JSON document (no progress output)");
}

/** The accessory `name` of the file, or a ConfigError naming the ones it has. */
function accessoryOf(env: Environment, name: string, file: string) {
  const spec = env.accessories[name];
  if (spec !== undefined) return spec;
  const names = Object.keys(env.accessories);
  throw new ConfigError("command line", [
    { path: "NAME", message: `${JSON.stringify(name)} is not an accessory of ${file} (${names.length ? `it has ${names.join(", ")}` : "it has none"})` },
  ]);
}

/** The human view of `accessory status`. Pure. */
export function accessoryStatusText(env: string, statuses: readonly AccessoryStatus[]): string {
  if (statuses.length === 0) return `environment ${env}: no accessories\n`;
  const lines = statuses.flatMap((s) => {
    const image = s.image ?? "never provisioned";
    const head = `${s.name}: ${image}${s.desiredImage !== null && s.desiredImage !== s.image ? ` (the file says ${s.desiredImage})` : ""}${s.desiredImage === null ? " (not in the file any more)" : ""}`;
    const host = s.host === null ? "  machine missing" : `  ${s.host} ${s.address}: machine ${s.machine}`;
    const container = s.container ? `, container ${s.container.id.slice(0, 12)} ${s.container.status}${s.container.restartCount ? ` (${s.container.restartCount} restarts)` : ""}` : s.machine === "running" ? ", no container" : "";
    const health = s.health ? `, ${s.health.ok ? "healthy" : `unhealthy: ${s.health.detail}`}` : "";
    return [head, `${host}${container}${health}`, `  data ${s.dataDir}${s.dataExists ? "" : " (not there)"}`];
  });
  return `${lines.join("\n")}\n`;
}

/** Adds `accessory upgrade` and `accessory status`. */
export function register(program: Command, deps: VerbDeps): void {
  const accessory = program.command("accessory").description("the environment's accessories: stateful services (a database, a cache) that rollouts never replace");

  withEnvOptions(
    accessory
      .command("upgrade")
      .description("replace accessory NAME's container (not its data) with IMAGE, check its health, and record IMAGE in the file")
      .argument("<name>", "the accessory (a key of accessories:)")
      .argument("<image>", "image reference, or :TAG for the accessory's repository at TAG"),
  ).action(async (name: string, imageArg: string, flags: Flags) => {
    const json = flags.json === true;
    const line = (s: string) => void (json ? undefined : deps.stderr.write(`    ${s}\n`));
    const loaded = await openEnvironment(flags.file, deps);
    const env = loaded.env;
    const shown = displayName(loaded, deps.cwd);
    const spec = accessoryOf(env, name, shown);
    const image = resolveImageArgument(imageArg, spec.image);
    const ref = parseImageReference(image);
    if (!ref.ok) throw new ConfigError("command line", [{ path: "IMAGE", message: `${JSON.stringify(imageArg)} ${ref.message}` }]);
    // Every input before anything is touched, its problems together (like rollout).
    const [secrets, lock, bundle] = await allInputs([
      readSecrets(loaded, deps),
      readLock(loaded, deps.cwd),
      env.engine.channel === "bundle" && isBundleDirectory(env.engine.bundle) ? verifyBundleInput(env.engine.bundle, shown) : Promise.resolve(null),
    ]);
    const files = environmentFiles(loaded.file, deps.operationLockDir(env), env.name);
    const held = await acquireLock(files.lockFile, { what: `environment ${env.name}`, operation: "accessory upgrade", removeOnRelease: true });
    try {
      const dockerHost = deps.env["DOCKER_HOST"];
      const ctx = accessoryContextOf(
        { env, file: loaded.file, baseDir: loaded.baseDir, secrets, bundle, lock, displayName: shown, ...(dockerHost !== undefined ? { dockerHost } : {}) },
        secrets,
        defaultPaths(deps.env as NodeJS.ProcessEnv),
      );
      const r = await upgradeAccessory(ctx, name, image, line);
      // The file follows what now runs, as after a rollout.
      const current = await deps.readFile(loaded.file).catch(() => loaded.text);
      await writeEnvironmentText(loaded.file, updateEnvironmentText(current, { accessoryImages: { [name]: image } }));
      if (json) deps.stdout.write(JSON.stringify({ environment: env.name, ...r }, null, 2) + "\n");
      else {
        deps.stdout.write(`accessory ${name}: ${r.fromImage ?? "(new)"} -> ${image} on ${r.host} (${r.address}), healthy in ${(r.durationMs / 1000).toFixed(1)} s\n`);
        deps.stdout.write(`  container ${r.fromContainer?.slice(0, 12) ?? "(none)"} -> ${r.toContainer.slice(0, 12)}; data ${r.dataDir}\n`);
      }
    } finally {
      await held.release();
    }
  });

  withEnvOptions(accessory.command("status").description("each accessory: its image, machine, container and health (its port on its host), and its data directory")).action(
    async (flags: Flags) => {
      const loaded = await openEnvironment(flags.file, deps);
      const env = loaded.env;
      const statuses = env.driver === "local" ? await accessoryStatuses({ env, paths: defaultPaths(deps.env as NodeJS.ProcessEnv) }) : [];
      if (flags.json === true) deps.stdout.write(JSON.stringify({ environment: env.name, accessories: statuses }, null, 2) + "\n");
      else deps.stdout.write(accessoryStatusText(env.name, statuses));
    },
  );
}
