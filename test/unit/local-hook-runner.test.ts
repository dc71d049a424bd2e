// Unit: the local driver's before-switch hook over a scripted fake transport (what runs, in what
// order, how output, exit codes and the timeout come back) and the slot driver's choice of host.
// Does not prove SSH or the engine (the e2e hook test runs it on real machines).
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { runHookOn } from "../../drivers/local/hook-runner";
import { LocalSlotDriver, type FleetHost } from "../../drivers/local/slot-driver";
import { parseResolvedApp } from "../../model/app";
import { DEFAULT_HEALTH } from "../../model/health";
import type { SshTarget } from "../../model/ssh-target";
import type { HookSpec } from "../../rollout/driver";
import { FakeTransport, type FakeRule } from "../helpers/fake-transport";

const ID = `sha256:${"cd".repeat(32)}`;
const TARGET: SshTarget = { name: "demo-green-g2-1", address: "10.213.47.20", port: 22, user: "root", auth: { privateKeyFile: "/k" }, hostKey: { fingerprints: ["SHA256:pinned"] } };
const app = parseResolvedApp({ name: "demo", image: "longshore-demo:v2", volumes: ["data:/data"] });
const hook: HookSpec = { command: ["sh", "-c", "echo migrated; exit 0"], timeoutMs: 90_000 };
const SECRET = new Sensitive("db-pass-9876");

const INSPECT = /^docker inspect --type container/;
const RUN = /^docker run --rm --name demo-v2-hook /;

function run(rules: FakeRule[], spec: HookSpec = hook) {
  const fake = new FakeTransport(TARGET.name, { rules, unmatched: "error" });
  const progress: string[] = [];
  const connected: SshTarget[] = [];
  const result = runHookOn(TARGET, {
    app,
    image: "longshore-demo:v2",
    hook: spec,
    secrets: [SECRET],
    connect: async (t) => {
      connected.push(t);
      return fake;
    },
    progress: (l) => progress.push(l),
  });
  return { fake, progress, connected, result };
}

describe("runHookOn", () => {
  it("asks the app's container for its image, then runs the hook like it on one connection, streaming redacted lines", async () => {
    const { fake, progress, connected, result } = run([
      { match: INSPECT, result: { stdout: `${ID} db:10.213.47.9\n` } },
      { match: RUN, result: { stdout: "migrating with db-pass-9876\nmigrated\n", stderr: "warning: old index\n", exitCode: 0, durationMs: 1234 } },
    ]);
    expect(await result).toEqual({ host: TARGET.name, exitCode: 0, durationMs: 1234, outputTail: ["migrating with [redacted]", "migrated", "warning: old index"] });
    expect(connected).toEqual([TARGET]);
    expect(fake.log).toEqual([
      "exec: docker inspect --type container --format '{{.Image}}{{range .HostConfig.ExtraHosts}} {{.}}{{end}}' demo-v2",
      `exec: docker run --rm --name demo-v2-hook --pull never --env-file /etc/longshore/apps/demo/demo-v2.env --volume data:/data --add-host db:10.213.47.9 --label io.longshore.hook=before-switch --entrypoint sh ${ID} -c 'echo migrated; exit 0'`,
      "close",
    ]);
    const runCall = fake.calls[1]!;
    expect(runCall.kind === "exec" && runCall.options.timeoutMs).toBe(90_000);
    expect(progress).toEqual([
      `${TARGET.name}: docker run --rm --name demo-v2-hook --pull never --env-file /etc/longshore/apps/demo/demo-v2.env --volume data:/data --add-host db:10.213.47.9 --label io.longshore.hook=before-switch --entrypoint sh ${ID} -c 'echo migrated; exit 0'`,
      `${TARGET.name}: migrating with [redacted]`,
      `${TARGET.name}: migrated`,
      `${TARGET.name}: warning: old index`,
    ]);
  });

  it("a non-zero exit is a result, not an error", async () => {
    const { result } = run([
      { match: INSPECT, result: { stdout: `${ID}\n` } },
      { match: RUN, result: { stderr: "no such table\n", exitCode: 3, durationMs: 80 } },
    ]);
    expect(await result).toEqual({ host: TARGET.name, exitCode: 3, durationMs: 80, outputTail: ["no such table"] });
  });

  it("at its timeout the command is killed and the hook's container removed; the result says it timed out", async () => {
    const { fake, progress, result } = run([
      { match: INSPECT, result: { stdout: `${ID}\n` } },
      {
        match: RUN,
        error: new TransportError("command-timeout", TARGET.name, "`docker run ...` did not finish within 90000 ms and was killed"),
      },
      { match: "docker rm --force demo-v2-hook", result: { exitCode: 0 } },
    ]);
    const r = await result;
    expect({ ...r, durationMs: 0 }).toEqual({ host: TARGET.name, exitCode: null, timedOut: true, durationMs: 0, outputTail: [] });
    expect(fake.execs.at(-1)).toBe("docker rm --force demo-v2-hook");
    expect(fake.log.at(-1)).toBe("close");
    expect(progress.at(-1)).toBe(`${TARGET.name}: the hook ran past 90 s: its container demo-v2-hook was removed`);
  });

  it("no app container to be like: an error naming it, and the hook never runs", async () => {
    const { fake, result } = run([{ match: INSPECT, result: { exitCode: 1, stderr: "Error: No such container: demo-v2\n" } }]);
    await expect(result).rejects.toThrow(`${TARGET.name}: the app's container demo-v2 is not there to run the hook like: Error: No such container: demo-v2`);
    expect(fake.log).toEqual([expect.stringMatching(/^exec: docker inspect/), "close"]);
  });

  it("a lost connection is an error (the engine fails the rollout, naming it)", async () => {
    const { result } = run([
      { match: INSPECT, result: { stdout: `${ID}\n` } },
      { match: RUN, error: new TransportError("disconnected", TARGET.name, "connection lost") },
    ]);
    await expect(result).rejects.toThrow(`${TARGET.name}: connection lost`);
  });
});

