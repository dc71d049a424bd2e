// Mocks: does not prove that AWS accepts these resources, that cloud-init boots the hosts, or that the dynamic providers run against real hosts.
import { beforeAll, describe, expect, it } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import of the code under test.
import { callInputs, calls, find, isSecret, ofType, promiseOf, registrations, resetRegistrations, reveal, settle, type Registration } from "./harness";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { Sensitive } from "../../../core/sensitive";
import { parseEnvironment } from "../../../model/environment-file";
import { applyHostSchema, type HostPlanInput } from "../../../model/host-plan";
import { healthGateProvider } from "../../../modules/health-gate";
import { DEFAULT_APPLY_HOST_ENTRY as entryPath, provisionChanges, type ProvisionedHostInputs, type ProvisionedHostOutputs } from "../../../modules/provisioned-host";
import { buildWebStack, hostPlanFor, type AwsEnvironment, type WebSecrets, type WebStack } from "../../../stacks/web/web-stack";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const IMAGE_BLUE = "registry.example.com/shop:1.0.0";
const IMAGE_GREEN = "registry.example.com/shop:1.1.0";

/** A 2 x 2 environment file (two hosts per slot), blue live, as a user would write it. */
function rawEnvironment(): Record<string, any> {
  return {
    name: "test",
    driver: "aws",
    app: {
      name: "shop",
      image: IMAGE_BLUE,
      port: 8080,
      env: { LOG_LEVEL: "info" },
      health: { path: "/healthz", intervalSeconds: 10, timeoutSeconds: 5 },
    },
    slots: { blue: { image: IMAGE_BLUE, size: 2 }, green: { image: IMAGE_GREEN, size: 2 } },
    live: "blue",
    rollout: { healthDeadlineSeconds: 300, drainSeconds: 60 },
    aws: { sshPublicKey: ADMIN_KEY, adminCidrs: ["203.0.113.7/32"] },
  };
}

/** Parses an environment file's text the way the program does; a bad one fails the test with its problems. */
function parseText(text: string, file = "longshore.yaml", baseDir?: string): AwsEnvironment {
  const r = parseEnvironment(text, file, baseDir);
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return r.value as AwsEnvironment;
}

/** The 2 x 2 environment, changed by `edit`, written as YAML and parsed. */
function environment(edit: (raw: Record<string, any>) => void = () => {}): AwsEnvironment {
  const raw = rawEnvironment();
  edit(raw);
  return parseText(stringify(raw));
}

const NO_SECRETS: WebSecrets = { app: {}, registryPassword: null };
const hashOf = (input: unknown) => createHash("sha256").update(JSON.stringify(input)).digest("hex");

