/**
 * `longshore version [-f FILE] [--json]` (and `longshore --version`, which main.ts runs as this
 * verb): longshore's version, and the engine bundle the environment's `longshore.lock` pins (the
 * lock beside `-f FILE`, else in the working directory), or that none is pinned. The environment
 * file itself is not read: a version is worth printing also beside a broken one.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { LOCK_FILE_NAME, lockFilePath, readLockFile, type LoadedLock } from "../model/lock-file";
import type { VerbDeps } from "./deps";
import { environmentFilePath } from "./open-environment";

/** The engine's own package in a bundle, the version a user compares (first found). */
const ENGINE_PACKAGES = ["docker.io", "docker-ce", "moby-engine"] as const;

/** One pinned architecture, as `version` shows it. */
export interface PinnedEngine {
  arch: string;
  recipe: string;
  id: string;
  /** The engine package and its version, when the bundle has one of {@link ENGINE_PACKAGES}. */
  engine: { package: string; version: string } | null;
}

/** What `version` reports. */
export interface VersionReport {
  version: string;
  /** The lock as the user knows it (`longshore.lock`, `../env/longshore.lock`), or null when there is none. */
  lockFile: string | null;
  engine: PinnedEngine[];
}

/** The report from longshore's version and the lock read (a missing lock: `exists` false). Pure. */
export function versionReport(version: string, lock: LoadedLock): VersionReport {
  const engine = Object.entries(lock.lock.engine)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([arch, pin]) => {
      const name = ENGINE_PACKAGES.find((p) => pin!.packages[p] !== undefined);
      return { arch, recipe: pin!.recipe, id: pin!.id, engine: name ? { package: name, version: pin!.packages[name]! } : null };
    });
  return { version, lockFile: lock.exists ? lock.name : null, engine };
}

/** The human view: `longshore 0.1.0`, then the pinned bundle per architecture, or none. Pure. */
export function versionText(r: VersionReport): string {
  const lines = [`longshore ${r.version}`];
  if (r.lockFile === null) lines.push(`engine bundle: none pinned (no ${LOCK_FILE_NAME})`);
  else if (r.engine.length === 0) lines.push(`engine bundle: none pinned in ${r.lockFile}`);
  else {
    for (const e of r.engine) {
      lines.push(`engine bundle: ${e.arch} ${e.recipe}, bundle ${e.id.slice(0, 12)}${e.engine ? `, ${e.engine.package} ${e.engine.version}` : ""} (${r.lockFile})`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Adds `version`; `version` is longshore's own (package.json). */
export function register(program: Command, deps: VerbDeps, version: string): void {
  program
    .command("version")
    .description(`print longshore's version and the engine bundle ${LOCK_FILE_NAME} pins (beside -f FILE, else in this directory)`)
    .option("-f, --file <file>", `environment file whose ${LOCK_FILE_NAME} to read (default ./longshore.yaml)`)
    .option("--json", "print one JSON document")
    .action(async (flags: { file?: string; json?: boolean }) => {
      const file = lockFilePath(environmentFilePath(flags.file, deps.cwd));
      const rel = path.relative(deps.cwd, file);
      let lock: LoadedLock;
      try {
        lock = await readLockFile(file, rel.startsWith("..") ? file : rel);
      } catch (e) {
        // A malformed lock is an input error (exit 2); the version is still worth seeing.
        if (flags.json !== true) deps.stdout.write(`longshore ${version}\n`);
        throw e;
      }
      const report = versionReport(version, lock);
      deps.stdout.write(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : versionText(report));
    });
}
