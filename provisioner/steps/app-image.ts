/**
 * Getting the app's image onto a host.
 *
 * `image.load` (no registry): the `docker save` archive on the controller is streamed, gzip -1
 * compressed on the controller, into `docker load` on the host (which reads gzip itself: no
 * gunzip, no shell, no temp file). Its check is `docker image inspect <image ID>`, so nothing is
 * sent when the host already has that image.
 *
 * `image.pull` (registry): `docker pull`; with credentials, `docker login --password-stdin` (the
 * password travels on stdin, never in argv) and `docker logout` right after, so no credential is
 * left in /root/.docker/config.json.
 */
import { createReadStream } from "node:fs";
import { pipeline, type Readable } from "node:stream";
import { createGzip } from "node:zlib";
import type { Command } from "../command";
import type { Step } from "../step";
import { imagesOf, LOAD_FROM_STORE_SCRIPT, loadFromStoreArgs } from "../layers/layered-image";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/**
 * A fresh stream of the archive, gzip level 1 unless it is compressed already (`.gz`, `.tgz`).
 * Called by the transport once per attempt; read errors surface as errors of the returned stream.
 */
export function imageArchiveStream(localPath: string): () => Readable {
  return () => {
    const file = createReadStream(localPath);
    if (/\.(t?gz)$/.test(localPath)) return file;
    const gz = createGzip({ level: 1 });
    // pipeline destroys `gz` with the read error, so the consumer sees it instead of a short archive.
    pipeline(file, gz, () => {});
    return gz;
  };
}

function inspectId(target: string): Command {
  return { argv: ["docker", "image", "inspect", "--format", "{{.Id}}", target], sudo: true };
}

/** A command that exits 0 only when `ref` resolves to image `imageId` on the host. */
function refIsImage(ref: string, imageId: string): Command {
  return {
    argv: ["sh", "-c", '[ "$(docker image inspect --format "{{.Id}}" "$1" 2>/dev/null)" = "$2" ]', "sh", ref, imageId],
    sudo: true,
  };
}

/** `image.load`: the image from a local archive, sent only when the host lacks its ID. */
export const imageLoadStep: Step<ProvisionContext> = {
  id: "image.load",
  title: "Load the app image",
  plan(ctx) {
    if (ctx.image.source !== "archive") throw new Error("image.load needs an archive image source");
    const { localPath, imageId } = ctx.image;
    return {
      check: [inspectId(imageId)],
      apply: [{ argv: ["docker", "load", "--quiet"], sudo: true, stdin: imageArchiveStream(localPath), timeoutMs: 15 * 60_000 }],
      verify: [inspectId(imageId)],
      timeoutMs: 16 * 60_000,
    };
  },
};

/** `image.pull`: the image from a registry (logging in with the password on stdin when needed). */
export const imagePullStep: Step<ProvisionContext> = {
  id: "image.pull",
  title: "Pull the app image",
  plan(ctx) {
    if (ctx.image.source !== "registry") throw new Error("image.pull needs a registry image source");
    const { ref, imageId } = ctx.image;
    // A Compose app's other images (digest-pinned) are pulled in the same step, in one login.
    const companions = [...new Set(Object.values(ctx.image.companions ?? {}))].filter((c) => c !== ref);
    const registry = ctx.registry;
    const pull: Command = registry
      ? {
          argv: [
            "sh",
            "-c",
            companions.length
              ? 'server=$1; user=$2; shift 2; docker login --username "$user" --password-stdin "$server" >/dev/null || exit $?; rc=0; for ref in "$@"; do docker pull --quiet "$ref" || { rc=$?; break; }; done; docker logout "$server" >/dev/null 2>&1; exit $rc'
              : 'docker login --username "$2" --password-stdin "$1" >/dev/null || exit $?; docker pull --quiet "$3"; rc=$?; docker logout "$1" >/dev/null 2>&1; exit $rc',
            "sh",
            registry.server,
            registry.username,
            ref,
            ...companions,
          ],
          sudo: true,
          stdin: registry.password,
          timeoutMs: 15 * 60_000,
        }
      : companions.length
        ? { argv: ["sh", "-c", 'for ref in "$@"; do docker pull --quiet "$ref" || exit $?; done', "sh", ref, ...companions], sudo: true, timeoutMs: 15 * 60_000 }
        : { argv: ["docker", "pull", "--quiet", ref], sudo: true, timeoutMs: 15 * 60_000 };
    // Skippable only when the result is known: an expected image ID, or a digest-pinned reference.
    const known = imageId ? refIsImage(ref, imageId) : ref.includes("@sha256:") ? inspectId(ref) : null;
    const companionChecks = companions.map((c) => inspectId(c));
    const skippable = known !== null && companions.every((c) => c.includes("@sha256:"));
    return {
      ...(skippable ? { check: [known, ...companionChecks] } : {}),
      apply: [pull],
      verify: [known ?? inspectId(ref), ...companionChecks],
      timeoutMs: 16 * 60_000,
      retry: { attempts: 3, backoffMs: 2000 },
    };
  },
};

/**
 * `image.layers`: loads the image from the host's blob store (filled by the delivery's
 * `image.fetch` phase), then drops from the store every blob no image of the engine uses any more,
 * so the store holds what the engine holds (and what the host's next delivery and its peers can
 * reuse), not every image it ever had. Skipped when the engine has the image ID.
 */
export const imageLayersStep: Step<ProvisionContext> = {
  id: "image.layers",
  title: "Load the app image from its layers",
  plan(ctx) {
    if (ctx.image.source !== "layers") throw new Error("image.layers needs a layers image source");
    const store = HOST_PATHS.blobStore;
    // A Compose app's other images are loaded with the app's: the step is done when the engine has them all.
    const inspectAll = imagesOf(ctx.image.layers).map((i) => inspectId(i.imageId));
    return {
      check: inspectAll,
      apply: [
        { argv: ["sh", "-c", LOAD_FROM_STORE_SCRIPT, "sh", ...loadFromStoreArgs(store, ctx.image.layers)], sudo: true, timeoutMs: 15 * 60_000 },
        { argv: ["sh", "-c", PRUNE_STORE_SCRIPT, "sh", store], sudo: true },
      ],
      verify: inspectAll,
      timeoutMs: 16 * 60_000,
    };
  },
};

/** Removes from the store `$1` the blobs that are neither a layer nor the config of an image the engine has. */
export const PRUNE_STORE_SCRIPT = [
  "set -eu",
  'store=$1; list=$(mktemp); trap \'rm -f "$list"\' EXIT',
  // Fail safe: when the engine cannot be listed, nothing is removed.
  'docker image ls -q --no-trunc > "$list.ids"',
  'while read -r id; do docker image inspect --format \'{{.Id}} {{range .RootFS.Layers}}{{.}} {{end}}\' "$id" >> "$list" || exit 1; done < "$list.ids"; rm -f "$list.ids"',
  'keep=" $(tr "\\n" " " < "$list") "',
  'for f in "$store"/sha256/*; do [ -f "$f" ] || continue; case "$keep" in *" sha256:${f##*/} "*) ;; *) rm -f "$f" ;; esac; done',
].join("\n");
