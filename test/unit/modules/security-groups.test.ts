// Mocks: does not prove that AWS evaluates these rules as intended (e.g. that the ALB really reaches the hosts).
import { ofType, promiseOf, registrations, resetRegistrations, settle } from "./harness";
import { describe, expect, it } from "vitest";
import { cidrFamily, isOpenToWorld, securityGroupProblems, WebSecurityGroups } from "../../../modules/security-groups";

describe("securityGroupProblems", () => {
  const ok = { adminCidrs: ["203.0.113.7/32"], appPort: 8080 };
  it.each<[string, Parameters<typeof securityGroupProblems>[0], string[]]>([
    ["a sound setup", ok, []],
    ["SSH open to IPv4", { ...ok, adminCidrs: ["0.0.0.0/0"] }, ["adminCidrs[0]: 0.0.0.0/0 would open SSH to the whole internet"]],
    ["SSH open to IPv6", { ...ok, adminCidrs: ["203.0.113.7/32", "::/0"] }, ["adminCidrs[1]: ::/0 would open SSH to the whole internet"]],
    ["any /0", { ...ok, adminCidrs: ["10.0.0.0/0"] }, ["adminCidrs[0]: 10.0.0.0/0 would open SSH to the whole internet"]],
    ["no admins and no bastion", { ...ok, adminCidrs: [] }, ["adminCidrs: must list at least one address range (or give bastionSecurityGroupId): SSH is never open to the world"]],
    ["a bastion alone", { ...ok, adminCidrs: [], bastionSecurityGroupId: "sg-1" }, []],
    ["admins' SSH turned off without a bastion", { ...ok, adminSsh: false }, ["adminSsh: false needs bastionSecurityGroupId (the hosts would admit SSH from nowhere)"]],
    ["admins' SSH turned off behind a bastion", { ...ok, adminSsh: false, bastionSecurityGroupId: "sg-1" }, []],
    ["not a CIDR", { ...ok, adminCidrs: ["203.0.113.7"] }, ['adminCidrs[0]: "203.0.113.7" is not a CIDR']],
    ["the app on the SSH port", { ...ok, appPort: 22 }, ["appPort: must differ from the SSH port (22)"]],
    ["a public test port", { ...ok, testPorts: [8081, 443] }, ["testPorts[1]: 443 is a public port; test listeners must be reachable by admins only"]],
    ["bad ports", { ...ok, appPort: 70000, hostEgressPorts: [0] }, ["appPort: 70000 is not a port (1-65535)", "hostEgressPorts[0]: 0 is not a port (1-65535)"]],
    [
      "all of IPv4 in two halves, no /0 needed",
      { ...ok, adminCidrs: ["0.0.0.0/1", "128.0.0.0/1"] },
      ["adminCidrs: the IPv4 ranges together cover 2^32 addresses (overlaps counted once), more than one /8 (2^24 addresses) allows (adminCoverageLimit.ipv4: 8): list narrower ranges"],
    ],
    [
      "IPv6 wider than /32",
      { ...ok, adminCidrs: ["2001:db8::/31"] },
      ["adminCidrs: the IPv6 ranges together cover 2^97 addresses (overlaps counted once), more than one /32 (2^96 addresses) allows (adminCoverageLimit.ipv6: 32): list narrower ranges"],
    ],
    ["exactly one /8, in two /9s", { ...ok, adminCidrs: ["10.0.0.0/9", "10.128.0.0/9"] }, []],
    ["a wider limit, on purpose", { ...ok, adminCidrs: ["10.0.0.0/7"], adminCoverageLimit: { ipv4: 7, ipv6: 32 } }, []],
    [
      "a narrower limit",
      { ...ok, adminCidrs: ["10.0.0.0/16"], adminCoverageLimit: { ipv4: 24, ipv6: 48 } },
      ["adminCidrs: the IPv4 ranges together cover 2^16 addresses (overlaps counted once), more than one /24 (256 addresses) allows (adminCoverageLimit.ipv4: 24): list narrower ranges"],
    ],
    ["a limit that is not a prefix length", { ...ok, adminCoverageLimit: { ipv4: 0, ipv6: 129 } }, ["adminCoverageLimit.ipv4: 0 is not a prefix length from 1 to 32", "adminCoverageLimit.ipv6: 129 is not a prefix length from 1 to 128"]],
  ])("%s", (_what, args, problems) => {
    expect(securityGroupProblems(args)).toEqual(problems);
  });

  it("stops the component before anything is declared", () => {
    resetRegistrations();
    expect(() => new WebSecurityGroups("bad", { vpcId: "vpc-1", adminCidrs: ["0.0.0.0/0"], appPort: 8080 })).toThrow(
      "WebSecurityGroups bad: adminCidrs[0]: 0.0.0.0/0 would open SSH to the whole internet",
    );
    expect(registrations).toEqual([]);
  });

  it.each<[string, "ipv4" | "ipv6" | null, boolean]>([
    ["203.0.113.7/32", "ipv4", false],
    ["0.0.0.0/0", "ipv4", true],
    ["2001:db8::/48", "ipv6", false],
    ["::/0", "ipv6", true],
    ["256.0.0.0/8", null, false],
    ["1::2::3/64", null, false],
  ])("%s is %s (world: %s)", (cidr, family, world) => {
    expect(cidrFamily(cidr)).toBe(family);
    expect(isOpenToWorld(cidr)).toBe(world);
  });
});

