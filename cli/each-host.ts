/**
 * Runs one piece of work per host in parallel (bounded), one connection per host, closed at the
 * end, with progress. For read-only verbs (facts, exec) that need no steps or report.
 */
import { mapWithConcurrency } from "../provisioner/concurrency";
import type { Transport } from "../provisioner/transport/transport";
import type { SshTarget } from "../model/ssh-target";
import type { CliDeps } from "./deps";
import type { Progress } from "./output";

/** One host's outcome: its value, or the error that stopped it. */
export type HostOutcome<T> = { host: string; ok: true; value: T } | { host: string; ok: false; error: Error };

export async function eachHost<T>(
  targets: readonly SshTarget[],
  opts: { concurrency: number; deps: CliDeps; progress: Progress; working: string },
  work: (t: Transport, target: SshTarget) => Promise<T>,
): Promise<HostOutcome<T>[]> {
  return mapWithConcurrency(targets, opts.concurrency, async (target): Promise<HostOutcome<T>> => {
    const host = target.name;
    let transport: Transport | undefined;
    try {
      opts.progress.status(host, "connecting");
      transport = await opts.deps.connect(target, {
        ...(opts.deps.signal ? { signal: opts.deps.signal } : {}),
        onRetry: ({ attempt }) => opts.progress.status(host, `connecting (retry ${attempt})`),
      });
      opts.progress.status(host, opts.working);
      const value = await work(transport, target);
      opts.progress.status(host, "done");
      return { host, ok: true, value };
    } catch (err) {
      opts.progress.status(host, "FAILED");
      return { host, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    } finally {
      await transport?.close().catch(() => {
        // Best effort: the outcome is already decided.
      });
    }
  });
}
