// Mocks: does not prove AWS quotas allow 200 instances or how long a real `pulumi up` of them takes (bench/pulumi-200-hosts.ts times the declaration).
import { describe, expect, it } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import of the code under test.
import { ofType, registrations, resetRegistrations, settle } from "./harness";
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { parseEnvironment } from "../../../model/environment-file";
import { buildWebStack, type AwsEnvironment } from "../../../stacks/web/web-stack";

describe("a 200-host environment (100 per slot)", () => {
  it("declares every host, key, provisioning and attachment, with unique names", async () => {
    resetRegistrations();
    const parsed = parseEnvironment(
      stringify({
        name: "big",
        driver: "aws",
        app: { name: "shop", image: "shop:1" },
        slots: { blue: { image: "shop:1", size: 100 }, green: { image: "shop:2", size: 100 } },
        live: "blue",
        aws: {
          sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop",
          adminCidrs: ["203.0.113.7/32"],
          azCount: 3,
        },
      }),
      "big.yaml",
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const hashed: string[] = [];
    const stack = buildWebStack(parsed.value as AwsEnvironment, { app: {}, registryPassword: null }, {
      loadEntry: () => ({
        planHostHash: (i) => {
          hashed.push(i.slot);
          return createHash("sha256").update(JSON.stringify(i)).digest("hex");
        },
      }),
    });
    await settle(120_000);
    expect(ofType("aws:ec2/instance:Instance")).toHaveLength(200);
    expect(ofType("pulumi-nodejs:dynamic/longshore:HostKey")).toHaveLength(200);
    expect(ofType("pulumi-nodejs:dynamic/longshore:ProvisionedHost")).toHaveLength(200);
    expect(ofType("aws:lb/targetGroupAttachment:TargetGroupAttachment")).toHaveLength(200);
    expect(ofType("aws:ec2/subnet:Subnet")).toHaveLength(3);
    // The 2 x 2 environment's 31 fixed resources (the operation lock's 3 among them), +2 for the
    // third zone (subnet, association), 2 fleets, 2 gates (component + dynamic each), and 5 per
    // host: key, instance, ProvisionedHost (component + dynamic), target group attachment.
    expect(registrations).toHaveLength(33 + 2 + 2 * 2 + 200 * 5);
    expect(new Set(registrations.map((r) => `${r.type}::${r.name}`)).size).toBe(registrations.length);
    expect(stack.outputs.hostNames.green[99]).toBe("big-green-99");
    // One plan (and hash) per slot, not per host.
    expect(hashed).toEqual(["blue", "green"]);
  });

  it("refuses a slot of more than 100 hosts on aws, with its path", () => {
    const parsed = parseEnvironment(
      stringify({
        name: "big",
        driver: "aws",
        app: { name: "shop", image: "shop:1" },
        slots: { blue: { image: "shop:1", size: 101 } },
        aws: { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop", adminCidrs: ["203.0.113.7/32"] },
      }),
      "big.yaml",
    );
    expect(parsed.ok ? [] : parsed.issues).toEqual([{ path: "big.yaml: slots.blue.size", message: "must be at most 100" }]);
  });
});
