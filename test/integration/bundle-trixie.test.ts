// Resolves Debian 13's engine bundle recipe against the real archive (apt-get update into longshore's
// own apt tree, then a simulated install onto trixie's minbase), for amd64 and arm64, downloading no
// package. Does not prove that the arm64 packages install (no arm64 machine here); the amd64 bundle is
// built and installed by test/e2e/debian13.test.ts.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveRecipe } from "../../provisioner/bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../../provisioner/bundle/recipe";

const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");
const hostSources = parseDeb822Sources(readFileSync(HOST_DEBIAN_SOURCES, "utf8"));

describe("the Debian 13 (trixie) engine recipe against the archive", () => {
  it.each(["amd64", "arm64"] as const)("%s: docker.io 26 with docker-cli, Compose v2, containerd, runc and tini", async (arch) => {
    const { packages } = await resolveRecipe({ recipe: debianRecipe({ suite: "trixie", arch, hostSources }), cacheDir: CACHE });
    const version = (name: string) => packages.find((p) => p.name === name)?.version;
    expect(version("docker.io")).toMatch(/^26\./);
    expect(version("docker-cli")).toMatch(/^26\./);
    expect(version("docker-compose")).toMatch(/^2\./);
    for (const name of ["containerd", "runc", "tini", "busybox-static"]) expect(version(name), name).toBeDefined();
    // Every package is for this architecture (or for all).
    expect(packages.filter((p) => p.arch !== arch && p.arch !== "all")).toEqual([]);
    expect(packages.reduce((s, p) => s + p.size, 0)).toBeGreaterThan(50 * 2 ** 20);
  }, 300_000);
});
