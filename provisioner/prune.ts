/**
 * `longshore prune` on one host, as data: the read-only command that lists what the host has (its
 * engine's images and containers, longshore's engine bundles and blob store, dpkg's installed
 * packages, and how much disk each takes), the pure decision of what goes, and the command that
 * removes exactly that, by ID, and measures again.
 *
 * What is kept, whatever `keep` says:
 * - every container that is not stopped (running, paused, restarting), and its image;
 * - a stopped container of an image the environment uses, or of a release it runs (the
 *   `io.longshore.version` label of its live or rollback slot's image: a Compose app's one-shot
 *   services), and its image;
 * - every image the environment names (the live and rollback slots', the accessories');
 * - the `keep` newest images of the app's repository (by the image's creation time), in use or not;
 * - the parents of a kept image (a locally built image's chain);
 * - the engine bundle whose packages are the ones dpkg has installed, and every bundle when none
 *   is (the engine came from elsewhere, or was changed by hand): a host never loses the bundle its
 *   engine was installed from; a bundle whose manifest cannot be read is kept too;
 * - every blob of the store that is a layer or the config of an image that stays.
 * Everything else is removed: stopped containers first, then images (children before parents),
 * bundles and blobs.
 */
import { z } from "zod";
import { parseSystemDf, type EngineDiskUsage } from "../model/engine-report";
import { parseImageReference, repoTagOf } from "../model/image-reference";
import { bundleManifestSchema, type BundleManifest } from "./bundle/manifest";
import type { Command } from "./command";
import { splitSections } from "./facts";
import { HOST_PATHS } from "./steps/engine-context";

/** An image the host's engine has. */
export interface HostImage {
  /** `sha256:<64 hex>`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** The image it was built on (`sha256:...`), or `""` (loaded and pulled images have none). */
  parent: string;
  /** When the image was made (its config's `created`, ISO-8601). */
  created: string;
  /** Its size in bytes as the engine reports it (shared layers counted in each image). */
  size: number;
  /** Its layers' diff_ids (`sha256:...`), bottom first. */
  layers: string[];
}

/** A container the host's engine has. */
export interface HostContainer {
  /** 64 hex digits. */
  id: string;
  /** Without the engine's leading `/`. */
  name: string;
  /** Its image's ID (`sha256:...`). */
  image: string;
  /** `running`, `exited`, `created`, `paused`, `restarting`, `dead`, `removing`. */
  state: string;
  labels: Record<string, string>;
}

/** An engine bundle directory under {@link HOST_PATHS.bundleRoot}. */
export interface HostBundle {
  /** The directory's name (the bundle id). */
  id: string;
  /** `du -sb` of the directory. */
  bytes: number;
  /** Its manifest, or null when it has none that reads (see {@link problem}). */
  manifest: BundleManifest | null;
  /** Why {@link manifest} is null. @default none */
  problem?: string;
}

/** A file of the blob store (`<store>/sha256/<hex>`). */
export interface HostBlob {
  hex: string;
  bytes: number;
}

/** The disk the engine and longshore's own directories use. */
export interface HostDiskUse {
  /** What `docker system df` reports. */
  engine: EngineDiskUsage[];
  /** The sum of {@link engine}'s sizes. */
  engineBytes: number;
  /** `du -sb` of the bundle directory and of the blob store together. */
  filesBytes: number;
}

/** What one host has, as the listing command found it. */
export interface HostInventory {
  images: HostImage[];
  containers: HostContainer[];
  bundles: HostBundle[];
  /** dpkg's installed packages (`ii`): name -> version. */
  packages: Record<string, string>;
  blobs: HostBlob[];
  disk: HostDiskUse;
}

/** What the environment uses, from its file and its driver's status. */
export interface EnvironmentUses {
  /** Image references the environment runs, each with why (`live (blue)`, `rollback (green)`, `accessory db`). */
  images: ReadonlyArray<{ ref: string; why: string }>;
  /** The app's repositories (`app.image`'s and the slots' images'): their images are the versions `keep` counts. */
  appRepositories: readonly string[];
  /** The release labels (`io.longshore.version`) of the slots' images: stopped containers of these stay. */
  releases: readonly string[];
}

