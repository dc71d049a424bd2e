/**
 * `longshore prune`: on every host of an environment (both slots' and the accessories'), removes
 * the stopped containers and images no slot uses (keeping the app's `--keep` newest versions, and
 * always the live and rollback slots' images and every image a running container uses), the
 * engine bundles that are not the installed one, and the blobs of the host's store that no image
 * left uses; then reports per host what went and the space freed. `--dry-run` removes nothing.
 * The decision is provisioner/prune.ts's, per host; this verb finds the hosts (through the
 * driver), holds the environment's lock, and prints.
 *
 * Not pruned: AMIs and other images of the aws driver (its hosts are not reached over SSH).
 */
import type { Command } from "commander";
import { ConfigError, HostKeyError, TransportError, type ConfigIssue } from "../core/errors";
import { acquireLock } from "../core/lock";
import type { Environment } from "../model/environment";
import { releaseLabel } from "../model/image-reference";
import { SLOTS, type SlotName } from "../model/names";
import { mapWithConcurrency } from "../provisioner/concurrency";
import { DEFAULT_KEEP_VERSIONS, imageName, type EnvironmentUses } from "../provisioner/prune";
import { pruneHost, type HostPruneResult } from "../provisioner/prune-host";
import type { EnvironmentHost, EnvironmentStatus } from "../rollout/driver";
import { environmentFiles } from "../rollout/operations";
import type { VerbDeps } from "./deps";
import { EXIT } from "./exit-codes";
import { DEFAULT_ENV_FILE, displayName, openEnvironment } from "./open-environment";
import { formatBytes } from "./output";

/** Hosts pruned at once. */
export const PRUNE_CONCURRENCY = 4;

/** The flags of `prune` as commander gives them (each absent when not given; {@link pruneOptions} checks them). */
export interface PruneFlags {
  /** `-f`: the environment file. @default ./longshore.yaml */
  file?: string;
  /** @default false */
  json?: boolean;
  /** @default {@link DEFAULT_KEEP_VERSIONS} */
  keep?: string;
  /** @default false */
  dryRun?: boolean;
  /** @default both slots and the accessories */
  slot?: string;
  /** Repeatable. @default every host */
  host?: string[];
}

/** The flags of `prune`, checked. */
export interface PruneOptions {
  keep: number;
  dryRun: boolean;
  slot: SlotName | null;
  hosts: string[];
}

/** Checks the flags, every problem at once, each at its flag. Pure. */
export function pruneOptions(flags: PruneFlags): PruneOptions {
  const issues: ConfigIssue[] = [];
  let keep = DEFAULT_KEEP_VERSIONS;
  if (flags.keep !== undefined) {
    if (/^\d{1,3}$/.test(flags.keep)) keep = Number(flags.keep);
    else issues.push({ path: "--keep", message: `must be a whole number of versions (0 or more); got ${JSON.stringify(flags.keep)}` });
  }
  if (flags.slot !== undefined && !(SLOTS as readonly string[]).includes(flags.slot)) issues.push({ path: "--slot", message: `must be blue or green; got ${JSON.stringify(flags.slot)}` });
  if (issues.length) throw new ConfigError("command line", issues);
  return { keep, dryRun: flags.dryRun === true, slot: (flags.slot as SlotName | undefined) ?? null, hosts: flags.host ?? [] };
}

/**
 * What the environment uses, from its file and its driver's status: the slots' images (the live
 * one and the rollback one), the accessories' images, the app's repositories and its releases. Pure.
 */
export function environmentUses(env: Environment, status: EnvironmentStatus): EnvironmentUses {
  const images: Array<{ ref: string; why: string }> = [];
  const repos = new Set<string>();
  const releases = new Set<string>();
  const app = imageName(env.app.image);
  if (app) repos.add(app);
  for (const slot of SLOTS) {
    const image = status.slots[slot].image;
    if (image === null) continue;
    images.push({ ref: image, why: status.live === slot ? `live (${slot})` : status.live === null ? `the ${slot} slot's` : `rollback (${slot})` });
    const name = imageName(image);
    if (name) repos.add(name);
    releases.add(releaseLabel(image));
  }
  for (const [name, acc] of Object.entries(env.accessories)) images.push({ ref: acc.image, why: `accessory ${name}` });
  return { images, appRepositories: [...repos], releases: [...releases] };
}

