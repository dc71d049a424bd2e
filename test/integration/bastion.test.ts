// Does not prove network isolation (host, bastion and HTTP server all listen on 127.0.0.1; that the tunnel was used is shown by the bastion sshd's log and by which process owns the peer socket), nor a full provisioning (the provider's read runs the provisioner's engine read-back through the bastion; installing an engine is e2e).
import { execFileSync } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostKeyError } from "../../core/errors";
import type { ApplyHostInput, SshEndpointInput } from "../../provisioner/apply-host-contract";
import { healthGateProvider, type HealthGateInputs } from "../../modules/health-gate";
import { provisionedHostProvider, type ProvisionedHostOutputs } from "../../modules/provisioned-host";
import { applyHost, httpGetThrough, inspectHost, planHostHash } from "../../provisioner/single-host";
import * as pulumi from "@pulumi/pulumi";
import type * as HealthGateModule from "../../modules/health-gate";
import { compileTree, type CompiledTree } from "../helpers/compiled-tree";
import { descendantsOf, startSshd, type Sshd } from "../helpers/sshd";

const requireFromString = require("require-from-string") as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

let host: Sshd;
let bastion: Sshd;
let server: http.Server;
let httpPort: number;
let privateKey: string;
let tree: CompiledTree | undefined;
/** What the HTTP server answers now, and which process owned each request's peer socket. */
let answer = 200;
const peerOwners: Array<{ owner: number; bastionProcesses: number[] }> = [];

