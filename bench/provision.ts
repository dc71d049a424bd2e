/**
 * Benchmark: longshore's `provision` against a plain OpenSSH + bash script doing the same install
 * (bench/baseline/provision.sh), on N = 1, 4 and 8 bare local machines (systemd-nspawn, Debian
 * bookworm minbase), in one run. Per N and per tool: fresh machines from the same template, the
 * first run (bare -> healthy app), then three idempotent re-runs (median); for longshore also a
 * `plan` of the in-sync fleet. Same bytes: the cached bookworm amd64 bundle (uncompressed, as
 * SFTP/tar) and the demo image v1's archive (gzip -1 stream for the script, layer by layer for
 * longshore). longshore runs as its CLI (`node dist/cli/main.js provision --json`), what a user
 * runs, so its times include Node's start, the bundle and image checks on the controller; the
 * script's include ssh's. Hosts in parallel for both (one process per host for the script).
 *
 * With `--debian13`, longshore also provisions N Debian 13 machines (trixie's bundle, engine 26) after
 * each Debian 12 pair, for issue 13's comparison of the two releases.
 *
 * Run as root after `npx tsc -p .`:  node dist/bench/provision.js [--sizes 1,4,8] [--reruns 3] [--debian13]
 * Writes bench/out/provision.json and prints a Markdown table for BENCHMARKS.md.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseEngineOptions } from "../model/engine";
import { EMPTY_LOCK, lockFilePath, serializeLockFile, withBundle } from "../model/lock-file";
import { buildDemoImage } from "../drivers/local/demo-app";
import { downMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { defaultPaths, type LocalPaths } from "../drivers/local/paths";
import { DEFAULT_RECIPE, templateRecipeFor, type TemplateRecipe } from "../drivers/local/template-recipe";
import type { EnvState } from "../drivers/local/state";
import { buildBundle } from "../provisioner/bundle/build";
import { renderSha256Sums } from "../provisioner/bundle/manifest";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../provisioner/bundle/recipe";
import { verifyBundle } from "../provisioner/bundle/verify";
import { engineConfigFiles } from "../provisioner/steps/engine-configure";
import { expectedDpkgState } from "../provisioner/steps/engine-install";

interface ToolSample {
  freshMs: number;
  /** The script's first run: mean time of each phase over the hosts (ms). */
  freshPhaseMs?: Record<string, number>;
  /** Every re-run's wall time, in order; the table shows the median. */
  rerunMs: number[];
}

interface Sample {
  machines: number;
  script: ToolSample;
  longshore: ToolSample & {
    planMs: number;
    /** First run, per host (mean): bytes uploaded by steps plus the image's bytes on the wire from the controller. */
    freshBytesPerHost: number;
    /** Re-runs: steps not unchanged (must be 0), and bytes sent (must be 0). */
    rerunChanged: number;
    rerunBytes: number;
    /** First run: mean duration of each step over the hosts (ms), in step order. */
    freshStepMs: Record<string, number>;
    /** Last re-run: mean duration of each step (ms). */
    rerunStepMs: Record<string, number>;
  };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs a process to its end; rejects with its stderr when it fails. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return runBoth(cmd, args, env).then((r) => r.out);
}

function runBoth(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve({ out, err }) : reject(new Error(`${cmd} ${args.slice(0, 2).join(" ")} exited ${code}: ${err.slice(-2000)}`))));
  });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

type StepJson = { id: string; status: string; durationMs: number; uploaded: Array<{ bytes: number }> };
type ReportJson = { ok: boolean; counts: Record<string, number>; hosts: Array<{ steps: StepJson[]; delivery?: { wireBytes: number } }> };

function meanStepMs(r: ReportJson): Record<string, number> {
  const first = r.hosts[0]!.steps;
  return Object.fromEntries(first.map((st, k) => [st.id, Math.round(r.hosts.reduce((s, h) => s + h.steps[k]!.durationMs, 0) / r.hosts.length)]));
}

