/**
 * `engine.bundle`: puts the verified bundle on the host under
 * `/var/lib/longshore/bundle/<bundle id>/`, one file per .deb, in one of two ways (`engine.fetch`):
 *
 * - `upload` (default): each file is uploaded only when the host's copy has a different sha256, so
 *   a re-run sends nothing and an interrupted upload resumes where it stopped.
 * - `archive`: the host downloads each .deb itself with apt's own downloader (`apt-helper
 *   download-file URI DEST SHA256:<hex>`, which refuses bytes with another hash) from
 *   `<archive root>/<archivePath>`; only a file missing or with another sha256 is fetched. Only
 *   manifest.json and SHA256SUMS go over SSH.
 *
 * Either way the host then checks every .deb with coreutils' `sha256sum --check` against a
 * SHA256SUMS file derived from the manifest and marks the bundle `.verified` (so engine.install
 * is the same for both); nothing fetched partly or with another hash is ever under `debs/`.
 *
 * Why individual files and not one tar: .deb files are already compressed (a tar.gz gains ~0),
 * per-file sha comparison is the runner's existing contract, a dropped connection costs one file
 * not the whole bundle, and the host needs no unpack step (nor twice the disk space).
 */
import * as path from "node:path";
import { PreconditionError } from "../../core/errors";
import type { Command } from "../command";
import type { RemoteFile, Step } from "../step";
import { DEBS_DIR, MANIFEST_FILE, renderManifest, renderSha256Sums, type BundleManifest } from "../bundle/manifest";
import { HOST_PATHS, requireBundle, type ProvisionContext } from "./engine-context";

/** The bundle's directory on a host. */
export function remoteBundleDir(bundleId: string): string {
  return `${HOST_PATHS.bundleRoot}/${bundleId}`;
}

/** Absolute paths of the bundle's .deb files on the host, sorted by package name. */
export function remoteDebPaths(ctx: Pick<ProvisionContext, "bundle" | "engine">): string[] {
  const { manifest } = requireBundle(ctx);
  const dir = remoteBundleDir(manifest.id);
  return manifest.packages.map((p) => `${dir}/${DEBS_DIR}/${p.filename}`);
}

/** apt's downloader, on every Debian and Ubuntu host (package apt). */
export const APT_HELPER = "/usr/lib/apt/apt-helper";

/**
 * apt options for the host's downloads: no privilege drop to `_apt` (the destination is root's
 * bundle directory, which `_apt` cannot write: apt would warn and download as root anyway) and a
 * 30 s stall timeout instead of apt's 120 s, so an unreachable mirror fails the step sooner.
 */
export const APT_HELPER_OPTIONS = ["-o", "APT::Sandbox::User=root", "-o", "Acquire::http::Timeout=30"] as const;

/**
 * The host's fetch script (constant text: every value is an argument). Arguments: the bundle
 * directory, then `<uri> <file> <sha256>` per package. A file already in `debs/` with the right
 * sha256 is kept; any other is fetched into `partial/` and moved into `debs/` only once apt-helper
 * has checked its hash. On the first failure it names the URI and stops: `.verified` is written
 * only by the final `sha256sum --check` of every file.
 */
export const ARCHIVE_FETCH_SCRIPT = `# longshore engine.bundle: fetch the bundle's .deb files from the archive
set -u
dir=$1; shift
mkdir -p "$dir/${DEBS_DIR}" "$dir/partial" && cd "$dir" || exit 1
n=$(($# / 3)); i=0; fetched=0
while [ $# -ge 3 ]; do
  uri=$1; file=$2; sha=$3; shift 3; i=$((i + 1))
  if [ -f "${DEBS_DIR}/$file" ] && printf '%s  %s\\n' "$sha" "${DEBS_DIR}/$file" | sha256sum --check --status 2>/dev/null; then continue; fi
  echo "longshore-progress: fetching $i/$n $uri" >&2
  rm -f "${DEBS_DIR}/$file" "partial/$file" "partial/$file.FAILED"
  if ! ${APT_HELPER} ${APT_HELPER_OPTIONS.join(" ")} download-file "$uri" "partial/$file" "SHA256:$sha" >/dev/null; then
    if [ -e "partial/$file.FAILED" ]; then
      echo "longshore: $uri: hash mismatch: it is not the .deb the lock pins (sha256 $sha); check engine.archiveMirror, or set engine.fetch: upload" >&2
    else
      echo "longshore: could not fetch $uri: check that the host can reach the archive (or engine.archiveMirror), or set engine.fetch: upload to send the bundle over SSH" >&2
    fi
    rm -f "partial/$file" "partial/$file.FAILED"
    exit 1
  fi
  mv "partial/$file" "${DEBS_DIR}/$file" || exit 1
  fetched=$((fetched + 1))
done
rmdir partial 2>/dev/null
echo "longshore-progress: fetched $fetched of $n files from the archive" >&2
sha256sum --check --strict --quiet SHA256SUMS && touch .verified
`;

