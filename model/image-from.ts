/**
 * Where the hosts get the app's image (`app.imageFrom`, `longshore rollout --from`):
 *
 * - `registry`: the hosts pull it from its registry, with the environment's credentials.
 * - `engine`: the image as it is in the operator's own container engine.
 * - `{ archive: FILE }`: a `docker save` (or OCI) archive file.
 *
 * For `engine` and `archive`, longshore delivers the image layer by layer: each host gets only the
 * blobs it lacks, and each blob crosses the controller's link once per delivery (docs/images.md).
 */
import { z } from "zod";

/** The file form: `{ archive: ./build/app.tar }` (relative to the environment file). */
const archiveFromSchema = z.strictObject({
  /** A `docker save` / OCI archive (`.tar`, or gzip-compressed). */
  archive: z.string().min(1, "must name an archive file").regex(/^[^\0]*$/, "must not contain a NUL character"),
});

/** `registry`, `engine` or `{ archive: FILE }`. */
export const imageFromSchema = z.union(
  [z.enum(["registry", "engine"]), archiveFromSchema],
  "must be registry, engine, or { archive: FILE } (a docker save archive)",
);

/** Where the hosts get the image. */
export type ImageFrom = z.output<typeof imageFromSchema>;

/** The default: hosts pull from the image's registry. */
export const DEFAULT_IMAGE_FROM: ImageFrom = "registry";

/**
 * `--from engine|registry|FILE`: the two words are sources, anything else names an archive file
 * (read relative to the working directory). Pure.
 */
export function imageFromFlag(value: string): ImageFrom {
  return value === "engine" || value === "registry" ? value : { archive: value };
}

/** How a source reads in messages and progress: `registry`, `engine`, `archive ./app.tar`. */
export function imageFromText(from: ImageFrom): string {
  return typeof from === "string" ? from : `archive ${from.archive}`;
}

/**
 * The TCP port a host's transient blob server listens on (its private address only), for its
 * peers of the same delivery. On AWS the hosts' security group allows exactly this port between
 * the environment's hosts.
 */
export const PEER_BLOB_PORT = 47213;
