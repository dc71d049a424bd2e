// e2e: `rollout.beforeSwitch` through the real CLI on local machines (one per slot), the real
// engine and HAProxy: `up` runs a hook that writes a marker into the app's named volume and prints
// a line with a secret in it (shown and audited redacted; the marker is what the app container
// then sees); a rollout whose hook exits 3 fails with traffic still on the old slot and the new
// machine gone. Does not prove the timeout on a real host (the unit tests drive it), Compose apps
// or the aws driver (which refuses a hook before it starts).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, realDeps } from "../../cli/main";
import { EXIT } from "../../cli/exit-codes";
import { systemSecretReader } from "../../core/secret-reader";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { listMachineGroups, readMachineGroup } from "../../drivers/local/machine-group";
import { demoEnvironmentText, loadEnvironment } from "../../model/environment-file";
import { isFinished, readAudit } from "../../rollout/audit-log";
import type { RolloutReport } from "../../rollout/rollout";
import { Sink } from "../helpers/cli-harness";
import { freePort, httpGet, ssh, testPaths } from "./local-support";

const ENV = "e2ehook";
const paths = testPaths("ls-e2e-hook");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-hook-env-"));
const envFile = path.join(dir, "longshore.yaml");
const auditFile = path.join(dir, `${ENV}.audit.jsonl`);
/** What the first hook writes into the volume. */
const MARKER = `migrated-${randomBytes(6).toString("hex")}`;
/** The app's one secret: the hook prints it, and it must never be seen. */
const SECRET = `hook-secret-${randomBytes(8).toString("hex")}`;
const savedEnv = { ...process.env };
const outputs: string[] = [];
let url = "";

const MIGRATE = ["/bin/sh", "-c", `echo ${MARKER} > /data/marker && echo "migrated users with $DB_PASSWORD"`];
const FAILING = ["/bin/sh", "-c", "echo checking schema; echo 'ERROR: migration 42 failed'; exit 3"];

/** Runs the real CLI (cli/main.ts, real dependencies) in the environment's directory. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const env = { ...process.env, E2E_HOOK_DB_PASSWORD: SECRET, LONGSHORE_OPERATOR: "e2e@longshore" };
  const code = await main(argv, { ...realDeps(), stdout, stderr, cwd: dir, env, secretReader: systemSecretReader(env) });
  outputs.push(stdout.text, stderr.text);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function setHook(command: string[]): void {
  const text = fs.readFileSync(envFile, "utf8").replace(/^ {2}beforeSwitch: .*$/m, `  beforeSwitch: { command: ${JSON.stringify(command)}, timeoutSeconds: 120 }`);
  fs.writeFileSync(envFile, text);
}

/** The one machine of the live slot. */
function liveMachine() {
  const slots = JSON.parse(fs.readFileSync(path.join(paths.stateRoot, ENV, "slots.json"), "utf8")) as { live: string; slots: Record<string, { group: string }> };
  const state = readMachineGroup(slots.slots[slots.live]!.group, paths)!;
  return { state, machine: state.machines[0]! };
}

const version = (body: string) => /longshore demo (\w+)/.exec(body)?.[1] ?? `?(${body.slice(0, 40)})`;

