/**
 * A k-way merge of timestamped items from several sources (a host's stdout, another host's
 * events...) into one stream in time order, while they still arrive. Pure: the caller says what
 * arrived when and asks what may go out now.
 *
 * An item goes out once nothing that sorts before it can still come:
 * - every source that has not ended has an item waiting (each source is in time order, so none of
 *   them can bring an earlier one): the exact rule, and the only one for finite streams;
 * - or, when following live streams ({@link TimeMergeOptions.holdBackMs}), it is the earliest item
 *   waiting and it has waited `holdBackMs`: a quiet source would otherwise hold everything back
 *   forever. Lines that arrive slightly out of order across hosts (network, buffering) still come
 *   out in order if they arrive within the hold-back; one that arrives later than that is let out
 *   when it comes, out of order rather than lost.
 * Equal times keep the order of the sources, then the order of arrival (the merge is stable).
 */
import type { EpochNs } from "./time-spec";

/** Options of {@link TimeMerge}. */
export interface TimeMergeOptions {
  /**
   * How long (ms) the earliest waiting item is held for an earlier one from a quiet source; null
   * waits for every source (finite streams). @default null
   */
  holdBackMs?: number | null;
}

interface Waiting<T> {
  item: T;
  ns: EpochNs;
  seq: number;
  arrivedMs: number;
}

/** Merges `sources` streams by time. Sources are numbered 0..n-1; their order breaks ties. */
export class TimeMerge<T> {
  readonly #queues: Waiting<T>[][];
  readonly #ended: boolean[];
  readonly #holdBackMs: number | null;
  #seq = 0;

  constructor(sources: number, options: TimeMergeOptions = {}) {
    this.#queues = Array.from({ length: sources }, () => []);
    this.#ended = Array.from({ length: sources }, () => false);
    this.#holdBackMs = options.holdBackMs ?? null;
  }

  /** Adds an item of `source` with its time; `arrivedMs` is when it arrived (for the hold-back). */
  push(source: number, ns: EpochNs, item: T, arrivedMs: number): void {
    const q = this.#queue(source);
    const w: Waiting<T> = { item, ns, seq: this.#seq++, arrivedMs };
    // Sources are nearly always in order: find the place from the end.
    let i = q.length;
    while (i > 0 && q[i - 1]!.ns > ns) i--;
    q.splice(i, 0, w);
  }

  /** Says `source` brings nothing more. */
  end(source: number): void {
    this.#queue(source);
    this.#ended[source] = true;
  }

  /**
   * Counts the hold-back of everything waiting from `nowMs`, as if it arrived then: when the last
   * source starts late (a slow connection), the backlogs that came first wait for its backlog.
   */
  restartHoldBack(nowMs: number): void {
    for (const q of this.#queues) for (const w of q) w.arrivedMs = Math.max(w.arrivedMs, nowMs);
  }

  /** True when every source ended and everything went out. */
  get done(): boolean {
    return this.#ended.every((e) => e) && this.#queues.every((q) => q.length === 0);
  }

  /** The items that may go out at `nowMs`, in order. */
  take(nowMs: number): T[] {
    const out: T[] = [];
    for (;;) {
      const min = this.#min();
      if (min === null) return out;
      const complete = this.#queues.every((q, i) => q.length > 0 || this.#ended[i]);
      const waitedEnough = this.#holdBackMs !== null && nowMs - this.#queues[min]![0]!.arrivedMs >= this.#holdBackMs;
      if (!complete && !waitedEnough) return out;
      out.push(this.#queues[min]!.shift()!.item);
    }
  }

  /** When {@link take} will let the earliest waiting item out by the hold-back (ms), or null (nothing waits, or no hold-back). */
  nextReleaseMs(): number | null {
    const min = this.#min();
    if (min === null || this.#holdBackMs === null) return null;
    return this.#queues[min]![0]!.arrivedMs + this.#holdBackMs;
  }

  /** Everything still waiting, in order (the end of the streams, or of the command). */
  flush(): T[] {
    const out: T[] = [];
    for (let min = this.#min(); min !== null; min = this.#min()) out.push(this.#queues[min]!.shift()!.item);
    return out;
  }

  /** The source whose first item sorts first (time, then source, then arrival), or null. */
  #min(): number | null {
    let best: number | null = null;
    for (let i = 0; i < this.#queues.length; i++) {
      const head = this.#queues[i]![0];
      if (!head) continue;
      const b = best === null ? undefined : this.#queues[best]![0]!;
      // Equal times: the lower source wins (strict <), as it comes first in the loop.
      if (b === undefined || head.ns < b.ns) best = i;
    }
    return best;
  }

  #queue(source: number): Waiting<T>[] {
    const q = this.#queues[source];
    if (!q) throw new RangeError(`source ${source} is not one of the ${this.#queues.length} sources`);
    return q;
  }
}