describe("WebSecurityGroups", () => {
  it("puts IPv6 admin ranges in cidrIpv6, adds the bastion, and opens only what is asked for", async () => {
    resetRegistrations();
    const groups = new WebSecurityGroups("g", {
      vpcId: "vpc-1",
      adminCidrs: ["203.0.113.0/24", "2001:db8::/48"],
      bastionSecurityGroupId: "sg-bastion",
      appPort: 3000,
      publicPorts: [80, 443],
      testPorts: [8081],
      hostEgressPorts: [443],
    });
    await settle();
    const label = new Map([
      [await promiseOf(groups.loadBalancerSecurityGroupId), "(lb group)"],
      [await promiseOf(groups.hostsSecurityGroupId), "(hosts group)"],
    ]);
    const view = (type: string) =>
      ofType(type).map((r) => {
        const source = (r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.referencedSecurityGroupId) as string;
        return [r.name, label.get(r.inputs.securityGroupId as string), r.inputs.fromPort, label.get(source) ?? source];
      })
      // Registration order follows which inputs resolve first: compare by name.
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(ofType("aws:ec2/securityGroup:SecurityGroup").map((r) => r.name).sort()).toEqual(["g-hosts", "g-lb"]);
    expect(view("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")).toEqual([
      ["g-hosts-app", "(hosts group)", 3000, "(lb group)"],
      ["g-hosts-ssh-0", "(hosts group)", 22, "203.0.113.0/24"],
      ["g-hosts-ssh-1", "(hosts group)", 22, "2001:db8::/48"],
      ["g-hosts-ssh-bastion", "(hosts group)", 22, "sg-bastion"],
      ["g-lb-public-443", "(lb group)", 443, "0.0.0.0/0"],
      ["g-lb-public-80", "(lb group)", 80, "0.0.0.0/0"],
      ["g-lb-test-8081-0", "(lb group)", 8081, "203.0.113.0/24"],
      ["g-lb-test-8081-1", "(lb group)", 8081, "2001:db8::/48"],
    ]);
    expect(ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").find((r) => r.name === "g-hosts-ssh-1")!.inputs.cidrIpv6).toBe("2001:db8::/48");
    expect(view("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")).toEqual([
      ["g-hosts-egress-443", "(hosts group)", 443, "0.0.0.0/0"],
      ["g-lb-to-hosts", "(lb group)", 3000, "(hosts group)"],
    ]);
    for (const r of [...ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), ...ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")]) {
      expect(r.inputs.ipProtocol).toBe("tcp");
      expect(r.inputs.fromPort).toBe(r.inputs.toPort);
    }
  });
});
