// Mocks: does not prove that AWS routes a private host's traffic through the NAT gateway, that cloud-init boots the bastion with its pinned key, or that the tunnels work (test/integration/bastion.test.ts does that against real sshd); only what the web program declares with aws.bastion.
import { beforeAll, describe, expect, it } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import of the code under test.
import { calls, find, isSecret, ofType, promiseOf, registrations, resetRegistrations, reveal, settle, type Registration } from "./harness";
import { stringify } from "yaml";
import { parseEnvironment } from "../../../model/environment-file";
import { Bastion, bastionProblems } from "../../../modules/bastion";
import { buildWebStack, type AwsEnvironment, type WebStack } from "../../../stacks/web/web-stack";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

const T = {
  bastion: "longshore:network:Bastion",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  hostKey: "pulumi-nodejs:dynamic/longshore:HostKey",
  instance: "aws:ec2/instance:Instance",
  subnet: "aws:ec2/subnet:Subnet",
  nat: "aws:ec2/natGateway:NatGateway",
  provisionedDyn: "pulumi-nodejs:dynamic/longshore:ProvisionedHost",
  gateDyn: "pulumi-nodejs:dynamic/longshore:HealthGate",
};

/** A 2 x 1 environment (blue live), two admin ranges, `aws.bastion` as given. */
function environment(bastion: unknown): AwsEnvironment {
  const raw = {
    name: "test",
    driver: "aws",
    app: { name: "shop", image: "registry.example.com/shop:1.0.0", port: 8080, health: { path: "/healthz" } },
    slots: { blue: { image: "registry.example.com/shop:1.0.0", size: 1 }, green: { image: "registry.example.com/shop:1.1.0", size: 1 } },
    live: "blue",
    aws: { sshPublicKey: ADMIN_KEY, adminCidrs: ["203.0.113.7/32", "198.51.100.0/24"], ...(bastion === undefined ? {} : { bastion }) },
  };
  const r = parseEnvironment(stringify(raw), "longshore.yaml");
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return r.value as AwsEnvironment;
}

async function build(env: AwsEnvironment): Promise<{ stack: WebStack; regs: Registration[] }> {
  resetRegistrations();
  const stack = buildWebStack(env, { app: {}, registryPassword: null }, { loadEntry: () => ({ planHostHash: () => "hash" }) });
  await settle();
  return { stack, regs: [...registrations] };
}

const names = (regs: Registration[]) => regs.map((r) => `${r.type}::${r.name}`).sort();

