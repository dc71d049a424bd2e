/**
 * What `longshore provision` and `longshore plan` share: their flags, reading the provisioning
 * file and the hosts (inventory or local environment), resolving the bundle and the image on this
 * computer, progress lines, and the JSON document. Everything is validated before any host is
 * touched. Actions throw longshore errors; the program's main prints them and picks the exit code.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { loadInventory } from "../config/inventory";
import { loadProvisionConfig, type ProvisionConfig } from "../config/provision";
import { parseWith } from "../config/zod-issues";
import { environmentSshTargets } from "../local/environment";
import { defaultPaths } from "../local/paths";
import type { BuildBundleOptions, BuildBundleResult } from "../provisioner/bundle/build";
import type { VerifiedBundle } from "../provisioner/bundle/verify";
import { provisionHosts, type ProvisionEvent, type ProvisionHostsInput, type ProvisionResult } from "../provisioner/apply-host";
import { resolveBundle, resolveImageSource, withArchiveTag } from "../provisioner/provision-inputs";
import type { BundleRef, ImageSource } from "../provisioner/steps/engine-context";
import type { SshTarget } from "../provisioner/transport/ssh-target";
import { defaultCacheDir } from "./engine";
import type { CliDeps } from "./deps";


/**
 * What the two verbs need from the outside world: the program-wide dependencies they use, plus
 * optional overrides for tests.
 */
export type ProvisionCliDeps = Pick<CliDeps, "stdout" | "stderr" | "env" | "cwd" | "homeDir" | "readFile" | "connect" | "signal"> & ProvisionOverrides;

/** Optional overrides of the provisioning verbs' defaults (tests inject these). */
export interface ProvisionOverrides {
  /** The SSH targets of a local environment; default: the local driver's state. */
  localTargets?(env: string): SshTarget[];
  /** longshore's cache (bundles built from a recipe name); default $LONGSHORE_CACHE_DIR etc. */
  cacheDir?: string;
  /** Written into bundles built from a recipe name. */
  createdBy?: string;
  buildBundle?(options: BuildBundleOptions): Promise<BuildBundleResult>;
  verifyBundle?(dir: string): Promise<VerifiedBundle>;
  /** The provisioning entry point; default provisioner/apply-host.ts. */
  provision?(input: ProvisionHostsInput): Promise<ProvisionResult>;
}

/** The flags both verbs take. */
export interface ProvisionFlags {
  file?: string;
  inventory?: string;
  localEnv?: string;
  json?: boolean;
  concurrency?: string;
}

const flagsSchema = z.strictObject({
  file: z.string({ error: "is required: the provisioning file (provision.yaml)" }).min(1),
  inventory: z.string().min(1).optional(),
  localEnv: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, "must be a local environment name").optional(),
  json: z.boolean().optional(),
  concurrency: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/, "must be a whole number from 1 to 1000")
    .refine((v) => Number(v) <= 1000, "must be a whole number from 1 to 1000")
    .optional(),
});

/** Which hosts: exactly one of the two flags. Checked apart from the schema so both kinds of problem show at once. */
function hostFlagIssues(f: ProvisionFlags): Array<{ path: string; message: string }> {
  if (f.inventory === undefined && f.localEnv === undefined) return [{ path: "--inventory", message: "name the hosts: --inventory FILE or --local-env NAME" }];
  if (f.inventory !== undefined && f.localEnv !== undefined) return [{ path: "--local-env", message: "use --inventory or --local-env, not both" }];
  return [];
}

/** Adds the shared flags to a verb. */
export function addProvisionOptions(cmd: Command): Command {
  return cmd
    .option("-f, --file <file>", "the provisioning file: engine, app, image, bundle, slot (see docs/engine.md)")
    .option("--inventory <file>", "the hosts: an inventory file (docs/inventory.md)")
    .option("--local-env <name>", "the hosts: the machines of a local environment (longshore local up)")
    .option("--json", "print one JSON document on stdout (no progress lines)")
    .option("--concurrency <n>", "hosts at once (default 16)");
}

/** Everything a run needs, resolved on this computer. */
export interface PreparedRun {
  config: ProvisionConfig;
  targets: SshTarget[];
  bundle: BundleRef | null;
  image: ImageSource;
  input: ProvisionHostsInput;
}

/** Flag names as the user typed them, for issue paths. */
const FLAG_NAMES: Record<string, string> = { file: "--file", inventory: "--inventory", localEnv: "--local-env", json: "--json", concurrency: "--concurrency" };

/**
 * Validates flags, reads the provisioning file and the hosts (every problem reported before
 * anything else happens), then verifies or builds the bundle and reads the image's ID.
 */
