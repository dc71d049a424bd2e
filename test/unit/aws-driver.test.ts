// Unit: the aws driver against a real environment file in a temp directory and a fake workspace that
// records each `pulumi up` with the file as it was then. Does not prove that the real stack program
// reacts to these keys as intended (the mock suites of stacks/web do) or that the Automation API
// and a real `pulumi up` with an AWS account behave like the fake.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { MissingToolError } from "../../core/errors";
import { AwsSlotDriver, type StackWorkspace } from "../../drivers/aws/aws-driver";
import type { Environment } from "../../model/environment";
import { parseEnvironment } from "../../model/environment-file";
import type { ProbeResult, SlotName } from "../../rollout/driver";
import { rollout } from "../../rollout/rollout";
import { requirePulumiCli, webStackDir } from "../../stacks/web/workspace";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
/** A short key, so the expected file texts stay readable; the long real one is kept on its line too (tested below). */
const SHORT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 admin@laptop";
const V1 = "registry.example.com/shop:1.0";
const V2 = "registry.example.com/shop:1.1";

/** An environment file with comments everywhere, in the layout the yaml library writes back. */
const FILE_TEXT = `# The shop, on AWS.
name: test
driver: aws
app:
  name: shop
  image: ${V1} # what rollouts deploy by default
  port: 8080
  health:
    path: /healthz
# Written by longshore after every operation.
slots:
  blue:
    image: ${V1}
    size: 2 # two hosts
  green:
    image: null # no hosts yet
    size: 2
live: blue # the slot serving traffic
aws:
  region: eu-west-1
  sshPublicKey: ${SHORT_KEY}
  adminCidrs:
    - 203.0.113.7/32
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "longshore-aws-driver-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let count = 0;
/** A fresh environment file; returns its path and the parsed environment. */
function environmentFile(text = FILE_TEXT): { file: string; env: Environment } {
  const file = path.join(dir, `longshore-${++count}.yaml`);
  writeFileSync(file, text);
  const r = parseEnvironment(text, file);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return { file, env: r.value };
}

/** The file's text with some lines replaced (each `from` must occur exactly once). */
function edited(text: string, ...changes: Array<[string, string]>): string {
  let out = text;
  for (const [from, to] of changes) {
    expect(out.split(from)).toHaveLength(2);
    out = out.replace(from, to);
  }
  return out;
}

/**
 * A fake `web` stack: `up` reads the environment file as the program would, records it in one line
 * and, unless told to fail, makes it what the stack has; `outputs` are that state's, as the
 * program exports them (hosts only for slots with an image).
 */
function recordingWorkspace(file: string, options: { failUps?: number[]; address?: (slot: SlotName, i: number) => string } = {}) {
  const log: string[] = [];
  const address = options.address ?? ((slot, i) => `203.0.113.${slot === "blue" ? 10 + i : 20 + i}`);
  const read = (): Environment => {
    const r = parseEnvironment(readFileSync(file, "utf8"), file);
    if (!r.ok) throw new Error(`the driver left an invalid file: ${JSON.stringify(r.issues)}`);
    return r.value;
  };
  let deployed = read();
  let ups = 0;
  const ws: StackWorkspace = {
    async up(onOutput) {
      ups += 1;
      const env = read();
      const slot = (s: SlotName) => (env.slots[s].image === null ? "null" : `${env.slots[s].image}x${env.slots[s].size}`);
      log.push(`up live=${env.live} blue=${slot("blue")} green=${slot("green")}`);
      onOutput(`Updating (${env.name})`);
      if (options.failUps?.includes(ups)) throw new Error("update failed: health gate: 1 of 1 target not healthy");
      deployed = env;
    },
    async outputs() {
      const hosts = (s: SlotName) => (deployed.slots[s].image === null ? 0 : deployed.slots[s].size);
      const per = <T>(f: (s: SlotName, i: number) => T) => ({
        blue: Array.from({ length: hosts("blue") }, (_, i) => f("blue", i)),
        green: Array.from({ length: hosts("green") }, (_, i) => f("green", i)),
      });
      return {
        url: "http://web-lb-123.eu-west-1.elb.amazonaws.com/",
        liveSlot: deployed.live,
        hostNames: per((s, i) => `${deployed.name}-${s}-${i}`),
        hostAddresses: per(address),
        deployPublicKey: "ssh-ed25519 AAAA deploy",
      };
    },
  };
  return { ws, log };
}

const healthy = async (_slot: SlotName, hosts: { name: string }[]): Promise<ProbeResult[]> => hosts.map((h) => ({ host: h.name, ok: true, status: 200, detail: "ok" }));

describe("AwsSlotDriver", () => {
  it("status: hosts and the live slot from the stack's outputs, images from the file", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file);
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy });
    expect(await driver.status()).toEqual({
      live: "blue",
      url: "http://web-lb-123.eu-west-1.elb.amazonaws.com/",
      slots: {
        blue: {
          image: V1,
          hosts: [
            { name: "test-blue-0", address: "203.0.113.10", image: V1 },
            { name: "test-blue-1", address: "203.0.113.11", image: V1 },
          ],
        },
        green: { image: null, hosts: [] },
      },
    });
    expect(log).toEqual([]);
  });

  it("checkHostKeys says unknown for each host: the aws driver does not check keys yet", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy });
    expect(await driver.checkHostKeys("blue")).toEqual([
      { host: "test-blue-0", state: "unknown", detail: "the aws driver does not check host keys yet" },
      { host: "test-blue-1", state: "unknown", detail: "the aws driver does not check host keys yet" },
    ]);
    expect(await driver.checkHostKeys("green")).toEqual([]);
  });

  it("prepareSlot writes the slot's image and size into the file, keeping every comment, runs one up and returns the new hosts", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file);
    const progress: string[] = [];
    const lines: string[] = [];
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy, log: (l) => lines.push(l) });
    const hosts = await driver.prepareSlot("green", V2, 3, (m) => progress.push(m));
    expect(readFileSync(file, "utf8")).toBe(
      edited(FILE_TEXT, ["    image: null # no hosts yet\n    size: 2\n", `    image: ${V2} # no hosts yet\n    size: 3\n`]),
    );
    expect(log).toEqual([`up live=blue blue=${V1}x2 green=${V2}x3`]);
    expect(lines).toEqual(["Updating (test)"]);
    expect(progress).toEqual([`pulumi up: green slot -> ${V2} x3`]);
    expect(hosts).toEqual([0, 1, 2].map((i) => ({ name: `test-green-${i}`, address: `203.0.113.${20 + i}`, image: V2 })));
  });

  it("switchTraffic writes only live, then runs up", async () => {
    const { file, env } = environmentFile(edited(FILE_TEXT, ["    image: null # no hosts yet\n", `    image: ${V2} # no hosts yet\n`]));
    const before = readFileSync(file, "utf8");
    const { ws, log } = recordingWorkspace(file);
    await new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy }).switchTraffic("green", 5000);
    expect(readFileSync(file, "utf8")).toBe(edited(before, ["live: blue # the slot serving traffic\n", "live: green # the slot serving traffic\n"]));
    expect(log).toEqual([`up live=green blue=${V1}x2 green=${V2}x2`]);
  });

  it("retireSlot writes the slot's image as null (its size stays), then runs up", async () => {
    const { file, env } = environmentFile(
      edited(FILE_TEXT, ["    image: null # no hosts yet\n", `    image: ${V2} # no hosts yet\n`], ["live: blue #", "live: green #"]),
    );
    const before = readFileSync(file, "utf8");
    const { ws, log } = recordingWorkspace(file);
    const progress: string[] = [];
    await new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy }).retireSlot("blue", (m) => progress.push(m));
    expect(readFileSync(file, "utf8")).toBe(edited(before, [`    image: ${V1}\n    size: 2 # two hosts\n`, "    image: null\n    size: 2 # two hosts\n"]));
    expect(log).toEqual([`up live=green blue=null green=${V2}x2`]);
    expect(progress).toEqual(["pulumi up: retiring the blue slot"]);
  });

  it("a failed up in prepareSlot sets the slot's image back to null and runs up again, then fails with the first error", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file, { failUps: [1] });
    const progress: string[] = [];
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy });
    await expect(driver.prepareSlot("green", V2, 3, (m) => progress.push(m))).rejects.toThrow("update failed: health gate: 1 of 1 target not healthy");
    expect(log).toEqual([`up live=blue blue=${V1}x2 green=${V2}x3`, `up live=blue blue=${V1}x2 green=null`]);
    // The file never names hosts that are not there; the size asked for stays.
    expect(readFileSync(file, "utf8")).toBe(edited(FILE_TEXT, ["    image: null # no hosts yet\n    size: 2\n", "    image: null # no hosts yet\n    size: 3\n"]));
    expect(progress).toEqual([`pulumi up: green slot -> ${V2} x3`, "pulumi up failed; removing the green slot's hosts again"]);
    expect((await driver.status()).slots.green).toEqual({ image: null, hosts: [] });
  });

  it("when removing the hosts fails too, says so and still fails with the first error", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file, { failUps: [1, 2] });
    const progress: string[] = [];
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy });
    await expect(driver.prepareSlot("green", V2, 2, (m) => progress.push(m))).rejects.toThrow("update failed: health gate: 1 of 1 target not healthy");
    expect(log).toHaveLength(2);
    expect(progress).toEqual([
      `pulumi up: green slot -> ${V2} x2`,
      "pulumi up failed; removing the green slot's hosts again",
      "removing them failed too: update failed: health gate: 1 of 1 target not healthy",
    ]);
  });

  it("a rollout is: idle slot image+size, up, switch live, up (old slot kept); the file ends as what runs", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file);
    const driver = new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy });
    const report = await rollout({ driver, image: V2, policy: { soakMs: 0, healthyRounds: 1, probeIntervalMs: 0 }, clock: { now: () => 0, sleep: async () => {} } });
    expect(report.outcome).toBe("succeeded");
    expect(log).toEqual([`up live=blue blue=${V1}x2 green=${V2}x2`, `up live=green blue=${V1}x2 green=${V2}x2`]);
    expect(readFileSync(file, "utf8")).toBe(
      edited(FILE_TEXT, ["    image: null # no hosts yet\n", `    image: ${V2} # no hosts yet\n`], ["live: blue #", "live: green #"]),
    );
  });

  it("a failed health gate retires the new slot and never touches live", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file);
    const driver = new AwsSlotDriver({
      env,
      file,
      workspace: ws,
      probeHosts: async (_s, h) => h.map((x) => ({ host: x.name, ok: false, status: 502, detail: "bad gateway" })),
    });
    const report = await rollout({ driver, image: V2, policy: { healthDeadlineMs: 0, probeIntervalMs: 1 }, clock: { now: () => 0, sleep: async () => {} } });
    expect(report.outcome).toBe("failed");
    expect(log).toEqual([`up live=blue blue=${V1}x2 green=${V2}x2`, `up live=blue blue=${V1}x2 green=null`]);
    expect(readFileSync(file, "utf8")).toBe(FILE_TEXT);
  });

  // model/environment-file.ts's updateEnvironmentText writes the document back with the yaml
  // library's default lineWidth (80), so every edit re-folds the user's long lines (a real SSH key,
  // an ACM ARN) onto several lines. The value stays the same; the layout does not. The fix is
  // there (`doc.toString({ lineWidth: 0 })`); then drop `.fails`.
  it("keeps a long line (a real SSH public key) on its one line when editing the file", async () => {
    const text = edited(FILE_TEXT, [`sshPublicKey: ${SHORT_KEY}`, `sshPublicKey: ${KEY}`]);
    const { file, env } = environmentFile(text);
    const { ws } = recordingWorkspace(file);
    await new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy }).switchTraffic("blue", 0);
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  it("probes each host directly on the app's host port with app.health's path and status", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? "");
      res.writeHead(req.url === "/ready" ? 204 : 404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const { file, env } = environmentFile(
        edited(FILE_TEXT, ["  port: 8080\n  health:\n    path: /healthz\n", `  port: 8080\n  hostPort: ${port}\n  health:\n    path: /ready\n    status: 204\n`]),
      );
      const { ws } = recordingWorkspace(file, { address: () => "127.0.0.1" });
      const results = await new AwsSlotDriver({ env, file, workspace: ws }).probe("blue");
      expect(results).toEqual([
        { host: "test-blue-0", ok: true, status: 204, detail: "" },
        { host: "test-blue-1", ok: true, status: 204, detail: "" },
      ]);
      expect(seen).toEqual(["/ready", "/ready"]);
    } finally {
      await new Promise((r) => server.close(r));
    }
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
