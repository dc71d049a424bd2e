// e2e: layer-by-layer image delivery on real local machines: the test app's two images (built
// with the controller's own engine, v2 one small layer on v1's base) taken from that engine and
// from an archive, to 2 fresh hosts, with blob bytes counted by the transport; a re-provision that
// sends only v2's new blobs; nothing sent to a host that has the image; a corrupted blob refused by
// its digest; and `longshore rollout --from engine` through the real CLI.
// Does not prove: deliveries from the kept previous slot's hosts (not used as sources), more than
// two peers, or the aws driver (its hosts pull from a registry).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cachedHostImage, hostImageDirs } from "../../drivers/local/host-image";
import { destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { parseResolvedApp, type ResolvedApp } from "../../model/app";
import { parseLockFile } from "../../model/lock-file";
import type { BlobDeliveryReport } from "../../provisioner/layers/blob-delivery";
import { cachedBlobPath } from "../../provisioner/layers/blob-cache";
import { blobsOf, hexOf, imageBytes, type LayeredImage } from "../../provisioner/layers/layered-image";
import { layeredImageSource } from "../../provisioner/layers/layered-source";
import { provisionHosts, type ProvisionEvent } from "../../provisioner/provision-hosts";
import type { BundleRef, ImageSource } from "../../provisioner/steps/engine-context";
import { buildTestAppImages, startControllerEngine, TEST_APP_HEALTH_PATH, testAppRootBody, type ControllerEngine, type TestAppImages } from "../helpers/app-image";
import { freePort, httpGet, testPaths } from "./local-support";
import { runCli } from "./own-app-support";
import { containerIdentity, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const ENV = "e2e-layers";
const CLI_ENV = "e2elayerscli";
const paths = testPaths("ls-e2e-layers");
const blobCache = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-blobs-"));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-layers-env-"));
let bundle: BundleRef;
let images: TestAppImages;
let engine: ControllerEngine | undefined;
let state: EnvState | undefined;
const savedEnv = { ...process.env };

const app = (version: "1" | "2"): ResolvedApp =>
  parseResolvedApp({ name: "shop", image: `longshore-test-app:${version}`, port: 8080, health: { path: TEST_APP_HEALTH_PATH, intervalSeconds: 0.5 } });

/** Provisions `targets` (default: both machines) with `image`, and how each host got its blobs. */
async function deliver(image: ImageSource, version: "1" | "2", targets?: number[]) {
  const events: ProvisionEvent[] = [];
  const base = inputFor(state!, { engine: engineWith("3"), app: app(version), image, bundle, onEvent: (e) => void events.push(e) });
  const result = await provisionHosts({ ...base, targets: targets ? targets.map((i) => base.targets[i]!) : base.targets });
  const deliveries = events.flatMap((e) => (e.type === "image-delivered" ? [e.delivery] : []));
  // What each host said while fetching: shown when an assertion on the counts fails.
  const said = events.flatMap((e) => (e.type === "step-progress" || (e.type === "step-done" && e.error) ? [`${e.host}: ${JSON.stringify(e)}`] : [])).join("\n");
  return { result, deliveries, said };
}

const sum = (ds: BlobDeliveryReport[], key: keyof BlobDeliveryReport) => ds.reduce((s, d) => s + Number(d[key]), 0);

beforeAll(async () => {
  bundle = await engineBundle();
  images = await buildTestAppImages();
  engine = await startControllerEngine();
  for (const v of [images.v1, images.v2]) await engine.docker(["load", "-i", v.archive], { timeoutMs: 300_000 });
  state = (await upMachineGroup({ env: ENV, machines: 2, paths })).state;
}, 900_000);

/** The host image made by the engine-option test, removed after the run. */
let madeHostImage: string | undefined;

afterAll(async () => {
  await destroyLocalEnvironment(CLI_ENV, () => undefined, paths).catch((e: unknown) => console.error(e));
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  await engine?.stop().catch((e: unknown) => console.error(e));
  // The host image the engine-option test made (its machines are gone now): the next run makes it again.
  if (madeHostImage) fs.rmSync(hostImageDirs(paths, madeHostImage).root, { recursive: true, force: true });
  for (const d of [blobCache, dir, paths.stateRoot]) fs.rmSync(d, { recursive: true, force: true });
  process.env = savedEnv;
}, 300_000);