/** The hosts the flags pick, in the driver's order; a `--host` the environment lacks is a problem naming those it has. Pure. */
export function pickPruneHosts(all: readonly EnvironmentHost[], options: Pick<PruneOptions, "slot" | "hosts">): EnvironmentHost[] {
  const inSlot = options.slot === null ? all : all.filter((h) => h.role === options.slot);
  if (options.hosts.length === 0) return [...inSlot];
  const known = new Set(inSlot.map((h) => h.name));
  const unknown = options.hosts.filter((n) => !known.has(n));
  if (unknown.length) {
    const where = options.slot === null ? "the environment" : `the ${options.slot} slot`;
    throw new ConfigError("command line", unknown.map((n) => ({ path: "--host", message: `${JSON.stringify(n)} is not a host of ${where} (it has ${[...known].join(", ") || "none"})` })));
  }
  return inSlot.filter((h) => options.hosts.includes(h.name));
}

/** One host's outcome, as `--json` prints it. */
export interface HostPruneReport {
  host: string;
  role: EnvironmentHost["role"];
  /** A slot's prepared host (a rollout that did not finish). @default false */
  prepared?: boolean;
  /** What went (a real run: only what the host confirmed) or would go (a dry run). */
  removed: Pick<HostPruneResult["plan"], "containers" | "images" | "bundles" | "blobs">;
  kept: HostPruneResult["plan"]["kept"];
  /** Removals the host refused, with its message. */
  failed: Array<{ kind: "container" | "image" | "bundle" | "blob"; id: string; message: string }>;
  disk: HostPruneResult["disk"];
  /** Bytes freed, measured: the engine's `docker system df` and `du` of longshore's directories, before and after. A real run only. @default none */
  freedBytes?: number;
  /** Why the host was not pruned (unreachable, a host key that does not match its pin, a listing that failed). @default none */
  error?: string;
  /** The error's kind, for the exit code. @default none */
  errorKind?: "unreachable" | "failed";
}

const KIND = { c: "container", i: "image", b: "bundle", f: "blob" } as const;

/** The report of one pruned host (what the host confirmed it removed, on a real run). Pure. */
export function hostReport(h: EnvironmentHost, r: HostPruneResult, dryRun: boolean): HostPruneReport {
  const gone = new Set((r.removal?.removed ?? []).map((x) => `${x.kind}:${x.id}`));
  const keepIf = <T>(items: T[], kind: string, id: (t: T) => string) => (dryRun ? items : items.filter((t) => gone.has(`${kind}:${id(t)}`)));
  return {
    host: h.name,
    role: h.role,
    ...(h.prepared ? { prepared: true } : {}),
    removed: {
      containers: keepIf(r.plan.containers, "c", (c) => c.id),
      images: keepIf(r.plan.images, "i", (i) => i.id),
      bundles: keepIf(r.plan.bundles, "b", (b) => b.id),
      blobs: keepIf(r.plan.blobs, "f", (b) => b.hex),
    },
    kept: r.plan.kept,
    failed: (r.removal?.failed ?? []).map((f) => ({ kind: KIND[f.kind], id: f.id, message: f.message })),
    disk: r.disk,
    ...(r.freedBytes !== undefined ? { freedBytes: r.freedBytes } : {}),
  };
}

