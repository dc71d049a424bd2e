/**
 * Where longshore keeps what it can rebuild (engine bundles, templates, demo images). One place, so
 * `longshore engine bundle`, the local driver and the Pulumi provider all reuse the same bundle.
 */
import * as os from "node:os";
import * as path from "node:path";

/**
 * `$LONGSHORE_CACHE_DIR`; else, for root (who runs the local driver), `/var/cache/longshore`;
 * else `$XDG_CACHE_HOME/longshore`, else `~/.cache/longshore`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? -1): string {
  if (env["LONGSHORE_CACHE_DIR"]) return path.resolve(env["LONGSHORE_CACHE_DIR"]);
  if (uid === 0) return "/var/cache/longshore";
  if (env["XDG_CACHE_HOME"]) return path.join(env["XDG_CACHE_HOME"], "longshore");
  return path.join(os.homedir(), ".cache", "longshore");
}
