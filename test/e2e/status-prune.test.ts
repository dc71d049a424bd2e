// e2e: `status` reads each host's container engine over the same pinned SSH connection that checks
// its host key, and `prune` removes from real local machines (the demo app, v1 then v2, one
// Debian 13 host per slot) what no slot uses while the live and rollback images stay (and `rollback`
// still works after it). Does not prove the aws driver (it has neither), Compose apps, or
// accessories' hosts (pruned by the same code; no accessory runs here).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoImage } from "../../drivers/local/demo-app";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { readMachineGroup } from "../../drivers/local/machine-group";
import { envStateFile } from "../../drivers/local/paths";
import type { EnvState } from "../../drivers/local/state";
import { demoEnvironmentText } from "../../model/environment-file";
import { parseEngineSize } from "../../model/engine-report";
import type { SlotName } from "../../rollout/driver";
import { freePort, httpGet, ssh, testPaths } from "./local-support";
import { runCli, slotGroups } from "./own-app-support";

const ENV = "e2eprune";
const paths = testPaths("ls-e2e-prune");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-prune-env-"));
const savedStateDir = process.env["LONGSHORE_LOCAL_STATE_DIR"];
let url = "";

/** What `docker image ls` shows: `repo:tag` per image, sorted. */
const IMAGES = "docker image ls --format '{{.Repository}}:{{.Tag}}' | sort";
const BUNDLES = "/var/lib/longshore/bundle";
const STORE = "/var/lib/longshore/blobs/sha256";
const FAKE_BUNDLE = "f".repeat(64);
const STRAY_BLOB = "e".repeat(64);