/** Builds the stack under mocks; the fake entry hashes exactly what it is given and records it. */
async function buildAndRecord(env: AwsEnvironment, secrets: WebSecrets = NO_SECRETS) {
  resetRegistrations();
  const callsBefore = calls.length;
  const hashed: HostPlanInput[] = [];
  const stack = buildWebStack(env, secrets, {
    loadEntry: () => ({
      planHostHash: (input) => {
        hashed.push(input);
        return hashOf(input);
      },
    }),
  });
  await settle();
  return { stack, regs: [...registrations], hashed, calls: calls.slice(callsBefore) };
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

/** What Pulumi would store in clear: every secret replaced by a marker (provider code left out: it is code, not values). */
function publicPart(v: unknown): unknown {
  if (isSecret(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(publicPart);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "__provider").map(([k, x]) => [k, publicPart(x)]));
  return v;
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
  lock: "longshore:lock:OperationLockBucket",
  bucket: "aws:s3/bucket:Bucket",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  gateDyn: "pulumi-nodejs:dynamic/longshore:HealthGate",
};

/** The app as the provider gets it, in the model's input form (what `resolvedAppSchema` parses). */
function appInput(image: string, secrets: Record<string, unknown> = {}) {
  return {
    name: "shop",
    image,
    port: 8080,
    env: { LOG_LEVEL: "info" },
    secrets,
    volumes: [],
    resources: {},
    health: { path: "/healthz", status: 200, intervalSeconds: 10, timeoutSeconds: 5, healthyRounds: 2 },
    stopTimeoutSeconds: 10,
    restart: "unless-stopped",
    init: false,
  };
}

/** `engine:` with every default filled in (the file says nothing about the engine). */
const DEFAULT_ENGINE = {
  channel: "bundle",
  bundle: "debian-bookworm",
  daemon: { "live-restore": true, "log-driver": "json-file", "log-opts": { "max-file": "3", "max-size": "10m" }, "storage-driver": "overlay2", "userland-proxy": false },
};

describe("the web stack, 2 x 2 hosts", () => {
  let regs: Registration[];
  let stack: WebStack;
  let hashed: HostPlanInput[];
  let lookups: string[];
  beforeAll(async () => {
    ({ regs, stack, hashed, calls: lookups } = await buildAndRecord(environment()));
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
      [T.lock, "web-lock", null],
      [T.bucket, "web-lock", `${T.lock}::web-lock`],
      [T.publicAccess, "web-lock-public-access", `${T.lock}::web-lock`],
    ];
    const actual = regs.map((r) => [r.type, r.name, r.parent] as [string, string, string | null]);
    const sort = (xs: Array<[string, string, string | null]>) => [...xs].sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`));
    expect(sort(actual)).toEqual(sort(expected));
    expect(actual).toHaveLength(57);
    // One AMI lookup per slot with hosts, one zone lookup.
    expect(lookups.filter((c) => c === "aws:ec2/getAmi:getAmi")).toHaveLength(2);
    expect(lookups.filter((c) => c === "aws:index/getAvailabilityZones:getAvailabilityZones")).toHaveLength(1);
  });

  it("creates the operation lock's bucket: private, emptied on destroy, tagged, its name the lockBucket output", async () => {
    const bucket = find(T.bucket, "web-lock");
    expect(bucket.inputs).toEqual({ bucketPrefix: "longshore-lock-", forceDestroy: true, tags: { "longshore:environment": "test" } });
    const name = await promiseOf(stack.outputs.lockBucket);
    expect(name).toMatch(/^longshore-lock-[0-9a-f]{12}$/);
    expect(find(T.publicAccess, "web-lock-public-access").inputs).toEqual({
      bucket: name,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
  });

  it("never opens SSH to the world: no ingress rule covering port 22 has a /0 source", () => {
    const ingress = regs.filter((r) => r.type === T.ingress);
    const sshRules = ingress.filter((r) => Number(r.inputs.fromPort) <= 22 && Number(r.inputs.toPort) >= 22);
    expect(sshRules.map((r) => r.name)).toEqual(["web-sg-hosts-ssh-0"]);
    for (const r of sshRules) expect(r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0").toBe(false);
    expect(sshRules[0]!.inputs.cidrIpv4).toBe("203.0.113.7/32");
    // Groups carry no inline rules that could bypass the check.
    for (const g of regs.filter((r) => r.type === T.sg)) {
      expect(g.inputs.ingress).toBeUndefined();
      expect(g.inputs.egress).toBeUndefined();
    }
  });

  it("lets the app port in only from the load balancer's group, and the world only onto the load balancer", async () => {
    const hostsSg = await promiseOf(stack.securityGroups.hostsSecurityGroupId);
    const lbSg = await promiseOf(stack.securityGroups.loadBalancerSecurityGroupId);
    const ingress = regs.filter((r) => r.type === T.ingress);
    const intoHosts = ingress.filter((r) => r.inputs.securityGroupId === hostsSg);
    expect(intoHosts.map((r) => [r.name, r.inputs.fromPort, r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId]).sort()).toEqual([
      ["web-sg-hosts-app", 8080, lbSg],
      ["web-sg-hosts-ssh-0", 22, "203.0.113.7/32"],
    ]);
    const world = ingress.filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0" || r.inputs.cidrIpv6 === "::/0");
    expect(world.map((r) => [r.name, r.inputs.securityGroupId, r.inputs.fromPort])).toEqual([["web-sg-lb-public-80", lbSg, 80]]);
    const lbEgress = regs.filter((r) => r.type === T.egress && r.inputs.securityGroupId === lbSg);
    expect(lbEgress.map((r) => [r.inputs.fromPort, r.inputs.referencedSecurityGroupId])).toEqual([[8080, hostsSg]]);
  });

  it("requires IMDSv2 and encrypts the root volume of every instance, in the slot's subnets round-robin", async () => {
    const instances = regs.filter((r) => r.type === T.instance);
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
      "longshore:image": IMAGE_GREEN,
    });
  });

  it("takes the target groups' health check from app.health, draining from rollout.drainSeconds and the gate's deadline from rollout.healthDeadlineSeconds", () => {
    for (const slot of ["blue", "green"]) {
      const tg = find(T.tg, `web-lb-${slot}`);
      expect(tg.inputs.healthCheck).toEqual({
        enabled: true,
        protocol: "HTTP",
        port: "traffic-port",
        path: "/healthz",
        matcher: "200",
        interval: 10,
        timeout: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      });
      expect(tg.inputs.deregistrationDelay).toBe(60);
      const { targets: _targets, __provider: _provider, instanceIds, ...gate } = find(T.gateDyn, `web-lb-gate-${slot}`).inputs;
      expect(gate).toEqual({
        matcher: "200",
        deadlineMs: 300_000,
        intervalMs: 5000,
        timeoutMs: 5000,
        consecutiveSuccesses: 2,
      });
      // The slot's instances, as attached to its target group.
      expect(instanceIds).toEqual([0, 1].map((i) => find(T.tga, `web-lb-${slot}-${i}`).inputs.targetId));
      expect(instanceIds).toEqual([expect.stringMatching(/^i-[0-9a-f]{17}$/), expect.stringMatching(/^i-[0-9a-f]{17}$/)]);
    }
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
      // No registry in this environment: no registry input at all.
      expect(p.inputs.registry).toBeUndefined();
      expect(p.additionalSecretOutputs).toEqual(["connection", "app"]);
    }
    expect(JSON.stringify(regs.map((r) => publicPart(r.inputs)))).not.toMatch(/PRIVATE KEY/);
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
    expect(outputs.weights).toBeNull();
    expect(await promiseOf(outputs.url)).toBe("http://web-lb-1234567890.eu-west-1.elb.amazonaws.com/");
  });

  it("provisions each host with its pinned host key, the deploy key, the slot's app in the model's input form and the hash of the slot's plan", async () => {
    const p = find(T.provisionedDyn, "web-green-1");
    expect(Object.keys(p.inputs).sort()).toEqual(["__provider", "app", "connection", "engine", "healthDeadlineSeconds", "planHash", "secretsDigest", "slot"]);
    const connection = reveal(p.inputs.connection) as Record<string, unknown>;
    expect({ ...connection, privateKey: "(checked below)" }).toEqual({
      name: "test-green-1",
      address: await promiseOf(stack.fleets.green.publicIps[1]!),
      port: 22,
      user: "admin",
      hostKeyFingerprint: await promiseOf(stack.fleets.green.hostKeyFingerprints[1]!),
      privateKey: "(checked below)",
    });
    expect(connection.privateKey).toBe(reveal(await promiseOf(stack.deployKey.privateKey)));
    expect(reveal(p.inputs.app)).toEqual(appInput(IMAGE_GREEN));
    expect(p.inputs.slot).toBe("green");
    expect(p.inputs.engine).toEqual(DEFAULT_ENGINE);
    expect(p.inputs.healthDeadlineSeconds).toBe(300);
    // The hash is computed once per slot, from the slot's plan (no connection: the same for every host).
    expect(hashed).toEqual([
      { slot: "blue", app: appInput(IMAGE_BLUE), engine: DEFAULT_ENGINE, healthDeadlineSeconds: 300 },
      { slot: "green", app: appInput(IMAGE_GREEN), engine: DEFAULT_ENGINE, healthDeadlineSeconds: 300 },
    ]);
    expect(p.inputs.planHash).toBe(hashOf(hashed[1]));
    expect(find(T.provisionedDyn, "web-green-0").inputs.planHash).toBe(hashOf(hashed[1]));
    expect(find(T.provisionedDyn, "web-blue-0").inputs.planHash).toBe(hashOf(hashed[0]));
    // What the provider hands the provisioner is exactly its contract (the digest is the provider's own, for its diff).
    const { __provider: _provider, secretsDigest: _digest, ...applyInput } = reveal(p.inputs) as Record<string, unknown>;
    expect(applyHostSchema.safeParse(applyInput).success).toBe(true);
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
    // By the package's export: nothing in the state names a directory of the computer running Pulumi.
    expect(entryPath).toBe("longshore/provisioner/apply-host");
    expect(provisioner).not.toMatch(/zod|ssh2|ZodType/);
    expect(provisioner.length).toBeLessThan(12_000);
    const gate = String(find(T.gateDyn, "web-lb-gate-blue").inputs.__provider);
    expect(gate).toContain('require("node:http")');
    expect(gate.length).toBeLessThan(20_000);
    const hostKey = String(find(T.hostKey, "web-blue-hostkey-0").inputs.__provider);
    expect(hostKey).toContain("openssh-key-v1");
    expect(hostKey.length).toBeLessThan(20_000);
    // What the state stores names no directory of this computer (this checkout, its modules).
    const root = path.resolve(__dirname, "..", "..", "..");
    for (const text of [provisioner, gate, hostKey]) {
      for (const p of [root, "/work/", path.join(root, "modules")]) expect(text).not.toContain(p);
      expect(text).not.toMatch(/__dirname|__filename/);
    }
    // One provider text per kind, shared by every resource of that kind.
    expect(new Set(ofType(T.provisionedDyn).map((r) => r.inputs.__provider)).size).toBe(1);
  });
});

describe("stacks/web/longshore.example.yaml", () => {
  /**
   * The golden snapshot was captured from the previous program (stack config in the old
   * Pulumi.example.yaml) under these mocks, the fake entry's planHostHash returning "HASH",
   * `__provider` removed and private keys replaced by "[private key]". The attachments' instance
   * ids were re-derived when the mocks began deriving an instance's id from the inputs that replace
   * it (harness.ts, INSTANCE_REPLACING_INPUTS); nothing else in it changed then.
   */
  const golden = JSON.parse(readFileSync(path.join(__dirname, "fixtures", "web-example.golden.json"), "utf8")) as Array<{
    type: string;
    name: string;
    parent: string | null;
    inputs: Record<string, unknown>;
  }>;
  const exampleFile = path.join(__dirname, "..", "..", "..", "stacks", "web", "longshore.example.yaml");
  /** The fields of the ProvisionedHost resource that are the new model's shape. */
  const NEW_SHAPE = ["app", "engine", "registry", "healthDeadlineSeconds", "secretsDigest"];
  /** The gate's inputs added since (checked in "changes between two runs"). */
  const NEW_GATE_FIELDS = ["instanceIds"];

  function snapshot(regs: Registration[]) {
    const clean = (v: unknown): unknown => {
      if (isSecret(v)) return clean(v.value);
      if (typeof v === "string" && v.includes("PRIVATE KEY")) return "[private key]";
      if (Array.isArray(v)) return v.map(clean);
      if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "__provider").map(([k, x]) => [k, clean(x)]));
      return v;
    };
    return regs.map((r) => ({ type: r.type, name: r.name, parent: r.parent, inputs: clean(r.inputs) as Record<string, unknown> }));
  }
  const id = (r: { type: string; name: string; parent: string | null }) => `${r.type} ${r.name} <- ${r.parent}`;
  let now: ReturnType<typeof snapshot>;

  beforeAll(async () => {
    const env = parseText(readFileSync(exampleFile, "utf8"), exampleFile, path.dirname(exampleFile));
    resetRegistrations();
    buildWebStack(env, NO_SECRETS, { loadEntry: () => ({ planHostHash: () => "HASH" }) });
    await settle();
    // The operation lock's bucket came after the old example (its own test is below).
    now = snapshot(registrations.filter((r) => !r.name.startsWith("web-lock")));
  });

  it("is a valid aws environment file that says what the old example said", () => {
    const env = parseText(readFileSync(exampleFile, "utf8"), exampleFile);
    expect([env.name, env.driver, env.live, env.slots, env.app.image, env.app.port, env.app.env, env.rollout.healthDeadlineSeconds, env.rollout.drainSeconds]).toEqual([
      "shop",
      "aws",
      "blue",
      { blue: { image: "registry.example.com/team/shop:1.4.2", size: 2 }, green: { image: null, size: 2 } },
      "registry.example.com/team/shop:1.4.2",
      8080,
      { LOG_LEVEL: "info" },
      300,
      60,
    ]);
    expect(env.aws).toEqual({
      region: "eu-west-1",
      sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea you@laptop",
      adminCidrs: ["203.0.113.7/32"],
      adminCidrsMaxCoverage: { ipv4: 8, ipv6: 32 },
      instanceType: "t3.small",
      sshUser: "admin",
      vpcCidr: "10.0.0.0/16",
      azCount: 2,
      rootVolumeGb: 16,
      testListenerPorts: { blue: 8081, green: 8082 },
      hostEgressPorts: [80, 443],
      provision: true,
      hostImage: false,
      bastion: false,
      tags: {},
    });
  });

  it("the web program built from it gives the same resources as the old example: same names, parents and inputs", () => {
    expect(now.map(id).sort()).toEqual(golden.map(id).sort());
    expect(now).toHaveLength(42);
    const old = new Map(golden.map((r) => [id(r), r]));
    const differences: string[] = [];
    for (const r of now) {
      const before = old.get(id(r))!;
      const skip = r.type === T.provisionedDyn ? NEW_SHAPE : r.type === T.gateDyn ? NEW_GATE_FIELDS : [];
      for (const field of new Set([...Object.keys(before.inputs), ...Object.keys(r.inputs)])) {
        if (skip.includes(field)) continue;
        if (JSON.stringify(before.inputs[field]) !== JSON.stringify(r.inputs[field])) differences.push(`${id(r)}: ${field}`);
      }
    }
    expect(differences).toEqual([]);
  });

  it("gives each ProvisionedHost the new model's app, engine and health deadline (no registry: the example has none)", () => {
    const hosts = now.filter((r) => r.type === T.provisionedDyn);
    expect(hosts.map((r) => r.name)).toEqual(["web-blue-0", "web-blue-1"]);
    for (const r of hosts) {
      const { app, engine, healthDeadlineSeconds, secretsDigest: _digest, ...rest } = r.inputs;
      expect(app).toEqual({
        name: "shop",
        image: "registry.example.com/team/shop:1.4.2",
        port: 8080,
        env: { LOG_LEVEL: "info" },
        secrets: {},
        volumes: [],
        resources: {},
        health: { path: "/healthz", status: 200, intervalSeconds: 10, timeoutSeconds: 5, healthyRounds: 2 },
        stopTimeoutSeconds: 10,
        restart: "unless-stopped",
        init: false,
      });
      expect(engine).toEqual(DEFAULT_ENGINE);
      expect(healthDeadlineSeconds).toBe(300);
      expect("registry" in rest).toBe(false);
      // What the old program passed instead: `version`, `containerPort`, `hostPort`, `health: { path }`
      // and `slot` inside the app, and only the engine keys that were set.
      const before = golden.find((g) => g.type === r.type && g.name === r.name)!.inputs;
      expect(before.app).toEqual({
        containerPort: 8080,
        env: { LOG_LEVEL: "info" },
        health: { path: "/healthz" },
        hostPort: 8080,
        image: "registry.example.com/team/shop:1.4.2",
        name: "shop",
        secrets: {},
        slot: "blue",
        version: "1.4.2",
      });
      expect(before.engine).toEqual({});
      expect([before.healthDeadlineSeconds, before.registry]).toEqual([undefined, undefined]);
    }
  });
});

describe("secrets", () => {
  /** Blue runs an image from the configured registry, green one from Docker Hub. */
  const withSecrets = () =>
    environment((raw) => {
      raw.app.secrets = { DB_PASSWORD: { pulumi: "dbPassword" } };
      raw.registry = { server: "registry.example.com", username: "deploy", password: { env: "SHOP_REGISTRY_PASSWORD" } };
      raw.slots.green.image = "docker.io/library/shop:1.1.0";
    });
  const secrets = (db = "pw-1234-secret", registry = "hunter2-long"): WebSecrets => ({
    app: { DB_PASSWORD: pulumi.secret(db) },
    registryPassword: pulumi.secret(registry),
  });

  it("passes registry credentials only to the slot whose image is from that registry, as a secret", async () => {
    const { regs, hashed } = await buildAndRecord(withSecrets(), secrets());
    const hosts = byKey(regs);
    for (const name of ["web-blue-0", "web-blue-1"]) {
      const p = hosts.get(`${T.provisionedDyn}::${name}`)!;
      expect(isSecret(p.inputs.registry)).toBe(true);
      expect(reveal(p.inputs.registry)).toEqual({ server: "registry.example.com", username: "deploy", password: "hunter2-long" });
      expect(p.additionalSecretOutputs).toEqual(["connection", "app", "registry"]);
    }
    for (const name of ["web-green-0", "web-green-1"]) {
      const p = hosts.get(`${T.provisionedDyn}::${name}`)!;
      expect(p.inputs.registry).toBeUndefined();
      expect(p.additionalSecretOutputs).toEqual(["connection", "app"]);
    }
    // The plans that were hashed: the same rule, the password a placeholder.
    expect(hashed.map((h) => [h.slot, h.registry === undefined ? null : { ...h.registry, password: (h.registry.password as Sensitive).reveal() }])).toEqual([
      ["blue", { server: "registry.example.com", username: "deploy", password: "(secret)" }],
      ["green", null],
    ]);
    expect(hashed.every((h) => h.registry === undefined || h.registry.password instanceof Sensitive)).toBe(true);
  });

  it("sends an app secret known only as a Pulumi secret Output (a { pulumi: KEY } source) into the app input as a Pulumi secret", async () => {
    pulumi.runtime.setAllConfig({ "web:dbPassword": "from-the-stack-config" }, ["web:dbPassword"]);
    const fromStack: WebSecrets = { app: { DB_PASSWORD: new pulumi.Config().requireSecret("dbPassword") }, registryPassword: pulumi.secret("hunter2-long") };
    const { regs, hashed } = await buildAndRecord(withSecrets(), fromStack);
    for (const p of regs.filter((r) => r.type === T.provisionedDyn)) {
      expect(isSecret(p.inputs.app)).toBe(true);
      expect((reveal(p.inputs.app) as { secrets: unknown }).secrets).toEqual({ DB_PASSWORD: "from-the-stack-config" });
    }
    // The hash saw a placeholder, never the value.
    for (const h of hashed) {
      expect(h.app.secrets).toEqual({ DB_PASSWORD: expect.any(Sensitive) });
      expect((h.app.secrets!.DB_PASSWORD as Sensitive).reveal()).toBe("(secret)");
    }
  });

  it("never stores a secret value outside a Pulumi secret, and a rotated secret re-provisions through a keyed digest", async () => {
    const first = await buildAndRecord(withSecrets(), secrets());
    const stored = JSON.stringify(first.regs.map((r) => publicPart(r.inputs)));
    expect(stored).not.toContain("pw-1234-secret");
    expect(stored).not.toContain("hunter2-long");
    expect(JSON.stringify(first.regs.map((r) => reveal(r.inputs)))).toContain("pw-1234-secret");
    const again = await buildAndRecord(withSecrets(), secrets());
    expect(changedInputs(first.regs, again.regs)).toEqual([]);
    const rotated = await buildAndRecord(withSecrets(), secrets("pw-rotated-5678", "hunter3-longer"));
    // Only the secret inputs and the digest differ; the plan hashes (stored in clear) are the same.
    expect(changedInputs(first.regs, rotated.regs)).toEqual([
      `${T.provisionedDyn}::web-blue-0`,
      `${T.provisionedDyn}::web-blue-1`,
      `${T.provisionedDyn}::web-green-0`,
      `${T.provisionedDyn}::web-green-1`,
    ]);
    const deployKey = String(reveal(await promiseOf(first.stack.deployKey.privateKey)));
    for (const r of rotated.regs.filter((x) => x.type === T.provisionedDyn)) {
      const before = byKey(first.regs).get(key(r))!;
      const differing = Object.keys(r.inputs).filter((k) => JSON.stringify(r.inputs[k]) !== JSON.stringify(before.inputs[k]));
      expect(differing.sort()).toEqual(r.name.startsWith("web-blue") ? ["app", "registry", "secretsDigest"] : ["app", "secretsDigest"]);
      expect(r.inputs.planHash).toBe(before.inputs.planHash);
      // HMAC-SHA256 keyed by the deploy key over the slot's secrets: nothing a short secret can be guessed from.
      const blue = r.name.startsWith("web-blue");
      const expected = createHmac("sha256", deployKey)
        .update(JSON.stringify({ app: { DB_PASSWORD: "pw-rotated-5678" }, registryPassword: blue ? "hunter3-longer" : null }))
        .digest("hex");
      expect(reveal(r.inputs.secretsDigest)).toBe(expected);
      // Not a plain hash of the values, which a short secret could be guessed from.
      const plain = createHash("sha256").update(JSON.stringify({ app: { DB_PASSWORD: "pw-rotated-5678" }, registryPassword: blue ? "hunter3-longer" : null })).digest("hex");
      expect(reveal(r.inputs.secretsDigest)).not.toBe(plain);
      // The provider re-applies on a new digest even with the same plan hash.
      expect(provisionChanges({ ...(reveal(before.inputs) as ProvisionedHostOutputs), drift: [] }, reveal(r.inputs) as ProvisionedHostInputs)).toEqual(["secretsDigest"]);
    }
  });

  it("hostPlanFor gives the slot's plan, credentials only with their registry's images", () => {
    const env = withSecrets();
    const plain = { app: { DB_PASSWORD: "s" }, registryPassword: "p" };
    expect(hostPlanFor(env, "blue", plain)).toEqual({
      slot: "blue",
      app: appInput(IMAGE_BLUE, { DB_PASSWORD: "s" }),
      registry: { server: "registry.example.com", username: "deploy", password: "p" },
      engine: DEFAULT_ENGINE,
      healthDeadlineSeconds: 300,
    });
    expect(hostPlanFor(env, "green", plain)).toEqual({
      slot: "green",
      app: appInput("docker.io/library/shop:1.1.0", { DB_PASSWORD: "s" }),
      engine: DEFAULT_ENGINE,
      healthDeadlineSeconds: 300,
    });
    const retired = environment((raw) => {
      raw.slots.green.image = null;
    });
    expect(() => hostPlanFor(retired, "green", NO_SECRETS)).toThrow("slots.green.image is not set");
  });
});

describe("changes between two runs", () => {
  it("switching the live slot changes only the traffic listener's default action", async () => {
    const before = (await buildAndRecord(environment())).regs;
    const after = (
      await buildAndRecord(
        environment((raw) => {
          raw.live = "green";
        }),
      )
    ).regs;
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

  it("a canary split (aws.weights) changes only the traffic listener, which then waits on both gates", async () => {
    const before = (await buildAndRecord(environment())).regs;
    const after = (
      await buildAndRecord(
        environment((raw) => {
          raw.aws.weights = { blue: 90, green: 10 };
        }),
      )
    ).regs;
    expect(changedInputs(before, after)).toEqual([`${T.listener}::web-lb-http`]);
    const b = byKey(after).get(`${T.listener}::web-lb-http`)!;
    expect(b.inputs.defaultActions).toEqual([
      {
        type: "forward",
        forward: {
          targetGroups: [
            { arn: "arn:aws:mock:eu-west-1:123456789012:TargetGroup/web-lb-blue", weight: 90 },
            { arn: "arn:aws:mock:eu-west-1:123456789012:TargetGroup/web-lb-green", weight: 10 },
          ],
        },
      },
    ]);
    expect(b.dependencies).toEqual(expect.arrayContaining([`${T.gateDyn}::web-lb-gate-blue`, `${T.gateDyn}::web-lb-gate-green`]));
  });

  it("a new image for one slot changes only that slot's host keys, instances (replaced), their attachments, provisioning and gate", async () => {
    const before = (await buildAndRecord(environment())).regs;
    const after = (
      await buildAndRecord(
        environment((raw) => {
          raw.slots.green.image = "registry.example.com/shop:1.2.0";
        }),
      )
    ).regs;
    expect(changedInputs(before, after)).toEqual([
      `${T.instance}::web-green-0`,
      `${T.instance}::web-green-1`,
      // New instances have new ids: the target group attachments name them.
      `${T.tga}::web-lb-green-0`,
      `${T.tga}::web-lb-green-1`,
      // The gate vouches for the new instances: it runs again.
      `${T.gateDyn}::web-lb-gate-green`,
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
      expect(r.replaceOnChanges).toEqual(["userData", "ami"]);
      expect(r.deleteBeforeReplace).toBe(false);
    }
    for (const r of after.filter((x) => x.type === T.provisionedDyn && x.name.startsWith("web-green"))) {
      const prev = old.get(key(r))!;
      const differing = Object.keys(r.inputs).filter((k) => JSON.stringify(r.inputs[k]) !== JSON.stringify(prev.inputs[k]));
      // The plan has a new image. (The replaced instance's new address and host key would change
      // `connection` too; the mocks derive both from the resource's name, which stays.)
      expect(differing.sort()).toEqual(["app", "planHash"]);
      expect((reveal(r.inputs.app) as { image: string }).image).toBe("registry.example.com/shop:1.2.0");
    }
  });

  describe("health gates run again exactly when their slot's instances are replaced", () => {
    const gateProvider = healthGateProvider();
    /** What the gate's provider says to the second run's inputs, given the first run's state. */
    async function gateDiff(before: Registration[], after: Registration[], slot: string) {
      const strip = (r: Registration) => {
        const { __provider: _p, ...inputs } = reveal(r.inputs) as Record<string, unknown>;
        return inputs;
      };
      const olds = { ...strip(byKey(before).get(`${T.gateDyn}::web-lb-gate-${slot}`)!), report: { targets: [] }, failing: [] };
      return gateProvider.diff!(`gate-${slot}`, olds, strip(byKey(after).get(`${T.gateDyn}::web-lb-gate-${slot}`)!));
    }
    const gateIds = (regs: Registration[], slot: string) => byKey(regs).get(`${T.gateDyn}::web-lb-gate-${slot}`)!.inputs.instanceIds as string[];

    it("a new image on the live slot replaces its instances: that slot's gate gets their new ids and its diff says changed; the other gate is left alone", async () => {
      const before = (await buildAndRecord(environment())).regs;
      const after = (
        await buildAndRecord(
          environment((raw) => {
            raw.slots.blue.image = "registry.example.com/shop:1.0.1";
          }),
        )
      ).regs;
      const changed = changedInputs(before, after);
      expect(changed).toContain(`${T.instance}::web-blue-0`);
      expect(changed.filter((k) => k.includes("HealthGate"))).toEqual([`${T.gateDyn}::web-lb-gate-blue`]);
      // The URL and settings are the same: only the instances differ.
      const a = byKey(before).get(`${T.gateDyn}::web-lb-gate-blue`)!.inputs;
      const b = byKey(after).get(`${T.gateDyn}::web-lb-gate-blue`)!.inputs;
      expect(Object.keys(b).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))).toEqual(["instanceIds"]);
      expect(gateIds(after, "blue")).toHaveLength(2);
      expect(gateIds(after, "blue").filter((id) => gateIds(before, "blue").includes(id))).toEqual([]);
      expect(await gateDiff(before, after, "blue")).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
      expect((await gateDiff(before, after, "green")).changes).toBe(false);
    });

    it("a new AMI replaces both slots' instances in one run: both gates run again", async () => {
      const pin = (ami: string) =>
        environment((raw) => {
          raw.aws.amiId = ami;
        });
      const before = (await buildAndRecord(pin("ami-0123456789abcdef0"))).regs;
      const after = (await buildAndRecord(pin("ami-0fedcba9876543210"))).regs;
      expect(changedInputs(before, after).filter((k) => k.includes("HealthGate"))).toEqual([`${T.gateDyn}::web-lb-gate-blue`, `${T.gateDyn}::web-lb-gate-green`]);
      for (const slot of ["blue", "green"]) expect((await gateDiff(before, after, slot)).changes).toBe(true);
    });

    it.each<[string, (raw: Record<string, any>) => void]>([
      ["switching the live slot", (raw) => void (raw.live = "green")],
      ["a canary split", (raw) => void (raw.aws.weights = { blue: 90, green: 10 })],
      ["a longer drain", (raw) => void (raw.rollout.drainSeconds = 120)],
    ])("%s replaces no instance and leaves both gates alone", async (_what, edit) => {
      const before = (await buildAndRecord(environment())).regs;
      const after = (await buildAndRecord(environment(edit))).regs;
      expect(changedInputs(before, after).filter((k) => k.includes("Instance") || k.includes("HealthGate"))).toEqual([]);
      for (const slot of ["blue", "green"]) expect((await gateDiff(before, after, slot)).changes).toBe(false);
    });
  });

  it("image: null retires a slot: its hosts, attachments, provisioning and gate go, and nothing of the other slot changes", async () => {
    const before = (await buildAndRecord(environment())).regs;
    const retired = await buildAndRecord(
      environment((raw) => {
        raw.slots.green.image = null;
      }),
    );
    const after = retired.regs;
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
    expect(after.filter((r) => !byKey(before).has(key(r)))).toEqual([]);
    const changed = after.filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(byKey(before).get(key(r))!.inputs)).map(key);
    expect(changed).toEqual([]);
    expect(retired.stack.outputs.hostNames).toEqual({ blue: ["test-blue-0", "test-blue-1"], green: [] });
    // Only the slot with hosts is planned (and looks up an AMI).
    expect(retired.hashed.map((h) => h.slot)).toEqual(["blue"]);
    expect(retired.calls.filter((c) => c === "aws:ec2/getAmi:getAmi")).toHaveLength(1);
  });

  it("with aws.provision false, declares hosts but no ProvisionedHost and never loads the provisioner", async () => {
    resetRegistrations();
    buildWebStack(
      environment((raw) => {
        raw.aws.provision = false;
      }),
      NO_SECRETS,
      {
        loadEntry: () => {
          throw new Error("must not be loaded");
        },
      },
    );
    await settle();
    expect(ofType(T.provisioned)).toEqual([]);
    expect(ofType(T.instance)).toHaveLength(4);
    expect(registrations).toHaveLength(57 - 8);
    expect(find(T.gateDyn, "web-lb-gate-blue").dependencies.filter((d) => d.includes("ProvisionedHost"))).toEqual([]);
  });

  it("gives the security groups the file's admin coverage limit: a range wider than /8 allowed on purpose is declared", async () => {
    const { regs } = await buildAndRecord(
      environment((raw) => {
        raw.aws.adminCidrs = ["10.0.0.0/7"];
        raw.aws.adminCidrsMaxCoverage = { ipv4: 7 };
      }),
    );
    expect(byKey(regs).get(`${T.ingress}::web-sg-hosts-ssh-0`)!.inputs.cidrIpv4).toBe("10.0.0.0/7");
  });

  it("takes fractional drain and deadline seconds from the file as the whole units AWS and the gate need", async () => {
    const { regs } = await buildAndRecord(
      environment((raw) => {
        raw.rollout.drainSeconds = 2.5;
        raw.rollout.healthDeadlineSeconds = 1.1;
      }),
    );
    const m = byKey(regs);
    expect(m.get(`${T.tg}::web-lb-blue`)!.inputs.deregistrationDelay).toBe(3);
    expect(m.get(`${T.gateDyn}::web-lb-gate-blue`)!.inputs.deadlineMs).toBe(1100);
    expect(m.get(`${T.provisionedDyn}::web-blue-0`)!.inputs.healthDeadlineSeconds).toBe(1.1);
  });

  it("derives the target groups' check from a fast app.health within AWS's limits", async () => {
    const { regs } = await buildAndRecord(
      environment((raw) => {
        raw.app.health = { path: "/ready", status: 204, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 1 };
      }),
    );
    const tg = byKey(regs).get(`${T.tg}::web-lb-green`)!;
    expect(tg.inputs.healthCheck).toMatchObject({ path: "/ready", matcher: "204", interval: 5, timeout: 2, healthyThreshold: 2, unhealthyThreshold: 2 });
    expect(byKey(regs).get(`${T.gateDyn}::web-lb-gate-green`)!.inputs.matcher).toBe("204");
  });
});

// Last: it builds the stack again, replacing the registrations the blocks above read.
describe("hosts.os on aws", () => {
  it("hosts.os picks the Debian release of the slots' AMI lookup: debian-12 by default, debian-13 when asked", async () => {
    const amiNames = async (env: AwsEnvironment) => {
      const before = callInputs.length;
      await buildAndRecord(env);
      return callInputs
        .slice(before)
        .filter((c) => c.token === "aws:ec2/getAmi:getAmi")
        .map((c) => (c.inputs["filters"] as Array<{ name: string; values: string[] }>).find((f) => f.name === "name")!.values);
    };
    expect(await amiNames(environment())).toEqual([["debian-12-amd64-*"], ["debian-12-amd64-*"]]);
    expect(await amiNames(environment((raw) => void (raw.hosts = { os: "debian-13" })))).toEqual([["debian-13-amd64-*"], ["debian-13-amd64-*"]]);
  });
});
