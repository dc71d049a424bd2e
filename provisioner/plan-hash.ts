/**
 * The plan hash: one sha256 that says what the provisioner would run on a host. Pulumi diffs on it
 * (a changed hash re-provisions), so it must be stable for the same plan and change with any
 * change to what runs. Pure: no I/O, no clock.
 *
 * What goes in, in order: each step's id, its commands rendered for display (secrets as
 * `[redacted]`, `sudo -n --` shown for root commands so the hash does not depend on the user we
 * connect as), each command's stdin digest and success exit codes, and each file's path, mode,
 * owner, group, sudo flag and content sha256.
 *
 * Secrets hash as their placeholder, never as their value: the hash is stored in clear (Pulumi
 * state, logs, `plan` output), and a hash of a low-entropy secret (a short password) can be brute
 * forced offline. The cost: rotating a secret alone does not change the hash. A step whose secret
 * must trigger re-provisioning puts a non-secret version marker (e.g. the secret's version id or
 * the sha256 of its ciphertext) into a plain argument or file.
 *
 * Timeouts and retry policies are left out on purpose: they change how a plan runs, not what it
 * makes the host look like, and tuning them must not re-provision a fleet.
 */
import { createHash } from "node:crypto";
import { Sensitive, REDACTED_TEXT } from "../core/sensitive";
import { renderCommand, type Command, type StdinSource } from "./command";
import { sha256Hex, fileSha256 } from "./content-hash";
import type { RemoteFile, Step, StepPlan } from "./step";

/** One step's plan, as the hash sees it. */
export interface PlannedStep {
  id: string;
  plan: StepPlan;
}

function stdinDigest(stdin: StdinSource | undefined): string | null {
  if (stdin === undefined) return null;
  if (stdin instanceof Sensitive) return REDACTED_TEXT;
  // A stream factory's bytes are unknown without I/O; its presence is all the hash can say.
  if (typeof stdin === "function") return "stream";
  return sha256Hex(stdin);
}

function commandView(c: Command): unknown {
  return [renderCommand(c, { mode: "display", useSudo: true }), stdinDigest(c.stdin), c.okExitCodes ?? [0]];
}

function fileView(f: RemoteFile): unknown {
  const isSecret = "content" in f.source && f.source.content instanceof Sensitive;
  return [f.path, f.mode ?? 0o644, f.owner ?? null, f.group ?? null, f.sudo ?? true, isSecret ? REDACTED_TEXT : fileSha256(f)];
}

/** The canonical, secret-free form of a plan that {@link planHash} hashes (exported for debugging diffs). */
export function canonicalPlan(steps: readonly PlannedStep[]): string {
  return JSON.stringify(
    steps.map((s) => ({
      id: s.id,
      check: (s.plan.check ?? []).map(commandView),
      files: (s.plan.files ?? []).map(fileView),
      apply: s.plan.apply.map(commandView),
      verify: (s.plan.verify ?? []).map(commandView),
    })),
  );
}

/** Hex sha256 of the ordered plans. Same plans => same hash; any change to what runs => a different hash. */
export function planHash(steps: readonly PlannedStep[]): string {
  return createHash("sha256").update(canonicalPlan(steps)).digest("hex");
}

/** Plans each step with its context (pure) and hashes the result. */
export function planHashOf<C>(steps: ReadonlyArray<{ step: Step<C>; ctx: C }>): string {
  return planHash(steps.map(({ step, ctx }) => ({ id: step.id, plan: step.plan(ctx) })));
}