describe("LocalSlotDriver.runHook", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "longshore-hook-slots-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function driver(name: string, withHook: boolean) {
    const log: string[] = [];
    const d = new LocalSlotDriver({
      env: "demo",
      stateDir: path.join(root, name),
      hostPort: 8080,
      health: DEFAULT_HEALTH,
      url: "http://127.0.0.1:8080/",
      fleet: {
        create: async (group, size) => Array.from({ length: size }, (_, i): FleetHost => ({ name: `${group}-${i + 1}`, address: `10.213.47.${20 + i}` })),
        destroy: async () => undefined,
      },
      provisioner: { prepare: async () => undefined, provision: async () => undefined },
      balancer: { setServers: async () => undefined, activate: async () => undefined },
      hostKeys: async () => [],
      ...(withHook
        ? {
            runHook: async (group: string, host: FleetHost, image: string, spec: HookSpec) => {
              log.push(`hook on ${host.name} of ${group} running ${image}: ${spec.command.join(" ")}`);
              return { host: host.name, exitCode: 0, durationMs: 1, outputTail: [] };
            },
          }
        : {}),
    });
    return { d, log };
  }

  it("runs on the first prepared host of the slot, once", async () => {
    const { d, log } = driver("first", true);
    await d.prepareSlot("blue", "longshore-demo:v2", 3, () => undefined);
    expect(await d.runHook!("blue", hook, () => undefined)).toEqual({ host: "demo-blue-g1-1", exitCode: 0, durationMs: 1, outputTail: [] });
    expect(log).toEqual(["hook on demo-blue-g1-1 of demo-blue-g1 running longshore-demo:v2: sh -c echo migrated; exit 0"]);
  });

  it("refuses a slot with no prepared hosts", async () => {
    const { d } = driver("none", true);
    await expect(d.runHook!("green", hook, () => undefined)).rejects.toThrow("the green slot has no prepared hosts to run the hook on");
  });

  it("has no runHook without a runner, and names itself for messages", () => {
    expect(driver("without", false).d.runHook).toBeUndefined();
    expect(driver("named", true).d.name).toBe("the local driver");
  });
});
