// Unit: the longshore.lock format (parse with every problem's path, deterministic print, round trip),
// its pure edits and package diff, and the read/modify/write edge on a temporary directory. Does not
// prove that a rollout or `engine update` write it (bundle-pin.test.ts and the e2e do).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import {
  describePackageChanges,
  diffPackages,
  EMPTY_LOCK,
  lockFilePath,
  parseLockFile,
  readLockFile,
  recordBundle,
  recordImage,
  serializeLockFile,
  withBundle,
  withImage,
  withoutBundle,
  type BundlePin,
  type LockFile,
} from "../../model/lock-file";

const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const IMAGE_1 = `sha256:${"1".repeat(64)}`;
const IMAGE_2 = `sha256:${"2".repeat(64)}`;

const PIN: BundlePin = {
  recipe: "debian-bookworm-amd64",
  id: ID_A,
  packages: { runc: "1.1.5+ds1-1+deb12u1", "docker.io": "20.10.24+dfsg1-1+deb12u1+b6", containerd: "1.6.20~ds1-1+deb12u1", "libdevmapper1.02.1": "2:1.02.185-2", tini: "0.19.0-1+b3" },
};

const LOCK: LockFile = withImage(withImage(withBundle(EMPTY_LOCK, "amd64", PIN), "registry.example:5000/shop:v2", IMAGE_2), "longshore-demo:v1", IMAGE_1);

