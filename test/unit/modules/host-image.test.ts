// Mocks: does not prove EC2 makes a bootable AMI from the instance, nor that the engine in it is
// ready (the local driver's host image e2e proves the idea on real machines); only what is declared.
import { find, ofType, promiseOf, registrations, resetRegistrations, settle } from "./harness";
import { describe, expect, it } from "vitest";
import { HostFleet, type HostFleetArgs } from "../../../modules/host-fleet";
import { HostImage, hostImageProblems } from "../../../modules/host-image";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const A = "a".repeat(64);
const B = "b".repeat(64);

function fleet(overrides: Partial<HostFleetArgs> = {}): HostFleetArgs {
  return { environment: "prod", slot: "green", image: "shop:2.0", size: 2, instanceType: "t3.micro", subnetIds: ["subnet-a"], securityGroupIds: ["sg-hosts"], authorizedKeys: [KEY], ...overrides };
}

/** A program: a one-host builder fleet, its image for bundle `bundleId`, and the slot's fleet booting from it. */
async function program(bundleId: string) {
  resetRegistrations();
  const builder = new HostFleet("builder", fleet({ slot: "image", size: 1 }));
  const image = new HostImage("img", { environment: "prod", bundleId, sourceInstanceId: builder.instanceIds[0]!, after: builder.instances });
  const slot = new HostFleet("green", fleet({ amiId: image.amiId }));
  await settle();
  return { builder, image, slot, amiId: await promiseOf(image.amiId), instanceIds: await Promise.all(slot.instanceIds.map((i) => promiseOf(i))) };
}

describe("HostImage", () => {
  it.each<[string, string, string, string[]]>([
    ["sound", "prod", A, []],
    ["a bad environment and bundle id", "Prod", "abc", ['environment: must be an environment name, got "Prod"', "bundleId: must be a bundle id: 64 lower-case hex digits"]],
  ])("%s", (_what, environment, bundleId, problems) => {
    expect(hostImageProblems({ environment, bundleId, sourceInstanceId: "i-1" })).toEqual(problems);
  });

  it("makes the AMI from the builder's instance once it is provisioned, tagged with the bundle; the slot's fleet boots from it", async () => {
    const p = await program(A);
    const ami = find("aws:ec2/amiFromInstance:AmiFromInstance", `img-${A.slice(0, 12)}`);
    expect(ami.inputs).toMatchObject({
      sourceInstanceId: await promiseOf(p.builder.instanceIds[0]!),
      name: `longshore-prod-${A.slice(0, 12)}-${await promiseOf(p.builder.instanceIds[0]!)}`,
      snapshotWithoutReboot: false,
      tags: { "longshore:environment": "prod", "longshore:bundle": A, "longshore:role": "host-image" },
    });
    expect(ami.parent).toBe("longshore:fleet:HostImage::img");
    // Left in the account when it leaves the program: a slot may still run it.
    expect(ami.retainOnDelete).toBe(true);
    expect(ami.dependencies).toContain("aws:ec2/instance:Instance::builder-0");
    expect(ofType("aws:ec2/instance:Instance").filter((r) => r.name.startsWith("green-")).map((r) => r.inputs.ami)).toEqual([p.amiId, p.amiId]);
    expect(p.image.bundleId).toBe(A);
  });

  it("a new bundle id declares a new AMI (the old one leaves the program), and the slot's instances are replaced, create before delete", async () => {
    const before = await program(A);
    const after = await program(B);
    const amis = ofType("aws:ec2/amiFromInstance:AmiFromInstance").map((r) => r.name);
    expect(amis).toEqual([`img-${B.slice(0, 12)}`]);
    expect(after.amiId).not.toBe(before.amiId);
    // New instance ids: the engine replaces them (an ami change replaces an instance) ...
    expect(after.instanceIds.every((id, i) => id !== before.instanceIds[i])).toBe(true);
    // ... creating the new ones before deleting the old (the default: no deleteBeforeReplace).
    expect(ofType("aws:ec2/instance:Instance").every((r) => !r.deleteBeforeReplace)).toBe(true);
    expect(registrations.length).toBeGreaterThan(0);
  });

  it("names the AMI in AWS after its source instance too: a new builder with the same bundle gets a name of its own", async () => {
    resetRegistrations();
    const image = (source: string) => new HostImage(`img-${source}`, { environment: "prod", bundleId: A, sourceInstanceId: source });
    image("i-0aaaaaaaaaaaaaaaa");
    image("i-0bbbbbbbbbbbbbbbb");
    await settle();
    // AMI names are unique per account and region, and the replaced (retained) AMI is still there.
    expect(ofType("aws:ec2/amiFromInstance:AmiFromInstance").map((r) => r.inputs.name)).toEqual([
      `longshore-prod-${A.slice(0, 12)}-i-0aaaaaaaaaaaaaaaa`,
      `longshore-prod-${A.slice(0, 12)}-i-0bbbbbbbbbbbbbbbb`,
    ]);
  });

  it("refuses bad arguments before declaring anything", () => {
    resetRegistrations();
    expect(() => new HostImage("bad", { environment: "prod", bundleId: "x", sourceInstanceId: "i-1" })).toThrow("HostImage bad: bundleId: must be a bundle id: 64 lower-case hex digits");
    expect(registrations).toEqual([]);
  });
});
