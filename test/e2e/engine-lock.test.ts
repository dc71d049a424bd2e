// e2e: deliveries pinned by longshore.lock. With the bundle pinned and cached, and the controller's apt
// sources (injected) pointing at a closed port on 127.0.0.1: resolveBundle and a whole `up` on real local
// machines (the local driver's provisioner, real engine install, HAProxy) succeed without running apt-get
// or reading the sources; the same sources with nothing pinned make apt-get fail, so the injection is real.
// Then `longshore engine update` against the real Debian archive writes a new lock. Does not prove the
// Pulumi provider's path (it keeps no lock), nor image pins (recordImage is the rollout's to call).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main, realDeps } from "../../cli/main";
import { CommandFailedError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import { localGroupProvisioner } from "../../drivers/local/group-provisioner";
import { createLocalDriver, destroyLocalEnvironment } from "../../drivers/local/local-driver";
import { demoEnvironmentText, loadEnvironment } from "../../model/environment-file";
import { parseLockFile, readLockFile, recordBundle, recordImage } from "../../model/lock-file";
import { spawnRun, type RunFn } from "../../provisioner/bundle/build";
import { bundlePinOf } from "../../provisioner/bundle/pin";
import { verifyBundle, type VerifiedBundle } from "../../provisioner/bundle/verify";
import { bundleLockOf, resolveBundle, type BundleSource } from "../../provisioner/provision-inputs";
import { environmentFiles, runUp } from "../../rollout/operations";
import { Sink } from "../helpers/cli-harness";
import { freePort, httpGet, testPaths } from "./local-support";

const ENV = "e2elock";
const SOURCE: BundleSource = { recipe: { name: "debian-bookworm-amd64", source: "debian", suite: "bookworm", arch: "amd64" } };
const REAL_CACHE = "/var/cache/longshore";
const paths = testPaths("e2e-lock");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-lock-"));
const envDir = path.join(tmp, "env");
const envFile = path.join(envDir, "longshore.yaml");
const lockFile = path.join(envDir, "longshore.lock");

/** Every program the build was asked to run, and every file read as the controller's apt sources. */
const runs: string[][] = [];
const reads: string[] = [];
const spyRun: RunFn = (argv, o) => (runs.push([...argv]), spawnRun(argv, o));
let closedSources = "";
const closedReader = async (f: string) => (reads.push(f), closedSources);

let cached: VerifiedBundle;

/** The bundle the machine's cache already has for bookworm amd64 (built by earlier runs or `engine bundle`). */
async function cachedBookwormBundle(cacheDir: string): Promise<VerifiedBundle> {
  const dir = path.join(cacheDir, "bundles");
  for (const e of fs.readdirSync(dir).filter((d) => d.startsWith("engine-debian-bookworm-amd64-")).sort().reverse()) {
    try {
      return await verifyBundle(path.join(dir, e));
    } catch {
      // damaged: try the next
    }
  }
  throw new Error(`no bookworm amd64 bundle in ${dir}: run \`longshore engine bundle\` once first`);
}

/** A private cache with `bundle` in it: the .deb files hard-linked (read only here), the manifest copied. */
function cacheWith(bundle: VerifiedBundle, dir: string): void {
  const to = path.join(dir, "bundles", path.basename(bundle.dir));
  fs.mkdirSync(path.join(to, "debs"), { recursive: true });
  fs.copyFileSync(path.join(bundle.dir, "manifest.json"), path.join(to, "manifest.json"));
  for (const f of fs.readdirSync(path.join(bundle.dir, "debs"))) fs.linkSync(path.join(bundle.dir, "debs", f), path.join(to, "debs", f));
}

beforeAll(async () => {
  const closed = await freePort();
  closedSources = `Types: deb\nURIs: http://127.0.0.1:${closed}/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
  cached = await cachedBookwormBundle(REAL_CACHE);
  fs.mkdirSync(envDir, { recursive: true });
  const port = await freePort();
  fs.writeFileSync(
    envFile,
    demoEnvironmentText("longshore-demo:v1")
      // This test pins bookworm's bundle (the one the cache has); the demo defaults to Debian 13.
      .replace("os: debian-13", "os: debian-12")
      .replace("name: demo", `name: ${ENV}`)
      .replace("listen: 127.0.0.1:8080", `listen: 127.0.0.1:${port}`)
      .replace("soakSeconds: 10", "soakSeconds: 1")
      .replace("drainSeconds: 2", "drainSeconds: 1")
      .replace("size: 2", "size: 1")
      .replace("size: 2", "size: 1"),
  );
}, 120_000);

afterAll(async () => {
  await destroyLocalEnvironment(ENV, () => undefined, paths);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
}, 300_000);

describe("a pinned bundle needs no archive", () => {
  beforeEach(() => {
    runs.length = 0;
    reads.length = 0;
  });

  it("nothing pinned, sources at a closed port: apt-get update runs against them and fails", async () => {
    const cacheDir = path.join(tmp, "cache-unpinned");
    const err = await resolveBundle(SOURCE, { cacheDir, createdBy: "e2e", readFile: closedReader, run: spyRun, lock: bundleLockOf(await readLockFile(lockFile)) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect((err as CommandFailedError).command).toMatch(/^apt-get .* update$/);
    expect((err as CommandFailedError).stderrTail).toContain(`E: Failed to fetch http://127.0.0.1:${closedSources.match(/:(\d+)\//)![1]}/debian/dists/bookworm/InRelease`);
    // `apt-get --version`: the probe that picks apt over the native resolver (apt runs here).
    expect(runs.map((r) => `${r[0]} ${r.at(-1)}`)).toEqual(["apt-get --version", "apt-get update"]);
    expect(reads).toEqual(["/etc/apt/sources.list.d/debian.sources"]);
    expect(fs.readFileSync(path.join(cacheDir, "apt", fs.readdirSync(path.join(cacheDir, "apt"))[0]!, "etc", "sources.list"), "utf8")).toContain(closedSources.split("\n")[1]!.slice(6));
    expect(fs.existsSync(lockFile)).toBe(false); // nothing resolved, nothing pinned
  });

  it("pinned and cached, sources at a closed port: resolveBundle returns the pinned bundle, no program run, no sources read", async () => {
    await recordBundle(lockFile, "amd64", bundlePinOf(SOURCE.recipe.name, cached.manifest));
    const cacheDir = path.join(tmp, "cache-pinned");
    cacheWith(cached, cacheDir);
    const t0 = performance.now();
    const ref = await resolveBundle(SOURCE, { cacheDir, createdBy: "e2e", readFile: closedReader, run: spyRun, lock: bundleLockOf(await readLockFile(lockFile)) });
    const ms = performance.now() - t0;
    expect(ref.manifest.id).toBe(cached.manifest.id);
    expect(ref.dir).toBe(path.join(cacheDir, "bundles", path.basename(cached.dir)));
    expect([runs, reads]).toEqual([[], []]);
    console.log(`pinned bundle resolved from the cache in ${ms.toFixed(0)} ms (${cached.manifest.packages.length} packages re-hashed)`);
  });

  it("up on real local machines with the pinned bundle: the app is live, apt-get never ran, the lock is unchanged", async () => {
    const before = fs.readFileSync(lockFile, "utf8");
    const lock = await readLockFile(lockFile);
    const { env, text } = await loadEnvironment(envFile);
    const lines: string[] = [];
    const provisioner = localGroupProvisioner(env, { app: {}, registryPassword: null, deferred: [] }, paths, null, { lock: bundleLockOf(lock), run: spyRun, readFile: closedReader });
    const t0 = performance.now();
    const { report } = await runUp({
      env,
      envText: text,
      files: environmentFiles(envFile, paths.stateRoot, env.name),
      driver: createLocalDriver(env, provisioner, paths),
      actor: "e2e@longshore",
      onEvent: (e) => {
        if (e.type !== "phase-start" && e.type !== "phase-done") lines.push(e.message);
      },
    });
    console.log(`up with the pinned bundle: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(report?.outcome, lines.join("\n")).toBe("succeeded");
    const url = `http://${env.local!.listen.address}:${env.local!.listen.port}/`;
    expect((await httpGet(url)).status).toBe(200);
    expect([runs, reads]).toEqual([[], []]);
    expect(lines.some((l) => l.includes("pinned by longshore.lock") && l.includes("no apt-get"))).toBe(true);
    expect(fs.readFileSync(lockFile, "utf8")).toBe(before);
  });
});

