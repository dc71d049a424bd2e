// Unit: `longshore prune`: the pure decision (provisioner/prune.ts) as a table over what a host has
// and what the environment uses; the listing's parser on output captured from a real engine; the
// exact remote commands, and the removal script run through a real `sh` with a scripted `docker`
// (each call's argv recorded); one host over a fake transport (provisioner/prune-host.ts); and the
// verb through the CLI with a scripted driver and fake connections. Does not prove a real machine
// answers this way or that the engine frees the space (the status-prune e2e does).
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CliDeps } from "../../cli/deps";
import { EXIT } from "../../cli/exit-codes";
import { main } from "../../cli/main";
import { environmentUses, pickPruneHosts, pruneOptions } from "../../cli/prune";
import { CommandFailedError, ConfigError, HostKeyError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import { parseEnvironment } from "../../model/environment-file";
import type { SshTarget } from "../../model/ssh-target";
import { createManifest } from "../../provisioner/bundle/manifest";
import {
  CONTAINER_FORMAT,
  IMAGE_FORMAT,
  parseHostInventory,
  parsePruneRemoval,
  planPrune,
  PRUNE_LIST_SCRIPT,
  PRUNE_REMOVE_SCRIPT,
  pruneListCommand,
  pruneRemoveCommand,
  refNamesImage,
  type EnvironmentUses,
  type HostContainer,
  type HostImage,
  type HostInventory,
} from "../../provisioner/prune";
import { pruneHost } from "../../provisioner/prune-host";
import type { EnvironmentHost } from "../../rollout/driver";
import { fakeDriver } from "../helpers/fake-slot-driver";
import { FakeTransport } from "../helpers/fake-transport";
import { MANIFEST, PACKAGES, RECIPE } from "./fixtures/engine-context";

const LIST_TEXT = readFileSync(path.join(__dirname, "fixtures", "prune-list-docker-20.10.txt"), "utf8");
const REMOVE_TEXT = readFileSync(path.join(__dirname, "fixtures", "prune-remove-docker-20.10.txt"), "utf8");

const tmp = mkdtempSync(path.join(os.tmpdir(), "ls-prune-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (c: string) => c.repeat(64);
const id = (c: string) => `sha256:${hex(c)}`;

function img(c: string, tags: string[], o: Partial<HostImage> = {}): HostImage {
  return { id: id(c), repoTags: tags, repoDigests: [], parent: "", created: "2026-01-01T00:00:00Z", size: 1000, layers: [`sha256:${hex(c === "0" ? "9" : c).replace(/^./, "1")}`], ...o };
}
function ctr(c: string, name: string, image: string, state: string, labels: Record<string, string> = {}): HostContainer {
  return { id: hex(c), name, image, state, labels };
}
function inventory(o: Partial<HostInventory> = {}): HostInventory {
  return { images: [], containers: [], bundles: [], packages: {}, blobs: [], disk: { engine: [], engineBytes: 0, filesBytes: 0 }, ...o };
}
const USES: EnvironmentUses = {
  images: [
    { ref: "shop:4", why: "live (green)" },
    { ref: "shop:3", why: "rollback (blue)" },
  ],
  appRepositories: ["shop"],
  releases: ["4", "3"],
};
/** What a plan says about images: `tag why` per kept and removed image, in order. */
const images = (p: ReturnType<typeof planPrune>) => ({
  kept: p.kept.images.map((i) => `${i.tags.join(",") || i.id.slice(7, 11)}: ${i.why}`),
  removed: p.images.map((i) => `${i.tags.join(",") || i.id.slice(7, 11)}: ${i.why}`),
});

describe("what prune keeps and removes (pure)", () => {
  const versions = [
    img("1", ["shop:1"], { created: "2026-01-01T00:00:00Z" }),
    img("2", ["shop:2"], { created: "2026-01-02T00:00:00Z" }),
    img("3", ["shop:3"], { created: "2026-01-03T00:00:00Z" }),
    img("4", ["shop:4"], { created: "2026-01-04T00:00:00Z" }),
  ];

  it("keeps the live and rollback images, then the newest versions up to --keep (counting those), removes older ones", () => {
    expect(images(planPrune(inventory({ images: versions }), USES, 2))).toEqual({
      kept: ["shop:3: rollback (blue)", "shop:4: live (green)"],
      removed: ["shop:1: an older version of the app (beyond the 2 newest)", "shop:2: an older version of the app (beyond the 2 newest)"],
    });
    expect(images(planPrune(inventory({ images: versions }), USES, 3)).kept).toEqual(["shop:2: one of the 3 newest versions of the app", "shop:3: rollback (blue)", "shop:4: live (green)"]);
    // --keep 0: only what is in use.
    expect(images(planPrune(inventory({ images: versions }), USES, 0)).kept).toEqual(["shop:3: rollback (blue)", "shop:4: live (green)"]);
    // The live and rollback images stay even when older ones are newer (a rollback to an old tag).
    const old = [img("3", ["shop:3"], { created: "2020-01-01T00:00:00Z" }), ...versions.filter((v) => v.repoTags[0] !== "shop:3")];
    expect(images(planPrune(inventory({ images: old }), USES, 1)).kept).toEqual(["shop:3: rollback (blue)", "shop:4: live (green)"]);
  });

  it("a running, paused or restarting container keeps its image; a stopped one of an unused image goes, before its image", () => {
    const inv = inventory({
      images: [img("a", ["tool:1"]), img("b", ["busybox:old"]), img("c", []), img("d", ["cache:7"])],
      containers: [ctr("1", "tool", id("a"), "running"), ctr("2", "old", id("b"), "exited"), ctr("3", "p", id("d"), "paused"), ctr("4", "r", id("d"), "restarting")],
    });
    const p = planPrune(inv, USES, 2);
    expect(p.containers).toEqual([{ id: hex("2"), name: "old", image: id("b"), state: "exited", why: "exited; its image is not one the environment uses" }]);
    expect(p.kept.containers.map((c) => `${c.name}: ${c.why}`)).toEqual(["tool: running", "p: paused", "r: restarting"]);
    expect(images(p)).toEqual({
      kept: ["tool:1: used by container tool (running)", "cache:7: used by container p (paused)"],
      removed: ["busybox:old: no container or slot uses it", "cccc: untagged, and no container uses it"],
    });
    // The removal command: containers first, then images.
    expect(pruneRemoveCommand(p)!.argv.slice(6)).toEqual([`c:${hex("2")}`, `i:${id("b")}`, `i:${id("c")}`]);
  });

  it("a stopped container of a release in use (a Compose one-shot service) stays, with its image; an old release's goes", () => {
    const inv = inventory({
      images: [img("4", ["shop:4"]), img("m", ["migrate:4"]), img("n", ["migrate:1"])],
      containers: [ctr("1", "shop-4", id("4"), "running", { "io.longshore.version": "4" }), ctr("2", "migrate-4", id("m"), "exited", { "io.longshore.version": "4" }), ctr("3", "migrate-1", id("n"), "exited", { "io.longshore.version": "1" })],
    });
    const p = planPrune(inv, USES, 2);
    expect(p.kept.containers.map((c) => `${c.name}: ${c.why}`)).toEqual(["shop-4: running", "migrate-4: exited, of release 4, in use"]);
    expect(p.containers.map((c) => c.name)).toEqual(["migrate-1"]);
    expect(images(p)).toEqual({ kept: ["shop:4: live (green)", "migrate:4: used by container migrate-4 (exited)"], removed: ["migrate:1: no container or slot uses it"] });
  });

  it("a stopped container of a live image stays (the app that crashed is left for inspection)", () => {
    const p = planPrune(inventory({ images: [img("4", ["shop:4"])], containers: [ctr("1", "shop-4", id("4"), "exited")] }), USES, 0);
    expect(p.containers).toEqual([]);
    expect(p.kept.containers).toEqual([{ id: hex("1"), name: "shop-4", why: "exited, of an image in use (live (green))" }]);
  });

  it("names images as the engine does: Docker Hub's short forms, digests (pulled by digest, untagged), image IDs", () => {
    const pulled = img("p", [], { repoDigests: ["10.213.47.1:5000/team/shop@sha256:" + hex("d")] });
    expect(refNamesImage("10.213.47.1:5000/team/shop@sha256:" + hex("d"), pulled)).toBe(true);
    expect(refNamesImage("10.213.47.1:5000/team/shop:4@sha256:" + hex("d"), pulled)).toBe(true);
    expect(refNamesImage("10.213.47.1:5000/team/other@sha256:" + hex("d"), pulled)).toBe(false);
    expect(refNamesImage("10.213.47.1:5000/team/shop@sha256:" + hex("e"), pulled)).toBe(false);
    const redis = img("e", ["redis:7"], { repoDigests: ["redis@sha256:" + hex("f")] });
    expect(["redis:7", "docker.io/library/redis:7", "index.docker.io/library/redis:7", "docker.io/library/redis@sha256:" + hex("f"), id("e")].map((r) => refNamesImage(r, redis))).toEqual([true, true, true, true, true]);
    expect(["redis", "redis:6", "other/redis:7", id("s")].map((r) => refNamesImage(r, redis))).toEqual([false, false, false, false]);
    expect(refNamesImage("nginx", img("n", ["nginx:latest"]))).toBe(true);
    // A version pulled by digest counts as a version of the app's repository.
    const uses: EnvironmentUses = { images: [], appRepositories: ["10.213.47.1:5000/team/shop"], releases: [] };
    expect(images(planPrune(inventory({ images: [pulled] }), uses, 1)).kept).toEqual(["pppp: the newest version of the app"]);
  });

  it("an accessory's image stays", () => {
    const uses: EnvironmentUses = { ...USES, images: [...USES.images, { ref: "postgres:16", why: "accessory db" }] };
    expect(images(planPrune(inventory({ images: [img("9", ["postgres:16"]), img("8", ["postgres:15"])] }), uses, 2))).toEqual({
      kept: ["postgres:16: accessory db"],
      removed: ["postgres:15: no container or slot uses it"],
    });
  });

  it("a kept image's parents stay; removed images go children first", () => {
    const inv = inventory({
      images: [img("a", ["base:1"]), img("b", [], { parent: id("a") }), img("c", ["shop:4"], { parent: id("b") }), img("x", ["junk:1"]), img("y", ["junk:2"], { parent: id("x") })],
    });
    const p = planPrune(inv, USES, 0);
    expect(images(p)).toEqual({
      kept: [`base:1: parent of kept image ${hex("c").slice(0, 12)}`, `bbbb: parent of kept image ${hex("c").slice(0, 12)}`, "shop:4: live (green)"],
      removed: ["junk:2: no container or slot uses it", "junk:1: no container or slot uses it"],
    });
  });

  it("keeps the bundle dpkg has installed, removes the others; keeps every bundle when none is installed or a manifest does not read", () => {
    const installed = Object.fromEntries(PACKAGES.map((p) => [p.name, p.version]));
    const other = createManifest(RECIPE, PACKAGES.map((p) => (p.name === "docker.io" ? { ...p, version: "20.10.5+dfsg1-1+deb11u2" } : p)), "longshore/test");
    const bundles = [
      { id: MANIFEST.id, bytes: 100, manifest: MANIFEST },
      { id: other.id, bytes: 200, manifest: other },
      { id: hex("b"), bytes: 5, manifest: null, problem: "it has no manifest.json" },
      { id: "scratch", bytes: 1, manifest: null, problem: "it has no manifest.json" },
    ];
    const p = planPrune(inventory({ bundles, packages: installed }), USES, 2);
    expect(p.bundles).toEqual([{ id: other.id, bytes: 200, why: "not installed (docker.io 20.10.5+dfsg1-1+deb11u2; installed: 20.10.24+dfsg1-1+deb12u1+b6)" }]);
    expect(p.kept.bundles).toEqual([
      { id: MANIFEST.id, why: "installed (docker.io 20.10.24+dfsg1-1+deb12u1+b6)" },
      { id: hex("b"), why: "it has no manifest.json: left alone" },
      { id: "scratch", why: "not a bundle directory longshore made (its name is not a bundle id)" },
    ]);
    // A package changed by hand (or the distro channel): no bundle is the installed one, so none goes.
    const none = planPrune(inventory({ bundles, packages: { ...installed, runc: "1.1.12" } }), USES, 2);
    expect(none.bundles).toEqual([]);
    expect(none.kept.bundles.slice(0, 2).map((b) => b.why)).toEqual([
      "no bundle matches the installed engine packages: every bundle is left alone",
      "no bundle matches the installed engine packages: every bundle is left alone",
    ]);
  });

  it("keeps the store's blobs of the images that stay (config and layers), removes the others", () => {
    const live = img("4", ["shop:4"], { layers: [id("5"), id("6")] });
    const junk = img("7", ["junk:1"], { layers: [id("6"), id("8")] });
    const blobs = ["4", "5", "6", "7", "8", "9"].map((c) => ({ hex: hex(c), bytes: 10 }));
    const p = planPrune(inventory({ images: [live, junk], blobs }), USES, 0);
    expect(p.blobs.map((b) => b.hex[0])).toEqual(["7", "8", "9"]);
    expect(p.kept.blobs).toBe(3);
  });

  it("nothing to remove is no command at all", () => {
    expect(pruneRemoveCommand(planPrune(inventory({ images: [img("4", ["shop:4"])] }), USES, 2))).toBeNull();
  });
});

describe("the listing, read from a real engine's output", () => {
  it("reads images (tags, parent, layers), containers (names without '/', labels), bundles (manifest), installed packages, 64-hex blobs, disk", () => {
    const inv = parseHostInventory(LIST_TEXT);
    expect(inv.images.map((i) => [i.repoTags, i.parent.slice(0, 19), i.layers.length, i.size])).toEqual([
      [["app:2"], "sha256:cc3cf392e9ee", 2, 1984135],
      [["app:1", "other:x"], "", 1, 1984132],
    ]);
    expect(inv.containers.map((c) => [c.name, c.state, c.image.slice(0, 19), c.labels])).toEqual([
      ["stopped1", "created", "sha256:cc3cf392e9ee", {}],
      ["run1", "running", "sha256:1539ebe7dda0", { "io.longshore.app": "app", "io.longshore.version": "2" }],
    ]);
    expect(inv.bundles.map((b) => [b.id.slice(0, 8), b.bytes, b.manifest?.enginePackage])).toEqual([["e72b8cd6", 13639, { name: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6" }]]);
    expect(inv.packages["docker.io"]).toBe("20.10.24+dfsg1-1+deb12u1+b6");
    expect(inv.packages["busybox"]).toBeUndefined();
    // `ready` (the peer server's) is not a blob.
    expect(inv.blobs).toEqual([{ hex: hex("a"), bytes: 1000 }]);
    expect([inv.disk.engineBytes, inv.disk.filesBytes, inv.disk.engine.length]).toEqual([1_984_000, 17735 + 9195, 4]);
  });

  it("decides on it: the stopped container of the older version goes; its image stays (a newest version, and the parent of the running one)", () => {
    const inv = parseHostInventory(LIST_TEXT);
    const uses: EnvironmentUses = { images: [{ ref: "app:2", why: "live (blue)" }], appRepositories: ["app"], releases: ["2"] };
    const p = planPrune(inv, uses, 0);
    expect(p.containers.map((c) => c.name)).toEqual(["stopped1"]);
    expect(images(p)).toEqual({ kept: ["app:2: live (blue)", "app:1,other:x: parent of kept image 1539ebe7dda0"], removed: [] });
    // busybox (asked for by the bundle's recipe) is not installed here: no bundle is the installed one, so it stays.
    expect(p.bundles).toEqual([]);
    expect(p.blobs).toEqual([{ hex: hex("a"), bytes: 1000 }]);
  });

  it("on a Debian 13 machine (engine 26.1) of the rollback slot: the junk goes, the rollback image and the newest versions stay, the bundle not installed goes", () => {
    const inv = parseHostInventory(readFileSync(path.join(__dirname, "fixtures", "prune-list-docker-26.1.txt"), "utf8"));
    expect(Object.keys(inv.packages)).toHaveLength(140);
    const uses: EnvironmentUses = {
      images: [
        { ref: "longshore-demo:v1", why: "rollback (blue)" },
        { ref: "longshore-demo:v2", why: "live (green)" },
      ],
      appRepositories: ["longshore-demo"],
      releases: ["v1", "v2"],
    };
    const p = planPrune(inv, uses, 2);
    expect(images(p)).toEqual({ kept: ["longshore-demo:v1: rollback (blue)", "longshore-demo:broken: one of the 2 newest versions of the app"], removed: ["e2eprune-junk:1: no container or slot uses it"] });
    expect(p.containers.map((c) => c.name)).toEqual(["e2eprune-stopped"]);
    expect(p.kept.containers.map((c) => `${c.name}: ${c.why}`)).toEqual(["demo-v1: running"]);
    expect(p.bundles.map((b) => [b.id, b.why])).toEqual([[hex("f"), "not installed (docker.io 0.0.1-old; installed: 26.1.5+dfsg1-9+deb13u1+b1)"]]);
    expect(p.kept.bundles.map((b) => b.why)).toEqual(["installed (docker.io 26.1.5+dfsg1-9+deb13u1+b1)"]);
    // The v1 blobs (its layer and config) stay; the stray one goes.
    expect([p.kept.blobs, p.blobs.map((b) => b.hex)]).toEqual([2, [hex("e")]]);
    expect(images(planPrune(inv, uses, 0)).removed).toEqual(["longshore-demo:broken: a version of the app no slot uses", "e2eprune-junk:1: no container or slot uses it"]);
  });

  it("a listing cut short or with output it cannot read is an error, never a plan", () => {
    expect(() => parseHostInventory(LIST_TEXT.replace("@@longshore-prune:end@@\n", ""))).toThrow("the listing's output was cut short");
    expect(() => parseHostInventory(LIST_TEXT.replace('"size":1984135', '"size":"big"'))).toThrow(/^docker image inspect line 1: size: /);
  });
});

describe("the remote commands", () => {
  it("list: one read-only sh -c as root with the bundle directory, the store and the engine's formats", () => {
    expect(pruneListCommand()).toEqual({
      argv: ["sh", "-c", PRUNE_LIST_SCRIPT, "sh", "/var/lib/longshore/bundle", "/var/lib/longshore/blobs", IMAGE_FORMAT, CONTAINER_FORMAT],
      sudo: true,
      timeoutMs: 300_000,
    });
  });

  it("remove: every item by ID, kind-prefixed, in the plan's order", () => {
    const plan = planPrune(
      inventory({ images: [img("b", ["junk:1"])], containers: [ctr("1", "old", id("b"), "exited")], blobs: [{ hex: hex("9"), bytes: 3 }], bundles: [] }),
      USES,
      2,
    );
    expect(pruneRemoveCommand(plan)).toEqual({
      argv: ["sh", "-c", PRUNE_REMOVE_SCRIPT, "sh", "/var/lib/longshore/bundle", "/var/lib/longshore/blobs", `c:${hex("1")}`, `i:${id("b")}`, `f:${hex("9")}`],
      sudo: true,
      timeoutMs: 900_000,
    });
  });

  /** A directory with a scripted `docker` that records its argv and answers `ps` with `users`. */
  function fakeHost(users: string): { bin: string; log: string; bundles: string; store: string } {
    const dir = mkdtempSync(path.join(tmp, "host-"));
    const bin = path.join(dir, "bin");
    mkdirSync(bin);
    const log = path.join(dir, "argv.log");
    writeFileSync(path.join(bin, "docker"), `#!/bin/sh\necho "$*" >> ${log}\ncase "$1" in ps) printf '%s' '${users}' ;; system) echo '{"Active":"0","Reclaimable":"0B","Size":"0B","TotalCount":"0","Type":"Images"}' ;; esac\n`);
    chmodSync(path.join(bin, "docker"), 0o755);
    const bundles = path.join(dir, "bundle");
    const store = path.join(dir, "blobs");
    mkdirSync(path.join(bundles, hex("b"), "debs"), { recursive: true });
    mkdirSync(path.join(store, "sha256"), { recursive: true });
    writeFileSync(path.join(store, "sha256", hex("f")), "blob");
    return { bin, log, bundles, store };
  }

  it("the removal script runs exactly these docker commands (no --force on containers; images only when no container uses them) and removes the files", () => {
    const h = fakeHost("");
    const out = execFileSync("/bin/sh", ["-c", PRUNE_REMOVE_SCRIPT, "sh", h.bundles, h.store, `c:${hex("1")}`, `i:${id("2")}`, `b:${hex("b")}`, `f:${hex("f")}`, "i:../../etc", `x:${hex("3")}`], {
      env: { PATH: `${h.bin}:/usr/bin:/bin` },
      encoding: "utf8",
    });
    expect(readFileSync(h.log, "utf8").trim().split("\n")).toEqual([
      `rm ${hex("1")}`,
      `ps --all --quiet --filter ancestor=${hex("2")}`,
      `image rm --force --no-prune ${hex("2")}`,
      "system df --format {{json .}}",
    ]);
    expect([existsSync(path.join(h.bundles, hex("b"))), existsSync(path.join(h.store, "sha256", hex("f")))]).toEqual([false, false]);
    const r = parsePruneRemoval(out);
    expect(r.removed).toEqual([
      { kind: "c", id: hex("1") },
      { kind: "i", id: id("2") },
      { kind: "b", id: hex("b") },
      { kind: "f", id: hex("f") },
    ]);
    expect(r.failed).toEqual([{ kind: "i", id: "../../etc", message: "not an ID" }]);
    expect(r.after).toEqual({ engine: [{ type: "Images", totalCount: 0, active: 0, size: "0B", sizeBytes: 0, reclaimable: "0B", reclaimableBytes: 0 }], engineBytes: 0, filesBytes: expect.any(Number) });
  });

  it("an image a container uses (created since the listing) is not removed", () => {
    const h = fakeHost(`${hex("c").slice(0, 12)}\n`);
    const out = execFileSync("/bin/sh", ["-c", PRUNE_REMOVE_SCRIPT, "sh", h.bundles, h.store, `i:${id("2")}`], { env: { PATH: `${h.bin}:/usr/bin:/bin` }, encoding: "utf8" });
    expect(readFileSync(h.log, "utf8").trim().split("\n")).toEqual([`ps --all --quiet --filter ancestor=${hex("2")}`, "system df --format {{json .}}"]);
    expect(parsePruneRemoval(out).failed).toEqual([{ kind: "i", id: id("2"), message: `a container uses it: ${hex("c").slice(0, 12)}` }]);
  });

  it("reads what a real engine answered: refusals with the engine's message, the disk after", () => {
    const r = parsePruneRemoval(REMOVE_TEXT);
    expect(r.removed.map((x) => x.kind)).toEqual(["c", "f", "b"]);
    expect(r.failed.map((f) => [f.kind, f.message.slice(0, 60)])).toEqual([
      ["c", "Error response from daemon: You cannot remove a running cont"],
      ["i", "a container uses it: 0325e1dee3ff"],
      ["i", "a container uses it: 0325e1dee3ff"],
      ["i", "not an ID"],
    ]);
    expect([r.after?.engineBytes, r.after?.filesBytes]).toEqual([1_984_000, 17735 + 8195]);
  });
});

const LISTED = `@@longshore-prune:images@@
{"id":"${id("4")}","repoTags":["shop:4"],"repoDigests":[],"parent":"","created":"2026-01-04T00:00:00Z","size":5000000,"layers":["${id("5")}"]}
{"id":"${id("7")}","repoTags":["junk:1"],"repoDigests":null,"parent":"","created":"2026-01-01T00:00:00Z","size":2000000,"layers":["${id("8")}"]}
@@longshore-prune:containers@@
{"id":"${hex("1")}","name":"/shop-4","image":"${id("4")}","state":"running","labels":{"io.longshore.version":"4"}}
@@longshore-prune:bundles@@
@@longshore-prune:packages@@
@@longshore-prune:blobs@@
${hex("5")}\t3000
${hex("8")}\t1000
@@longshore-prune:df@@
{"Active":"1","Reclaimable":"2MB (28%)","Size":"7MB","TotalCount":"2","Type":"Images"}
@@longshore-prune:files@@
0
4000
@@longshore-prune:end@@
`;
const REMOVED = `removed i ${id("7")}
removed f ${hex("8")}
@@longshore-prune:removals-done@@
@@longshore-prune:df@@
{"Active":"1","Reclaimable":"0B (0%)","Size":"5MB","TotalCount":"1","Type":"Images"}
@@longshore-prune:files@@
0
3000
@@longshore-prune:end@@
`;

function hostTransport(name = "blue-1"): FakeTransport {
  return new FakeTransport(name, {
    rules: [
      { match: (t) => t.includes("removals-done"), result: { stdout: REMOVED } },
      { match: (t) => t.includes("@@longshore-prune:images@@"), result: { stdout: LISTED } },
    ],
    unmatched: "error",
  });
}

describe("one host (provisioner/prune-host.ts)", () => {
  it("a dry run is the listing alone", async () => {
    const t = hostTransport();
    const r = await pruneHost(t, USES, { keep: 2, dryRun: true });
    expect(t.execs).toHaveLength(1);
    expect(r.plan.images.map((i) => i.tags)).toEqual([["junk:1"]]);
    expect([r.removal, r.freedBytes, r.disk.after]).toEqual([undefined, undefined, undefined]);
  });

  it("a real run removes by ID and measures again: freed is the engine's and the directories' bytes before less after", async () => {
    const t = hostTransport();
    const r = await pruneHost(t, USES, { keep: 2 });
    expect(t.execs).toHaveLength(2);
    expect(t.calls[1]!.kind === "exec" && t.calls[1]!.display.endsWith(`sh /var/lib/longshore/bundle /var/lib/longshore/blobs i:${id("7")} f:${hex("8")}`)).toBe(true);
    expect(r.freedBytes).toBe(7_000_000 + 4000 - (5_000_000 + 3000));
  });

  it("a listing that fails is a CommandFailedError naming the host and the step; nothing is removed", async () => {
    const t = new FakeTransport("blue-1", { rules: [{ match: /longshore-prune/, result: { exitCode: 1, stderr: "Cannot connect to the Docker daemon\n" } }] });
    const e = await pruneHost(t, USES, { keep: 2 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandFailedError);
    expect((e as Error).message).toBe("blue-1: prune.list (prune): `sh -c <prune.list script>` exited 1\n    Cannot connect to the Docker daemon");
    expect(t.execs).toHaveLength(1);
  });
});

describe("the prune verb's inputs (pure)", () => {
  it("checks every flag at once", () => {
    expect(pruneOptions({})).toEqual({ keep: 2, dryRun: false, slot: null, hosts: [] });
    expect(pruneOptions({ keep: "0", dryRun: true, slot: "green", host: ["a", "b"] })).toEqual({ keep: 0, dryRun: true, slot: "green", hosts: ["a", "b"] });
    expect(() => pruneOptions({ keep: "-1", slot: "red" })).toThrow(ConfigError);
    try {
      pruneOptions({ keep: "two", slot: "red" });
    } catch (e) {
      expect((e as ConfigError).issues).toEqual([
        { path: "--keep", message: 'must be a whole number of versions (0 or more); got "two"' },
        { path: "--slot", message: 'must be blue or green; got "red"' },
      ]);
    }
  });

  it("what the environment uses: the slots' images (live, rollback), the accessories', the app's repositories and releases", () => {
    const parsed = parseEnvironment("name: shop\napp: { name: shop, image: 'registry.example:5000/team/shop:5' }\naccessories: { db: { image: postgres:16, port: 5432 } }\n");
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const status = {
      live: "green" as const,
      url: null,
      slots: { blue: { image: "registry.example:5000/team/shop:3", hosts: [] }, green: { image: "registry.example:5000/team/shop@sha256:" + hex("d"), hosts: [] } },
    };
    expect(environmentUses(parsed.value, status)).toEqual({
      images: [
        { ref: "registry.example:5000/team/shop:3", why: "rollback (blue)" },
        { ref: "registry.example:5000/team/shop@sha256:" + hex("d"), why: "live (green)" },
        { ref: "postgres:16", why: "accessory db" },
      ],
      appRepositories: ["registry.example:5000/team/shop"],
      releases: ["3", `sha256-${hex("d").slice(0, 12)}`],
    });
  });

  it("--slot and --host pick hosts; a --host the environment lacks is an error naming those it has", () => {
    const h = (name: string, role: EnvironmentHost["role"]): EnvironmentHost => ({ name, role, target: { name } as SshTarget });
    const all = [h("b1", "blue"), h("g1", "green"), h("db", "accessory")];
    expect(pickPruneHosts(all, { slot: null, hosts: [] }).map((x) => x.name)).toEqual(["b1", "g1", "db"]);
    expect(pickPruneHosts(all, { slot: "green", hosts: [] }).map((x) => x.name)).toEqual(["g1"]);
    expect(pickPruneHosts(all, { slot: null, hosts: ["db", "b1"] }).map((x) => x.name)).toEqual(["b1", "db"]);
    expect(() => pickPruneHosts(all, { slot: "blue", hosts: ["g1"] })).toThrow('--host: "g1" is not a host of the blue slot (it has b1)');
  });
});

describe("longshore prune (the verb, with a scripted driver and fake connections)", () => {
  const ENV = "name: shop\napp: { name: shop, image: 'shop:4' }\n";

  function harness(o: { sshHosts?: boolean; connect?: (t: SshTarget) => Promise<FakeTransport> } = {}) {
    const cwd = mkdtempSync(path.join(tmp, "cli-"));
    writeFileSync(path.join(cwd, "longshore.yaml"), ENV);
    const { driver } = fakeDriver({ live: "green", blue: "shop:3", green: "shop:4", size: 1 }, () => []);
    const target = (name: string): SshTarget => ({ name, address: "10.0.0.9", port: 22, user: "root", auth: { privateKeyFile: "/k" }, hostKey: { fingerprints: ["SHA256:x"] } });
    if (o.sshHosts !== false) {
      driver.sshHosts = async () => [
        { name: "blue-1", role: "blue", target: target("blue-1") },
        { name: "green-1", role: "green", target: target("green-1") },
      ];
    }
    const transports: FakeTransport[] = [];
    const out = { stdout: "", stderr: "" };
    const deps: CliDeps = {
      connect: async (t) => {
        const x = o.connect ? await o.connect(t) : hostTransport(t.name);
        transports.push(x);
        return x;
      },
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
      env: {},
      cwd,
      homeDir: cwd,
      readFile: (p) => readFile(p, "utf8"),
      secretReader: systemSecretReader({}),
      startDemoSshd: async () => {
        throw new Error("no");
      },
      environmentDriver: async () => driver,
      destroyEnvironment: async () => [],
      operationLockDir: () => path.join(cwd, "locks"),
      gitUserEmail: async () => null,
      userAtHost: () => "me@here",
    };
    return { run: (...argv: string[]) => main(argv, deps), out, transports, cwd };
  }

  it("prunes every host: per host what went and the space freed; --json gives the same as one document", async () => {
    const h = harness();
    expect(await h.run("prune")).toBe(EXIT.ok);
    expect(h.out.stdout).toBe(
      [
        "environment shop: pruned (keeping the 2 newest versions of the app, and every image in use)",
        "blue-1 (blue): removed 0 containers, 1 image, 0 bundles, 1 blob; freed 1.9 MiB",
        `  image 777777777777 junk:1 (1.9 MiB): no container or slot uses it`,
        "  1 blob of the store (1000 B): no image left uses them",
        "  keeps image 444444444444 shop:4: live (green)",
        "green-1 (green): removed 0 containers, 1 image, 0 bundles, 1 blob; freed 1.9 MiB",
        `  image 777777777777 junk:1 (1.9 MiB): no container or slot uses it`,
        "  1 blob of the store (1000 B): no image left uses them",
        "  keeps image 444444444444 shop:4: live (green)",
        "",
      ].join("\n"),
    );
    expect(h.transports.map((t) => [t.host, t.execs.length, t.closeCount])).toEqual([
      ["blue-1", 2, 1],
      ["green-1", 2, 1],
    ]);
    expect(await h.run("prune", "--json", "--host", "green-1")).toBe(EXIT.ok);
    const doc = JSON.parse(h.out.stdout.slice(h.out.stdout.indexOf("{")));
    expect([doc.environment, doc.dryRun, doc.keep, doc.hosts.length, doc.hosts[0].host, doc.hosts[0].freedBytes]).toEqual(["shop", false, 2, 1, "green-1", 2_001_000]);
    expect(doc.uses.images).toEqual([
      { ref: "shop:3", why: "rollback (blue)" },
      { ref: "shop:4", why: "live (green)" },
    ]);
    expect(doc.hosts[0].removed.images).toEqual([{ id: id("7"), tags: ["junk:1"], size: 2_000_000, why: "no container or slot uses it" }]);
    // The lock was taken and given back.
    expect(existsSync(path.join(h.cwd, "locks", "shop.lock"))).toBe(false);
  });

  it("--dry-run only lists: says what would go, runs no removal", async () => {
    const h = harness();
    expect(await h.run("prune", "--dry-run", "--slot", "blue")).toBe(EXIT.ok);
    expect(h.out.stdout.split("\n").slice(0, 2)).toEqual([
      "environment shop: dry run, nothing removed (keeping the 2 newest versions of the app, and every image in use)",
      "blue-1 (blue): would remove 0 containers, 1 image, 0 bundles, 1 blob",
    ]);
    expect(h.transports.map((t) => [t.host, t.execs.length])).toEqual([["blue-1", 1]]);
  });

  it("a host whose key does not match is not pruned, the others are; exit 3", async () => {
    const h = harness({
      connect: async (t) => {
        if (t.name === "blue-1") throw new HostKeyError("blue-1", ["SHA256:x"], "SHA256:y");
        return hostTransport(t.name);
      },
    });
    expect(await h.run("prune")).toBe(EXIT.unreachable);
    expect(h.out.stdout.split("\n")[1]).toBe("blue-1 (blue): not pruned: its SSH host key does not match its pin (presented SHA256:y): not connected");
    expect(h.out.stdout.split("\n")[2]).toMatch(/^green-1 \(green\): removed /);
  });

  it("a driver with no SSH hosts (aws) is refused before anything, exit 2; bad flags too", async () => {
    const h = harness({ sshHosts: false });
    expect(await h.run("prune")).toBe(EXIT.badInput);
    expect(h.out.stderr).toBe("error: longshore.yaml is invalid (1 problem):\n  driver: `longshore prune` needs hosts it reaches over SSH, and this driver has none (AMIs and other cloud images are not pruned either)\n");
    const g = harness();
    expect(await g.run("prune", "--keep", "x", "--host", "nope")).toBe(EXIT.badInput);
    expect(g.transports).toEqual([]);
    expect(await g.run("prune", "--host", "nope")).toBe(EXIT.badInput);
    expect(g.out.stderr).toContain('--host: "nope" is not a host of the environment (it has blue-1, green-1)');
    expect(g.transports).toEqual([]);
  });
});
