// Does not prove the native resolver equals apt on archives other than this computer's Debian mirror (Ubuntu, Docker's), nor that it works on macOS or Windows (it runs here with an empty PATH).
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle, resolveRecipe, spawnRun, type BuildBundleResult, type RunFn } from "../../provisioner/bundle/build";
import { bundlePinOf } from "../../provisioner/bundle/pin";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../../provisioner/bundle/recipe";
import { verifyBundle } from "../../provisioner/bundle/verify";

// The same cache as bundle-build.test.ts: .deb files apt already fetched are not fetched again by apt,
// and the native resolver keeps its own (<cache>/archive/debs), so the first native run downloads ~63 MiB once.
const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");
const hostSources = parseDeb822Sources(readFileSync(HOST_DEBIAN_SOURCES, "utf8"));
const tmp = mkdtempSync(path.join(tmpdir(), "longshore-native-it-"));
const savedPath = process.env["PATH"];

/** A PATH of one empty directory: apt-get, apt-cache, dpkg and xz are all absent. */
function pathWithoutApt(): string {
  const bin = path.join(tmp, "empty-bin");
  mkdirSync(bin, { recursive: true });
  return bin;
}

/** A RunFn that records every argv it is asked to run (and runs it). */
function recordingRun(calls: string[][]): RunFn {
  return (argv, o) => {
    calls.push([...argv]);
    return spawnRun(argv, o);
  };
}

const key = (r: BuildBundleResult) => r.manifest.packages.map((p) => `${p.name}=${p.version}=${p.arch}:${p.sha256}`);
const timings: string[] = [];
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timings.push(`${label}: ${Math.round(performance.now() - t0)} ms`);
  }
}

afterAll(() => {
  process.env["PATH"] = savedPath;
  rmSync(tmp, { recursive: true, force: true });
  // Measured times, for the record (never asserted).
  console.log(timings.join("\n"));
});

describe.each([
  { suite: "bookworm", baseline: "minbase" as const },
  { suite: "trixie", baseline: "minbase" as const },
  { suite: "bookworm", baseline: "none" as const },
])("native resolver vs apt: debian $suite amd64, baseline $baseline", ({ suite, baseline }) => {
  const recipe = debianRecipe({ suite, arch: "amd64", hostSources, baseline });
  const out = path.join(tmp, `${suite}-${baseline}`);
  let apt: BuildBundleResult;
  let native: BuildBundleResult;
  let nativeWarm: BuildBundleResult;
  const calls: string[][] = [];

  beforeAll(async () => {
    process.env["PATH"] = savedPath;
    apt = await timed(`${suite}/${baseline} apt`, () =>
      buildBundle({ recipe, cacheDir: CACHE, outDir: path.join(out, "apt"), createdBy: "longshore/test", resolver: "apt", checkValidUntil: false }),
    );
    process.env["PATH"] = pathWithoutApt();
    try {
      // No resolver asked for: apt-get is not on PATH, so the native resolver runs.
      native = await timed(`${suite}/${baseline} native`, () =>
        buildBundle({ recipe, cacheDir: CACHE, outDir: path.join(out, "native"), createdBy: "longshore/test", run: recordingRun(calls), checkValidUntil: false }),
      );
      nativeWarm = await timed(`${suite}/${baseline} native warm (refresh: false)`, () =>
        buildBundle({ recipe, cacheDir: CACHE, outDir: path.join(out, "native"), createdBy: "longshore/test", run: recordingRun(calls), checkValidUntil: false, refresh: false }),
      );
    } finally {
      process.env["PATH"] = savedPath;
    }
    timings.push(`${suite}/${baseline} phases (ms): apt ${JSON.stringify(apt.phases)}, native ${JSON.stringify(native.phases)}, native warm ${JSON.stringify(nativeWarm.phases)}`);
  }, 900_000);

  it("picks the native resolver when apt-get is absent, and runs nothing but the failed apt-get probe", () => {
    expect(apt.resolver).toBe("apt");
    expect(native.resolver).toBe("native");
    expect(calls).toEqual([
      ["apt-get", "--version"],
      ["apt-get", "--version"],
    ]);
  });

  it("resolves exactly apt's package set (names, versions, arch, sha256), so the same bundle id and lock pin", async () => {
    expect(key(native)).toEqual(key(apt));
    expect(native.manifest.id).toBe(apt.manifest.id);
    expect(bundlePinOf(`debian-${suite}-amd64`, native.manifest)).toEqual(bundlePinOf(`debian-${suite}-amd64`, apt.manifest));
    expect(path.basename(native.dir)).toBe(path.basename(apt.dir));
    const v = await verifyBundle(native.dir);
    expect(v.manifest.id).toBe(apt.manifest.id);
  });

  it("apt installs the bundle offline onto the baseline the native resolver wrote (its state/status)", () => {
    const root = mkdtempSync(path.join(tmp, "sim-"));
    mkdirSync(path.join(root, "state", "lists", "partial"), { recursive: true });
    mkdirSync(path.join(root, "cache", "archives", "partial"), { recursive: true });
    const debs = native.manifest.packages.map((p) => path.join(native.dir, "debs", p.filename));
    const sim = spawnSync(
      "apt-get",
      ["-o", `Dir::State=${root}/state`, "-o", `Dir::State::status=${path.join(native.aptDir, "state", "status")}`, "-o", `Dir::Cache=${root}/cache`,
        "-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts=/dev/null", "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1",
        "install", "-s", "--no-install-recommends", ...debs],
      { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } },
    );
    expect(sim.status, sim.stdout + sim.stderr).toBe(0);
    const installed = sim.stdout.split("\n").filter((l) => l.startsWith("Inst ")).map((l) => l.split(" ")[1]).sort();
    expect(installed).toEqual(native.manifest.packages.map((p) => p.name).sort());
  });

  it("a second build with refresh: false reuses the verified indexes and the bundle (nothing downloaded)", () => {
    expect(nativeWarm.cached).toBe(true);
    expect(nativeWarm.manifest.id).toBe(native.manifest.id);
    expect(nativeWarm.phases["download"]).toBeUndefined();
  });

  it("resolveRecipe gives the same packages through both resolvers", async () => {
    const a = await resolveRecipe({ recipe, cacheDir: CACHE, refresh: false, resolver: "apt", checkValidUntil: false });
    const n = await resolveRecipe({ recipe, cacheDir: CACHE, refresh: false, resolver: "native", checkValidUntil: false, run: () => Promise.reject(new Error("the native resolver ran a command")) });
    const sort = (x: typeof a.packages) => [...x].sort((p, q) => (p.name < q.name ? -1 : 1));
    expect(sort(n.packages)).toEqual(sort(a.packages));
  });
});
