/**
 * The environment file on disk: parse it (every problem reported with its path in the file), load
 * it, and record a new desired state in it after an operation, keeping the user's comments and
 * layout. Parsing is pure; reading and writing are the two thin edges here.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../core/atomic-write";
import { ConfigError } from "../core/errors";
import { fsErrorProblem } from "../core/input-files";
import { type ResolvedCompose } from "./app";
import { composeAppView, parseComposeFile } from "./compose";
import { environmentSchema, type Environment } from "./environment";
import { isBundleDirectory } from "./engine";
import { SLOTS, type SlotName } from "./names";
import { isScalar, stringify } from "yaml";
import { parseYamlText } from "./yaml-text";
import { parseWith, type ParseResult } from "./zod-issues";

/** Parses environment text. Pure. Relative paths in it (a bundle directory, an image archive) are resolved against `baseDir` when given. */
export function parseEnvironment(text: string, file?: string, baseDir?: string): ParseResult<Environment> {
  const y = parseYamlText(text, file);
  if (!y.ok) return y;
  if (y.data === null || y.data === undefined) {
    return { ok: false, issues: [{ path: file ?? "(top level)", message: "the file is empty: expected name:, app: and slots:" }] };
  }
  const r = parseWith(environmentSchema, y.data, file === undefined ? {} : { file });
  if (!r.ok || baseDir === undefined) return r;
  const { engine, app } = r.value;
  return {
    ok: true,
    value: {
      ...r.value,
      engine: isBundleDirectory(engine.bundle) ? { ...engine, bundle: path.resolve(baseDir, engine.bundle) } : engine,
      app: typeof app.imageFrom === "string" ? app : { ...app, imageFrom: { archive: path.resolve(baseDir, app.imageFrom.archive) } },
    },
  };
}

/** A loaded environment file. */
export interface LoadedEnvironment {
  env: Environment;
  /** A Compose app's file (`app.compose`), read and checked; null for a single-container app. */
  compose: ResolvedCompose | null;
  /** The file's text, for rewriting it with a new desired state. */
  text: string;
  /** The file's absolute path. */
  file: string;
  /** Its directory: relative paths in the file (secret files, a bundle directory) start here. */
  baseDir: string;
}

/** Options of {@link loadEnvironment}. */
export interface LoadOptions {
  /** Relative paths are read from here. @default the process's working directory */
  cwd?: string;
  /** What named the file (a config key), for the error when it cannot be read. @default the file itself */
  namedBy?: { source: string; key: string; suggestion: string };
}

/** Reads and parses an environment file; throws {@link ConfigError} listing every problem. */
export async function loadEnvironment(file: string, options: LoadOptions = {}): Promise<LoadedEnvironment> {
  // `file` stays as the user wrote it in every message; it is read relative to `cwd` when given.
  const absolute = options.cwd === undefined ? path.resolve(file) : path.resolve(options.cwd, file);
  let text: string;
  try {
    text = await fs.readFile(absolute, "utf8");
  } catch (e) {
    const by = options.namedBy;
    throw new ConfigError(by?.source ?? file, [{ path: by?.key ?? file, message: by ? `${file} ${fsErrorProblem(e)}` : `the file ${fsErrorProblem(e)}` }], {
      suggestion: by?.suggestion ?? "Run `longshore up` with no arguments to create the local demo environment, or pass -f FILE.",
    });
  }
  const baseDir = path.dirname(absolute);
  const r = parseEnvironment(text, file, baseDir);
  if (!r.ok) throw new ConfigError(file, r.issues, { suggestion: "Fix the listed problems; docs/environment.md describes every key." });
  const compose = r.value.app.compose === undefined ? null : await loadComposeFile(r.value, file, baseDir);
  return { env: r.value, compose, text, file: absolute, baseDir };
}

/**
 * Reads and checks `app.compose` (relative to the environment file), before any host; every
 * problem is reported with its path in the Compose file (`compose.yaml: services.web.build`).
 */
