/**
 * The environment file on disk: parse it (every problem reported with its path in the file), load
 * it, and record a new desired state in it after an operation, keeping the user's comments and
 * layout. Parsing is pure; reading and writing are the two thin edges here.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../core/atomic-write";
import { ConfigError } from "../core/errors";
import { environmentSchema, type Environment } from "./environment";
import { isBundleDirectory } from "./engine";
import { SLOTS, type SlotName } from "./names";
import { parseYamlText } from "./yaml-text";
import { parseWith, type ParseResult } from "./zod-issues";

/** Parses environment text. Pure. Relative paths in it (a bundle directory) are resolved against `baseDir` when given. */
export function parseEnvironment(text: string, file?: string, baseDir?: string): ParseResult<Environment> {
  const y = parseYamlText(text, file);
  if (!y.ok) return y;
  if (y.data === null || y.data === undefined) {
    return { ok: false, issues: [{ path: file ?? "(top level)", message: "the file is empty: expected name:, app: and slots:" }] };
  }
  const r = parseWith(environmentSchema, y.data, file === undefined ? {} : { file });
  if (!r.ok || baseDir === undefined) return r;
  const bundle = r.value.engine.bundle;
  return isBundleDirectory(bundle) ? { ok: true, value: { ...r.value, engine: { ...r.value.engine, bundle: path.resolve(baseDir, bundle) } } } : r;
}

/** A loaded environment file. */
export interface LoadedEnvironment {
  env: Environment;
  /** The file's text, for rewriting it with a new desired state. */
  text: string;
  /** The file's absolute path. */
  file: string;
  /** Its directory: relative paths in the file (secret files, a bundle directory) start here. */
  baseDir: string;
}

/** Reads and parses an environment file; throws {@link ConfigError} listing every problem. */
export async function loadEnvironment(file: string): Promise<LoadedEnvironment> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await fs.readFile(absolute, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "cannot be read (permission denied)" : `cannot be read (${code ?? (e as Error).message})`;
    throw new ConfigError(file, [{ path: file, message: `the file ${why}` }], {
      suggestion: "Run `longshore up` with no arguments to create the local demo environment, or pass -f FILE.",
    });
  }
  const baseDir = path.dirname(absolute);
  const r = parseEnvironment(text, file, baseDir);
  if (!r.ok) throw new ConfigError(file, r.issues, { suggestion: "Fix the listed problems; docs/environment.md describes every key." });
  return { env: r.value, text, file: absolute, baseDir };
}

/** A change to the desired state. */
export interface DesiredStateChange {
  live?: SlotName | null;
  /** Each slot's image; null when the slot no longer has hosts. */
  images?: Partial<Record<SlotName, string | null>>;
  /** Each slot's size. */
  sizes?: Partial<Record<SlotName, number>>;
}

/** Applies a change to the file's text, keeping comments and key order. Pure. */
export function updateEnvironmentText(text: string, change: DesiredStateChange): string {
  const y = parseYamlText(text);
  if (!y.ok) throw new Error("updateEnvironmentText: the text no longer parses");
  if (change.live !== undefined) y.doc.set("live", change.live);
  for (const slot of SLOTS) {
    const image = change.images?.[slot];
    if (image !== undefined) y.doc.setIn(["slots", slot, "image"], image);
    const size = change.sizes?.[slot];
    if (size !== undefined) y.doc.setIn(["slots", slot, "size"], size);
  }
  // As the user wrote it: no folding of long lines (SSH keys, ARNs), no padding added inside [a, b].
  return y.doc.toString({ lineWidth: 0, flowCollectionPadding: false });
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
