// Does not prove: other distributions or architectures, non-root SSH users with sudo, or the AWS path (one Debian bookworm amd64 local machine, root over SSH).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandFailedError } from "../../core/errors";
import { register as registerPlan } from "../../cli/plan";
import { register as registerProvision } from "../../cli/provision";
import type { ProvisionCliDeps } from "../../cli/provision-common";
import { systemSecretReader } from "../../core/secret-reader";
import { downMachineGroup, machineGroupSshTargets, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { provisionHosts } from "../../provisioner/provision-hosts";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import { runCli, Sink } from "../helpers/cli-harness";
import { httpGet, startLoad, testPaths } from "./local-support";
import { containerIdentity, demoApp, demoSource, E2E_HEALTH_DEADLINE_MS, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const paths = testPaths("ls-e2e-prov");
const ENV = "e2e-prov";
let state: EnvState;
let bundle: BundleRef;
let url = "";

beforeAll(async () => {
  bundle = await engineBundle();
  state = (await upMachineGroup({ env: ENV, machines: 1, paths })).state;
  url = `http://${state.machines[0]!.address}:8080`;
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

/** Runs a command on the machine over its own short-lived transport. */
async function onMachine<T>(fn: (t: Transport) => Promise<T>): Promise<T> {
  const t = await openMachine(state);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

async function sh(script: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return onMachine((t) => t.exec({ argv: ["sh", "-c", script] }));
}

/** The CLI verbs wired to this test's local environment, run through a main-like harness. */
async function cli(...argv: string[]) {
  const stdout = new Sink();
  const stderr = new Sink();
  const env = {};
  const deps: ProvisionCliDeps = {
    stdout,
    stderr,
    env,
    cwd: paths.stateRoot,
    homeDir: paths.stateRoot,
    readFile: (p) => fs.promises.readFile(p, "utf8"),
    secretReader: systemSecretReader(env),
    connect: connectSsh,
    localTargets: (group) => machineGroupSshTargets(group, paths),
  };
  let set: number | undefined;
  const code = await runCli([(p) => registerProvision(p, deps), (p) => registerPlan(p, { ...deps, setExitCode: (c) => void (set = c) })], argv, stderr);
  return { code: code === 0 ? (set ?? 0) : code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * An environment file with the same app, engine and health deadline as the direct provisionHosts
 * calls here (demoApp("v1"), engineWith(maxFile)), the engine from the test's bundle directory.
 */
function environmentFile(maxFile: string): string {
  const file = path.join(paths.stateRoot, `longshore-${maxFile}.yaml`);
  fs.writeFileSync(
    file,
    [
      "name: e2e-prov",
      "driver: local",
      "app:",
      "  name: demo",
      "  image: longshore-demo:v1",
      "  port: 8080",
      "  hostPort: 8080",
      "  env: { GREETING: hello }",
      "  health: { intervalSeconds: 0.5 }",
      "engine:",
      `  bundle: ${bundle.dir}`,
      `  daemon: { log-opts: { max-file: "${maxFile}" } }`,
      "rollout:",
      `  healthDeadlineSeconds: ${E2E_HEALTH_DEADLINE_MS / 1000}`,
      "",
    ].join("\n"),
  );
  return file;
}

/** The flags that point the CLI at this test's machine, slot and image archive. */
const hostFlags = () => ["--local-env", ENV, "--slot", "blue", "--image", "longshore-demo:v1", "--image-archive", demoSource("v1", paths).localPath];

const ALL_STEPS = ["engine.facts", "engine.bundle", "engine.install", "engine.configure", "engine.start", "engine.verify", "image.load", "app.run", "app.health", "audit.append"];

describe("longshore provision on a fresh local machine (archive image, no registry)", () => {
  it("plan on the bare machine changes nothing and says which steps would run", async () => {
    const r = await provisionHosts(inputFor(state, { engine: engineWith("3"), app: demoApp("v1"), image: demoSource("v1", paths), bundle, mode: "check" }));
    expect(r.error).toBeUndefined();
    expect(stepStatuses(r.report)).toEqual([
      "engine.facts unchanged",
      "engine.bundle would-change",
      "engine.install would-change",
      "engine.configure would-change",
      "engine.start would-change",
      "engine.verify would-change",
      "image.load would-change",
      "app.run would-change",
      "app.health would-change",
      "audit.append would-change",
    ]);
    const cpus = Number((await sh("nproc")).stdout.trim());
    const memTotalKiB = Number(/^MemTotal:\s+([0-9]+) kB$/m.exec((await sh("cat /proc/meminfo")).stdout)![1]);
    expect(r.hosts[0]!.facts).toEqual({
      arch: "amd64",
      osId: "debian",
      osVersionId: "12",
      osCodename: "bookworm",
      cgroupVersion: 1,
      systemd: true,
      engineVersion: null,
      cpus,
      memoryBytes: memTotalKiB * 1024,
    });
    expect(cpus).toBeGreaterThanOrEqual(1);
    expect((await sh("command -v dockerd || echo absent")).stdout.trim()).toBe("absent");
  });

  it("installs the engine from the bundle, verifies it, loads the demo image and serves v1, healthy", async () => {
    const image = demoSource("v1", paths);
    const r = await provisionHosts(inputFor(state, { engine: engineWith("3"), app: demoApp("v1"), image, bundle, readEngineState: true }));
    expect(r.error).toBeUndefined();
    const statuses = stepStatuses(r.report);
    // app.health's one-probe check may already pass right after app.run (busybox starts in ms).
    expect(statuses.filter((s) => !s.startsWith("app.health"))).toEqual([
      "engine.facts unchanged",
      "engine.bundle changed",
      "engine.install changed",
      "engine.configure changed",
      "engine.start changed",
      "engine.verify unchanged",
      "image.load changed",
      "app.run changed",
      "audit.append changed",
    ]);
    expect(["app.health changed", "app.health unchanged"]).toContain(statuses[8]);
    // Every bundle file went over once: the .debs, the manifest and SHA256SUMS.
    const bundleStep = r.report.hosts[0]!.steps[1]!;
    expect(bundleStep.uploaded).toHaveLength(bundle.manifest.packages.length + 2);
    const debBytes = bundleStep.uploaded.filter((u) => u.path.endsWith(".deb")).reduce((n, u) => n + u.bytes, 0);
    expect(debBytes).toBe(bundle.manifest.totalSize);
    expect(r.hosts[0]!.engine!.version).toBe((await sh("docker version --format '{{.Server.Version}}'")).stdout.trim());
    expect(r.hosts[0]!.engine!.version!.startsWith(bundle.manifest.engineVersion)).toBe(true);
    expect((await sh("docker info --format '{{.Driver}} {{.LoggingDriver}}'")).stdout.trim()).toBe("overlay2 json-file");
    expect((await sh("docker image inspect --format '{{.Id}}' longshore-demo:v1")).stdout.trim()).toBe(image.imageId);
    const page = await httpGet(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<h1>longshore demo v1</h1>");
    expect(await httpGet(`${url}/healthz`)).toEqual({ status: 200, body: "ok\n" });
    const labels = (await sh("docker inspect --format '{{index .Config.Labels \"io.longshore.app\"}} {{index .Config.Labels \"io.longshore.version\"}} {{index .Config.Labels \"io.longshore.slot\"}}' demo-v1")).stdout.trim();
    expect(labels).toBe("demo v1 blue");
    // The env file is the release's, in the app's own directory, readable by root only.
    expect((await sh("stat -c '%a %U' /etc/longshore/apps/demo/demo-v1.env && cat /etc/longshore/apps/demo/demo-v1.env && ls /etc/longshore/apps/demo")).stdout).toBe("600 root\nGREETING=hello\ndemo-v1.env\n");
    // create-then-swap left exactly one container of the app, under its name.
    expect((await sh("docker ps -a --filter label=io.longshore.app=demo --format '{{.Names}} {{.State}}'")).stdout).toBe("demo-v1 running\n");
    expect((await sh("wc -l < /var/log/longshore/audit.log")).stdout.trim()).toBe("1");
  });

  it("a second run (through the CLI, --json) reports every step unchanged and restarts no container", async () => {
    const before = await onMachine((t) => containerIdentity(t, "demo-v1"));
    expect(before).not.toBeNull();
    const r = await cli("provision", "-f", environmentFile("3"), ...hostFlags(), "--json");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    // The CLI delivers an --image-archive layer by layer: image.fetch (nothing to fetch: the engine has it) and image.layers.
    const cliSteps = ALL_STEPS.flatMap((id) => (id === "image.load" ? ["image.fetch", "image.layers"] : [id]));
    expect(doc.counts).toEqual({ unchanged: 11, changed: 0, "would-change": 0, failed: 0, "not-run": 0 });
    expect(doc.hosts[0].steps.map((s: { id: string; status: string; uploaded: unknown[] }) => [s.id, s.status, s.uploaded.length])).toEqual(cliSteps.map((id) => [id, "unchanged", 0]));
    expect(await onMachine((t) => containerIdentity(t, "demo-v1"))).toEqual(before);
    expect((await sh("wc -l < /var/log/longshore/audit.log")).stdout.trim()).toBe("1");
  });

  it("plan shows the daemon.json diff of max-file 3 -> 4 and the engine restart it implies, changing nothing", async () => {
    const r = await cli("plan", "-f", environmentFile("4"), ...hostFlags());
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => /^  [a-z]+\.[a-z]+ /.test(l)).map((l) => l.trim().replace(/^(\S+)\s+(unchanged|would change).*$/, "$1 $2"))).toEqual(
      // plan of an --image-archive: its image step is image.layers (image.fetch runs only when applying).
      ALL_STEPS.map((id) => (id === "image.load" ? "image.layers" : id)).map((id) => `${id} ${id === "engine.configure" || id === "engine.start" ? "would change" : "unchanged"}`),
    );
    expect(lines).toContain('        -    "max-file": "3",');
    expect(lines).toContain('        +    "max-file": "4",');
    expect(lines).toContain("        --- /etc/docker/daemon.json (host)");
    expect((await sh("grep -c '\"max-file\": \"3\"' /etc/docker/daemon.json")).stdout.trim()).toBe("1");
  });

  it("changing max-file 3 -> 4 re-runs only engine.configure and engine.start; the app keeps serving through the engine restart (live-restore)", async () => {
    const before = await onMachine((t) => containerIdentity(t, "demo-v1"));
    const dockerdBefore = (await sh("systemctl show -p MainPID --value docker.service")).stdout.trim();
    const load = startLoad(`${url}/`, 4);
    // Some requests before the change, so "during" is really during.
    while (load.seen() < 20) await new Promise((r) => setTimeout(r, 20));
    const r = await provisionHosts(inputFor(state, { engine: engineWith("4"), app: demoApp("v1"), image: demoSource("v1", paths), bundle }));
    const during = load.seen();
    while (load.seen() < during + 20) await new Promise((r) => setTimeout(r, 20));
    const seen = await load.stop();
    expect(r.error).toBeUndefined();
    expect(stepStatuses(r.report)).toEqual(ALL_STEPS.map((id) => `${id} ${id === "engine.configure" || id === "engine.start" ? "changed" : "unchanged"}`));
    expect(seen.errors).toEqual([]);
    expect(seen.non2xx).toBe(0);
    expect(seen.ok).toBeGreaterThanOrEqual(40);
    expect(new Set(seen.bodies.map((b) => b.split("\n")[0]))).toEqual(new Set(["200 <!doctype html>"]));
    // The engine really restarted (a new dockerd), and the container is the same one, never restarted.
    const dockerdAfter = (await sh("systemctl show -p MainPID --value docker.service")).stdout.trim();
    expect(dockerdAfter).not.toBe(dockerdBefore);
    expect(await onMachine((t) => containerIdentity(t, "demo-v1"))).toEqual(before);
    expect((await sh("grep -c '\"max-file\": \"4\"' /etc/docker/daemon.json")).stdout.trim()).toBe("1");
    expect((await httpGet(`${url}/healthz`)).status).toBe(200);
    // The chains that held the ports during the restart are gone again; dockerd's own rule is back.
    expect((await sh("iptables -w -t nat -L LONGSHORE-HOLD >/dev/null 2>&1; a=$?; iptables -w -t filter -L LONGSHORE-HOLD >/dev/null 2>&1; echo $a $?")).stdout.trim()).toBe("1 1");
    expect((await sh("iptables -w -t nat -S DOCKER | grep -c -- '--dport 8080 -j DNAT'")).stdout.trim()).toBe("1");
  });

  it("the broken demo image fails app.health with its body in the report, and stops before the audit", async () => {
    const broken = demoSource("broken", paths);
    const r = await provisionHosts(inputFor(state, { engine: engineWith("4"), app: demoApp("broken"), image: broken, bundle, healthDeadlineMs: 5_000 }));
    expect(stepStatuses(r.report)).toEqual([
      "engine.facts unchanged",
      "engine.bundle unchanged",
      "engine.install unchanged",
      "engine.configure unchanged",
      "engine.start unchanged",
      "engine.verify unchanged",
      "image.load changed",
      "app.run changed",
      "app.health failed",
      "audit.append not-run",
    ]);
    const err = r.error!.failures[0]!.error as CommandFailedError;
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.stepId).toBe("app.health");
    expect(err.exitCode).toBe(1);
    expect(err.stderrTail).toContain("longshore demo broken: unhealthy");
    const step = r.report.hosts[0]!.steps[8]!;
    expect(step.error!.code).toBe("COMMAND_FAILED");
    expect(step.error!.message).toContain("longshore demo broken: unhealthy");
    expect(await httpGet(`${url}/healthz`)).toEqual({ status: 404, body: "longshore demo broken: unhealthy\n" });
    expect((await sh("docker image inspect --format '{{.Id}}' longshore-demo:broken")).stdout.trim()).toBe(broken.imageId);
    // The swap only asks that the new container keeps running (health is app.health's): v1 was
    // replaced by demo-broken, and v1's env file went with it.
    expect((await sh("docker ps -a --filter label=io.longshore.app=demo --format '{{.Names}} {{.State}}'")).stdout).toBe("demo-broken running\n");
    expect((await sh("ls /etc/longshore/apps/demo")).stdout).toBe("demo-broken.env\n");
  });
});
