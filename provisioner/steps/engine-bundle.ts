/**
 * `engine.bundle`: puts the verified bundle on the host under
 * `/var/lib/longshore/bundle/<bundle id>/`, one file per .deb. Each file is uploaded only when the
 * host's copy has a different sha256, so a re-run sends nothing and an interrupted upload resumes
 * where it stopped. The host then checks every .deb with coreutils' `sha256sum --check` against a
 * SHA256SUMS file derived from the manifest and marks the bundle `.verified`.
 *
 * Why individual files and not one tar: .deb files are already compressed (a tar.gz gains ~0),
 * per-file sha comparison is the runner's existing contract, a dropped connection costs one file
 * not the whole bundle, and the host needs no unpack step (nor twice the disk space).
 */
import * as path from "node:path";
import type { RemoteFile, Step } from "../step";
import { DEBS_DIR, MANIFEST_FILE, renderManifest, renderSha256Sums } from "../bundle/manifest";
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

/** `engine.bundle`: upload the bundle's files (only those that differ) and verify them on the host. */
export const engineBundleStep: Step<ProvisionContext> = {
  id: "engine.bundle",
  title: "Upload the engine bundle",
  plan(ctx) {
    const { manifest, dir } = requireBundle(ctx);
    const remote = remoteBundleDir(manifest.id);
    const files: RemoteFile[] = [
      ...manifest.packages.map(
        (p): RemoteFile => ({
          path: `${remote}/${DEBS_DIR}/${p.filename}`,
          source: { localPath: path.join(dir, DEBS_DIR, p.filename), sha256: p.sha256 },
          mode: 0o644,
          sudo: true,
        }),
      ),
      { path: `${remote}/${MANIFEST_FILE}`, source: { content: renderManifest(manifest) }, mode: 0o644, sudo: true },
      { path: `${remote}/SHA256SUMS`, source: { content: renderSha256Sums(manifest) }, mode: 0o644, sudo: true },
    ];
    const marker = `${remote}/.verified`;
    return {
      files,
      check: [{ argv: ["test", "-f", marker], sudo: true }],
      apply: [
        {
          argv: ["sh", "-c", 'cd "$1" && sha256sum --check --strict --quiet SHA256SUMS && touch .verified', "sh", remote],
          sudo: true,
        },
      ],
      verify: [{ argv: ["test", "-f", marker], sudo: true }],
      // The marker is written only after sha256sum checked every file: a re-run trusts it instead of
      // hashing the whole bundle again on every host (`--rehash` does it anyway).
      filesTrustedWhenChecked: true,
      timeoutMs: 15 * 60_000,
    };
  },
};
