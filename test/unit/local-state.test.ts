// Does not prove: that down really removes what the state lists (test/e2e/local-machines.test.ts does).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { loadEnvState, newEnvState, StateStore } from "../../drivers/local/state";

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "ls-state-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function fresh(dir: string) {
  return newEnvState({ env: "t", stateDir: dir, sharedDir: "/s", bridge: "longshore0", subnet: "10.213.47.0/24", gateway: "10.213.47.1", now: new Date(0) });
}

describe("StateStore", () => {
  it("persists every update before returning, atomically and 0600", () => {
    const dir = tmp();
    const file = path.join(dir, "state.json");
    let tick = 0;
    const store = new StateStore(file, fresh(dir), () => new Date(++tick * 1000));
    store.update((s) => s);
    expect(loadEnvState(file)).toEqual({ ...fresh(dir), updatedAt: "1970-01-01T00:00:01.000Z" });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // No temporary files are left next to the state.
    expect(fs.readdirSync(dir)).toEqual(["state.json"]);
  });

  it("walks a machine through intent -> prepared -> running, each step readable from disk", () => {
    const dir = tmp();
    const file = path.join(dir, "state.json");
    const store = new StateStore(file, fresh(dir));
    const m = {
      name: "t-1", nspawnName: "ls-47-10", address: "10.213.47.10", phase: "intent" as const, dir: "/d", rootDir: "/d/root",
      upperDir: "/d/upper", workDir: "/d/work", dockerDir: "/d/docker", logFile: "/d/console.log", overlayMounted: false,
      binds: ["/d/docker:/var/lib/docker"], cgroups: ["/sys/fs/cgroup/pids/longshore/t/ls-47-10"], veth: "vb-ls-47-10",
    };
    store.update((s) => ({ ...s, machines: [m] }));
    expect(loadEnvState(file)!.machines[0]!.phase).toBe("intent");
    store.updateMachine("t-1", (x) => ({ ...x, phase: "prepared", overlayMounted: true, hostKey: { publicKey: "ssh-ed25519 AAAA", fingerprint: "SHA256:x" } }));
    store.updateMachine("t-1", (x) => ({ ...x, phase: "running", pid: 1234, pidStartTime: "99" }));
    const onDisk = loadEnvState(file)!.machines[0]!;
    expect([onDisk.phase, onDisk.pid, onDisk.pidStartTime, onDisk.overlayMounted]).toEqual(["running", 1234, "99", true]);
    store.remove();
    expect(loadEnvState(file)).toBeUndefined();
  });

  it("refuses a damaged state file with the path of every problem", () => {
    const dir = tmp();
    const file = path.join(dir, "state.json");
    fs.writeFileSync(file, JSON.stringify({ ...fresh(dir), phase: "flying", machines: [{ name: 1 }] }));
    try {
      loadEnvState(file);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const paths = (e as ConfigError).issues.map((i) => i.path);
      expect(paths).toContain("phase");
      expect(paths).toContain("machines.0.name");
      expect(paths).toContain("machines.0.address");
    }
  });
});