/** `<root>/<path>` with each path segment percent-encoded (as apt encodes `+` and `~`). */
export function archiveUrl(root: string, archivePath: string): string {
  return `${root}/${archivePath.split("/").map((s) => encodeURIComponent(s).replace(/~/g, "%7E")).join("/")}`;
}

/** Why a bundle cannot be fetched from the archive: the engine key at fault, the problem, what to do. */
export interface ArchiveFetchProblem {
  key: "fetch" | "archiveMirror";
  message: string;
  suggestion: string;
}

/**
 * Why hosts cannot fetch this bundle from the archive (with `archiveMirror` when set), or null: the
 * manifest lacks archive paths (built by an older longshore), or one mirror would have to serve
 * packages of several archives. Pure; the CLI reports it before any host, the plan refuses it too.
 */
export function archiveFetchProblem(manifest: Pick<BundleManifest, "id" | "packages" | "recipe">, mirror: string | undefined): ArchiveFetchProblem | null {
  const missing = manifest.packages.filter((p) => !p.archivePath || !p.archiveUri).map((p) => p.name);
  if (missing.length > 0) {
    return {
      key: "fetch",
      message: `archive: bundle ${manifest.id.slice(0, 12)} does not record where the archive keeps ${missing.join(", ")} (it was built before longshore recorded archive paths)`,
      suggestion: `Run \`longshore engine bundle --distro ${manifest.recipe.suite} --arch ${manifest.recipe.arch}\`: it records them in the cached bundle (same bundle id, the lock stays valid), or set engine.fetch: upload.`,
    };
  }
  const roots = [...new Set(manifest.packages.map((p) => p.archiveUri!))].sort();
  if (mirror !== undefined && roots.length > 1) {
    return {
      key: "archiveMirror",
      message: `the bundle's packages come from ${roots.length} archives (${roots.join(", ")}); one mirror cannot stand in for all of them`,
      suggestion: "Remove engine.archiveMirror (hosts then use each package's own archive), or set engine.fetch: upload.",
    };
  }
  return null;
}

/**
 * The URL each package is fetched from (`archiveMirror`, or the source it was resolved from, plus
 * its archive path), in manifest order. Throws a PreconditionError for an {@link archiveFetchProblem}. Pure.
 */
export function archiveUrls(manifest: Pick<BundleManifest, "id" | "packages" | "recipe">, mirror: string | undefined): string[] {
  const problem = archiveFetchProblem(manifest, mirror);
  if (problem) throw new PreconditionError(`engine.${problem.key}: ${problem.message}`, { suggestion: problem.suggestion });
  return manifest.packages.map((p) => archiveUrl(mirror ?? p.archiveUri!, p.archivePath!));
}

/** `engine.bundle`: upload or fetch the bundle's files (only those that differ) and verify them on the host. */
export const engineBundleStep: Step<ProvisionContext> = {
  id: "engine.bundle",
  title: "Deliver the engine bundle",
  plan(ctx) {
    const { manifest, dir } = requireBundle(ctx);
    const remote = remoteBundleDir(manifest.id);
    const small: RemoteFile[] = [
      { path: `${remote}/${MANIFEST_FILE}`, source: { content: renderManifest(manifest) }, mode: 0o644, sudo: true },
      { path: `${remote}/SHA256SUMS`, source: { content: renderSha256Sums(manifest) }, mode: 0o644, sudo: true },
    ];
    const marker = `${remote}/.verified`;
    const fetchFromArchive = ctx.engine.fetch === "archive";
    const files: RemoteFile[] = fetchFromArchive
      ? small
      : [
          ...manifest.packages.map(
            (p): RemoteFile => ({
              path: `${remote}/${DEBS_DIR}/${p.filename}`,
              source: { localPath: path.join(dir, DEBS_DIR, p.filename), sha256: p.sha256 },
              mode: 0o644,
              sudo: true,
            }),
          ),
          ...small,
        ];
    const apply: Command[] = fetchFromArchive
      ? [fetchCommand(remote, manifest, archiveUrls(manifest, ctx.engine.archiveMirror))]
      : [{ argv: ["sh", "-c", 'cd "$1" && sha256sum --check --strict --quiet SHA256SUMS && touch .verified', "sh", remote], sudo: true }];
    return {
      files,
      check: [{ argv: ["test", "-f", marker], sudo: true }],
      apply,
      verify: [{ argv: ["test", "-f", marker], sudo: true }],
      // The marker is written only after sha256sum checked every file: a re-run trusts it instead of
      // hashing the whole bundle again on every host (`--rehash` does it anyway).
      filesTrustedWhenChecked: true,
      timeoutMs: 15 * 60_000,
    };
  },
};

function fetchCommand(remote: string, manifest: BundleManifest, urls: readonly string[]): Command {
  return {
    argv: ["sh", "-c", ARCHIVE_FETCH_SCRIPT, "sh", remote, ...manifest.packages.flatMap((p, i) => [urls[i]!, p.filename, p.sha256])],
    sudo: true,
  };
}