function sentBytes(h: ReportJson["hosts"][number]): number {
  return h.steps.reduce((s, st) => s + st.uploaded.reduce((a, u) => a + u.bytes, 0), 0) + (h.delivery?.wireBytes ?? 0);
}

async function main(): Promise<void> {
  const sizes = (arg("--sizes") ?? "1,4,8").split(",").map(Number);
  const reruns = Number(arg("--reruns") ?? "3");
  const root = path.resolve(__dirname, "..", "..");
  const cacheDir = process.env["LONGSHORE_CACHE_DIR"] ?? path.join(root, ".longshore", "cache");
  const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(fs.readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
  const bundle = await verifyBundle((await buildBundle({ recipe, cacheDir, createdBy: "longshore/bench" })).dir);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-prov-"));
  const paths: LocalPaths = { ...defaultPaths(), cacheDir, stateRoot: path.join(work, "state") };
  const img = buildDemoImage("v1", { cacheDir });

  // The script's inputs, from the same bundle: its files plus SHA256SUMS, daemon.json as longshore writes it.
  const scriptBundle = path.join(work, path.basename(bundle.dir));
  fs.mkdirSync(path.join(scriptBundle, "debs"), { recursive: true });
  for (const f of fs.readdirSync(path.join(bundle.dir, "debs"))) fs.linkSync(path.join(bundle.dir, "debs", f), path.join(scriptBundle, "debs", f));
  fs.copyFileSync(path.join(bundle.dir, "manifest.json"), path.join(scriptBundle, "manifest.json"));
  fs.writeFileSync(path.join(scriptBundle, "SHA256SUMS"), renderSha256Sums(bundle.manifest));
  const engine = parseEngineOptions({});
  const daemonJson = path.join(work, "daemon.json");
  fs.writeFileSync(daemonJson, engineConfigFiles({ engine, bundle }).daemonJson);
  const wanted = bundle.manifest.recipe.packages.map((name) => ({ name, version: bundle.manifest.packages.find((p) => p.name === name)!.version }));
  const scriptEnv = { ...process.env, PACKAGES: [...bundle.manifest.recipe.packages].sort().join(" "), EXPECTED_DPKG: expectedDpkgState(wanted) };
  const script = path.join(root, "bench", "baseline", "provision.sh");

  // longshore's inputs: an environment file naming the demo app; the image from the same archive.
  const envFile = path.join(work, "longshore.yaml");
  fs.writeFileSync(envFile, "name: bench\napp:\n  name: demo\n  image: longshore-demo:v1\n  port: 8080\n");
  // Pinned as after a first run (longshore.lock beside the file): the bundle comes from the cache
  // without resolving the recipe against the archive, as the script's pre-built directory does.
  fs.writeFileSync(
    lockFilePath(envFile),
    serializeLockFile(
      withBundle(EMPTY_LOCK, "amd64", {
        recipe: "debian-bookworm-amd64",
        id: bundle.manifest.id,
        packages: Object.fromEntries(bundle.manifest.packages.map((p) => [p.name, p.version])),
      }),
    ),
  );
  const cli = path.join(root, "dist", "cli", "main.js");
  const cliEnv = { ...process.env, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot, LONGSHORE_CACHE_DIR: cacheDir, NO_COLOR: "1" };
  const provision = async (env: string, mode: "provision" | "plan", file = envFile): Promise<ReportJson> => {
    const args = [cli, mode, "-f", file, "--local-env", env, "--image-archive", img.file, "--json"];
    // plan exits 1 when something would change; an in-sync fleet exits 0.
    return JSON.parse(await run(process.execPath, args, cliEnv)) as ReportJson;
  };

  /** longshore on `n` fresh machines of `recipe`: first run, re-runs, plan. */
  const measureLongshore = async (env: string, n: number, file: string, machineRecipe: TemplateRecipe): Promise<Sample["longshore"]> => {
    process.stderr.write(`N=${n}: longshore (${machineRecipe.suite}): machines...\n`);
    await upMachineGroup({ env, machines: n, paths, recipe: machineRecipe });
    try {
      let fresh: ReportJson | undefined;
      const freshMs = await timed(async () => (fresh = await provision(env, "provision", file)));
      const rerunMs: number[] = [];
      let rerunChanged = 0;
      let rerunBytes = 0;
      let last: ReportJson | undefined;
      for (let k = 0; k < reruns; k++) {
        rerunMs.push(await timed(async () => (last = await provision(env, "provision", file))));
        rerunChanged += last!.hosts.reduce((s, h) => s + h.steps.filter((st) => st.status !== "unchanged").length, 0);
        rerunBytes += last!.hosts.reduce((s, h) => s + sentBytes(h), 0);
      }
      const planMs = await timed(() => provision(env, "plan", file));
      process.stderr.write(`N=${n}: longshore (${machineRecipe.suite}): fresh ${(freshMs / 1000).toFixed(1)} s, re-run ${(median(rerunMs) / 1000).toFixed(2)} s, plan ${(planMs / 1000).toFixed(2)} s\n`);
      return {
        freshMs,
        rerunMs,
        planMs,
        freshBytesPerHost: fresh!.hosts.reduce((s, h) => s + sentBytes(h), 0) / fresh!.hosts.length,
        rerunChanged,
        rerunBytes,
        freshStepMs: meanStepMs(fresh!),
        rerunStepMs: meanStepMs(last!),
      };
    } finally {
      await downMachineGroup({ env, paths });
    }
  };

  // Debian 13 hosts (--debian13): the same app and bytes of image, trixie's bundle (engine 26), longshore only.
  const trixie = process.argv.includes("--debian13")
    ? await (async () => {
        const r = debianRecipe({ suite: "trixie", arch: "amd64", hostSources: parseDeb822Sources(fs.readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
        const b = await verifyBundle((await buildBundle({ recipe: r, cacheDir, createdBy: "longshore/bench" })).dir);
        const dir13 = path.join(work, "debian13");
        fs.mkdirSync(dir13);
        const file = path.join(dir13, "longshore.yaml");
        fs.writeFileSync(file, "name: bench\nhosts: { os: debian-13 }\napp:\n  name: demo\n  image: longshore-demo:v1\n  port: 8080\n");
        fs.writeFileSync(
          lockFilePath(file),
          serializeLockFile(withBundle(EMPTY_LOCK, "amd64", { recipe: "debian-trixie-amd64", id: b.manifest.id, packages: Object.fromEntries(b.manifest.packages.map((p) => [p.name, p.version])) })),
        );
        return { file, bytes: b.manifest.totalSize };
      })()
    : null;
  const debian13: Array<{ machines: number; longshore: Sample["longshore"] }> = [];

  const samples: Sample[] = [];
  try {
    for (const n of sizes) {
      // The script, on its own fresh machines.
      const env = `bench-sh-${n}`;
      process.stderr.write(`N=${n}: script: machines...\n`);
      const { state } = await upMachineGroup({ env, machines: n, paths });
      const scriptSample: ToolSample = { freshMs: 0, rerunMs: [] };
      try {
        const phases: Array<Record<string, number>> = [];
        const once = (st: EnvState) =>
          Promise.all(
            st.machines.map(async (m) => {
              const r = await runBoth("bash", [script, m.address, st.clientKey!.privatePath, st.knownHostsFile!, scriptBundle, daemonJson, img.file, img.imageId, "8080"], scriptEnv);
              phases.push(Object.fromEntries([...r.err.matchAll(/^phase (\S+) (\d+)$/gm)].map((x) => [x[1]!, Number(x[2])])));
              return r.out;
            }),
          );
        scriptSample.freshMs = await timed(() => once(state));
        scriptSample.freshPhaseMs = Object.fromEntries(Object.keys(phases[0] ?? {}).map((k) => [k, Math.round(phases.reduce((a, p) => a + (p[k] ?? 0), 0) / phases.length)]));
        for (let k = 0; k < reruns; k++) {
          let outs: string[] = [];
          scriptSample.rerunMs.push(await timed(async () => (outs = await once(state))));
          // A re-run of the script must find nothing to do, or it is not the same work.
          if (outs.some((o) => o.trim() !== "did:")) throw new Error(`the script's re-run did something: ${outs.join(" | ")}`);
        }
      } finally {
        await downMachineGroup({ env, paths });
      }
      process.stderr.write(`N=${n}: script: fresh ${(scriptSample.freshMs / 1000).toFixed(1)} s, re-run ${(median(scriptSample.rerunMs) / 1000).toFixed(2)} s\n`);

      samples.push({ machines: n, script: scriptSample, longshore: await measureLongshore(`bench-ls-${n}`, n, envFile, DEFAULT_RECIPE) });
      if (trixie) debian13.push({ machines: n, longshore: await measureLongshore(`bench-13-${n}`, n, trixie.file, templateRecipeFor("debian-13")) });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const outDir = path.join(root, "bench", "out");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "provision.json"), JSON.stringify({ when: new Date().toISOString(), bundleBytes: bundle.manifest.totalSize, imageId: img.imageId, samples, debian13 }, null, 2));
  const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const s2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rows = [
    "| machines | fresh: script / longshore (ratio) | re-run: script / longshore (ratio) | plan (in sync) | longshore sent per host, fresh / re-runs |",
    "|---|---|---|---|---|",
    ...samples.map((s) => {
      const sr = median(s.script.rerunMs);
      const lr = median(s.longshore.rerunMs);
      return `| ${s.machines} | ${s1(s.script.freshMs)} / ${s1(s.longshore.freshMs)} (${(s.longshore.freshMs / s.script.freshMs).toFixed(2)}x) | ${s2(sr)} / ${s2(lr)} (${(lr / sr).toFixed(2)}x) | ${s2(s.longshore.planMs)} | ${(s.longshore.freshBytesPerHost / 2 ** 20).toFixed(1)} MiB / ${s.longshore.rerunBytes} B (${s.longshore.rerunChanged} steps not unchanged) |`;
    }),
  ];
  process.stdout.write(`${rows.join("\n")}\n`);
  if (debian13.length) {
    const d13 = [
      "",
      "| machines | first run: Debian 12 / Debian 13 | re-run: Debian 12 / Debian 13 | plan: Debian 12 / Debian 13 | sent per host, first run: Debian 12 / Debian 13 |",
      "|---|---|---|---|---|",
      ...debian13.map((d) => {
        const b = samples.find((x) => x.machines === d.machines)!.longshore;
        return `| ${d.machines} | ${s1(b.freshMs)} / ${s1(d.longshore.freshMs)} | ${s2(median(b.rerunMs))} / ${s2(median(d.longshore.rerunMs))} (${d.longshore.rerunChanged} steps not unchanged) | ${s2(b.planMs)} / ${s2(d.longshore.planMs)} | ${(b.freshBytesPerHost / 2 ** 20).toFixed(1)} / ${(d.longshore.freshBytesPerHost / 2 ** 20).toFixed(1)} MiB |`;
      }),
    ];
    process.stdout.write(`${d13.join("\n")}\n`);
    for (const d of debian13) process.stdout.write(`N=${d.machines} debian-13: ${Object.entries(d.longshore.freshStepMs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
  }
  process.stdout.write(`\nmean step time per host (ms), first run | last re-run:\n`);
  for (const s of samples) {
    process.stdout.write(`N=${s.machines} script: ${Object.entries(s.script.freshPhaseMs ?? {}).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
    process.stdout.write(`N=${s.machines}: ${Object.entries(s.longshore.freshStepMs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
    process.stdout.write(`N=${s.machines}: ${Object.entries(s.longshore.rerunStepMs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
