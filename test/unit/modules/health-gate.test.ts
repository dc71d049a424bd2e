// Does not prove the gate holds back a real listener switch in AWS (the Pulumi engine and the ALB are not here); the provider is called directly, and over HTTP only on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import {
  healthGateProblems,
  healthGateProvider,
  httpHealthCheck,
  runHealthGate,
  statusMatches,
  type HealthCheckResult,
  type HealthGateInputs,
  type HealthTarget,
} from "../../../modules/health-gate";

const requireFromString = require("require-from-string") as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

/** A fake clock and sleep: sleeping advances the clock, nothing waits. */
function fakeTime() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

/** A check that answers from a script per target: the i-th call gets the i-th result (the last repeats). */
function scripted(script: Record<string, HealthCheckResult[]>) {
  const seen: string[] = [];
  const counts: Record<string, number> = {};
  const check = async (t: HealthTarget): Promise<HealthCheckResult> => {
    seen.push(t.name);
    const list = script[t.name]!;
    const i = counts[t.name] ?? 0;
    counts[t.name] = i + 1;
    return list[Math.min(i, list.length - 1)]!;
  };
  return { check, seen };
}

const ok: HealthCheckResult = { status: 200, body: "ok" };
const unavailable: HealthCheckResult = { status: 503, body: "<html>\n<h1>Service Unavailable</h1>\n</html>" };
const refused: HealthCheckResult = { status: null, body: "", error: "connect ECONNREFUSED 10.0.0.12:8080" };

function gate(overrides: Partial<HealthGateInputs> = {}): HealthGateInputs {
  return {
    targets: [
      { name: "web-green-0", url: "http://10.0.0.11:8080/healthz" },
      { name: "web-green-1", url: "http://10.0.0.12:8080/healthz" },
    ],
    matcher: "200",
    deadlineMs: 10_000,
    intervalMs: 1000,
    timeoutMs: 500,
    consecutiveSuccesses: 2,
    ...overrides,
  };
}

describe("runHealthGate", () => {
  it("passes when every target answers the expected status the required number of times in a row", async () => {
    const time = fakeTime();
    const { check, seen } = scripted({ "web-green-0": [ok], "web-green-1": [ok] });
    const report = await runHealthGate(gate(), { check, ...time });
    expect(report).toEqual({ targets: [{ name: "web-green-0", status: 200, attempts: 2 }, { name: "web-green-1", status: 200, attempts: 2 }] });
    expect(seen).toEqual(["web-green-0", "web-green-1", "web-green-0", "web-green-1"]);
    expect(time.sleeps).toEqual([1000]);
  });

  it("waits for a slow host, restarting its streak after a failure, and stops checking hosts that passed", async () => {
    const time = fakeTime();
    const { check, seen } = scripted({ "web-green-0": [ok], "web-green-1": [refused, ok, unavailable, ok, ok] });
    const report = await runHealthGate(gate(), { check, ...time });
    expect(report.targets).toEqual([{ name: "web-green-0", status: 200, attempts: 2 }, { name: "web-green-1", status: 200, attempts: 5 }]);
    expect(seen.filter((n) => n === "web-green-0")).toHaveLength(2);
    expect(time.sleeps).toEqual([1000, 1000, 1000, 1000]);
  });

  it("fails at the deadline naming every unhealthy host with its last status and the start of its body", async () => {
    const time = fakeTime();
    const { check } = scripted({ "web-green-0": [unavailable], "web-green-1": [refused] });
    await expect(runHealthGate(gate({ deadlineMs: 3000 }), { check, ...time })).rejects.toThrow(
      "health gate: 2 of 2 targets not healthy (expected 200) within 3 s:\n" +
        '  web-green-0 (http://10.0.0.11:8080/healthz): status 503, body "<html> <h1>Service Unavailable</h1> </html>" after 4 attempts\n' +
        "  web-green-1 (http://10.0.0.12:8080/healthz): no answer: connect ECONNREFUSED 10.0.0.12:8080 after 4 attempts",
    );
    // Attempts at 0, 1, 2 and 3 s: the last one at the deadline, no sleep past it.
    expect(time.sleeps).toEqual([1000, 1000, 1000]);
  });

  it("names only the hosts that failed", async () => {
    const { check } = scripted({ "web-green-0": [ok], "web-green-1": [{ status: 500, body: "" }] });
    await expect(runHealthGate(gate({ deadlineMs: 0, consecutiveSuccesses: 1 }), { check, ...fakeTime() })).rejects.toThrow(
      "health gate: 1 of 2 targets not healthy (expected 200) within 0 s:\n  web-green-1 (http://10.0.0.12:8080/healthz): status 500, empty body after 1 attempt",
    );
  });

  it("says when a host is healthy but has not passed often enough in a row yet", async () => {
    const { check } = scripted({ "web-green-0": [unavailable, ok], "web-green-1": [ok] });
    await expect(runHealthGate(gate({ deadlineMs: 1000, consecutiveSuccesses: 3 }), { check, ...fakeTime() })).rejects.toThrow(
      "health gate: 2 of 2 targets not healthy (expected 200) within 1 s:\n" +
        '  web-green-0 (http://10.0.0.11:8080/healthz): status 200, body "ok" (1 of 3 passes in a row) after 2 attempts\n' +
        '  web-green-1 (http://10.0.0.12:8080/healthz): status 200, body "ok" (2 of 3 passes in a row) after 2 attempts',
    );
  });

  it("passes an empty slot at once", async () => {
    expect(await runHealthGate(gate({ targets: [] }), { check: scripted({}).check, ...fakeTime() })).toEqual({ targets: [] });
  });
});