function errorReport(h: EnvironmentHost, e: unknown): HostPruneReport {
  const unreachable = e instanceof TransportError || e instanceof HostKeyError;
  const message = e instanceof HostKeyError ? `its SSH host key does not match its pin (presented ${e.presented}): not connected` : (e as Error).message;
  return {
    host: h.name,
    role: h.role,
    ...(h.prepared ? { prepared: true } : {}),
    removed: { containers: [], images: [], bundles: [], blobs: [] },
    kept: { containers: [], images: [], bundles: [], blobs: 0 },
    failed: [],
    disk: { before: { engine: [], engineBytes: 0, filesBytes: 0 } },
    error: message,
    errorKind: unreachable ? "unreachable" : "failed",
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** The human view of `prune`. Pure. */
export function pruneText(env: string, options: Pick<PruneOptions, "keep" | "dryRun">, reports: readonly HostPruneReport[]): string {
  const verb = options.dryRun ? "would remove" : "removed";
  const lines = [`environment ${env}: ${options.dryRun ? "dry run, nothing removed" : "pruned"} (keeping the ${options.keep} newest version${options.keep === 1 ? "" : "s"} of the app, and every image in use)`];
  if (reports.length === 0) lines.push("no hosts");
  for (const r of reports) {
    const who = `${r.host} (${r.role}${r.prepared ? ", prepared" : ""})`;
    if (r.error !== undefined) {
      lines.push(`${who}: not pruned: ${r.error.split("\n")[0]}`);
      continue;
    }
    const x = r.removed;
    const count = x.containers.length + x.images.length + x.bundles.length + x.blobs.length;
    const what = [plural(x.containers.length, "container"), plural(x.images.length, "image"), plural(x.bundles.length, "bundle"), plural(x.blobs.length, "blob")].join(", ");
    const freed = r.freedBytes !== undefined ? `; freed ${formatBytes(r.freedBytes)}` : "";
    lines.push(`${who}: ${count === 0 ? `nothing ${options.dryRun ? "to remove" : "removed"}` : `${verb} ${what}`}${freed}`);
    for (const c of x.containers) lines.push(`  container ${shortId(c.id)} ${c.name}: ${c.why}`);
    for (const i of x.images) lines.push(`  image ${shortId(i.id)} ${i.tags.length ? i.tags.join(", ") : "<none>"} (${formatBytes(i.size)}): ${i.why}`);
    for (const b of x.bundles) lines.push(`  bundle ${shortId(b.id)} (${formatBytes(b.bytes)}): ${b.why}`);
    if (x.blobs.length) lines.push(`  ${plural(x.blobs.length, "blob")} of the store (${formatBytes(x.blobs.reduce((n, b) => n + b.bytes, 0))}): no image left uses them`);
    for (const f of r.failed) lines.push(`  FAILED to remove ${f.kind} ${shortId(f.id)}: ${f.message}`);
    for (const i of r.kept.images) lines.push(`  keeps image ${shortId(i.id)} ${i.tags.length ? i.tags.join(", ") : "<none>"}: ${i.why}`);
  }
  return lines.join("\n") + "\n";
}

/** Registers `prune`. */
export function register(program: Command, deps: VerbDeps): void {
  program
    .command("prune")
    .description("remove the images, stopped containers, engine bundles and stored blobs no slot uses from the environment's hosts")
    .option("--keep <n>", `newest versions of the app to keep on each host, in use or not (default ${DEFAULT_KEEP_VERSIONS})`)
    .option("--dry-run", "say what would be removed; remove nothing")
    .option("--slot <slot>", "prune only the hosts of this slot, blue or green (default: every host, accessories' too)")
    .option("--host <name>", "prune only this host (repeatable; default: every host)", (v: string, prev: string[] = []) => [...prev, v])
    .option("-f, --file <file>", `environment file (default ./${DEFAULT_ENV_FILE})`)
    .option("--json", "print one JSON document (no progress output)")
    .action(async (flags: PruneFlags) => {
      const options = pruneOptions(flags);
      const loaded = await openEnvironment(flags.file, deps);
      const env = loaded.env;
      const progress = (line: string) => {
        if (!flags.json) deps.stderr.write(`${line}\n`);
      };
      const dockerHost = deps.env["DOCKER_HOST"];
      const driver = await deps.environmentDriver(
        { env, file: loaded.file, baseDir: loaded.baseDir, secrets: null, bundle: null, compose: loaded.compose, displayName: displayName(loaded, deps.cwd), ...(dockerHost !== undefined ? { dockerHost } : {}) },
        progress,
      );
      if (!driver.sshHosts) {
        throw new ConfigError(displayName(loaded, deps.cwd), [
          { path: "driver", message: `\`longshore prune\` needs hosts it reaches over SSH, and ${driver.name ?? "this driver"} has none (AMIs and other cloud images are not pruned either)` },
        ]);
      }
      const files = environmentFiles(loaded.file, deps.operationLockDir(env), env.name);
      // A dry run only reads; a real one holds the lock, so no rollout delivers an image while its blobs are judged unused.
      const lock = options.dryRun ? null : await acquireLock(files.lockFile, { what: `environment ${env.name}`, operation: "prune", removeOnRelease: true });
      try {
        const status = await driver.status();
        const uses = environmentUses(env, status);
        const hosts = pickPruneHosts(await driver.sshHosts(), options);
        const reports = await mapWithConcurrency(hosts, PRUNE_CONCURRENCY, async (h): Promise<HostPruneReport> => {
          progress(`${h.name}: ${options.dryRun ? "listing" : "pruning"}`);
          try {
            const t = await deps.connect(h.target, { connectDeadlineMs: 10_000, ...(deps.signal ? { signal: deps.signal } : {}) });
            try {
              return hostReport(h, await pruneHost(t, uses, { keep: options.keep, dryRun: options.dryRun, ...(deps.signal ? { signal: deps.signal } : {}) }), options.dryRun);
            } finally {
              await t.close().catch(() => undefined);
            }
          } catch (e) {
            return errorReport(h, e);
          }
        });
        if (flags.json) deps.stdout.write(JSON.stringify({ environment: env.name, dryRun: options.dryRun, keep: options.keep, uses, hosts: reports }, null, 2) + "\n");
        else deps.stdout.write(pruneText(env.name, options, reports));
        if (reports.some((r) => r.errorKind === "unreachable")) deps.setExitCode(EXIT.unreachable);
        else if (reports.some((r) => r.errorKind === "failed" || r.failed.length > 0)) deps.setExitCode(EXIT.commandFailed);
      } finally {
        await lock?.release();
      }
    });
}