beforeAll(async () => {
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  const text = demoEnvironmentText("longshore-demo:v1")
    .replace("name: demo", `name: ${ENV}`)
    .replace("    GREETING: hello\n", "    GREETING: hello\n  secrets:\n    DB_PASSWORD: { env: E2E_HOOK_DB_PASSWORD }\n  volumes: [\"hookdata:/data\"]\n")
    .replaceAll("    size: 2", "    size: 1")
    .replace("healthDeadlineSeconds: 120", "healthDeadlineSeconds: 60")
    .replace("soakSeconds: 10", "soakSeconds: 0")
    .replace("drainSeconds: 2", "drainSeconds: 1")
    .replace(/( {2}keepPrevious: true.*\n)/, `$1  beforeSwitch: { command: ${JSON.stringify(MIGRATE)}, timeoutSeconds: 120 }\n`)
    .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`);
  fs.writeFileSync(envFile, text);
  // The file is what the docs say a user writes: it must parse before anything runs.
  expect((await loadEnvironment(envFile)).env.rollout.beforeSwitch).toEqual({ command: MIGRATE, timeoutSeconds: 120 });
}, 60_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  process.env = savedEnv;
}, 300_000);

describe("the before-switch hook on local machines", () => {
  it("up runs the hook once before traffic: its line is shown and audited with the secret redacted, and its marker is in the app's volume", async () => {
    const started = Date.now();
    const r = await cli("up");
    console.log(`up with a hook: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // Progress: the phase, the docker run, then the hook's own line, redacted.
    const progress = r.stderr.split("\n");
    const phase = progress.indexOf("==> before-switch");
    expect(phase).toBeGreaterThan(progress.indexOf("==> health-gate"));
    expect(progress.slice(phase + 1, phase + 3)).toEqual([
      expect.stringMatching(new RegExp(`^    ${ENV}-blue-g1-1: docker run --rm --name demo-v1-hook --pull never --env-file /etc/longshore/apps/demo/demo-v1.env --volume hookdata:/data --label io.longshore.hook=before-switch --entrypoint /bin/sh sha256:[0-9a-f]{64} -c `)),
      `    ${ENV}-blue-g1-1: migrated users with [redacted]`,
    ]);
    expect(progress.indexOf("==> switch")).toBeGreaterThan(phase);
    expect(r.stdout).toMatch(new RegExp(`^hook: /bin/sh -c .* on ${ENV}-blue-g1-1: exit 0 after \\d+\\.\\d s$`, "m"));

    const [entry] = (await readAudit(auditFile)).filter(isFinished);
    expect(entry).toMatchObject({ action: "up", outcome: "succeeded", hook: { command: MIGRATE, host: `${ENV}-blue-g1-1`, exitCode: 0, outputTail: ["migrated users with [redacted]"] } });
    expect(Object.keys(entry!.phases)).toEqual(["prepare", "health-gate", "before-switch", "switch", "soak"]);
    console.log(`hook: ${entry!.hook!.durationMs} ms; phases: ${JSON.stringify(entry!.phases)}`);

    // The app container sees what the hook wrote; the hook's container is gone.
    const { state, machine } = liveMachine();
    const marker = await ssh(state, machine, "docker exec demo-v1 /bin/busybox cat /data/marker");
    expect([marker.code, marker.stdout]).toEqual([0, `${MARKER}\n`]);
    const leftover = await ssh(state, machine, "docker ps -aq --filter label=io.longshore.hook");
    expect([leftover.code, leftover.stdout]).toEqual([0, ""]);
    expect(version((await httpGet(url)).body)).toBe("v1");
  });

  it("a rollout whose hook exits 3 fails: traffic never leaves v1, the new machine is gone, the reason names the hook, its exit code and last lines", async () => {
    setHook(FAILING);
    const started = Date.now();
    const r = await cli("rollout", "longshore-demo:v2", "--json");
    console.log(`failed rollout with a hook: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(r.code, r.stderr + r.stdout).toBe(EXIT.rolloutFailed);
    const report = JSON.parse(r.stdout) as RolloutReport & { url: string };
    const host = report.hook?.host ?? "";
    expect(host).toMatch(new RegExp(`^${ENV}-green-g\\d+-1$`));
    expect(report).toMatchObject({
      outcome: "failed",
      fromSlot: "blue",
      toSlot: "green",
      reason: `the before-switch hook \`/bin/sh -c 'echo checking schema; echo '\\''ERROR: migration 42 failed'\\''; exit 3'\` on ${host} exited 3; last output: checking schema | ERROR: migration 42 failed`,
      hook: { command: FAILING, exitCode: 3, outputTail: ["checking schema", "ERROR: migration 42 failed"] },
    });
    expect(report.phases.map((p) => p.name)).toEqual(["prepare", "health-gate", "before-switch"]);

    // Traffic: still v1 through the balancer; the new machine and its group are gone; the file agrees.
    for (let i = 0; i < 5; i++) expect(version((await httpGet(url)).body)).toBe("v1");
    expect(listMachineGroups(paths).filter((g) => g.startsWith(`${ENV}-green-`))).toEqual([]);
    const { env } = await loadEnvironment(envFile);
    expect([env.live, env.slots.blue.image, env.slots.green.image]).toEqual(["blue", "longshore-demo:v1", null]);
    const last = (await readAudit(auditFile)).filter(isFinished).at(-1)!;
    expect(last).toMatchObject({ action: "rollout", outcome: "failed", reason: report.reason, hook: { exitCode: 3, outputTail: ["checking schema", "ERROR: migration 42 failed"] } });
  });

  it("the secret never reached the output, the audit log or the environment file", () => {
    expect(outputs.join("\n")).not.toContain(SECRET);
    expect(fs.readFileSync(auditFile, "utf8")).not.toContain(SECRET);
    expect(fs.readFileSync(envFile, "utf8")).not.toContain(SECRET);
  });
});
