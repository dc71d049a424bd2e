// The coverage arithmetic behind aws.adminCidrsMaxCoverage (model/net.ts), by properties: merged ranges are the same addresses, coverage is exact in a small universe and never under-counted in the real ones. Does not prove what AWS's security groups match (only what the file lists).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  cidrRange,
  coverageExcesses,
  coveredAddresses,
  describeAddressCount,
  FAMILY_BITS,
  mergeRanges,
  prefixSize,
  type AddressRange,
  type IpFamily,
} from "../../model/net";

const RUNS = { numRuns: 300 };

/** A range inside 0..255 (a universe small enough to count address by address). */
const smallRange = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => ({
  first: BigInt(Math.min(a, b)),
  last: BigInt(Math.max(a, b)),
}));

/** Every address of `ranges`, one by one. */
function addressesOf(ranges: readonly { first: bigint; last: bigint }[]): Set<number> {
  const set = new Set<number>();
  for (const r of ranges) for (let a = Number(r.first); a <= Number(r.last); a++) set.add(a);
  return set;
}

function ipv4Text(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** An IPv6 address in full form and in the `::` form (the longest run of zero groups compressed). */
function ipv6Texts(groups: number[]): { full: string; short: string } {
  const hex = groups.map((g) => g.toString(16));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const short = best.len < 2 ? hex.join(":") : `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
  return { full: hex.join(":"), short };
}

const cidr4 = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 32 })).map(([a, p]) => `${ipv4Text(a)}/${p}`);
const groups6 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
const cidr6 = fc.tuple(groups6, fc.integer({ min: 1, max: 128 })).map(([g, p]) => `${ipv6Texts(g).short}/${p}`);
const anyCidr = fc.oneof(cidr4, cidr6);

const sizeOf = (r: { first: bigint; last: bigint }) => r.last - r.first + 1n;
const rangesOf = (cidrs: readonly string[], family: IpFamily) => cidrs.map((c) => cidrRange(c)!).filter((r) => r.family === family);

describe("mergeRanges", () => {
  it("gives the same addresses as its input, as sorted ranges that neither overlap nor touch", () => {
    fc.assert(
      fc.property(fc.array(smallRange, { maxLength: 12 }), (ranges) => {
        const merged = mergeRanges(ranges);
        expect(addressesOf(merged)).toEqual(addressesOf(ranges));
        for (let i = 1; i < merged.length; i++) expect(merged[i]!.first > merged[i - 1]!.last + 1n).toBe(true);
        for (const r of merged) expect(r.first <= r.last).toBe(true);
      }),
      RUNS,
    );
  });

  it("is idempotent and ignores order and repetition", () => {
    fc.assert(
      fc.property(fc.array(smallRange, { maxLength: 12 }), (ranges) => {
        const merged = mergeRanges(ranges);
        expect(mergeRanges(merged)).toEqual(merged);
        expect(mergeRanges([...ranges].reverse())).toEqual(merged);
        expect(mergeRanges([...ranges, ...ranges])).toEqual(merged);
      }),
      RUNS,
    );
  });

  it("does not change its input", () => {
    const input = [
      { first: 5n, last: 9n },
      { first: 0n, last: 6n },
    ];
    mergeRanges(input);
    expect(input).toEqual([
      { first: 5n, last: 9n },
      { first: 0n, last: 6n },
    ]);
  });
});

describe("coveredAddresses", () => {
  it("counts exactly the distinct addresses (checked one by one in a small universe)", () => {
    fc.assert(
      fc.property(fc.array(smallRange, { maxLength: 12 }), (ranges) => {
        expect(coveredAddresses(ranges)).toBe(BigInt(addressesOf(ranges).size));
      }),
      RUNS,
    );
  });

  it("is never under-counted: at least the widest range, at most the sum, and never less after adding a range", () => {
    fc.assert(
      fc.property(fc.array(anyCidr, { minLength: 1, maxLength: 10 }), anyCidr, (cidrs, extra) => {
        for (const family of ["ipv4", "ipv6"] as const) {
          const ranges = rangesOf(cidrs, family);
          const covered = coveredAddresses(ranges);
          const widest = ranges.reduce((m, r) => (sizeOf(r) > m ? sizeOf(r) : m), 0n);
          expect(covered >= widest).toBe(true);
          expect(covered <= ranges.reduce((n, r) => n + sizeOf(r), 0n)).toBe(true);
          expect(covered <= 1n << BigInt(FAMILY_BITS[family])).toBe(true);
          expect(coveredAddresses([...ranges, ...rangesOf([extra], family)]) >= covered).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("counts a block split into its two halves as the block", () => {
    fc.assert(
      fc.property(fc.oneof(cidr4.filter((c) => !c.endsWith("/32")), cidr6.filter((c) => !c.endsWith("/128"))), (cidr) => {
        const r = cidrRange(cidr)!;
        const half = sizeOf(r) / 2n;
        const halves = [
          { first: r.first, last: r.first + half - 1n },
          { first: r.first + half, last: r.last },
        ];
        expect(coveredAddresses(halves)).toBe(sizeOf(r));
        expect(mergeRanges(halves)).toEqual([{ first: r.first, last: r.last }]);
      }),
      RUNS,
    );
  });
});

describe("cidrRange", () => {
  it("is one aligned block of 2^(bits - prefix) addresses holding the written address, whatever its host bits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 32 }), (a, b, p) => {
        const r = cidrRange(`${ipv4Text(a)}/${p}`)!;
        expect(r.family).toBe("ipv4");
        expect(sizeOf(r)).toBe(prefixSize("ipv4", p));
        expect(r.first % sizeOf(r)).toBe(0n);
        expect(r.first <= BigInt(a) && BigInt(a) <= r.last).toBe(true);
        // Same network bits, other host bits: the same block.
        const mask = p === 32 ? 0 : 2 ** (32 - p) - 1;
        const sameNetwork = (a - (a % (mask + 1))) + (b % (mask + 1));
        expect(cidrRange(`${ipv4Text(sameNetwork)}/${p}`)).toEqual(r);
      }),
      RUNS,
    );
  });

  it("reads IPv6 the same in full, compressed and IPv4-tail form", () => {
    fc.assert(
      fc.property(groups6, fc.integer({ min: 1, max: 128 }), (groups, p) => {
        const { full, short } = ipv6Texts(groups);
        const r = cidrRange(`${full}/${p}`)!;
        expect(cidrRange(`${short}/${p}`)).toEqual(r);
        const value = groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
        expect(r.first <= value && value <= r.last).toBe(true);
        expect(sizeOf(r)).toBe(prefixSize("ipv6", p));
        const tail = `${groups.slice(0, 6).map((g) => g.toString(16)).join(":")}:${ipv4Text(groups[6]! * 65536 + groups[7]!)}`;
        expect(cidrRange(`${tail}/${p}`)).toEqual(r);
      }),
      RUNS,
    );
  });

  it.each<[string, AddressRange | null]>([
    ["10.0.0.0/8", { family: "ipv4", first: 0x0a000000n, last: 0x0affffffn }],
    ["10.1.2.3/8", { family: "ipv4", first: 0x0a000000n, last: 0x0affffffn }],
    ["203.0.113.7/32", { family: "ipv4", first: 0xcb007107n, last: 0xcb007107n }],
    ["2001:db8::/32", { family: "ipv6", first: 0x20010db8n << 96n, last: (0x20010db8n << 96n) + (1n << 96n) - 1n }],
    ["::ffff:10.0.0.0/104", { family: "ipv6", first: 0xffff0a000000n, last: 0xffff0affffffn }],
    ["10.0.0.1", null],
    ["10.0.0.0/33", null],
    ["2001:db8::/129", null],
  ])("%s", (cidr, expected) => {
    expect(cidrRange(cidr)).toEqual(expected);
  });
});

describe("coverageExcesses", () => {
  const limit = fc.record({ ipv4: fc.integer({ min: 1, max: 32 }), ipv6: fc.integer({ min: 1, max: 128 }) });

  it("refuses a family exactly when its ranges together cover more than one block of the limit", () => {
    fc.assert(
      fc.property(fc.array(anyCidr, { maxLength: 10 }), limit, (cidrs, lim) => {
        const excesses = coverageExcesses(cidrs, lim);
        for (const family of ["ipv4", "ipv6"] as const) {
          const covered = coveredAddresses(rangesOf(cidrs, family));
          const hit = excesses.find((e) => e.family === family);
          expect(hit !== undefined).toBe(covered > prefixSize(family, lim[family]));
          if (hit) expect(hit).toEqual({ family, covered, allowed: prefixSize(family, lim[family]), prefix: lim[family] });
        }
        expect(excesses.map((e) => e.family)).toEqual(["ipv4", "ipv6"].filter((f) => excesses.some((e) => e.family === f)));
      }),
      RUNS,
    );
  });

  it("always refuses a set holding one range wider than the limit, whatever else it holds", () => {
    fc.assert(
      fc.property(fc.array(anyCidr, { maxLength: 6 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 2, max: 32 }), (others, a, lim) => {
        const wide = `${ipv4Text(a)}/${lim - 1}`;
        expect(coverageExcesses([...others, wide], { ipv4: lim, ipv6: 32 }).map((e) => e.family)).toContain("ipv4");
      }),
      RUNS,
    );
  });

  it("accepts any number of ranges that stay inside one block of the limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 32 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 32 })), { maxLength: 10 }), (base, lim, subs) => {
        const block = cidrRange(`${ipv4Text(base)}/${lim}`)!;
        const inside = subs.map(([offset, extra]) => `${ipv4Text(Number(block.first + (BigInt(offset) % sizeOf(block))))}/${Math.min(32, lim + extra)}`);
        expect(coverageExcesses([`${ipv4Text(base)}/${lim}`, ...inside], { ipv4: lim, ipv6: 32 })).toEqual([]);
      }),
      RUNS,
    );
  });

  it("refuses a limit that is not a prefix length of its family", () => {
    expect(() => coverageExcesses([], { ipv4: 0, ipv6: 32 })).toThrow("ipv4 limit: 0 is not a prefix length from 1 to 32");
    expect(() => coverageExcesses([], { ipv4: 8, ipv6: 32.5 })).toThrow("ipv6 limit: 32.5 is not a prefix length from 1 to 128");
  });
});

describe("describeAddressCount", () => {
  it.each<[bigint, string]>([
    [0n, "0"],
    [1n, "1"],
    [512n, "512"],
    [65_535n, "65535"],
    [65_536n, "2^16"],
    [(1n << 24n) + 1n, "more than 2^24"],
    [1n << 128n, "2^128"],
  ])("%s is %s", (n, text) => {
    expect(describeAddressCount(n)).toBe(text);
  });
});
