/**
 * What a provisioning run did, per host and per step. Plain JSON-safe data, redacted before it is
 * built (no {@link Sensitive} value, no clear secret), so the CLI can print it or emit `--json` as is.
 */

/**
 * - `unchanged`: checks passed and files matched; nothing ran.
 * - `changed`: files uploaded and/or apply commands ran, then verify passed.
 * - `would-change`: check mode only; the step would upload or apply something.
 * - `failed`: the step failed; the host stopped here.
 * - `not-run`: an earlier failure on this host (or the connection) stopped it first.
 */
export type StepStatus = "unchanged" | "changed" | "would-change" | "failed" | "not-run";

/** Why a file would be uploaded. */
export interface FileDifference {
  path: string;
  reason: "missing" | "different";
}

/** An error as the report shows it: its code and its (redacted) message. */
export interface ReportedError {
  code: string;
  message: string;
}

/** One step on one host. */
export interface StepReport {
  id: string;
  title: string;
  status: StepStatus;
  durationMs: number;
  /** How many times the step ran (1 unless it was retried; 0 when not run). */
  attempts: number;
  /** Files sent to the host (empty when all matched). */
  uploaded: Array<{ path: string; bytes: number }>;
  /** Check mode: why the step would change (files that differ, checks that did not pass). */
  wouldChange?: {
    files: FileDifference[];
    /** Display form of each check that exited non-zero. */
    failedChecks: string[];
    /** True when the step has no check and no files: it always applies. */
    alwaysApplies: boolean;
  };
  error?: ReportedError;
}

/** One host. */
export interface HostReport {
  host: string;
  status: "ok" | "failed";
  durationMs: number;
  steps: StepReport[];
  /** The failure that stopped this host (a step's, or the connection's). */
  error?: ReportedError;
}

/** A whole run. */
export interface RunReport {
  mode: "apply" | "check";
  ok: boolean;
  durationMs: number;
  hosts: HostReport[];
  /** Steps per status, over all hosts. */
  counts: Record<StepStatus, number>;
}

/** Counts steps per status. */
export function countSteps(hosts: readonly HostReport[]): Record<StepStatus, number> {
  const counts: Record<StepStatus, number> = { unchanged: 0, changed: 0, "would-change": 0, failed: 0, "not-run": 0 };
  for (const h of hosts) for (const s of h.steps) counts[s.status]++;
  return counts;
}