beforeAll(async () => {
  host = await startSshd();
  server = http.createServer((req, res) => {
    // While the request is open, find who holds the other end of its TCP connection.
    const ss = execFileSync("ss", ["-Htnp", "state", "established", `( sport = :${req.socket.remotePort} )`], { encoding: "utf8" });
    peerOwners.push({ owner: Number(/pid=(\d+)/.exec(ss)?.[1]), bastionProcesses: bastion ? descendantsOf(bastion.pid!) : [] });
    res.writeHead(answer, { "content-type": "text/plain" });
    res.end(answer === 200 ? "ok" : "database unreachable");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  httpPort = (server.address() as AddressInfo).port;
  // The bastion may open tunnels to the host's sshd and the HTTP server only; DEBUG1 logs each one.
  bastion = await startSshd({ extraConfig: ["AllowTcpForwarding yes", `PermitOpen 127.0.0.1:${host.port} 127.0.0.1:${httpPort}`], logLevel: "DEBUG1" });
  // One key for both, as the web program's deploy key: the bastion's client key is authorized on the host too.
  privateKey = readFileSync(bastion.clientKeyPath, "utf8");
  appendFileSync(join(host.dir, "authorized_keys"), readFileSync(`${bastion.clientKeyPath}.pub`));
});

afterAll(async () => {
  tree?.remove();
  await Promise.all([bastion?.stop(), host?.stop(), new Promise<void>((r) => (server ? server.close(() => r()) : r()))]);
});

function jump(hostKeyFingerprint = bastion.hostKeyFingerprint): SshEndpointInput {
  return { name: "test-bastion", address: "127.0.0.1", port: bastion.port, user: "root", privateKey, hostKeyFingerprint };
}

function input(bastionKey?: string): ApplyHostInput {
  const plan = { slot: "blue" as const, app: { name: "demo", image: "registry.example.com/demo:1", port: 8080, health: { path: "/healthz" } } };
  return {
    ...plan,
    connection: { name: "test-blue-0", address: "127.0.0.1", port: host.port, user: "root", privateKey, hostKeyFingerprint: host.hostKeyFingerprint, jump: jump(bastionKey) },
    planHash: planHostHash(plan),
  };
}

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const tunnelLine = (port: number) => `server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.1 port ${port}`;
const count = (text: string, part: string) => text.split(part).length - 1;

describe("the provisioner through a bastion", () => {
  it("the ProvisionedHost provider's read reaches the host only through the bastion's tunnel and reads its engine state there", async () => {
    const tunnelsBefore = count(bastion.log(), tunnelLine(host.port));
    // What the host holds now, read once through the bastion the way the provider does.
    const now = await inspectHost(input());
    const provider = provisionedHostProvider({ entry: { planHostHash, applyHost, inspectHost } });
    const applied = { ...input(), appliedPlanHash: "p", engineVersion: "applied-version", daemonJsonSha256: "applied-sha", drift: [] } as unknown as ProvisionedHostOutputs;
    const read = await provider.read!("test-blue-0", applied);
    // Reached: the drift is the difference to what the host reported, not "unreachable".
    expect(read.props.drift).toEqual([
      `engine version: applied applied-version, found ${now.engineVersion ?? "none"}`,
      `daemon.json: applied sha256 applied-sha, found ${now.daemonJsonSha256 ?? "no file"}`,
    ]);
    // Two connections to the host (inspect, then the provider's read), each through its own tunnel.
    expect(count(bastion.log(), tunnelLine(host.port)) - tunnelsBefore).toBe(2);
    expect(count(host.log(), "Accepted publickey for root from 127.0.0.1")).toBe(2);
  });

  it("refuses a bastion presenting another key than its pin before anything runs: the host is never dialled", async () => {
    // The previous test's connections end first (their goodbyes are logged), then the log is watched.
    expect(await until(() => descendantsOf(host.pid!).length === 0 && descendantsOf(bastion.pid!).length === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const hostLogBefore = host.log().length;
    const err = await applyHost(input(host.hostKeyFingerprint)).then(
      () => new Error("applied through a bastion with the wrong key"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as Error).message).toBe(`test-bastion: host key verification failed: expected ${host.hostKeyFingerprint}, presented ${bastion.hostKeyFingerprint}`);
    // Not a line more in the host's log: no connection reached it, so no command ran.
    await new Promise((r) => setTimeout(r, 200));
    expect(host.log().slice(hostLogBefore)).toBe("");
  });
});

describe("the health gate through a bastion", () => {
  const gate = (): HealthGateInputs => ({
    targets: [{ name: "web-lb blue slot (test listener :8081)", url: `http://127.0.0.1:${httpPort}/healthz` }],
    matcher: "200",
    deadlineMs: 1000,
    intervalMs: 100,
    timeoutMs: 5000,
    consecutiveSuccesses: 2,
    jump: jump(),
  });
  // The provider as the stack declares it, but with the provisioner's check from source (under
  // vitest the built entry module is not required); sleep and clock are real.
  const provider = healthGateProvider({ tunnel: (j, target, timeoutMs) => httpGetThrough({ jump: j, url: target.url, timeoutMs }) });

  it("passes against a server that answers 200 through the tunnel, every request's peer a bastion sshd process", async () => {
    answer = 200;
    peerOwners.length = 0;
    const tunnelsBefore = count(bastion.log(), tunnelLine(httpPort));
    const created = await provider.create(gate());
    expect(created.outs.report).toEqual({ targets: [{ name: "web-lb blue slot (test listener :8081)", status: 200, attempts: 2 }] });
    expect(count(bastion.log(), tunnelLine(httpPort)) - tunnelsBefore).toBe(2);
    expect(peerOwners).toHaveLength(2);
    for (const { owner, bastionProcesses } of peerOwners) expect(bastionProcesses).toContain(owner);
  });

  it("fails naming the target, its status and body when the server answers 500", async () => {
    answer = 500;
    const err = await provider.create(gate()).then(
      () => new Error("the gate passed a 500"),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(
      new RegExp(
        `^health gate: 1 of 1 target not healthy \\(expected 200\\) within 1 s:\\n  web-lb blue slot \\(test listener :8081\\) \\(http://127\\.0\\.0\\.1:${httpPort}/healthz\\): status 500, body "database unreachable" after \\d+ attempts$`,
      ),
    );
  });

  it("gives no answer, naming both keys, when the bastion presents another key than its pin", async () => {
    answer = 200;
    const before = count(bastion.log(), tunnelLine(httpPort));
    const r = await httpGetThrough({ jump: jump(host.hostKeyFingerprint), url: `http://127.0.0.1:${httpPort}/healthz`, timeoutMs: 5000 });
    expect(r).toEqual({ status: null, body: "", error: `test-bastion: host key verification failed: expected ${host.hostKeyFingerprint}, presented ${bastion.hostKeyFingerprint}` });
    expect(count(bastion.log(), tunnelLine(httpPort))).toBe(before);
  });
});

describe("the health gate provider as Pulumi runs it, through a bastion", () => {
  it("serialised, deserialised and requiring the built provisioner entry at call time, checks through the tunnel", async () => {
    // What Pulumi loads: the built modules; the provider serialised and loaded back as the dynamic provider host does.
    tree = compileTree(["provisioner/apply-host.ts", "modules/health-gate.ts"], "ls-bastion-gate");
    const built = tree.load<typeof HealthGateModule>("modules/health-gate");
    const provider = built.healthGateProvider({ entryPath: tree.file("provisioner/apply-host") });
    const text = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
    expect(text).not.toMatch(/ssh2|zod/);
    const handler = requireFromString(text).handler();
    answer = 200;
    peerOwners.length = 0;
    const inputs: HealthGateInputs = {
      targets: [{ name: "web-lb green slot (test listener :8082)", url: `http://127.0.0.1:${httpPort}/healthz` }],
      matcher: "200",
      deadlineMs: 5000,
      intervalMs: 100,
      timeoutMs: 5000,
      consecutiveSuccesses: 2,
      jump: jump(),
    };
    const created = await handler.create(inputs);
    expect(created.outs.report).toEqual({ targets: [{ name: "web-lb green slot (test listener :8082)", status: 200, attempts: 2 }] });
    expect(peerOwners).toHaveLength(2);
    for (const { owner, bastionProcesses } of peerOwners) expect(bastionProcesses).toContain(owner);
  }, 180_000);
});
