// Unit: the aws driver against a real environment file in a temp directory and a fake workspace that
// records each `pulumi up` with the file as it was then. Does not prove that the real stack program
// reacts to these keys as intended (the mock suites of stacks/web do) or that the Automation API
// and a real `pulumi up` with an AWS account behave like the fake.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HostKeyError, LockHeldError, MissingToolError } from "../../core/errors";
import { AwsSlotDriver, hostProbeCommand, probeResultOf, type LockObjectClient, type StackWorkspace } from "../../drivers/aws/aws-driver";
import type { SshTarget } from "../../model/ssh-target";
import type { Command } from "../../provisioner/command";
import { healthCheckScript } from "../../provisioner/steps/app-health";
import type { SshConnectOptions } from "../../provisioner/transport/connect-options";
import type { ExecResult, Transport } from "../../provisioner/transport/transport";
import { runRollout, runUp } from "../../rollout/operations";
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
        hostKeyFingerprints: per((s, i) => `SHA256:${`${s}${i}`.padEnd(43, "x")}`),
        sshUser: "admin",
        deployPublicKey: "ssh-ed25519 AAAA deploy",
        lockBucket: "longshore-lock-abc123",
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

  it("checkHostKeys: one handshake per host with its pinned key (nothing run); unknown without an ssh-agent", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    expect(await new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy }).checkHostKeys("blue")).toEqual(
      ["test-blue-0", "test-blue-1"].map((host) => ({ host, state: "unknown", detail: "no ssh-agent (SSH_AUTH_SOCK is unset): the aws driver checks host keys over SSH" })),
    );
    const ssh = fakeSsh((target) => {
      if (target.name === "test-blue-1") throw new HostKeyError("test-blue-1", [`SHA256:${"blue1".padEnd(43, "x")}`], "SHA256:other");
      return { exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 1 };
    });
    const driver = new AwsSlotDriver({ env, file, workspace: ws, ssh: { connect: ssh.connect, auth: { agent: "/a" } } });
    expect(await driver.checkHostKeys("blue")).toEqual([
      { host: "test-blue-0", state: "match", detail: `presented SHA256:${"blue0".padEnd(43, "x")}` },
      { host: "test-blue-1", state: "mismatch", detail: `presented SHA256:other, pinned SHA256:${"blue1".padEnd(43, "x")}` },
    ]);
    expect(ssh.connected.map((c) => c.target.hostKey)).toEqual([{ fingerprints: [`SHA256:${"blue0".padEnd(43, "x")}`] }, { fingerprints: [`SHA256:${"blue1".padEnd(43, "x")}`] }]);
    expect(ssh.commands).toEqual([]);
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

  it("probes each host over SSH (one connection each, its key pinned), running app.health's check against its loopback", async () => {
    const { file, env } = environmentFile(
      edited(FILE_TEXT, ["  port: 8080\n  health:\n    path: /healthz\n", "  port: 8080\n  hostPort: 9090\n  health:\n    path: /ready\n    status: 204\n"]),
    );
    const { ws } = recordingWorkspace(file);
    const ssh = fakeSsh((target) =>
      target.name === "test-blue-0"
        ? { exitCode: 0, signal: null, stdout: "healthy: GET http://127.0.0.1:9090/ready answered 204 (attempt 1)\n", stderr: "", durationMs: 3 }
        : {
            exitCode: 1,
            signal: null,
            stdout: "",
            stderr: "app.health: GET http://127.0.0.1:9090/ready: expected status 204, got status 503 (1 attempts in 4 ms)\nstatus line: HTTP/1.1 503 Service Unavailable\n",
            durationMs: 4,
          },
    );
    const results = await new AwsSlotDriver({ env, file, workspace: ws, ssh: { connect: ssh.connect, auth: { agent: "/run/agent.sock" } } }).probe("blue");
    expect(results).toEqual([
      { host: "test-blue-0", ok: true, status: 204, detail: "healthy: GET http://127.0.0.1:9090/ready answered 204 (attempt 1)" },
      {
        host: "test-blue-1",
        ok: false,
        status: 503,
        detail: "app.health: GET http://127.0.0.1:9090/ready: expected status 204, got status 503 (1 attempts in 4 ms); status line: HTTP/1.1 503 Service Unavailable",
      },
    ]);
    expect(ssh.connected).toEqual([
      {
        target: { name: "test-blue-0", address: "203.0.113.10", port: 22, user: "admin", auth: { agent: "/run/agent.sock" }, hostKey: { fingerprints: [`SHA256:${"blue0".padEnd(43, "x")}`] } },
        options: { handshakeTimeoutMs: 10_000, connectDeadlineMs: 2_000 },
      },
      {
        target: { name: "test-blue-1", address: "203.0.113.11", port: 22, user: "admin", auth: { agent: "/run/agent.sock" }, hostKey: { fingerprints: [`SHA256:${"blue1".padEnd(43, "x")}`] } },
        options: { handshakeTimeoutMs: 10_000, connectDeadlineMs: 2_000 },
      },
    ]);
    // Exactly the provisioner's one-attempt check, against 127.0.0.1 on the host port, bounded by the health timeout.
    const expected = { argv: ["bash", "-c", healthCheckScript(env.app, { deadlineMs: 0 })], timeoutMs: 7_000 };
    expect(ssh.commands).toEqual([
      { host: "test-blue-0", command: expected },
      { host: "test-blue-1", command: expected },
    ]);
    expect(hostProbeCommand(env)).toEqual(expected);
    const script = expected.argv[2]!;
    expect(script).toContain("host=127.0.0.1\nport=9090\npath=/ready\nexpect=204\n");
    expect(script).toContain("\ndeadline_ms=0\n");
    expect(ssh.closed).toEqual(["test-blue-0", "test-blue-1"]);
  });

  it("a host it cannot reach, or without a pinned key, or no agent at all: not ok, no status, the reason", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const ssh = fakeSsh(() => {
      throw new Error("test-blue-1: host key verification failed: expected SHA256:a, presented SHA256:b");
    });
    const results = await new AwsSlotDriver({ env, file, workspace: ws, ssh: { connect: ssh.connect, auth: { agent: "/a" } } }).probe("blue");
    expect(results).toEqual([
      { host: "test-blue-0", ok: false, status: null, detail: "ssh: test-blue-1: host key verification failed: expected SHA256:a, presented SHA256:b" },
      { host: "test-blue-1", ok: false, status: null, detail: "ssh: test-blue-1: host key verification failed: expected SHA256:a, presented SHA256:b" },
    ]);
    expect(await new AwsSlotDriver({ env, file, workspace: ws }).probe("blue")).toEqual(
      ["test-blue-0", "test-blue-1"].map((host) => ({
        host,
        ok: false,
        status: null,
        detail: "no ssh-agent (SSH_AUTH_SOCK is unset): the aws driver probes hosts over SSH with the key aws.sshPublicKey authorizes",
      })),
    );
    const noPins: StackWorkspace = { up: ws.up, outputs: async () => ({ ...(await ws.outputs()), hostKeyFingerprints: { blue: [] } }) };
    expect((await new AwsSlotDriver({ env, file, workspace: noPins, ssh: { connect: ssh.connect, auth: { agent: "/a" } } }).probe("blue"))[0]).toEqual({
      host: "test-blue-0",
      ok: false,
      status: null,
      detail: "the stack's outputs pin no host key for it (hostKeyFingerprints)",
    });
  });

  it("with the stack's bastion output, probes and checks host keys through it: its own pinned key, the same user and key", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const bastion = { address: "198.51.100.9", hostKeyFingerprint: `SHA256:${"bastion".padEnd(43, "x")}` };
    const behind: StackWorkspace = { up: ws.up, outputs: async () => ({ ...(await ws.outputs()), bastion }) };
    const ssh = fakeSsh(() => ({ exitCode: 0, signal: null, stdout: "healthy\n", stderr: "", durationMs: 1 }));
    const driver = new AwsSlotDriver({ env, file, workspace: behind, ssh: { connect: ssh.connect, auth: { agent: "/a" } } });
    expect((await driver.probe("blue")).map((r) => r.ok)).toEqual([true, true]);
    expect((await driver.checkHostKeys("blue")).map((r) => r.state)).toEqual(["match", "match"]);
    const jump = { name: `${env.name}-bastion`, address: "198.51.100.9", port: 22, user: "admin", auth: { agent: "/a" }, hostKey: { fingerprints: [bastion.hostKeyFingerprint] } };
    expect(ssh.connected.map((c) => c.target)).toEqual(
      [0, 1, 0, 1].map((i) => ({
        name: `test-blue-${i}`,
        address: `203.0.113.1${i}`,
        port: 22,
        user: "admin",
        auth: { agent: "/a" },
        hostKey: { fingerprints: [`SHA256:${`blue${i}`.padEnd(43, "x")}`] },
        jump,
      })),
    );
    // A stack without a bastion (null output) dials the hosts directly.
    const direct = fakeSsh(() => ({ exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 1 }));
    const none: StackWorkspace = { up: ws.up, outputs: async () => ({ ...(await ws.outputs()), bastion: null }) };
    await new AwsSlotDriver({ env, file, workspace: none, ssh: { connect: direct.connect, auth: { agent: "/a" } } }).probe("blue");
    expect(direct.connected.map((c) => c.target.jump)).toEqual([undefined, undefined]);
  });

  it.each<[string, ExecResult, ProbeResult]>([
    ["healthy", { exitCode: 0, signal: null, stdout: "healthy: GET http://127.0.0.1:8080/healthz answered 200 (attempt 1)\n", stderr: "", durationMs: 1 }, { host: "h", ok: true, status: 200, detail: "healthy: GET http://127.0.0.1:8080/healthz answered 200 (attempt 1)" }],
    [
      "refused",
      { exitCode: 1, signal: null, stdout: "", stderr: "app.health: GET http://127.0.0.1:8080/healthz: expected status 200, got no answer (connection refused or closed) (1 attempts in 2 ms)\n", durationMs: 1 },
      { host: "h", ok: false, status: null, detail: "app.health: GET http://127.0.0.1:8080/healthz: expected status 200, got no answer (connection refused or closed) (1 attempts in 2 ms)" },
    ],
    [
      "a wrong status, with a body",
      { exitCode: 1, signal: null, stdout: "", stderr: "app.health: GET http://127.0.0.1:8080/healthz: expected status 200, got status 404 (1 attempts in 2 ms)\nstatus line: HTTP/1.0 404 Not Found\nbody: nope\n", durationMs: 1 },
      { host: "h", ok: false, status: 404, detail: "app.health: GET http://127.0.0.1:8080/healthz: expected status 200, got status 404 (1 attempts in 2 ms); status line: HTTP/1.0 404 Not Found; body: nope" },
    ],
    ["killed", { exitCode: null, signal: "KILL", stdout: "", stderr: "", durationMs: 1 }, { host: "h", ok: false, status: null, detail: "the health check died on signal KILL" }],
    ["no bash", { exitCode: 127, signal: null, stdout: "", stderr: "", durationMs: 1 }, { host: "h", ok: false, status: null, detail: "the health check exited 127" }],
  ])("probeResultOf: %s", (_name, result, expected) => {
    expect(probeResultOf("h", 200, result)).toEqual(expected);
  });
});

