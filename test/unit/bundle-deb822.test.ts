// Does not read a real archive's index (test/integration/bundle-native.test.ts parses Debian's): it checks the deb822, relation, Packages and Release parsers on written samples.
import { describe, expect, it } from "vitest";
import { parsePackagesIndex, parseRelations, parseRelease, parseStanzas } from "../../provisioner/bundle/deb822";

const SHA = (c: string) => c.repeat(64);

describe("deb822 stanzas", () => {
  it("splits on blank lines, lower-cases field names, joins continuation lines and skips comments", () => {
    const s = parseStanzas("Package: a\nDescription: short\n long line\n .\n more\n# comment\nVERSION: 1\n\n\r\nPackage: b\r\nVersion: 2\r\n");
    expect(s.map((x) => Object.fromEntries(x))).toEqual([
      { package: "a", description: "short\nlong line\n\nmore", version: "1" },
      { package: "b", version: "2" },
    ]);
  });
});

describe("relationship fields", () => {
  it("parses groups, alternatives, version relations and arch qualifiers", () => {
    expect(parseRelations("libc6 (>= 2.34), iptables | nftables, python3:any (<< 3.12~), foo:native, bar (= 1:2.0-1), old (> 1), older (< 2)")).toEqual([
      [{ name: "libc6", relation: ">=", version: "2.34" }],
      [{ name: "iptables" }, { name: "nftables" }],
      [{ name: "python3", archQualifier: "any", relation: "<<", version: "3.12~" }],
      [{ name: "foo", archQualifier: "native" }],
      [{ name: "bar", relation: "=", version: "1:2.0-1" }],
      [{ name: "old", relation: ">=", version: "1" }],
      [{ name: "older", relation: "<=", version: "2" }],
    ]);
    expect(parseRelations(undefined)).toEqual([]);
    expect(parseRelations("a,\n b")).toEqual([[{ name: "a" }], [{ name: "b" }]]);
  });

  it("refuses text that is not a relation, quoting it", () => {
    expect(() => parseRelations("libc6 (>= 2.34, x")).toThrow('not a package relation: "libc6 (>= 2.34"');
  });
});

describe("Packages index", () => {
  const TEXT = `Package: docker.io
Version: 20.10.24+dfsg1-1+b3
Architecture: amd64
Multi-Arch: foreign
Priority: optional
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: adduser, containerd (>= 1.2.6-1), iptables, libc6 (>= 2.34), runc (>= 1.0.0~rc92)
Recommends: apparmor, ca-certificates
Provides: docker-engine (= 20.10.24)
Filename: pool/main/d/docker.io/docker.io_20.10.24+dfsg1-1+b3_amd64.deb
Size: 26157544
SHA256: ${SHA("a")}

Package: netbase
Version: 6.4
Architecture: all
Priority: required
Filename: pool/main/n/netbase/netbase_6.4_all.deb
Size: 12800
SHA256: ${SHA("b")}
`;

  it("keeps what resolving and downloading need (no Recommends)", () => {
    expect(parsePackagesIndex(TEXT)).toEqual([
      {
        name: "docker.io",
        version: "20.10.24+dfsg1-1+b3",
        arch: "amd64",
        multiArch: "foreign",
        priority: "optional",
        preDepends: [[{ name: "init-system-helpers", relation: ">=", version: "1.54~" }]],
        depends: [
          [{ name: "adduser" }],
          [{ name: "containerd", relation: ">=", version: "1.2.6-1" }],
          [{ name: "iptables" }],
          [{ name: "libc6", relation: ">=", version: "2.34" }],
          [{ name: "runc", relation: ">=", version: "1.0.0~rc92" }],
        ],
        provides: [{ name: "docker-engine", relation: "=", version: "20.10.24" }],
        filename: "pool/main/d/docker.io/docker.io_20.10.24+dfsg1-1+b3_amd64.deb",
        size: 26157544,
        sha256: SHA("a"),
      },
      { name: "netbase", version: "6.4", arch: "all", multiArch: "no", priority: "required", preDepends: [], depends: [], provides: [], filename: "pool/main/n/netbase/netbase_6.4_all.deb", size: 12800, sha256: SHA("b") },
    ]);
  });

  it("refuses a record without Filename, Size or SHA256, naming the index and the package", () => {
    expect(() => parsePackagesIndex("Package: x\nVersion: 1\nArchitecture: amd64\nSize: 1\nSHA256: " + SHA("c") + "\n", "main/binary-amd64/Packages.gz")).toThrow(
      "main/binary-amd64/Packages.gz: the record of x lacks Version, Architecture, Filename, Size or SHA256",
    );
  });
});

describe("Release (the signed text of InRelease)", () => {
  const release = (extra: string) => `Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
${extra}SHA256:
 ${SHA("d")} 12084798 main/binary-amd64/Packages.gz
 ${SHA("e")}  8790396 main/binary-amd64/Packages.xz
`;

  it("reads dates, the SHA256 list and where arch all packages are", () => {
    const r = parseRelease(release("Valid-Until: Wed, 09 Dec 2026 23:13:43 UTC\nArchitectures: all amd64 arm64\nNo-Support-for-Architecture-all: Packages\n"));
    expect(r.suite).toBe("oldstable");
    expect(r.codename).toBe("bookworm");
    expect(r.date?.toISOString()).toBe("2026-07-11T10:16:37.000Z");
    expect(r.validUntil?.toISOString()).toBe("2026-12-09T23:13:43.000Z");
    expect(r.architectures).toEqual(["all", "amd64", "arm64"]);
    expect(r.separateArchAll).toBe(false);
    expect([...r.sha256.values()]).toEqual([
      { path: "main/binary-amd64/Packages.gz", size: 12084798, sha256: SHA("d") },
      { path: "main/binary-amd64/Packages.xz", size: 8790396, sha256: SHA("e") },
    ]);
  });

  it("binary-all is separate only when Architectures lists all without No-Support-for-Architecture-all (as apt decides)", () => {
    expect(parseRelease(release("Architectures: all amd64\n")).separateArchAll).toBe(true);
    expect(parseRelease(release("Architectures: amd64 arm64\n")).separateArchAll).toBe(false);
    expect(parseRelease(release("")).validUntil).toBeUndefined();
  });

  it("refuses a date it cannot read", () => {
    expect(() => parseRelease(release("Valid-Until: tomorrow\n"))).toThrow('the Release file\'s valid-until is not a date: "tomorrow"');
  });
});
