/**
 * The provisioning file (`provision.yaml`): what `longshore provision` and `longshore plan` make
 * every host look like — the engine (`engine:`), the app (`app:`), where the app's image comes from
 * (`image:`), the engine bundle (`bundle:`) and the slot the hosts serve (`slot:`). The hosts
 * themselves come from an inventory or a local environment, not from this file.
 *
 * ```yaml
 * engine:
 *   daemon: { log-opts: { max-file: "4" } }
 * app:
 *   name: web
 *   version: v1
 *   containerPort: 8080
 *   hostPort: 8080
 * image:
 *   archive: ./web-v1.tar            # a `docker save` archive, streamed over SSH (no registry)
 *   # or: pull: registry.example:5000/web:v1   [id: sha256:...]
 * bundle: ./bundles/engine-debian-bookworm-amd64-20.10.24-0123456789ab   # or: debian-bookworm-amd64
 * slot: blue
 * ```
 *
 * Parsing is pure (text in, config or every problem out, each with its path); `loadProvisionConfig`
 * is the thin edge that reads the file. Strict: unknown keys are errors.
 */
import * as path from "node:path";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ConfigError } from "../core/errors";
import { appSpecSchema, dnsLabelSchema, imageReferenceSchema, type AppSpec } from "./app";
import { DEB_ARCHES, engineOptionsSchema, type EngineOptions } from "./engine";
import { parseYamlText } from "./yaml-text";
import { formatIssues, friendlyErrorMap, sortByDocumentOrder, zodPathIssues, type ParseResult, type PathIssue } from "./zod-issues";

/** `sha256:` and 64 lower-case hex digits: an image ID as `docker image inspect` prints it. */
export const IMAGE_ID_PATTERN = /^sha256:[a-f0-9]{64}$/;

/**
 * A bundle recipe by name: `debian-<suite>-<arch>` builds Debian's docker.io for that release and
 * architecture from this computer's Debian mirror (see docs/engine.md).
 */
export const RECIPE_NAME_PATTERN = new RegExp(`^debian-([a-z][a-z0-9-]*?)-(${DEB_ARCHES.join("|")})$`);

const imageSchema = z
  .strictObject({
    /** A `docker save` archive (`.tar`, or gzip-compressed `.tar.gz`/`.tgz`) on this computer. */
    archive: z.string().min(1).optional(),
    /** The reference the hosts pull (pin with `@sha256:` for immutable rollouts). */
    pull: imageReferenceSchema.optional(),
    /** With `pull`: the image ID the pull must produce; lets a host that has it skip the pull. */
    id: z.string().regex(IMAGE_ID_PATTERN, "must be sha256: followed by 64 lower-case hex digits").optional(),
  })
  .superRefine((i, ctx) => {
    // One object with a rule instead of a union: each wrong field is then reported at its own path.
    if (i.archive === undefined && i.pull === undefined) ctx.addIssue({ code: "custom", path: [], message: "set archive: PATH or pull: REFERENCE" });
    if (i.archive !== undefined && i.pull !== undefined) ctx.addIssue({ code: "custom", path: ["pull"], message: "set archive or pull, not both" });
    if (i.id !== undefined && i.pull === undefined) ctx.addIssue({ code: "custom", path: ["id"], message: "goes with pull (an archive carries its own image ID)" });
  });

const bundleSchema = z.string().min(1);

/** The file's shape. `app.image` is filled from `image:` before this schema sees it. */
export const provisionFileSchema = z
  .strictObject({
    engine: engineOptionsSchema.prefault({}),
    app: appSpecSchema,
    image: imageSchema,
    /** A bundle directory (absolute, or relative to this file), or a recipe name. Required for `channel: bundle`. */
    bundle: bundleSchema.optional(),
    /** The slot these hosts serve; a container label and part of the audit line. */
    slot: dnsLabelSchema.default("blue"),
  })
  .superRefine((f, ctx) => {
    if (f.engine.channel === "bundle" && f.bundle === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["bundle"],
        message: "is required with engine.channel: bundle (a bundle directory, or a recipe name such as debian-bookworm-amd64)",
      });
    }
  });

/** Where the engine bundle comes from. */
export type BundleSource =
  | { dir: string }
  | {
      /** Built (or reused from the cache) with this computer's Debian sources. */
      recipe: { name: string; source: "debian"; suite: string; arch: (typeof DEB_ARCHES)[number] };
    };

/** Where the app's image comes from. */
export type ImageSpec = { archive: string } | { pull: string; id?: string };

/** A validated provisioning file, paths made absolute. */
export interface ProvisionConfig {
  engine: EngineOptions;
  /** The app; `image` is the `pull` reference, or a placeholder until the archive's own tag is read. */
  app: AppSpec;
  image: ImageSpec;
  /** null for `engine.channel: distro`. */
  bundle: BundleSource | null;
  slot: string;
}

