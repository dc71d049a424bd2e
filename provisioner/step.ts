/**
 * Steps are data. A step's `plan` is a pure function of its context (config plus host facts):
 * no I/O, no clock. The runner (`runner.ts`) does all the doing.
 */
import type { Command } from "./command";
import type { Sensitive } from "../core/sensitive";

/**
 * A line a step's command writes to stderr starting with this prefix is progress for the operator
 * (`longshore-progress: waiting for dpkg lock held by PID 4242 (apt-get)`): the runner turns each
 * into a `step-progress` event while the command runs. The line stays in stderr too.
 */
export const STEP_PROGRESS_PREFIX = "longshore-progress: ";

/** A file a step wants on the host. Uploaded only when the remote sha256 differs. */
export interface RemoteFile {
  path: string;
  /** Text/bytes in memory (templates, JSON), a secret, or a large local file streamed from disk. */
  source: { content: string | Uint8Array | Sensitive } | { localPath: string; sha256: string };
  /** Octal mode; default 0o644. Use 0o600 for anything holding a secret. */
  mode?: number;
  owner?: string;
  group?: string;
  /** Needs root to write (default true: most provisioned files live under /etc or /var). */
  sudo?: boolean;
}

/** How a failed apply is retried. */
export interface RetryPolicy {
  attempts: number;
  /** Delay before the first retry; doubles each time, with jitter. */
  backoffMs: number;
}

/** What a step would do on one host. */
export interface StepPlan {
  /** All exit 0 (and all files match) => already in the desired state, apply is skipped. */
  check?: Command[];
  files?: RemoteFile[];
  apply: Command[];
  /** Must all pass after apply, or the step fails. */
  verify?: Command[];
  timeoutMs?: number;
  retry?: RetryPolicy;
  /**
   * When every check passes, take the files as matching without hashing them on the host: the
   * check itself proves they were verified (the bundle's `.verified` marker, written only after
   * `sha256sum --check` of every file). The runner's `rehashFiles` hashes them anyway. @default false
   */
  filesTrustedWhenChecked?: boolean;
}

/** One unit of provisioning, named `area.verb` (e.g. `engine.install`). */
export interface Step<C = unknown> {
  id: string;
  title: string;
  plan(ctx: C): StepPlan;
}
