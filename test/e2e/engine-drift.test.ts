// Does not prove: other engines (docker-ce), a daemon.json edited without any restart (that is only a file, which
// engine.configure restores), or the aws path (one Debian bookworm local machine, root over SSH, the real engine).
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { provisionHosts } from "../../provisioner/provision-hosts";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import type { Transport } from "../../provisioner/transport/transport";
import { testPaths } from "./local-support";
import { demoApp, demoSource, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const paths = testPaths("ls-e2e-drift");
const ENV = "e2edrift";
let state: EnvState;
let bundle: BundleRef;

beforeAll(async () => {
  bundle = await engineBundle();
  state = (await upMachineGroup({ env: ENV, machines: 1, paths })).state;
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

async function sh(script: string): Promise<string> {
  const t: Transport = await openMachine(state);
  try {
    const r = await t.exec({ argv: ["sh", "-c", script] });
    if (r.exitCode !== 0) throw new Error(`\`${script}\` exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    await t.close();
  }
}

const run = (mode: "apply" | "check") => provisionHosts(inputFor(state, { engine: engineWith("3"), app: demoApp("v1"), image: demoSource("v1", paths), bundle, mode }));
const STEPS = ["engine.facts", "engine.bundle", "engine.install", "engine.configure", "engine.start", "engine.verify", "image.load", "app.run", "app.health", "audit.append"];
const only = (changed: string[], word: string) => STEPS.map((id) => `${id} ${changed.includes(id) ? word : "unchanged"}`);
/** Puts `"debug": true` first in daemon.json, as an operator editing it by hand would. */
const ADD_DEBUG = `sed -i 's/^{$/{\\n  "debug": true,/' /etc/docker/daemon.json`;
const debug = () => sh("docker info --format '{{.Debug}}'");
const dockerdPid = () => sh("systemctl show -p MainPID --value docker.service");

describe("a hand-restarted engine with a drifted daemon.json (real engine on a local machine)", () => {
  it("provision restores daemon.json AND restarts dockerd, which then runs without debug; plan then shows nothing", async () => {
    const first = await run("apply");
    expect(first.error).toBeUndefined();
    expect(await debug()).toBe("false");
    const before = await sh("docker inspect --format '{{.Id}} {{.State.StartedAt}}' demo-v1");

    await sh(`${ADD_DEBUG} && systemctl restart docker.service`);
    expect(await debug()).toBe("true");
    const drifted = await dockerdPid();

    const plan = await run("check");
    expect(plan.error).toBeUndefined();
    expect(stepStatuses(plan.report)).toEqual(only(["engine.configure", "engine.start"], "would-change"));
    expect(plan.report.hosts[0]!.steps[4]!.wouldChange!.failedChecks).toEqual([
      expect.stringMatching(/^sh -c 'f=\$1; d=\$2; .*' sh \/var\/lib\/longshore\/engine\/running-config [0-9a-f]{64}$/),
    ]);

    const t0 = Date.now();
    const fix = await run("apply");
    const fixMs = Date.now() - t0;
    expect(fix.error).toBeUndefined();
    expect(stepStatuses(fix.report)).toEqual(only(["engine.configure", "engine.start"], "changed"));
    expect(await debug()).toBe("false");
    expect(await dockerdPid()).not.toBe(drifted);
    expect(await sh("grep -c debug /etc/docker/daemon.json || true")).toBe("0");
    // live-restore: the app's container lived through both restarts.
    expect(await sh("docker inspect --format '{{.Id}} {{.State.StartedAt}}' demo-v1")).toBe(before);

    const after = await run("check");
    expect(stepStatuses(after.report)).toEqual(only([], "would-change"));
    console.log(`engine-drift: the provision that restored the engine took ${fixMs} ms`);
  });

  it("a reload with the drifted file (debug is re-read on SIGHUP) is drift too", async () => {
    const pid = await dockerdPid();
    await sh(`${ADD_DEBUG} && systemctl reload docker.service`);
    // dockerd applies a reload asynchronously.
    for (let i = 0; i < 50 && (await debug()) !== "true"; i++) await new Promise((r) => setTimeout(r, 100));
    expect([await debug(), await dockerdPid()]).toEqual(["true", pid]);
    const record = (await sh("cat /var/lib/longshore/engine/running-config")).split("\n");
    expect(record.map((l) => l.split(" ")[0])).toEqual(["start", "reload"]);
    expect(record[1]).not.toBe(record[0]!.replace("start", "reload"));

    const fix = await run("apply");
    expect(fix.error).toBeUndefined();
    expect(stepStatuses(fix.report)).toEqual(only(["engine.configure", "engine.start"], "changed"));
    expect(await debug()).toBe("false");
    expect((await sh("cat /var/lib/longshore/engine/running-config")).split("\n")).toHaveLength(1);
    expect(stepStatuses((await run("check")).report)).toEqual(only([], "would-change"));
    expect(await sh("docker inspect --format '{{.State.Running}}' demo-v1")).toBe("true");
  });
});
