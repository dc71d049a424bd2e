/**
 * The environment file on disk: load it (every problem reported with its path), and record a new
 * desired state in it after a rollout, keeping the user's comments and layout.
 */
import { promises as fs } from "node:fs";
import { ConfigError } from "../core/errors";
import { environmentSchema, type Environment } from "./environment";
import { parseYamlText } from "./yaml-text";
import { parseWith, type ParseResult } from "./zod-issues";

/** Parses environment text. Pure. */
export function parseEnvironment(text: string, file?: string): ParseResult<Environment> {
  const y = parseYamlText(text, file);
  if (!y.ok) return y;
  if (y.data === null || y.data === undefined) {
    return { ok: false, issues: [{ path: file ?? "(top level)", message: "the file is empty: expected name:, app: and slots:" }] };
  }
  return parseWith(environmentSchema, y.data, file === undefined ? {} : { file });
}

/** Reads and parses an environment file; throws {@link ConfigError} listing every problem. */
export async function loadEnvironment(file: string): Promise<{ env: Environment; text: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, [{ path: file, message: `cannot read the file (${(e as Error).message})` }], {
      suggestion: "Run `longshore up` with no arguments to create the local demo environment, or pass --file.",
      cause: e,
    });
  }
  const r = parseEnvironment(text, file);
  if (!r.ok) throw new ConfigError(file, r.issues, { suggestion: "Fix the listed problems; docs/environment.md describes the format." });
  return { env: r.value, text };
}

/** A change to the desired state. */
export interface DesiredStateChange {
  live?: "blue" | "green" | null;
  images?: Partial<Record<"blue" | "green", string | null>>;
}

/** Applies a change to the file's text, keeping comments and key order. Pure. */
export function updateEnvironmentText(text: string, change: DesiredStateChange): string {
  const y = parseYamlText(text);
  if (!y.ok) throw new Error("updateEnvironmentText: the text no longer parses");
  if (change.live !== undefined) y.doc.set("live", change.live);
  for (const [slot, image] of Object.entries(change.images ?? {})) y.doc.setIn(["slots", slot, "image"], image);
  return y.doc.toString();
}

/** Writes the file atomically (a reader never sees half a file). */
export async function writeEnvironmentText(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

/** The demo environment `longshore up` creates on a fresh machine. */
export function demoEnvironmentText(image: string): string {
  return `# A longshore environment: the desired state of one application, reviewed in git.
# longshore rollout IMAGE changes slots.<idle>.image and live; see docs/environment.md.
name: demo
driver: local
app:
  name: demo
  port: 8080          # the port the app listens on in its container
  healthPath: /healthz
slots:
  blue:
    image: ${image}
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
