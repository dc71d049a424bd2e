// Unit: how resolveBundle follows longshore.lock: the decision table, the cached pinned bundle used with no
// apt run and no sources read, a pinned bundle rebuilt to another id refused, the first run pinning. Tiny
// real bundles on disk, a fake builder. Does not run apt (the e2e test/e2e/engine-lock.test.ts does).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { EMPTY_LOCK, readLockFile, withBundle, type BundlePin, type LockFile } from "../../model/lock-file";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";
import { bundleDirName, createManifest, renderManifest, type BundleManifest } from "../../provisioner/bundle/manifest";
import { bundlePinOf, decideBundle, findCachedBundle } from "../../provisioner/bundle/pin";
import { bundleLockOf, resolveBundle, type BundleDeps, type BundleLock, type BundleSource } from "../../provisioner/provision-inputs";
import { RECIPE } from "./fixtures/engine-context";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "ls-bundle-pin-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const SOURCE: BundleSource = { recipe: { name: "debian-bookworm-amd64", source: "debian", suite: "bookworm", arch: "amd64" } };

/** A real (tiny) bundle under `<cacheDir>/bundles`: .deb files with the given content, a manifest that verifies. */
function writeBundle(cacheDir: string, versions: Record<string, string>): { dir: string; manifest: BundleManifest } {
  const packages = Object.entries(versions).map(([name, version]) => {
    const body = Buffer.from(`${name} ${version}\n`);
    return { name, version, arch: "amd64", filename: `${name}_${version}_amd64.deb`, size: body.length, sha256: createHash("sha256").update(body).digest("hex"), body };
  });
  const manifest = createManifest(RECIPE, packages.map(({ body: _b, ...p }) => p), "longshore/test");
  const dir = path.join(cacheDir, "bundles", bundleDirName(manifest));
  fs.mkdirSync(path.join(dir, "debs"), { recursive: true });
  for (const p of packages) fs.writeFileSync(path.join(dir, "debs", p.filename), p.body);
  fs.writeFileSync(path.join(dir, "manifest.json"), renderManifest(manifest));
  return { dir, manifest };
}

const V1 = { "docker.io": "20.10.24-1", containerd: "1.6.20-1", runc: "1.1.5-1", tini: "0.19.0-1" };
const V2 = { ...V1, "docker.io": "20.10.25-1" };

/** A lock in memory whose records are kept. */
function memoryLock(lock: LockFile): BundleLock & { records: Array<[string, BundlePin]> } {
  const records: Array<[string, BundlePin]> = [];
  return { name: "longshore.lock", engine: lock.engine, records, record: async (arch, pin) => void records.push([arch, pin]) };
}

/** Deps whose builder "builds" `builds` (a bundle written to the cache) and counts calls, apt runs and sources reads. */
function deps(cacheDir: string, lock: BundleLock | undefined, build: () => { dir: string; manifest: BundleManifest }) {
  const calls = { build: [] as BuildBundleOptions[], reads: [] as string[], runs: [] as string[][] };
  const d: BundleDeps = {
    cacheDir,
    createdBy: "t",
    readFile: async (f) => (calls.reads.push(f), "Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"),
    run: async (argv) => (calls.runs.push([...argv]), ""),
    build: async (o) => {
      calls.build.push(o);
      return { ...build(), cached: false, aptDir: "/a", resolver: "apt", phases: {} };
    },
    ...(lock ? { lock } : {}),
  };
  return { d, calls };
}