describe("the web stack with aws.bastion: true", () => {
  let stack: WebStack;
  let regs: Registration[];
  let without: Registration[];
  beforeAll(async () => {
    ({ regs: without } = await build(environment(undefined)));
    ({ stack, regs } = await build(environment(true)));
  });

  it("adds exactly the bastion (instance, host key, group and its rules), private subnets with NAT and the SSH rule from the bastion; drops the admins' SSH rules into the hosts", () => {
    const before = new Set(names(without));
    const after = new Set(names(regs));
    const added = [...after].filter((n) => !before.has(n)).sort();
    const removed = [...before].filter((n) => !after.has(n)).sort();
    expect(added).toEqual(
      [
        `${T.bastion}::web-bastion`,
        `${T.sg}::web-bastion`,
        `${T.ingress}::web-bastion-ssh-0`,
        `${T.ingress}::web-bastion-ssh-1`,
        `${T.egress}::web-bastion-egress-ssh`,
        `${T.egress}::web-bastion-egress-8081`,
        `${T.egress}::web-bastion-egress-8082`,
        `${T.hostKey}::web-bastion-hostkey`,
        `${T.instance}::web-bastion`,
        `${T.ingress}::web-sg-hosts-ssh-bastion`,
        `${T.ingress}::web-sg-lb-test-8081-bastion`,
        `${T.ingress}::web-sg-lb-test-8082-bastion`,
        ...[0, 1].flatMap((i) => [
          `${T.subnet}::web-net-private-${i}`,
          `aws:ec2/routeTable:RouteTable::web-net-private-${i}`,
          `aws:ec2/route:Route::web-net-private-${i}-nat`,
          `aws:ec2/routeTableAssociation:RouteTableAssociation::web-net-private-${i}`,
          `aws:ec2/eip:Eip::web-net-nat-${i}`,
          `${T.nat}::web-net-nat-${i}`,
        ]),
      ].sort(),
    );
    expect(removed).toEqual([`${T.ingress}::web-sg-hosts-ssh-0`, `${T.ingress}::web-sg-hosts-ssh-1`]);
    const bastionChildren = regs.filter((r) => r.parent === `${T.bastion}::web-bastion`).map((r) => `${r.type}::${r.name}`);
    expect(bastionChildren.sort()).toEqual(added.filter((n) => n.includes("web-bastion") && !n.startsWith(T.bastion)).sort());
  });

  it("admits SSH into the bastion from the admins' ranges only, on port 22, and lets it out to SSH in the VPC and the test listeners", async () => {
    const sg = await promiseOf(stack.bastion!.securityGroupId);
    const into = regs.filter((r) => r.type === T.ingress && r.inputs.securityGroupId === sg);
    expect(into.map((r) => [r.name, r.inputs.ipProtocol, r.inputs.fromPort, r.inputs.toPort, r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.referencedSecurityGroupId])).toEqual([
      ["web-bastion-ssh-0", "tcp", 22, 22, "203.0.113.7/32"],
      ["web-bastion-ssh-1", "tcp", 22, 22, "198.51.100.0/24"],
    ]);
    const out = regs.filter((r) => r.type === T.egress && r.inputs.securityGroupId === sg);
    expect(out.map((r) => [r.name, r.inputs.fromPort, r.inputs.cidrIpv4])).toEqual([
      ["web-bastion-egress-ssh", 22, "10.0.0.0/16"],
      ["web-bastion-egress-8081", 8081, "0.0.0.0/0"],
      ["web-bastion-egress-8082", 8082, "0.0.0.0/0"],
    ]);
    expect(find(T.sg, "web-bastion").inputs.ingress).toBeUndefined();
  });

  it("lets SSH into the hosts only from the bastion's group, the app port only from the load balancer, the test listeners from the admins and the bastion's address", async () => {
    const hostsSg = await promiseOf(stack.securityGroups.hostsSecurityGroupId);
    const lbSg = await promiseOf(stack.securityGroups.loadBalancerSecurityGroupId);
    const bastionSg = await promiseOf(stack.bastion!.securityGroupId);
    const bastionIp = await promiseOf(stack.bastion!.publicIp);
    const intoHosts = regs.filter((r) => r.type === T.ingress && r.inputs.securityGroupId === hostsSg);
    expect(intoHosts.map((r) => [r.name, r.inputs.fromPort, r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId])).toEqual([
      ["web-sg-hosts-ssh-bastion", 22, bastionSg],
      ["web-sg-hosts-app", 8080, lbSg],
    ]);
    const test8081 = regs.filter((r) => r.type === T.ingress && r.inputs.securityGroupId === lbSg && r.inputs.fromPort === 8081);
    expect(test8081.map((r) => [r.name, r.inputs.cidrIpv4])).toEqual([
      ["web-sg-lb-test-8081-0", "203.0.113.7/32"],
      ["web-sg-lb-test-8081-1", "198.51.100.0/24"],
      ["web-sg-lb-test-8081-bastion", `${bastionIp}/32`],
    ]);
  });

  it("puts the hosts in the private subnets without public addresses, and the bastion in a public subnet with one, booted like a host", async () => {
    const privateIds = await Promise.all(stack.network.privateSubnetIds.map((o) => promiseOf(o)));
    const publicIds = await Promise.all(stack.network.publicSubnetIds.map((o) => promiseOf(o)));
    for (const name of ["web-blue-0", "web-green-0"]) {
      const host = find(T.instance, name);
      expect([host.inputs.subnetId, host.inputs.associatePublicIpAddress]).toEqual([privateIds[0], false]);
    }
    const bastion = find(T.instance, "web-bastion");
    expect([bastion.inputs.subnetId, bastion.inputs.associatePublicIpAddress, bastion.inputs.instanceType, bastion.inputs.ami]).toEqual([
      publicIds[0],
      true,
      "t3.nano",
      "ami-0d3b1a2c4e5f60718",
    ]);
    expect(bastion.inputs.vpcSecurityGroupIds).toEqual([await promiseOf(stack.bastion!.securityGroupId)]);
    expect(bastion.inputs.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" });
    expect(bastion.replaceOnChanges).toEqual(["userData", "ami"]);
    // The hosts' cloud-init: the pinned host key installed, no other generated, both keys authorized, sshd hardened.
    expect(isSecret(bastion.inputs.userData)).toBe(true);
    const userData = String(reveal(bastion.inputs.userData));
    const hostKey = find(T.hostKey, "web-bastion-hostkey");
    expect(hostKey.parent).toBe(`${T.bastion}::web-bastion`);
    expect(hostKey.additionalSecretOutputs).toEqual(["privateKey"]);
    for (const line of ["ssh_deletekeys: true", "ssh_genkeytypes: []", "ssh_pwauth: false", "PermitRootLogin no", "PasswordAuthentication no", "-----BEGIN OPENSSH PRIVATE KEY-----"]) {
      expect(userData).toContain(line);
    }
    expect(userData).toContain(JSON.stringify(ADMIN_KEY));
    expect(userData).toContain(JSON.stringify(await promiseOf(stack.deployKey.publicKey)));
    expect(calls.filter((c) => c === "aws:ec2/getAmi:getAmi").length).toBeGreaterThan(0);
  });

  it("provisions each host at its private address through the bastion (its address and pinned key), the deploy key only inside the secret connection", async () => {
    const bastionIp = await promiseOf(stack.bastion!.publicIp);
    const bastionKey = await promiseOf(stack.bastion!.hostKeyFingerprint);
    const deployKey = await promiseOf(stack.deployKey.privateKey);
    for (const [slot, fleet] of [["blue", stack.fleets.blue], ["green", stack.fleets.green]] as const) {
      const p = find(T.provisionedDyn, `web-${slot}-0`);
      expect(isSecret(p.inputs.connection)).toBe(true);
      expect(reveal(p.inputs.connection)).toEqual({
        name: `test-${slot}-0`,
        address: await promiseOf(fleet.privateIps[0]!),
        port: 22,
        user: "admin",
        hostKeyFingerprint: await promiseOf(fleet.hostKeyFingerprints[0]!),
        privateKey: deployKey,
        jump: { name: "test-bastion", address: bastionIp, port: 22, user: "admin", hostKeyFingerprint: bastionKey, privateKey: deployKey },
      });
    }
    // Provisioning starts only once the way in (bastion, its rules, the hosts' SSH rule) and out (NAT routes) exists.
    for (const dep of [
      `${T.instance}::web-bastion`,
      `${T.ingress}::web-bastion-ssh-0`,
      `${T.egress}::web-bastion-egress-ssh`,
      `${T.ingress}::web-sg-hosts-ssh-bastion`,
      "aws:ec2/route:Route::web-net-private-0-nat",
      "aws:ec2/route:Route::web-net-private-1-nat",
    ]) {
      expect(find(T.provisionedDyn, "web-blue-0").dependencies).toContain(dep);
    }
    expect(find(T.instance, "web-bastion").dependencies).toEqual(expect.arrayContaining([`${T.ingress}::web-bastion-ssh-0`, `${T.ingress}::web-bastion-ssh-1`, `${T.egress}::web-bastion-egress-8082`]));
    // Nothing stored in clear holds a private key.
    const clear = (v: unknown): unknown =>
      isSecret(v) ? "[secret]" : Array.isArray(v) ? v.map(clear) : typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== "__provider").map(([k, x]) => [k, clear(x)])) : v;
    expect(JSON.stringify(regs.map((r) => clear(r.inputs)))).not.toMatch(/PRIVATE KEY/);
  });

  it("gates each slot from the bastion (its key as a secret), and says where to reach it in the outputs, hosts by private address", async () => {
    const bastionIp = await promiseOf(stack.bastion!.publicIp);
    const bastionKey = await promiseOf(stack.bastion!.hostKeyFingerprint);
    for (const gate of ofType(T.gateDyn)) {
      expect(isSecret(gate.inputs.jump)).toBe(true);
      const jump = reveal(gate.inputs.jump) as Record<string, unknown>;
      expect({ ...jump, privateKey: String(jump.privateKey).slice(0, 35) }).toEqual({
        name: "test-bastion",
        address: bastionIp,
        port: 22,
        user: "admin",
        hostKeyFingerprint: bastionKey,
        privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----",
      });
      expect(gate.additionalSecretOutputs).toEqual(["jump"]);
    }
    expect(ofType(T.gateDyn).map((g) => g.name).sort()).toEqual(["web-lb-gate-blue", "web-lb-gate-green"]);
    expect({ address: await promiseOf(stack.outputs.bastion!.address), key: await promiseOf(stack.outputs.bastion!.hostKeyFingerprint) }).toEqual({ address: bastionIp, key: bastionKey });
    expect(await promiseOf(stack.outputs.hostAddresses.blue[0]!)).toBe(await promiseOf(stack.fleets.blue.privateIps[0]!));
  });

  it("takes the bastion's instance type from the file", async () => {
    await build(environment({ instanceType: "t3.micro" }));
    expect(find(T.instance, "web-bastion").inputs.instanceType).toBe("t3.micro");
  });
});

