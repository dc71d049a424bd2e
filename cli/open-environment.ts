/**
 * What every environment verb does first: find the environment file (`-f`, default
 * ./longshore.yaml), parse it into the model, and read its secrets from their sources. All of it
 * happens before any host is touched or machine created; every problem is one ConfigError.
 */
import * as path from "node:path";
import { loadEnvironment, type LoadedEnvironment } from "../model/environment-file";
import { lockFilePath, readLockFile, type LoadedLock } from "../model/lock-file";
import { resolveEnvironmentSecrets, type ResolvedSecrets, type SecretReader } from "../model/secret-resolve";

/** The default environment file, in the current directory. */
export const DEFAULT_ENV_FILE = "longshore.yaml";

/** What opening needs. */
export interface OpenDeps {
  cwd: string;
  secretReader: SecretReader;
}

/** The environment file's path from `-f` (relative to the working directory). */
export function environmentFilePath(flag: string | undefined, cwd: string): string {
  return path.resolve(cwd, flag ?? DEFAULT_ENV_FILE);
}

/** Loads the environment file; throws ConfigError with every problem. */
export function openEnvironment(flag: string | undefined, deps: Pick<OpenDeps, "cwd">): Promise<LoadedEnvironment> {
  // Problems name the file as the user wrote it (`longshore.yaml: app.port`), read relative to the working directory.
  return loadEnvironment(flag ?? DEFAULT_ENV_FILE, { cwd: deps.cwd });
}

/** The name the user knows the file by, for issue paths (`longshore.yaml: app.secrets.X`). */
export function displayName(loaded: LoadedEnvironment, cwd: string): string {
  const rel = path.relative(cwd, loaded.file);
  return rel.startsWith("..") ? loaded.file : rel;
}

/** Reads every secret the environment names (see model/secret-resolve.ts). */
export function readSecrets(loaded: LoadedEnvironment, deps: OpenDeps, options: { deferPulumi?: boolean } = {}): Promise<ResolvedSecrets> {
  return resolveEnvironmentSecrets(loaded.env, {
    baseDir: loaded.baseDir,
    reader: deps.secretReader,
    file: displayName(loaded, deps.cwd),
    ...(options.deferPulumi ? { deferPulumi: true } : {}),
  });
}

/**
 * The environment's lock (`longshore.lock` beside its file): nothing pinned when there is none; a
 * ConfigError listing every problem when it is malformed, named as the user knows it.
 */
export function readLock(loaded: LoadedEnvironment, cwd: string): Promise<LoadedLock> {
  const file = lockFilePath(loaded.file);
  const rel = path.relative(cwd, file);
  return readLockFile(file, rel.startsWith("..") ? file : rel);
}