describe("layer-by-layer image delivery", () => {
  let v1: LayeredImage;
  let v2: LayeredImage;

  it("engine source, 2 fresh hosts: each blob leaves the controller once; the second host gets it from the first", async () => {
    const source = await layeredImageSource("engine", "longshore-test-app:1", { cacheDir: blobCache, dockerHost: engine!.host });
    v1 = source.layers;
    expect(v1.imageId).toBe(images.v1.imageId);
    const { result, deliveries, said } = await deliver(source, "1");
    expect(result.error?.message).toBeUndefined();
    expect(stepStatuses(result.report), said).toContain("image.fetch changed");
    expect(deliveries).toHaveLength(2);
    // Every blob once from the controller (to one host or the other), once from a peer.
    expect(sum(deliveries, "controllerBytes"), said).toBe(imageBytes(v1));
    expect(sum(deliveries, "fromController")).toBe(blobsOf(v1).length);
    expect(sum(deliveries, "fromPeers")).toBe(blobsOf(v1).length);
    expect(sum(deliveries, "peerBytes")).toBe(imageBytes(v1));
    expect(deliveries.every((d) => d.served && d.refused === 0)).toBe(true);
    // What crossed the link, counted by the transport: gzip -1 of each blob, once.
    expect(sum(deliveries, "wireBytes")).toBeGreaterThan(0);
    expect(sum(deliveries, "wireBytes")).toBeLessThanOrEqual(imageBytes(v1) * 1.1);
    for (const [i, m] of state!.machines.entries()) {
      const t = await openMachine(state!, i);
      try {
        expect((await containerIdentity(t, "shop-1"))?.image).toBe(v1.imageId);
        // The peer server is gone once the delivery is done.
        expect((await t.exec({ argv: ["systemctl", "is-active", "longshore-blobs"] })).stdout.trim()).not.toBe("active");
      } finally {
        await t.close();
      }
      expect((await httpGet(`http://${m.address}:8080/`)).body).toBe(testAppRootBody("1"));
    }
  });

  it("a re-provision to v2 sends only v2's new blobs; the hosts keep v1's", async () => {
    const source = await layeredImageSource("engine", "longshore-test-app:2", { cacheDir: blobCache, dockerHost: engine!.host });
    v2 = source.layers;
    const shared = new Set(blobsOf(v1).map((b) => b.digest));
    const fresh = blobsOf(v2).filter((b) => !shared.has(b.digest));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThan(blobsOf(v2).length);
    const { result, deliveries, said } = await deliver(source, "2");
    expect(result.error?.message).toBeUndefined();
    expect(sum(deliveries, "controllerBytes"), said).toBe(fresh.reduce((s, b) => s + b.size, 0));
    expect(sum(deliveries, "fromController")).toBe(fresh.length);
    expect(deliveries.map((d) => d.had)).toEqual([blobsOf(v2).length - fresh.length, blobsOf(v2).length - fresh.length]);
    for (const m of state!.machines) expect((await httpGet(`http://${m.address}:8080/`)).body).toBe(testAppRootBody("2"));
  });

  it("a host that has v2 gets 0 blob bytes, and nothing changes", async () => {
    const { result, deliveries } = await deliver(await layeredImageSource("engine", "longshore-test-app:2", { cacheDir: blobCache, dockerHost: engine!.host }), "2");
    expect(result.error?.message).toBeUndefined();
    expect(deliveries.map((d) => [d.present, d.controllerBytes, d.peerBytes])).toEqual([
      [true, 0, 0],
      [true, 0, 0],
    ]);
    expect(stepStatuses(result.report)).toEqual(expect.arrayContaining(["image.fetch unchanged", "image.layers unchanged", "app.run unchanged"]));
  });

  it("an image the engine does not have is a clear error naming it, before any host", async () => {
    await expect(layeredImageSource("engine", "longshore-test-app:nope", { cacheDir: blobCache, dockerHost: engine!.host })).rejects.toThrow(
      `the engine at ${engine!.socket} has no image longshore-test-app:nope`,
    );
  });

  it("archive source: a corrupted blob is refused by its digest on the host and nothing of it is kept; whole again, it is sent once", async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "ls-e2e-blobs-bad-"));
    try {
      // v1 under a new tag, saved to an archive; host 0 forgets v1 (v2 keeps the shared base layer in
      // its engine) and its whole blob store, so it must fetch v1's blobs again.
      await engine!.docker(["tag", "longshore-test-app:1", "longshore-test-app:corrupt"]);
      const archive = path.join(cache, "corrupt.tar");
      await engine!.docker(["save", "-o", archive, "longshore-test-app:corrupt"], { timeoutMs: 300_000 });
      const source = await layeredImageSource({ archive }, "longshore-test-app:corrupt", { cacheDir: cache });
      expect(source.imageId).toBe(v1.imageId);
      const t = await openMachine(state!, 0);
      try {
        const r = await t.exec({ argv: ["sh", "-c", `docker image rm -f ${v1.imageId} >/dev/null && rm -rf /var/lib/longshore/blobs/sha256`] });
        expect([r.exitCode, r.stderr]).toEqual([0, ""]);
      } finally {
        await t.close();
      }
      const top = source.layers.layers.at(-1)!;
      const file = cachedBlobPath(cache, top.digest);
      const original = fs.readFileSync(file);
      const damaged = Buffer.from(original);
      const mid = Math.floor(damaged.length / 2);
      damaged.writeUInt8(damaged.readUInt8(mid) ^ 0xff, mid);
      fs.writeFileSync(file, damaged);
      const bad = await deliver(source, "1", [0]);
      expect(bad.result.error?.message).toContain(`receive blob ${top.digest} from the controller`);
      expect(bad.result.error?.message).toContain("refused: the bytes hash to sha256:");
      const t2 = await openMachine(state!, 0);
      try {
        const ls = await t2.exec({ argv: ["sh", "-c", "ls -a /var/lib/longshore/blobs/sha256 /var/lib/longshore/blobs"] });
        expect(ls.stdout).not.toContain(hexOf(top.digest));
        expect(ls.stdout).not.toContain(".in-");
      } finally {
        await t2.close();
      }
      // The cache whole again: every blob of the image once from the controller, and it runs.
      fs.writeFileSync(file, original);
      const good = await deliver(source, "1", [0]);
      expect(good.result.error?.message).toBeUndefined();
      // The config blob arrived before the damaged layer was refused: it is kept (it was whole).
      expect(good.deliveries.map((d) => [d.present, d.had, d.controllerBytes, d.fromController])).toEqual([[false, 1, imageBytes(v1) - v1.config.size, blobsOf(v1).length - 1]]);
      expect((await httpGet(`http://${state!.machines[0]!.address}:8080/`)).body).toBe(testAppRootBody("1"));
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it("`longshore rollout :1 --from engine` puts the operator's own image on fresh hosts, each blob sent once", async () => {
    process.env["LONGSHORE_LOCAL_STATE_DIR"] = paths.stateRoot;
    const port = await freePort();
    fs.writeFileSync(
      path.join(dir, "longshore.yaml"),
      `name: ${CLI_ENV}
driver: local
app:
  name: shop
  image: longshore-test-app:1
  port: 8080
  health: { path: ${TEST_APP_HEALTH_PATH}, intervalSeconds: 0.5 }
slots:
  blue: { image: null, size: 2 }
  green: { image: null, size: 2 }
live: null
rollout: { healthDeadlineSeconds: 60, soakSeconds: 1, drainSeconds: 1 }
local: { listen: 127.0.0.1:${port} }
`,
    );
    const r = await runCli(dir, { DOCKER_HOST: engine!.host, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["rollout", ":1", "--from", "engine"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("image longshore-test-app:1: from engine, into the blob cache");
    // Each blob once from the controller (to one host or the other) and once from a peer.
    const lines = [...r.stderr.matchAll(/image\.fetch: 0 blobs present, (\d+) from peers \([\d.]+ MiB\), (\d+) from the controller/g)];
    expect(lines, r.stderr).toHaveLength(2);
    const peers = lines.reduce((n, m) => n + Number(m[1]), 0);
    const controller = lines.reduce((n, m) => n + Number(m[2]), 0);
    const one = (await layeredImageSource("engine", "longshore-test-app:1", { cacheDir: blobCache, dockerHost: engine!.host })).layers;
    expect([peers, controller]).toEqual([blobsOf(one).length, blobsOf(one).length]);
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toBe(testAppRootBody("1"));
    // The delivery is pinned beside the file: the image ID the hosts run, and the engine bundle.
    const lock = parseLockFile(fs.readFileSync(path.join(dir, "longshore.lock"), "utf8"));
    expect(lock.ok && lock.value.images).toEqual({ "longshore-test-app:1": one.imageId });
    expect(lock.ok && Object.keys(lock.value.engine)).toEqual(["amd64"]);
    // Booted from the host image, the fresh hosts' engine steps all find nothing to do (no bundle
    // byte is sent: engine.bundle is unchanged), on both hosts.
    const summaries = [...r.stderr.matchAll(/: ok in [\d.]+ s \(changed: ([^;]*); (\d+) unchanged\)/g)];
    expect(summaries, r.stderr).toHaveLength(2);
    for (const m of summaries) {
      expect(m[1]!.split(", ").filter((id) => id.startsWith("engine."))).toEqual([]);
      // engine.facts, bundle, install, configure, start, verify.
      expect(Number(m[2])).toBeGreaterThanOrEqual(6);
    }
    // The new hosts booted from the host image (local.hostImage, the default): status names it.
    const status = await runCli(dir, { LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["status", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    const live = JSON.parse(status.stdout) as { live: "blue" | "green"; slots: Record<string, { hosts: Array<{ hostImage?: string }> }> };
    expect(live.slots[live.live]!.hosts.map((x) => x.hostImage)).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/), expect.stringMatching(/^[0-9a-f]{16}$/)]);
    // The file keeps imageFrom as it was (default registry): --from is for this run only.
    expect(fs.readFileSync(path.join(dir, "longshore.yaml"), "utf8")).not.toContain("imageFrom");
  });

  it("`rollout :2 --from engine`: the live slot's hosts lend v1's layers, so only v2's new blobs leave the controller", async () => {
    const two = (await layeredImageSource("engine", "longshore-test-app:2", { cacheDir: blobCache, dockerHost: engine!.host })).layers;
    const one = (await layeredImageSource("engine", "longshore-test-app:1", { cacheDir: blobCache, dockerHost: engine!.host })).layers;
    const shared = new Set(blobsOf(one).map((b) => b.digest));
    const fresh = blobsOf(two).filter((b) => !shared.has(b.digest));
    const r = await runCli(dir, { DOCKER_HOST: engine!.host, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["rollout", ":2", "--from", "engine"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`lends ${blobsOf(two).length - fresh.length} of the image's ${blobsOf(two).length} blobs to the new hosts`));
    const lines = [...r.stderr.matchAll(/image\.fetch: 0 blobs present, (\d+) from peers \([\d.]+ MiB\), (\d+) from the controller/g)];
    expect(lines, r.stderr).toHaveLength(2);
    // Each new blob once from the controller; everything else from peers (the lenders or each other).
    expect(lines.reduce((n, m) => n + Number(m[2]), 0)).toBe(fresh.length);
    expect(lines.reduce((n, m) => n + Number(m[1]), 0)).toBe(2 * blobsOf(two).length - fresh.length);
    const port = /listen: 127\.0\.0\.1:(\d+)/.exec(fs.readFileSync(path.join(dir, "longshore.yaml"), "utf8"))![1];
    expect((await httpGet(`http://127.0.0.1:${port}/`)).body).toBe(testAppRootBody("2"));
  });

  it("another engine option: the next rollout makes one new host image and its hosts boot from it, engine steps unchanged", async () => {
    type Status = { live: "blue" | "green"; slots: Record<string, { hosts: Array<{ hostImage?: string }> }> };
    const statusOf = async () => JSON.parse((await runCli(dir, { LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["status", "--json"])).stdout) as Status;
    const before = await statusOf();
    const oldImage = before.slots[before.live]!.hosts[0]!.hostImage;
    const file = path.join(dir, "longshore.yaml");
    fs.writeFileSync(file, `${fs.readFileSync(file, "utf8")}engine: { daemon: { log-opts: { max-file: "5" } } }\n`);
    const r = await runCli(dir, { DOCKER_HOST: engine!.host, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["rollout", ":1", "--from", "engine"]);
    expect(r.code, r.stderr).toBe(0);
    madeHostImage = /host image ([0-9a-f]{16}): made in/.exec(r.stderr)?.[1];
    expect(r.stderr.match(/host image [0-9a-f]{16}: made in/g), r.stderr).toHaveLength(1);
    const summaries = [...r.stderr.matchAll(/: ok in [\d.]+ s \(changed: ([^;]*); (\d+) unchanged\)/g)];
    expect(summaries, r.stderr).toHaveLength(2);
    for (const m of summaries) expect(m[1]!.split(", ").filter((id) => id.startsWith("engine."))).toEqual([]);
    const after = await statusOf();
    const images = after.slots[after.live]!.hosts.map((h) => h.hostImage);
    expect(images).toHaveLength(2);
    expect(new Set(images).size).toBe(1);
    expect(images[0]).not.toBe(oldImage);
    // The new option came with the image: its daemon.json has it (and engine.configure and
    // engine.verify, unchanged above, found the running engine as configured).
    const made = cachedHostImage(paths, images[0]!);
    expect(made, `host image ${images[0]} in ${paths.cacheDir}`).not.toBeNull();
    expect(JSON.parse(fs.readFileSync(path.join(made!.layer, "etc/docker/daemon.json"), "utf8"))["log-opts"]).toMatchObject({ "max-file": "5" });
    // The next rollout with the same options makes none.
    const again = await runCli(dir, { DOCKER_HOST: engine!.host, LONGSHORE_LOCAL_STATE_DIR: paths.stateRoot }, ["rollout", ":2", "--from", "engine"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/host image [0-9a-f]{16}: made in/);
  });
});
