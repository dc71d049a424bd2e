// Does not prove agreement with dpkg beyond the table and the generated versions it is compared on (when dpkg is installed).
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareDebianVersions, parseDebianVersion, versionSatisfies } from "../../provisioner/bundle/debian-version";

/** The sign, with -0 as 0. */
const sgn = (n: number) => Math.sign(n) || 0;
const hasDpkg = spawnSync("dpkg", ["--version"]).status === 0;

describe("dpkg version comparison", () => {
  it.each([
    // [a, b, sign of compare(a, b)]
    ["1.0", "1.0", 0],
    ["1.0", "1.0-0", 0],
    ["1.0", "1.00", 0],
    ["1.0", "1.1", -1],
    ["1.10", "1.9", 1],
    ["1.0~rc1", "1.0", -1],
    ["1.0~rc1", "1.0~rc2", -1],
    ["1.0~~", "1.0~", -1],
    ["1.0~", "1.0", -1],
    ["1.0", "1.0a", -1],
    ["1.0a", "1.0+", -1],
    ["1.0+b1", "1.0", 1],
    ["1:0.1", "9.9", 1],
    ["0:1.0", "1.0", 0],
    ["2:1.02.185-2", "2:1.02.185-10", -1],
    ["20.10.24+dfsg1-1+deb12u1", "20.10.24+dfsg1-1", 1],
    ["20.10.24+dfsg1-1+b3", "20.10.24+dfsg1-1+deb12u1", -1],
    ["1.6.20~ds1-1+b1", "1.6.20~ds1-1", 1],
    ["1.2-3-4", "1.2-3-5", -1], // the revision is after the last hyphen
    ["a", "1", 1], // a letter sorts after a digit run's end
  ])("%s vs %s: %i", (a, b, sign) => {
    expect(sgn(compareDebianVersions(a, b))).toBe(sign);
    expect(sgn(compareDebianVersions(b, a))).toBe(sgn(-sign));
  });

  it("splits epoch, upstream and revision", () => {
    expect(parseDebianVersion("2:1.02.185-2")).toEqual({ epoch: 2, upstream: "1.02.185", revision: "2" });
    expect(parseDebianVersion("1.2-3-4")).toEqual({ epoch: 0, upstream: "1.2-3", revision: "4" });
    expect(parseDebianVersion("6.4")).toEqual({ epoch: 0, upstream: "6.4", revision: "" });
  });

  it.each([
    ["1.0", "<<", "1.1", true],
    ["1.1", "<<", "1.1", false],
    ["1.1", "<=", "1.1", true],
    ["1.1", "=", "1.1-0", true],
    ["1.1", ">=", "1.1~", true],
    ["1.1~", ">=", "1.1", false],
    ["1.2", ">>", "1.1", true],
    ["1.1", ">>", "1.1", false],
  ] as const)("%s %s %s: %s", (v, rel, w, ok) => {
    expect(versionSatisfies(v, rel, w)).toBe(ok);
  });

  const version = fc
    .tuple(
      fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      fc.stringMatching(/^[0-9][0-9a-z.+~]{0,8}$/),
      fc.option(fc.stringMatching(/^[0-9a-z.+~]{1,5}$/), { nil: undefined }),
    )
    .map(([e, u, r]) => `${e !== undefined ? `${e}:` : ""}${u}${r !== undefined ? `-${r}` : ""}`);

  it("is an order: antisymmetric and transitive on generated versions", () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        expect(sgn(compareDebianVersions(a, b))).toBe(sgn(-compareDebianVersions(b, a)));
        if (compareDebianVersions(a, b) <= 0 && compareDebianVersions(b, c) <= 0) expect(compareDebianVersions(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it.skipIf(!hasDpkg)("agrees with dpkg --compare-versions on generated versions", () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        const lt = spawnSync("dpkg", ["--compare-versions", a, "lt", b]).status === 0;
        const eq = spawnSync("dpkg", ["--compare-versions", a, "eq", b]).status === 0;
        expect(sgn(compareDebianVersions(a, b)), `${a} vs ${b}`).toBe(lt ? -1 : eq ? 0 : 1);
      }),
      { numRuns: 150 },
    );
  });
});