describe("the lock across operators (sharedLock)", () => {
  /** A fake S3: object bodies by bucket/key (each write a new ETag), every call recorded. */
  function fakeS3(initial: Record<string, string> = {}) {
    const objects = new Map(Object.entries(initial));
    const etags = new Map<string, string>();
    let writes = 0;
    const etagOf = (k: string) => (etags.has(k) ? etags.get(k)! : (etags.set(k, `"e${++writes}"`), etags.get(k)!));
    const calls: string[] = [];
    /** Sets an object as someone else's write would (a new ETag). */
    const put = (k: string, body: string) => {
      objects.set(k, body);
      etags.set(k, `"e${++writes}"`);
    };
    const client: LockObjectClient = {
      async putIfAbsent(bucket, key, body) {
        calls.push(`put-if-none-match ${bucket}/${key}`);
        if (objects.has(`${bucket}/${key}`)) return false;
        put(`${bucket}/${key}`, body);
        return true;
      },
      async get(bucket, key) {
        calls.push(`get ${bucket}/${key}`);
        const k = `${bucket}/${key}`;
        return objects.has(k) ? { body: objects.get(k)!, etag: etagOf(k) } : null;
      },
      async deleteIfMatch(bucket, key, etag) {
        calls.push(`delete-if-match ${etag} ${bucket}/${key}`);
        const k = `${bucket}/${key}`;
        if (!objects.has(k) || etagOf(k) !== etag) return false;
        objects.delete(k);
        etags.delete(k);
        return true;
      },
    };
    return { client, objects, calls, put };
  }
  const OBJ = "longshore-lock-abc123/locks/test.json";
  const who = () => ({ user: "alice", hostname: "laptop", pid: 4242 });
  const now = () => new Date("2026-12-04T05:00:00.000Z");

  it("writes the environment's lock object only if absent, with who holds it, and deletes it on release", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const s3 = fakeS3();
    const held = await new AwsSlotDriver({ env, file, workspace: ws, lockClient: s3.client, holder: who, now }).sharedLock("rollout");
    expect(s3.calls).toEqual([`put-if-none-match ${OBJ}`]);
    const body = JSON.parse(s3.objects.get(OBJ)!) as Record<string, unknown>;
    expect(body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), operation: "rollout", user: "alice", hostname: "laptop", pid: 4242, since: "2026-12-04T05:00:00.000Z" });
    await held.release();
    await held.release();
    expect(s3.calls).toEqual([`put-if-none-match ${OBJ}`, `get ${OBJ}`, `delete-if-match "e1" ${OBJ}`]);
    expect(s3.objects.size).toBe(0);
  });

  it("a lock object already there: refused with LockHeldError naming its holder, nothing written or deleted", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const theirs = JSON.stringify({ id: "11111111-1111-1111-1111-111111111111", operation: "rollback", user: "bob", hostname: "desk", pid: 7, since: "2026-12-04T04:59:00.000Z" });
    const s3 = fakeS3({ [OBJ]: theirs });
    const err = await new AwsSlotDriver({ env, file, workspace: ws, lockClient: s3.client, holder: who, now }).sharedLock("rollout").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).message).toBe("environment test is locked by rollback by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z (s3://longshore-lock-abc123/locks/test.json)");
    expect(s3.calls).toEqual([`put-if-none-match ${OBJ}`, `get ${OBJ}`]);
    expect(s3.objects.get(OBJ)).toBe(theirs);
  });

  it("release deletes only its own lock: one removed by hand and taken by someone else stays", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const s3 = fakeS3();
    const lines: string[] = [];
    const held = await new AwsSlotDriver({ env, file, workspace: ws, lockClient: s3.client, holder: who, now, log: (l) => lines.push(l) }).sharedLock("rollout");
    const theirs = JSON.stringify({ id: "22222222-2222-2222-2222-222222222222", operation: "up", user: "carol", hostname: "ci", pid: 9, since: "2026-12-04T05:01:00.000Z" });
    s3.put(OBJ, theirs);
    await held.release();
    expect(s3.calls).toEqual([`put-if-none-match ${OBJ}`, `get ${OBJ}`]);
    expect(s3.objects.get(OBJ)).toBe(theirs);
    expect(lines).toEqual(["the lock s3://longshore-lock-abc123/locks/test.json is no longer this operation's; left as it is"]);
  });

  it("release names the ETag it read: a lock taken again between its read and its delete stays", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const s3 = fakeS3();
    const lines: string[] = [];
    const held = await new AwsSlotDriver({ env, file, workspace: ws, lockClient: s3.client, holder: who, now, log: (l) => lines.push(l) }).sharedLock("rollout");
    const theirs = JSON.stringify({ id: "33333333-3333-3333-3333-333333333333", operation: "up", user: "dave", hostname: "ci", pid: 3, since: "2026-12-04T05:02:00.000Z" });
    // Between the release's read and its delete, the object is force-removed and taken again.
    const get = s3.client.get.bind(s3.client);
    s3.client.get = async (b, k) => {
      const r = await get(b, k);
      s3.put(OBJ, theirs);
      return r;
    };
    await held.release();
    expect(s3.calls).toEqual([`put-if-none-match ${OBJ}`, `get ${OBJ}`, `delete-if-match "e1" ${OBJ}`]);
    expect(s3.objects.get(OBJ)).toBe(theirs);
    expect(lines).toEqual(["the lock s3://longshore-lock-abc123/locks/test.json is no longer this operation's; left as it is"]);
  });

  it("sharedLockState reads the object (free, held by whom); forceReleaseSharedLock deletes only the object it read", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const s3 = fakeS3();
    const driver = new AwsSlotDriver({ env, file, workspace: ws, lockClient: s3.client, holder: who, now });
    expect(await driver.sharedLockState()).toEqual({ state: "free", bucket: "longshore-lock-abc123", key: "locks/test.json" });
    await driver.sharedLock("rollout");
    const held = await driver.sharedLockState();
    expect(held).toEqual({
      state: "held",
      bucket: "longshore-lock-abc123",
      key: "locks/test.json",
      etag: '"e1"',
      holder: { id: expect.stringMatching(/^[0-9a-f-]{36}$/), operation: "rollout", user: "alice", hostname: "laptop", pid: 4242, since: "2026-12-04T05:00:00.000Z" },
    });
    if (held.state !== "held") throw new Error("not held");
    s3.put(OBJ, "{}");
    expect(await driver.forceReleaseSharedLock(held)).toBe(false);
    expect(s3.objects.get(OBJ)).toBe("{}");
    const again = await driver.sharedLockState();
    expect(again).toMatchObject({ state: "held", holder: null, etag: '"e2"' });
    if (again.state !== "held") throw new Error("not held");
    expect(await driver.forceReleaseSharedLock(again)).toBe(true);
    expect(s3.objects.size).toBe(0);
    const none = new AwsSlotDriver({ env, file, workspace: ws });
    expect(await none.sharedLockState()).toEqual({ state: "none", reason: "this aws driver was built without a lock store" });
  });

  it("without a client (a driver built without one) or a lockBucket output, there is no shared lock, and it says so", async () => {
    const { file, env } = environmentFile();
    const { ws } = recordingWorkspace(file);
    const lines: string[] = [];
    await (await new AwsSlotDriver({ env, file, workspace: ws, log: (l) => lines.push(l) }).sharedLock("rollout")).release();
    const s3 = fakeS3();
    const old: StackWorkspace = { up: ws.up, outputs: async () => ({ ...(await ws.outputs()), lockBucket: undefined }) };
    await (await new AwsSlotDriver({ env, file, workspace: old, lockClient: s3.client, log: (l) => lines.push(l) }).sharedLock("rollout")).release();
    expect(s3.calls).toEqual([]);
    expect(lines).toEqual([
      "no lock across operators: this aws driver was built without a lock store",
      "no lock across operators: the stack has no lockBucket output yet (the next pulumi up creates it)",
    ]);
  });

  it("a rollout holds it from before the first up until after the file is written", async () => {
    const { file, env } = environmentFile();
    const { ws, log } = recordingWorkspace(file);
    const s3 = fakeS3();
    const seen: string[] = [];
    const recording: StackWorkspace = {
      up: async (o) => {
        seen.push(`up with lock ${s3.objects.has(OBJ)}`);
        await ws.up(o);
      },
      outputs: ws.outputs,
    };
    const driver = new AwsSlotDriver({ env, file, workspace: recording, probeHosts: healthy, lockClient: s3.client, holder: who, now });
    const report = await runRollout({
      env,
      envText: readFileSync(file, "utf8"),
      files: { envFile: file, lockFile: path.join(dir, `op-${++count}.lock`), auditFile: path.join(dir, `audit-${count}.jsonl`) },
      driver,
      actor: "alice@example.com",
      image: V2,
      policy: { soakMs: 0, healthyRounds: 1, probeIntervalMs: 0 },
      clock: { now: () => 0, sleep: async () => {} },
    });
    expect(report.outcome).toBe("succeeded");
    expect(log).toHaveLength(2);
    expect(seen).toEqual(["up with lock true", "up with lock true"]);
    expect(s3.calls[0]).toBe(`put-if-none-match ${OBJ}`);
    expect(s3.calls.slice(-2)).toEqual([`get ${OBJ}`, `delete-if-match "e1" ${OBJ}`]);
    expect(s3.objects.size).toBe(0);
  });
});

