/**
 * Engine options: how the container engine gets onto a host (`channel`) and the subset of
 * dockerd's `daemon.json` longshore lets users set, under the engine's own key names so they can
 * be searched for in Docker's documentation. Strict: an unknown option is an error with its path.
 * Also the bundle recipe: which apt sources and packages an offline engine bundle is built from.
 *
 * Security rule enforced here, before any host is touched: the engine never listens on TCP
 * without mutual TLS (`tlsverify` with a CA, a certificate and a key).
 */
import { z } from "zod";
import { absolutePathSchema as absolutePath, CIDR4, HOSTNAME, IPV4, isIPv6, isPortText } from "./net";
import { parseOrThrow } from "./zod-issues";

// ---------------------------------------------------------------------------------------------
// Small validated values

/** `host:port` (DNS name or IPv4, port 1-65535) or an IPv4 CIDR, as `insecure-registries` takes. */
const insecureRegistry = z.string().refine((v) => {
  if (CIDR4.test(v)) return true;
  const i = v.lastIndexOf(":");
  return i > 0 && HOSTNAME.test(v.slice(0, i)) && isPortText(v.slice(i + 1));
}, "must be host:port (port 1-65535) or an IPv4 CIDR such as 10.0.0.0/8");

const registryMirror = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?\/?$/, "must be an http(s) URL with no path, e.g. https://mirror.example:5000");

const dnsServer = z.string().refine((v) => IPV4.test(v) || isIPv6(v), "must be an IPv4 or IPv6 address");

/** Values dockerd's json-file/local log drivers accept. */
const logOpts = z.strictObject({
  "max-size": z.string().regex(/^[1-9][0-9]*[kmg]?$/, "must be a size like 10m, 512k or 1g"),
  "max-file": z.string().regex(/^[1-9][0-9]{0,3}$/, "must be a whole number of files, as a string (\"3\")"),
  compress: z.enum(["true", "false"]).optional(),
  mode: z.enum(["blocking", "non-blocking"]).optional(),
  "max-buffer-size": z.string().regex(/^[1-9][0-9]*[kmg]?$/, "must be a size like 4m").optional(),
  tag: z.string().min(1).optional(),
});

/** `hosts` entries: the systemd socket, unix sockets, or TCP (TCP only with mutual TLS: see below). */
const daemonHost = z.string().refine((v) => {
  if (v === "fd://") return true;
  if (v.startsWith("unix://")) return /^unix:\/\/\/[^\0\n ]+$/.test(v);
  const m = /^tcp:\/\/([^:/]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})$/.exec(v);
  if (!m) return false;
  const host = m[1]!.replace(/^\[|\]$/g, "");
  return (IPV4.test(host) || isIPv6(host) || HOSTNAME.test(host)) && isPortText(m[2]!);
}, "must be fd://, unix:///absolute/path.sock or tcp://ADDRESS:PORT");

// ---------------------------------------------------------------------------------------------
// daemon.json

/** The safe defaults longshore writes when the user sets nothing. */
export const DAEMON_DEFAULTS = Object.freeze({
  "log-driver": "json-file",
  "log-opts": Object.freeze({ "max-size": "10m", "max-file": "3" }),
  "live-restore": true,
  "userland-proxy": false,
  "storage-driver": "overlay2",
});

/**
 * The accepted subset of `daemon.json`. Anything else (including keys dockerd itself knows) is
 * refused, so a typo never silently does nothing and no option outside what longshore tests slips in.
 */
