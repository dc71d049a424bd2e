// Does not prove that Pulumi hands the program these values (config reading is exercised with the real Pulumi runtime only in the mock tests).
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ConfigError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { isWorldCidr, parseWebStackConfig, projectConfigValues } from "../../config/web-stack";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const base = (): Record<string, unknown> => ({
  sshPublicKey: KEY,
  adminCidrs: ["203.0.113.7/32"],
  slots: { blue: { image: "shop:1.0", size: 2 } },
  liveSlot: "blue",
});

function issuesOf(raw: Record<string, unknown>, options: { stack?: string; secretKeys?: string[] } = {}) {
  try {
    parseWebStackConfig(raw, { stack: options.stack ?? "prod", secretKeys: options.secretKeys ?? [] });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error("expected a ConfigError");
}

describe("parseWebStackConfig: defaults", () => {
  it("fills in every default from a minimal config", () => {
    const c = parseWebStackConfig(base(), { stack: "prod" });
    expect(c).toEqual({
      environment: "prod",
      vpcCidr: "10.0.0.0/16",
      azCount: 2,
      instanceType: "t3.small",
      rootVolumeGb: 16,
      sshPublicKey: KEY,
      sshUser: "admin",
      adminCidrs: ["203.0.113.7/32"],
      slots: { blue: { image: "shop:1.0", size: 2 }, green: { size: 0 } },
      liveSlot: "blue",
      app: { name: "app", port: 8080, healthPath: "/healthz", env: {}, secrets: {} },
      healthCheck: { intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 2, matcher: "200", deadlineSeconds: 300 },
      deregistrationDelaySeconds: 60,
      testListenerPorts: { blue: 8081, green: 8082 },
      engine: {},
      hostEgressPorts: [80, 443],
      provision: true,
      tags: {},
    });
  });

  it("accepts counts and flags as text, as `pulumi config set --path` stores them", () => {
    const c = parseWebStackConfig(
      { ...base(), slots: { blue: { image: "shop:1.0", size: "3" }, green: { size: "0" } }, provision: "false", deregistrationDelaySeconds: "30" },
      { stack: "prod" },
    );
    expect([c.slots.blue.size, c.slots.green.size, c.provision, c.deregistrationDelaySeconds]).toEqual([3, 0, false, 30]);
  });

  it("keeps secrets Sensitive when they were set with --secret", () => {
    const c = parseWebStackConfig(
      { ...base(), registry: { server: "registry.example.com", username: "deploy", password: "hunter2-long" }, app: { secrets: { DB_PASSWORD: "pw-123456" } } },
      { stack: "prod", secretKeys: ["registry", "app"] },
    );
    expect(c.registry!.password).toBeInstanceOf(Sensitive);
    expect(c.registry!.password.reveal()).toBe("hunter2-long");
    expect(c.app.secrets.DB_PASSWORD!.reveal()).toBe("pw-123456");
    expect(JSON.stringify(c)).not.toMatch(/hunter2|pw-123456/);
  });
});

describe("parseWebStackConfig: every problem, with its path, in file order", () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ["an empty config", {}, ["sshPublicKey: is required", "adminCidrs: is required"]],
    [
      "SSH open to the world, and a bare address",
      { ...base(), adminCidrs: ["0.0.0.0/0", "::/0", "10.0.0.1", "2001:db8::/48"] },
      [
        "adminCidrs[0]: would open SSH to the whole internet: list your own address ranges",
        "adminCidrs[1]: would open SSH to the whole internet: list your own address ranges",
        "adminCidrs[2]: must be a CIDR such as 203.0.113.7/32 or 2001:db8::/64",
      ],
    ],
    ["no admin ranges", { ...base(), adminCidrs: [] }, ["adminCidrs: must list at least one address range (SSH is never open to the world)"]],
    [
      "slots without images, a bad image, too many hosts",
      { ...base(), slots: { blue: { size: 2 }, green: { image: "Shop:1", size: 101 } }, liveSlot: "green" },
      [
        "slots.blue.image: is required when size is more than 0",
        "slots.green.image: must be an image reference like name:tag or registry.example:5000/team/name:tag (lower-case)",
        "slots.green.size: must be a whole number from 0 to 100",
      ],
    ],
    ["typos are unknown keys", { ...base(), liveslot: "blue", slots: { blue: { image: "shop:1", size: 2, sise: 3 } } }, ["slots.blue.sise: unknown key", "liveslot: unknown key"]],
    ["a live slot without hosts", { ...base(), liveSlot: "green" }, ["liveSlot: the live slot (green) has no hosts: give slots.green an image and a size first"]],
    [
      "a split that starves the live slot and feeds an empty one",
      { ...base(), weights: { blue: 0, green: 5 } },
      ["weights.blue: must be more than 0 for the live slot", "weights.green: must be 0 while slots.green has no hosts"],
    ],
    ["a split without a live slot", { ...base(), liveSlot: undefined, weights: { blue: 1, green: 0 } }, ["weights: needs liveSlot: a split is between the live slot and the other one"]],
    [
      "app problems",
      { ...base(), app: { port: 0, healthPath: "healthz", env: { "1BAD": "x", OK: 1 } } },
      [
        "app.port: must be an integer from 1 to 65535",
        "app.healthPath: must start with / and contain no spaces or control characters",
        "app.env.1BAD: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
      ],
    ],
    [
      "listener ports, VPC, instance type, certificate",
      { ...base(), testListenerPorts: { blue: 80, green: 80 }, vpcCidr: "10.0.0.0/8", instanceType: "big", certificateArn: "nope" },
      [
        "testListenerPorts.blue: must not be 80 or 443 (the public listeners)",
        "testListenerPorts.green: must differ from testListenerPorts.blue",
        "testListenerPorts.green: must not be 80 or 443 (the public listeners)",
        "vpcCidr: must have a prefix length from /16 to /24",
        "instanceType: must be an EC2 instance type such as t3.small",
        "certificateArn: must be an ACM certificate ARN",
      ],
    ],
    [
      "engine options: only the shape is checked here",
      { ...base(), engine: { channel: "snap", daemon: [], extra: 1 } },
      ['engine.channel: must be one of "bundle", "distro"', "engine.daemon: must be a mapping (key: value) (got a list)", "engine.extra: unknown key"],
    ],
    [
      "key, flag, health check",
      { ...base(), sshPublicKey: "ssh-ed25519", provision: "yes", healthCheck: { timeoutSeconds: 1, matcher: "abc" } },
      [
        "sshPublicKey: must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... you@laptop'",
        "provision: must be true or false (got a string)",
        "healthCheck.timeoutSeconds: must be a whole number from 2 to 120",
        "healthCheck.matcher: must be HTTP codes like 200, 200-299 or 200,204",
      ],
    ],
    ["an app secret also in env", { ...base(), app: { env: { A: "1" }, secrets: { A: "s" } } }, ["app.secrets.A: is also set in app.env"]],
  ])("%s", (_what, raw, expected) => {
    expect(issuesOf(raw, { secretKeys: ["app"] })).toEqual(expected);
  });

  it("refuses secrets that were set in clear", () => {
    const raw = { ...base(), registry: { server: "registry.example.com", username: "u", password: "p" }, app: { secrets: { A: "s" } } };
    expect(issuesOf(raw, { secretKeys: [] })).toEqual([
      "registry: holds a secret, so it must be set with `pulumi config set --secret`",
      "app.secrets: holds a secret, so it must be set with `pulumi config set --secret`",
    ]);
    expect(issuesOf(raw, { secretKeys: ["app"] })).toEqual(["registry: holds a secret, so it must be set with `pulumi config set --secret`"]);
  });

  it("says where a bad environment name comes from when it defaults to the stack name", () => {
    expect(issuesOf(base(), { stack: "Prod_EU" })).toEqual([
      `environment: must be a lower-case name of 1-24 letters, digits or '-', starting with a letter (it defaults to the stack name "Prod_EU": set web:environment)`,
    ]);
    expect(parseWebStackConfig({ ...base(), environment: "prod-eu" }, { stack: "Prod_EU" }).environment).toBe("prod-eu");
  });

  it("names the stack config file and never echoes a secret", () => {
    let err: ConfigError | undefined;
    try {
      parseWebStackConfig({ ...base(), registry: { server: "registry.example.com", username: "u", password: "s3cret\nvalue" } }, { stack: "prod", secretKeys: ["registry"] });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err?.message).toBe("stack config (Pulumi.prod.yaml) is invalid (1 problem):\n  registry.password: must not contain a newline");
    expect(err?.suggestion).toBe("Fix the values with `pulumi config set --path <key> <value>` (add --secret for secrets) and run again.");
    expect(JSON.stringify(err?.toJSON())).not.toContain("s3cret");
  });
});

