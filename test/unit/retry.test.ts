// Does not prove real-time waiting behaviour (the clock and sleep are injected).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { abortableSleep, backoffCeilingMs, backoffDelayMs, retryUntilDeadline } from "../../provisioner/transport/retry";

describe("backoff with full jitter", () => {
  it("has a doubling, capped ceiling", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffCeilingMs(n, { baseMs: 250, maxMs: 5_000 }))).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000, 5000,
    ]);
    expect(backoffCeilingMs(2000)).toBe(5_000);
  });

  it("stays within [0, ceiling] for any attempt and random value", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const d = backoffDelayMs(n, { baseMs: 100, maxMs: 3_000 }, () => r);
        return Number.isInteger(d) && d >= 0 && d <= backoffCeilingMs(n, { baseMs: 100, maxMs: 3_000 });
      }),
    );
  });

  it("uses the random value linearly (0 -> 0, 0.5 -> half the ceiling)", () => {
    expect(backoffDelayMs(3, { baseMs: 100 }, () => 0)).toBe(0);
    expect(backoffDelayMs(3, { baseMs: 100 }, () => 0.5)).toBe(200);
    expect(backoffDelayMs(3, { baseMs: 100 }, () => 0.999)).toBe(399);
  });
});

describe("retryUntilDeadline", () => {
  function fakeClock() {
    let t = 0;
    const sleeps: number[] = [];
    return {
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
      advance: (ms: number) => (t += ms),
      sleeps,
    };
  }

  it("retries retryable errors until the attempt succeeds", async () => {
    const clock = fakeClock();
    const seen: number[] = [];
    const result = await retryUntilDeadline(
      async (n) => {
        if (n < 4) throw new Error(`fail ${n}`);
        return "ok";
      },
      { deadlineMs: 60_000, isRetryable: () => true, now: clock.now, sleep: clock.sleep, random: () => 0.5, onRetry: (i) => seen.push(i.attempt) },
    );
    expect(result).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
    expect(clock.sleeps).toEqual([125, 250, 500]);
  });

  it("rethrows a non-retryable error at once", async () => {
    const clock = fakeClock();
    let calls = 0;
    const err = new Error("auth");
    await expect(
      retryUntilDeadline(
        async () => {
          calls++;
          throw err;
        },
        { deadlineMs: 60_000, isRetryable: () => false, now: clock.now, sleep: clock.sleep },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("gives up with the last error when the next wait would pass the deadline", async () => {
    const clock = fakeClock();
    let calls = 0;
    const p = retryUntilDeadline(
      async () => {
        calls++;
        clock.advance(100); // each attempt takes 100 ms
        throw new Error(`attempt ${calls}`);
      },
      { deadlineMs: 1_000, baseMs: 200, maxMs: 200, isRetryable: () => true, now: clock.now, sleep: clock.sleep, random: () => 0.999 },
    );
    // Attempts at t=0,299,598,897(+100 => 997, +199 >= 1000): four attempts, three waits of 199 ms.
    await expect(p).rejects.toThrow("attempt 4");
    expect(calls).toBe(4);
    expect(clock.sleeps).toEqual([199, 199, 199]);
  });

  it("stops waiting when aborted", async () => {
    const ac = new AbortController();
    const p = abortableSleep(60_000, ac.signal);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
    await expect(
      retryUntilDeadline(async () => "never", { deadlineMs: 1, isRetryable: () => true, signal: ac.signal }),
    ).rejects.toThrow("stop");
  });
});
