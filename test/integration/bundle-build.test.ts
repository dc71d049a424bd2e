// Does not install the bundle on a real host (the e2e tests do, on local machines): it builds the real bookworm amd64 bundle from Debian's archive with apt, verifies it, and simulates its offline install with apt.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BundleError } from "../../core/errors";
import { buildBundle, type BuildBundleResult } from "../../provisioner/bundle/build";
import { upstreamVersion } from "../../provisioner/bundle/manifest";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../../provisioner/bundle/recipe";
import { verifyBundle } from "../../provisioner/bundle/verify";

// Cached across runs (first run downloads ~63 MiB from the mirror this computer's apt uses).
const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");
const tmp = mkdtempSync(path.join(tmpdir(), "longshore-bundle-it-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
let first: BuildBundleResult;

beforeAll(async () => {
  first = await buildBundle({ recipe, cacheDir: CACHE, createdBy: "longshore/test" });
}, 600_000);

/** apt-get -s of the bundle's .deb files alone (no package lists) against a dpkg status file. */
function simulateOfflineInstall(debs: string[], status: string) {
  const root = mkdtempSync(path.join(tmp, "sim-"));
  mkdirSync(path.join(root, "state", "lists", "partial"), { recursive: true });
  mkdirSync(path.join(root, "cache", "archives", "partial"), { recursive: true });
  return spawnSync(
    "apt-get",
    [
      "-o", `Dir::State=${root}/state`,
      "-o", `Dir::State::status=${status}`,
      "-o", `Dir::Cache=${root}/cache`,
      "-o", "Dir::Etc::SourceList=/dev/null",
      "-o", "Dir::Etc::SourceParts=/dev/null",
      "-o", "APT::Architecture=amd64",
      "-o", "Debug::NoLocking=1",
      "install", "-s", "--no-install-recommends", ...debs,
    ],
    { encoding: "utf8", env: { ...process.env, LC_ALL: "C" } },
  );
}

describe("engine bundle for Debian bookworm amd64 (real apt, Debian's archive)", () => {
  it("lists docker.io, containerd, runc and tini with their versions, and names the engine version", () => {
    const m = first.manifest;
    const byName = new Map(m.packages.map((p) => [p.name, p]));
    for (const name of ["docker.io", "containerd", "runc", "tini"]) {
      expect(byName.get(name)?.version, name).toMatch(/^[0-9][A-Za-z0-9.+~:-]*$/);
      expect(byName.get(name)?.arch).toBe("amd64");
    }
    expect(m.enginePackage).toEqual({ name: "docker.io", version: byName.get("docker.io")!.version });
    expect(m.engineVersion).toBe(upstreamVersion(byName.get("docker.io")!.version));
    expect(m.engineVersion).toMatch(/^20\.10\.[0-9]+$/);
    expect(path.basename(first.dir)).toBe(`engine-debian-bookworm-amd64-${m.engineVersion}-${m.id.slice(0, 12)}`);
    expect(first.dir.startsWith(path.join(CACHE, "bundles") + path.sep)).toBe(true);
  });

  it("resolved against a minbase host: carries iptables, leaves out what every Debian host has", () => {
    const names = first.manifest.packages.map((p) => p.name);
    expect(names).toContain("iptables");
    for (const everywhere of ["libc6", "dpkg", "perl-base", "tar", "libsystemd0", "adduser"]) expect(names).not.toContain(everywhere);
    expect(names.length).toBeLessThan(30);
  });

  it("every file's sha256 matches the manifest (verifyBundle and coreutils agree)", async () => {
    const v = await verifyBundle(first.dir);
    expect(v.manifest.id).toBe(first.manifest.id);
    const sums = execFileSync("sha256sum", readdirSync(path.join(first.dir, "debs")).sort(), { cwd: path.join(first.dir, "debs"), encoding: "utf8" });
    const fromCoreutils = new Map(sums.trim().split("\n").map((l) => [l.slice(66), l.slice(0, 64)]));
    expect(fromCoreutils.size).toBe(first.manifest.packages.length);
    for (const p of first.manifest.packages) expect(fromCoreutils.get(p.filename)).toBe(p.sha256);
  });

  it("a tampered copy fails verification naming the file, expected and actual sha256", async () => {
    const copy = path.join(tmp, "tampered");
    cpSync(first.dir, copy, { recursive: true });
    const victim = first.manifest.packages.find((p) => p.name === "tini")!;
    const file = path.join(copy, "debs", victim.filename);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
    writeFileSync(file, bytes);
    const actual = execFileSync("sha256sum", [file], { encoding: "utf8" }).slice(0, 64);
    const err = await verifyBundle(copy).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).message).toBe(
      `bundle ${copy} is invalid (1 problem):\n  debs/${victim.filename}: sha256 mismatch: expected ${victim.sha256}, actual ${actual}`,
    );
  });

  it("installs offline on a minbase host (apt-get -s with no package lists), and the same check fails without the baseline", () => {
    const debs = first.manifest.packages.map((p) => path.join(first.dir, "debs", p.filename));
    const ok = simulateOfflineInstall(debs, path.join(first.aptDir, "state", "status"));
    expect(ok.status, ok.stderr).toBe(0);
    const installed = ok.stdout.split("\n").filter((l) => l.startsWith("Inst ")).map((l) => l.split(" ")[1]).sort();
    expect(installed).toEqual(first.manifest.packages.map((p) => p.name).sort());
    const empty = path.join(tmp, "empty-status");
    writeFileSync(empty, "");
    const bare = simulateOfflineInstall(debs, empty);
    expect(bare.status).not.toBe(0);
    expect(bare.stdout + bare.stderr).toContain("Depends: libc6");
  });

  it("records where the archive keeps each package (index Filename) and which source it came from", () => {
    const uris = recipe.sources.map((s) => s.uri);
    for (const p of first.manifest.packages) {
      expect(uris, p.name).toContain(p.archiveUri);
      // Filename in the pool: pool/<component>/<prefix>/<source>/<name>_<version without epoch>_<arch>.deb
      expect(p.archivePath, p.name).toMatch(/^pool\/(updates\/)?main\/(lib)?[a-z0-9]\/[a-z0-9.+-]+\/[^/]+\.deb$/);
      expect(path.basename(p.archivePath!)).toBe(`${p.name}_${p.version.replace(/^[0-9]+:/, "")}_${p.arch}.deb`);
    }
  });

  it("a bundle built before archive paths were recorded gets them on reuse, in place, with the same id", async () => {
    const out = path.join(tmp, "old-bundles");
    const old = path.join(out, path.basename(first.dir));
    cpSync(first.dir, old, { recursive: true });
    const json = JSON.parse(readFileSync(path.join(old, "manifest.json"), "utf8")) as { packages: Array<Record<string, unknown>> };
    for (const p of json.packages) {
      delete p["archivePath"];
      delete p["archiveUri"];
    }
    writeFileSync(path.join(old, "manifest.json"), JSON.stringify(json));
    expect((await verifyBundle(old)).manifest.packages.every((p) => p.archivePath === undefined)).toBe(true);
    const again = await buildBundle({ recipe, cacheDir: CACHE, outDir: out, createdBy: "longshore/test", refresh: false });
    expect([again.cached, again.dir, again.manifest.id]).toEqual([true, old, first.manifest.id]);
    expect(again.phases["locate"]).toBeTypeOf("number");
    expect(again.manifest.packages).toEqual(first.manifest.packages);
    expect((await verifyBundle(old)).manifest.packages).toEqual(first.manifest.packages);
  });

  it("a second build reuses the bundle: same id, nothing downloaded", async () => {
    const again = await buildBundle({ recipe, cacheDir: CACHE, createdBy: "longshore/test", refresh: false });
    expect(again.cached).toBe(true);
    expect(again.dir).toBe(first.dir);
    expect(again.manifest.id).toBe(first.manifest.id);
    expect(again.phases["download"]).toBeUndefined();
    // Its manifest records the archive paths already: no apt-get download --print-uris either.
    expect(again.phases["locate"]).toBeUndefined();
  });
});
