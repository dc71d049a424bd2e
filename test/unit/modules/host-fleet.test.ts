// Mocks: does not prove that EC2 boots Debian from this AMI lookup or that cloud-init installs the key; only what is declared.
import { calls, find, isSecret, ofType, promiseOf, registrations, resetRegistrations, reveal, settle } from "./harness";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEBIAN_AMI_OWNER, HostFleet, hostFleetProblems, type HostFleetArgs } from "../../../modules/host-fleet";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

function args(overrides: Partial<HostFleetArgs> = {}): HostFleetArgs {
  return {
    environment: "prod",
    slot: "green",
    image: "shop:2.0",
    size: 5,
    instanceType: "t3.micro",
    subnetIds: ["subnet-a", "subnet-b", "subnet-c"],
    securityGroupIds: ["sg-hosts"],
    authorizedKeys: [KEY],
    ...overrides,
  };
}

describe("hostFleetProblems", () => {
  it.each<[string, Partial<HostFleetArgs>, string[]]>([
    ["a sound fleet", {}, []],
    ["an empty slot without an image", { size: 0, image: "" }, []],
    ["hosts without an image", { image: " " }, ["image: is required when size > 0"]],
    ["no subnets, no keys", { subnetIds: [], authorizedKeys: [] }, ["subnetIds: must list at least one subnet", "authorizedKeys: must list at least one public key"]],
    ["a bad size and names", { size: -1, environment: "Prod", slot: "green!" }, [
      "size: must be a whole number >= 0, got -1",
      'environment: must be lower-case letters, digits and \'-\', got "Prod"',
      'slot: must be lower-case letters, digits and \'-\', got "green!"',
    ]],
    ["a tiny disk", { rootVolumeGb: 4 }, ["rootVolumeGb: must be 8 to 16384, got 4"]],
  ])("%s", (_what, overrides, problems) => {
    expect(hostFleetProblems(args(overrides))).toEqual(problems);
  });

  it("stops the component before anything is declared", () => {
    resetRegistrations();
    expect(() => new HostFleet("bad", args({ image: "" }))).toThrow("HostFleet bad: image: is required when size > 0");
    expect(registrations).toEqual([]);
  });
});

describe("HostFleet", () => {
  it("looks up Debian 12 from Debian's account and spreads hosts over the subnets round-robin", async () => {
    resetRegistrations();
    const before = calls.length;
    const fleet = new HostFleet("f", args());
    await settle();
    expect(calls.slice(before)).toEqual(["aws:ec2/getAmi:getAmi"]);
    expect(DEBIAN_AMI_OWNER).toBe("136693071363");
    expect(ofType("aws:ec2/instance:Instance").map((r) => [r.name, r.inputs.subnetId]).sort()).toEqual([
      ["f-0", "subnet-a"],
      ["f-1", "subnet-b"],
      ["f-2", "subnet-c"],
      ["f-3", "subnet-a"],
      ["f-4", "subnet-b"],
    ]);
    expect(fleet.hostNames).toEqual(["prod-green-0", "prod-green-1", "prod-green-2", "prod-green-3", "prod-green-4"]);
    expect(await promiseOf(fleet.amiId)).toBe("ami-0d3b1a2c4e5f60718");
    expect(find("pulumi-nodejs:dynamic/longshore:HostKey", "f-hostkey-3").inputs).toMatchObject({ comment: "root@prod-green-3", keepers: { image: "shop:2.0" } });
  });

  it("writes each host's own key into its user data, and pins the fingerprint it exports", async () => {
    resetRegistrations();
    const fleet = new HostFleet("k", args({ size: 2 }));
    await settle();
    for (const i of [0, 1]) {
      const userData = find("aws:ec2/instance:Instance", `k-${i}`).inputs.userData;
      expect(isSecret(userData)).toBe(true);
      const doc = parse(String(reveal(userData))) as { ssh_keys: { ed25519_public: string; ed25519_private: string } };
      const pub = await promiseOf(fleet.hostKeys[i]!.publicKey);
      expect(doc.ssh_keys.ed25519_public).toBe(pub);
      expect(doc.ssh_keys.ed25519_private).toBe(reveal(await promiseOf(fleet.hostKeys[i]!.privateKey)));
    }
    const [fp0, fp1] = await Promise.all(fleet.hostKeyFingerprints.map((f) => promiseOf(f)));
    expect(fp0).not.toBe(fp1);
  });

  it("uses a pinned AMI without a lookup, and an empty slot declares nothing", async () => {
    resetRegistrations();
    const before = calls.length;
    new HostFleet("p", args({ size: 1, amiId: "ami-0123456789abcdef0", keyName: "break-glass", associatePublicIpAddress: false, rootVolumeGb: 40 }));
    const empty = new HostFleet("e", args({ size: 0, image: "" }));
    await settle();
    expect(calls.length).toBe(before);
    expect(find("aws:ec2/instance:Instance", "p-0").inputs).toMatchObject({
      ami: "ami-0123456789abcdef0",
      keyName: "break-glass",
      associatePublicIpAddress: false,
      rootBlockDevice: { volumeSize: 40, encrypted: true },
    });
    expect(ofType("aws:ec2/instance:Instance").map((r) => r.name)).toEqual(["p-0"]);
    expect(await promiseOf(empty.amiId)).toBeNull();
    expect(empty.hostNames).toEqual([]);
  });

  it("replaces every host when its AMI changes, creating the new one before deleting the old", async () => {
    const build = async (amiId: string) => {
      resetRegistrations();
      const fleet = new HostFleet("r", args({ size: 2, amiId }));
      await settle();
      return { ids: await Promise.all(fleet.instanceIds.map((i) => promiseOf(i))), instances: ofType("aws:ec2/instance:Instance") };
    };
    const before = await build("ami-0123456789abcdef0");
    const after = await build("ami-0fedcba9876543210");
    for (const r of after.instances) {
      // Declared replace-on-change (the provider's ForceNew `ami` says the same), never delete-first.
      expect(r.replaceOnChanges).toEqual(["userData", "ami"]);
      expect(r.deleteBeforeReplace).toBe(false);
      expect(r.inputs.ami).toBe("ami-0fedcba9876543210");
    }
    // New instances (the mocks give a replaced instance a new id), and nothing else about them changed.
    expect(after.ids.filter((id) => before.ids.includes(id))).toEqual([]);
    const differing = Object.keys(after.instances[0]!.inputs).filter((k) => JSON.stringify(after.instances[0]!.inputs[k]) !== JSON.stringify(before.instances[0]!.inputs[k]));
    expect(differing).toEqual(["ami"]);
  });
});
