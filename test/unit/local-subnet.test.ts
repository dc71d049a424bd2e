// Does not prove: that `ip route` reports routes in this shape on every kernel (the e2e up reads the real table).
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { collidingRoutes, contains, gatewayOf, machinePool, parseSubnet } from "../../drivers/local/subnet";

function issues(text: string): string[] {
  try {
    parseSubnet(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe("parseSubnet", () => {
  it("accepts the default and derives gateway and pool", () => {
    const s = parseSubnet("10.213.47.0/24");
    expect(s.cidr).toBe("10.213.47.0/24");
    expect(gatewayOf(s)).toBe("10.213.47.1");
    const pool = machinePool(s);
    expect(pool[0]).toBe("10.213.47.10");
    expect(pool.at(-1)).toBe("10.213.47.254");
    expect(pool).toHaveLength(245);
    expect(contains(s, "10.213.47.200")).toBe(true);
    expect(contains(s, "10.213.48.1")).toBe(false);
  });

  it.each([
    ["10.213.47.0", ['--subnet: "10.213.47.0" is not an IPv4 CIDR like 10.213.47.0/24']],
    ["10.213.47.300/24", ['--subnet: "10.213.47.300/24" is not an IPv4 CIDR like 10.213.47.0/24']],
    ["8.8.8.0/24", ["--subnet: 8.8.8.0/24 is not a private (RFC 1918) network"]],
    ["10.213.47.5/24", ["--subnet: host bits are set (did you mean 10.213.47.0/24?)"]],
    ["10.0.0.0/8", ["--subnet: prefix /8 is outside /16../28"]],
    ["1.2.3.4/30", ["--subnet: prefix /30 is outside /16../28", "--subnet: 1.2.3.4/30 is not a private (RFC 1918) network"]],
  ])("rejects %s with every problem", (text, expected) => {
    expect(issues(text)).toEqual(expected);
  });
});

describe("collidingRoutes", () => {
  const subnet = parseSubnet("10.213.47.0/24");
  it("ignores the default route and our own bridge, reports overlaps in both directions", () => {
    const routes = [
      { dst: "default", dev: "eth0" },
      { dst: "10.213.47.0/24", dev: "longshore0" },
      { dst: "192.0.2.0/24", dev: "eth0" },
      { dst: "10.0.0.0/8", dev: "vpn0" },
      { dst: "10.213.47.128/25", dev: "br9" },
      { dst: "10.213.47.77", dev: "tun1" },
      { dst: "10.213.48.0/24", dev: "br1" },
    ];
    expect(collidingRoutes(subnet, routes, "longshore0")).toEqual([
      { dst: "10.0.0.0/8", dev: "vpn0" },
      { dst: "10.213.47.128/25", dev: "br9" },
      { dst: "10.213.47.77", dev: "tun1" },
    ]);
  });
});
