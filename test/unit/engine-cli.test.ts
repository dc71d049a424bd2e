// Does not build a real bundle (the integration test does): it drives `longshore engine bundle|verify|update` through commander with a fake builder and checks flags, recipes and output.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { readLockFile, recordImage } from "../../model/lock-file";
import { createManifest, type BundleManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import { ConfigError } from "../../core/errors";
import { defaultCacheDir, register, type EngineCliDeps } from "../../cli/engine";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";
import { MANIFEST, PACKAGES, RECIPE } from "./fixtures/engine-context";

const SOURCES = `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

function harness() {
  const out: string[] = [];
  const logs: string[] = [];
  const builds: BuildBundleOptions[] = [];
  const reads: string[] = [];
  const deps: EngineCliDeps = {
    out: (t) => out.push(t),
    log: (l) => logs.push(l),
    cacheDir: "/cache",
    createdBy: "longshore/0.1.0",
    cwd: "/work",
    arch: () => "amd64",
    readFile: async (f) => {
      reads.push(f);
      return SOURCES;
    },
    build: async (o) => {
      builds.push(o);
      return { dir: "/cache/bundles/x", manifest: MANIFEST, cached: true, aptDir: "/cache/apt/x", resolver: "apt", phases: { update: 5 } };
    },
    verify: async (dir) => ({ dir, manifest: MANIFEST }),
  };
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program, deps);
  return { run: (...args: string[]) => program.parseAsync(["node", "longshore", ...args]), out, logs, builds, reads };
}

describe("longshore engine bundle", () => {
  it("builds the Debian bookworm amd64 recipe from this computer's sources by default", async () => {
    const h = harness();
    await h.run("engine", "bundle");
    expect(h.reads).toEqual(["/etc/apt/sources.list.d/debian.sources"]);
    expect(h.builds).toHaveLength(1);
    const b = h.builds[0]!;
    expect(b).toMatchObject({ cacheDir: "/cache", refresh: true, createdBy: "longshore/0.1.0" });
    expect(b.outDir).toBeUndefined();
    expect(b.recipe).toEqual({
      source: "debian",
      distribution: "debian",
      suite: "bookworm",
      arch: "amd64",
      sources: [
        { uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
        { uri: "http://deb.debian.org/debian", suite: "bookworm-updates", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
      ],
      packages: ["docker.io", "containerd", "runc", "tini", "busybox-static"],
      enginePackage: "docker.io",
      baseline: "minbase",
    });
    expect(h.out.join("")).toBe(
      [
        `reused engine-debian-bookworm-amd64-20.10.24-${MANIFEST.id.slice(0, 12)}`,
        "  dir       /cache/bundles/x",
        "  engine    docker.io 20.10.24+dfsg1-1+deb12u1+b6 (20.10.24)",
        "  target    debian bookworm amd64, from debian",
        "  packages  5, 62.2 MiB",
        `  id        ${MANIFEST.id}`,
        "",
      ].join("\n"),
    );
  });

  it("passes --out, --offline and --baseline through and prints JSON", async () => {
    const h = harness();
    await h.run("engine", "bundle", "--out", "/tmp/bundles", "--offline", "--baseline", "none", "--json");
    expect(h.builds[0]).toMatchObject({ outDir: "/tmp/bundles", refresh: false });
    expect(h.builds[0]!.recipe.baseline).toBe("none");
    const json = JSON.parse(h.out.join("")) as Record<string, unknown>;
    expect(json).toMatchObject({
      dir: "/cache/bundles/x",
      id: MANIFEST.id,
      engine: { package: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6", upstream: "20.10.24" },
      target: { distribution: "debian", suite: "bookworm", arch: "amd64", source: "debian" },
      packageCount: 5,
      totalSize: MANIFEST.totalSize,
      cached: true,
      phases: { update: 5 },
    });
    expect((json["packages"] as unknown[])[0]).toEqual({ name: "containerd", version: "1.6.20~ds1-1+deb12u3", arch: "amd64", size: 25903404, sha256: "2".repeat(64) });
  });

  it("refuses bad flags with their names, before building anything", async () => {
    const h = harness();
    await expect(h.run("engine", "bundle", "--arch", "x86_64", "--source", "docker")).rejects.toThrow(ConfigError);
    const err = await h.run("engine", "bundle", "--arch", "x86_64", "--source", "docker").catch((e: unknown) => e as ConfigError);
    expect((err as ConfigError).message).toBe(
      'longshore engine bundle flags is invalid (1 problem):\n  arch: must be one of "amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64"',
    );
    const noUri = await harness().run("engine", "bundle", "--source", "ubuntu", "--distro", "noble").catch((e: unknown) => e as ConfigError);
    expect((noUri as ConfigError).message).toBe("longshore engine bundle flags is invalid (1 problem):\n  uri: is required with --source ubuntu");
    const noKey = await harness().run("engine", "bundle", "--source", "docker", "--uri", "https://d.example/linux/debian").catch((e: unknown) => e as ConfigError);
    expect((noKey as ConfigError).message).toBe("longshore engine bundle flags is invalid (1 problem):\n  keyring: is required with --uri (the archive's signing keyring)");
    expect(h.builds).toEqual([]);
  });

  it("builds a docker-ce recipe from --uri/--keyring, with Debian's sources for dependencies", async () => {
    const h = harness();
    await h.run("engine", "bundle", "--source", "docker", "--uri", "https://d.example/linux/debian", "--keyring", "/etc/apt/keyrings/docker.gpg");
    expect(h.builds[0]!.recipe.sources.map((s) => `${s.uri} ${s.suite} ${s.components.join(",")}`)).toEqual([
      "https://d.example/linux/debian bookworm stable",
      "http://deb.debian.org/debian bookworm main",
      "http://deb.debian.org/debian bookworm-updates main",
    ]);
  });
});

describe("longshore engine verify", () => {
  it("verifies a directory and prints the summary", async () => {
    const h = harness();
    await h.run("engine", "verify", "/some/bundle");
    expect(h.out.join("").split("\n")[0]).toBe(`verified engine-debian-bookworm-amd64-20.10.24-${MANIFEST.id.slice(0, 12)}`);
  });
});

describe("cache directory", () => {
  it("is $LONGSHORE_CACHE_DIR, else $XDG_CACHE_HOME/longshore, else ~/.cache/longshore", () => {
    expect(defaultCacheDir({ LONGSHORE_CACHE_DIR: "/srv/ls", XDG_CACHE_HOME: "/x" }, 1000)).toBe("/srv/ls");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" }, 1000)).toBe("/x/longshore");
    expect(defaultCacheDir({}, 1000)).toMatch(/\/\.cache\/longshore$/);
  });
});

describe("longshore engine update", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ls-engine-update-"));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A manifest of MANIFEST's packages with some versions changed (and one package added). */
  const manifestWith = (versions: Record<string, string>, extra: BundlePackage[] = []) =>
    createManifest(RECIPE, [...PACKAGES.map((p) => ({ ...p, version: versions[p.name] ?? p.version })), ...extra], "t");

  /** The engine verbs in `dir` (an environment file there), building whatever `next` holds. */
  function updater(name: string, envText: string) {
    const cwd = path.join(root, name);
    fs.mkdirSync(path.join(cwd, "envs"), { recursive: true });
    fs.writeFileSync(path.join(cwd, "envs", "prod.yaml"), envText);
    let next: BundleManifest = MANIFEST;
    const out: string[] = [];
    const builds: BuildBundleOptions[] = [];
    const deps: EngineCliDeps = {
      out: (t) => out.push(t),
      log: () => {},
      cacheDir: "/cache",
      createdBy: "longshore/0.1.0",
      cwd,
      arch: () => "amd64",
      readFile: async () => SOURCES,
      build: async (o) => (builds.push(o), { dir: `/cache/bundles/${o.recipe.arch}-${next.id.slice(0, 6)}`, manifest: { ...next, recipe: { ...next.recipe, arch: o.recipe.arch } }, cached: false, aptDir: "/a", resolver: "apt", phases: {} }),
      verify: async (dir) => ({ dir, manifest: { ...next, recipe: { ...next.recipe, arch: dir.includes("arm64") ? "arm64" : "amd64" } } }),
    };
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    register(program, deps);
    return {
      run: async (...args: string[]) => {
        out.length = 0;
        await program.parseAsync(["node", "longshore", "engine", "update", "-f", "envs/prod.yaml", ...args]);
        return out.join("");
      },
      set: (m: BundleManifest) => void (next = m),
      lockText: () => fs.readFileSync(path.join(cwd, "envs", "longshore.lock"), "utf8"),
      lockPath: path.join(cwd, "envs", "longshore.lock"),
      builds,
    };
  }
  const ENV = "name: shop\napp: { name: shop, image: shop:v1 }\n";

  it("pins this computer's architecture first, then prints each version change, then nothing to change", async () => {
    const u = updater("first", ENV);
    const first = await u.run();
    expect(first).toBe(
      [
        `engine amd64 (debian-bookworm-amd64): 5 package changes, pinned ${MANIFEST.id.slice(0, 12)}`,
        "  added containerd 1.6.20~ds1-1+deb12u3",
        "  added docker.io 20.10.24+dfsg1-1+deb12u1+b6",
        "  added libdevmapper1.02.1 2:1.02.185-2",
        "  added runc 1.1.5+ds1-1+deb12u1",
        "  added tini 0.19.0-1+b3",
        "wrote envs/longshore.lock",
        "",
      ].join("\n"),
    );
    expect(u.builds.map((b) => [b.recipe.suite, b.recipe.arch, b.refresh])).toEqual([["bookworm", "amd64", true]]);
    expect((await readLockFile(u.lockPath)).lock.engine.amd64).toEqual({ recipe: "debian-bookworm-amd64", id: MANIFEST.id, packages: Object.fromEntries(PACKAGES.map((p) => [p.name, p.version])) });

    const next = manifestWith({ "docker.io": "20.10.24+dfsg1-1+deb12u2" }, [{ name: "iptables", version: "1.8.9-2", arch: "amd64", filename: "iptables.deb", size: 1, sha256: "9".repeat(64) }]);
    u.set(next);
    await recordImage(u.lockPath, "shop:v1", `sha256:${"e".repeat(64)}`);
    expect(await u.run()).toBe(
      [
        `engine amd64 (debian-bookworm-amd64): 2 package changes, bundle ${MANIFEST.id.slice(0, 12)} -> ${next.id.slice(0, 12)}`,
        "  docker.io 20.10.24+dfsg1-1+deb12u1+b6 -> 20.10.24+dfsg1-1+deb12u2",
        "  added iptables 1.8.9-2",
        "wrote envs/longshore.lock",
        "",
      ].join("\n"),
    );
    const lock = (await readLockFile(u.lockPath)).lock;
    expect([lock.engine.amd64?.id, lock.engine.amd64?.packages["docker.io"], lock.images]).toEqual([next.id, "20.10.24+dfsg1-1+deb12u2", { "shop:v1": `sha256:${"e".repeat(64)}` }]);

    const text = u.lockText();
    expect(await u.run()).toBe(`engine amd64 (debian-bookworm-amd64): no changes, bundle ${next.id.slice(0, 12)}\nenvs/longshore.lock is up to date\n`);
    expect(u.lockText()).toBe(text);
  });

  it("re-resolves every pinned architecture, or those --arch names; --json gives the changes as data", async () => {
    const u = updater("arches", ENV);
    await u.run("--arch", "arm64", "amd64");
    expect(u.builds.map((b) => b.recipe.arch)).toEqual(["amd64", "arm64"]);
    expect(Object.keys((await readLockFile(u.lockPath)).lock.engine)).toEqual(["amd64", "arm64"]);
    u.builds.length = 0;
    const json = JSON.parse(await u.run("--json")) as Record<string, any>;
    expect(u.builds.map((b) => b.recipe.arch)).toEqual(["amd64", "arm64"]);
    expect(json).toMatchObject({ lock: "envs/longshore.lock", written: false, dropped: [], engine: { amd64: { recipe: "debian-bookworm-amd64", from: MANIFEST.id, to: MANIFEST.id, added: [], removed: [], changed: [] } } });
  });

  it("a recipe for one architecture pins that one and drops the others", async () => {
    const u = updater("one-arch", ENV);
    await u.run("--arch", "amd64", "arm64");
    fs.writeFileSync(path.join(path.dirname(u.lockPath), "prod.yaml"), ENV + "engine: { bundle: debian-bookworm-arm64 }\n");
    const out = await u.run();
    expect(out.split("\n").slice(-3)).toEqual(["engine amd64: pin removed (engine.bundle names another architecture)", "wrote envs/longshore.lock", ""]);
    expect(Object.keys((await readLockFile(u.lockPath)).lock.engine)).toEqual(["arm64"]);
    await expect(u.run("--arch", "amd64")).rejects.toThrow("--arch: amd64: engine.bundle is debian-bookworm-arm64, for arm64 only");
  });

  it("refuses an engine with no bundle to pin, and a malformed lock, with their paths; builds nothing", async () => {
    const distro = updater("distro", ENV + "engine: { channel: distro }\n");
    await expect(distro.run()).rejects.toThrow("envs/prod.yaml: engine.channel: is distro: each host installs the engine from its own apt sources, so there is no bundle to pin");
    const dir = updater("dir", ENV + "engine: { bundle: ./bundle }\n");
    await expect(dir.run()).rejects.toThrow(/envs\/prod\.yaml: engine\.bundle: names the directory .*\/envs\/bundle: its manifest pins its packages already/);
    const bad = updater("bad-lock", ENV);
    fs.writeFileSync(bad.lockPath, "version: 1\nengine: []\n");
    await expect(bad.run()).rejects.toThrow("envs/longshore.lock: engine: must be a mapping (key: value) (got a list)");
    expect([...distro.builds, ...dir.builds, ...bad.builds]).toEqual([]);
    expect(fs.readFileSync(bad.lockPath, "utf8")).toBe("version: 1\nengine: []\n");
  });
});