export async function prepareRun(raw: ProvisionFlags, deps: ProvisionCliDeps, mode: "apply" | "check", log: (line: string) => void): Promise<PreparedRun> {
  const parsed = parseWith(flagsSchema, stripUndefined(raw));
  const issues = [...(parsed.ok ? [] : parsed.issues.map((i) => ({ ...i, path: FLAG_NAMES[i.path] ?? i.path }))), ...hostFlagIssues(raw)];
  if (!parsed.ok || issues.length) throw new ConfigError("command line", issues);
  const flags = parsed.value;
  const file = path.resolve(deps.cwd, flags.file);
  const config = await loadProvisionConfig(file, deps.readFile);
  const targets = flags.inventory !== undefined ? await inventoryTargets(path.resolve(deps.cwd, flags.inventory), deps) : localTargets(flags.localEnv!, deps);

  const bundle = config.bundle
    ? await resolveBundle(config.bundle, {
        cacheDir: deps.cacheDir ?? defaultCacheDir(deps.env as NodeJS.ProcessEnv),
        createdBy: deps.createdBy ?? "longshore",
        log,
        readFile: deps.readFile,
        ...(deps.buildBundle ? { build: deps.buildBundle } : {}),
        ...(deps.verifyBundle ? { verify: deps.verifyBundle } : {}),
      })
    : null;
  if (bundle) log(`bundle   ${bundle.manifest.name} ${bundle.manifest.version} (${bundle.manifest.packages.length} packages, verified)`);
  const resolved = await resolveImageSource(config.image);
  const app = withArchiveTag(config.app, resolved.repoTags);
  log(
    resolved.image.source === "archive"
      ? `image    ${app.image} ${resolved.image.imageId.slice(0, 19)} (archive, streamed over SSH)`
      : `image    ${resolved.image.ref} (pulled by each host)`,
  );
  const input: ProvisionHostsInput = {
    targets,
    engine: config.engine,
    app,
    image: resolved.image,
    bundle,
    slot: config.slot,
    mode,
    connect: deps.connect,
    ...(flags.concurrency ? { concurrency: Number(flags.concurrency) } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  return { config, targets, bundle, image: resolved.image, input };
}

async function inventoryTargets(file: string, deps: ProvisionCliDeps): Promise<SshTarget[]> {
  return loadInventory(file, {
    homeDir: deps.homeDir,
    readFile: deps.readFile,
    ...(deps.env["SSH_AUTH_SOCK"] ? { sshAuthSock: deps.env["SSH_AUTH_SOCK"] } : {}),
  });
}

function localTargets(env: string, deps: ProvisionCliDeps): SshTarget[] {
  const targets = deps.localTargets ? deps.localTargets(env) : environmentSshTargets(env, defaultPaths(deps.env as NodeJS.ProcessEnv));
  if (targets.length === 0) {
    throw new ConfigError("command line", [{ path: "--local-env", message: `no local environment named ${env} with machines (create it with: longshore local up --env ${env})` }]);
  }
  return targets;
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Runs the provisioning entry point (injected or the real one). */
export function runProvision(deps: ProvisionCliDeps, input: ProvisionHostsInput): Promise<ProvisionResult> {
  return (deps.provision ?? provisionHosts)(input);
}

/** Seconds with one decimal: `4.1 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * One progress line per event worth a line: facts, each finished step (status and duration),
 * retries, each finished host. Host names are padded to `width` so columns line up.
 */
export function progressLine(e: ProvisionEvent, width: number): string | null {
  const h = e.host.padEnd(width);
  switch (e.type) {
    case "host-facts": {
      const f = e.facts;
      const engine = f.engineVersion ? `engine ${f.engineVersion}` : "no engine";
      return `${h}  facts             ${f.osId} ${f.osVersionId} (${f.osCodename || "?"}) ${f.arch}, cgroup v${f.cgroupVersion}, ${engine}  ${seconds(e.durationMs)}`;
    }
    case "step-done":
      return `${h}  ${e.stepId.padEnd(16)}  ${e.status.padEnd(12)}  ${seconds(e.durationMs)}`;
    case "step-retry":
      return `${h}  ${e.stepId.padEnd(16)}  retry ${e.attempt} in ${seconds(e.delayMs)}: ${firstLine(e.error)}`;
    case "host-done":
      return `${h}  ${e.status === "ok" ? "done" : "FAILED"}  ${seconds(e.durationMs)}`;
    default:
      return null;
  }
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}


/** The `--json` document: the run report with each host's facts, plan hash and (plan) file diffs. */
export function resultJson(result: ProvisionResult): Record<string, unknown> {
  return {
    mode: result.report.mode,
    ok: result.report.ok,
    durationMs: result.report.durationMs,
    counts: result.report.counts,
    hosts: result.report.hosts.map((h, i) => {
      const o = result.hosts[i]!;
      return {
        ...h,
        facts: o.facts,
        planHash: o.planHash,
        ...(result.report.mode === "check" ? { files: o.files } : {}),
      };
    }),
  };
}
