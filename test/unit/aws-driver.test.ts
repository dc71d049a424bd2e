// Unit: the aws driver against a fake workspace that records config edits and `up` runs. Does not
// prove that the real stack program reacts to these keys as intended (the mock suite of stacks/web
// and a real `pulumi up` with an AWS account do).
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { AwsSlotDriver, requirePulumiCli, webStackDir, type StackWorkspace } from "../../stacks/web/aws-driver";
import { rollout } from "../../rollout/rollout";
import { MissingToolError } from "../../core/errors";
import type { ProbeResult } from "../../rollout/driver";

function recordingWorkspace(initial: Record<string, string>) {
  const config = new Map(Object.entries(initial));
  const log: string[] = [];
  const ws: StackWorkspace = {
    async setConfig(key, value) {
      log.push(`set ${key}=${value}`);
      config.set(key, value);
    },
    async getConfig(key) {
      return config.get(key);
    },
    async up(onOutput) {
      log.push("up");
      onOutput("Updating (dev)");
    },
    async outputs() {
      const size = (s: string) => Number(config.get(`slots.${s}.size`) ?? "0");
      const addrs = (s: string) => Array.from({ length: size(s) }, (_, i) => `203.0.113.${s === "blue" ? 10 + i : 20 + i}`);
      return {
        loadBalancerDnsName: "web-123.eu-west-1.elb.amazonaws.com",
        liveSlot: config.get("liveSlot"),
        hostAddresses: { blue: addrs("blue"), green: addrs("green") },
      };
    },
  };
  return { ws, log, config };
}

const ok = (hosts: { name: string }[]): ProbeResult[] => hosts.map((h) => ({ host: h.name, ok: true, status: 200, detail: "ok" }));

describe("AwsSlotDriver", () => {
  it("reads slots, hosts and the live slot from config and outputs", async () => {
    const { ws } = recordingWorkspace({ "slots.blue.image": "web:v1", "slots.blue.size": "2", liveSlot: "blue" });
    const driver = new AwsSlotDriver({ workspace: ws, probeHosts: async (_s, h) => ok(h) });
    expect(await driver.status()).toEqual({
      live: "blue",
      url: "http://web-123.eu-west-1.elb.amazonaws.com/",
      slots: {
        blue: {
          image: "web:v1",
          hosts: [
            { name: "blue-0", address: "203.0.113.10", image: "web:v1" },
            { name: "blue-1", address: "203.0.113.11", image: "web:v1" },
          ],
        },
        green: { image: null, hosts: [] },
      },
    });
  });

  it("a rollout is: idle slot image+size, up, switch liveSlot, up (old slot kept)", async () => {
    const { ws, log, config } = recordingWorkspace({ "slots.blue.image": "web:v1", "slots.blue.size": "2", liveSlot: "blue" });
    const driver = new AwsSlotDriver({ workspace: ws, probeHosts: async (_s, h) => ok(h) });
    const report = await rollout({
      driver,
      image: "web:v2",
      policy: { soakMs: 0, healthyRounds: 1, probeIntervalMs: 0 },
      clock: { now: () => 0, sleep: async () => {} },
    });
    expect(report.outcome).toBe("succeeded");
    expect(log).toEqual(["set slots.green.image=web:v2", "set slots.green.size=2", "up", "set liveSlot=green", "up"]);
    expect(config.get("slots.blue.image")).toBe("web:v1");
  });

  it("a failed health gate retires the new slot and never touches liveSlot", async () => {
    const { ws, log } = recordingWorkspace({ "slots.blue.image": "web:v1", "slots.blue.size": "1", liveSlot: "blue" });
    const driver = new AwsSlotDriver({
      workspace: ws,
      probeHosts: async (_s, h) => h.map((x) => ({ host: x.name, ok: false, status: 502, detail: "bad gateway" })),
    });
    const report = await rollout({
      driver,
      image: "web:v2",
      policy: { healthDeadlineMs: 0, probeIntervalMs: 1 },
      clock: { now: () => 0, sleep: async () => {} },
    });
    expect(report.outcome).toBe("failed");
    expect(log).toEqual(["set slots.green.image=web:v2", "set slots.green.size=1", "up", "set slots.green.size=0", "up"]);
  });
});

describe("requirePulumiCli", () => {
  it("names the missing CLI and how to get it", () => {
    let err: unknown;
    try {
      requirePulumiCli({ PATH: "/nonexistent" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingToolError);
    expect((err as MissingToolError).message).toBe("the aws driver needs the Pulumi CLI, and `pulumi` is not on PATH");
    expect((err as MissingToolError).code).toBe("TOOL_MISSING");
  });
});

describe("webStackDir", () => {
  it("finds the stack project with its Pulumi.yaml", () => {
    expect(existsSync(`${webStackDir()}/Pulumi.yaml`)).toBe(true);
  });
});
