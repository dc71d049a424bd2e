// Mocks: does not prove that AWS accepts these resources, that cloud-init boots the hosts, or that the dynamic providers run against real hosts.
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import.
import { calls, find, isSecret, ofType, promiseOf, registrations, resetRegistrations, reveal, settle, type Registration } from "./harness";
import * as stackModule from "../../../stacks/web/web-stack";
import * as configModule from "../../../config/web-stack";
import { DEFAULT_APPLY_HOST_ENTRY as entryPath } from "../../../modules/provisioned-host";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

/** A 2 x 2 environment (two hosts per slot), blue live, as a user would write it. */
function rawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sshPublicKey: ADMIN_KEY,
    adminCidrs: ["203.0.113.7/32"],
    slots: { blue: { image: "registry.example.com/shop:1.0.0", size: 2 }, green: { image: "registry.example.com/shop:1.1.0", size: 2 } },
    liveSlot: "blue",
    app: { name: "shop", port: 8080, healthPath: "/healthz", env: { LOG_LEVEL: "info" } },
    ...overrides,
  };
}

/** The fake provisioner entry: a hash of exactly what it is given. */
const fakeEntry = {
  planHostHash: (input: unknown) => createHash("sha256").update(JSON.stringify(input)).digest("hex"),
};

/** Builds the stack under mocks and returns what was registered. */
async function buildAndRecord(raw: Record<string, unknown>) {
  resetRegistrations();
  const config = configModule.parseWebStackConfig(raw, { stack: "test" });
  const stack = stackModule.buildWebStack(config, { loadEntry: () => fakeEntry });
  await settle();
  return { stack, regs: [...registrations] };
}

const key = (r: Registration) => `${r.type}::${r.name}`;
function byKey(regs: Registration[]): Map<string, Registration> {
  const m = new Map<string, Registration>();
  for (const r of regs) {
    expect(m.has(key(r)), `${key(r)} registered twice`).toBe(false);
    m.set(key(r), r);
  }
  return m;
}
/** Keys of resources whose inputs differ between two builds (same resource set required). */
function changedInputs(a: Registration[], b: Registration[]): string[] {
  const ma = byKey(a);
  const mb = byKey(b);
  expect([...mb.keys()].sort()).toEqual([...ma.keys()].sort());
  return [...ma.keys()].filter((k) => JSON.stringify(ma.get(k)!.inputs) !== JSON.stringify(mb.get(k)!.inputs)).sort();
}

const T = {
  network: "longshore:network:Network",
  vpc: "aws:ec2/vpc:Vpc",
  igw: "aws:ec2/internetGateway:InternetGateway",
  subnet: "aws:ec2/subnet:Subnet",
  routeTable: "aws:ec2/routeTable:RouteTable",
  route: "aws:ec2/route:Route",
  rta: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  sgs: "longshore:network:WebSecurityGroups",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  deployKey: "pulumi-nodejs:dynamic/longshore:DeployKey",
  fleet: "longshore:compute:HostFleet",
  hostKey: "pulumi-nodejs:dynamic/longshore:HostKey",
  instance: "aws:ec2/instance:Instance",
  provisioned: "longshore:provision:ProvisionedHost",
  provisionedDyn: "pulumi-nodejs:dynamic/longshore:ProvisionedHost",
  lbc: "longshore:lb:BlueGreenLoadBalancer",
  lb: "aws:lb/loadBalancer:LoadBalancer",
  tg: "aws:lb/targetGroup:TargetGroup",
  tga: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  listener: "aws:lb/listener:Listener",
  gate: "longshore:rollout:HealthGate",
  gateDyn: "pulumi-nodejs:dynamic/longshore:HealthGate",
};