describe("statusMatches and healthGateProblems", () => {
  it.each<[string, number, boolean]>([
    ["200", 200, true],
    ["200", 204, false],
    ["200-299", 204, true],
    ["200-299", 301, false],
    ["200,204", 204, true],
    ["200,302-303", 303, true],
  ])("%s matches %i: %s", (matcher, status, expected) => {
    expect(statusMatches(matcher, status)).toBe(expected);
  });

  it("lists every problem", () => {
    expect(
      healthGateProblems({ matcher: "2xx", deadlineMs: -1, intervalMs: 50, timeoutMs: 100, consecutiveSuccesses: 0 }, [
        { name: "a", url: "ftp://x" },
        { name: "a", url: "http://x/healthz" },
      ]),
    ).toEqual([
      'matcher: "2xx" must be HTTP codes like 200, 200-299 or 200,204',
      "deadlineMs: must be a whole number >= 0, got -1",
      "intervalMs: must be a whole number >= 100, got 50",
      "consecutiveSuccesses: must be a whole number >= 1, got 0",
      'targets[0].url: "ftp://x" must be an http(s) URL',
      "targets[1].name: a is listed twice",
    ]);
  });
});

describe("httpHealthCheck and the serialised provider, against a real server on 127.0.0.1", () => {
  let server: http.Server;
  let base: string;
  const sockets = new Set<import("node:net").Socket>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/healthz") res.end("ok");
      else if (req.url === "/down") {
        res.statusCode = 503;
        res.end("maintenance: back soon");
      } else if (req.url === "/hang") {
        // Never answers: the check's own timer must end it.
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    server.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("reports status and body", async () => {
    expect(await httpHealthCheck({ name: "h", url: `${base}/healthz` }, 2000)).toEqual({ status: 200, body: "ok" });
    expect(await httpHealthCheck({ name: "h", url: `${base}/down` }, 2000)).toEqual({ status: 503, body: "maintenance: back soon" });
  });

  it("gives up on a server that never answers, and on a closed port", async () => {
    expect(await httpHealthCheck({ name: "h", url: `${base}/hang` }, 300)).toEqual({ status: null, body: "", error: "no complete answer within 300 ms" });
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await httpHealthCheck({ name: "h", url: `http://127.0.0.1:${port}/healthz` }, 2000);
    expect(r.status).toBeNull();
    expect(r.error).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  async function serialisedHandler(): Promise<pulumi.dynamic.ResourceProvider> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("serializeFunction did not finish within 20 s")), 20_000);
    });
    const provider = healthGateProvider();
    const sf = await Promise.race([pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }), timeout]).finally(() => clearTimeout(timer));
    expect(sf.text).toContain('require("node:http")');
    // With a bastion, the check is the provisioner's, required by the package's name at call time: no ssh2, no zod captured.
    expect(sf.text).toContain('"longshore/provisioner/apply-host"');
    expect(sf.text).not.toMatch(/ssh2|zod/);
    expect(sf.text.length).toBeLessThan(20_000);
    return requireFromString(sf.text).handler();
  }

  it("the deserialised provider passes healthy targets and fails unhealthy ones with their status and body", async () => {
    const handler = await serialisedHandler();
    const inputs = (path: string): HealthGateInputs => ({
      targets: [{ name: "local", url: `${base}${path}` }],
      matcher: "200",
      deadlineMs: 400,
      intervalMs: 100,
      timeoutMs: 300,
      consecutiveSuccesses: 2,
    });
    const created = await handler.create(inputs("/healthz"));
    expect(created.outs).toEqual({ ...inputs("/healthz"), report: { targets: [{ name: "local", status: 200, attempts: 2 }] }, failing: [] });
    // How many attempts fit in 400 ms depends on the machine: the count is not asserted.
    await expect(handler.create(inputs("/down"))).rejects.toThrow(
      `health gate: 1 of 1 target not healthy (expected 200) within 400 ms:\n  local (${base}/down): status 503, body "maintenance: back soon" after `,
    );
    // A refresh marks a gate whose target fails now, so the next `up` runs it again.
    const read = await handler.read!(created.id, { ...created.outs, targets: [{ name: "local", url: `${base}/down` }] });
    expect(read.props!.failing).toEqual(["local"]);
    expect((await handler.diff!(created.id, read.props!, inputs("/down"))).changes).toBe(true);
  });
});

