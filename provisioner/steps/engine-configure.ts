/**
 * `engine.configure`: writes `/etc/docker/daemon.json` (rendered from the validated options:
 * stable bytes) and, only when daemon.json sets `hosts`, a systemd drop-in that removes the
 * packaged `-H fd://` (dockerd refuses an option given twice). Applying it restarts nothing:
 * `engine.start` compares the digest of these files with the digest of the files the running
 * dockerd read when it started (recorded by systemd, not by longshore), and restarts only when
 * they differ (see engine-start.ts).
 */
import { createHash } from "node:crypto";
import type { RemoteFile, Step } from "../step";
import type { DaemonConfig } from "../../model/engine";
import { renderTemplate } from "../../templates/render";
import { renderDaemonJson } from "../../templates/engine/daemon-json";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** Where dockerd lives for this context's engine packages. */
export function dockerdPath(ctx: Pick<ProvisionContext, "engine" | "bundle">): string {
  return ctx.engine.channel === "bundle" && ctx.bundle?.manifest.recipe.source === "docker" ? "/usr/bin/dockerd" : "/usr/sbin/dockerd";
}

/** The engine's config files as planned: daemon.json always, the hosts drop-in when needed. */
export function engineConfigFiles(ctx: Pick<ProvisionContext, "engine" | "bundle">): { daemonJson: string; hostsDropIn: string | null } {
  const daemon: DaemonConfig = ctx.engine.daemon;
  return {
    daemonJson: renderDaemonJson(daemon),
    hostsDropIn: daemon.hosts ? renderTemplate("engine/docker-hosts.conf", { dockerd: dockerdPath(ctx) }) : null,
  };
}

/**
 * The digest of everything dockerd's behaviour depends on that longshore writes: daemon.json and
 * the hosts drop-in (or its absence), given their bytes (null: no such file). It is the sha256 of
 * `daemon.json <sha256>\nhosts drop-in <sha256 | none>\n`, which the host computes with sha256sum
 * from the files dockerd reads as it starts (templates/engine/record-config.sh.hbs).
 */
export function engineConfigDigestOf(daemonJson: string | Uint8Array | null, hostsDropIn: string | Uint8Array | null): string {
  const sum = (b: string | Uint8Array | null) => (b === null ? "none" : createHash("sha256").update(b).digest("hex"));
  return createHash("sha256").update(`daemon.json ${sum(daemonJson)}\nhosts drop-in ${sum(hostsDropIn)}\n`).digest("hex");
}

/** {@link engineConfigDigestOf} the planned files: what the running dockerd must have read. */
export function engineConfigDigest(ctx: Pick<ProvisionContext, "engine" | "bundle">): string {
  const f = engineConfigFiles(ctx);
  return engineConfigDigestOf(f.daemonJson, f.hostsDropIn);
}

/** `engine.configure`: daemon.json and the hosts drop-in. */
export const engineConfigureStep: Step<ProvisionContext> = {
  id: "engine.configure",
  title: "Configure the container engine",
  plan(ctx) {
    const f = engineConfigFiles(ctx);
    const files: RemoteFile[] = [{ path: HOST_PATHS.daemonJson, source: { content: f.daemonJson }, mode: 0o644, sudo: true }];
    if (f.hostsDropIn !== null) {
      files.push({ path: HOST_PATHS.hostsDropIn, source: { content: f.hostsDropIn }, mode: 0o644, sudo: true });
      return { files, apply: [], timeoutMs: 60_000 };
    }
    // No hosts: a drop-in left from an earlier config must go, or dockerd would start without -H.
    return {
      files,
      check: [{ argv: ["test", "!", "-e", HOST_PATHS.hostsDropIn], sudo: true }],
      apply: [{ argv: ["rm", "-f", HOST_PATHS.hostsDropIn], sudo: true }],
      timeoutMs: 60_000,
    };
  },
};
