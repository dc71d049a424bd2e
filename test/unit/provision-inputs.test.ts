// Bundle and image resolution with injected builders and a real demo archive: does NOT build a real bundle (test/integration/bundle-build.test.ts does).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAppSpec } from "../../config/app";
import { ARCHIVE_IMAGE_PLACEHOLDER } from "../../config/provision";
import { demoImage } from "../../local/demo-app";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";
import { resolveBundle, resolveImageSource, withArchiveTag } from "../../provisioner/provision-inputs";
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
      build: async (o) => (builds.push(o), { dir: "/cache/bundles/built", manifest: MANIFEST, cached: false, aptDir: "/a", phases: {} }),
      verify: async (d) => ({ dir: d, manifest: MANIFEST }),
    });
    expect(ref.dir).toBe("/cache/bundles/built");
    expect(builds).toHaveLength(1);
    expect(builds[0]).toMatchObject({ cacheDir: "/cache", createdBy: "longshore/test" });
    expect(builds[0]!.recipe).toMatchObject({ source: "debian", suite: "bookworm", arch: "amd64", packages: ["docker.io", "containerd", "runc", "tini"], baseline: "minbase" });
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

  it("names the app's image after the archive's first valid tag, only in place of the placeholder", () => {
    const app = parseAppSpec({ name: "web", image: ARCHIVE_IMAGE_PLACEHOLDER, version: "v1", containerPort: 1, hostPort: 2 });
    expect(withArchiveTag(app, ["Bad Tag", "longshore-demo:v1"]).image).toBe("longshore-demo:v1");
    expect(withArchiveTag(app, []).image).toBe(ARCHIVE_IMAGE_PLACEHOLDER);
    expect(withArchiveTag({ ...app, image: "registry/web:v1" }, ["longshore-demo:v1"]).image).toBe("registry/web:v1");
  });
});
