// Does not contact any archive (the integration test does): it checks the recipes, the generated sources list and apt options, and the parsers of apt's output on captured samples.
import { describe, expect, it } from "vitest";
import { ConfigError, PreconditionError } from "../../core/errors";
import {
  aptDirs,
  aptOptions,
  archiveRootOf,
  parseIndexRecords,
  parsePrintUris,
  parseSimulatedInstalls,
  RequiredPackageCollector,
  statusFromRecords,
} from "../../provisioner/bundle/apt";
import {
  controllerSources,
  debianRecipe,
  DEBIAN_DEFAULT_SOURCES,
  dockerRecipe,
  HOST_DEBIAN_SOURCES,
  parseDeb822Sources,
  readSourcesFile,
  renderSourcesList,
  sourcesForSuite,
  ubuntuRecipe,
} from "../../provisioner/bundle/recipe";

/** This computer's /etc/apt/sources.list.d/debian.sources, as shipped. */
const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

describe("deb822 sources", () => {
  it("parses stanzas, comments and multi-word fields", () => {
    expect(parseDeb822Sources(DEBIAN_SOURCES)).toEqual([
      { types: ["deb"], uris: ["http://deb.debian.org/debian"], suites: ["bookworm", "bookworm-updates"], components: ["main"], signedBy: [KEYRING], enabled: true },
      { types: ["deb"], uris: ["http://deb.debian.org/debian-security"], suites: ["bookworm-security"], components: ["main"], signedBy: [KEYRING], enabled: true },
    ]);
  });

  it("handles case-insensitive fields, continuation lines, Enabled: no and inline keys", () => {
    const text = "types: deb deb-src\nuris: http://a.example/debian\n http://b.example/debian\nsuites: bookworm\ncomponents: main contrib\nEnabled: no\n\nTypes: deb\nURIs: http://c.example/x\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n";
    expect(parseDeb822Sources(text)).toEqual([
      { types: ["deb", "deb-src"], uris: ["http://a.example/debian", "http://b.example/debian"], suites: ["bookworm"], components: ["main", "contrib"], signedBy: [], enabled: false },
      { types: ["deb"], uris: ["http://c.example/x"], suites: ["bookworm"], components: ["main"], signedBy: [], enabled: true },
    ]);
  });

  it("takes the suite, -updates and -security for the recipe, in that order", () => {
    expect(sourcesForSuite(parseDeb822Sources(DEBIAN_SOURCES), "bookworm", ["main"], "debian.sources")).toEqual([
      { uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main"], signedBy: KEYRING },
      { uri: "http://deb.debian.org/debian", suite: "bookworm-updates", components: ["main"], signedBy: KEYRING },
      { uri: "http://deb.debian.org/debian-security", suite: "bookworm-security", components: ["main"], signedBy: KEYRING },
    ]);
  });

  it("another Debian release comes from the same mirrors and keyring, each suite renamed", () => {
    expect(sourcesForSuite(parseDeb822Sources(DEBIAN_SOURCES), "trixie", ["main"], "debian.sources")).toEqual([
      { uri: "http://deb.debian.org/debian", suite: "trixie", components: ["main"], signedBy: KEYRING },
      { uri: "http://deb.debian.org/debian", suite: "trixie-updates", components: ["main"], signedBy: KEYRING },
      { uri: "http://deb.debian.org/debian-security", suite: "trixie-security", components: ["main"], signedBy: KEYRING },
    ]);
  });

  it("refuses a file without the suite (and no Debian release to derive it from), or a source without a keyring file", () => {
    const stanzas = parseDeb822Sources("Types: deb\nURIs: http://x.example/ubuntu\nSuites: noble\nComponents: main\nSigned-By: /k.gpg\n");
    expect(() => sourcesForSuite(stanzas, "trixie", ["main"], "debian.sources")).toThrow(PreconditionError);
    expect(() => sourcesForSuite(stanzas, "trixie", ["main"], "debian.sources")).toThrow('debian.sources has no enabled "deb" source for trixie with component main');
    expect(() => sourcesForSuite(parseDeb822Sources(DEBIAN_SOURCES), "sid", ["main"], "debian.sources")).toThrow('debian.sources has no enabled "deb" source for sid');
    const unsigned = parseDeb822Sources("Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\nComponents: main\n");
    expect(() => sourcesForSuite(unsigned, "bookworm", ["main"], "x.sources")).toThrow("x.sources: the source http://x.example/debian bookworm has no Signed-By keyring file");
  });
});

describe("a controller without Debian's sources file (macOS, Windows, an Ubuntu CI runner)", () => {
  it("resolves from Debian's own archive: the same suites and keyring a fresh Debian 12 writes, renamed for trixie", () => {
    const c = controllerSources(null);
    expect(c.origin).toBe(`deb.debian.org (this computer has no ${HOST_DEBIAN_SOURCES})`);
    expect(c.sources).toBe(DEBIAN_DEFAULT_SOURCES);
    expect(c.sources).toEqual(parseDeb822Sources(DEBIAN_SOURCES));
    expect(renderSourcesList(debianRecipe({ suite: "trixie", arch: "amd64", hostSources: c.sources, sourcesFile: c.origin }))).toBe(
      `deb [arch=amd64 signed-by=${KEYRING}] http://deb.debian.org/debian trixie main\n` +
        `deb [arch=amd64 signed-by=${KEYRING}] http://deb.debian.org/debian trixie-updates main\n` +
        `deb [arch=amd64 signed-by=${KEYRING}] http://deb.debian.org/debian-security trixie-security main\n`,
    );
  });

  it("uses the file where there is one, and refuses a file the user named that does not exist", () => {
    expect(controllerSources(DEBIAN_SOURCES).origin).toBe(HOST_DEBIAN_SOURCES);
    expect(() => controllerSources(null, "/x/mirror.sources")).toThrow(PreconditionError);
    expect(() => controllerSources(null, "/x/mirror.sources")).toThrow(/^\/x\/mirror.sources does not exist$/);
  });

  it("reads a missing file as null and lets other errors through", async () => {
    const fail = (code: string) => async () => Promise.reject(Object.assign(new Error(code), { code }));
    await expect(readSourcesFile(fail("ENOENT"))).resolves.toBeNull();
    await expect(readSourcesFile(fail("EACCES"))).rejects.toThrow("EACCES");
    await expect(readSourcesFile(async (f) => `read ${f}`)).resolves.toBe(`read ${HOST_DEBIAN_SOURCES}`);
  });
});

describe("recipes", () => {
  const hostSources = parseDeb822Sources(DEBIAN_SOURCES);

  it("debian trixie adds the docker CLI (its own package there) and the real Compose (docker-compose 2.x); bookworm's Python Compose is not shipped", () => {
    const r = debianRecipe({ suite: "trixie", arch: "arm64", hostSources });
    expect(r.packages).toEqual(["docker.io", "containerd", "runc", "tini", "busybox-static", "docker-cli", "docker-compose"]);
    expect(r.sources.map((x) => x.suite)).toEqual(["trixie", "trixie-updates", "trixie-security"]);
  });

  it("debian: docker.io, containerd, runc, tini, busybox-static from this computer's mirror", () => {
    expect(debianRecipe({ suite: "bookworm", arch: "amd64", hostSources })).toEqual({
      source: "debian",
      distribution: "debian",
      suite: "bookworm",
      arch: "amd64",
      sources: sourcesForSuite(hostSources, "bookworm", ["main"], "x"),
      packages: ["docker.io", "containerd", "runc", "tini", "busybox-static"],
      enginePackage: "docker.io",
      baseline: "minbase",
    });
  });

  it("docker: docker-ce from the user's URI, with Debian for dependencies", () => {
    const r = dockerRecipe({ suite: "bookworm", arch: "arm64", uri: "https://docker.mirror.example/linux/debian", signedBy: "/etc/apt/keyrings/docker.gpg", hostSources, baseline: "none" });
    expect(r.packages).toEqual(["docker-ce", "docker-ce-cli", "containerd.io"]);
    expect(r.enginePackage).toBe("docker-ce");
    expect(renderSourcesList(r)).toBe(
      "deb [arch=arm64 signed-by=/etc/apt/keyrings/docker.gpg] https://docker.mirror.example/linux/debian bookworm stable\n" +
        `deb [arch=arm64 signed-by=${KEYRING}] http://deb.debian.org/debian bookworm main\n` +
        `deb [arch=arm64 signed-by=${KEYRING}] http://deb.debian.org/debian bookworm-updates main\n` +
        `deb [arch=arm64 signed-by=${KEYRING}] http://deb.debian.org/debian-security bookworm-security main\n`,
    );
  });

  it("ubuntu: docker.io from main and universe", () => {
    const r = ubuntuRecipe({ suite: "noble", arch: "amd64", uri: "http://ubuntu.mirror.example/ubuntu", signedBy: "/usr/share/keyrings/ubuntu-archive-keyring.gpg" });
    expect(renderSourcesList(r)).toBe(
      "deb [arch=amd64 signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] http://ubuntu.mirror.example/ubuntu noble main universe\n" +
        "deb [arch=amd64 signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] http://ubuntu.mirror.example/ubuntu noble-updates main universe\n" +
        "deb [arch=amd64 signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] http://ubuntu.mirror.example/ubuntu noble-security main universe\n",
    );
  });

  it("a bad URI from the user is a ConfigError with its path", () => {
    expect(() => ubuntuRecipe({ suite: "noble", arch: "amd64", uri: "ftp://x", signedBy: "/k.gpg" })).toThrow(ConfigError);
    expect(() => ubuntuRecipe({ suite: "noble", arch: "amd64", uri: "ftp://x", signedBy: "/k.gpg" })).toThrow(
      "bundle recipe is invalid (3 problems):\n  sources[0].uri: must be an http(s):// or file:// URI\n  sources[1].uri: must be an http(s):// or file:// URI\n  sources[2].uri: must be an http(s):// or file:// URI",
    );
  });
});

describe("private apt configuration", () => {
  it("points every apt directory into the private tree and pins the architecture", () => {
    const d = aptDirs("/c/apt/x");
    expect(aptOptions(d, "amd64")).toEqual([
      "-o", "Dir::State=/c/apt/x/state",
      "-o", "Dir::State::Lists=/c/apt/x/state/lists",
      "-o", "Dir::State::status=/c/apt/x/state/status",
      "-o", "Dir::State::extended_states=/c/apt/x/state/extended_states",
      "-o", "Dir::Cache=/c/apt/x/cache",
      "-o", "Dir::Cache::archives=/c/apt/x/cache/archives",
      "-o", "Dir::Cache::pkgcache=/c/apt/x/cache/pkgcache.bin",
      "-o", "Dir::Cache::srcpkgcache=/c/apt/x/cache/srcpkgcache.bin",
      "-o", "Dir::Etc::SourceList=/c/apt/x/etc/sources.list",
      "-o", "Dir::Etc::SourceParts=/c/apt/x/etc/sources.list.d",
      "-o", "Dir::Etc::Preferences=/c/apt/x/etc/preferences",
      "-o", "Dir::Etc::PreferencesParts=/c/apt/x/etc/preferences.d",
      "-o", "Dir::Etc::Trusted=/c/apt/x/etc/trusted.gpg",
      "-o", "Dir::Etc::TrustedParts=/c/apt/x/etc/trusted.gpg.d",
      "-o", "Dir::Log=/c/apt/x/log",
      "-o", "APT::Architecture=amd64",
      "-o", "APT::Architectures=amd64",
      "-o", "APT::Install-Recommends=false",
      "-o", "APT::Install-Suggests=false",
    ]);
    expect(aptOptions(d, "arm64", d.emptyStatus)).toContain("Dir::State::status=/c/apt/x/state/status-empty");
  });
});

describe("parsers of apt's output", () => {
  it("reads apt-get -s Inst lines (new installs and upgrades, multi-arch names)", () => {
    const text = [
      "NOTE: This is only a simulation!",
      "Inst libip4tc2 (1.8.9-2 Debian:12.15/oldstable [amd64])",
      "Inst docker.io (20.10.24+dfsg1-1+deb12u1+b6 Debian-Security:12/oldstable-security [amd64]) []",
      "Inst netbase (6.4 Debian:12.15/oldstable [all])",
      "Inst libc6 [2.36-9+deb12u10] (2.36-9+deb12u14 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])",
      "Inst libfoo1:arm64 (1.0-1 Debian:12.15/oldstable [arm64])",
      "Conf libip4tc2 (1.8.9-2 Debian:12.15/oldstable [amd64])",
    ].join("\n");
    expect(parseSimulatedInstalls(text)).toEqual([
      { name: "libip4tc2", version: "1.8.9-2", arch: "amd64" },
      { name: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6", arch: "amd64" },
      { name: "netbase", version: "6.4", arch: "all" },
      { name: "libc6", version: "2.36-9+deb12u14", arch: "amd64" },
      { name: "libfoo1", version: "1.0-1", arch: "arm64" },
    ]);
  });

  const RECORDS = `Package: tini
Version: 0.19.0-1+b3
Installed-Size: 1045
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Architecture: amd64
Description: tiny but valid init for containers
Section: admin
Priority: optional
Filename: pool/main/t/tini/tini_0.19.0-1+b3_amd64.deb
Size: 267204
MD5sum: 0cf37f6e610cbe0bfeff16477cab5abb
SHA256: ${"a".repeat(64)}

Package: tini
Version: 0.19.0-1+b3
Architecture: amd64
Filename: pool/main/t/tini/tini_0.19.0-1+b3_amd64.deb
Size: 267204
SHA256: ${"a".repeat(64)}

Package: netbase
Version: 6.4
Architecture: all
Priority: required
Filename: pool/main/n/netbase/netbase_6.4_all.deb
Size: 12800
SHA256: ${"b".repeat(64)}
`;

  it("reads index records (Size, SHA256, Filename) once per version", () => {
    expect(parseIndexRecords(RECORDS)).toEqual([
      { name: "tini", version: "0.19.0-1+b3", arch: "amd64", size: 267204, sha256: "a".repeat(64), archivePath: "pool/main/t/tini/tini_0.19.0-1+b3_amd64.deb" },
      { name: "netbase", version: "6.4", arch: "all", size: 12800, sha256: "b".repeat(64), archivePath: "pool/main/n/netbase/netbase_6.4_all.deb" },
    ]);
    expect(() => parseIndexRecords("Package: x\nVersion: 1\nArchitecture: amd64\nSize: 1\n")).toThrow("apt-cache show: the record of x lacks Version, Architecture, Size, SHA256 or Filename");
  });

  it("reads apt-get download --print-uris lines and finds each package's archive root", () => {
    // As apt 2.6 prints them (it percent-encodes + and ~ in the URI, not in the file name).
    const printed = parsePrintUris(
      "Reading package lists...\n" +
        `'http://deb.debian.org/debian/pool/main/r/runc/runc_1.1.5%2bds1-1%2bdeb12u1_amd64.deb' runc_1.1.5+ds1-1+deb12u1_amd64.deb 2709960 SHA256:${"c".repeat(64)}\n` +
        `'http://deb.debian.org/debian/pool/main/b/busybox/busybox_1.35.0-4%2bdeb12u1%2bb1_amd64.deb' busybox_1%3a1.35.0-4+deb12u1+b1_amd64.deb 452120 SHA256:${"d".repeat(64)}\n`,
    );
    expect(printed).toEqual([
      { uri: "http://deb.debian.org/debian/pool/main/r/runc/runc_1.1.5%2bds1-1%2bdeb12u1_amd64.deb", filename: "runc_1.1.5+ds1-1+deb12u1_amd64.deb", size: 2709960, sha256: "c".repeat(64) },
      { uri: "http://deb.debian.org/debian/pool/main/b/busybox/busybox_1.35.0-4%2bdeb12u1%2bb1_amd64.deb", filename: "busybox_1%3a1.35.0-4+deb12u1+b1_amd64.deb", size: 452120, sha256: "d".repeat(64) },
    ]);
    expect(archiveRootOf(printed[0]!.uri, "pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb")).toBe("http://deb.debian.org/debian");
    expect(archiveRootOf("http://deb.debian.org/debian-security/pool/updates/main/x/x_1_amd64.deb", "pool/updates/main/x/x_1_amd64.deb")).toBe("http://deb.debian.org/debian-security");
    expect(archiveRootOf(printed[0]!.uri, "pool/main/r/runc/runc_9_amd64.deb")).toBeNull();
    expect(archiveRootOf("http://x/%zz/a.deb", "a.deb")).toBeNull();
  });

  it("collects Priority: required names from dumpavail, line by line", () => {
    const c = new RequiredPackageCollector();
    for (const l of RECORDS.split("\n")) c.line(l);
    expect([...c.finish()]).toEqual(["netbase"]);
  });

  it("turns records into a dpkg status where exactly they are installed", () => {
    const s = statusFromRecords(RECORDS);
    expect(s.count).toBe(2);
    expect(s.text.split("\n\n").map((r) => r.split("\n").slice(0, 3).join("|"))).toEqual([
      "Package: tini|Status: install ok installed|Version: 0.19.0-1+b3",
      "Package: netbase|Status: install ok installed|Version: 6.4",
    ]);
    expect(s.text.endsWith("\n")).toBe(true);
  });
});
