// Does not prove the probe reaches a container's published port through Docker's NAT: it runs the real script with bash against HTTP servers on 127.0.0.1 here.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResolvedApp } from "../../model/app";
import { healthCheckScript } from "../../provisioner/steps/app-health";

const servers: Server[] = [];

function listen(handler: (n: number, url: string) => { status: number; body: string }): Promise<number> {
  let n = 0;
  const server = createServer((req, res) => {
    n += 1;
    const r = handler(n, req.url ?? "");
    res.writeHead(r.status, { "content-type": "text/plain" });
    res.end(r.body);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A port nothing listens on: bind, read the port, close. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", script]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function app(hostPort: number, health: Record<string, unknown> = {}) {
  return parseResolvedApp({ name: "web", image: "web:1", port: 8080, hostPort, health: { intervalSeconds: 0.2, timeoutSeconds: 1, ...health } });
}

let okPort = 0;
let flakyPort = 0;
let downPort = 0;
const seenPaths: string[] = [];

beforeAll(async () => {
  okPort = await listen((_n, url) => {
    seenPaths.push(url);
    return { status: 200, body: "ok" };
  });
  flakyPort = await listen((n) => (n < 3 ? { status: 503, body: "warming up" } : { status: 200, body: "ok" }));
  downPort = await listen(() => ({ status: 503, body: "database unreachable: connection refused by db-1:5432\nretry later" }));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

describe("app.health script (real bash, real HTTP on 127.0.0.1)", () => {
  it("passes on the first healthy answer and sends the configured path", async () => {
    const r = await run(healthCheckScript(app(okPort, { path: "/healthz?deep=1" }), { deadlineMs: 5000 }));
    expect(r).toEqual({ code: 0, stdout: `healthy: GET http://127.0.0.1:${okPort}/healthz?deep=1 answered 200 (attempt 1)\n`, stderr: "" });
    expect(seenPaths).toContain("/healthz?deep=1");
  });

  it("retries until the app turns healthy", async () => {
    const r = await run(healthCheckScript(app(flakyPort), { deadlineMs: 10_000 }));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`healthy: GET http://127.0.0.1:${flakyPort}/healthz answered 200 (attempt 3)\n`);
  });

  it("fails at the deadline with the status line and the start of the body", async () => {
    const r = await run(healthCheckScript(app(downPort), { deadlineMs: 300 }));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^app\\.health: GET http://127\\.0\\.0\\.1:${downPort}/healthz: expected status 200, got status 503 \\([0-9]+ attempts in [0-9]+ ms\\)$`));
    expect(lines[1]).toBe("status line: HTTP/1.1 503 Service Unavailable");
    expect(lines[2]).toBe("body: database unreachable: connection refused by db-1:5432 retry later");
  });

  it("with deadline 0 (the step's check) tries exactly once", async () => {
    const r = await run(healthCheckScript(app(downPort), { deadlineMs: 0 }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^app\\.health: GET http://127\\.0\\.0\\.1:${downPort}/healthz: expected status 200, got status 503 \\(1 attempts in [0-9]+ ms\\)\\n` +
          "status line: HTTP/1\\.1 503 Service Unavailable\\nbody: database unreachable: connection refused by db-1:5432 retry later\\n$",
      ),
    );
  });

  it("says so when nothing listens", async () => {
    const port = await closedPort();
    const r = await run(healthCheckScript(app(port), { deadlineMs: 0 }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^app\\.health: GET http://127\\.0\\.0\\.1:${port}/healthz: expected status 200, got no answer \\(connection refused or closed\\) \\(1 attempts in [0-9]+ ms\\)\\n$`));
  });

  it("accepts another expected status", async () => {
    const r = await run(healthCheckScript(app(downPort, { status: 503 }), { deadlineMs: 0 }));
    expect(r).toEqual({ code: 0, stdout: `healthy: GET http://127.0.0.1:${downPort}/healthz answered 503 (attempt 1)\n`, stderr: "" });
  });
});
