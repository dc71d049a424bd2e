// Mocks: does not prove that EC2 makes a bootable AMI of the builder, that its engine is ready on
// the hosts booted from it, or that the provider installs exactly the pinned bundle on a real host
// (single-host.test.ts checks that against a scripted host); only what the web program declares
// with aws.hostImage, and how two runs differ.
import { describe, expect, it } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import of the code under test.
import { calls, find, ofType, promiseOf, registrations, resetRegistrations, reveal, settle, type Registration } from "./harness";
import { stringify } from "yaml";
import { ConfigError } from "../../../core/errors";
import { parseEnvironment } from "../../../model/environment-file";
import type { HostPlanInput } from "../../../model/host-plan";
import type { LockFile } from "../../../model/lock-file";
import { buildWebStack, hostImagePin, type AwsEnvironment, type WebStack } from "../../../stacks/web/web-stack";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const IMAGE_BLUE = "registry.example.com/shop:1.0.0";
const IMAGE_GREEN = "registry.example.com/shop:1.1.0";
const A = "a".repeat(64);
const B = "b".repeat(64);

const T = {
  fleet: "longshore:compute:HostFleet",
  hostKey: "pulumi-nodejs:dynamic/longshore:HostKey",
  instance: "aws:ec2/instance:Instance",
  provisioned: "longshore:provision:ProvisionedHost",
  provisionedDyn: "pulumi-nodejs:dynamic/longshore:ProvisionedHost",
  hostImage: "longshore:fleet:HostImage",
  ami: "aws:ec2/amiFromInstance:AmiFromInstance",
  gateDyn: "pulumi-nodejs:dynamic/longshore:HealthGate",
};

/** A 2 x 2 environment (blue live), `aws.hostImage` as given, changed by `edit`. */
function environment(hostImage: boolean, edit: (raw: Record<string, any>) => void = () => {}): AwsEnvironment {
  const raw: Record<string, any> = {
    name: "test",
    driver: "aws",
    app: { name: "shop", image: IMAGE_BLUE, port: 8080, secrets: { DB_PASSWORD: { env: "SHOP_DB_PASSWORD" } } },
    slots: { blue: { image: IMAGE_BLUE, size: 2 }, green: { image: IMAGE_GREEN, size: 2 } },
    live: "blue",
    aws: { sshPublicKey: ADMIN_KEY, adminCidrs: ["203.0.113.7/32"], hostImage },
  };
  edit(raw);
  const r = parseEnvironment(stringify(raw), "longshore.yaml");
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return r.value as AwsEnvironment;
}

/** longshore.lock pinning bundle `id` for amd64. */
function lock(id: string, recipe = "debian-bookworm-amd64"): { name: string; engine: LockFile["engine"] } {
  return { name: "longshore.lock", engine: { amd64: { recipe, id, packages: { "docker.io": "20.10.24+dfsg1-1+deb12u1+b6" } } } };
}

/** Builds under mocks with a fake entry that records what it hashes. */
async function build(env: AwsEnvironment, pins?: { name: string; engine: LockFile["engine"] }) {
  resetRegistrations();
  const callsBefore = calls.length;
  const hashed: HostPlanInput[] = [];
  const stack: WebStack = buildWebStack(env, { app: { DB_PASSWORD: "pw-1234-secret" }, registryPassword: null }, {
    loadEntry: () => ({ planHostHash: (input) => (hashed.push(input), `hash-${hashed.length}`) }),
    ...(pins ? { lock: pins } : {}),
  });
  await settle();
  return { stack, regs: [...registrations], hashed, lookups: calls.slice(callsBefore).filter((c) => c === "aws:ec2/getAmi:getAmi") };
}

const slotInstances = (regs: Registration[]) => regs.filter((r) => r.type === T.instance && /^web-(blue|green)-/.test(r.name));
const ids = (stack: WebStack) => Promise.all([...stack.fleets.blue.instanceIds, ...stack.fleets.green.instanceIds].map((i) => promiseOf(i)));