describe("longshore engine update against the real archive", () => {
  it("re-resolves, prints what changes against a stale pin, keeps image pins, writes the new lock; then finds nothing to change", async () => {
    // A private cache seeded from the machine's (lists and .debs hard-linked where apt never writes in place).
    const cacheDir = path.join(tmp, "cache-update");
    const aptSrc = path.join(REAL_CACHE, "apt");
    fs.cpSync(aptSrc, path.join(cacheDir, "apt"), { recursive: true, filter: (s) => !s.endsWith(".deb") });
    for (const tree of fs.readdirSync(aptSrc)) {
      const archives = path.join(aptSrc, tree, "cache", "archives");
      for (const f of fs.existsSync(archives) ? fs.readdirSync(archives).filter((x) => x.endsWith(".deb")) : []) {
        fs.linkSync(path.join(archives, f), path.join(cacheDir, "apt", tree, "cache", "archives", f));
      }
    }
    cacheWith(cached, cacheDir);
    // A stale pin: another id, docker.io at an older version, and an image pinned by a rollout.
    const stale = bundlePinOf(SOURCE.recipe.name, cached.manifest);
    await recordBundle(lockFile, "amd64", { ...stale, id: "0".repeat(64), packages: { ...stale.packages, "docker.io": "20.10.5+dfsg1-1+deb11u2" } });
    await recordImage(lockFile, "longshore-demo:v1", `sha256:${"d".repeat(64)}`);

    const cli = async (...argv: string[]) => {
      const stdout = new Sink();
      const stderr = new Sink();
      const env = { ...process.env, LONGSHORE_CACHE_DIR: cacheDir };
      const t0 = performance.now();
      const code = await main(argv, { ...realDeps(), stdout, stderr, cwd: tmp, env, secretReader: systemSecretReader(env) });
      return { code, out: stdout.text, err: stderr.text, s: ((performance.now() - t0) / 1000).toFixed(1) };
    };
    const first = await cli("engine", "update", "-f", "env/longshore.yaml");
    console.log(`engine update (stale pin): ${first.s} s\n${first.out}${first.err}`);
    expect(first.code, first.err).toBe(0);
    const lock = parseLockFile(fs.readFileSync(lockFile, "utf8"));
    if (!lock.ok) throw new Error(JSON.stringify(lock.issues));
    const pin = lock.value.engine.amd64!;
    const built = await verifyBundle(fs.readdirSync(path.join(cacheDir, "bundles")).map((d) => path.join(cacheDir, "bundles", d)).find((d) => d.endsWith(pin.id.slice(0, 12)))!);
    expect(pin).toEqual(bundlePinOf("debian-bookworm-amd64", built.manifest));
    expect(lock.value.images).toEqual({ "longshore-demo:v1": `sha256:${"d".repeat(64)}` });
    const lines = first.out.split("\n");
    expect(lines[0]).toMatch(new RegExp(`^engine amd64 \\(debian-bookworm-amd64\\): \\d+ package changes?, bundle 000000000000 -> ${pin.id.slice(0, 12)}$`));
    expect(lines).toContain(`  docker.io 20.10.5+dfsg1-1+deb11u2 -> ${pin.packages["docker.io"]}`);
    expect(lines.at(-2)).toBe("wrote env/longshore.lock");
    expect(first.err).toMatch(/apt-get update \(http:\/\/deb\.debian\.org\/debian bookworm/);

    const text = fs.readFileSync(lockFile, "utf8");
    const again = await cli("engine", "update", "-f", "env/longshore.yaml");
    console.log(`engine update (up to date): ${again.s} s\n${again.out}`);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toBe(`engine amd64 (debian-bookworm-amd64): no changes, bundle ${pin.id.slice(0, 12)}\nenv/longshore.lock is up to date\n`);
    expect(fs.readFileSync(lockFile, "utf8")).toBe(text);
  });
});
