// Mocks: does not prove that AWS accepts these CIDRs and routes, or that traffic flows through the NAT gateways.
import { calls, find, ofType, promiseOf, registrations, resetRegistrations, settle } from "./harness";
import { describe, expect, it } from "vitest";
import { Network, networkProblems, planSubnets } from "../../../modules/network";

describe("planSubnets", () => {
  it.each<[string, number, boolean, { public: string[]; private: string[] }]>([
    ["10.0.0.0/16", 2, false, { public: ["10.0.0.0/20", "10.0.16.0/20"], private: [] }],
    ["10.0.0.0/16", 3, true, { public: ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"], private: ["10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"] }],
    ["172.31.64.0/18", 2, true, { public: ["172.31.64.0/22", "172.31.68.0/22"], private: ["172.31.96.0/22", "172.31.100.0/22"] }],
    ["192.168.10.0/24", 1, false, { public: ["192.168.10.0/28"], private: [] }],
  ])("%s over %i zones (private: %s)", (cidr, n, priv, expected) => {
    expect(planSubnets(cidr, n, priv)).toEqual(expected);
  });
});

describe("networkProblems", () => {
  it.each<[object, string[]]>([
    [{}, []],
    [{ cidrBlock: "10.0.0.0/8" }, ["cidrBlock: the prefix must be /16 to /24 (AWS allows /16-/28; subnets need 4 more bits)"]],
    [{ cidrBlock: "10.0.1.0/16" }, ["cidrBlock: 10.0.1.0/16 has host bits set (did you mean 10.0.0.0/16?)"]],
    [{ cidrBlock: "10.0.0/16" }, ['cidrBlock: "10.0.0/16" is not an IPv4 CIDR']],
    [{ azCount: 7 }, ["azCount: must be 1 to 6 zones, got 7"]],
    [{ availabilityZones: ["eu-west-1a", "eu-west-1a"] }, ["availabilityZones: lists a zone twice"]],
  ])("%j", (args, problems) => {
    expect(networkProblems(args)).toEqual(problems);
  });

  it("stops the component before anything is declared", () => {
    resetRegistrations();
    expect(() => new Network("bad", { cidrBlock: "10.0.0.0/8" })).toThrow("Network bad: cidrBlock: the prefix must be /16 to /24");
    expect(registrations).toEqual([]);
  });
});

describe("Network", () => {
  it("with private subnets and one NAT gateway per zone, in the zones given (no lookup)", async () => {
    resetRegistrations();
    const lookupsBefore = calls.length;
    const net = new Network("n", { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"], privateSubnets: true, tags: { team: "shop" } });
    await settle();
    expect(calls.length).toBe(lookupsBefore);
    const names = (type: string) => ofType(type).map((r) => r.name).sort();
    expect(names("aws:ec2/subnet:Subnet")).toEqual(["n-private-0", "n-private-1", "n-private-2", "n-public-0", "n-public-1", "n-public-2"]);
    expect(names("aws:ec2/eip:Eip")).toEqual(["n-nat-0", "n-nat-1", "n-nat-2"]);
    expect(names("aws:ec2/natGateway:NatGateway")).toEqual(["n-nat-0", "n-nat-1", "n-nat-2"]);
    expect(names("aws:ec2/routeTable:RouteTable")).toEqual(["n-private-0", "n-private-1", "n-private-2", "n-public"]);
    expect(names("aws:ec2/route:Route")).toEqual(["n-private-0-nat", "n-private-1-nat", "n-private-2-nat", "n-public-internet"]);
    expect(find("aws:ec2/subnet:Subnet", "n-private-2").inputs).toMatchObject({ cidrBlock: "10.0.160.0/20", availabilityZone: "eu-west-1c", mapPublicIpOnLaunch: false });
    expect(find("aws:ec2/vpc:Vpc", "n").inputs).toMatchObject({ cidrBlock: "10.0.0.0/16", enableDnsSupport: true, enableDnsHostnames: true, tags: { team: "shop", Name: "n" } });
    expect(find("aws:ec2/route:Route", "n-private-2-nat").inputs.natGatewayId).toBe("n-nat-2-id");
    expect(find("aws:ec2/natGateway:NatGateway", "n-nat-1").inputs.subnetId).toBe("n-public-1-id");
    expect(await Promise.all(net.privateSubnetIds.map((s) => promiseOf(s)))).toEqual(["n-private-0-id", "n-private-1-id", "n-private-2-id"]);
  });

  it("with a single NAT gateway, every private route goes through it", async () => {
    resetRegistrations();
    new Network("s", { azCount: 2, privateSubnets: true, natGateways: "single" });
    await settle();
    expect(ofType("aws:ec2/natGateway:NatGateway").map((r) => r.name)).toEqual(["s-nat-0"]);
    expect(ofType("aws:ec2/route:Route").map((r) => [r.name, r.inputs.natGatewayId ?? r.inputs.gatewayId]).sort()).toEqual([
      ["s-private-0-nat", "s-nat-0-id"],
      ["s-private-1-nat", "s-nat-0-id"],
      ["s-public-internet", "s-id"],
    ]);
  });

  it("looks zones up when none are given, taking the first N available", async () => {
    resetRegistrations();
    const net = new Network("z", { azCount: 2 });
    await settle();
    expect(await Promise.all(net.availabilityZones.map((z) => promiseOf(z)))).toEqual(["eu-west-1a", "eu-west-1b"]);
    expect(ofType("aws:ec2/subnet:Subnet").map((r) => [r.name, r.inputs.availabilityZone]).sort()).toEqual([
      ["z-public-0", "eu-west-1a"],
      ["z-public-1", "eu-west-1b"],
    ]);
    expect(ofType("aws:ec2/natGateway:NatGateway")).toEqual([]);
  });
});
