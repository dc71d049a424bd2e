// Does not prove: the container engine inside the machines (provision-*.test.ts does).
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { HostKeyError, TransportError } from "../../core/errors";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { downMachineGroup, machineGroupSshTargets, machineStatuses, readMachineGroup, upMachineGroup, type UpResult } from "../../drivers/local/machine-group";
import { loadSharedState } from "../../drivers/local/shared-state";
import { ensureKeyPair, knownHostsLine } from "../../drivers/local/ssh-keys";
import type { EnvState } from "../../drivers/local/state";
import { leftovers, ssh, testPaths } from "./local-support";

const paths = testPaths("ls-e2e-machines");
const ENV = "e2e-machines";
let up: UpResult;
let state: EnvState;

beforeAll(async () => {
  up = await upMachineGroup({ env: ENV, machines: 3, paths, progress: (l) => process.stderr.write(`  ${l}\n`) });
  state = up.state;
});

afterAll(async () => {
  // Whatever happened above, leave nothing behind.
  for (const env of [ENV, "e2e-failing", "e2e-crashed"]) await downMachineGroup({ env, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

describe("local machines", () => {
  it("brings up 3 running machines with distinct addresses and host keys, listed in the inventory", () => {
    const statuses = machineStatuses(state);
    expect(statuses.map((m) => [m.name, m.state])).toEqual([
      ["e2e-machines-1", "running"],
      ["e2e-machines-2", "running"],
      ["e2e-machines-3", "running"],
    ]);
    expect(new Set(statuses.map((m) => m.address)).size).toBe(3);
    expect(new Set(statuses.map((m) => m.hostKey)).size).toBe(3);
    const inventory = parse(fs.readFileSync(up.inventoryFile, "utf8")) as { hosts: Record<string, Record<string, unknown>> };
    expect(Object.keys(inventory.hosts)).toEqual(statuses.map((m) => m.name));
    for (const m of state.machines) {
      expect(inventory.hosts[m.name]).toEqual({ address: m.address, port: 22, user: "root", identity: state.clientKey!.privatePath, hostKey: m.hostKey!.fingerprint });
    }
    expect(fs.statSync(state.clientKey!.privatePath).mode & 0o777).toBe(0o600);
    const targets = machineGroupSshTargets(ENV, paths);
    expect(targets.map((t) => [t.name, t.address, t.user, t.hostKey.fingerprints])).toEqual(
      state.machines.map((m) => [m.name, m.address, "root", [m.hostKey!.fingerprint]]),
    );
    expect(targets.every((t) => t.auth.privateKeyFile === state.clientKey!.privatePath && t.hostKey.knownHostsFile === up.knownHostsFile)).toBe(true);
  });

  it("reaches every machine over SSH on the first connection with the pinned host key", async () => {
    for (const m of state.machines) {
      const r = await ssh(state, m, "hostname; cat /etc/machine-id; ip -4 -o addr show dev host0");
      expect(r.code, r.stderr).toBe(0);
      const [hostname, machineId, addr] = r.stdout.trim().split("\n");
      expect(hostname).toBe(m.name);
      expect(machineId).toMatch(/^[0-9a-f]{32}$/);
      expect(addr).toContain(`inet ${m.address}/24`);
      // The key the machine presents is the one longshore generated and pinned.
      const scanned = execFileSync("ssh-keyscan", ["-t", "ed25519", m.address], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      const fp = execFileSync("ssh-keygen", ["-lf", "-"], { input: scanned, encoding: "utf8" }).split(" ")[1];
      expect(fp).toBe(m.hostKey!.fingerprint);
    }
    const ids = await Promise.all(state.machines.map(async (m) => (await ssh(state, m, "cat /etc/machine-id")).stdout.trim()));
    expect(new Set(ids).size).toBe(3);
  });

  it("the provisioner's ssh2 transport reaches every machine with the pinned key and refuses a swapped pin", async () => {
    const targets = machineGroupSshTargets(ENV, paths);
    for (const t of targets) {
      // Pin only: the first connection is verified against the generated key, nothing else.
      const transport = await connectSsh({ ...t, hostKey: { fingerprints: t.hostKey.fingerprints! } }, { connectDeadlineMs: 10_000 });
      try {
        const r = await transport.exec({ argv: ["hostname"] });
        expect([r.exitCode, r.stdout.trim()]).toEqual([0, t.name]);
      } finally {
        await transport.close();
      }
    }
    // Machine 1's pin used for machine 2: refused, naming both fingerprints, never retried.
    const [a, b] = targets;
    const err = await connectSsh({ ...b!, hostKey: { fingerprints: a!.hostKey.fingerprints! } }, { connectDeadlineMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).message).toBe(
      `${b!.name}: host key verification failed: expected ${a!.hostKey.fingerprints![0]}, presented ${b!.hostKey.fingerprints![0]}`,
    );
  });

  it("refuses a machine whose key does not match the pin, and refuses passwords", async () => {
    const m = state.machines[0]!;
    const other = await ensureKeyPair(path.join(state.stateDir, "impostor_key"), "impostor");
    const wrong = path.join(state.stateDir, "wrong_known_hosts");
    fs.writeFileSync(wrong, `${knownHostsLine(m.address, 22, other.publicKey)}\n`);
    const refused = await ssh(state, m, "true", { knownHostsFile: wrong, extra: ["-o", "LogLevel=ERROR"] });
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    const empty = path.join(state.stateDir, "empty_known_hosts");
    fs.writeFileSync(empty, "");
    const unknown = await ssh(state, m, "true", { knownHostsFile: empty });
    expect(unknown.code).toBe(255);
    expect(unknown.stderr).toContain("Host key verification failed");
    const password = await ssh(state, m, "true", { extra: ["-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no"] });
    expect(password.code).toBe(255);
    expect(password.stderr).toContain("Permission denied (publickey)");
  });

  it("lets machines reach each other on the bridge", async () => {
    const [a, b, c] = state.machines;
    const probe = (ip: string) => `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/22; head -c 8 <&3'`;
    const r = await ssh(state, a!, `${probe(b!.address)}; echo; ${probe(c!.address)}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["SSH-2.0-", "SSH-2.0-"]);
  });

  it("re-running up keeps the running machines as they are", async () => {
    const again = await upMachineGroup({ env: ENV, machines: 3, paths, skipPreconditions: true });
    expect(again.state.machines.map((m) => [m.pid, m.pidStartTime, m.hostKey!.fingerprint])).toEqual(
      state.machines.map((m) => [m.pid, m.pidStartTime, m.hostKey!.fingerprint]),
    );
  });

  it("re-running up boots a killed machine again with the same identity, still verified by the pin", async () => {
    const victim = state.machines[2]!;
    const idBefore = (await ssh(state, victim, "cat /etc/machine-id")).stdout.trim();
    process.kill(victim.pid!, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (leftovers({ ...state, machines: [victim] }).processes.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(machineStatuses(readMachineGroup(ENV, paths)!).map((m) => m.state)).toEqual(["running", "running", "stopped"]);
    const again = await upMachineGroup({ env: ENV, machines: 3, paths, skipPreconditions: true });
    const revived = again.state.machines[2]!;
    expect(revived.pid).not.toBe(victim.pid);
    expect(revived.hostKey).toEqual(victim.hostKey);
    expect(again.state.machines.slice(0, 2).map((m) => m.pid)).toEqual(state.machines.slice(0, 2).map((m) => m.pid));
    state = again.state;
    const after = await ssh(state, revived, "cat /etc/machine-id");
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout.trim()).toBe(idBefore);
  });

  it("removes what a failed up created (sshd deadline missed), leaving the running environment alone", async () => {
    const failing = await upMachineGroup({ env: "e2e-failing", machines: 2, paths, bootTimeoutMs: 1, skipPreconditions: true }).catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(TransportError);
    expect(readMachineGroup("e2e-failing", paths)).toBeUndefined();
    expect(fs.existsSync(path.join(paths.stateRoot, "e2e-failing"))).toBe(false);
    const shared = loadSharedState(paths);
    expect(Object.values(shared.allocations).filter((o) => o.user.includes("e2e-failing"))).toEqual([]);
    // The other environment's machines still answer.
    expect((await ssh(state, state.machines[1]!, "true")).code).toBe(0);
  });

  it("down removes everything an up left behind when it was killed half-way", async () => {
    // Run `local up` in a separate process and SIGKILL it as soon as a machine is booting.
    const bundle = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ls-bundle-")), "local.js");
    execFileSync(path.resolve("node_modules/.bin/rolldown"), ["cli/local.ts", "--format", "cjs", "--platform", "node", "--file", bundle], { stdio: "ignore" });
    const child = spawn(process.execPath, [bundle, "local", "up", "--env", "e2e-crashed", "--machines", "2"], {
      env: { ...process.env, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot, LONGSHORE_CACHE_DIR: paths.cacheDir, LONGSHORE_LIB_DIR: paths.libDir, LONGSHORE_LOCAL_SHARED_DIR: paths.sharedDir },
      stdio: "ignore",
    });
    const stateFile = path.join(paths.stateRoot, "e2e-crashed", "state.json");
    const deadline = Date.now() + 120_000;
    let crashed: EnvState | undefined;
    while (Date.now() < deadline) {
      crashed = fs.existsSync(stateFile) ? readMachineGroup("e2e-crashed", paths) : undefined;
      if (crashed?.machines.some((m) => m.pid)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    crashed = readMachineGroup("e2e-crashed", paths)!;
    expect(crashed.phase).toBe("creating");
    const booted = crashed.machines.filter((m) => m.pid);
    expect(booted.length).toBeGreaterThan(0);
    expect(leftovers(crashed).processes.length).toBeGreaterThan(0);

    const result = await downMachineGroup({ env: "e2e-crashed", paths });
    expect(result).toEqual({ removed: true, machines: crashed.machines.length });
    expect(leftovers(crashed)).toEqual({ mounts: [], links: [], firewall: [], cgroups: [], processes: [] });
    expect(fs.existsSync(path.dirname(stateFile))).toBe(false);
    fs.rmSync(path.dirname(bundle), { recursive: true, force: true });
  });

  it("down leaves no process, mount, cgroup, link or firewall rule behind, and frees the addresses", async () => {
    const before = leftovers(state);
    expect(before.processes).toHaveLength(3);
    expect(before.mounts).toHaveLength(3);
    expect(before.links).toHaveLength(3);
    expect(before.firewall).toHaveLength(1);
    expect(before.cgroups.length).toBeGreaterThanOrEqual(3 * 2);

    const bridgeOurs = loadSharedState(paths).bridge?.createdByLongshore ?? false;
    const result = await downMachineGroup({ env: ENV, paths });
    expect(result).toEqual({ removed: true, machines: 3 });
    expect(leftovers(state)).toEqual({ mounts: [], links: [], firewall: [], cgroups: [], processes: [] });
    expect(fs.existsSync(state.stateDir)).toBe(false);
    const shared = loadSharedState(paths);
    expect(Object.keys(shared.users).filter((u) => u.startsWith(paths.stateRoot))).toEqual([]);
    expect(Object.values(shared.allocations).filter((o) => o.user.startsWith(paths.stateRoot))).toEqual([]);
    // The bridge longshore created goes with the last environment (another may still use it).
    const bridgeExists = fs.existsSync(`/sys/class/net/${state.bridge}`);
    expect(bridgeExists).toBe(Object.keys(shared.users).length > 0 || !bridgeOurs);
    // A second down is a no-op.
    expect(await downMachineGroup({ env: ENV, paths })).toEqual({ removed: false, machines: 0 });
  });
});