describe("the HealthGate provider's diff", () => {
  it("runs again when the targets or settings change, not otherwise", async () => {
    const p = healthGateProvider({ check: scripted({}).check, ...fakeTime() });
    const olds = { ...gate(), report: { targets: [] }, failing: [] };
    expect(await p.diff!("id", olds, gate())).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    expect((await p.diff!("id", olds, gate({ targets: [gate().targets[0]!] }))).changes).toBe(true);
    expect((await p.diff!("id", olds, gate({ matcher: "200-299" }))).changes).toBe(true);
  });

  it("runs again when it is to be checked from another bastion (or from one at all), not for a rotated login key alone", async () => {
    const p = healthGateProvider({ check: scripted({}).check, ...fakeTime() });
    const jump = { name: "b", address: "203.0.113.5", port: 22, user: "admin", privateKey: "k1", hostKeyFingerprint: "SHA256:" + "J".repeat(43) };
    const olds = { ...gate({ jump }), report: { targets: [] }, failing: [] };
    expect((await p.diff!("id", olds, gate({ jump: { ...jump, privateKey: "k2" } }))).changes).toBe(false);
    expect((await p.diff!("id", olds, gate({ jump: { ...jump, address: "203.0.113.6" } }))).changes).toBe(true);
    expect((await p.diff!("id", olds, gate({ jump: { ...jump, hostKeyFingerprint: "SHA256:" + "K".repeat(43) } }))).changes).toBe(true);
    expect((await p.diff!("id", olds, gate())).changes).toBe(true);
  });

  it("runs again when the instances it guards are replaced (same URL, same settings), not when they are the same", async () => {
    const p = healthGateProvider({ check: scripted({}).check, ...fakeTime() });
    const guarded = gate({ instanceIds: ["i-0aaa", "i-0bbb"] });
    const olds = { ...guarded, report: { targets: [] }, failing: [] };
    expect(await p.diff!("id", olds, gate({ instanceIds: ["i-0aaa", "i-0bbb"] }))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    // One instance replaced: a new id behind the same test listener URL.
    expect(await p.diff!("id", olds, gate({ instanceIds: ["i-0aaa", "i-0ccc"] }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    // A gate stored before it knew its instances runs once more, then compares them.
    const { instanceIds: _ids, ...unguarded } = olds;
    expect((await p.diff!("id", unguarded, guarded)).changes).toBe(true);
  });
});
