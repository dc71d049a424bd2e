// The `aws:` block of the environment file and the rules that tie it to the rest of the file, through the one parser every reader uses. Does not prove that AWS accepts the values (the mock suites of stacks/web show how they are used).
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseEnvironment } from "../../model/environment-file";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

/** An aws environment: blue runs an image and is live, green is empty. `edit` changes it. */
function file(edit: (raw: Record<string, any>) => void = () => {}): string {
  const raw: Record<string, any> = {
    name: "shop",
    driver: "aws",
    app: { name: "shop", image: "shop:1" },
    slots: { blue: { image: "shop:1" } },
    live: "blue",
    aws: { sshPublicKey: KEY, adminCidrs: ["203.0.113.7/32"] },
  };
  edit(raw);
  return stringify(raw);
}

function problems(text: string): string[] {
  const r = parseEnvironment(text, "longshore.yaml");
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe("aws: defaults", () => {
  it("fills in every default from the three required keys", () => {
    const r = parseEnvironment(file(), "longshore.yaml");
    expect(r.ok && r.value.aws).toEqual({
      sshPublicKey: KEY,
      adminCidrs: ["203.0.113.7/32"],
      instanceType: "t3.small",
      sshUser: "admin",
      vpcCidr: "10.0.0.0/16",
      azCount: 2,
      rootVolumeGb: 16,
      testListenerPorts: { blue: 8081, green: 8082 },
      hostEgressPorts: [80, 443],
      provision: true,
      tags: {},
    });
  });

  it("accepts every key set to a valid value", () => {
    const text = file((raw) => {
      raw.slots.green = { image: "shop:2", size: 3 };
      raw.aws = {
        region: "eu-west-1",
        instanceType: "m7g.large",
        sshPublicKey: KEY,
        sshUser: "debian",
        adminCidrs: ["203.0.113.7/32", "2001:db8::/48"],
        vpcCidr: "10.20.0.0/20",
        availabilityZones: ["eu-west-1a", "eu-west-1c"],
        azCount: 2,
        rootVolumeGb: 30,
        amiId: "ami-0123456789abcdef0",
        weights: { blue: 90, green: 10 },
        testListenerPorts: { blue: 9001, green: 9002 },
        certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        hostEgressPorts: [443],
        provision: false,
        tags: { team: "shop", "cost:center": "42" },
      };
    });
    expect(problems(text)).toEqual([]);
  });
});

describe("aws: every problem, with its path", () => {
  it.each<[string, (raw: Record<string, any>) => void, string[]]>([
    [
      "SSH open to the world, and a bare address",
      (raw) => {
        raw.aws.adminCidrs = ["0.0.0.0/0", "::/0", "10.0.0.0/0", "10.0.0.1", "2001:db8::/48"];
      },
      [
        "longshore.yaml: aws.adminCidrs[0]: would open SSH to the whole internet: list your own address ranges",
        "longshore.yaml: aws.adminCidrs[1]: would open SSH to the whole internet: list your own address ranges",
        "longshore.yaml: aws.adminCidrs[2]: would open SSH to the whole internet: list your own address ranges",
        "longshore.yaml: aws.adminCidrs[3]: must be a CIDR such as 203.0.113.7/32 or 2001:db8::/64",
      ],
    ],
    [
      "no admin ranges",
      (raw) => {
        raw.aws.adminCidrs = [];
      },
      ["longshore.yaml: aws.adminCidrs: must list at least one address range (SSH is never open to the world)"],
    ],
    [
      "the required keys missing",
      (raw) => {
        raw.aws = {};
      },
      ["longshore.yaml: aws.sshPublicKey: is required", "longshore.yaml: aws.adminCidrs: is required"],
    ],
    [
      "region, instance type, key, user, network, zones, disk, AMI, certificate, egress, flag, tags, a typo",
      (raw) => {
        raw.aws = {
          ...raw.aws,
          region: "Europe (Ireland)",
          instanceType: "big",
          sshPublicKey: "ssh-ed25519",
          sshUser: "Root",
          vpcCidr: "10.0.0.0/8",
          availabilityZones: ["eu-west-1a"],
          azCount: 7,
          rootVolumeGb: 4,
          amiId: "ami-x",
          certificateArn: "arn:aws:iam::123456789012:server-certificate/x",
          hostEgressPorts: [],
          provision: "yes",
          tags: { "bad,key": "x" },
          instancetype: "t3.small",
        };
      },
      [
        "longshore.yaml: aws.region: must be an AWS region such as eu-west-1",
        "longshore.yaml: aws.instanceType: must be an EC2 instance type such as t3.small",
        "longshore.yaml: aws.sshPublicKey: must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... you@laptop'",
        "longshore.yaml: aws.sshUser: must be a user name",
        "longshore.yaml: aws.vpcCidr: must have a prefix length from /16 to /24",
        "longshore.yaml: aws.availabilityZones: must list at least 2 zones (a load balancer needs two)",
        "longshore.yaml: aws.azCount: must be a whole number from 2 to 6",
        "longshore.yaml: aws.rootVolumeGb: must be a whole number from 8 to 1024",
        "longshore.yaml: aws.amiId: must be an AMI id such as ami-0123456789abcdef0",
        "longshore.yaml: aws.certificateArn: must be an ACM certificate ARN",
        "longshore.yaml: aws.hostEgressPorts: must not be empty",
        "longshore.yaml: aws.provision: must be true or false (got a string)",
        'longshore.yaml: aws.tags["bad,key"]: must be a valid AWS tag key',
        "longshore.yaml: aws.instancetype: unknown key",
      ],
    ],
    [
      "a VPC that is not a CIDR, a zone that is not a zone, a port that is not a port",
      (raw) => {
        raw.aws.vpcCidr = "10.0.0.0";
        raw.aws.availabilityZones = ["eu-west-1a", "west"];
        raw.aws.hostEgressPorts = [443, 0];
      },
      [
        "longshore.yaml: aws.vpcCidr: must be an IPv4 CIDR such as 10.0.0.0/16",
        "longshore.yaml: aws.availabilityZones[1]: must be an availability zone name such as eu-west-1a",
        "longshore.yaml: aws.hostEgressPorts[1]: must be a whole number from 1 to 65535",
      ],
    ],
    [
      "test listener ports that clash, on the public port",
      (raw) => {
        raw.aws.testListenerPorts = { blue: 80, green: 80 };
      },
      [
        "longshore.yaml: aws.testListenerPorts.blue: must not be 80 or 443 (the public listeners)",
        "longshore.yaml: aws.testListenerPorts.green: must not be 80 or 443 (the public listeners)",
        "longshore.yaml: aws.testListenerPorts.green: must differ from testListenerPorts.blue",
      ],
    ],
    [
      "a test listener on the HTTPS port",
      (raw) => {
        raw.aws.testListenerPorts = { green: 443 };
      },
      ["longshore.yaml: aws.testListenerPorts.green: must not be 80 or 443 (the public listeners)"],
    ],
    [
      "test listener ports that clash",
      (raw) => {
        raw.aws.testListenerPorts = { blue: 9000, green: 9000 };
      },
      ["longshore.yaml: aws.testListenerPorts.green: must differ from testListenerPorts.blue"],
    ],
    [
      "a test listener port that is not a port",
      (raw) => {
        raw.aws.testListenerPorts = { blue: 70000 };
      },
      ["longshore.yaml: aws.testListenerPorts.blue: must be a whole number from 1 to 65535"],
    ],
    [
      "a split without a live slot",
      (raw) => {
        raw.live = null;
        raw.aws.weights = { blue: 1, green: 0 };
      },
      ["longshore.yaml: aws.weights: needs live: a split is between the live slot and the other one"],
    ],
    [
      "a split that starves the live slot and feeds a slot without an image",
      (raw) => {
        raw.aws.weights = { blue: 0, green: 5 };
      },
      ["longshore.yaml: aws.weights.blue: must be more than 0 for the live slot", "longshore.yaml: aws.weights.green: must be 0 while slots.green has no image"],
    ],
    [
      "weights out of range",
      (raw) => {
        raw.aws.weights = { blue: 1000, green: -1 };
      },
      ["longshore.yaml: aws.weights.blue: must be a whole number from 0 to 999", "longshore.yaml: aws.weights.green: must be a whole number from 0 to 999"],
    ],
    [
      "weights need both slots",
      (raw) => {
        raw.aws.weights = { blue: 100 };
      },
      ["longshore.yaml: aws.weights.green: is required"],
    ],
    [
      "driver: aws without an aws block",
      (raw) => {
        delete raw.aws;
      },
      ["longshore.yaml: aws: is required with driver: aws (region, sshPublicKey, adminCidrs...)"],
    ],
    [
      "more than 100 hosts in a slot",
      (raw) => {
        raw.slots.blue.size = 101;
      },
      ["longshore.yaml: slots.blue.size: must be at most 100"],
    ],
  ])("%s", (_what, edit, expected) => {
    expect(problems(file(edit))).toEqual(expected);
  });

  it("takes an aws block with driver: local without using it, and 50 hosts at most per slot there", () => {
    expect(
      problems(
        file((raw) => {
          raw.driver = "local";
          raw.slots.blue.size = 51;
        }),
      ),
    ).toEqual(["longshore.yaml: slots.blue.size: must be at most 50 on the local driver"]);
  });
});
