/**
 * Loads and saves the shared allocation file under its lock. Every change to the bridge, the
 * address pool or the sysctls happens inside {@link withSharedState}, so two environments coming up
 * at the same time never get the same address or create the bridge twice.
 */
import * as path from "node:path";
import { ConfigError } from "../../core/errors";
import { readFileIfExists, writeFileAtomic } from "../../core/atomic-write";
import { emptySharedState, SharedStateSchema, type SharedState } from "./ipam";
import { withLock } from "../../core/lock";
import type { LocalPaths } from "./paths";

/** The shared allocation file. */
export function sharedStateFile(paths: LocalPaths): string {
  return path.join(paths.sharedDir, "ipam.json");
}

/** Reads the shared state (empty when the file does not exist yet). */
export function loadSharedState(paths: LocalPaths): SharedState {
  const file = sharedStateFile(paths);
  const text = readFileIfExists(file);
  if (text === undefined) return emptySharedState();
  const parsed = SharedStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(root)", message: i.message })),
      { suggestion: "This file is written by longshore; if it was edited by hand, restore it or remove it after `longshore local down` of every environment." },
    );
  }
  return parsed.data;
}

/**
 * Runs `fn` with the current shared state under the shared lock. `save` writes a new state at once
 * (use it to record an intent before creating something); the state `fn` returns is saved last.
 */
export async function withSharedState<T>(
  paths: LocalPaths,
  fn: (state: SharedState, save: (next: SharedState) => void) => Promise<{ state: SharedState; result: T }>,
): Promise<T> {
  return withLock(path.join(paths.sharedDir, "ipam.lock"), { what: "the local bridge's address pool", operation: "allocate addresses", waitMs: 60_000 }, async () => {
    const save = (next: SharedState) => writeFileAtomic(sharedStateFile(paths), JSON.stringify(next, null, 2) + "\n");
    const { state, result } = await fn(loadSharedState(paths), save);
    save(state);
    return result;
  });
}