/** What `app.image` holds for an archive image until the archive's own tag is known. */
export const ARCHIVE_IMAGE_PLACEHOLDER = "longshore-archive";

/** Options of {@link parseProvisionConfig}. */
export interface ProvisionParseOptions {
  /** The file's name as the user knows it; prefixes every issue path. */
  file?: string;
  /** Relative `image.archive` and `bundle` paths are resolved against this directory. */
  baseDir: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses provisioning text (YAML or JSON). Pure: never touches a file or a host. */
export function parseProvisionConfig(text: string, options: ProvisionParseOptions): ParseResult<ProvisionConfig> {
  const y = parseYamlText(text, options.file);
  if (!y.ok) return y;
  const r = provisionConfigFromData(y.data, options);
  return r.ok ? r : { ok: false, issues: formatIssues(r.issues, options.file) };
}

/** Validates already-parsed data (YAML, JSON, or a Pulumi input). Issues keep their paths as arrays. */
export function provisionConfigFromData(
  data: unknown,
  options: ProvisionParseOptions,
): { ok: true; value: ProvisionConfig } | { ok: false; issues: PathIssue[] } {
  if (!isRecord(data)) {
    return { ok: false, issues: [{ path: [], message: "expected a mapping with engine:, app:, image:, bundle: and slot:" }] };
  }
  const issues: PathIssue[] = [];
  let input: Record<string, unknown> = data;
  const app = data["app"];
  if (isRecord(app)) {
    if ("image" in app) {
      issues.push({ path: ["app", "image"], message: "set the image under the top-level image: (archive: or pull:), not in app" });
    }
    const image = data["image"];
    const injected = isRecord(image) && typeof image["pull"] === "string" ? image["pull"] : ARCHIVE_IMAGE_PLACEHOLDER;
    // Keep the user's key order (issues are sorted by it); image goes last.
    const { image: _dropped, ...rest } = app;
    input = { ...data, app: { ...rest, image: injected } };
  }
  const parsed = provisionFileSchema.safeParse(input, { error: friendlyErrorMap });
  if (!parsed.success) {
    // The injected app.image is ours: an invalid pull reference is reported at image.pull already.
    issues.push(...zodPathIssues(parsed.error.issues).filter((i) => !(i.path[0] === "app" && i.path[1] === "image")));
  }
  const bundle = typeof data["bundle"] === "string" && data["bundle"] !== "" ? bundleSource(data["bundle"], options.baseDir) : null;
  if (bundle && "problem" in bundle) issues.push({ path: ["bundle"], message: bundle.problem });
  if (issues.length || !parsed.success) return { ok: false, issues: sortByDocumentOrder(issues, data) };

  const f = parsed.data;
  const image: ImageSpec =
    f.image.archive !== undefined
      ? { archive: path.resolve(options.baseDir, f.image.archive) }
      : { pull: f.image.pull!, ...(f.image.id ? { id: f.image.id } : {}) };
  return {
    ok: true,
    value: {
      engine: f.engine,
      app: f.app,
      image,
      bundle: f.engine.channel === "bundle" && bundle && !("problem" in bundle) ? bundle : null,
      slot: f.slot,
    },
  };
}

/** A directory (anything with a `/` or starting with `.`), or a recipe name. */
function bundleSource(value: string, baseDir: string): BundleSource | { problem: string } {
  if (value.includes("/") || value.startsWith(".")) return { dir: path.resolve(baseDir, value) };
  const m = RECIPE_NAME_PATTERN.exec(value);
  if (!m) {
    return {
      problem: `must be a bundle directory (a path with a /) or a recipe name debian-<suite>-<arch> such as debian-bookworm-amd64 (arch one of ${DEB_ARCHES.join(", ")})`,
    };
  }
  return { recipe: { name: value, source: "debian", suite: m[1]!, arch: m[2] as (typeof DEB_ARCHES)[number] } };
}

/** Reads and parses a provisioning file; throws {@link ConfigError} listing every problem. */
export async function loadProvisionConfig(file: string, read: (p: string) => Promise<string> = (p) => readFile(p, "utf8")): Promise<ProvisionConfig> {
  let text: string;
  try {
    text = await read(file);
  } catch (err) {
    throw new ConfigError(file, [{ path: file, message: `cannot read the file (${(err as Error).message})` }], {
      suggestion: "Check the -f path.",
      cause: err,
    });
  }
  const r = parseProvisionConfig(text, { file, baseDir: path.dirname(path.resolve(file)) });
  if (!r.ok) throw new ConfigError(file, r.issues, { suggestion: "Fix the listed problems; docs/engine.md (Provisioning) describes the file." });
  return r.value;
}
