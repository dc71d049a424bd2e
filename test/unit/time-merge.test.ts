// Unit: the k-way merge of per-host streams by time: exact order, stable ties, and the hold-back of
// a following read, on a scripted clock. Does not prove real hosts' streams arrive as scripted
// here (the e2e test merges two real hosts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimeMerge } from "../../core/time-merge";

describe("TimeMerge without a hold-back (finite streams)", () => {
  it("lets an item out only when every open source has one waiting, earliest first", () => {
    const m = new TimeMerge<string>(2);
    m.push(0, 10n, "a10", 0);
    m.push(0, 30n, "a30", 0);
    expect(m.take(1_000_000)).toEqual([]); // source 1 may still bring something earlier
    m.push(1, 20n, "b20", 0);
    expect(m.take(0)).toEqual(["a10", "b20"]); // a30 waits: b may bring 25
    m.end(1);
    expect(m.take(0)).toEqual(["a30"]);
    expect(m.done).toBe(false);
    m.end(0);
    expect(m.done).toBe(true);
  });

  it("keeps equal times in source order, then arrival order (stable)", () => {
    const m = new TimeMerge<string>(3);
    m.push(2, 5n, "c1", 0);
    m.push(1, 5n, "b1", 0);
    m.push(0, 5n, "a1", 0);
    m.push(0, 5n, "a2", 0);
    m.push(1, 5n, "b2", 0);
    for (const s of [0, 1, 2]) m.end(s);
    expect(m.take(0)).toEqual(["a1", "a2", "b1", "b2", "c1"]);
  });

  it("puts an item that arrives late within its own source in its place", () => {
    const m = new TimeMerge<string>(1);
    m.push(0, 30n, "30", 0);
    m.push(0, 10n, "10", 0);
    m.push(0, 20n, "20", 0);
    m.end(0);
    expect(m.take(0)).toEqual(["10", "20", "30"]);
  });

  it("flush gives everything still waiting, in order", () => {
    const m = new TimeMerge<string>(2);
    m.push(1, 2n, "b2", 0);
    m.push(0, 3n, "a3", 0);
    m.push(1, 1n, "b1", 0);
    expect(m.flush()).toEqual(["b1", "b2", "a3"]);
    expect(m.take(0)).toEqual([]);
  });

  it("has no hold-back deadline", () => {
    const m = new TimeMerge<string>(2);
    m.push(0, 1n, "a", 0);
    expect(m.nextReleaseMs()).toBeNull();
  });

  it("refuses a source it does not have", () => {
    expect(() => new TimeMerge<string>(2).push(2, 1n, "x", 0)).toThrow("source 2 is not one of the 2 sources");
  });

  it("gives every item once, sorted by (time, source, arrival), for any interleaving of sorted sources", () => {
    const source = fc.array(fc.bigInt({ min: 0n, max: 20n }), { maxLength: 12 }).map((a) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    fc.assert(
      fc.property(fc.array(source, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 60 }), (sources, picks) => {
        const m = new TimeMerge<{ s: number; i: number; ns: bigint }>(sources.length);
        const next = sources.map(() => 0);
        const out: { s: number; i: number; ns: bigint }[] = [];
        const open = () => sources.map((_, s) => s).filter((s) => next[s]! < sources[s]!.length);
        // Feed the sources in the order `picks` says, taking what may go out after each item.
        for (const p of picks) {
          const o = open();
          if (o.length === 0) break;
          const s = o[p % o.length]!;
          const i = next[s]!++;
          m.push(s, sources[s]![i]!, { s, i, ns: sources[s]![i]! }, 0);
          if (next[s] === sources[s]!.length) m.end(s);
          out.push(...m.take(0));
        }
        for (const s of open()) {
          while (next[s]! < sources[s]!.length) {
            const i = next[s]!++;
            m.push(s, sources[s]![i]!, { s, i, ns: sources[s]![i]! }, 0);
          }
        }
        sources.forEach((src, s) => src.length === next[s] && m.end(s));
        out.push(...m.take(0));
        const expected = sources.flatMap((src, s) => src.map((ns, i) => ({ s, i, ns }))).sort((x, y) => (x.ns !== y.ns ? (x.ns < y.ns ? -1 : 1) : x.s - y.s || x.i - y.i));
        expect(out).toEqual(expected);
        expect(m.done).toBe(true);
      }),
    );
  });
});

describe("TimeMerge with a hold-back (following)", () => {
  it("lets the earliest item out once it waited the hold-back, though a source is quiet", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 100n, "a100", 1_000);
    expect(m.take(1_000)).toEqual([]);
    expect(m.nextReleaseMs()).toBe(1_300);
    expect(m.take(1_299)).toEqual([]);
    expect(m.take(1_300)).toEqual(["a100"]);
    expect(m.nextReleaseMs()).toBeNull();
  });

  it("puts a line that arrives within the hold-back from another host before a later one", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 200n, "a200", 1_000);
    m.push(1, 150n, "b150", 1_200); // written earlier on its host, arrived 200 ms later
    // Both sources have something: exact order at once.
    expect(m.take(1_200)).toEqual(["b150"]);
    expect(m.take(1_299)).toEqual([]);
    expect(m.take(1_300)).toEqual(["a200"]);
  });

  it("holds the earliest item's successors behind it: nothing overtakes an item that still waits", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 500n, "a500", 1_000);
    m.push(0, 100n, "a100", 1_250); // sorts first, arrived later: both wait for a100's hold-back
    expect(m.take(1_300)).toEqual([]);
    expect(m.nextReleaseMs()).toBe(1_550);
    expect(m.take(1_550)).toEqual(["a100", "a500"]);
  });

  it("lets a line that arrives later than the hold-back out when it comes (out of order, never lost)", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 200n, "a200", 1_000);
    expect(m.take(1_300)).toEqual(["a200"]);
    m.push(1, 100n, "b100", 1_400);
    expect(m.take(1_700)).toEqual(["b100"]);
  });

  it("restartHoldBack: what waits counts its hold-back from then (a source that started late)", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 200n, "a200", 1_000);
    m.restartHoldBack(2_000);
    expect(m.take(1_500)).toEqual([]);
    expect(m.nextReleaseMs()).toBe(2_300);
    m.push(1, 100n, "b100", 2_100); // the late source's backlog
    expect(m.take(2_300)).toEqual(["b100", "a200"]);
  });

  it("still releases at once when every open source has an item", () => {
    const m = new TimeMerge<string>(2, { holdBackMs: 300 });
    m.push(0, 1n, "a1", 0);
    m.end(1);
    expect(m.take(0)).toEqual(["a1"]);
  });
});
