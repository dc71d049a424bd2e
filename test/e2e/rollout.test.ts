// e2e: blue/green rollouts on real local machines (systemd-nspawn), the real engine from the bundle,
// real HAProxy, under continuous HTTP load. Does not prove the aws driver against AWS (its unit tests
// and the stack's mock suite cover that side).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoEnvironmentText, loadEnvironment } from "../../model/environment-file";
import { LockHeldError } from "../../core/errors";
import { createLocalDriver, destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { localGroupProvisioner } from "../../drivers/local/group-provisioner";
import { listMachineGroups, readMachineGroup } from "../../drivers/local/machine-group";
import { cgroupPids } from "../../drivers/local/cgroups";
import { isFinished, readAudit } from "../../rollout/audit-log";
import { environmentFiles, runRollback, runRollout, runUp, type OperationInput } from "../../rollout/operations";
import type { RolloutEvent } from "../../rollout/rollout";
import { freePort, httpGet, startLoad, testPaths, type LoadResult } from "./local-support";

const ENV = "e2erol";
const paths = testPaths("e2e-rollout");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-rollout-env-"));
const envFile = path.join(dir, "longshore.yaml");
let url = "";

/** Everything an operation needs, read fresh from the environment file (rollouts rewrite it). */
async function input(onEvent?: (e: RolloutEvent) => void): Promise<OperationInput> {
  const { env, text } = await loadEnvironment(envFile);
  return {
    env,
    envText: text,
    files: environmentFiles(envFile, paths.stateRoot, env.name),
    // The demo app has no secrets.
    driver: createLocalDriver(env, localGroupProvisioner(env, { app: {}, registryPassword: null, deferred: [] }, paths), paths),
    actor: "e2e@longshore",
    ...(onEvent ? { onEvent } : {}),
  };
}

const version = (body: string) => /longshore demo (\w+)/.exec(body)?.[1] ?? `?(${body.slice(0, 40)})`;

/** Versions served to requests that started after `t`. */
function versionsAfter(load: LoadResult, t: number): Set<string> {
  return new Set(load.samples.filter((s) => s.startedAt > t).map((s) => version(s.body)));
}

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  fs.writeFileSync(
    envFile,
    demoEnvironmentText("longshore-demo:v1")
      .replace("name: demo", `name: ${ENV}`)
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`)
      .replace("soakSeconds: 10", "soakSeconds: 5")
      .replace("drainSeconds: 2", "drainSeconds: 1"),
  );
}, 60_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
}, 300_000);

describe("rollouts on the local driver", () => {
  it("up brings the demo v1 to 2 fresh machines behind HAProxy", async () => {
    const { plan, report } = await runUp(await input());
    expect(plan.action).toBe("rollout");
    expect(report?.outcome).toBe("succeeded");
    const r = await httpGet(url);
    expect([r.status, version(r.body)]).toEqual([200, "v1"]);
    const status = await (await input()).driver.status();
    expect(status.live).toBe("blue");
    expect(status.slots.blue.hosts).toHaveLength(2);
  });

  it("v1 -> v2 under load: zero failed requests, v2 after the switch, v1 kept for rollback", async () => {
    const load = startLoad(url, 4);
    let switchedAt = 0;
    const report = await runRollout({
      ...(await input((e) => {
        if (e.type === "phase-done" && e.phase === "switch") switchedAt = Date.now();
      })),
      image: "longshore-demo:v2",
    });
    const seen = await load.stop();
    expect(report.outcome).toBe("succeeded");
    expect(seen.errors).toEqual([]);
    expect(seen.non2xx).toBe(0);
    expect(seen.ok).toBeGreaterThan(50);
    expect(versionsAfter(seen, switchedAt)).toEqual(new Set(["v2"]));
    const status = await (await input()).driver.status();
    expect([status.live, status.slots.green.image, status.slots.blue.image]).toEqual(["green", "longshore-demo:v2", "longshore-demo:v1"]);
    const { env } = await loadEnvironment(envFile);
    expect([env.live, env.slots.green.image]).toEqual(["green", "longshore-demo:v2"]);
  });

  it("rollback goes back to v1 with zero failed requests", async () => {
    const load = startLoad(url, 4);
    let switchedAt = 0;
    const report = await runRollback(
      await input((e) => {
        if (e.type === "phase-done" && e.phase === "switch") switchedAt = Date.now();
      }),
    );
    const seen = await load.stop();
    expect(report.outcome).toBe("succeeded");
    expect([seen.errors, seen.non2xx]).toEqual([[], 0]);
    expect(versionsAfter(seen, switchedAt)).toEqual(new Set(["v1"]));
  });

  it("a rollout to the broken image never moves traffic off v1, names the failing probe, and green keeps v2 for rollback", async () => {
    const { env } = await loadEnvironment(envFile);
    fs.writeFileSync(envFile, fs.readFileSync(envFile, "utf8").replace("healthDeadlineSeconds: 120", "healthDeadlineSeconds: 15"));
    const load = startLoad(url, 2);
    const report = await runRollout({ ...(await input()), image: "longshore-demo:broken" });
    const seen = await load.stop();
    expect(report.outcome).toBe("failed");
    expect(report.failedProbes?.length).toBe(env.slots.green.size);
    expect(report.failedProbes?.[0]).toMatchObject({ ok: false, status: 404, detail: "longshore demo broken: unhealthy" });
    expect(new Set(seen.samples.map((s) => version(s.body)))).toEqual(new Set(["v1"]));
    expect([seen.errors, seen.non2xx]).toEqual([[], 0]);
    // The version green kept (v2, from before the rollback) survived the failed rollout, in the file too.
    const status = await (await input()).driver.status();
    expect([status.live, status.slots.green.image, status.slots.green.hosts.length]).toEqual(["blue", "longshore-demo:v2", 2]);
    expect((await loadEnvironment(envFile)).env.slots.green.image).toBe("longshore-demo:v2");
  });

  it("a new machine killed during the soak sends traffic back to the old slot automatically", async () => {
    let killed = "";
    const report = await runRollout({
      ...(await input((e) => {
        if (e.type === "phase-start" && e.phase === "soak") {
          // The first machine of the new green group dies like a powered-off VM: every process in
          // its cgroups gets SIGKILL at once.
          const group = listMachineGroups(paths).find((g) => g.startsWith(`${ENV}-green-`))!;
          const m = readMachineGroup(group, paths)!.machines[0]!;
          for (const pid of new Set(m.cgroups.flatMap((d) => cgroupPids(d)))) {
            // A short-lived process listed a moment ago may be gone already (ESRCH): that one is dead anyway.
            try {
              process.kill(pid, "SIGKILL");
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
            }
          }
          killed = m.name;
        }
      })),
      image: "longshore-demo:v2",
    });
    expect(killed).not.toBe("");
    expect(report.outcome).toBe("rolled-back");
    expect(report.reason).toContain(killed);
    const status = await (await input()).driver.status();
    expect(status.live).toBe("blue");
    const r = await httpGet(url);
    expect(version(r.body)).toBe("v1");
  });

  it("a second concurrent rollout is refused by the lock, naming the holder", async () => {
    let second: unknown;
    const first = runRollout({
      ...(await input(async (e) => {
        if (e.type === "phase-start" && e.phase === "prepare") {
          second = await runRollout({ ...(await input()), image: "longshore-demo:v2" }).catch((x: unknown) => x);
        }
      })),
      image: "longshore-demo:v2",
    });
    const report = await first;
    expect(second).toBeInstanceOf(LockHeldError);
    expect((second as LockHeldError).message).toMatch(new RegExp(`^environment ${ENV} is locked: rollout by \\S+@\\S+ \\(pid ${process.pid}\\)`));
    expect(report.outcome).toBe("succeeded");
    const audit = (await readAudit(environmentFiles(envFile, paths.stateRoot, ENV).auditFile)).filter(isFinished);
    expect(audit.map((a) => [a.action, a.toImage, a.outcome])).toEqual([
      ["up", "longshore-demo:v1", "succeeded"],
      ["rollout", "longshore-demo:v2", "succeeded"],
      ["rollback", "longshore-demo:v1", "succeeded"],
      ["rollout", "longshore-demo:broken", "failed"],
      ["rollout", "longshore-demo:v2", "rolled-back"],
      ["rollout", "longshore-demo:v2", "succeeded"],
    ]);
  });

  it("destroy removes every machine group and the load balancer", async () => {
    const groups = await destroyLocalEnvironment(ENV, () => undefined, paths);
    expect(groups.length).toBeGreaterThan(0);
    expect(listMachineGroups(paths).filter((g) => g.startsWith(ENV))).toEqual([]);
    await expect(httpGet(url, 2_000)).rejects.toThrow();
    // Nothing of the environment is left in the state directory: no group, no lock file, no slots.json.
    expect(fs.readdirSync(paths.stateRoot).filter((e) => e.startsWith(ENV))).toEqual([]);
  });
});