const GOLDEN = `# longshore.lock: what this environment's deliveries are pinned to (docs/environment.md).
# Written by longshore (the first up/rollout, \`longshore engine update\`): do not edit it by hand;
# keep it in git and review its changes like code.
version: 1
engine:
  amd64:
    recipe: debian-bookworm-amd64
    id: ${ID_A}
    packages:
      containerd: 1.6.20~ds1-1+deb12u1
      docker.io: 20.10.24+dfsg1-1+deb12u1+b6
      libdevmapper1.02.1: 2:1.02.185-2
      runc: 1.1.5+ds1-1+deb12u1
      tini: 0.19.0-1+b3
images:
  longshore-demo:v1: ${IMAGE_1}
  registry.example:5000/shop:v2: ${IMAGE_2}
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-lock-file-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("serializeLockFile", () => {
  it("prints the header, version, engine and images in a fixed order, maps sorted", () => {
    expect(serializeLockFile(LOCK)).toBe(GOLDEN);
  });

  it("prints an empty lock as empty maps", () => {
    expect(serializeLockFile(EMPTY_LOCK).split("\n").filter((l) => !l.startsWith("#"))).toEqual(["version: 1", "engine: {}", "images: {}", ""]);
  });

  it("gives the same bytes whatever order the maps were built in", () => {
    const reversed: LockFile = {
      images: Object.fromEntries(Object.entries(LOCK.images).reverse()),
      engine: { amd64: { packages: Object.fromEntries(Object.entries(PIN.packages).reverse()), id: ID_A, recipe: PIN.recipe } },
      version: 1,
    };
    expect(serializeLockFile(reversed)).toBe(GOLDEN);
  });

  it("round-trips: parse(serialize(x)) deep-equals x, versions that look like numbers included", () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{1,20}$/);
    const version = fc.oneof(fc.stringMatching(/^[A-Za-z0-9.+~:-]{1,30}$/), fc.constantFrom("1.0", "1e5", "0x10", "010", "1:2.0", "true", "null", "~", ".inf", ".NaN", "0o7", ".5", "-1", "1:2"));
    const pin = (arch: string) =>
      fc.record({
        recipe: fc.constant(`debian-bookworm-${arch}`),
        id: fc.stringMatching(/^[a-f0-9]{64}$/),
        packages: fc.dictionary(name, version, { minKeys: 1, maxKeys: 12 }),
      });
    const images = fc.dictionary(fc.constantFrom("web:1", "registry.example:5000/a/b:v2", "x@sha256:" + "f".repeat(64), "localhost/y"), fc.stringMatching(/^sha256:[a-f0-9]{64}$/));
    fc.assert(
      fc.property(fc.record({ amd64: fc.option(pin("amd64"), { nil: undefined }), arm64: fc.option(pin("arm64"), { nil: undefined }) }), images, (engine, imgs) => {
        const lock: LockFile = { version: 1, engine: Object.fromEntries(Object.entries(engine).filter(([, p]) => p !== undefined)), images: imgs };
        const text = serializeLockFile(lock);
        const back = parseLockFile(text);
        expect(back).toEqual({ ok: true, value: lock });
        if (back.ok) expect(serializeLockFile(back.value)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});

describe("parseLockFile", () => {
  const bad = (text: string, file?: string) => {
    const r = parseLockFile(text, file);
    return r.ok ? "parsed" : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it("reads what it writes", () => {
    expect(parseLockFile(GOLDEN)).toEqual({ ok: true, value: LOCK });
  });

  it("defaults engine and images to nothing pinned", () => {
    expect(parseLockFile("version: 1\n")).toEqual({ ok: true, value: EMPTY_LOCK });
  });

  it("reports every problem with its path in the file", () => {
    const text = [
      "version: 2",
      "engine:",
      "  amd64:",
      "    recipe: bookworm",
      "    id: abc",
      "    packages: {}",
      "  sparc: {}",
      "  arm64:",
      "    recipe: debian-bookworm-arm64",
      `    id: ${ID_B}`,
      "    packages:",
      "      Docker.io: 1.0",
      "      tini: 'two words'",
      "    extra: 1",
      "images:",
      "  'Bad Ref': sha256:1",
      `  web:1: ${IMAGE_1.toUpperCase()}`,
      "mystery: true",
      "",
    ].join("\n");
    expect(bad(text)).toEqual([
      "longshore.lock: version: must be 1 (the lock format this longshore reads)",
      "longshore.lock: engine.amd64.recipe: must be a recipe name debian-<suite>-<arch> such as debian-bookworm-amd64",
      "longshore.lock: engine.amd64.id: must be a bundle id: 64 lower-case hex digits",
      "longshore.lock: engine.amd64.packages: must list the bundle's packages",
      "longshore.lock: engine.sparc: unknown key",
      'longshore.lock: engine.arm64.packages["Docker.io"]: must be a Debian package name',
      "longshore.lock: engine.arm64.packages.tini: must be a Debian version such as 20.10.24+dfsg1-1+deb12u1+b6",
      "longshore.lock: engine.arm64.extra: unknown key",
      'longshore.lock: images["Bad Ref"]: must not contain whitespace',
      'longshore.lock: images["web:1"]: must be an image ID: sha256: and 64 lower-case hex digits',
      "longshore.lock: mystery: unknown key",
    ]);
  });

  it("names the file as the caller knows it", () => {
    expect(bad(`version: 1\nengine:\n  amd64:\n    recipe: debian-bookworm-amd64\n    id: ${ID_A}\n`, "envs/prod/longshore.lock")).toEqual([
      "envs/prod/longshore.lock: engine.amd64.packages: is required",
    ]);
  });

  it("refuses a pin whose recipe names another architecture than its key", () => {
    const pin = (recipe: string) => `version: 1\nengine:\n  arm64:\n    recipe: ${recipe}\n    id: ${ID_A}\n    packages:\n      tini: 0.19.0-1\n`;
    expect(bad(pin("debian-bookworm-amd64"))).toEqual(["longshore.lock: engine.arm64.recipe: is for amd64, but is pinned under arm64 (expected debian-bookworm-arm64)"]);
    expect(bad(pin("debian-bookworm"))).toEqual(["longshore.lock: engine.arm64.recipe: names no architecture, but is pinned under arm64 (expected debian-bookworm-arm64)"]);
  });

  it("reports YAML problems (a merge conflict, duplicate keys) at their line", () => {
    expect(bad("version: 1\nversion: 1\n")).toEqual(["longshore.lock: line 2, column 1: YAML: Map keys must be unique"]);
    expect(bad(`version: 1\n<<<<<<< HEAD\nimages: {}\n=======\nimages: {}\n>>>>>>> other\n`)[0]).toMatch(/^longshore\.lock: line 2, column 1: YAML: /);
  });

  it("refuses an empty file and a file that is not a mapping", () => {
    expect(bad("")).toEqual(["longshore.lock: the file is empty: expected version: 1 (delete it to pin afresh)"]);
    expect(bad("- 1\n")).toEqual(["longshore.lock: must be a mapping (key: value) (got a list)"]);
  });
});

describe("edits", () => {
  it("withBundle, withoutBundle and withImage return new locks and leave their input alone", () => {
    const before = structuredClone(LOCK);
    const pin2: BundlePin = { ...PIN, id: ID_B };
    const a = withBundle(LOCK, "amd64", pin2);
    const b = withImage(LOCK, "longshore-demo:v1", IMAGE_2);
    const c = withoutBundle(LOCK, "amd64");
    expect(LOCK).toEqual(before);
    expect(a.engine.amd64?.id).toBe(ID_B);
    expect(b.images["longshore-demo:v1"]).toBe(IMAGE_2);
    expect(c.engine).toEqual({});
    expect(withBundle(EMPTY_LOCK, "arm64", { ...PIN, recipe: "debian-bookworm-arm64" }).engine).toEqual({ arm64: { ...PIN, recipe: "debian-bookworm-arm64" } });
    expect(EMPTY_LOCK).toEqual({ version: 1, engine: {}, images: {} });
  });

  it("lockFilePath is longshore.lock beside the environment file", () => {
    expect(lockFilePath("/srv/app/longshore.yaml")).toBe("/srv/app/longshore.lock");
    expect(lockFilePath("path/to/env.yaml")).toBe("path/to/longshore.lock");
    expect(lockFilePath("env.yaml")).toBe("longshore.lock");
  });
});

describe("diffPackages", () => {
  const after: BundlePin = { ...PIN, id: ID_B, packages: { ...PIN.packages, "docker.io": "20.10.25+dfsg1-1", iptables: "1.8.9-2" } };
  delete after.packages["libdevmapper1.02.1"];

  it("lists changed, added and removed packages, each sorted by name", () => {
    expect(diffPackages(PIN, after)).toEqual({
      added: [{ name: "iptables", version: "1.8.9-2" }],
      removed: [{ name: "libdevmapper1.02.1", version: "2:1.02.185-2" }],
      changed: [{ name: "docker.io", from: "20.10.24+dfsg1-1+deb12u1+b6", to: "20.10.25+dfsg1-1" }],
    });
    expect(describePackageChanges(diffPackages(PIN, after))).toEqual([
      "docker.io 20.10.24+dfsg1-1+deb12u1+b6 -> 20.10.25+dfsg1-1",
      "added iptables 1.8.9-2",
      "removed libdevmapper1.02.1 2:1.02.185-2",
    ]);
  });

  it("is empty for equal packages, and all added when nothing was pinned", () => {
    expect(diffPackages(PIN, { ...PIN, id: ID_B })).toEqual({ added: [], removed: [], changed: [] });
    expect(diffPackages(undefined, PIN).added.map((p) => p.name)).toEqual(["containerd", "docker.io", "libdevmapper1.02.1", "runc", "tini"]);
  });
});

describe("the file on disk", () => {
  it("a missing file is nothing pinned; a malformed one is a ConfigError listing every problem", async () => {
    const missing = await readLockFile(path.join(dir, "none", "longshore.lock"));
    expect(missing).toMatchObject({ exists: false, lock: EMPTY_LOCK, name: "longshore.lock" });
    const file = path.join(dir, "bad.lock");
    fs.writeFileSync(file, "version: 7\nimages: 3\n");
    const err = await readLockFile(file, "longshore.lock").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(
      "longshore.lock is invalid (2 problems):\n  longshore.lock: version: must be 1 (the lock format this longshore reads)\n  longshore.lock: images: must be a mapping (key: value) (got a number)",
    );
    expect((err as ConfigError).suggestion).toBe("longshore.lock is written by longshore: restore it from git, or delete it and run `longshore engine update` to pin afresh.");
  });

  it("recordImage and recordBundle read, change and write the file; concurrent records all land", async () => {
    const file = path.join(dir, "env", "longshore.lock");
    fs.mkdirSync(path.dirname(file));
    await Promise.all([
      recordImage(file, "longshore-demo:v1", IMAGE_1),
      recordImage(file, "registry.example:5000/shop:v2", IMAGE_2),
      recordBundle(file, "amd64", PIN),
    ]);
    expect(fs.readFileSync(file, "utf8")).toBe(GOLDEN);
    const mtime = fs.statSync(file).mtimeMs;
    await recordImage(file, "longshore-demo:v1", IMAGE_1);
    expect(fs.statSync(file).mtimeMs).toBe(mtime); // nothing changed: not rewritten
    expect(fs.readdirSync(path.dirname(file))).toEqual(["longshore.lock"]); // no temporary or lock files beside it
    await expect(recordImage(file, "Bad Ref", IMAGE_1)).rejects.toThrow('recordImage: "Bad Ref" -> "sha256:');
  });

  it("never rewrites a malformed file", async () => {
    const file = path.join(dir, "malformed", "longshore.lock");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, "version: [\n");
    await expect(recordImage(file, "web:1", IMAGE_1)).rejects.toBeInstanceOf(ConfigError);
    expect(fs.readFileSync(file, "utf8")).toBe("version: [\n");
  });
});
