/**
 * An image as layers: its config blob and its layer blobs, each named by the sha256 of its
 * (uncompressed) bytes. For a layer that digest is the engine's diffID, so what a host's engine
 * holds, what the controller's cache holds and what crosses a link are all named alike, and every
 * blob is checked against its name where it lands. Pure: the types, and what a host runs to load
 * an image from its blob store (`docker load` of a tar assembled from the stored files).
 */

/** One blob: `sha256:<64 hex>` and its size in bytes. */
export interface BlobRef {
  digest: string;
  size: number;
}

/** An image the controller holds as blobs (in its blob cache). */
export interface LayeredImage {
  /** `sha256:<hex>` of the config JSON: the image ID `docker image inspect` prints. */
  imageId: string;
  /** The config blob (its digest is {@link LayeredImage.imageId}). */
  config: BlobRef;
  /** Layer blobs, bottom first (uncompressed tars; digest = the config's `rootfs.diff_ids[i]`). */
  layers: BlobRef[];
  /** `repo:tag` names the image loads as. */
  repoTags: string[];
  /**
   * Images delivered and loaded with this one (a Compose app's other services'): their blobs join
   * this image's in every store and transfer, and one `docker load` loads them all. @default none
   */
  also?: LayeredImage[];
}

/** The image and every image delivered with it ({@link LayeredImage.also}), this one first. */
export function imagesOf(image: LayeredImage): LayeredImage[] {
  return [image, ...(image.also ?? [])];
}

/** The 64 hex digits of a `sha256:` digest. */
export function hexOf(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new Error(`not a sha256 digest: ${digest}`);
  return m[1]!;
}

/** Every distinct blob of the image, config first then layers bottom up (duplicates once). */
export function blobsOf(image: LayeredImage): BlobRef[] {
  const seen = new Set<string>();
  const out: BlobRef[] = [];
  for (const b of imagesOf(image).flatMap((i) => [i.config, ...i.layers])) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    out.push(b);
  }
  return out;
}

/** Total bytes of the image's distinct blobs. */
export function imageBytes(image: LayeredImage): number {
  return blobsOf(image).reduce((s, b) => s + b.size, 0);
}

/**
 * The `manifest.json` of a `docker load` archive whose members are `<hex>.json` (the config) and
 * `<hex>.tar` (each layer): the layout the host's load script builds from its blob store.
 */
export function dockerLoadManifest(image: LayeredImage): string {
  return JSON.stringify(
    imagesOf(image).map((i) => ({
      Config: `${hexOf(i.config.digest)}.json`,
      RepoTags: i.repoTags,
      Layers: i.layers.map((l) => `${hexOf(l.digest)}.tar`),
    })),
  );
}

/**
 * The host script that loads an image from the blob store `$1`: a temporary directory of symlinks
 * (`manifest.json` from `$2`, the configs `$3` (space-separated), layers `$4...`), archived with `tar -h` (following
 * the links) straight into `docker load`. The engine checks each layer against the config's
 * diff_ids as it loads. Nothing is copied: the store's files are read once.
 */
export const LOAD_FROM_STORE_SCRIPT = [
  "set -eu",
  'store=$1; manifest=$2; configs=$3; shift 3',
  'dir=$(mktemp -d "$store/.load.XXXXXX")',
  "trap 'rm -rf \"$dir\"' EXIT",
  'printf %s "$manifest" > "$dir/manifest.json"',
  'for config in $configs; do ln -sf "$store/sha256/$config" "$dir/$config.json"; done',
  'for hex in "$@"; do ln -sf "$store/sha256/$hex" "$dir/$hex.tar"; done',
  'tar -C "$dir" -ch . | docker load --quiet',
].join("\n");

/** The arguments of {@link LOAD_FROM_STORE_SCRIPT} for `image` and the store directory. */
export function loadFromStoreArgs(store: string, image: LayeredImage): string[] {
  const all = imagesOf(image);
  return [store, dockerLoadManifest(image), [...new Set(all.map((i) => hexOf(i.config.digest)))].join(" "), ...new Set(all.flatMap((i) => i.layers.map((l) => hexOf(l.digest))))];
}
