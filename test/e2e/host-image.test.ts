// e2e: host images on real local machines: one made from the engine bundle and options (then
// cached), machines booted from it with the engine ready (every engine step unchanged, no bundle
// byte sent, `docker info` as the options say), each with its own host key and machine-id; another
// engine option makes another image, once. Does not prove the aws HostImage (mocks only) or a
// rollout's timings (bench/).
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachedHostImage, ensureHostImage, type HostImage } from "../../drivers/local/host-image";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { cacheArchive } from "../../provisioner/layers/blob-cache";
import { provisionHosts } from "../../provisioner/provision-hosts";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import { testPaths } from "./local-support";
import { demoApp, demoSource, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const ENV = "e2e-hostimg";
const paths = testPaths("ls-e2e-hostimg");
// Host images are cached under the cache directory: this test makes its own in a private one (the
// extracted template lives in the shared lib directory).
const cachePaths = { ...paths, cacheDir: fs.mkdtempSync("/tmp/ls-e2e-hostimg-cache-") };
let bundle: BundleRef;
let image: HostImage;
let state: EnvState | undefined;

beforeAll(async () => {
  bundle = await engineBundle();
}, 600_000);

afterAll(async () => {
  if (state) await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(cachePaths.cacheDir, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
}, 300_000);

describe("host images", () => {
  it("is made once from the bundle and the engine options, then found in the cache", async () => {
    const lines: string[] = [];
    image = await ensureHostImage({ paths: cachePaths, engine: engineWith("3"), bundle, progress: (l) => lines.push(l) });
    expect(lines.some((l) => l.includes(`host image ${image.id}: made in`)), lines.join("\n")).toBe(true);
    expect(cachedHostImage(cachePaths, image.id)).toEqual(image);
    // The build machine's identity is not in the layer; an empty machine-id makes each machine its own.
    expect(fs.existsSync(`${image.layer}/etc/ssh/ssh_host_ed25519_key`)).toBe(false);
    expect(fs.readFileSync(`${image.layer}/etc/machine-id`, "utf8")).toBe("");
    expect(fs.existsSync(`${image.layer}/usr/sbin/dockerd`)).toBe(true);
    const again: string[] = [];
    expect(await ensureHostImage({ paths: cachePaths, engine: engineWith("3"), bundle, progress: (l) => again.push(l) })).toEqual(image);
    expect(again.filter((l) => l.includes("host image"))).toEqual([]);
  });

  it("machines booted from it have the engine ready: every engine step unchanged, no bundle byte sent, their own host keys and machine-ids", async () => {
    state = (await upMachineGroup({ env: ENV, machines: 2, paths, hostImage: image })).state;
    const layers = await cacheArchive(cachePaths.cacheDir, demoSource("v1", paths).localPath);
    const result = await provisionHosts(
      inputFor(state, { engine: engineWith("3"), app: demoApp("v1"), image: { source: "layers", layers, cacheDir: cachePaths.cacheDir, imageId: layers.imageId }, bundle }),
    );
    expect(result.error?.message).toBeUndefined();
    for (const i of [0, 1]) {
      const steps = stepStatuses(result.report, i);
      expect(steps.filter((s) => s.startsWith("engine."))).toEqual([
        "engine.facts unchanged",
        "engine.bundle unchanged",
        "engine.install unchanged",
        "engine.configure unchanged",
        "engine.start unchanged",
        "engine.verify unchanged",
      ]);
      // Nothing of the engine was sent: only the app's own env file.
      expect(result.report.hosts[i]!.steps.filter((s) => s.id.startsWith("engine.")).flatMap((s) => s.uploaded)).toEqual([]);
      expect(result.report.hosts[i]!.steps.flatMap((s) => s.uploaded.map((u) => u.path))).toEqual(["/etc/longshore/apps/demo/demo-v1.env"]);
    }
    const ids: string[] = [];
    for (const i of [0, 1]) {
      const t = await openMachine(state, i);
      try {
        const info = await t.exec({ argv: ["docker", "info", "--format", "{{.LoggingDriver}} {{.Driver}} {{.LiveRestoreEnabled}}"] });
        expect(info.stdout.trim()).toBe("json-file overlay2 true");
        const opts = await t.exec({ argv: ["cat", "/etc/docker/daemon.json"] });
        expect(JSON.parse(opts.stdout)["log-opts"]).toEqual({ "max-size": "10m", "max-file": "3" });
        ids.push((await t.exec({ argv: ["cat", "/etc/machine-id"] })).stdout.trim());
        // The daemon that booted with the machine recorded what it reports (ExecStartPost), under
        // its own PID: engine.verify read that instead of asking it.
        const pid = (await t.exec({ argv: ["systemctl", "show", "-p", "MainPID", "--value", "docker.service"] })).stdout.trim();
        const facts = (await t.exec({ argv: ["cat", "/var/lib/longshore/engine/running-facts"] })).stdout.split("\n");
        expect(facts[0]).toBe(`pid ${pid}`);
        expect(facts.slice(1, 6)).toEqual([expect.stringMatching(/^20\.10\./), "overlay2", "cgroupfs", "true", "json-file"]);
      } finally {
        await t.close();
      }
    }
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(state.machines[0]!.hostKey!.fingerprint).not.toBe(state.machines[1]!.hostKey!.fingerprint);
  });

  it("another engine option makes another host image, once", async () => {
    const lines: string[] = [];
    const other = await ensureHostImage({ paths: cachePaths, engine: engineWith("4"), bundle, progress: (l) => lines.push(l) });
    expect(other.id).not.toBe(image.id);
    expect(lines.some((l) => l.includes(`host image ${other.id}: made in`))).toBe(true);
    expect(await ensureHostImage({ paths: cachePaths, engine: engineWith("4"), bundle })).toEqual(other);
  });
});
