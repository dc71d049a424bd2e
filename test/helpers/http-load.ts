/**
 * A bounded HTTP load for e2e tests: `concurrency` loops, each sending one request after another
 * (a new connection each time, so the balancer's routing decision is exercised per request) until
 * `stop()` or `maxDurationMs`. It records every outcome; it never sends anywhere but the given URL,
 * which tests keep on loopback.
 */
import * as http from "node:http";

/** One finished request. */
export interface LoadSample {
  at: number;
  status: number | null;
  body: string;
  error?: string;
}

/** A running load. */
export interface RunningLoad {
  stop(): Promise<LoadResult>;
}

/** What the load saw. */
export interface LoadResult {
  samples: LoadSample[];
  ok: number;
  failed: number;
}

function once(url: string, timeoutMs: number): Promise<LoadSample> {
  return new Promise((resolve) => {
    const at = Date.now();
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ at, status: res.statusCode ?? null, body }));
      res.on("error", (e) => resolve({ at, status: null, body, error: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ at, status: null, body: "", error: e.message }));
  });
}

/** Starts the load; call `stop()` to end it and get the results. */
export function startLoad(url: string, options: { concurrency?: number; maxDurationMs?: number; timeoutMs?: number } = {}): RunningLoad {
  const concurrency = options.concurrency ?? 4;
  const deadline = Date.now() + (options.maxDurationMs ?? 600_000);
  const samples: LoadSample[] = [];
  let stopping = false;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopping && Date.now() < deadline) {
      samples.push(await once(url, options.timeoutMs ?? 5_000));
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      const ok = samples.filter((s) => s.status !== null && s.status >= 200 && s.status < 300).length;
      return { samples, ok, failed: samples.length - ok };
    },
  };
}