describe("isWorldCidr", () => {
  it.each([
    ["0.0.0.0/0", true],
    ["::/0", true],
    ["10.0.0.0/0", true],
    ["0.0.0.0/1", false],
    ["203.0.113.7/32", false],
  ])("%s -> %s", (cidr, world) => {
    expect(isWorldCidr(cidr)).toBe(world);
  });
});

describe("projectConfigValues", () => {
  it("keeps this project's keys, decodes JSON values and leaves text as text", () => {
    expect(
      projectConfigValues(
        {
          "aws:region": "eu-west-1",
          "web:slots": '{"blue":{"image":"shop:1","size":2}}',
          "web:adminCidrs": '["203.0.113.7/32"]',
          "web:liveSlot": "green",
          "web:provision": "false",
          "web:deregistrationDelaySeconds": "30",
          "web:sshPublicKey": KEY,
          "web:amiId": "ami-0123456789abcdef0",
          "web:broken": "{not json",
          "other:liveSlot": "blue",
        },
        "web",
      ),
    ).toEqual({
      slots: { blue: { image: "shop:1", size: 2 } },
      adminCidrs: ["203.0.113.7/32"],
      liveSlot: "green",
      provision: false,
      deregistrationDelaySeconds: 30,
      sshPublicKey: KEY,
      amiId: "ami-0123456789abcdef0",
      broken: "{not json",
    });
  });
});

describe("stacks/web/Pulumi.example.yaml", () => {
  it("is a valid stack config", () => {
    const doc = parse(readFileSync(path.join(__dirname, "..", "..", "stacks", "web", "Pulumi.example.yaml"), "utf8")) as { config: Record<string, unknown> };
    const raw = Object.fromEntries(Object.entries(doc.config).filter(([k]) => k.startsWith("web:")).map(([k, v]) => [k.slice(4), v]));
    const c = parseWebStackConfig(raw, { stack: "example" });
    expect([c.liveSlot, c.slots.blue.size, c.slots.green.size, c.app.name, c.adminCidrs]).toEqual(["blue", 2, 0, "shop", ["203.0.113.7/32"]]);
  });
});
