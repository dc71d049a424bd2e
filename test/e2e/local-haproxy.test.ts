// Does not prove: the demo image under a real container engine (busybox httpd runs directly on the machines here).
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import { haproxyRuntime, pruneHaproxyProcesses, reloadHaproxy, startHaproxy, stopHaproxy, switchSlot } from "../../drivers/local/haproxy";
import type { HaproxyServer } from "../../drivers/local/haproxy-config";
import { isSameProcess } from "../../drivers/local/proc";
import { StateStore, type EnvState } from "../../drivers/local/state";
import { envStateFile } from "../../drivers/local/paths";
import { freePort, httpGet, ssh, startLoad, testPaths } from "./local-support";

const paths = testPaths("ls-e2e-haproxy");
const ENV = "e2e-lb";
let store: StateStore;
let port: number;
let url: string;

/** Serves /srv/<slot> on 8080 (blue) and 8081 (green) with busybox httpd copied from this computer. */
const SERVE = `set -e
cat > /usr/local/bin/busybox && chmod 755 /usr/local/bin/busybox
for s in blue green; do mkdir -p /srv/$s; echo "$s $(hostname)" > /srv/$s/index.html; echo ok > /srv/$s/healthz; done
busybox httpd -p 8080 -h /srv/blue
busybox httpd -p 8081 -h /srv/green`;

function servers(state: EnvState, p: number, names = state.machines.map((m) => m.name)): HaproxyServer[] {
  return state.machines.filter((m) => names.includes(m.name)).map((m) => ({ name: m.name, address: m.address, port: p }));
}

async function sample(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await httpGet(url);
    out.push(`${r.status} ${r.body.trim()}`);
  }
  return out;
}

/** Runs HTTP load (4 connections at a time, none reused) around `during`, returning what it saw. */
async function underLoad(during: () => Promise<void>) {
  const load = startLoad(url, 4);
  const until = async (n: number) => {
    const target = load.seen() + n;
    while (load.seen() < target) await new Promise((r) => setTimeout(r, 10));
  };
  await until(100);
  const mark = load.seen();
  await during();
  await until(200);
  const result = await load.stop();
  return { ...result, before: result.bodies.slice(0, mark), after: result.bodies.slice(-50) };
}

beforeAll(async () => {
  const up = await upMachineGroup({ env: ENV, machines: 3, paths });
  store = new StateStore(envStateFile(paths, ENV), up.state);
  const busybox = fs.readFileSync("/bin/busybox");
  for (const m of up.state.machines) {
    const r = await ssh(up.state, m, SERVE, { stdin: busybox });
    expect(r.code, r.stderr).toBe(0);
  }
  port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  await startHaproxy(store, { port, slots: { blue: servers(up.state, 8080), green: servers(up.state, 8081) } });
  const rt = haproxyRuntime(store.state.haproxy!);
  await rt.waitForStatus("blue", up.state.machines.map((m) => m.name), "UP", 15_000);
  await rt.waitForStatus("green", up.state.machines.map((m) => m.name), "UP", 15_000);
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

describe("local load balancer (HAProxy)", () => {
  it("listens on 127.0.0.1 only and balances across all machines of the live slot", async () => {
    const rec = store.state.haproxy!;
    expect(rec.bind).toEqual({ address: "127.0.0.1", port });
    expect(fs.readFileSync(`/proc/${rec.processes[0]!.pid}/cmdline`, "utf8").split("\0")[0]).toBe("haproxy");
    const bodies = await sample(12);
    expect(new Set(bodies)).toEqual(new Set(store.state.machines.map((m) => `200 blue ${m.name}`)));
  });

  it("follows health: a failing /healthz takes a machine out, a passing one brings it back", async () => {
    const rt = haproxyRuntime(store.state.haproxy!);
    const sick = store.state.machines[1]!;
    expect((await ssh(store.state, sick, "rm /srv/blue/healthz")).code).toBe(0);
    await rt.waitForStatus("blue", [sick.name], "DOWN", 15_000);
    const without = await sample(12);
    expect(without.some((b) => b.includes(sick.name))).toBe(false);
    expect(without.every((b) => b.startsWith("200 blue "))).toBe(true);
    expect((await ssh(store.state, sick, "echo ok > /srv/blue/healthz")).code).toBe(0);
    await rt.waitForStatus("blue", [sick.name], "UP", 15_000);
    expect((await sample(12)).some((b) => b.includes(sick.name))).toBe(true);
  });

  it("drain and weight 0 stop new traffic to a server without a reload", async () => {
    const rt = haproxyRuntime(store.state.haproxy!);
    const [a, b] = store.state.machines;
    await rt.setServerState("blue", a!.name, "drain");
    await rt.setWeight("blue", b!.name, 0);
    const bodies = await sample(9);
    expect(new Set(bodies)).toEqual(new Set([`200 blue ${store.state.machines[2]!.name}`]));
    await rt.setServerState("blue", a!.name, "ready");
    await rt.setWeight("blue", b!.name, 100);
    expect(new Set(await sample(12)).size).toBe(3);
  });

  it("switches from blue to green under HTTP load with no failed request", async () => {
    const pidBefore = store.state.haproxy!.processes.map((p) => p.pid);
    const r = await underLoad(() => switchSlot(store, "green"));
    expect(r.errors).toEqual([]);
    expect(r.non2xx).toBe(0);
    expect(r.before.every((b) => b.startsWith("200 blue "))).toBe(true);
    expect(r.after.every((b) => b.startsWith("200 green "))).toBe(true);
    expect(r.ok).toBeGreaterThanOrEqual(300);
    expect(await haproxyRuntime(store.state.haproxy!).liveSlot()).toBe("green");
    expect(fs.readFileSync(store.state.haproxy!.mapFile, "utf8")).toBe("live green\n");
    // No reload happened: the same process serves.
    expect(store.state.haproxy!.processes.map((p) => p.pid)).toEqual(pidBefore);
  });

  it("reloads gracefully (-sf) with a new server list under load, keeping the live slot", async () => {
    const keep = store.state.machines.slice(0, 2).map((m) => m.name);
    const oldProc = store.state.haproxy!.processes[0]!;
    const r = await underLoad(async () => {
      await reloadHaproxy(store, { port, slots: { blue: servers(store.state, 8080), green: servers(store.state, 8081, keep) } });
    });
    expect(r.errors).toEqual([]);
    expect(r.non2xx).toBe(0);
    expect(new Set(r.after)).toEqual(new Set(keep.map((n) => `200 green ${n}`)));
    const deadline = Date.now() + 15_000;
    while (isSameProcess(oldProc.pid, oldProc.startTime) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    expect(isSameProcess(oldProc.pid, oldProc.startTime)).toBe(false);
    pruneHaproxyProcesses(store);
    expect(store.state.haproxy!.processes).toHaveLength(1);
    expect(await haproxyRuntime(store.state.haproxy!).liveSlot()).toBe("green");
  });

  it("stops by PID and frees the port", async () => {
    const procs = store.state.haproxy!.processes;
    await stopHaproxy(store);
    expect(procs.every((p) => !isSameProcess(p.pid, p.startTime))).toBe(true);
    expect(store.state.haproxy).toBeUndefined();
    await expect(httpGet(url, 1_000)).rejects.toThrow(/ECONNREFUSED/);
  });
});
