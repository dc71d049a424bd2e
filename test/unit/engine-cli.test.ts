// Does not build a real bundle (the integration test does): it drives `longshore engine bundle|verify` through commander with a fake builder and checks flags, recipes and output.
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { defaultCacheDir, register, type EngineCliDeps } from "../../cli/engine";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";
import { MANIFEST } from "./fixtures/engine-context";

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
    readFile: async (f) => {
      reads.push(f);
      return SOURCES;
    },
    build: async (o) => {
      builds.push(o);
      return { dir: "/cache/bundles/x", manifest: MANIFEST, cached: true, aptDir: "/cache/apt/x", phases: { update: 5 } };
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