export const daemonConfigSchema = z
  .strictObject({
    "log-driver": z.enum(["json-file", "local", "journald", "syslog", "none"]).default("json-file"),
    "log-opts": logOpts.partial().prefault({}).transform((o) => ({ ...DAEMON_DEFAULTS["log-opts"], ...stripUndefined(o) })),
    /** Containers keep running while dockerd restarts (upgrades, config changes). */
    "live-restore": z.boolean().default(true),
    /** Published ports through iptables only, not one docker-proxy process per port. */
    "userland-proxy": z.boolean().default(false),
    "storage-driver": z.enum(["overlay2", "btrfs", "zfs", "fuse-overlayfs", "vfs"]).default("overlay2"),
    "exec-opts": z
      .array(z.enum(["native.cgroupdriver=cgroupfs", "native.cgroupdriver=systemd"], "must be native.cgroupdriver=cgroupfs or native.cgroupdriver=systemd"))
      .max(1, "set native.cgroupdriver at most once")
      .optional(),
    "default-address-pools": z
      .array(
        z
          .strictObject({
            base: z.string().regex(CIDR4, "must be an IPv4 CIDR such as 10.200.0.0/16"),
            size: z.number().int().min(8).max(30),
          })
          .refine((p) => Number(p.base.split("/")[1]) <= p.size, {
            message: "must be at least the prefix length of base",
            path: ["size"],
          }),
      )
      .min(1)
      .optional(),
    "registry-mirrors": z.array(registryMirror).optional(),
    "insecure-registries": z.array(insecureRegistry).optional(),
    dns: z.array(dnsServer).min(1).optional(),
    mtu: z.number().int().min(68).max(65535).optional(),
    "max-concurrent-downloads": z.number().int().min(1).max(64).optional(),
    "max-concurrent-uploads": z.number().int().min(1).max(64).optional(),
    features: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a feature name"), z.boolean()).optional(),
    debug: z.boolean().optional(),
    "log-level": z.enum(["debug", "info", "warn", "error", "fatal"]).optional(),
    labels: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]*=[^\n]*$/, "must be key=value with a lower-case key")).optional(),
    "data-root": absolutePath.optional(),
    bip: z.string().regex(CIDR4, "must be an IPv4 address with prefix, such as 172.26.0.1/16").optional(),
    icc: z.boolean().optional(),
    hosts: z.array(daemonHost).min(1).optional(),
    tls: z.boolean().optional(),
    tlsverify: z.boolean().optional(),
    tlscacert: absolutePath.optional(),
    tlscert: absolutePath.optional(),
    tlskey: absolutePath.optional(),
  })
  .superRefine((d, ctx) => {
    const hosts = d.hosts ?? [];
    const mutualTls = d.tlsverify === true && !!d.tlscacert && !!d.tlscert && !!d.tlskey;
    hosts.forEach((h, i) => {
      if (h.startsWith("tcp://") && !mutualTls) {
        ctx.addIssue({
          code: "custom",
          path: ["hosts", i],
          message: `${h} would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket`,
        });
      }
    });
    if (d.hosts !== undefined && !hosts.includes("fd://")) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts"],
        message: 'must include "fd://": Debian\'s docker.service is started by docker.socket, which hands dockerd /run/docker.sock through it',
      });
    }
    if (d.tlsverify === true) {
      for (const key of ["tlscacert", "tlscert", "tlskey"] as const) {
        if (!d[key]) ctx.addIssue({ code: "custom", path: [key], message: "required when tlsverify is true" });
      }
    }
    if (d.tls === false && d.tlsverify === true) {
      ctx.addIssue({ code: "custom", path: ["tls"], message: "cannot be false when tlsverify is true" });
    }
  });

/** A validated daemon.json, safe defaults filled in. */
export type DaemonConfig = z.output<typeof daemonConfigSchema>;

function stripUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The cgroup driver the config asks for, or null to let dockerd choose (cgroupfs on v1, systemd on v2). */
export function configuredCgroupDriver(d: DaemonConfig): "cgroupfs" | "systemd" | null {
  const opt = d["exec-opts"]?.find((o) => o.startsWith("native.cgroupdriver="));
  return opt ? (opt.slice("native.cgroupdriver=".length) as "cgroupfs" | "systemd") : null;
}

// ---------------------------------------------------------------------------------------------
// Engine options

/** Target architectures (Debian names). */
export const DEB_ARCHES = ["amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64"] as const;

/**
 * A bundle recipe by name: `debian-<suite>` builds Debian's docker.io for that release and each
 * host's architecture; `debian-<suite>-<arch>` for one architecture only.
 */
export const BUNDLE_RECIPE_PATTERN = new RegExp(`^debian-([a-z][a-z0-9-]*?)(?:-(${DEB_ARCHES.join("|")}))?$`);

/** A recipe name's parts: the suite, and the architecture when the name pins one. Null for anything else. Pure. */
export function parseBundleRecipe(name: string): { suite: string; arch: (typeof DEB_ARCHES)[number] | null } | null {
  const m = BUNDLE_RECIPE_PATTERN.exec(name);
  return m ? { suite: m[1]!, arch: (m[2] as (typeof DEB_ARCHES)[number] | undefined) ?? null } : null;
}

/** True when `engine.bundle` names a directory (a path) rather than a recipe. */
export function isBundleDirectory(value: string): boolean {
  return value.includes("/") || value.startsWith(".");
}

