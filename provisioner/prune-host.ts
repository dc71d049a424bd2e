/**
 * `longshore prune` on one host over one connection: the listing command, the pure decision
 * (prune.ts), and, unless it is a dry run, the removal command, which measures the disk again.
 * Two commands in all; nothing is removed that the plan does not name by ID.
 */
import { CommandFailedError } from "../core/errors";
import type { Command } from "./command";
import { parseHostInventory, parsePruneRemoval, planPrune, pruneListCommand, pruneRemoveCommand, type EnvironmentUses, type HostDiskUse, type HostInventory, type PrunePlan, type PruneRemoval } from "./prune";
import type { ExecResult, Transport } from "./transport/transport";

/** How {@link pruneHost} decides and whether it removes. */
export interface PruneHostOptions {
  /** How many of the app's newest versions stay. */
  keep: number;
  /** Decide and report only: the removal command is not run. @default false */
  dryRun?: boolean;
  /** Cancels the commands in flight (Ctrl-C). @default none */
  signal?: AbortSignal;
}

/** What happened on one host. */
export interface HostPruneResult {
  inventory: HostInventory;
  plan: PrunePlan;
  /** What the removal command did; absent on a dry run or when nothing was to go. @default none */
  removal?: PruneRemoval;
  /** The disk before (from the listing) and, after a removal, after. */
  disk: { before: HostDiskUse; after?: HostDiskUse };
  /** Bytes the engine and longshore's directories use less than before (a removal only; never negative). @default none */
  freedBytes?: number;
}

async function run(transport: Transport, command: Command, stepId: string, signal: AbortSignal | undefined): Promise<ExecResult> {
  const r = await transport.exec(command, signal ? { signal } : {});
  if (r.exitCode !== 0) {
    throw new CommandFailedError({
      host: transport.host,
      stepId,
      phase: "prune",
      // The scripts are long and say nothing in a message: name them instead.
      command: `sh -c <${stepId} script>`,
      exitCode: r.exitCode,
      signal: r.signal,
      stderrTail: r.stderr.trim().split("\n").slice(-10).join("\n"),
    });
  }
  return r;
}

/** Lists what the host has, decides, and (unless a dry run) removes and measures again. */
export async function pruneHost(transport: Transport, uses: EnvironmentUses, options: PruneHostOptions): Promise<HostPruneResult> {
  const listed = await run(transport, pruneListCommand(), "prune.list", options.signal);
  const inventory = parseHostInventory(listed.stdout);
  const plan = planPrune(inventory, uses, options.keep);
  const before = inventory.disk;
  const remove = options.dryRun ? null : pruneRemoveCommand(plan);
  if (remove === null) return { inventory, plan, disk: { before } };
  const removal = parsePruneRemoval((await run(transport, remove, "prune.remove", options.signal)).stdout);
  const after = removal.after;
  return {
    inventory,
    plan,
    removal,
    disk: after ? { before, after } : { before },
    ...(after ? { freedBytes: Math.max(0, before.engineBytes + before.filesBytes - after.engineBytes - after.filesBytes) } : {}),
  };
}