/** The decision for one host: what goes (in removal order) and what stays, each with why. */
export interface PrunePlan {
  containers: Array<{ id: string; name: string; image: string; state: string; why: string }>;
  images: Array<{ id: string; tags: string[]; size: number; why: string }>;
  bundles: Array<{ id: string; bytes: number; why: string }>;
  blobs: Array<{ hex: string; bytes: number }>;
  kept: {
    containers: Array<{ id: string; name: string; why: string }>;
    images: Array<{ id: string; tags: string[]; why: string }>;
    bundles: Array<{ id: string; why: string }>;
    /** How many blobs stay. */
    blobs: number;
  };
}

/** How many of the app's newest versions stay on a host when `--keep` is not given. */
export const DEFAULT_KEEP_VERSIONS = 2;

const MARK = "@@longshore-prune:";

/** The engine's Go templates: one JSON object per image and per container. */
export const IMAGE_FORMAT = '{"id":{{json .Id}},"repoTags":{{json .RepoTags}},"repoDigests":{{json .RepoDigests}},"parent":{{json .Parent}},"created":{{json .Created}},"size":{{json .Size}},"layers":{{json .RootFS.Layers}}}';
export const CONTAINER_FORMAT = '{"id":{{json .Id}},"name":{{json .Name}},"image":{{json .Image}},"state":{{json .State.Status}},"labels":{{json .Config.Labels}}}';

/** Prints the disk sections: `docker system df`, then `du -sb` of the bundle directory and the store. */
const MEASURE = [
  `printf '${MARK}df@@\\n'; docker system df --format '{{json .}}' || exit 1`,
  `printf '${MARK}files@@\\n'; for d in "$bundles" "$store"; do if [ -d "$d" ]; then du -sb "$d" | cut -f1; else echo 0; fi; done`,
];

/**
 * The listing script (`$1` the bundle directory, `$2` the blob store, `$3` {@link IMAGE_FORMAT},
 * `$4` {@link CONTAINER_FORMAT}). Read-only; fails (non-zero) when the engine cannot be listed, so
 * nothing is decided from half a picture.
 */
export const PRUNE_LIST_SCRIPT = [
  "set -u",
  'bundles=$1; store=$2; ifmt=$3; cfmt=$4',
  `printf '${MARK}images@@\\n'`,
  'ids=$(docker image ls --all --quiet --no-trunc) || exit 1',
  'if [ -n "$ids" ]; then docker image inspect --format "$ifmt" $(printf "%s\\n" $ids | sort -u) || exit 1; fi',
  `printf '${MARK}containers@@\\n'`,
  'ids=$(docker ps --all --quiet --no-trunc) || exit 1',
  'if [ -n "$ids" ]; then docker container inspect --format "$cfmt" $ids || exit 1; fi',
  `printf '${MARK}bundles@@\\n'`,
  'for d in "$bundles"/*/; do [ -d "$d" ] || continue; d=${d%/}; printf "%s\\t%s\\t" "${d##*/}" "$(du -sb "$d" | cut -f1)"; base64 -w0 "$d/manifest.json" 2>/dev/null; printf "\\n"; done',
  `printf '${MARK}packages@@\\n'`,
  "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' 2>/dev/null",
  `printf '${MARK}blobs@@\\n'`,
  'if [ -d "$store/sha256" ]; then find "$store/sha256" -maxdepth 1 -type f -printf "%f\\t%s\\n"; fi',
  ...MEASURE,
  `printf '${MARK}end@@\\n'`,
].join("\n");

/** The listing command (as root: the engine's socket and longshore's directories are root's). */
export function pruneListCommand(): Command {
  return { argv: ["sh", "-c", PRUNE_LIST_SCRIPT, "sh", HOST_PATHS.bundleRoot, HOST_PATHS.blobStore, IMAGE_FORMAT, CONTAINER_FORMAT], sudo: true, timeoutMs: 5 * 60_000 };
}

