// Does not prove dockerd accepts every combination of these keys: only that longshore refuses bad input and renders stable daemon.json bytes.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { bundleRecipeSchema, configuredCgroupDriver, isBundleDirectory, parseEngineOptions } from "../../model/engine";
import { parseOrThrow } from "../../model/zod-issues";
import { renderDaemonJson } from "../../templates/engine/daemon-json";

function problems(input: unknown): string[] {
  try {
    parseEngineOptions(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error("expected a ConfigError");
}

const TLS = { tlsverify: true, tlscacert: "/etc/docker/ca.pem", tlscert: "/etc/docker/cert.pem", tlskey: "/etc/docker/key.pem" };

describe("engine options", () => {
  it("fills the safe defaults", () => {
    expect(parseEngineOptions({})).toEqual({
      channel: "bundle",
      bundle: "debian-bookworm",
      daemon: {
        "log-driver": "json-file",
        "log-opts": { "max-size": "10m", "max-file": "3" },
        "live-restore": true,
        "userland-proxy": false,
        "storage-driver": "overlay2",
      },
    });
  });

  it("takes a bundle recipe (with or without an architecture) or a bundle directory", () => {
    expect(["debian-bookworm-arm64", "debian-trixie", "./bundles/engine", "/srv/bundle"].map((bundle) => parseEngineOptions({ bundle }).bundle)).toEqual([
      "debian-bookworm-arm64",
      "debian-trixie",
      "./bundles/engine",
      "/srv/bundle",
    ]);
    expect(isBundleDirectory("./x")).toBe(true);
    expect(isBundleDirectory("a/b")).toBe(true);
    expect(isBundleDirectory("debian-bookworm")).toBe(false);
  });

  it("refuses a bundle that is neither a recipe nor a path, and a bundle with channel distro", () => {
    const recipe =
      "bundle: must be a bundle directory (a path with a /) or a recipe name debian-<suite>[-<arch>] such as debian-bookworm (arch one of amd64, arm64, armhf, i386, ppc64el, s390x, riscv64)";
    expect(problems({ bundle: "ubuntu-noble" })).toEqual([recipe]);
    expect(problems({ bundle: "" })).toEqual(["bundle: must not be empty", recipe]);
    expect(problems({ channel: "distro", bundle: "debian-trixie" })).toEqual([
      "bundle: goes with channel: bundle (channel: distro installs from the host's own apt sources)",
    ]);
  });

  it("takes fetch: archive with an optional archive mirror; fetch stays absent (upload) when not set", () => {
    expect(parseEngineOptions({}).fetch).toBeUndefined();
    expect(parseEngineOptions({ fetch: "upload" }).fetch).toBe("upload");
    expect(parseEngineOptions({ channel: "distro", fetch: "upload" }).fetch).toBe("upload");
    expect(parseEngineOptions({ fetch: "archive" })).toMatchObject({ channel: "bundle", fetch: "archive" });
    expect(parseEngineOptions({ fetch: "archive" }).archiveMirror).toBeUndefined();
    expect(
      ["http://deb.debian.org/debian", "https://mirror.example:8443/debian", "http://10.213.47.1:8080/debian", "http://cdn-aws.deb.debian.org/debian-security"].map(
        (archiveMirror) => parseEngineOptions({ fetch: "archive", archiveMirror }).archiveMirror,
      ),
    ).toEqual(["http://deb.debian.org/debian", "https://mirror.example:8443/debian", "http://10.213.47.1:8080/debian", "http://cdn-aws.deb.debian.org/debian-security"]);
  });

  it.each<[Record<string, unknown>, string[]]>([
    [{ fetch: "download" }, ['fetch: must be one of "upload", "archive"']],
    [{ channel: "distro", fetch: "archive" }, ["fetch: goes with channel: bundle (channel: distro installs from the host's own apt sources, with no bundle to fetch)"]],
    [{ archiveMirror: "http://deb.debian.org/debian" }, ["archiveMirror: goes with fetch: archive (with fetch: upload hosts download nothing)"]],
    [{ fetch: "upload", archiveMirror: "http://deb.debian.org/debian" }, ["archiveMirror: goes with fetch: archive (with fetch: upload hosts download nothing)"]],
    ...["ftp://deb.debian.org/debian", "http://deb.debian.org/debian/", "http://user:pw@mirror/debian", "http://mirror/debian?x=1", "http://mirror:70000/debian", "deb.debian.org/debian", "http://mirror/deb ian"].map(
      (archiveMirror): [Record<string, unknown>, string[]] => [{ fetch: "archive", archiveMirror }, ["archiveMirror: must be an http(s) URL of an archive's root (where pool/ is), such as http://deb.debian.org/debian"]],
    ),
  ])("refuses %j", (input, expected) => {
    expect(problems(input)).toEqual(expected);
  });

  it("keeps the default log-opts the user did not override", () => {
    expect(parseEngineOptions({ daemon: { "log-opts": { "max-size": "50m" } } }).daemon["log-opts"]).toEqual({ "max-size": "50m", "max-file": "3" });
  });

  it("accepts a full, valid set", () => {
    const o = parseEngineOptions({
      channel: "distro",
      daemon: {
        "exec-opts": ["native.cgroupdriver=systemd"],
        "default-address-pools": [{ base: "10.200.0.0/16", size: 24 }],
        "registry-mirrors": ["https://mirror.example:5000"],
        "insecure-registries": ["10.213.47.1:5000", "registry.local:443", "10.0.0.0/8"],
        dns: ["10.213.47.1", "2001:db8::53"],
        mtu: 1450,
        "max-concurrent-downloads": 6,
        features: { buildkit: true },
        hosts: ["fd://", "unix:///run/docker-extra.sock", "tcp://0.0.0.0:2376"],
        ...TLS,
      },
    });
    expect(o.channel).toBe("distro");
    expect(configuredCgroupDriver(o.daemon)).toBe("systemd");
    expect(configuredCgroupDriver(parseEngineOptions({}).daemon)).toBeNull();
  });

  it.each<[string, unknown, string[]]>([
    ["an unknown engine option", { daemon: { "experimental-magic": true } }, ["daemon.experimental-magic: unknown key"]],
    ["an unknown top-level option", { chanel: "distro" }, ["chanel: unknown key"]],
    [
      "a tcp host without TLS",
      { daemon: { hosts: ["fd://", "tcp://0.0.0.0:2375"] } },
      [
        "daemon.hosts[1]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
      ],
    ],
    [
      "a tcp host with tls but no client verification",
      { daemon: { hosts: ["fd://", "tcp://10.0.0.5:2376"], tls: true, tlscert: "/c.pem", tlskey: "/k.pem" } },
      [
        "daemon.hosts[1]: tcp://10.0.0.5:2376 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
      ],
    ],
    [
      "tlsverify without its files",
      { daemon: { hosts: ["fd://", "tcp://10.0.0.5:2376"], tlsverify: true } },
      [
        "daemon.hosts[1]: tcp://10.0.0.5:2376 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
        "daemon.tlscacert: required when tlsverify is true",
        "daemon.tlscert: required when tlsverify is true",
        "daemon.tlskey: required when tlsverify is true",
      ],
    ],
    [
      "hosts without the systemd socket",
      { daemon: { hosts: ["unix:///run/docker.sock"] } },
      ['daemon.hosts: must include "fd://": Debian\'s docker.service is started by docker.socket, which hands dockerd /run/docker.sock through it'],
    ],
    ["a malformed host", { daemon: { hosts: ["fd://", "http://x:1"] } }, ["daemon.hosts[1]: must be fd://, unix:///absolute/path.sock or tcp://ADDRESS:PORT"]],
    [
      "an insecure registry without a valid port",
      { daemon: { "insecure-registries": ["registry.local:70000", "registry.local"] } },
      [
        "daemon.insecure-registries[0]: must be host:port (port 1-65535) or an IPv4 CIDR such as 10.0.0.0/8",
        "daemon.insecure-registries[1]: must be host:port (port 1-65535) or an IPv4 CIDR such as 10.0.0.0/8",
      ],
    ],
    ["a bad cgroup driver", { daemon: { "exec-opts": ["native.cgroupdriver=lxc"] } }, ["daemon.exec-opts[0]: must be native.cgroupdriver=cgroupfs or native.cgroupdriver=systemd"]],
    [
      "an address pool smaller than its base",
      { daemon: { "default-address-pools": [{ base: "10.200.0.0/16", size: 12 }] } },
      ["daemon.default-address-pools[0].size: must be at least the prefix length of base"],
    ],
    ["a bad DNS server", { daemon: { dns: ["10.0.0.300"] } }, ["daemon.dns[0]: must be an IPv4 or IPv6 address"]],
    ["an MTU that is text", { daemon: { mtu: "1500" } }, ["daemon.mtu: must be a number (got a string)"]],
    ["a bad log size", { daemon: { "log-opts": { "max-size": "ten" } } }, ["daemon.log-opts.max-size: must be a size like 10m, 512k or 1g"]],
    ["a relative data-root", { daemon: { "data-root": "docker" } }, ["daemon.data-root: must be an absolute path"]],
    ["a mirror with a path", { daemon: { "registry-mirrors": ["https://m.example/v2/"] } }, ["daemon.registry-mirrors[0]: must be an http(s) URL with no path, e.g. https://mirror.example:5000"]],
  ])("refuses %s, naming the path", (_what, input, expected) => {
    expect(problems(input)).toEqual(expected);
  });

  it("reports every problem at once, in a message with paths", () => {
    try {
      parseEngineOptions({ channel: "ppa", daemon: { mtu: 10, bogus: 1 } }, "web.yaml", "engine");
      throw new Error("expected a ConfigError");
    } catch (e) {
      expect((e as Error).message).toBe(
        [
          "web.yaml is invalid (3 problems):",
          '  engine.channel: must be one of "bundle", "distro"',
          "  engine.daemon.mtu: must be at least 68",
          "  engine.daemon.bogus: unknown key",
        ].join("\n"),
      );
    }
  });
});

describe("daemon.json", () => {
  it("renders sorted keys, two-space indent and a trailing newline", () => {
    expect(renderDaemonJson(parseEngineOptions({}).daemon)).toBe(
      [
        "{",
        '  "live-restore": true,',
        '  "log-driver": "json-file",',
        '  "log-opts": {',
        '    "max-file": "3",',
        '    "max-size": "10m"',
        "  },",
        '  "storage-driver": "overlay2",',
        '  "userland-proxy": false',
        "}",
        "",
      ].join("\n"),
    );
  });

  it("gives the same bytes for the same options in any key order", () => {
    const a = parseEngineOptions({ daemon: { mtu: 1450, dns: ["10.0.0.2"], "log-opts": { "max-file": "5", "max-size": "1m" } } });
    const b = parseEngineOptions({ daemon: { "log-opts": { "max-size": "1m", "max-file": "5" }, dns: ["10.0.0.2"], mtu: 1450 } });
    expect(renderDaemonJson(a.daemon)).toBe(renderDaemonJson(b.daemon));
    expect(renderDaemonJson(a.daemon)).not.toBe(renderDaemonJson(parseEngineOptions({}).daemon));
  });
});

describe("bundle recipe", () => {
  const base = {
    source: "debian",
    distribution: "debian",
    suite: "bookworm",
    arch: "amd64",
    sources: [{ uri: "http://deb.debian.org/debian", suite: "bookworm", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" }],
    packages: ["docker.io", "containerd"],
    enginePackage: "docker.io",
  };

  it("accepts a recipe and defaults the baseline to minbase", () => {
    expect(parseOrThrow(bundleRecipeSchema, base, "recipe").baseline).toBe("minbase");
  });

  it("refuses a source without a keyring (never an unsigned archive)", () => {
    const { signedBy: _dropped, ...unsigned } = base.sources[0]!;
    expect(() => parseOrThrow(bundleRecipeSchema, { ...base, sources: [unsigned] }, "recipe")).toThrow(
      "recipe is invalid (1 problem):\n  sources[0].signedBy: is required",
    );
  });

  it("refuses an engine package that is not requested, and an unknown architecture", () => {
    expect(() => parseOrThrow(bundleRecipeSchema, { ...base, enginePackage: "docker-ce" }, "recipe")).toThrow(
      "recipe is invalid (1 problem):\n  enginePackage: must be one of packages (docker.io, containerd)",
    );
    expect(() => parseOrThrow(bundleRecipeSchema, { ...base, arch: "x86_64" }, "recipe")).toThrow(
      'recipe is invalid (1 problem):\n  arch: must be one of "amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64"',
    );
  });
});
