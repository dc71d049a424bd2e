// Does not prove: that a Docker engine loads and runs the archive (the engine e2e on local machines does).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildDemoImage, demoImage, isStaticElf } from "../../drivers/local/demo-app";
import { listTar, readTarMember } from "../../drivers/local/tar";

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

describe("demo image (docker save format, no docker)", () => {
  it("is byte-for-byte reproducible, and its ID is the sha256 of its config", () => {
    const a = demoImage("v1");
    const b = demoImage("v1");
    expect(Buffer.compare(a.archive, b.archive)).toBe(0);
    expect(a.imageId).toBe(b.imageId);
    const manifest = JSON.parse(readTarMember(a.archive, "manifest.json")!.toString());
    expect(manifest).toEqual([{ Config: `${a.imageId.slice(7)}.json`, RepoTags: ["longshore-demo:v1"], Layers: [`${a.diffId.slice(7)}/layer.tar`] }]);
    const config = readTarMember(a.archive, manifest[0].Config)!;
    expect(`sha256:${sha(config)}`).toBe(a.imageId);
    const layer = readTarMember(a.archive, manifest[0].Layers[0])!;
    expect(`sha256:${sha(layer)}`).toBe(a.diffId);
    expect(JSON.parse(config.toString()).rootfs.diff_ids).toEqual([a.diffId]);
    expect(demoImage("v2").imageId).not.toBe(a.imageId);
  });

  it("lists the expected members with fixed owner and mtime", () => {
    const img = demoImage("v1");
    // Sorted by name: where the hash-named members fall depends on the hashes.
    expect(listTar(img.archive).map((e) => e.path)).toEqual(
      [
        `${img.diffId.slice(7)}/`,
        `${img.diffId.slice(7)}/VERSION`,
        `${img.diffId.slice(7)}/json`,
        `${img.diffId.slice(7)}/layer.tar`,
        `${img.imageId.slice(7)}.json`,
        "manifest.json",
        "repositories",
      ].sort(),
    );
    const layer = listTar(readTarMember(img.archive, `${img.diffId.slice(7)}/layer.tar`)!);
    expect(layer.map((e) => `${e.type} ${e.path}${e.linkname ? ` -> ${e.linkname}` : ""} ${e.mode.toString(8)}`)).toEqual([
      "dir bin/ 755",
      "file bin/busybox 755",
      "symlink bin/httpd -> busybox 777",
      "file bin/serve 755",
      "symlink bin/sh -> busybox 777",
      "symlink bin/wget -> busybox 777",
      "dir etc/ 755",
      "file etc/httpd.conf 644",
      "dir tmp/ 1777",
      "dir www/ 755",
      "file www/healthz 644",
      "file www/index.html 644",
      "file www/unhealthy.html 644",
    ]);
    expect(layer.every((e) => e.mtime === 0 && e.uid === 0 && e.gid === 0)).toBe(true);
  });

  it("says its version on the page; broken has no /healthz and a recognisable 404 body", () => {
    const layerOf = (v: "v2" | "broken") => {
      const img = demoImage(v);
      return readTarMember(img.archive, `${img.diffId.slice(7)}/layer.tar`)!;
    };
    expect(readTarMember(layerOf("v2"), "www/index.html")!.toString()).toContain("<h1>longshore demo v2</h1>");
    const broken = layerOf("broken");
    expect(readTarMember(broken, "www/healthz")).toBeUndefined();
    expect(readTarMember(broken, "etc/httpd.conf")!.toString()).toContain("E404:/www/unhealthy.html");
    expect(readTarMember(broken, "www/unhealthy.html")!.toString()).toBe("longshore demo broken: unhealthy\n");
  });

  it("is a tar GNU tar reads, and extracts to a busybox that serves the page", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-img-"));
    const out = buildDemoImage("v1", { cacheDir: path.join(dir, "cache"), out: path.join(dir, "img.tar") });
    const names = execFileSync("tar", ["-tf", out.file], { encoding: "utf8" }).trim().split("\n");
    expect(names).toContain("manifest.json");
    const layerDir = path.join(dir, "layer");
    fs.mkdirSync(layerDir);
    execFileSync("tar", ["-xf", out.file, "-C", dir, `${out.diffId.slice(7)}/layer.tar`]);
    execFileSync("tar", ["-xf", path.join(dir, out.diffId.slice(7), "layer.tar"), "-C", layerDir]);
    expect(execFileSync(path.join(layerDir, "bin/sh"), ["-c", "cat /dev/null; echo works"], { encoding: "utf8" })).toBe("works\n");
    // Cached under the cache dir by image ID.
    expect(fs.readdirSync(path.join(dir, "cache", "images"))).toEqual([`longshore-demo-v1-${out.imageId.slice(7, 19)}.tar`]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("accepts only a statically linked busybox", () => {
    expect(isStaticElf(fs.readFileSync("/bin/busybox"))).toBe(true);
    expect(isStaticElf(fs.readFileSync("/bin/ls"))).toBe(false);
    expect(isStaticElf(Buffer.from("#!/bin/sh\n"))).toBe(false);
  });
});
