// Unit: `--since`/`--until` as users write them, to nanoseconds, with exact messages. Does not prove
// the engine reads engineTimestamp's form the same way (the e2e test reads real logs and events with it).
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { engineTimestamp, formatRfc3339Nano, parseEngineTime, parseTimeFlag, parseTimeRange } from "../../core/time-spec";

const S = 1_000_000_000n;
/** 2026-12-04T16:00:00Z */
const NOW = 1_796_400_000n * S;

describe("parseTimeFlag", () => {
  it.each([
    ["45s", NOW - 45n * S],
    ["10m", NOW - 600n * S],
    ["1h30m", NOW - 5_400n * S],
    ["2d", NOW - 172_800n * S],
    ["1d12h", NOW - 129_600n * S],
    ["1.5h", NOW - 5_400n * S],
    ["500ms", NOW - 500_000_000n],
    ["0s", NOW],
    ["1796400000", NOW],
    ["1796400000.5", NOW + 500_000_000n],
    ["1796400000.000000001", NOW + 1n],
    ["0", 0n],
    ["10", 10n * S],
    ["2026-12-04T16:00:00Z", NOW],
    ["2026-12-04T16:00:00.123456789Z", NOW + 123_456_789n],
    ["2026-12-04T16:00:00.5Z", NOW + 500_000_000n],
    ["2026-12-04T17:30:00+01:30", NOW],
    ["2026-12-04T14:00:00-02:00", NOW],
    ["2026-12-04t16:00:00z", NOW],
    [" 10m ", NOW - 600n * S],
  ])("%s", (value, expected) => {
    expect(parseTimeFlag("--since", value, NOW)).toBe(expected);
  });

  const message = (value: string) => {
    try {
      parseTimeFlag("--since", value, NOW);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    }
    throw new Error(`${value} was accepted`);
  };

  it.each([
    ["", "--since: must be a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400); got nothing"],
    ["yesterday", '--since: must be a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400); got "yesterday"'],
    ["10x", '--since: must be a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400); got "10x"'],
    ["-10m", '--since: "-10m": a duration counts back from now, write it without a sign (10m)'],
    ["2026-12-04T16:00:00", '--since: "2026-12-04T16:00:00" needs a time zone (Z or +01:00): without one, each host would read another instant'],
    ["2026-02-30T16:00:00Z", '--since: "2026-02-30T16:00:00Z" is not a valid date and time'],
    ["2026-12-04T24:00:00Z", '--since: "2026-12-04T24:00:00Z" is not a valid date and time'],
    ["2026-12-04T16:00:00+25:00", '--since: "2026-12-04T16:00:00+25:00" has an invalid zone offset'],
    ["100000d", '--since: "100000d" reaches before 1970'],
    ["1969-12-31T23:59:59Z", '--since: "1969-12-31T23:59:59Z" is before 1970'],
  ])("refuses %j", (value, expected) => {
    expect(message(value)).toBe(expected);
  });
});

describe("parseTimeRange", () => {
  it("parses both against one now, and leaves out what is not given", () => {
    expect(parseTimeRange({ since: "1h" }, NOW)).toEqual({ since: NOW - 3_600n * S, until: null });
    expect(parseTimeRange({ since: "1h", until: "10m" }, NOW)).toEqual({ since: NOW - 3_600n * S, until: NOW - 600n * S });
    expect(parseTimeRange({}, NOW)).toEqual({ since: null, until: null });
  });

  it("reports both flags' problems together, and an --until before --since", () => {
    expect(() => parseTimeRange({ since: "soon", until: "later" }, NOW)).toThrow(/--since: must be .*got "soon"\n.*--until: must be .*got "later"/s);
    expect(() => parseTimeRange({ since: "10m", until: "1h" }, NOW)).toThrow(
      "command line is invalid (1 problem):\n  --until: 2026-12-04T15:00:00.000000000Z is before --since (2026-12-04T15:50:00.000000000Z)",
    );
  });
});

describe("the engine's forms", () => {
  it("engineTimestamp is Unix seconds with nine fraction digits", () => {
    expect(engineTimestamp(NOW)).toBe("1796400000.000000000");
    expect(engineTimestamp(NOW + 1n)).toBe("1796400000.000000001");
    expect(engineTimestamp(NOW + 123_456_789n)).toBe("1796400000.123456789");
  });

  it("formatRfc3339Nano is UTC with nine fraction digits, and parseEngineTime reads it back", () => {
    expect(formatRfc3339Nano(NOW + 120_000_000n)).toBe("2026-12-04T16:00:00.120000000Z");
    for (const ns of [0n, NOW, NOW + 1n, NOW + 999_999_999n]) expect(parseEngineTime(formatRfc3339Nano(ns))).toBe(ns);
  });

  it("parseEngineTime takes what the engine prints and nothing else", () => {
    expect(parseEngineTime("2026-12-04T17:00:00.000000001+01:00")).toBe(NOW + 1n);
    expect(parseEngineTime("10m")).toBeNull();
    expect(parseEngineTime("1796400000")).toBeNull();
    expect(parseEngineTime("Error: No such container: abc")).toBeNull();
    expect(parseEngineTime("2026-02-30T16:00:00Z")).toBeNull();
  });
});