describe("the web stack, 2 x 2 hosts", () => {
  let regs: Registration[];
  let stack: stackModule.WebStack;
  beforeAll(async () => {
    ({ regs, stack } = await buildAndRecord(rawConfig()));
  });

  it("declares exactly these resources, names and parents", () => {
    const net = `${T.network}::web-net`;
    const sgs = `${T.sgs}::web-sg`;
    const lbc = `${T.lbc}::web-lb`;
    const expected: Array<[string, string, string | null]> = [
      [T.network, "web-net", null],
      [T.vpc, "web-net", net],
      [T.igw, "web-net", net],
      [T.routeTable, "web-net-public", net],
      [T.route, "web-net-public-internet", net],
      [T.subnet, "web-net-public-0", net],
      [T.subnet, "web-net-public-1", net],
      [T.rta, "web-net-public-0", net],
      [T.rta, "web-net-public-1", net],
      [T.sgs, "web-sg", null],
      [T.sg, "web-sg-lb", sgs],
      [T.sg, "web-sg-hosts", sgs],
      [T.ingress, "web-sg-lb-public-80", sgs],
      [T.ingress, "web-sg-lb-test-8081-0", sgs],
      [T.ingress, "web-sg-lb-test-8082-0", sgs],
      [T.egress, "web-sg-lb-to-hosts", sgs],
      [T.ingress, "web-sg-hosts-ssh-0", sgs],
      [T.ingress, "web-sg-hosts-app", sgs],
      [T.egress, "web-sg-hosts-egress-80", sgs],
      [T.egress, "web-sg-hosts-egress-443", sgs],
      [T.deployKey, "web-deploy", null],
      ...(["blue", "green"] as const).flatMap((slot): Array<[string, string, string | null]> => [
        [T.fleet, `web-${slot}`, null],
        [T.hostKey, `web-${slot}-hostkey-0`, `${T.fleet}::web-${slot}`],
        [T.hostKey, `web-${slot}-hostkey-1`, `${T.fleet}::web-${slot}`],
        [T.instance, `web-${slot}-0`, `${T.fleet}::web-${slot}`],
        [T.instance, `web-${slot}-1`, `${T.fleet}::web-${slot}`],
        [T.provisioned, `web-${slot}-0`, null],
        [T.provisionedDyn, `web-${slot}-0`, `${T.provisioned}::web-${slot}-0`],
        [T.provisioned, `web-${slot}-1`, null],
        [T.provisionedDyn, `web-${slot}-1`, `${T.provisioned}::web-${slot}-1`],
        [T.tg, `web-lb-${slot}`, lbc],
        [T.tga, `web-lb-${slot}-0`, lbc],
        [T.tga, `web-lb-${slot}-1`, lbc],
        [T.listener, `web-lb-test-${slot}`, lbc],
        [T.gate, `web-lb-gate-${slot}`, lbc],
        [T.gateDyn, `web-lb-gate-${slot}`, `${T.gate}::web-lb-gate-${slot}`],
      ]),
      [T.lbc, "web-lb", null],
      [T.lb, "web-lb", lbc],
      [T.listener, "web-lb-http", lbc],
    ];
    const actual = regs.map((r) => [r.type, r.name, r.parent] as [string, string, string | null]);
    const sort = (xs: Array<[string, string, string | null]>) => [...xs].sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`));
    expect(sort(actual)).toEqual(sort(expected));
    expect(actual).toHaveLength(54);
    // One AMI lookup per slot with hosts, one zone lookup.
    expect(calls.filter((c) => c === "aws:ec2/getAmi:getAmi")).toHaveLength(2);
    expect(calls.filter((c) => c === "aws:index/getAvailabilityZones:getAvailabilityZones")).toHaveLength(1);
  });

  it("never opens SSH to the world: no ingress rule covering port 22 has a /0 source", () => {
    const sshRules = ofType(T.ingress).filter((r) => Number(r.inputs.fromPort) <= 22 && Number(r.inputs.toPort) >= 22);
    expect(sshRules.map((r) => r.name)).toEqual(["web-sg-hosts-ssh-0"]);
    for (const r of ofType(T.ingress)) {
      const open = r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0";
      if (Number(r.inputs.fromPort) <= 22 && Number(r.inputs.toPort) >= 22) expect(open).toBe(false);
    }
    expect(sshRules[0]!.inputs.cidrIpv4).toBe("203.0.113.7/32");
    // Groups carry no inline rules that could bypass the check.
    for (const g of ofType(T.sg)) {
      expect(g.inputs.ingress).toBeUndefined();
      expect(g.inputs.egress).toBeUndefined();
    }
  });

  it("lets the app port in only from the load balancer's group, and the world only onto the load balancer", async () => {
    const hostsSg = await promiseOf(stack.securityGroups.hostsSecurityGroupId);
    const lbSg = await promiseOf(stack.securityGroups.loadBalancerSecurityGroupId);
    const intoHosts = ofType(T.ingress).filter((r) => r.inputs.securityGroupId === hostsSg);
    expect(intoHosts.map((r) => [r.name, r.inputs.fromPort, r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId]).sort()).toEqual([
      ["web-sg-hosts-app", 8080, lbSg],
      ["web-sg-hosts-ssh-0", 22, "203.0.113.7/32"],
    ]);
    const world = ofType(T.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0");
    expect(world.map((r) => [r.name, r.inputs.securityGroupId, r.inputs.fromPort])).toEqual([["web-sg-lb-public-80", lbSg, 80]]);
    const lbEgress = ofType(T.egress).filter((r) => r.inputs.securityGroupId === lbSg);
    expect(lbEgress.map((r) => [r.inputs.fromPort, r.inputs.referencedSecurityGroupId])).toEqual([[8080, hostsSg]]);
  });

  it("requires IMDSv2 and encrypts the root volume of every instance, in the slot's subnets round-robin", async () => {
    const instances = ofType(T.instance);
    expect(instances).toHaveLength(4);
    const subnets = await Promise.all(stack.network.publicSubnetIds.map((s) => promiseOf(s)));
    for (const i of instances) {
      expect(i.inputs.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" });
      expect(i.inputs.rootBlockDevice).toMatchObject({ encrypted: true, volumeType: "gp3", volumeSize: 16, deleteOnTermination: true });
      expect(i.inputs.ami).toBe("ami-0d3b1a2c4e5f60718");
      expect(i.inputs.instanceType).toBe("t3.small");
      expect(i.inputs.subnetId).toBe(subnets[Number(i.name.split("-").pop()) % 2]);
    }
    expect(find(T.instance, "web-green-1").inputs.tags).toEqual({
      "longshore:environment": "test",
      Name: "test-green-1",
      "longshore:slot": "green",
      "longshore:image": "registry.example.com/shop:1.1.0",
    });
  });

  it("keeps every private key secret: in user data, in provisioning inputs, never in outputs", async () => {
    for (const i of ofType(T.instance)) {
      expect(isSecret(i.inputs.userData)).toBe(true);
      expect(String(reveal(i.inputs.userData))).toContain("-----BEGIN OPENSSH PRIVATE KEY-----");
    }
    for (const k of [...ofType(T.hostKey), ...ofType(T.deployKey)]) expect(k.additionalSecretOutputs).toEqual(["privateKey"]);
    for (const p of ofType(T.provisionedDyn)) {
      expect(isSecret(p.inputs.connection)).toBe(true);
      expect(isSecret(p.inputs.app)).toBe(true);
      expect(p.additionalSecretOutputs).toEqual(["connection", "app"]);
    }
    const outputs = stack.outputs;
    const resolved = {
      dns: await promiseOf(outputs.loadBalancerDnsName),
      fingerprints: await Promise.all([...outputs.hostKeyFingerprints.blue, ...outputs.hostKeyFingerprints.green].map((o) => promiseOf(o))),
      addresses: await Promise.all([...outputs.hostAddresses.blue, ...outputs.hostAddresses.green].map((o) => promiseOf(o))),
      deployPublicKey: await promiseOf(outputs.deployPublicKey),
      other: [outputs.liveSlot, outputs.hostNames, outputs.sshUser],
    };
    expect(JSON.stringify(resolved)).not.toMatch(/PRIVATE KEY/);
    expect(resolved.fingerprints.every((f) => /^SHA256:[A-Za-z0-9+/]{43}$/.test(f))).toBe(true);
    expect(outputs.hostNames).toEqual({ blue: ["test-blue-0", "test-blue-1"], green: ["test-green-0", "test-green-1"] });
    expect(outputs.liveSlot).toBe("blue");
  });

  it("provisions each host with its pinned host key, the deploy key and the slot's plan hash", async () => {
    const p = find(T.provisionedDyn, "web-green-1");
    const connection = reveal(p.inputs.connection) as Record<string, unknown>;
    const fingerprint = await promiseOf(stack.fleets.green.hostKeyFingerprints[1]!);
    expect({ ...connection, privateKey: "(checked below)" }).toEqual({
      name: "test-green-1",
      address: await promiseOf(stack.fleets.green.publicIps[1]!),
      port: 22,
      user: "admin",
      hostKeyFingerprint: fingerprint,
      privateKey: "(checked below)",
    });
    expect(connection.privateKey).toBe(reveal(await promiseOf(stack.deployKey.privateKey)));
    const app = stackModule.appSpecFor(configModule.parseWebStackConfig(rawConfig(), { stack: "test" }), "green");
    expect(reveal(p.inputs.app)).toEqual(app);
    expect(p.inputs.planHash).toBe(fakeEntry.planHostHash({ slot: "green", app, engine: {} }));
    expect(p.dependencies).toEqual(expect.arrayContaining([`${T.instance}::web-green-1`, `${T.hostKey}::web-green-hostkey-1`, `${T.deployKey}::web-deploy`]));
  });

  it("switches traffic only after the live slot's gate, and gates a slot only after its hosts are provisioned", () => {
    const listener = find(T.listener, "web-lb-http");
    expect(listener.dependencies).toContain(`${T.gateDyn}::web-lb-gate-blue`);
    expect(listener.dependencies.some((d) => d.includes("gate-green"))).toBe(false);
    const gate = find(T.gateDyn, "web-lb-gate-green");
    expect(gate.dependencies).toEqual(
      expect.arrayContaining([
        `${T.listener}::web-lb-test-green`,
        `${T.tga}::web-lb-green-0`,
        `${T.tga}::web-lb-green-1`,
        `${T.provisionedDyn}::web-green-0`,
        `${T.provisionedDyn}::web-green-1`,
      ]),
    );
    expect(gate.dependencies.some((d) => d.includes("blue"))).toBe(false);
    expect(gate.inputs.targets).toEqual([
      { name: "web-lb green slot (test listener :8082)", url: "http://web-lb-1234567890.eu-west-1.elb.amazonaws.com:8082/healthz" },
    ]);
  });

  it("serialises the dynamic providers into small closures that require the provisioner at call time", () => {
    const provisioner = String(find(T.provisionedDyn, "web-blue-0").inputs.__provider);
    expect(provisioner).toContain("require(entryPath)");
    expect(provisioner).toContain(JSON.stringify(entryPath));
    expect(provisioner).not.toMatch(/zod|ssh2|ZodType/);
    expect(provisioner.length).toBeLessThan(12_000);
    const gate = String(find(T.gateDyn, "web-lb-gate-blue").inputs.__provider);
    expect(gate).toContain('require("node:http")');
    expect(gate.length).toBeLessThan(20_000);
    const hostKey = String(find(T.hostKey, "web-blue-hostkey-0").inputs.__provider);
    expect(hostKey).toContain("openssh-key-v1");
    expect(hostKey.length).toBeLessThan(20_000);
    // One provider text per kind, shared by every resource of that kind.
    expect(new Set(ofType(T.provisionedDyn).map((r) => r.inputs.__provider)).size).toBe(1);
  });
});

describe("changes between two runs", () => {
  it("switching the live slot changes only the traffic listener's default action", async () => {
    const before = (await buildAndRecord(rawConfig({ liveSlot: "blue" }))).regs;
    const after = (await buildAndRecord(rawConfig({ liveSlot: "green" }))).regs;
    expect(changedInputs(before, after)).toEqual([`${T.listener}::web-lb-http`]);
    const a = byKey(before).get(`${T.listener}::web-lb-http`)!;
    const b = byKey(after).get(`${T.listener}::web-lb-http`)!;
    const { defaultActions: da, ...restA } = a.inputs;
    const { defaultActions: db, ...restB } = b.inputs;
    expect(restA).toEqual(restB);
    expect(da).toEqual([{ type: "forward", targetGroupArn: "arn:aws:mock:eu-west-1:123456789012:TargetGroup/web-lb-blue" }]);
    expect(db).toEqual([{ type: "forward", targetGroupArn: "arn:aws:mock:eu-west-1:123456789012:TargetGroup/web-lb-green" }]);
    expect(b.dependencies).toContain(`${T.gateDyn}::web-lb-gate-green`);
  });

  it("a new image for one slot changes only that slot's host keys, instances (replaced) and provisioning", async () => {
    const before = (await buildAndRecord(rawConfig())).regs;
    const raw = rawConfig();
    (raw.slots as Record<string, Record<string, unknown>>).green!.image = "registry.example.com/shop:1.2.0";
    const after = (await buildAndRecord(raw)).regs;
    expect(changedInputs(before, after)).toEqual([
      `${T.instance}::web-green-0`,
      `${T.instance}::web-green-1`,
      `${T.hostKey}::web-green-hostkey-0`,
      `${T.hostKey}::web-green-hostkey-1`,
      `${T.provisionedDyn}::web-green-0`,
      `${T.provisionedDyn}::web-green-1`,
    ]);
    const old = byKey(before);
    for (const r of after.filter((x) => x.type === T.instance && x.name.startsWith("web-green"))) {
      const prev = old.get(key(r))!;
      const differing = Object.keys(r.inputs).filter((k) => JSON.stringify(r.inputs[k]) !== JSON.stringify(prev.inputs[k]));
      expect(differing.sort()).toEqual(["tags", "userData"]);
      expect(String(reveal(r.inputs.userData))).toContain("registry.example.com/shop:1.2.0");
      expect(r.inputs.userDataReplaceOnChange).toBe(true);
      expect(r.replaceOnChanges).toEqual(["userData"]);
      expect(r.deleteBeforeReplace).toBe(false);
    }
  });

  it("retiring a slot removes its hosts, attachments, provisioning and gate, and nothing of the other slot changes", async () => {
    const before = (await buildAndRecord(rawConfig())).regs;
    const raw = rawConfig();
    (raw.slots as Record<string, Record<string, unknown>>).green!.size = "0";
    const after = (await buildAndRecord(raw)).regs;
    const gone = [...byKey(before).keys()].filter((k) => !byKey(after).has(k)).sort();
    expect(gone).toEqual(
      [
        `${T.hostKey}::web-green-hostkey-0`,
        `${T.hostKey}::web-green-hostkey-1`,
        `${T.instance}::web-green-0`,
        `${T.instance}::web-green-1`,
        `${T.provisioned}::web-green-0`,
        `${T.provisioned}::web-green-1`,
        `${T.provisionedDyn}::web-green-0`,
        `${T.provisionedDyn}::web-green-1`,
        `${T.tga}::web-lb-green-0`,
        `${T.tga}::web-lb-green-1`,
        `${T.gate}::web-lb-gate-green`,
        `${T.gateDyn}::web-lb-gate-green`,
      ].sort(),
    );
    const kept = after.filter((r) => byKey(before).has(key(r)));
    const changed = kept.filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(byKey(before).get(key(r))!.inputs)).map(key);
    expect(changed).toEqual([]);
  });

  it("without provisioning, declares hosts but no ProvisionedHost and never loads the provisioner", async () => {
    resetRegistrations();
    const config = configModule.parseWebStackConfig(rawConfig({ provision: false }), { stack: "test" });
    stackModule.buildWebStack(config, {
      loadEntry: () => {
        throw new Error("must not be loaded");
      },
    });
    await settle();
    expect(ofType(T.provisioned)).toEqual([]);
    expect(ofType(T.instance)).toHaveLength(4);
    expect(find(T.gateDyn, "web-lb-gate-blue").dependencies.filter((d) => d.includes("ProvisionedHost"))).toEqual([]);
  });
});

describe("the program's pure helpers", () => {
  it("finds secret config keys through the SDK's own record of them", async () => {
    const pulumi = await import("@pulumi/pulumi");
    const all = { "web:registry": '{"server":"r.example","username":"u","password":"p"}', "web:liveSlot": "blue", "aws:region": "eu-west-1" };
    pulumi.runtime.setAllConfig(all, ["web:registry"]);
    expect(stackModule.configSecretKeys(pulumi.runtime.allConfig(), "web")).toEqual(["registry"]);
  });

  it.each([
    ["registry.example.com:5000/team/shop:1.4.2", "1.4.2"],
    ["shop", "latest"],
    [`shop@sha256:${"ab".repeat(32)}`, "sha256-abababababab"],
    [`shop:1.0@sha256:${"cd".repeat(32)}`, "1.0"],
    ["localhost:5000/shop", "latest"],
  ])("imageVersion(%s) = %s", (image, version) => {
    expect(stackModule.imageVersion(image)).toBe(version);
  });

  it("builds the app spec with secrets revealed only into it, and passes set engine keys through", () => {
    const config = configModule.parseWebStackConfig(
      rawConfig({
        app: { name: "shop", port: 8080, hostPort: 80, healthPath: "/ready", env: { A: 1 }, secrets: { DB: "pw-1234" } },
        registry: { server: "registry.example.com", username: "deploy", password: "hunter2-long" },
        engine: { channel: "distro", daemon: { "log-driver": "journald" } },
      }),
      { stack: "test", secretKeys: ["app", "registry"] },
    );
    expect(stackModule.appSpecFor(config, "blue")).toEqual({
      name: "shop",
      image: "registry.example.com/shop:1.0.0",
      version: "1.0.0",
      containerPort: 8080,
      hostPort: 80,
      env: { A: "1" },
      secrets: { DB: "pw-1234" },
      health: { path: "/ready" },
      registry: { server: "registry.example.com", username: "deploy", password: "hunter2-long" },
      slot: "blue",
    });
    expect(stackModule.engineOptionsFor(config)).toEqual({ channel: "distro", daemon: { "log-driver": "journald" } });
    expect(stackModule.engineOptionsFor(configModule.parseWebStackConfig(rawConfig(), { stack: "test" }))).toEqual({});
  });
});
