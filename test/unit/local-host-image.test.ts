// The host image's pure parts: its id from its inputs, and the scrub of the build machine's
// identity from a copied upper directory (real files). Does not prove a machine boots from the
// layer (the e2e host-image test does).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hostImageId, SCRUBBED, scrub } from "../../drivers/local/host-image";
import { parseEngineOptions } from "../../model/engine";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-host-image-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("host image id", () => {
  const base = { templateHash: "t1", bundleId: "b".repeat(64), engine: parseEngineOptions({}) };
  it("is stable, and changes with the template, the bundle and any engine option", () => {
    const id = hostImageId(base);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(hostImageId({ ...base })).toBe(id);
    const others = [
      hostImageId({ ...base, templateHash: "t2" }),
      hostImageId({ ...base, bundleId: "c".repeat(64) }),
      hostImageId({ ...base, engine: parseEngineOptions({ daemon: { "log-opts": { "max-file": "4" } } }) }),
      hostImageId({ ...base, engine: parseEngineOptions({ channel: "distro" }) }),
    ];
    expect(new Set([id, ...others]).size).toBe(5);
  });
});

describe("scrub", () => {
  it("removes the build machine's identity and runtime state, keeps the engine, empties the machine-id", () => {
    const layer = path.join(dir, "layer");
    const put = (rel: string, content = "x") => {
      fs.mkdirSync(path.dirname(path.join(layer, rel)), { recursive: true });
      fs.writeFileSync(path.join(layer, rel), content);
    };
    for (const rel of SCRUBBED) put(rel.endsWith("journal") || rel === "tmp" || rel === "var/tmp" || rel === "root/.ssh" || rel === "var/lib/docker" ? `${rel}/f` : rel);
    put("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    put("usr/sbin/dockerd", "ELF");
    put("etc/docker/daemon.json", "{}");
    put("var/lib/longshore/bundle/abc/.verified", "");
    scrub(layer);
    for (const rel of SCRUBBED) expect([rel, fs.existsSync(path.join(layer, rel))]).toEqual([rel, false]);
    expect(fs.readFileSync(path.join(layer, "etc/machine-id"), "utf8")).toBe("");
    expect(fs.readFileSync(path.join(layer, "usr/sbin/dockerd"), "utf8")).toBe("ELF");
    expect(fs.existsSync(path.join(layer, "etc/docker/daemon.json"))).toBe(true);
    expect(fs.existsSync(path.join(layer, "var/lib/longshore/bundle/abc/.verified"))).toBe(true);
  });
});