describe("decideBundle", () => {
  const pin: BundlePin = { recipe: "debian-bookworm-amd64", id: "a".repeat(64), packages: { tini: "1" } };
  it.each([
    ["nothing pinned", undefined, false, { action: "build-and-pin" }],
    ["nothing pinned (a cache is irrelevant)", undefined, true, { action: "build-and-pin" }],
    ["pinned and cached", pin, true, { action: "use-cached", id: pin.id }],
    ["pinned, not cached", pin, false, { action: "build-and-compare", id: pin.id }],
    ["another recipe pinned", { ...pin, recipe: "debian-trixie-amd64" }, false, { action: "recipe-changed", pinned: "debian-trixie-amd64" }],
    ["another recipe pinned (cached or not)", { ...pin, recipe: "debian-trixie-amd64" }, true, { action: "recipe-changed", pinned: "debian-trixie-amd64" }],
  ] as const)("%s", (_what, p, cached, expected) => {
    expect(decideBundle("debian-bookworm-amd64", p, cached)).toEqual(expected);
  });

  it("bundlePinOf records the recipe, the id and each package's version", () => {
    const m = createManifest(RECIPE, [{ name: "tini", version: "0.19.0-1", arch: "amd64", filename: "t.deb", size: 1, sha256: "1".repeat(64) }, { name: "docker.io", version: "2", arch: "amd64", filename: "d.deb", size: 1, sha256: "2".repeat(64) }], "t");
    // createManifest refuses a bundle without its engine package; docker.io is there.
    expect(bundlePinOf("debian-bookworm-amd64", m)).toEqual({ recipe: "debian-bookworm-amd64", id: m.id, packages: { "docker.io": "2", tini: "0.19.0-1" } });
  });
});

describe("findCachedBundle", () => {
  it("finds the bundle with the id, verified; null for another id or a damaged copy", async () => {
    const cache = fs.mkdtempSync(path.join(root, "find-"));
    const b1 = writeBundle(cache, V1);
    const b2 = writeBundle(cache, V2);
    expect((await findCachedBundle(cache, b1.manifest.id))?.dir).toBe(b1.dir);
    expect((await findCachedBundle(cache, b2.manifest.id))?.dir).toBe(b2.dir);
    expect(await findCachedBundle(cache, "c".repeat(64))).toBeNull();
    expect(await findCachedBundle(path.join(cache, "nothing"), b1.manifest.id)).toBeNull();
    fs.appendFileSync(path.join(b1.dir, "debs", fs.readdirSync(path.join(b1.dir, "debs"))[0]!), "x");
    expect(await findCachedBundle(cache, b1.manifest.id)).toBeNull();
  });
});

