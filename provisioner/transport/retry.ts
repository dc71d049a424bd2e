/**
 * Exponential backoff with full jitter ("sleep a random time between 0 and the capped exponential
 * delay"), which spreads reconnecting clients out instead of letting them retry in lockstep.
 * {@link backoffDelayMs} is pure; {@link retryUntilDeadline} is the thin loop around it, with the
 * clock, sleep and randomness injectable so that tests need no real time.
 */

/** Shape of the exponential curve. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay. Default 250 ms. */
  baseMs?: number;
  /** No delay ever exceeds this. Default 5 s. */
  maxMs?: number;
}

const DEFAULT_BASE_MS = 250;
const DEFAULT_MAX_MS = 5_000;

/**
 * The upper bound of the delay before retry number `attempt` (1-based): `min(maxMs, baseMs * 2^(attempt-1))`.
 */
export function backoffCeilingMs(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? DEFAULT_BASE_MS;
  const max = options.maxMs ?? DEFAULT_MAX_MS;
  const n = Math.max(1, Math.floor(attempt));
  // 2^(n-1) overflows to Infinity for huge n; Math.min keeps the result finite.
  return Math.min(max, base * 2 ** (n - 1));
}

/**
 * The delay before retry number `attempt` (1-based) with full jitter: uniform in
 * `[0, backoffCeilingMs(attempt)]`. `random` returns a number in `[0, 1)` (default `Math.random`).
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffCeilingMs(attempt, options));
}

/** How {@link retryUntilDeadline} decides and waits. */
export interface RetryOptions extends BackoffOptions {
  /** Stop retrying when the next attempt would start after this many ms since the first one. */
  deadlineMs: number;
  /** True when the error may go away by itself (refused while booting, timeouts). */
  isRetryable: (error: unknown) => boolean;
  /** Called before each wait, e.g. for progress output. */
  onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
  signal?: AbortSignal;
  /** Injectable for tests. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Runs `attempt` until it resolves, it throws a non-retryable error, or the deadline would be
 * passed by the next wait; then the last error is rethrown unchanged. Aborting the signal
 * rejects with the signal's reason.
 */
export async function retryUntilDeadline<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const started = now();
  for (let n = 1; ; n++) {
    options.signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (error) {
      if (!options.isRetryable(error)) throw error;
      const delayMs = backoffDelayMs(n, options, options.random);
      if (now() + delayMs - started >= options.deadlineMs) throw error;
      options.onRetry?.({ attempt: n, delayMs, error: error instanceof Error ? error : new Error(String(error)) });
      await sleep(delayMs, options.signal);
    }
  }
}

/** `setTimeout` as a promise that rejects with the signal's reason when aborted. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