/** An archive root: http(s), a host, an optional port and path; no query, fragment, credentials or trailing slash. */
const ARCHIVE_MIRROR = /^https?:\/\/[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(?:\/[A-Za-z0-9._~%+-]+)*$/;

function isArchiveMirror(v: string): boolean {
  const m = ARCHIVE_MIRROR.exec(v);
  return m !== null && (m[1] === undefined || isPortText(m[1]));
}

/**
 * How the engine gets onto a host:
 * - `bundle` (default): from a checksummed offline bundle (`longshore engine bundle`); no host
 *   needs a route to any package archive and every host gets the same bytes.
 * - `distro`: `apt-get install docker.io containerd runc tini` from the host's own apt sources.
 */
export const engineOptionsSchema = z
  .strictObject({
    /** @default "bundle" */
    channel: z.enum(["bundle", "distro"]).default("bundle"),
    /**
     * With `channel: bundle`: a recipe name (`debian-bookworm`: Debian 12's engine for each host's
     * architecture; `debian-bookworm-arm64`: one architecture) built from this computer's Debian
     * mirror and cached, or a bundle directory (a path, relative to the environment file).
     * @default "debian-bookworm"
     */
    bundle: z
      .string()
      .min(1)
      .regex(/^[^\0\n\r]*$/, "must be a recipe name or a path")
      .refine(
        (v) => isBundleDirectory(v) || BUNDLE_RECIPE_PATTERN.test(v),
        `must be a bundle directory (a path with a /) or a recipe name debian-<suite>[-<arch>] such as debian-bookworm (arch one of ${DEB_ARCHES.join(", ")})`,
      )
      .default("debian-bookworm"),
    /**
     * With `channel: bundle`: who fetches the bundle's .deb files onto a host.
     * - `upload`: this computer sends them over SSH (~64 MiB per host); hosts need no route to any archive.
     * - `archive`: each host downloads them itself with apt's own downloader (`apt-helper
     *   download-file`) from the archive they came from (or {@link archiveMirror}), each checked
     *   against the sha256 the lock pins (which came from the archive's signed index). For hosts
     *   with egress and a mirror nearby (AWS behind NAT); only the manifest and SHA256SUMS go over SSH.
     * Left absent rather than filled in, so the host plan of an environment that does not set it
     * (and its hash, which Pulumi diffs) is the same as before the option existed.
     * @default "upload"
     */
    fetch: z.enum(["upload", "archive"]).optional(),
    /**
     * With `fetch: archive`: the root of a mirror of the archive the bundle's packages come from
     * (where its `pool/` is, as in a sources.list `deb` line), used instead of the URI the bundle
     * was resolved from. @default the bundle recipe's own source URIs
     */
    archiveMirror: z
      .string()
      .refine(isArchiveMirror, "must be an http(s) URL of an archive's root (where pool/ is), such as http://deb.debian.org/debian")
      .optional(),
    /** dockerd's `daemon.json`, the accepted subset, under dockerd's own key names. @default longshore's safe defaults */
    daemon: daemonConfigSchema.prefault({}),
  })
  .superRefine((e, ctx) => {
    if (e.channel === "distro" && e.bundle !== "debian-bookworm") {
      ctx.addIssue({ code: "custom", path: ["bundle"], message: "goes with channel: bundle (channel: distro installs from the host's own apt sources)" });
    }
    if (e.channel === "distro" && e.fetch === "archive") {
      ctx.addIssue({ code: "custom", path: ["fetch"], message: "goes with channel: bundle (channel: distro installs from the host's own apt sources, with no bundle to fetch)" });
    }
    if (e.archiveMirror !== undefined && e.fetch !== "archive") {
      ctx.addIssue({ code: "custom", path: ["archiveMirror"], message: "goes with fetch: archive (with fetch: upload hosts download nothing)" });
    }
  });

/** Validated engine options. */
export type EngineOptions = z.output<typeof engineOptionsSchema>;

/** Parses engine options, or throws a ConfigError with every problem and its path. */
export function parseEngineOptions(input: unknown, source = "engine options", prefix = ""): EngineOptions {
  return parseOrThrow(engineOptionsSchema, input, source, prefix);
}

// ---------------------------------------------------------------------------------------------
// Bundle recipe

const debPackageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name");

/** One apt source, as a `deb [signed-by=...] URI SUITE COMPONENTS...` line says it. */
export const aptSourceSchema = z.strictObject({
  uri: z.string().regex(/^(https?|file):\/\/[^\s\]]+$/, "must be an http(s):// or file:// URI"),
  suite: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, "must be a suite or codename such as bookworm"),
  components: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*(\/[a-z0-9-]+)*$/, "must be a component such as main")).min(1),
  /** Keyring that signs this source's Release file; never trust an unsigned source. */
  signedBy: absolutePath,
});

/** An apt source. */
export type AptSource = z.output<typeof aptSourceSchema>;

/**
 * What an engine bundle is built from. The recipe is data so users can pin the engine to another
 * archive (Docker's own repository, Ubuntu) without code changes.
 */
export const bundleRecipeSchema = z
  .strictObject({
    /** Where the engine comes from: Debian's archive (docker.io), Docker's repository (docker-ce), Ubuntu's archive. */
    source: z.enum(["debian", "docker", "ubuntu"]),
    distribution: z.enum(["debian", "ubuntu"]),
    suite: z.string().regex(/^[a-z][a-z0-9-]*$/, "must be a codename such as bookworm"),
    arch: z.enum(DEB_ARCHES),
    sources: z.array(aptSourceSchema).min(1),
    /** Packages asked for by name; their dependencies are resolved by apt. */
    packages: z.array(debPackageName).min(1),
    /** The package whose upstream version is "the engine version" (docker.io, docker-ce). */
    enginePackage: debPackageName,
    /**
     * What the target host is assumed to have already:
     * - `minbase`: what `debootstrap --variant=minbase` installs (every Priority: required package,
     *   plus apt, with their dependencies). True of every Debian/Ubuntu system.
     * - `none`: nothing; the bundle carries every dependency down to libc6 (larger).
     */
    baseline: z.enum(["minbase", "none"]).default("minbase"),
  })
  .superRefine((r, ctx) => {
    if (!r.packages.includes(r.enginePackage)) {
      ctx.addIssue({ code: "custom", path: ["enginePackage"], message: `must be one of packages (${r.packages.join(", ")})` });
    }
  });

/** A validated bundle recipe. */
export type BundleRecipe = z.output<typeof bundleRecipeSchema>;