describe("resolveBundle with a lock", () => {
  it("pinned and cached: the cached bundle, with no build, no apt run and the controller's sources never read", async () => {
    const cache = fs.mkdtempSync(path.join(root, "cached-"));
    const b1 = writeBundle(cache, V1);
    writeBundle(cache, V2); // newer, also cached: the pin wins
    const lock = memoryLock(withBundle(EMPTY_LOCK, "amd64", bundlePinOf("debian-bookworm-amd64", b1.manifest)));
    const logs: string[] = [];
    const { d, calls } = deps(cache, lock, () => {
      throw new Error("must not build");
    });
    const ref = await resolveBundle(SOURCE, { ...d, log: (l) => logs.push(l) });
    expect(ref.dir).toBe(b1.dir);
    expect(ref.manifest.id).toBe(b1.manifest.id);
    expect(calls).toEqual({ build: [], reads: [], runs: [] });
    expect(lock.records).toEqual([]);
    expect(logs).toEqual([`bundle   debian-bookworm-amd64 pinned by longshore.lock (${b1.manifest.id.slice(0, 12)}), from the cache: no apt-get`]);
  });

  it("nothing pinned: builds as without a lock, then pins the result (the first run pins)", async () => {
    const cache = fs.mkdtempSync(path.join(root, "first-"));
    const lock = memoryLock(EMPTY_LOCK);
    const { d, calls } = deps(cache, lock, () => writeBundle(cache, V1));
    const ref = await resolveBundle(SOURCE, d);
    expect(calls.build).toHaveLength(1);
    expect(calls.reads).toEqual(["/etc/apt/sources.list.d/debian.sources"]);
    expect(lock.records).toEqual([["amd64", { recipe: "debian-bookworm-amd64", id: ref.manifest.id, packages: V1 }]]);
  });

  it("no lock at all (the Pulumi provider): builds and records nothing", async () => {
    const cache = fs.mkdtempSync(path.join(root, "nolock-"));
    const { d, calls } = deps(cache, undefined, () => writeBundle(cache, V1));
    await resolveBundle(SOURCE, d);
    expect(calls.build).toHaveLength(1);
  });

  it("pinned, not cached, and the archive gives the same bundle: built, used, nothing recorded", async () => {
    const elsewhere = fs.mkdtempSync(path.join(root, "elsewhere-"));
    const pin = bundlePinOf("debian-bookworm-amd64", writeBundle(elsewhere, V1).manifest);
    const cache = fs.mkdtempSync(path.join(root, "rebuild-"));
    const lock = memoryLock(withBundle(EMPTY_LOCK, "amd64", pin));
    const { d, calls } = deps(cache, lock, () => writeBundle(cache, V1));
    const ref = await resolveBundle(SOURCE, d);
    expect(ref.manifest.id).toBe(pin.id);
    expect(calls.build).toHaveLength(1);
    expect(lock.records).toEqual([]);
  });

  it("pinned, not cached, and the archive moved on: refused, naming both ids, the package changes and engine update", async () => {
    const elsewhere = fs.mkdtempSync(path.join(root, "moved-"));
    const pin = bundlePinOf("debian-bookworm-amd64", writeBundle(elsewhere, V1).manifest);
    const cache = fs.mkdtempSync(path.join(root, "moved-cache-"));
    const lock = memoryLock(withBundle(EMPTY_LOCK, "amd64", pin));
    let built = "";
    const { d } = deps(cache, lock, () => {
      const b = writeBundle(cache, V2);
      built = b.manifest.id;
      return b;
    });
    const err = (await resolveBundle(SOURCE, d).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues).toEqual([
      {
        path: "longshore.lock: engine.amd64.id",
        message: `pins bundle ${pin.id}, which is not in the cache, and debian-bookworm-amd64 now resolves to ${built} (docker.io 20.10.24-1 -> 20.10.25-1)`,
      },
    ]);
    expect(err.suggestion).toBe("Run `longshore engine update` to pin what the archive has now (review the package changes it prints), or restore the pinned bundle into the cache.");
    expect(lock.records).toEqual([]);
  });

  it("another recipe pinned for the architecture: refused before anything is built", async () => {
    const cache = fs.mkdtempSync(path.join(root, "changed-"));
    const lock = memoryLock(withBundle(EMPTY_LOCK, "amd64", { recipe: "debian-trixie-amd64", id: "a".repeat(64), packages: { tini: "1" } }));
    const { d, calls } = deps(cache, lock, () => writeBundle(cache, V1));
    const err = (await resolveBundle(SOURCE, d).catch((e: unknown) => e)) as ConfigError;
    expect(err.message).toBe("longshore.lock is invalid (1 problem):\n  longshore.lock: engine.amd64.recipe: pins debian-trixie-amd64, but engine.bundle now asks for debian-bookworm-amd64");
    expect(err.suggestion).toBe("Run `longshore engine update` to resolve the new recipe and pin it (review the package changes it prints).");
    expect(calls.build).toEqual([]);
  });

  it("bundleLockOf writes a first pin into the file beside the environment", async () => {
    const cache = fs.mkdtempSync(path.join(root, "file-"));
    const envDir = fs.mkdtempSync(path.join(root, "env-"));
    const file = path.join(envDir, "longshore.lock");
    const { d } = deps(cache, bundleLockOf(await readLockFile(file)), () => writeBundle(cache, V1));
    const ref = await resolveBundle(SOURCE, d);
    expect((await readLockFile(file)).lock.engine).toEqual({ amd64: { recipe: "debian-bookworm-amd64", id: ref.manifest.id, packages: V1 } });
  });
});
