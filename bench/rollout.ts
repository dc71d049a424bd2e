/**
 * Rollout benchmark on the local driver: for 2 and 4 hosts per slot, `up` v1 then roll out v2
 * under a continuous HTTP load (4 loops, a new connection per request) and report each phase's
 * wall time, the switch latency (switch start until the first response from v2), the requests
 * served and failed, and this process's CPU seconds plus its children's (the machines' are not
 * counted). With `--host-image on|off|both` (default on) the machines boot from the host image
 * (`local.hostImage`) or the bare template; the host image is made (once) before the timing.
 * Run as root after a build: `node dist/bench/rollout.js [2,4] [--host-image both]`.
 * Prints one Markdown table row per size and host-image setting.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { demoEnvironmentText, loadEnvironment } from "../model/environment-file";
import { createLocalDriver, destroyLocalEnvironment } from "../drivers/local/local-driver";
import { localGroupProvisioner } from "../drivers/local/group-provisioner";
import { defaultPaths } from "../drivers/local/paths";
import { environmentFiles, runRollout, runUp, type OperationInput } from "../rollout/operations";
import type { RolloutEvent } from "../rollout/rollout";
import { probeHttp } from "../rollout/http-probe";


async function measure(size: number, port: number, hostImage: boolean): Promise<string> {
  const paths = { ...defaultPaths(), stateRoot: fs.mkdtempSync(path.join(os.tmpdir(), "bench-rollout-")) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-rollout-env-"));
  const envFile = path.join(dir, "longshore.yaml");
  const name = `bench${size}${hostImage ? "h" : "b"}`;
  fs.writeFileSync(
    envFile,
    demoEnvironmentText("longshore-demo:v1")
      .replace("name: demo", `name: ${name}`)
      .replace(/size: 2/g, `size: ${size}`)
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}\n  hostImage: ${hostImage}`),
  );
  const input = async (onEvent?: (e: RolloutEvent) => void): Promise<OperationInput> => {
    const { env, text } = await loadEnvironment(envFile);
    return {
      env,
      envText: text,
      files: environmentFiles(envFile, paths.stateRoot, env.name),
      driver: createLocalDriver(env, localGroupProvisioner(env, { app: {}, registryPassword: null, deferred: [] }, paths), paths),
      actor: "bench@longshore",
      ...(onEvent ? { onEvent } : {}),
    };
  };
  try {
    await runUp(await input());
    const cpu0 = process.cpuUsage();
    const children0 = childCpu();
    const url = `http://127.0.0.1:${port}/`;
    let running = true;
    let ok = 0;
    let failed = 0;
    let switchStart = 0;
    let firstV2 = 0;
    const loops = Array.from({ length: 4 }, async () => {
      while (running) {
        // The same probe rollouts use: a new connection per request, status and body start.
        const r = await probeHttp("load", url, { timeoutMs: 5_000 });
        if (r.ok) ok++;
        else failed++;
        if (!firstV2 && switchStart && r.detail.includes("demo v2")) firstV2 = Date.now();
      }
    });
    const report = await runRollout({
      ...(await input((e) => {
        if (e.type === "phase-start" && e.phase === "switch") switchStart = Date.now();
      })),
      image: "longshore-demo:v2",
    });
    running = false;
    await Promise.all(loops);
    const ms = (n: string) => ((report.phases.find((p) => p.name === n)?.ms ?? 0) / 1000).toFixed(1);
    const total = report.phases.reduce((a, p) => a + p.ms, 0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = ((cpu.user + cpu.system) / 1e6 + (childCpu() - children0)).toFixed(1);
    return `| ${size} | ${hostImage ? "on" : "off"} | ${report.outcome} | ${ms("prepare")} | ${ms("health-gate")} | ${ms("switch")} | ${ms("soak")} | ${total.toFixed(1)} | ${firstV2 - switchStart} | ${ok} | ${failed} | ${cpuS} |`;
  } finally {
    await destroyLocalEnvironment(name, () => undefined, paths);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  }
}

/** CPU seconds of this process's waited-for children (ssh-keygen, tar, nspawn's helpers...), from /proc. */
function childCpu(): number {
  const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // Fields 16 and 17 (cutime, cstime) of stat(5), counted from the state field as 3.
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function main(): Promise<void> {
  const sizes = (process.argv.slice(2).find((a) => /^\d+(,\d+)*$/.test(a)) ?? "2,4").split(",").map(Number);
  const i = process.argv.indexOf("--host-image");
  const mode = i >= 0 ? process.argv[i + 1] : "on";
  const settings = mode === "both" ? [false, true] : [mode !== "off"];
  console.log("| hosts/slot | host image | outcome | prepare s | gate s | switch s | soak s | total s | switch latency ms | served | failed | CPU s |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const size of sizes) for (const h of settings) console.log(await measure(size, 18_080 + size, h));
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
