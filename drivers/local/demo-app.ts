/**
 * The demo application's image, written directly as a `docker save` archive (manifest.json,
 * repositories, config JSON, one layer tar) — no docker, no registry, no network. The layer holds
 * Debian's statically linked /bin/busybox, `sh`/`httpd` symlinks, a tiny /www and /bin/serve, which
 * runs `busybox httpd -f -p 8080 -h /www` as a child of PID 1 so that SIGTERM stops it at once. Every byte is
 * fixed (mtime 0, uid/gid 0, sorted members, fixed `created`), so the image ID — the sha256 of the
 * config — is the same on every build from the same busybox.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { PreconditionError } from "../../core/errors";
import { writeFileAtomic } from "../../core/atomic-write";
import { sortEntries, writeTar, type TarEntry } from "./tar";

/** The versions the demo comes in. */
export const DEMO_VERSIONS = ["v1", "v2", "broken"] as const;

/** One of {@link DEMO_VERSIONS}. */
export type DemoVersion = (typeof DEMO_VERSIONS)[number];

/** The image's repository name. */
export const DEMO_REPOSITORY = "longshore-demo";

/** The port busybox httpd listens on inside the container. */
export const DEMO_PORT = 8080;

/** Bumped when the image layout changes in a way the inputs do not show. */
const BUILDER_VERSION = 1;

const EPOCH = "1970-01-01T00:00:00Z";

/** A built image. */
export interface DemoImage {
  version: DemoVersion;
  /** `longshore-demo:v1` */
  repoTag: string;
  /** `sha256:<hex>` of the config JSON: what `docker images --no-trunc` shows as IMAGE ID. */
  imageId: string;
  /** `sha256:<hex>` of the uncompressed layer. */
  diffId: string;
  /** The archive bytes (docker save format). */
  archive: Buffer;
}

/** Where the static files of the demo live (next to this module in the source tree). */
export function demoAppDir(): string {
  const candidates = [path.join(__dirname, "demo-app"), path.resolve(__dirname, "..", "..", "..", "drivers", "local", "demo-app")];
  const found = candidates.find((d) => fs.existsSync(path.join(d, "index.html")));
  if (!found) throw new Error(`demo application files not found in ${candidates.join(" or ")}`);
  return found;
}

/** Statically linked: an ELF with no PT_INTERP program header (a dynamic busybox cannot run in a scratch image). */
export function isStaticElf(bin: Uint8Array): boolean {
  const b = Buffer.from(bin);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64 only
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > b.length) return false;
    if (b.readUInt32LE(off) === 3) return false; // PT_INTERP
  }
  return true;
}

/** Reads this computer's busybox-static binary. */
export function readBusybox(file = "/bin/busybox"): Buffer {
  let bin: Buffer;
  try {
    bin = fs.readFileSync(file);
  } catch {
    throw new PreconditionError(`${file} not found`, { suggestion: "apt-get install busybox-static" });
  }
  if (!isStaticElf(bin)) {
    throw new PreconditionError(`${file} is not a statically linked ELF64 binary`, { suggestion: "apt-get install busybox-static (not busybox)" });
  }
  return bin;
}

function goArch(): string {
  return ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>)[process.arch] ?? process.arch;
}

/** The layer's members for `version`. Pure given the busybox bytes and the demo files. */
export function demoLayerEntries(version: DemoVersion, busybox: Uint8Array, files: (name: string) => string): TarEntry[] {
  const fill = (s: string) => s.split("{{version}}").join(version);
  const conf = fill(files("httpd.conf")) + (version === "broken" ? "E404:/www/unhealthy.html\n" : "");
  const entries: TarEntry[] = [
    { type: "dir", path: "bin", mode: 0o755 },
    { type: "file", path: "bin/busybox", mode: 0o755, content: busybox },
    { type: "file", path: "bin/serve", mode: 0o755, content: files("serve") },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "symlink", path: "bin/httpd", target: "busybox" },
    { type: "symlink", path: "bin/wget", target: "busybox" },
    { type: "dir", path: "etc", mode: 0o755 },
    { type: "file", path: "etc/httpd.conf", mode: 0o644, content: conf },
    { type: "dir", path: "tmp", mode: 0o1777 },
    { type: "dir", path: "www", mode: 0o755 },
    { type: "file", path: "www/index.html", mode: 0o644, content: fill(files("index.html")) },
    { type: "file", path: "www/unhealthy.html", mode: 0o644, content: fill(files("unhealthy.html")) },
  ];
  if (version !== "broken") entries.push({ type: "file", path: "www/healthz", mode: 0o644, content: fill(files("healthz")) });
  return sortEntries(entries);
}

