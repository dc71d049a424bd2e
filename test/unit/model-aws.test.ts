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

  it("accepts every key set to a valid value", () => {
    const text = file((raw) => {
      raw.slots.green = { image: "shop:2", size: 3 };
      raw.aws = {
        region: "eu-west-1",
        instanceType: "m7g.large",
        sshPublicKey: KEY,
        sshUser: "debian",
        adminCidrs: ["203.0.113.7/32", "2001:db8::/48"],
        adminCidrsMaxCoverage: { ipv4: 16, ipv6: 48 },
        vpcCidr: "10.20.0.0/20",
        availabilityZones: ["eu-west-1a", "eu-west-1c"],
        azCount: 2,
        rootVolumeGb: 30,
        amiId: "ami-0123456789abcdef0",
        weights: { blue: 90, green: 10 },
        testListenerPorts: { blue: 9001, green: 9002 },
        certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        hostEgressPorts: [443],
        provision: true,
        hostImage: true,
        tags: { team: "shop", "cost:center": "42" },
      };
    });
    expect(problems(text)).toEqual([]);
  });
});

describe("aws.adminCidrs: how much of the internet the admin ranges open together", () => {
  /** The message, spelled out: what the ranges cover, the rule (one /N), the key that sets N. */
  const cover = (family: string, covered: string, allowed: string, prefix: number) =>
    `longshore.yaml: aws.adminCidrs: the ${family} ranges together cover ${covered} (overlaps counted once), ` +
    `more than one /${prefix} (${allowed}) allows (aws.adminCidrsMaxCoverage.${family === "IPv4" ? "ipv4" : "ipv6"}: ${prefix}): list narrower ranges`;

  it.each<[string, string[], Record<string, unknown> | undefined, string[]]>([
    ["two halves of IPv4: all of it, no /0 needed", ["0.0.0.0/1", "128.0.0.0/1"], undefined, [cover("IPv4", "2^32 addresses", "2^24 addresses", 8)]],
    ["one range wider than /8", ["10.0.0.0/7"], undefined, [cover("IPv4", "2^25 addresses", "2^24 addresses", 8)]],
    ["a /8 and one more address", ["10.0.0.0/8", "11.0.0.0/32"], undefined, [cover("IPv4", "more than 2^24 addresses", "2^24 addresses", 8)]],
    ["many small ranges adding up", [...Array.from({ length: 256 }, (_, i) => `10.${i}.0.0/16`), "11.0.0.0/16"], undefined, [cover("IPv4", "more than 2^24 addresses", "2^24 addresses", 8)]],
    ["a /8 listed twice, inside itself, and with host bits set: one /8", ["10.0.0.0/8", "10.0.0.0/8", "10.1.0.0/16", "10.2.3.4/8"], undefined, []],
    ["two /9s that make exactly one /8", ["10.0.0.0/9", "10.128.0.0/9"], undefined, []],
    ["IPv6 wider than /32", ["2001:db8::/31"], undefined, [cover("IPv6", "2^97 addresses", "2^96 addresses", 32)]],
    ["IPv6 halves: all of it", ["::/1", "8000::/1"], undefined, [cover("IPv6", "2^128 addresses", "2^96 addresses", 32)]],
    ["a /32 of IPv6 and a /24 of IPv4", ["2001:db8::/32", "203.0.113.0/24"], undefined, []],
    ["an IPv6 range written with an IPv4 tail", ["::ffff:10.0.0.0/104"], undefined, []],
    ["both families too wide: IPv4 first", ["::/16", "0.0.0.0/2", "64.0.0.0/2"], undefined, [cover("IPv4", "2^31 addresses", "2^24 addresses", 8), cover("IPv6", "2^112 addresses", "2^96 addresses", 32)]],
    ["a wider limit, on purpose", ["10.0.0.0/7"], { ipv4: 7 }, []],
    ["a wider limit still has one", ["8.0.0.0/6"], { ipv4: 7 }, [cover("IPv4", "2^26 addresses", "2^25 addresses", 7)]],
    ["a narrower limit", ["198.51.100.0/24", "203.0.113.0/24"], { ipv4: 24, ipv6: 48 }, [cover("IPv4", "512 addresses", "256 addresses", 24)]],
    ["the narrowest limit: one address of each family", ["203.0.113.7/32", "203.0.113.8/31", "2001:db8::1/128"], { ipv4: 32, ipv6: 128 }, [cover("IPv4", "3 addresses", "1 address", 32)]],
  ])("%s", (_what, cidrs, limit, expected) => {
    expect(
      problems(
        file((raw) => {
          raw.aws.adminCidrs = cidrs;
          if (limit) raw.aws.adminCidrsMaxCoverage = limit;
        }),
      ),
    ).toEqual(expected);
  });

  it("says the rule and the key that sets it, word for word", () => {
    expect(
      problems(
        file((raw) => {
          raw.aws.adminCidrs = ["0.0.0.0/1", "128.0.0.0/1", "2001:db8::/31"];
        }),
      ),
    ).toEqual([
      "longshore.yaml: aws.adminCidrs: the IPv4 ranges together cover 2^32 addresses (overlaps counted once), more than one /8 (2^24 addresses) allows (aws.adminCidrsMaxCoverage.ipv4: 8): list narrower ranges",
      "longshore.yaml: aws.adminCidrs: the IPv6 ranges together cover 2^97 addresses (overlaps counted once), more than one /32 (2^96 addresses) allows (aws.adminCidrsMaxCoverage.ipv6: 32): list narrower ranges",
    ]);
  });

  it("refuses a limit that is not a prefix length of its family", () => {
    expect(
      problems(
        file((raw) => {
          raw.aws.adminCidrsMaxCoverage = { ipv4: 0, ipv6: 32.5, ipv5: 8 };
        }),
      ),
    ).toEqual([
      "longshore.yaml: aws.adminCidrsMaxCoverage.ipv4: must be a whole number from 1 to 32",
      "longshore.yaml: aws.adminCidrsMaxCoverage.ipv6: must be a whole number from 1 to 128",
      "longshore.yaml: aws.adminCidrsMaxCoverage.ipv5: unknown key",
    ]);
    expect(
      problems(
        file((raw) => {
          raw.aws.adminCidrsMaxCoverage = { ipv4: 33, ipv6: 129 };
        }),
      ),
    ).toEqual([
      "longshore.yaml: aws.adminCidrsMaxCoverage.ipv4: must be a whole number from 1 to 32",
      "longshore.yaml: aws.adminCidrsMaxCoverage.ipv6: must be a whole number from 1 to 128",
    ]);
  });

  it("reports the world as the world, and the rest as too wide", () => {
    expect(
      problems(
        file((raw) => {
          raw.aws.adminCidrs = ["0.0.0.0/0", "10.0.0.0/7", "nope"];
        }),
      ),
    ).toEqual([
      "longshore.yaml: aws.adminCidrs[0]: would open SSH to the whole internet: list your own address ranges",
      "longshore.yaml: aws.adminCidrs[2]: must be a CIDR such as 203.0.113.7/32 or 2001:db8::/64",
      cover("IPv4", "2^25 addresses", "2^24 addresses", 8),
    ]);
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
          hostImage: "on",
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
        "longshore.yaml: aws.hostImage: must be true or false (got a string)",
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
      "a host image without the provisioner to install its engine",
      (raw) => {
        raw.aws.hostImage = true;
        raw.aws.provision = false;
      },
      ["longshore.yaml: aws.hostImage: needs provision: true (the provisioner installs the image's engine on its builder)"],
    ],
    [
      "a host image without a bundle: the distro channel",
      (raw) => {
        raw.aws.hostImage = true;
        raw.engine = { channel: "distro" };
      },
      ["longshore.yaml: aws.hostImage: needs engine.channel: bundle (the image holds the pinned engine bundle; distro has none)"],
    ],
    [
      "a host image of a bundle directory",
      (raw) => {
        raw.aws.hostImage = true;
        raw.engine = { bundle: "./bundles/engine" };
      },
      ["longshore.yaml: aws.hostImage: needs engine.bundle to be a recipe name such as debian-bookworm (the image holds the bundle longshore.lock pins for it)"],
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

describe("aws.bastion", () => {
  const bastionOf = (value: unknown) => {
    const r = parseEnvironment(
      file((raw) => {
        raw.aws.bastion = value;
      }),
      "longshore.yaml",
    );
    return r.ok ? r.value.aws!.bastion : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it.each<[string, unknown, unknown]>([
    ["true: the smallest x86_64 type", true, { instanceType: "t3.nano" }],
    ["false: none", false, false],
    ["an empty mapping: the defaults", {}, { instanceType: "t3.nano" }],
    ["its own instance type", { instanceType: "t3.micro" }, { instanceType: "t3.micro" }],
  ])("%s", (_what, value, expected) => {
    expect(bastionOf(value)).toEqual(expected);
  });

  it.each<[string, unknown, string[]]>([
    ["a string", "yes", ["longshore.yaml: aws.bastion: must be true, false or a mapping such as { instanceType: t3.nano }"]],
    ["a list", [1], ["longshore.yaml: aws.bastion: must be true, false or a mapping such as { instanceType: t3.nano }"]],
    [
      "a bad type and an unknown key, both reported",
      { instanceType: "X", size: 2 },
      ["longshore.yaml: aws.bastion.instanceType: must be an EC2 instance type such as t3.nano", "longshore.yaml: aws.bastion.size: unknown key"],
    ],
  ])("refuses %s with its path", (_what, value, expected) => {
    expect(bastionOf(value)).toEqual(expected);
  });
});
