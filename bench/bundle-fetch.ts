/**
 * Benchmark: delivering the engine bundle (`engine.bundle`) to N = 1 and 4 local machines with
 * `engine.fetch: upload` (over SSH from this computer) against `engine.fetch: archive` (each host
 * downloads with apt-helper from a mirror this computer serves on the bridge). Per N: fresh
 * machines, a first provision (upload) that also installs the engine, then alternately archive and
 * upload with the hosts' bundle directory removed before each run (the engine stays installed, so
 * the other steps are unchanged). The time is the longest engine.bundle step over the hosts (they
 * run in parallel). The local mirror is the best case for `archive`; a real mirror is as fast as the
 * hosts' path to it.
 *
 * Run as root after `npx tsc -p .`:  node dist/bench/bundle-fetch.js [--sizes 1,4] [--reps 2]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildDemoImage } from "../drivers/local/demo-app";
import { sshTargets } from "../drivers/local/inventory";
import { downMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { defaultPaths, type LocalPaths } from "../drivers/local/paths";
import { parseResolvedApp } from "../model/app";
import { parseEngineOptions } from "../model/engine";
import { buildBundle } from "../provisioner/bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../provisioner/bundle/recipe";
import { verifyBundle } from "../provisioner/bundle/verify";
import { provisionHosts } from "../provisioner/provision-hosts";
import { HOST_PATHS } from "../provisioner/steps/engine-context";
import { connectSsh } from "../provisioner/transport/ssh2-transport";
import { startArchiveMirror } from "../test/helpers/archive-mirror";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const sizes = arg("--sizes", "1,4").split(",").map(Number);
const reps = Number(arg("--reps", "2"));
const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");

async function main(): Promise<void> {
  const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(fs.readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
  const bundle = await verifyBundle((await buildBundle({ recipe, cacheDir: CACHE, createdBy: "longshore/bench" })).dir);
  const mib = (bundle.manifest.totalSize / 1048576).toFixed(1);
  const rows: string[] = [];
  for (const n of sizes) {
    const paths: LocalPaths = { ...defaultPaths(), stateRoot: fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-fetch-")) };
    const env = `benchfetch${n}`;
    try {
      const state = (await upMachineGroup({ env, machines: n, paths })).state;
      const mirror = await startArchiveMirror(state.gateway, bundle);
      try {
        const img = buildDemoImage("v1", { cacheDir: paths.cacheDir });
        const app = parseResolvedApp({ name: "demo", image: "longshore-demo:v1", port: 8080, hostPort: 8080, health: { intervalSeconds: 0.5 } });
        const targets = sshTargets(state);
        const run = async (fetch: "upload" | "archive") => {
          const engine = parseEngineOptions(fetch === "archive" ? { fetch, archiveMirror: mirror.url } : { fetch });
          const r = await provisionHosts({ targets, slot: "blue", mode: "apply", auditUser: "bench@controller", healthDeadlineMs: 20_000, engine, app, image: { source: "archive", localPath: img.file, imageId: img.imageId }, bundle });
          if (r.error) throw r.error;
          return Math.max(...r.report.hosts.map((h) => h.steps.find((s) => s.id === "engine.bundle")!.durationMs));
        };
        const clear = () =>
          Promise.all(
            targets.map(async (t) => {
              const c = await connectSsh(t);
              try {
                await c.exec({ argv: ["rm", "-rf", HOST_PATHS.bundleRoot] });
              } finally {
                await c.close();
              }
            }),
          );
        const first = await run("upload");
        const times: Record<"upload" | "archive", number[]> = { upload: [], archive: [] };
        for (let i = 0; i < reps; i++) {
          for (const mode of ["archive", "upload"] as const) {
            await clear();
            times[mode].push(await run(mode));
          }
        }
        const fetched = mirror.log.filter((x) => x.status === 200).length;
        console.log(`N=${n}: first upload (with engine install) ${first} ms; upload ${times.upload.join(", ")} ms; archive ${times.archive.join(", ")} ms; mirror served ${fetched} files`);
        rows.push(`| ${n} | ${mib} MiB, ${bundle.manifest.packages.length} files | ${times.upload.map((t) => (t / 1000).toFixed(1)).join(", ")} s | ${times.archive.map((t) => (t / 1000).toFixed(1)).join(", ")} s |`);
      } finally {
        await mirror.stop();
      }
    } finally {
      await downMachineGroup({ env, paths }).catch((e: unknown) => console.error(e));
      fs.rmSync(paths.stateRoot, { recursive: true, force: true });
    }
  }
  console.log("| hosts | bundle | engine.bundle, fetch: upload | engine.bundle, fetch: archive (local mirror) |\n|---|---|---|---|");
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
