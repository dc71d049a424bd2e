// Bundle and image resolution with injected builders and a real demo archive: does NOT build a real bundle (test/integration/bundle-build.test.ts does).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEngineOptions } from "../../model/engine";
import { demoImage } from "../../drivers/local/demo-app";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";
import { bundleSourceOf, resolveBundle, resolveImageSource, type BundleSource } from "../../provisioner/provision-inputs";
import { MANIFEST } from "./fixtures/engine-context";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-provision-inputs-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SOURCES = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";

describe("resolveBundle", () => {
  it("verifies a directory and nothing else", async () => {
    const verified: string[] = [];
    const ref = await resolveBundle({ dir: "/b/engine-x" }, {
      cacheDir: "/cache",
      createdBy: "t",
      verify: async (d) => (verified.push(d), { dir: d, manifest: MANIFEST }),
      build: async () => {
        throw new Error("must not build");
      },
    });
    expect(ref).toEqual({ dir: "/b/engine-x", manifest: MANIFEST });
    expect(verified).toEqual(["/b/engine-x"]);
  });

  it("builds a recipe name from this computer's Debian sources into the cache, then verifies the result", async () => {
    const builds: BuildBundleOptions[] = [];
    const ref = await resolveBundle({ recipe: { name: "debian-bookworm-amd64", source: "debian", suite: "bookworm", arch: "amd64" } }, {
      cacheDir: "/cache",
      createdBy: "longshore/test",
      readFile: async (f) => (expect(f).toBe("/etc/apt/sources.list.d/debian.sources"), SOURCES),
      build: async (o) => (builds.push(o), { dir: "/cache/bundles/built", manifest: MANIFEST, cached: false, aptDir: "/a", resolver: "apt", phases: {} }),
      verify: async (d) => ({ dir: d, manifest: MANIFEST }),
    });
    expect(ref.dir).toBe("/cache/bundles/built");
    expect(builds).toHaveLength(1);
    expect(builds[0]).toMatchObject({ cacheDir: "/cache", createdBy: "longshore/test" });
    expect(builds[0]!.recipe).toMatchObject({ source: "debian", suite: "bookworm", arch: "amd64", packages: ["docker.io", "containerd", "runc", "tini", "busybox-static"], baseline: "minbase" });
  });
});

describe("resolveBundle on a controller that is not Debian", () => {
  it("builds from Debian's own archive when /etc/apt/sources.list.d/debian.sources does not exist (macOS, an Ubuntu runner)", async () => {
    const builds: BuildBundleOptions[] = [];
    await resolveBundle({ recipe: { name: "debian-trixie-amd64", source: "debian", suite: "trixie", arch: "amd64" } }, {
      cacheDir: "/cache",
      createdBy: "longshore/test",
      readFile: async (f) => Promise.reject(Object.assign(new Error(`ENOENT: ${f}`), { code: "ENOENT" })),
      build: async (o) => (builds.push(o), { dir: "/cache/bundles/built", manifest: MANIFEST, cached: false, aptDir: "/a", resolver: "native", phases: {} }),
      verify: async (d) => ({ dir: d, manifest: MANIFEST }),
    });
    expect(builds[0]!.recipe.sources.map((x) => `${x.uri} ${x.suite}`)).toEqual([
      "http://deb.debian.org/debian trixie",
      "http://deb.debian.org/debian trixie-updates",
      "http://deb.debian.org/debian-security trixie-security",
    ]);
  });
});

describe("resolveImageSource", () => {
  it("reads an archive's image ID and tags; takes a pull reference as given", async () => {
    const img = demoImage("broken");
    const file = path.join(dir, "broken.tar");
    fs.writeFileSync(file, img.archive);
    expect(await resolveImageSource({ archive: file })).toEqual({ image: { source: "archive", localPath: file, imageId: img.imageId }, repoTags: ["longshore-demo:broken"] });
    expect(await resolveImageSource({ pull: "10.213.47.1:5000/demo:v1", id: img.imageId })).toEqual({
      image: { source: "registry", ref: "10.213.47.1:5000/demo:v1", imageId: img.imageId },
      repoTags: [],
    });
  });
});

describe("bundleSourceOf", () => {
  const recipe = (suite: string, arch: string): BundleSource => ({ recipe: { name: `debian-${suite}-${arch}`, source: "debian", suite, arch } as never });
  const of = (engine: Record<string, unknown>) => bundleSourceOf(parseEngineOptions(engine));

  it("is null for the distro channel", () => {
    expect(of({ channel: "distro" })).toBeNull();
  });

  it("takes a path as a bundle directory, as written", () => {
    expect(of({ bundle: "./bundles/engine-x" })).toEqual({ dir: "./bundles/engine-x" });
    expect(of({ bundle: "/srv/bundles/engine-x" })).toEqual({ dir: "/srv/bundles/engine-x" });
    expect(of({ bundle: "bundles/engine-x" })).toEqual({ dir: "bundles/engine-x" });
  });

  it("pins a recipe with an architecture to that architecture", () => {
    expect(of({ bundle: "debian-bookworm-arm64" })).toEqual(recipe("bookworm", "arm64"));
    expect(of({ bundle: "debian-bookworm-backports-amd64" })).toEqual(recipe("bookworm-backports", "amd64"));
  });

  it("makes a recipe without an architecture a function of each host's architecture (the default: debian-bookworm)", () => {
    const perArch = of({});
    expect(typeof perArch).toBe("function");
    const f = perArch as (arch: "amd64" | "arm64") => BundleSource;
    expect(f("amd64")).toEqual(recipe("bookworm", "amd64"));
    expect(f("arm64")).toEqual(recipe("bookworm", "arm64"));
    const trixie = of({ bundle: "debian-trixie" }) as (arch: "riscv64") => BundleSource;
    expect(trixie("riscv64")).toEqual(recipe("trixie", "riscv64"));
  });
});
