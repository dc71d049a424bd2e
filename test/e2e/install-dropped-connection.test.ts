// Does not prove: a real network outage (the connection is frozen by stopping sshd's session process, which is what
// a peer that vanished looks like to the client), the distro channel's apt-get update, or non-root users with sudo.
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { provisionHosts, type ProvisionEvent } from "../../provisioner/provision-hosts";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import type { Transport } from "../../provisioner/transport/transport";
import { testPaths } from "./local-support";
import { demoApp, demoSource, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const paths = testPaths("ls-e2e-drop");
const ENV = "e2edrop";
let state: EnvState;
let bundle: BundleRef;
let ctl: Transport;

beforeAll(async () => {
  bundle = await engineBundle();
  state = (await upMachineGroup({ env: ENV, machines: 1, paths })).state;
  ctl = await openMachine(state);
});

afterAll(async () => {
  await ctl?.close();
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

/** Runs a command on the machine over the test's own control connection. */
async function sh(script: string): Promise<string> {
  const r = await ctl.exec({ argv: ["sh", "-c", script] });
  if (r.exitCode !== 0) throw new Error(`\`${script}\` exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const input = (onEvent?: (e: ProvisionEvent) => void) =>
  inputFor(state, {
    engine: engineWith("3"),
    app: demoApp("v1"),
    image: demoSource("v1", paths),
    bundle,
    // A frozen peer is noticed after 2 missed keepalives 300 ms apart.
    connectOptions: { keepaliveIntervalMs: 300, keepaliveCountMax: 2 },
    ...(onEvent ? { onEvent } : {}),
  });

describe("engine.install on a fresh machine whose connection is lost mid-install", () => {
  it("the error names the install script by its first line; the re-run says it waits for the lock the left-over apt-get holds, then finishes", async () => {
    const first = provisionHosts(input());
    // The first run's apt-get: stopped, so it keeps dpkg's lock as long as the test needs, as a
    // slow install left behind by a lost connection would.
    let apt = "";
    for (let i = 0; i < 1200 && !apt; i++) {
      apt = await sh("pgrep -xo apt-get || true");
      if (!apt) await sleep(50);
    }
    expect(apt).toMatch(/^[0-9]+$/);
    await sh(`kill -STOP ${apt}`);
    // The sshd process serving the first run's connection (apt-get's ancestor): stopping it freezes that connection.
    const session = await sh(`p=${apt}; while [ "$p" -gt 1 ]; do [ "$(cat /proc/$p/comm)" = sshd ] && { echo $p; exit 0; }; p=$(ps -o ppid= -p $p | tr -d ' '); done; exit 1`);
    const droppedAt = Date.now();
    await sh(`kill -STOP ${session}`);
    try {
      const a = await first;
      const lostMs = Date.now() - droppedAt;
      const err = a.error!.failures[0]!.error as TransportError;
      expect(err).toBeInstanceOf(TransportError);
      expect(err.kind).toBe("disconnected");
      expect(err.message).toMatch(
        /^e2edrop-1: connection lost while running `sh -c '# longshore engine\.install: install the engine packages without starting them\. … \(\d+ lines\)'`: Keepalive timeout$/,
      );
      expect(stepStatuses(a.report).slice(2, 4)).toEqual(["engine.install failed", "engine.configure not-run"]);

      // The re-run: the left-over apt-get still holds dpkg's lock. Once the wait is reported, let it finish.
      const progress: string[] = [];
      let waitedFrom = 0;
      const second = await provisionHosts(
        input((e) => {
          if (e.type !== "step-progress") return;
          progress.push(`${e.stepId}: ${e.message}`);
          waitedFrom ||= Date.now();
          void sh(`kill -CONT ${apt}`);
        }),
      );
      const waitedMs = Date.now() - waitedFrom;
      expect(progress).toEqual([`engine.install: waiting for dpkg lock held by PID ${apt} (apt-get)`]);
      expect(second.error).toBeUndefined();
      expect(stepStatuses(second.report).slice(0, 6)).toEqual([
        "engine.facts unchanged",
        "engine.bundle unchanged",
        "engine.install changed",
        "engine.configure changed",
        "engine.start changed",
        "engine.verify unchanged",
      ]);
      expect(await sh("docker info --format '{{.Driver}}'")).toBe("overlay2");
      console.log(`install-dropped-connection: lost connection noticed after ${lostMs} ms; the re-run ended ${waitedMs} ms after reporting the wait`);
    } finally {
      await sh(`kill -CONT ${apt} 2>/dev/null; kill -KILL ${session} 2>/dev/null; true`);
    }
  });
});
