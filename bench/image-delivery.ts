/**
 * Benchmark: delivering an image to N = 1, 4 and 8 hosts with no image (fresh), and re-provisioning
 * hosts that run v1 with v2, three ways in one run: `engine` and `archive` (layer by layer, each blob
 * once from the controller, peers for the rest) and the old whole-archive stream (`docker save`
 * piped into each host's `docker load`). Measures the bytes the controller sends (every command's
 * stdin, counted by the transport: ExecResult.stdinBytes) and the wall time of the delivery steps
 * (image.fetch + image.layers, or image.load).
 *
 * Images: the test app's v1 and v2 (test/helpers/app-image.ts: built once with a private engine from
 * Debian packages, then cached; v2 is one small layer on v1's base), as archives. Between variants each host is reset (containers, images and blob store removed).
 *
 * Run as root after `npx tsc -p .`:  node dist/bench/image-delivery.js [--sizes 1,4,8]
 * Writes bench/out/image-delivery.json and prints a Markdown table for BENCHMARKS.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseResolvedApp } from "../model/app";
import { parseEngineOptions } from "../model/engine";
import { buildTestAppImages, TEST_APP_HEALTH_PATH } from "../test/helpers/app-image";
import { downMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { sshTargets } from "../drivers/local/inventory";
import { defaultPaths } from "../drivers/local/paths";
import { buildBundle } from "../provisioner/bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../provisioner/bundle/recipe";
import { verifyBundle } from "../provisioner/bundle/verify";
import { layeredImageSource } from "../provisioner/layers/layered-source";
import { imageBytes } from "../provisioner/layers/layered-image";
import { provisionHosts, type ConnectFn } from "../provisioner/provision-hosts";
import type { ImageSource } from "../provisioner/steps/engine-context";
import { connectSsh } from "../provisioner/transport/ssh2-transport";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Sums the stdin bytes of every command on every host. */
function countingConnect(total: { bytes: number }): ConnectFn {
  return async (target, options) => {
    const t = await connectSsh(target, options);
    return {
      host: t.host,
      needsSudo: t.needsSudo,
      exec: async (c, o) => {
        const r = await t.exec(c, o);
        total.bytes += r.stdinBytes ?? 0;
        return r;
      },
      upload: (s, p, o) => t.upload(s, p, o),
      sha256: (p, o) => t.sha256(p, o),
      close: () => t.close(),
    };
  };
}

const RESET = "docker ps -aq | xargs -r docker rm -f >/dev/null; docker image ls -aq | xargs -r docker image rm -f >/dev/null 2>&1; rm -rf /var/lib/longshore/blobs; true";

async function main(): Promise<void> {
  const sizes = (arg("--sizes") ?? "1,4,8").split(",").map(Number);
  const paths = { ...defaultPaths(), stateRoot: fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-images-")) };
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-bench-blobs-"));
  const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(fs.readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
  const bundle = await verifyBundle((await buildBundle({ recipe, cacheDir: paths.cacheDir, createdBy: "bench" })).dir);
  const engine = parseEngineOptions({});
  const images = await buildTestAppImages({ log: (l) => console.error(l) });
  const v1 = { file: images.v1.archive, imageId: images.v1.imageId };
  const v2 = { file: images.v2.archive, imageId: images.v2.imageId };
  const sources: Record<string, { v1: ImageSource; v2: ImageSource; bytes: { v1: number; v2: number } }> = {
    archive: {
      v1: await layeredImageSource({ archive: v1.file }, "longshore-test-app:1", { cacheDir }),
      v2: await layeredImageSource({ archive: v2.file }, "longshore-test-app:2", { cacheDir }),
      bytes: { v1: 0, v2: 0 },
    },
    stream: {
      v1: { source: "archive", localPath: v1.file, imageId: v1.imageId },
      v2: { source: "archive", localPath: v2.file, imageId: v2.imageId },
      bytes: { v1: fs.statSync(v1.file).size, v2: fs.statSync(v2.file).size },
    },
  };
  for (const k of ["archive"] as const) {
    const s = sources[k]!;
    s.bytes = { v1: imageBytes((s.v1 as Extract<ImageSource, { source: "layers" }>).layers), v2: imageBytes((s.v2 as Extract<ImageSource, { source: "layers" }>).layers) };
  }
  const rows: Array<Record<string, string | number>> = [];
  for (const n of sizes) {
    const group = `bench-img-${n}`;
    const state = (await upMachineGroup({ env: group, machines: n, paths })).state;
    try {
      const targets = sshTargets(state);
      for (const [name, src] of Object.entries(sources)) {
        // Fresh: no image on any host.
        await Promise.all(targets.map(async (tg) => {
          const t = await connectSsh(tg).catch(() => null);
          if (t) await t.exec({ argv: ["sh", "-c", RESET], sudo: true }).finally(() => t.close());
        }));
        for (const [phase, image, version] of [["fresh v1", src.v1, "1"], ["v1 -> v2", src.v2, "2"]] as const) {
          const total = { bytes: 0 };
          const r = await provisionHosts({
            targets,
            engine,
            app: parseResolvedApp({ name: "shop", image: `longshore-test-app:${version}`, port: 8080, health: { path: TEST_APP_HEALTH_PATH } }),
            image,
            bundle,
            slot: "blue",
            mode: "apply",
            omitSteps: ["app.health"],
            connect: countingConnect(total),
          });
          if (r.error) throw r.error;
          const stepMs = Math.max(
            ...r.report.hosts.map((h) => h.steps.filter((st) => st.id.startsWith("image.")).reduce((s, st) => s + st.durationMs, 0)),
          );
          const oneImage = version === "1" ? src.bytes.v1 : src.bytes.v2;
          rows.push({ hosts: n, source: name, phase, controllerBytes: total.bytes, oneImageBytes: oneImage, ratio: +(total.bytes / oneImage).toFixed(3), deliveryMs: stepMs });
          console.error(JSON.stringify(rows.at(-1)));
        }
      }
    } finally {
      await downMachineGroup({ env: group, paths });
    }
  }
  fs.mkdirSync(path.join(__dirname, "..", "..", "bench", "out"), { recursive: true });
  fs.writeFileSync(path.join(__dirname, "..", "..", "bench", "out", "image-delivery.json"), JSON.stringify(rows, null, 2) + "\n");
  // The target is relative to one host: what the same method sends to 1 host for the same phase.
  const single = (r: Record<string, string | number>) => rows.find((x) => x["hosts"] === 1 && x["source"] === r["source"] && x["phase"] === r["phase"]);
  for (const r of rows) r["vsOneHost"] = single(r) ? +((r["controllerBytes"] as number) / (single(r)!["controllerBytes"] as number)).toFixed(3) : "";
  fs.writeFileSync(path.join(__dirname, "..", "..", "bench", "out", "image-delivery.json"), JSON.stringify(rows, null, 2) + "\n");
  console.log("| hosts | source | phase | controller bytes | / uncompressed image | / same to 1 host | delivery steps (slowest host) |");
  console.log("|---:|---|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(`| ${r["hosts"]} | ${r["source"]} | ${r["phase"]} | ${r["controllerBytes"]} | ${r["ratio"]} | ${r["vsOneHost"]} | ${((r["deliveryMs"] as number) / 1000).toFixed(2)} s |`);
  }
  fs.rmSync(cacheDir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