/**
 * The removal script (`$1` bundle directory, `$2` store, then `c:<id>`, `i:<id>`, `b:<id>`,
 * `f:<hex>` in order). Each item is checked again before it goes: a container is removed without
 * `--force` (a running one is refused), an image only when no container uses it (then with
 * `--force`, which takes all its tags), by ID and without pruning its parents (each removal is one
 * the plan named). Prints `removed <kind> <id>` or `failed <kind> <id> <why>` per item, then the
 * disk sections again.
 */
export const PRUNE_REMOVE_SCRIPT = [
  "set -u",
  'bundles=$1; store=$2; shift 2',
  'hex() { case "$1" in *[!0-9a-f]*|"") return 1 ;; esac; [ ${#1} -eq 64 ]; }',
  'fail() { printf "failed %s %s %s\\n" "$1" "$2" "$(printf %s "$3" | tr "\\n" " ")"; }',
  'for item in "$@"; do',
  '  kind=${item%%:*}; id=${item#*:}; h=${id#sha256:}',
  '  if ! hex "$h"; then fail "$kind" "$id" "not an ID"; continue; fi',
  '  case "$kind" in',
  '    c) if out=$(docker rm "$h" 2>&1 >/dev/null); then echo "removed c $id"; else fail c "$id" "$out"; fi ;;',
  '    i) users=$(docker ps --all --quiet --filter "ancestor=$h" 2>&1) || { fail i "$id" "$users"; continue; }',
  '       if [ -n "$users" ]; then fail i "$id" "a container uses it: $(echo $users)"; continue; fi',
  '       if out=$(docker image rm --force --no-prune "$h" 2>&1 >/dev/null); then echo "removed i $id"; else fail i "$id" "$out"; fi ;;',
  '    b) if out=$(rm -rf -- "$bundles/$h" 2>&1); then echo "removed b $id"; else fail b "$id" "$out"; fi ;;',
  '    f) if out=$(rm -f -- "$store/sha256/$h" 2>&1); then echo "removed f $id"; else fail f "$id" "$out"; fi ;;',
  '    *) fail "$kind" "$id" "unknown kind" ;;',
  '  esac',
  'done',
  `printf '${MARK}removals-done@@\\n'`,
  ...MEASURE,
  `printf '${MARK}end@@\\n'`,
].join("\n");

/** The removal command for `plan`: every item by ID, in the plan's order. Null when nothing goes. */
export function pruneRemoveCommand(plan: PrunePlan): Command | null {
  const items = [
    ...plan.containers.map((c) => `c:${c.id}`),
    ...plan.images.map((i) => `i:${i.id}`),
    ...plan.bundles.map((b) => `b:${b.id}`),
    ...plan.blobs.map((b) => `f:${b.hex}`),
  ];
  if (items.length === 0) return null;
  return { argv: ["sh", "-c", PRUNE_REMOVE_SCRIPT, "sh", HOST_PATHS.bundleRoot, HOST_PATHS.blobStore, ...items], sudo: true, timeoutMs: 15 * 60_000 };
}

/** The script's output does not read as expected (a host that is not what longshore set up). */
export class PruneOutputError extends Error {}

/** The listing's sections (`@@longshore-prune:<name>@@`). */
const sections = (stdout: string) => splitSections(stdout, "prune");

const imageSchema = z.object({
  id: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  repoTags: z.array(z.string()).nullable().transform((v) => v ?? []),
  repoDigests: z.array(z.string()).nullable().transform((v) => v ?? []),
  parent: z.string().default(""),
  created: z.string(),
  size: z.number().int().nonnegative(),
  layers: z.array(z.string()).nullable().transform((v) => v ?? []),
});