beforeAll(async () => {
  // The CLI runs in this process and finds its local state through the process's environment.
  process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
  const port = await freePort();
  url = `http://127.0.0.1:${port}/`;
  fs.writeFileSync(
    path.join(dir, "longshore.yaml"),
    demoEnvironmentText("longshore-demo:v1")
      .replace("name: demo", `name: ${ENV}`)
      .replaceAll("size: 2", "size: 1")
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`)
      .replace("soakSeconds: 10", "soakSeconds: 1")
      .replace("drainSeconds: 2", "drainSeconds: 1"),
  );
}, 60_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  for (const d of [dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  if (savedStateDir === undefined) delete process.env["LONGSHORE_LOCAL_STATE_DIR"];
  else process.env["LONGSHORE_LOCAL_STATE_DIR"] = savedStateDir;
}, 300_000);

/** The one machine of `slot`, and its group's state. */
function hostOf(slot: SlotName): { state: EnvState; name: string; address: string } {
  const group = slotGroups(paths, ENV).slots[slot]!.group!;
  const state = readMachineGroup(group, paths)!;
  const m = state.machines[0]!;
  return { state, name: m.name, address: m.address };
}

/** Runs `command` on the machine of `slot` (OpenSSH, pinned key); fails the test on a non-zero exit. */
async function on(slot: SlotName, command: string, stdin?: Buffer): Promise<string> {
  const h = hostOf(slot);
  const r = await ssh(h.state, h, command, stdin ? { stdin } : {});
  expect(r.code, `${command}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(dir, {}, argv);
}

describe("status and prune on local machines", () => {
  it("up puts v1 on blue; a rollout puts v2 on green and keeps v1 for rollback", async () => {
    const up = await cli("up");
    expect(up.code, up.stderr).toBe(0);
    const r = await cli("rollout", ":v2");
    expect(r.code, r.stderr).toBe(0);
    const s = slotGroups(paths, ENV);
    expect([s.live, s.slots["blue"]!.image, s.slots["green"]!.image]).toEqual(["green", "longshore-demo:v1", "longshore-demo:v2"]);
  });

  it("status --json: each host's engine is what docker info and docker system df report on it, read over its pinned connection", async () => {
    const r = await cli("status", "--json");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    for (const slot of ["blue", "green"] as const) {
      expect(doc.engines[slot]).toHaveLength(1);
      const e = doc.engines[slot][0];
      const info = JSON.parse(await on(slot, "docker info --format '{{json .}}'"));
      const df = (await on(slot, "docker system df --format '{{json .}}'"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, string>);
      expect(e.host).toBe(hostOf(slot).name);
      expect(e.hostKey.state).toBe("match");
      expect(doc.hostKeys[slot]).toEqual([{ host: e.host, ...e.hostKey }]);
      expect(e.hostImage).toBe(doc.slots[slot].hosts[0].hostImage);
      expect(e.hostImage).toMatch(/^[0-9a-f]{16}$/);
      expect(e.reason).toBeUndefined();
      expect(e.engine).toEqual({
        serverVersion: info.ServerVersion,
        storageDriver: info.Driver,
        cgroupDriver: info.CgroupDriver,
        ...(info.CgroupVersion ? { cgroupVersion: info.CgroupVersion } : {}),
        containers: info.Containers,
        containersRunning: info.ContainersRunning,
        images: info.Images,
      });
      expect(e.engine.serverVersion).toMatch(/^26\./);
      expect([e.engine.containersRunning, e.engine.images]).toEqual([1, 1]);
      expect(e.disk).toEqual(
        df.map((row) => ({
          type: row["Type"],
          totalCount: Number(row["TotalCount"]),
          active: Number(row["Active"]),
          size: row["Size"],
          sizeBytes: parseEngineSize(row["Size"]!),
          reclaimable: row["Reclaimable"],
          reclaimableBytes: parseEngineSize(row["Reclaimable"]!),
        })),
      );
      expect(e.disk.map((d: { type: string }) => d.type)).toEqual(["Images", "Containers", "Local Volumes", "Build Cache"]);
      expect(e.disk[0].sizeBytes).toBeGreaterThan(0);
    }
    const text = await cli("status");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ {6}engine 26\.\S+ \(overlay2, cgroup driver \w+\): 1 of 1 container running, 1 image$/m);
    expect(text.stdout).toMatch(/^ {6}disk: images \S+B .*, containers \S+B.*, local volumes 0B, build cache 0B$/m);
  });

  it("a host whose key no longer matches its pin is not asked: no engine fields, the reason instead", async () => {
    const group = slotGroups(paths, ENV).slots["blue"]!.group!;
    const file = envStateFile(paths, group);
    const original = fs.readFileSync(file, "utf8");
    const state = JSON.parse(original) as EnvState;
    // The pin the machine's targets carry, and no known_hosts file that would still accept its real key.
    state.machines[0]!.hostKey!.fingerprint = `SHA256:${"A".repeat(43)}`;
    delete state.knownHostsFile;
    fs.writeFileSync(file, JSON.stringify(state, null, 2));
    try {
      const r = await cli("status", "--json");
      expect(r.code, r.stderr).toBe(0);
      const [e] = JSON.parse(r.stdout).engines.blue;
      expect(e.hostKey.state).toBe("mismatch");
      expect(e.hostKey.detail).toContain(`pinned SHA256:${"A".repeat(43)}`);
      expect(e.reason).toBe("not asked: its SSH host key does not match its pin");
      expect([e.engine, e.disk]).toEqual([undefined, undefined]);
      expect(JSON.parse(r.stdout).engines.green[0].engine.serverVersion).toMatch(/^26\./);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it("prune --dry-run says what no slot uses and removes nothing", async () => {
    // On blue (the rollback slot): an image nothing uses, a stopped container of it, another
    // version of the app, an engine bundle that is not the installed one, a blob no image has.
    await on("blue", "tar -C /etc -cf - hostname os-release | docker import - e2eprune-junk:1 >/dev/null && docker create --name e2eprune-stopped e2eprune-junk:1 true >/dev/null");
    await on("blue", "docker load --quiet", demoImage("broken").archive);
    const current = (await on("blue", `ls ${BUNDLES}`)).trim();
    expect(current).toMatch(/^[0-9a-f]{64}$/);
    const installed = (await on("blue", "dpkg-query -W -f '${Version}' docker.io")).trim();
    await on(
      "blue",
      `mkdir -p ${BUNDLES}/${FAKE_BUNDLE}/debs && sed 's/${installed.replace(/\./g, "\\.")}/0.0.1-old/g' ${BUNDLES}/${current}/manifest.json > ${BUNDLES}/${FAKE_BUNDLE}/manifest.json && head -c 1000000 /dev/zero > ${BUNDLES}/${FAKE_BUNDLE}/debs/docker.io_0.0.1-old_amd64.deb`,
    );
    await on("blue", `head -c 500000 /dev/urandom > ${STORE}/${STRAY_BLOB}`);
    await on("green", "tar -C /etc -cf - hostname | docker import - e2eprune-junk:2 >/dev/null");
    const before = { blue: await on("blue", `${IMAGES}; docker ps -a -q | wc -l; ls ${BUNDLES} ${STORE} | sort`), green: await on("green", IMAGES) };
    expect((await on("blue", IMAGES)).trim().split("\n")).toEqual(["e2eprune-junk:1", "longshore-demo:broken", "longshore-demo:v1"]);

    const r = await cli("prune", "--dry-run", "--json");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect([doc.dryRun, doc.keep]).toEqual([true, 2]);
    const blue = doc.hosts.find((h: { role: string }) => h.role === "blue");
    const green = doc.hosts.find((h: { role: string }) => h.role === "green");
    expect(doc.hosts).toHaveLength(2);
    expect(blue.removed.images.map((i: { tags: string[] }) => i.tags)).toEqual([["e2eprune-junk:1"]]);
    expect(blue.removed.containers.map((c: { name: string }) => c.name)).toEqual(["e2eprune-stopped"]);
    expect(blue.removed.bundles.map((b: { id: string }) => b.id)).toEqual([FAKE_BUNDLE]);
    expect(blue.removed.blobs.map((b: { hex: string }) => b.hex)).toEqual([STRAY_BLOB]);
    expect(blue.kept.bundles).toEqual([{ id: current, why: `installed (docker.io ${installed})` }]);
    const keptWhy = Object.fromEntries(blue.kept.images.map((i: { tags: string[]; why: string }) => [i.tags.join(","), i.why]));
    expect(keptWhy["longshore-demo:v1"]).toBe("rollback (blue)");
    expect(keptWhy["longshore-demo:broken"]).toBe("one of the 2 newest versions of the app");
    expect(green.removed.images.map((i: { tags: string[] }) => i.tags)).toEqual([["e2eprune-junk:2"]]);
    expect(green.kept.images.map((i: { tags: string[]; why: string }) => [i.tags, i.why])).toEqual([[["longshore-demo:v2"], "live (green)"]]);
    expect(blue.freedBytes).toBeUndefined();
    // Nothing moved.
    expect({ blue: await on("blue", `${IMAGES}; docker ps -a -q | wc -l; ls ${BUNDLES} ${STORE} | sort`), green: await on("green", IMAGES) }).toEqual(before);
    const text = await cli("prune", "--dry-run");
    expect(text.stdout).toContain("would remove 1 container, 1 image, 1 bundle, 1 blob");
  });

  it("prune --keep 0 removes them and the older app version, keeps the live and rollback images, and measures what it freed; rollback still works", async () => {
    const r = await cli("prune", "--keep", "0", "--json");
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const blue = doc.hosts.find((h: { role: string }) => h.role === "blue");
    const green = doc.hosts.find((h: { role: string }) => h.role === "green");
    expect(blue.failed).toEqual([]);
    expect(blue.removed.images.map((i: { tags: string[] }) => i.tags).sort()).toEqual([["e2eprune-junk:1"], ["longshore-demo:broken"]]);
    expect(blue.removed.containers).toHaveLength(1);
    expect(blue.removed.bundles).toHaveLength(1);
    expect(blue.removed.blobs).toHaveLength(1);
    // At least the bundle's 1 MB file and the 500 kB blob, measured with du before and after.
    expect(blue.freedBytes).toBeGreaterThanOrEqual(1_500_000);
    expect(blue.freedBytes).toBe(blue.disk.before.engineBytes + blue.disk.before.filesBytes - blue.disk.after.engineBytes - blue.disk.after.filesBytes);
    expect(green.removed.images).toHaveLength(1);
    expect(green.freedBytes).toBeGreaterThanOrEqual(0);

    expect((await on("blue", IMAGES)).trim()).toBe("longshore-demo:v1");
    expect((await on("green", IMAGES)).trim()).toBe("longshore-demo:v2");
    expect((await on("blue", "docker ps -a --format '{{.State}}'")).trim()).toBe("running");
    expect((await on("blue", `ls ${BUNDLES}`)).trim().split("\n")).toHaveLength(1);
    const blobs = (await on("blue", `ls ${STORE}`)).trim().split("\n").filter((f) => /^[0-9a-f]{64}$/.test(f));
    expect(blobs).not.toContain(STRAY_BLOB);
    expect(blobs).toHaveLength(blue.kept.blobs);

    // A second prune finds nothing.
    const again = JSON.parse((await cli("prune", "--keep", "0", "--json")).stdout);
    for (const h of again.hosts) expect([h.removed.images, h.removed.containers, h.removed.bundles, h.removed.blobs]).toEqual([[], [], [], []]);

    // The rollback slot's image was kept: traffic goes back to v1.
    const back = await cli("rollback");
    expect(back.code, back.stderr).toBe(0);
    expect((await httpGet(url)).body).toContain("longshore demo v1");
  });
});