export async function loadComposeFile(env: Environment, envFile: string, baseDir: string): Promise<ResolvedCompose> {
  const name = env.app.compose!;
  const display = path.isAbsolute(name) ? name : path.normalize(name);
  let text: string;
  try {
    text = await fs.readFile(path.resolve(baseDir, name), "utf8");
  } catch (e) {
    throw new ConfigError(envFile, [{ path: `${envFile}: app.compose`, message: `${name} ${fsErrorProblem(e)}` }], { suggestion: "Name the app's Compose file, relative to the environment file." });
  }
  const r = parseComposeFile(text, composeAppView(env.app), display);
  if (!r.ok) throw new ConfigError(display, r.issues, { suggestion: "Fix the listed problems; docs/compose.md says what a Compose app may use." });
  const hookService = env.rollout.beforeSwitch?.service;
  if (hookService !== undefined && !Object.hasOwn(r.value.services, hookService)) {
    throw new ConfigError(envFile, [{ path: `${envFile}: rollout.beforeSwitch.service`, message: `is not a service of ${display} (${Object.keys(r.value.services).join(", ")})` }]);
  }
  return { file: display, text };
}

/** A change to the desired state. */
export interface DesiredStateChange {
  live?: SlotName | null;
  /** Each slot's image; null when the slot no longer has hosts. */
  images?: Partial<Record<SlotName, string | null>>;
  /** Each slot's size. */
  sizes?: Partial<Record<SlotName, number>>;
  /** Accessories' images by name (`accessories.<name>.image`, written by `longshore accessory upgrade`). */
  accessoryImages?: Readonly<Record<string, string>>;
}

/**
 * Applies a change to the file's text. Only the bytes of the values that change are replaced: the
 * user's comments, quoting, flow style and line breaks stay exactly as written. A key the file
 * does not have yet is added through the YAML document (then the file is re-printed, comments kept,
 * long lines not folded). Pure.
 */
export function updateEnvironmentText(text: string, change: DesiredStateChange): string {
  const y = parseYamlText(text);
  if (!y.ok) throw new Error("updateEnvironmentText: the text no longer parses");
  const values: Array<[Array<string>, string | number | null]> = [];
  if (change.live !== undefined) values.push([["live"], change.live]);
  for (const slot of SLOTS) {
    const image = change.images?.[slot];
    if (image !== undefined) values.push([["slots", slot, "image"], image]);
    const size = change.sizes?.[slot];
    if (size !== undefined) values.push([["slots", slot, "size"], size]);
  }
  for (const [name, image] of Object.entries(change.accessoryImages ?? {})) values.push([["accessories", name, "image"], image]);
  const edits: Array<{ start: number; end: number; text: string }> = [];
  for (const [key, value] of values) {
    const node = y.doc.getIn(key, true);
    if (!isScalar(node) || !node.range) {
      // Not in the file yet (or not a plain value): fall back to editing the document.
      for (const [k, v] of values) y.doc.setIn(k, v);
      return y.doc.toString({ lineWidth: 0 });
    }
    if (node.value === value) continue;
    edits.push({ start: node.range[0], end: node.range[1], text: scalarText(value) });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** A value as YAML writes it on one line: plain when that reads back the same, else double-quoted. */
function scalarText(value: string | number | null): string {
  if (value === null) return "null";
  if (typeof value === "number") return String(value);
  const plain = stringify(value, { lineWidth: 0 }).trimEnd();
  return plain.includes("\n") ? JSON.stringify(value) : plain;
}

/** Writes the file atomically (a reader never sees half a file), keeping its permission bits. */
export async function writeEnvironmentText(file: string, text: string): Promise<void> {
  let mode = 0o644;
  try {
    mode = (await fs.stat(file)).mode & 0o777;
  } catch {
    // A new file: 0644.
  }
  writeFileAtomic(file, text, mode);
}

/** The demo environment `longshore up` creates on a fresh machine. */
export function demoEnvironmentText(image: string): string {
  return `# A longshore environment: the desired state of one application, reviewed in git.
# Every key and its default: docs/environment.md. Check it with \`longshore check\`.
name: demo
driver: local
hosts:
  os: debian-13       # Debian 13 hosts: engine 26 with Compose v2 (debian-12 works too)
app:
  name: demo
  image: ${image}     # what \`longshore up\` (and \`rollout\` with no argument) deploys
  port: 8080          # the port the app listens on in its container
  env:
    GREETING: hello
  health:
    path: /healthz
slots:                # written by longshore: what each slot runs
  blue:
    image: null
    size: 2
  green:
    image: null
    size: 2
live: null            # set by longshore after the first successful rollout
rollout:
  healthDeadlineSeconds: 120
  soakSeconds: 10
  drainSeconds: 2
  keepPrevious: true  # keep the old slot for an instant \`longshore rollback\`
local:
  listen: 127.0.0.1:8080
`;
}
