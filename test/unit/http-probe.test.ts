// Unit: the health probe against a real HTTP server on 127.0.0.1. Does not prove behaviour through
// HAProxy or across the machines' bridge (e2e does).
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeHttp } from "../../rollout/http-probe";

let server: http.Server;
let base = "";
beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/healthz") return void res.end("ok");
    if (req.url === "/sick") {
      res.statusCode = 500;
      return void res.end("unhealthy: " + "x".repeat(500));
    }
    if (req.url === "/hang") return; // never answers
    res.statusCode = 404;
    res.end("not found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("probeHttp", () => {
  it("passes on the expected status", async () => {
    expect(await probeHttp("h1", `${base}/healthz`)).toEqual({ host: "h1", ok: true, status: 200, detail: "ok" });
  });
  it("fails on another status and keeps the start of the body", async () => {
    const r = await probeHttp("h1", `${base}/sick`);
    expect(r.ok).toBe(false);
    expect(r.status).toBe(500);
    expect(r.detail).toBe("unhealthy: " + "x".repeat(189));
  });
  it("reports a timeout as no response", async () => {
    const r = await probeHttp("h1", `${base}/hang`, { timeoutMs: 300 });
    expect(r).toEqual({ host: "h1", ok: false, status: null, detail: "no answer within 300 ms" });
  });
  it("reports a refused connection as no response", async () => {
    const r = await probeHttp("h2", "http://127.0.0.1:1/healthz");
    expect(r.ok).toBe(false);
    expect(r.status).toBeNull();
    expect(r.detail).toContain("ECONNREFUSED");
  });
});
