/**
 * Benchmark: time until N local machines (N = 1, 4, 8) answer SSH, with the template built from
 * scratch (cold, optional: about a minute of debootstrap), extracted from the cached tarball, or
 * already extracted (warm); and the memory an idle machine uses.
 *
 * Run as root after `npx tsc -p .`:  node dist/bench/local-machines.js [--cold] [--repeat 3]
 * Writes bench/out/local-machines.json and prints a Markdown table for BENCHMARKS.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cgroupPids, cgroupMemoryBytes } from "../drivers/local/cgroups";
import { downMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { readBanner } from "../drivers/local/machine";
import { defaultPaths, type LocalPaths } from "../drivers/local/paths";
import type { EnvState } from "../drivers/local/state";

interface Sample {
  scenario: string;
  machines: number;
  upMs: number;
  downMs: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function kib(pid: number, file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/${file}`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Memory of each machine: RSS and PSS summed over the processes in its cgroups, and the memory cgroup's usage. */
function machineMemory(state: EnvState) {
  return state.machines.map((m) => {
    const pids = [...new Set(m.cgroups.flatMap((d) => cgroupPids(d)))];
    return {
      name: m.name,
      processes: pids.length,
      rssKiB: pids.reduce((s, p) => s + kib(p, "status", "VmRSS"), 0),
      pssKiB: pids.reduce((s, p) => s + kib(p, "smaps_rollup", "Pss"), 0),
      cgroupBytes: cgroupMemoryBytes(m.cgroups) ?? 0,
    };
  });
}

async function once(scenario: string, n: number, paths: LocalPaths): Promise<{ sample: Sample; state: EnvState }> {
  const t0 = Date.now();
  const up = await upMachineGroup({ env: "bench", machines: n, paths, skipPreconditions: true });
  const upMs = Date.now() - t0;
  // Independent check that every machine answers SSH (up already waited for the banner).
  for (const m of up.state.machines) if (!(await readBanner(m.address, 22, 2000)).startsWith("SSH-")) throw new Error(`${m.name} does not answer`);
  return { sample: { scenario, machines: n, upMs, downMs: 0 }, state: up.state };
}

async function down(paths: LocalPaths): Promise<number> {
  const t0 = Date.now();
  await downMachineGroup({ env: "bench", paths });
  return Date.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  const repeat = Number(arg("--repeat") ?? 3);
  const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-"));
  const warm: LocalPaths = { ...defaultPaths(), stateRoot };
  const samples: Sample[] = [];
  let memory: ReturnType<typeof machineMemory> = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  try {
    if (process.argv.includes("--cold")) {
      // A template cache of its own, empty: debootstrap runs.
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-cold-"));
      const cold: LocalPaths = { ...warm, cacheDir: path.join(scratch, "cache"), libDir: path.join(scratch, "lib") };
      const r = await once("cold (debootstrap + cache)", 1, cold);
      r.sample.downMs = await down(cold);
      samples.push(r.sample);
      log(`cold: ${r.sample.upMs} ms`);
      // Tarball cached, not extracted yet.
      fs.rmSync(path.join(cold.libDir, "templates"), { recursive: true, force: true });
      const x = await once("cached tarball (extract)", 1, cold);
      x.sample.downMs = await down(cold);
      samples.push(x.sample);
      log(`extract: ${x.sample.upMs} ms`);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    // Make sure the shared template exists before timing the warm case.
    await once("warm-up", 1, warm);
    await down(warm);
    for (const n of [1, 4, 8]) {
      for (let i = 0; i < repeat; i++) {
        const r = await once("warm (template extracted)", n, warm);
        if (n === 8 && i === repeat - 1) {
          await new Promise((res) => setTimeout(res, 5000)); // idle: let boot-time work settle
          memory = machineMemory(r.state);
        }
        r.sample.downMs = await down(warm);
        samples.push(r.sample);
        log(`warm n=${n} #${i + 1}: up ${r.sample.upMs} ms, down ${r.sample.downMs} ms`);
      }
    }
  } finally {
    await downMachineGroup({ env: "bench", paths: warm }).catch(() => undefined);
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }

  const out = path.resolve(__dirname, "..", "..", "bench", "out");
  fs.mkdirSync(out, { recursive: true });
  const host = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() };
  fs.writeFileSync(path.join(out, "local-machines.json"), JSON.stringify({ at: new Date().toISOString(), host, samples, memory }, null, 2));

  const rows = new Map<string, Sample[]>();
  for (const s of samples) rows.set(`${s.scenario}|${s.machines}`, [...(rows.get(`${s.scenario}|${s.machines}`) ?? []), s]);
  console.log("| scenario | machines | runs | up until all answer SSH (median, min–max) | down (median) |");
  console.log("|---|---:|---:|---|---|");
  for (const [key, ss] of rows) {
    const [scenario, n] = key.split("|");
    const ups = ss.map((s) => s.upMs);
    console.log(`| ${scenario} | ${n} | ${ss.length} | ${(median(ups) / 1000).toFixed(2)} s (${(Math.min(...ups) / 1000).toFixed(2)}–${(Math.max(...ups) / 1000).toFixed(2)}) | ${(median(ss.map((s) => s.downMs)) / 1000).toFixed(2)} s |`);
  }
  if (memory.length) {
    const avg = (f: (m: (typeof memory)[number]) => number) => memory.reduce((s, m) => s + f(m), 0) / memory.length;
    console.log(`\nidle machine (mean of ${memory.length}): ${avg((m) => m.processes).toFixed(1)} processes, RSS sum ${(avg((m) => m.rssKiB) / 1024).toFixed(1)} MiB, PSS sum ${(avg((m) => m.pssKiB) / 1024).toFixed(1)} MiB, memory cgroup usage ${(avg((m) => m.cgroupBytes) / 2 ** 20).toFixed(1)} MiB`);
  }
  console.log(`\nhost: ${host.cpus} × ${host.cpuModel}, ${host.memGiB} GiB, kernel ${host.kernel}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
