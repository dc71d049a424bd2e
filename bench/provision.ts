/**
 * Benchmark: `provision` from bare local machines to a healthy demo app, for N = 1, 4 and 8
 * machines (hosts in parallel, one SSH connection each), then the idempotent re-run and a `plan`
 * of the in-sync fleet; and the bytes sent to each host (uploads plus stdin, counted by a
 * wrapping transport).
 *
 * Run as root after `npx tsc -p .`:  node dist/bench/provision.js [--sizes 1,4,8]
 * Writes bench/out/provision.json and prints a Markdown table for BENCHMARKS.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline, Transform } from "node:stream";
import { parseResolvedApp } from "../model/app";
import { parseEngineOptions } from "../model/engine";
import { buildDemoImage } from "../drivers/local/demo-app";
import { downMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { sshTargets } from "../drivers/local/inventory";
import { defaultPaths } from "../drivers/local/paths";
import { buildBundle } from "../provisioner/bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../provisioner/bundle/recipe";
import { verifyBundle } from "../provisioner/bundle/verify";
import type { Command } from "../provisioner/command";
import { provisionHosts, type ConnectFn } from "../provisioner/provision-hosts";
import { Sensitive } from "../core/sensitive";
import { connectSsh } from "../provisioner/transport/ssh2-transport";

interface Sample {
  machines: number;
  freshMs: number;
  rerunMs: number;
  planMs: number;
  /** Bytes sent per host on the fresh run (mean), and on the re-run (max). */
  freshBytesPerHost: number;
  rerunBytesPerHost: number;
  freshUploads: number;
  rerunUploads: number;
  changedFresh: number;
  unchangedRerun: number;
  /** First run: mean duration of each step over the hosts (ms), in step order. */
  freshStepMs: Record<string, number>;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Counts what goes to each host: upload bytes and stdin bytes. */
function countingConnect(counts: Map<string, { bytes: number; uploads: number }>): ConnectFn {
  return async (target, options) => {
    const t = await connectSsh(target, options);
    const c = counts.get(target.name) ?? { bytes: 0, uploads: 0 };
    counts.set(target.name, c);
    const countStdin = (cmd: Command): Command => {
      const s = cmd.stdin;
      if (s === undefined) return cmd;
      if (typeof s === "function") {
        return {
          ...cmd,
          stdin: () => {
            const counter = new Transform({
              transform(chunk: Buffer, _enc, cb) {
                c.bytes += chunk.length;
                cb(null, chunk);
              },
            });
            pipeline(s(), counter, () => undefined);
            return counter;
          },
        };
      }
      c.bytes += s instanceof Sensitive ? Buffer.byteLength(s.reveal()) : typeof s === "string" ? Buffer.byteLength(s) : s.byteLength;
      return cmd;
    };
    return {
      host: t.host,
      needsSudo: t.needsSudo,
      exec: (cmd, o) => t.exec(countStdin(cmd), o),
      upload: async (src, p, o) => {
        const r = await t.upload(src, p, o);
        if (r.uploaded) {
          c.bytes += r.bytes;
          c.uploads++;
        }
        return r;
      },
      sha256: (p, o) => t.sha256(p, o),
      close: () => t.close(),
    };
  };
}

async function main(): Promise<void> {
  const sizes = (arg("--sizes") ?? "1,4,8").split(",").map(Number);
  const cacheDir = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");
  const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(fs.readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
  const bundle = await verifyBundle((await buildBundle({ recipe, cacheDir, createdBy: "longshore/bench" })).dir);
  const paths = { ...defaultPaths(), stateRoot: fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-prov-")) };
  const img = buildDemoImage("v1", { cacheDir: paths.cacheDir });
  const app = parseResolvedApp({ name: "demo", image: "longshore-demo:v1", port: 8080 });
  const engine = parseEngineOptions({});
  const samples: Sample[] = [];
  try {
    for (const n of sizes) {
      const env = `bench-prov-${n}`;
      process.stderr.write(`N=${n}: machines...\n`);
      const { state } = await upMachineGroup({ env, machines: n, paths });
      try {
        const base = { targets: sshTargets(state), engine, app, bundle, slot: "blue", image: { source: "archive" as const, localPath: img.file, imageId: img.imageId }, auditUser: "bench@controller" };
        const fresh = new Map<string, { bytes: number; uploads: number }>();
        let t0 = performance.now();
        const r1 = await provisionHosts({ ...base, mode: "apply", connect: countingConnect(fresh) });
        const freshMs = performance.now() - t0;
        if (r1.error) throw r1.error;
        const rerun = new Map<string, { bytes: number; uploads: number }>();
        t0 = performance.now();
        const r2 = await provisionHosts({ ...base, mode: "apply", connect: countingConnect(rerun) });
        const rerunMs = performance.now() - t0;
        if (r2.error) throw r2.error;
        t0 = performance.now();
        const r3 = await provisionHosts({ ...base, mode: "check", connect: connectSsh });
        const planMs = performance.now() - t0;
        if (r3.error) throw r3.error;
        const freshVals = [...fresh.values()];
        const rerunVals = [...rerun.values()];
        samples.push({
          machines: n,
          freshMs,
          rerunMs,
          planMs,
          freshBytesPerHost: freshVals.reduce((s, v) => s + v.bytes, 0) / freshVals.length,
          rerunBytesPerHost: Math.max(...rerunVals.map((v) => v.bytes)),
          freshUploads: freshVals.reduce((s, v) => s + v.uploads, 0) / freshVals.length,
          rerunUploads: rerunVals.reduce((s, v) => s + v.uploads, 0),
          changedFresh: r1.report.counts.changed,
          freshStepMs: Object.fromEntries(
            r1.report.hosts[0]!.steps.map((st, k) => [st.id, Math.round(r1.report.hosts.reduce((sum, h) => sum + h.steps[k]!.durationMs, 0) / r1.report.hosts.length)]),
          ),
          unchangedRerun: r2.report.counts.unchanged,
        });
        process.stderr.write(`N=${n}: fresh ${(freshMs / 1000).toFixed(1)} s, re-run ${(rerunMs / 1000).toFixed(2)} s, plan ${(planMs / 1000).toFixed(2)} s\n`);
      } finally {
        await downMachineGroup({ env, paths });
      }
    }
  } finally {
    fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  }
  const outDir = path.resolve(__dirname, "..", "..", "bench", "out");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "provision.json"), JSON.stringify({ when: new Date().toISOString(), bundleBytes: bundle.manifest.totalSize, imageId: img.imageId, samples }, null, 2));
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const rows = [
    "| machines | bare → healthy app | idempotent re-run | plan (in sync) | sent per host, first run | sent per host, re-run | steps changed / unchanged |",
    "|---|---|---|---|---|---|---|",
    ...samples.map(
      (s) =>
        `| ${s.machines} | ${(s.freshMs / 1000).toFixed(1)} s | ${(s.rerunMs / 1000).toFixed(2)} s | ${(s.planMs / 1000).toFixed(2)} s | ${mib(s.freshBytesPerHost)} (${s.freshUploads} files) | ${kib(s.rerunBytesPerHost)} (${s.rerunUploads} files) | ${s.changedFresh} / ${s.unchangedRerun} |`,
    ),
  ];
  process.stdout.write(`${rows.join("\n")}\n\nfirst run, mean step time per host (ms):\n`);
  for (const s of samples) process.stdout.write(`N=${s.machines}: ${Object.entries(s.freshStepMs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