const containerSchema = z.object({
  id: z.string().regex(/^[a-f0-9]{64}$/),
  name: z.string().transform((n) => n.replace(/^\//, "")),
  image: z.string(),
  state: z.string(),
  labels: z.record(z.string(), z.string()).nullable().transform((v) => v ?? {}),
});

function jsonLines<T>(text: string, schema: z.ZodType<T>, what: string): T[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line, i) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new PruneOutputError(`${what} line ${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 120))}`);
      }
      const r = schema.safeParse(json);
      if (!r.success) throw new PruneOutputError(`${what} line ${i + 1}: ${r.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ")}`);
      return r.data;
    });
}

function parseBundleLine(line: string): HostBundle {
  const [id = "", bytes = "0", manifest64 = ""] = line.split("\t");
  const base = { id, bytes: Number(bytes) || 0 };
  if (manifest64 === "") return { ...base, manifest: null, problem: "it has no manifest.json" };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(manifest64, "base64").toString("utf8"));
  } catch {
    return { ...base, manifest: null, problem: "its manifest.json is not JSON" };
  }
  const r = bundleManifestSchema.safeParse(json);
  if (!r.success) return { ...base, manifest: null, problem: `its manifest.json does not read: ${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message}` };
  return { ...base, manifest: r.data as BundleManifest };
}

/** Reads the disk sections (`df`, `files`) of either script's output. */
export function parseDiskUse(s: Map<string, string>): HostDiskUse {
  const df = parseSystemDf(s.get("df") ?? "");
  if (!df.ok) throw new PruneOutputError(df.message);
  const files = (s.get("files") ?? "").split("\n").filter((l) => l.trim() !== "").map(Number);
  if (files.length !== 2 || files.some((n) => !Number.isFinite(n))) throw new PruneOutputError(`du printed ${JSON.stringify(s.get("files") ?? "")}`);
  return { engine: df.value, engineBytes: df.value.reduce((n, r) => n + r.sizeBytes, 0), filesBytes: files[0]! + files[1]! };
}

/** Reads the listing command's output into a {@link HostInventory}. Throws {@link PruneOutputError}. Pure. */
export function parseHostInventory(stdout: string): HostInventory {
  const s = sections(stdout);
  if (!s.has("end")) throw new PruneOutputError("the listing's output was cut short");
  const packages: Record<string, string> = {};
  for (const line of (s.get("packages") ?? "").split("\n")) {
    const [name, version, status] = line.split("\t");
    if (name && version && status?.startsWith("ii")) packages[name] = version;
  }
  const blobs = (s.get("blobs") ?? "")
    .split("\n")
    .map((l) => l.split("\t"))
    // Only the store's blobs (64 hex): a file being received or the peer server's `ready` is not one.
    .filter(([name]) => name !== undefined && /^[a-f0-9]{64}$/.test(name))
    .map(([hex, bytes]) => ({ hex: hex!, bytes: Number(bytes) || 0 }));
  return {
    images: jsonLines(s.get("images") ?? "", imageSchema, "docker image inspect"),
    containers: jsonLines(s.get("containers") ?? "", containerSchema, "docker container inspect"),
    bundles: (s.get("bundles") ?? "").split("\n").filter((l) => l.trim() !== "").map(parseBundleLine),
    packages,
    blobs,
    disk: parseDiskUse(s),
  };
}

/** What the removal command did: each item's outcome, and the disk afterwards. */
export interface PruneRemoval {
  removed: Array<{ kind: "c" | "i" | "b" | "f"; id: string }>;
  failed: Array<{ kind: "c" | "i" | "b" | "f"; id: string; message: string }>;
  after: HostDiskUse | null;
}

/** Reads the removal command's output. Pure. */
export function parsePruneRemoval(stdout: string): PruneRemoval {
  const [items = "", rest = ""] = stdout.split(`${MARK}removals-done@@\n`);
  const removed: PruneRemoval["removed"] = [];
  const failed: PruneRemoval["failed"] = [];
  for (const line of items.split("\n")) {
    const m = /^(removed|failed) ([cibf]) (\S+)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const kind = m[2] as "c" | "i" | "b" | "f";
    if (m[1] === "removed") removed.push({ kind, id: m[3]! });
    else failed.push({ kind, id: m[3]!, message: (m[4] ?? "").trim() });
  }
  let after: HostDiskUse | null = null;
  try {
    after = parseDiskUse(sections(`${MARK}removals-done@@\n${rest}`));
  } catch {
    after = null;
  }
  return { removed, failed, after };
}

