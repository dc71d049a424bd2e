/**
 * Where the local driver keeps things on this computer. Every directory can be moved with an
 * environment variable so tests and benchmarks use their own state and never see a user's.
 */
import * as path from "node:path";
import { defaultCacheDir } from "../../core/cache-dir";

/** The directories the local driver uses. All absolute. */
export interface LocalPaths {
  /** Built artefacts that can be rebuilt: template tarballs, demo images. `LONGSHORE_CACHE_DIR`. */
  cacheDir: string;
  /** Extracted template root filesystems (read-only overlay lower dirs). `LONGSHORE_LIB_DIR`. */
  libDir: string;
  /**
   * State shared by every environment on this computer: the IP allocations on the bridge, who uses
   * the bridge, sysctl changes. `LONGSHORE_LOCAL_SHARED_DIR`. Tests keep the default on purpose:
   * the bridge and its address pool are shared with whatever else runs here.
   */
  sharedDir: string;
  /** One sub-directory per environment (`<stateRoot>/<env>/state.json`). `LONGSHORE_LOCAL_STATE_DIR`. */
  stateRoot: string;
}

/** Defaults, overridden by the environment variables named in {@link LocalPaths}. */
export function defaultPaths(env: NodeJS.ProcessEnv = process.env): LocalPaths {
  const abs = (v: string | undefined, d: string) => (v && v.trim() ? path.resolve(v) : d);
  return {
    cacheDir: defaultCacheDir(env),
    libDir: abs(env.LONGSHORE_LIB_DIR, "/var/lib/longshore"),
    sharedDir: abs(env.LONGSHORE_LOCAL_SHARED_DIR, "/var/lib/longshore/local"),
    stateRoot: abs(env.LONGSHORE_LOCAL_STATE_DIR, "/var/lib/longshore/local"),
  };
}

/** The directory of one environment. */
export function envDir(paths: LocalPaths, env: string): string {
  return path.join(paths.stateRoot, env);
}

/** The state file of one environment. */
export function envStateFile(paths: LocalPaths, env: string): string {
  return path.join(envDir(paths, env), "state.json");
}