describe("the lock across operators, refused", () => {
  it("up refused by another operator's lock changes nothing and lets go of this computer's lock", async () => {
    const { file, env } = environmentFile(edited(FILE_TEXT, [`    image: ${V1}\n    size: 2 # two hosts\n`, "    image: null\n    size: 2 # two hosts\n"], ["live: blue #", "live: null #"]));
    const { ws, log } = recordingWorkspace(file);
    const theirs = JSON.stringify({ id: "x", operation: "rollout", user: "bob", hostname: "desk", pid: 7, since: "2026-12-04T04:59:00.000Z" });
    const client: LockObjectClient = {
      putIfAbsent: async () => false,
      get: async () => ({ body: theirs, etag: '"t"' }),
      deleteIfMatch: async () => expect.unreachable("deleted another's lock"),
    };
    const lockFile = path.join(dir, `refused-${++count}.lock`);
    const input = {
      env,
      envText: readFileSync(file, "utf8"),
      files: { envFile: file, lockFile, auditFile: path.join(dir, `refused-${count}.jsonl`) },
      driver: new AwsSlotDriver({ env, file, workspace: ws, probeHosts: healthy, lockClient: client }),
      actor: "alice@example.com",
    };
    await expect(runUp(input)).rejects.toThrow("environment test is locked by rollout by bob@desk (pid 7) since 2026-12-04T04:59:00.000Z");
    expect(log).toEqual([]);
    expect(existsSync(lockFile)).toBe(false);
    expect(existsSync(input.files.auditFile)).toBe(false);
  });
});

/** A fake SSH: records each connection and command; `answer` says what each host's command does (or throws to fail the connection). */
function fakeSsh(answer: (target: SshTarget) => ExecResult) {
  const connected: Array<{ target: SshTarget; options: SshConnectOptions | undefined }> = [];
  const commands: Array<{ host: string; command: Command }> = [];
  const closed: string[] = [];
  const connect = async (target: SshTarget, options?: SshConnectOptions): Promise<Transport> => {
    connected.push({ target, options });
    const result = answer(target);
    return {
      host: target.name,
      needsSudo: true,
      exec: async (command) => {
        commands.push({ host: target.name, command });
        return result;
      },
      upload: async () => {
        throw new Error("no uploads in a probe");
      },
      sha256: async () => null,
      close: async () => void closed.push(target.name),
    };
  };
  return { connect, connected, commands, closed };
}

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
