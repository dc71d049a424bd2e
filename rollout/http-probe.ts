/**
 * One HTTP health probe: GET a URL with a hard timeout and report the status and the start of the
 * body, so a failed gate can say exactly what the host answered.
 */
import * as http from "node:http";
import type { ProbeResult } from "./driver";

/** How much of the body a report keeps. */
const BODY_START = 200;

/** Probes `url` once. Never throws: a refused or timed-out probe is a result with `status: null`. */
export function probeHttp(host: string, url: string, options: { timeoutMs?: number; expectStatus?: number } = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const expect = options.expectStatus ?? 200;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    // A fresh connection per probe (no keep-alive agent): a probe must see what a new client sees.
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers: { "user-agent": "longshore-probe" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < BODY_START) body += chunk;
      });
      res.on("end", () => done({ host, ok: res.statusCode === expect, status: res.statusCode ?? null, detail: body.slice(0, BODY_START).trim() }));
      res.on("error", (e) => done({ host, ok: false, status: res.statusCode ?? null, detail: e.message }));
    });
    req.on("timeout", () => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    });
    req.on("error", (e) => done({ host, ok: false, status: null, detail: e.message }));
  });
}