describe("aws.hostImage: true", () => {
  it("declares one builder host, its engine-only provisioning and an AMI of it, with these names and parents", async () => {
    const { regs } = await build(environment(true), lock(A));
    const image = regs.filter((r) => r.name.startsWith("web-image")).map((r) => [r.type, r.name, r.parent]);
    expect(image.sort()).toEqual(
      [
        [T.fleet, "web-image-builder", null],
        [T.hostKey, "web-image-builder-hostkey-0", `${T.fleet}::web-image-builder`],
        [T.instance, "web-image-builder-0", `${T.fleet}::web-image-builder`],
        [T.provisioned, "web-image-builder-0", null],
        [T.provisionedDyn, "web-image-builder-0", `${T.provisioned}::web-image-builder-0`],
        [T.hostImage, "web-image", null],
        [T.ami, `web-image-${A.slice(0, 12)}`, `${T.hostImage}::web-image`],
      ].sort(),
    );
    // Everything else is what the program declares without a host image (57 resources).
    expect(regs).toHaveLength(57 + 7);
    const builder = find(T.instance, "web-image-builder-0");
    expect(builder.inputs.tags).toEqual({
      "longshore:environment": "test",
      "longshore:role": "host-image-builder",
      Name: "test-builder-0",
      "longshore:slot": "builder",
      "longshore:image": `longshore-host-image:${A}`,
    });
    expect(builder.inputs.instanceType).toBe("t3.small");
  });

  it("(a) makes the AMI from the builder's instance, after the builder's engine is provisioned, tagged with the pinned bundle", async () => {
    const { stack } = await build(environment(true), lock(A));
    const ami = find(T.ami, `web-image-${A.slice(0, 12)}`);
    const builderId = await promiseOf(stack.hostImage!.builder.instanceIds[0]!);
    expect(ami.inputs.sourceInstanceId).toBe(builderId);
    expect(ami.inputs.name).toBe(`longshore-test-${A.slice(0, 12)}-${builderId}`);
    expect(ami.inputs.tags).toEqual({ "longshore:environment": "test", "longshore:bundle": A, "longshore:role": "host-image" });
    expect(ami.dependencies).toEqual(expect.arrayContaining([`${T.instance}::web-image-builder-0`, `${T.provisionedDyn}::web-image-builder-0`]));
  });

  it("provisions the builder with the engine only, from the pinned bundle: no app, image, registry or secret of the environment reaches it", async () => {
    const { hashed } = await build(environment(true), lock(A));
    const p = find(T.provisionedDyn, "web-image-builder-0");
    const pin = { arch: "amd64", ...lock(A).engine.amd64 };
    expect([p.inputs.engineOnly, p.inputs.bundlePin]).toEqual([true, pin]);
    expect(reveal(p.inputs.app)).toEqual({ name: "host-image", image: "longshore-host-image:none" });
    expect([p.inputs.registry, p.inputs.secretsDigest]).toEqual([undefined, undefined]);
    expect(JSON.stringify(reveal(p.inputs))).not.toContain("pw-1234-secret");
    expect((reveal(p.inputs.connection) as { name: string }).name).toBe("test-builder-0");
    // Its plan hash is the builder's plan's, computed with the slots' (builder first).
    expect(hashed[0]).toEqual({ slot: "blue", app: { name: "host-image", image: "longshore-host-image:none" }, engine: expect.any(Object), engineOnly: true, bundlePin: pin });
    expect(p.inputs.planHash).toBe("hash-1");
  });

  it("(b) boots both slots' hosts from the HostImage's AMI, and provisions them with its pinned bundle", async () => {
    const { stack, regs, hashed, lookups } = await build(environment(true), lock(A));
    const amiId = await promiseOf(stack.hostImage!.image.amiId);
    expect(amiId).toMatch(/^ami-[0-9a-f]{17}$/);
    expect(slotInstances(regs).map((r) => [r.name, r.inputs.ami]).sort()).toEqual(["web-blue-0", "web-blue-1", "web-green-0", "web-green-1"].map((n) => [n, amiId]));
    expect(await promiseOf(stack.fleets.blue.amiId)).toBe(amiId);
    expect(await promiseOf(stack.fleets.green.amiId)).toBe(amiId);
    // The Debian lookup is the builder's only: the slots take the image.
    expect(lookups).toHaveLength(1);
    expect(find(T.instance, "web-image-builder-0").inputs.ami).toBe("ami-0d3b1a2c4e5f60718");
    const pin = { arch: "amd64", ...lock(A).engine.amd64 };
    for (const p of regs.filter((r) => r.type === T.provisionedDyn && /^web-(blue|green)-/.test(r.name))) {
      expect(p.inputs.bundlePin).toEqual(pin);
      expect(p.inputs.engineOnly).toBeUndefined();
    }
    expect(hashed.slice(1).map((h) => [h.slot, h.bundlePin])).toEqual([
      ["blue", pin],
      ["green", pin],
    ]);
    expect(stack.outputs.hostImage!.bundleId).toBe(A);
    expect(await promiseOf(stack.outputs.hostImage!.amiId)).toBe(amiId);
  });

  it("(c) a new pinned bundle makes a new AMI (a new resource name, of a fresh builder), and the slots' hosts are replaced by ones booted from it, create before delete", async () => {
    const before = await build(environment(true), lock(A));
    const beforeAmi = await promiseOf(before.stack.hostImage!.image.amiId);
    const beforeIds = await ids(before.stack);
    const beforeBuilder = await promiseOf(before.stack.hostImage!.builder.instanceIds[0]!);
    const after = await build(environment(true), lock(B));
    const afterAmi = await promiseOf(after.stack.hostImage!.image.amiId);
    // A new child name: Pulumi creates a new AMI; the old one leaves the program (and is retained, (d)).
    expect(ofType(T.ami).map((r) => r.name)).toEqual([`web-image-${B.slice(0, 12)}`]);
    expect(afterAmi).not.toBe(beforeAmi);
    // A fresh builder: its user data names the bundle, so it is replaced rather than upgraded in place.
    const afterBuilder = await promiseOf(after.stack.hostImage!.builder.instanceIds[0]!);
    expect(afterBuilder).not.toBe(beforeBuilder);
    expect(find(T.ami, `web-image-${B.slice(0, 12)}`).inputs.sourceInstanceId).toBe(afterBuilder);
    // Every slot host boots from the new AMI: new instances (the mocks give a replaced instance a new id) ...
    for (const r of slotInstances(after.regs)) expect(r.inputs.ami).toBe(afterAmi);
    expect((await ids(after.stack)).filter((id) => beforeIds.includes(id))).toEqual([]);
    // ... replaced on an ami change, the new one created before the old is deleted.
    for (const r of [...slotInstances(after.regs), find(T.instance, "web-image-builder-0"), find(T.ami, `web-image-${B.slice(0, 12)}`)]) {
      expect(r.deleteBeforeReplace).toBe(false);
    }
    for (const r of slotInstances(after.regs)) expect(r.replaceOnChanges).toEqual(expect.arrayContaining(["ami"]));
    // The health gates vouch for the new hosts.
    for (const slot of ["blue", "green"]) {
      const gate = (regs: Registration[]) => regs.find((r) => r.type === T.gateDyn && r.name === `web-lb-gate-${slot}`)!.inputs.instanceIds;
      expect(gate(after.regs)).not.toEqual(gate(before.regs));
    }
  });

  it("(c) the same pin on the next run changes nothing: the same AMI, the same hosts", async () => {
    const first = await build(environment(true), lock(A));
    const again = await build(environment(true), lock(A));
    expect(await promiseOf(again.stack.hostImage!.image.amiId)).toBe(await promiseOf(first.stack.hostImage!.image.amiId));
    expect(await ids(again.stack)).toEqual(await ids(first.stack));
  });

  it("(d) keeps every AMI it made when it leaves the program (retainOnDelete), so hosts still running an old one keep their image", async () => {
    const { regs } = await build(environment(true), lock(A));
    const ami = regs.find((r) => r.type === T.ami)!;
    expect(ami.retainOnDelete).toBe(true);
    // Nothing else is retained: the builder and the hosts go with the program.
    expect(regs.filter((r) => r.retainOnDelete).map((r) => r.name)).toEqual([`web-image-${A.slice(0, 12)}`]);
  });

  it("refuses, before declaring anything, a lock that pins no bundle for the hosts' architecture or pins another recipe", async () => {
    const failure = (env: AwsEnvironment, pins?: { name: string; engine: LockFile["engine"] }) => {
      resetRegistrations();
      try {
        buildWebStack(env, { app: { DB_PASSWORD: "x" }, registryPassword: null }, { loadEntry: () => ({ planHostHash: () => "h" }), ...(pins ? { lock: pins } : {}) });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return [(e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`), (e as ConfigError).suggestion];
      }
      throw new Error("no error");
    };
    expect(failure(environment(true))).toEqual([
      ["longshore.lock: engine.amd64: pins no bundle: aws.hostImage makes the hosts' AMI from the bundle pinned here"],
      "Run `longshore engine update -f <environment file> --arch amd64`, review the packages it prints and commit longshore.lock.",
    ]);
    expect(failure(environment(true), { name: "envs/longshore.lock", engine: { arm64: lock(A, "debian-bookworm-arm64").engine.amd64! } })[0]).toEqual([
      "envs/longshore.lock: engine.amd64: pins no bundle: aws.hostImage makes the hosts' AMI from the bundle pinned here",
    ]);
    expect(failure(environment(true, (raw) => void ((raw.engine = { bundle: "debian-trixie" }), (raw.hosts = { os: "debian-13" }))), lock(A))[0]).toEqual([
      "longshore.lock: engine.amd64.recipe: pins debian-bookworm-amd64, but engine.bundle now asks for debian-trixie-amd64",
    ]);
    // A recipe for one architecture reads that architecture's pin.
    expect(failure(environment(true, (raw) => void (raw.engine = { bundle: "debian-bookworm-arm64" })), lock(A))[0]).toEqual([
      "longshore.lock: engine.arm64: pins no bundle: aws.hostImage makes the hosts' AMI from the bundle pinned here",
    ]);
    await settle();
    expect(registrations).toEqual([]);
  });

  it("makes no image while no slot has hosts (nothing to boot from it), and needs no pin then", async () => {
    const empty = environment(true, (raw) => {
      raw.live = null;
      raw.slots = { blue: { image: null }, green: { image: null } };
    });
    expect(hostImagePin(empty)).toBeNull();
    const { stack, regs } = await build(empty);
    expect(regs.filter((r) => r.name.startsWith("web-image"))).toEqual([]);
    expect(stack.hostImage).toBeNull();
    expect(stack.outputs.hostImage).toBeNull();
  });

  it("with aws.amiId, builds the image on that AMI; the slots still boot from the image", async () => {
    const { stack, regs, lookups } = await build(environment(true, (raw) => void (raw.aws.amiId = "ami-0123456789abcdef0")), lock(A));
    expect(find(T.instance, "web-image-builder-0").inputs.ami).toBe("ami-0123456789abcdef0");
    const amiId = await promiseOf(stack.hostImage!.image.amiId);
    for (const r of slotInstances(regs)) expect(r.inputs.ami).toBe(amiId);
    expect(lookups).toEqual([]);
  });
});

describe("aws.hostImage: false (the default)", () => {
  it("(e) declares no builder, provisioning or AMI of its own, and the slots boot from the Debian lookup, provisioned without a pin", async () => {
    const off = await build(environment(false), lock(A));
    expect(off.regs.filter((r) => r.name.startsWith("web-image") || r.type === T.ami || r.type === T.hostImage)).toEqual([]);
    expect(off.regs).toHaveLength(57);
    expect(off.stack.hostImage).toBeNull();
    expect(off.stack.outputs.hostImage).toBeNull();
    for (const r of slotInstances(off.regs)) expect(r.inputs.ami).toBe("ami-0d3b1a2c4e5f60718");
    // One Debian lookup per slot with hosts.
    expect(off.lookups).toHaveLength(2);
    for (const p of off.regs.filter((r) => r.type === T.provisionedDyn)) expect([p.inputs.bundlePin, p.inputs.engineOnly]).toEqual([undefined, undefined]);
    expect(off.hashed.every((h) => !("bundlePin" in h))).toBe(true);
    // The lock is not read without a host image: no pin needed.
    expect(hostImagePin(environment(false))).toBeNull();
    const noLock = await build(environment(false));
    expect(noLock.regs).toHaveLength(57);
  });
});