function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The image config JSON (what the image ID is the hash of). */
export function demoConfig(version: DemoVersion, diffId: string, arch = goArch()): string {
  const config = {
    architecture: arch,
    config: {
      // bin/serve runs `busybox httpd -f -p 8080 -h /www` and forwards SIGTERM to it (fast `docker stop`).
      Entrypoint: ["/bin/serve"],
      Env: ["PATH=/bin"],
      ExposedPorts: { [`${DEMO_PORT}/tcp`]: {} },
      Healthcheck: {
        Test: ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${DEMO_PORT}/healthz`],
        Interval: 2_000_000_000,
        Timeout: 2_000_000_000,
        Retries: 3,
      },
      Labels: { "org.opencontainers.image.title": DEMO_REPOSITORY, "org.opencontainers.image.version": version },
      WorkingDir: "/www",
    },
    created: EPOCH,
    history: [{ created: EPOCH, created_by: `longshore demo-app builder ${BUILDER_VERSION} (${version})` }],
    os: "linux",
    rootfs: { type: "layers", diff_ids: [diffId] },
  };
  return JSON.stringify(config);
}

/** Assembles the `docker save` archive from a layer. Pure. */
export function dockerArchive(version: DemoVersion, layer: Buffer, arch = goArch()): DemoImage {
  const diffHex = sha256(layer);
  const diffId = `sha256:${diffHex}`;
  const config = demoConfig(version, diffId, arch);
  const imageHex = sha256(config);
  const repoTag = `${DEMO_REPOSITORY}:${version}`;
  const layerDir = diffHex;
  const manifest = JSON.stringify([{ Config: `${imageHex}.json`, RepoTags: [repoTag], Layers: [`${layerDir}/layer.tar`] }]);
  const repositories = JSON.stringify({ [DEMO_REPOSITORY]: { [version]: layerDir } });
  const layerJson = JSON.stringify({ id: layerDir, created: EPOCH, os: "linux", architecture: arch });
  const archive = writeTar(
    sortEntries<TarEntry>([
      { type: "dir", path: layerDir, mode: 0o755 },
      { type: "file", path: `${layerDir}/VERSION`, content: "1.0" },
      { type: "file", path: `${layerDir}/json`, content: layerJson },
      { type: "file", path: `${layerDir}/layer.tar`, content: layer },
      { type: "file", path: `${imageHex}.json`, content: config },
      { type: "file", path: "manifest.json", content: manifest },
      { type: "file", path: "repositories", content: repositories },
    ]),
  );
  return { version, repoTag, imageId: `sha256:${imageHex}`, diffId, archive };
}

/** Builds the image in memory from this computer's busybox and the demo files. */
export function demoImage(version: DemoVersion, busyboxFile = "/bin/busybox"): DemoImage {
  const dir = demoAppDir();
  const files = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
  const layer = writeTar(demoLayerEntries(version, readBusybox(busyboxFile), files));
  return dockerArchive(version, layer);
}

/**
 * Builds the image and stores it: in the cache under its image ID (written once, reused after),
 * and at `out` when given. Returns the stored file.
 */
export function buildDemoImage(version: DemoVersion, options: { cacheDir: string; out?: string }): DemoImage & { file: string } {
  const img = demoImage(version);
  const cached = path.join(options.cacheDir, "images", `${DEMO_REPOSITORY}-${version}-${img.imageId.slice(7, 19)}.tar`);
  if (!fs.existsSync(cached) || fs.statSync(cached).size !== img.archive.length) writeFileAtomic(cached, img.archive, 0o644);
  if (options.out) writeFileAtomic(options.out, img.archive, 0o644);
  return { ...img, file: options.out ?? cached };
}
