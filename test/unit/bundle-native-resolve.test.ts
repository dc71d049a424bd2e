// Does not prove equality with apt on a real archive (test/integration/bundle-native.test.ts does, for Debian 12 and 13): it checks the resolver's rules on small hand-made indexes with exact results.
import { describe, expect, it } from "vitest";
import { PreconditionError } from "../../core/errors";
import { parseRelations, type PackageRecord } from "../../provisioner/bundle/deb822";
import { resolveNative, statusText } from "../../provisioner/bundle/native-resolve";

/** A record; relation fields written as in a control file. */
function pkg(name: string, version: string, o: { arch?: string; priority?: string; depends?: string; preDepends?: string; provides?: string; multiArch?: string } = {}): PackageRecord {
  const arch = o.arch ?? "amd64";
  return {
    name,
    version,
    arch,
    multiArch: o.multiArch ?? "no",
    priority: o.priority ?? "optional",
    depends: parseRelations(o.depends),
    preDepends: parseRelations(o.preDepends),
    provides: parseRelations(o.provides).flat(),
    filename: `pool/main/${name[0]}/${name}/${name}_${version}_${arch}.deb`,
    size: name.length * 100,
    sha256: name.padEnd(64, "0").slice(0, 64).replace(/[^a-f0-9]/g, "0"),
  };
}

const names = (r: ReturnType<typeof resolveNative>) => r.packages.map((p) => `${p.name}=${p.version}`);
const none = (records: PackageRecord[], packages: string[]) => resolveNative(records, { arch: "amd64", packages, baseline: "none" });

describe("native resolver", () => {
  it("takes the highest version across sources for the arch or all, ignoring other arches", () => {
    const r = none([pkg("tini", "0.19.0-1"), pkg("tini", "0.19.0-1+deb12u1"), pkg("tini", "9.9", { arch: "i386" }), pkg("netbase", "6.4", { arch: "all" })], ["tini", "netbase"]);
    expect(names(r)).toEqual(["tini=0.19.0-1+deb12u1", "netbase=6.4"]);
    expect(r.packages[1]).toEqual({ name: "netbase", version: "6.4", arch: "all", size: 700, sha256: pkg("netbase", "6.4").sha256, archivePath: "pool/main/n/netbase/netbase_6.4_all.deb" });
  });

  it("follows Pre-Depends and Depends depth first, never Recommends, each package once", () => {
    const r = none([pkg("a", "1", { preDepends: "b", depends: "c, b" }), pkg("b", "1", { depends: "d" }), pkg("c", "1", { depends: "d" }), pkg("d", "1")], ["a"]);
    expect(names(r)).toEqual(["a=1", "b=1", "d=1", "c=1"]);
  });

  it("alternatives: the first installable one, unless another is already chosen", () => {
    const idx = [pkg("app", "1", { depends: "missing | iptables | nftables" }), pkg("iptables", "1"), pkg("nftables", "1")];
    expect(names(none(idx, ["app"]))).toEqual(["app=1", "iptables=1"]);
    expect(names(none(idx, ["app", "nftables"]))).toEqual(["app=1", "nftables=1"]);
  });

  it("version relations: a candidate that does not satisfy moves on to the next alternative", () => {
    const idx = [pkg("app", "1", { depends: "lib (>= 2) | lib-compat (<< 3)" }), pkg("lib", "1.9"), pkg("lib-compat", "3~rc1")];
    expect(names(none(idx, ["app"]))).toEqual(["app=1", "lib-compat=3~rc1"]);
  });

  it("virtual packages: through Provides; a versioned dependency needs a versioned Provides", () => {
    const idx = [
      pkg("app", "1", { depends: "awk, mta (>= 2)" }),
      pkg("mawk", "1.3", { provides: "awk", priority: "required" }),
      pkg("gawk", "5", { provides: "awk" }),
      pkg("exim", "4", { provides: "mta" }),
      pkg("postfix", "3", { provides: "mta (= 3)" }),
    ];
    expect(names(none(idx, ["app"]))).toEqual(["app=1", "mawk=1.3", "postfix=3"]);
  });

  it(":any is satisfied by a Multi-Arch: allowed package only", () => {
    expect(names(none([pkg("app", "1", { depends: "perl:any" }), pkg("perl", "5", { multiArch: "allowed" })], ["app"]))).toEqual(["app=1", "perl=5"]);
    expect(() => none([pkg("app", "1", { depends: "perl:any" }), pkg("perl", "5")], ["app"])).toThrow("unsatisfiable dependency: app -> perl:any");
  });

  it("minbase: what the Priority: required packages and apt pull in is not in the bundle", () => {
    const idx = [
      pkg("libc6", "2.36", { priority: "required" }),
      pkg("dpkg", "1.21", { priority: "required", depends: "tar (>= 1.28)" }),
      pkg("tar", "1.34", { priority: "required" }),
      pkg("apt", "2.6", { priority: "important", depends: "libapt (>= 2.6)" }),
      pkg("libapt", "2.6"),
      pkg("docker.io", "20.10", { depends: "libc6 (>= 2.34), libapt, iptables", preDepends: "init-system-helpers" }),
      pkg("iptables", "1.8", { depends: "libc6" }),
      pkg("init-system-helpers", "1.65", { arch: "all" }),
    ];
    const r = resolveNative(idx, { arch: "amd64", packages: ["docker.io"], baseline: "minbase" });
    expect(r.baseline.map((p) => p.name)).toEqual(["apt", "dpkg", "libc6", "tar", "libapt"]);
    expect(names(r)).toEqual(["docker.io=20.10", "init-system-helpers=1.65", "iptables=1.8"]);
    expect(names(resolveNative(idx, { arch: "amd64", packages: ["docker.io"], baseline: "none" }))).toEqual(["docker.io=20.10", "init-system-helpers=1.65", "libc6=2.36", "libapt=2.6", "iptables=1.8"]);
  });

  it("refuses a package with no candidate, a dependency nothing satisfies (naming the chain), and a package the baseline has", () => {
    const idx = [pkg("a", "1", { depends: "b" }), pkg("b", "1", { depends: "c (>= 2) | d" }), pkg("c", "1"), pkg("libc6", "2", { priority: "required" }), pkg("apt", "2")];
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(PreconditionError);
        return (e as Error).message;
      }
      throw new Error("did not throw");
    };
    expect(err(() => none(idx, ["nope"]))).toBe("package nope has no installation candidate for amd64 in the recipe's sources");
    expect(err(() => none(idx, ["a"]))).toBe("unsatisfiable dependency: a -> b -> c (>= 2) | d: no candidate in the recipe's sources satisfies it");
    expect(err(() => resolveNative(idx, { arch: "amd64", packages: ["libc6"], baseline: "minbase" }))).toBe("apt would not install libc6 (already in the baseline?)");
  });

  it("writes the baseline as a dpkg status file", () => {
    expect(statusText([pkg("mawk", "1.3", { priority: "required", provides: "awk", preDepends: "libc6 (>= 2.34)", depends: "a | b:any", multiArch: "foreign" })])).toBe(
      "Package: mawk\nStatus: install ok installed\nPriority: required\nArchitecture: amd64\nMulti-Arch: foreign\nVersion: 1.3\nProvides: awk\nPre-Depends: libc6 (>= 2.34)\nDepends: a | b:any\n",
    );
  });
});