describe("the web stack without aws.bastion", () => {
  it("declares no bastion, no private subnet, no jump: hosts public and reached directly (see web-stack.test.ts for every name)", async () => {
    const { stack, regs } = await build(environment(false));
    expect(regs.filter((r) => /bastion|private|nat/.test(r.name)).map((r) => r.name)).toEqual([]);
    expect(stack.outputs.bastion).toBeNull();
    expect(find(T.instance, "web-blue-0").inputs.associatePublicIpAddress).toBe(true);
    const connection = reveal(find(T.provisionedDyn, "web-blue-0").inputs.connection) as Record<string, unknown>;
    expect(connection.jump).toBeUndefined();
    expect(connection.address).toBe(await promiseOf(stack.fleets.blue.publicIps[0]!));
    expect(find(T.gateDyn, "web-lb-gate-blue").inputs.jump).toBeUndefined();
  });
});

describe("Bastion arguments", () => {
  const ok = { environment: "prod", adminCidrs: ["203.0.113.7/32"], authorizedKeys: [ADMIN_KEY], forwardPorts: [8081] };
  it.each<[string, Parameters<typeof bastionProblems>[0], string[]]>([
    ["valid", ok, []],
    [
      "every problem at once",
      { environment: "Prod", adminCidrs: ["0.0.0.0/0", "nope"], authorizedKeys: [], forwardPorts: [0, 70000] },
      [
        'environment: must be lower-case letters, digits and \'-\', got "Prod"',
        "adminCidrs[0]: 0.0.0.0/0 would open SSH to the whole internet",
        'adminCidrs[1]: "nope" is not a CIDR',
        "authorizedKeys: must list at least one public key",
        "forwardPorts[0]: 0 is not a port (1-65535)",
        "forwardPorts[1]: 70000 is not a port (1-65535)",
      ],
    ],
    ["no admins", { ...ok, adminCidrs: [] }, ["adminCidrs: must list at least one address range (SSH is never open to the world)"]],
  ])("%s", (_what, args, expected) => {
    expect(bastionProblems(args)).toEqual(expected);
  });

  it("a refused bastion declares nothing, not even the component", () => {
    resetRegistrations();
    expect(() => new Bastion("b", { ...ok, adminCidrs: ["::/0"], vpcId: "vpc-1", vpcCidr: "10.0.0.0/16", subnetId: "subnet-1" })).toThrow(
      "Bastion b: adminCidrs[0]: ::/0 would open SSH to the whole internet",
    );
    expect(registrations).toEqual([]);
  });
});