/** The name of a reference (registry and repository, Docker Hub's short form), without tag or digest. */
export function imageName(ref: string): string | null {
  const r = parseImageReference(ref);
  if (!r.ok) return null;
  const { registry, repository } = r.value;
  const hub = registry === null || registry === "docker.io" || registry === "index.docker.io" || registry === "registry-1.docker.io";
  return hub ? repository.replace(/^library\//, "") : `${registry}/${repository}`;
}

/** True when `ref` (a tag, a digest reference or an image ID) names `image`. Pure. */
export function refNamesImage(ref: string, image: Pick<HostImage, "id" | "repoTags" | "repoDigests">): boolean {
  if (/^sha256:[a-f0-9]{64}$/.test(ref)) return image.id === ref;
  const r = parseImageReference(ref);
  if (!r.ok) return false;
  if (r.value.digest !== null) {
    const name = imageName(ref);
    return image.repoDigests.some((d) => {
      const at = d.indexOf("@");
      return at > 0 && d.slice(at + 1) === r.value.digest && imageName(d.slice(0, at)) === name;
    });
  }
  const wanted = repoTagOf(ref);
  return wanted !== null && image.repoTags.some((t) => repoTagOf(t) === wanted);
}

/** The names (registry/repository) an image goes by, from its tags and digests. */
function namesOf(image: HostImage): Set<string> {
  const out = new Set<string>();
  for (const t of image.repoTags) {
    const n = imageName(t);
    if (n) out.add(n);
  }
  for (const d of image.repoDigests) {
    const n = imageName(d.slice(0, d.indexOf("@")));
    if (n) out.add(n);
  }
  return out;
}

/** Containers in these states are never removed (and their images stay). */
const ACTIVE_STATES = new Set(["running", "paused", "restarting", "removing"]);

/** The label that names a container's release (provisioner/steps/app-run.ts LABELS.version). */
const VERSION_LABEL = "io.longshore.version";

function short(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/**
 * Decides what goes from `inv` given what the environment `uses`, keeping the `keep` newest images
 * of the app's repositories. Pure: the same inputs always give the same plan, in removal order.
 */
export function planPrune(inv: HostInventory, uses: EnvironmentUses, keep: number): PrunePlan {
  const imageById = new Map(inv.images.map((i) => [i.id, i]));
  const keptImages = new Map<string, string>();
  const keepImage = (id: string, why: string) => {
    if (imageById.has(id) && !keptImages.has(id)) keptImages.set(id, why);
  };
  const pinned = (image: HostImage | undefined) => (image ? uses.images.find((u) => refNamesImage(u.ref, image)) : undefined);

  // The images the environment names first (their reason is the one a report gives).
  for (const i of inv.images) {
    const use = pinned(i);
    if (use) keepImage(i.id, use.why);
  }
  // Containers: active ones stay; a stopped one stays when its image or its release is in use.
  const plan: PrunePlan = { containers: [], images: [], bundles: [], blobs: [], kept: { containers: [], images: [], bundles: [], blobs: 0 } };
  for (const c of inv.containers) {
    const image = imageById.get(c.image);
    const use = pinned(image);
    const release = c.labels[VERSION_LABEL];
    const why = ACTIVE_STATES.has(c.state)
      ? c.state
      : use
        ? `${c.state}, of an image in use (${use.why})`
        : release !== undefined && uses.releases.includes(release)
          ? `${c.state}, of release ${release}, in use`
          : null;
    if (why !== null) {
      plan.kept.containers.push({ id: c.id, name: c.name, why });
      keepImage(c.image, `used by container ${c.name} (${c.state})`);
    } else {
      plan.containers.push({ id: c.id, name: c.name, image: c.image, state: c.state, why: `${c.state}; its image is not one the environment uses` });
    }
  }

  // The newest versions of the app.
  const repos = new Set(uses.appRepositories);
  const versions = inv.images
    .filter((i) => [...namesOf(i)].some((n) => repos.has(n)))
    .sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || (a.id < b.id ? -1 : 1));
  versions.slice(0, keep).forEach((i) => keepImage(i.id, keep === 1 ? "the newest version of the app" : `one of the ${keep} newest versions of the app`));

  // A kept image's parents stay with it.
  for (const id of [...keptImages.keys()]) {
    let parent = imageById.get(id)?.parent ?? "";
    const seen = new Set<string>();
    while (parent && imageById.has(parent) && !seen.has(parent)) {
      seen.add(parent);
      keepImage(parent, `parent of kept image ${short(id)}`);
      parent = imageById.get(parent)!.parent;
    }
  }

  const depth = (id: string): number => {
    let d = 0;
    let p = imageById.get(id)?.parent ?? "";
    while (p && imageById.has(p) && d < 1000) {
      d++;
      p = imageById.get(p)!.parent;
    }
    return d;
  };
  const isVersion = new Set(versions.map((v) => v.id));
  for (const i of [...inv.images].sort((a, b) => depth(b.id) - depth(a.id) || (a.id < b.id ? -1 : 1))) {
    const why = keptImages.get(i.id);
    if (why !== undefined) {
      plan.kept.images.push({ id: i.id, tags: i.repoTags, why });
      continue;
    }
    plan.images.push({
      id: i.id,
      tags: i.repoTags,
      size: i.size,
      why: isVersion.has(i.id)
        ? keep === 0
          ? "a version of the app no slot uses"
          : `an older version of the app (beyond the ${keep} newest)`
        : i.repoTags.length
          ? "no container or slot uses it"
          : "untagged, and no container uses it",
    });
  }
  // Kept images in the listing's order, for a stable report.
  plan.kept.images.sort((a, b) => inv.images.findIndex((x) => x.id === a.id) - inv.images.findIndex((x) => x.id === b.id));

  // Bundles: the one dpkg says is installed stays; when none is, all stay.
  const installed = (m: BundleManifest) =>
    m.recipe.packages.every((name) => {
      const p = m.packages.find((x) => x.name === name);
      return p !== undefined && inv.packages[name] === p.version;
    });
  const current = inv.bundles.filter((b) => b.manifest !== null && installed(b.manifest));
  for (const b of inv.bundles) {
    if (!/^[a-f0-9]{64}$/.test(b.id)) plan.kept.bundles.push({ id: b.id, why: "not a bundle directory longshore made (its name is not a bundle id)" });
    else if (b.manifest === null) plan.kept.bundles.push({ id: b.id, why: `${b.problem ?? "its manifest does not read"}: left alone` });
    else if (current.includes(b)) plan.kept.bundles.push({ id: b.id, why: `installed (${b.manifest.enginePackage.name} ${b.manifest.enginePackage.version})` });
    else if (current.length === 0) plan.kept.bundles.push({ id: b.id, why: "no bundle matches the installed engine packages: every bundle is left alone" });
    else plan.bundles.push({ id: b.id, bytes: b.bytes, why: `not installed (${b.manifest.enginePackage.name} ${b.manifest.enginePackage.version}; installed: ${inv.packages[b.manifest.enginePackage.name] ?? "none"})` });
  }

  // Blobs: those of the images that stay.
  const needed = new Set<string>();
  for (const id of keptImages.keys()) {
    const i = imageById.get(id)!;
    needed.add(i.id.replace(/^sha256:/, ""));
    for (const l of i.layers) needed.add(l.replace(/^sha256:/, ""));
  }
  for (const b of inv.blobs) {
    if (needed.has(b.hex)) plan.kept.blobs++;
    else plan.blobs.push({ hex: b.hex, bytes: b.bytes });
  }
  return plan;
}
