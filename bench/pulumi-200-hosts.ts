/**
 * Times declaring the `web` stack under Pulumi's mocks: a 2 x 2 environment and a 200-host one
 * (100 per slot), from the compiled CommonJS output, so the dynamic providers are serialised the
 * way a real `pulumi up` serialises them. Measures the program's own cost (components, user data
 * rendering, provider serialisation, registrations), not AWS's.
 *
 *   npm run build && node dist/bench/pulumi-200-hosts.js [--runs 5]
 *
 * Prints one line per run and a JSON summary (median of the warm runs; the first run of a
 * process also pays for loading the closure serialiser and serialising each provider once).
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { registrations, resetRegistrations, settle } from "../test/unit/modules/harness";
import { environmentSchema } from "../model/environment";
import { buildWebStack, type AwsEnvironment } from "../stacks/web/web-stack";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const entry = { planHostHash: (i: unknown) => createHash("sha256").update(JSON.stringify(i)).digest("hex") };

async function once(perSlot: number): Promise<{ ms: number; resources: number; rssMiB: number }> {
  resetRegistrations();
  const env = environmentSchema.parse({
    name: "bench",
    driver: "aws",
    app: { name: "shop", image: "shop:1" },
    slots: { blue: { image: "shop:1", size: perSlot }, green: { image: "shop:2", size: perSlot } },
    live: "blue",
    aws: { sshPublicKey: KEY, adminCidrs: ["203.0.113.7/32"], azCount: 3 },
  }) as AwsEnvironment;
  const t0 = performance.now();
  buildWebStack(env, { app: {}, registryPassword: null }, { loadEntry: () => entry });
  await settle(600_000);
  const ms = performance.now() - t0;
  return { ms, resources: registrations.length, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--runs");
  const runs = i > 0 ? Number(process.argv[i + 1]) : 5;
  const summary: Record<string, unknown> = { node: process.version, runs };
  for (const perSlot of [2, 100]) {
    const results = [];
    for (let r = 0; r < runs; r++) {
      const res = await once(perSlot);
      results.push(res);
      console.log(`${perSlot * 2} hosts, run ${r + 1}: ${res.ms.toFixed(0)} ms, ${res.resources} resources, rss ${res.rssMiB.toFixed(0)} MiB`);
    }
    const warm = results.slice(1).map((x) => x.ms);
    summary[`${perSlot * 2}Hosts`] = {
      resources: results[0]!.resources,
      firstRunMs: Math.round(results[0]!.ms),
      warmMedianMs: warm.length ? Math.round(median(warm)) : null,
      warmMinMs: warm.length ? Math.round(Math.min(...warm)) : null,
      warmMaxMs: warm.length ? Math.round(Math.max(...warm)) : null,
      peakRssMiB: Math.round(Math.max(...results.map((x) => x.rssMiB))),
    };
  }
  console.log(JSON.stringify(summary));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
