// Mocks: does not prove the Pulumi CLI runs this program (no CLI here); it runs stacks/web/index.ts with config set through the SDK's own config store.
import { ofType, registrations, resetRegistrations, settle } from "./harness";
import { describe, expect, it, vi } from "vitest";
import * as pulumi from "@pulumi/pulumi";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

async function runProgram(config: Record<string, string>, secretKeys: string[] = []) {
  resetRegistrations();
  pulumi.runtime.setAllConfig({ "aws:region": "eu-west-1", ...config }, secretKeys);
  vi.resetModules();
  return import("../../../stacks/web/index.js");
}

describe("stacks/web/index.ts", () => {
  it("reads web:* config, declares the environment and exports public outputs", async () => {
    const program = await runProgram({
      "web:sshPublicKey": KEY,
      "web:adminCidrs": '["203.0.113.7/32"]',
      "web:slots": '{"blue":{"image":"shop:1.0","size":"2"},"green":{"size":0}}',
      "web:liveSlot": "blue",
      "web:provision": "false",
    });
    await settle();
    expect(ofType("aws:ec2/instance:Instance").map((r) => r.name).sort()).toEqual(["web-blue-0", "web-blue-1"]);
    expect(program.liveSlot).toBe("blue");
    expect(program.hostNames).toEqual({ blue: ["test-blue-0", "test-blue-1"], green: [] });
    expect(program.sshUser).toBe("admin");
    expect(registrations.some((r) => r.type === "longshore:provision:ProvisionedHost")).toBe(false);
  });

  it("fails with every problem and no stack trace (a RunError) before declaring anything", async () => {
    let error: unknown;
    try {
      await runProgram({ "web:adminCidrs": '["0.0.0.0/0"]', "web:liveslot": "green", "web:registry": '{"server":"r.example","username":"u","password":"p"}' });
    } catch (e) {
      error = e;
    }
    expect(pulumi.RunError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe(
      "stack config (Pulumi.test.yaml) is invalid (4 problems):\n" +
        "  adminCidrs[0]: would open SSH to the whole internet: list your own address ranges\n" +
        "  liveslot: unknown key\n" +
        "  registry: holds a secret, so it must be set with `pulumi config set --secret`\n" +
        // A missing key has no place in the file: it comes after the present ones.
        "  sshPublicKey: is required\n" +
        "Fix the values with `pulumi config set --path <key> <value>` (add --secret for secrets) and run again.",
    );
    await settle();
    expect(registrations).toEqual([]);
  });
});
