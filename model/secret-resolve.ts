/**
 * Reading secrets from their sources, when an operation starts and before any host is touched.
 * The decisions (which problems to report, how a value is cut) are here; the reads themselves are
 * injected ({@link SecretReader}), so the rules are tested without files or processes and only
 * cli/ touches the operator's environment.
 *
 * Every problem names the key (`app.secrets.DB_PASSWORD`) and its source, never the value. A
 * value's one trailing newline (what `echo` and `pass show` add) is dropped; any other newline is
 * refused, because the engine's env file holds one variable per line.
 */
import * as path from "node:path";
import type { ConfigIssue } from "../core/errors";
import { ConfigError } from "../core/errors";
import { Sensitive } from "../core/sensitive";
import { fsErrorProblem } from "../core/input-files";
import { MAX_SECRET_BYTES, type SecretFile, type SecretReader } from "../core/secret-reader";
import type { Environment } from "./environment";

export type { SecretReader };
import { describeSecretSource, envFileSizeProblem, envValueProblem, type SecretSource } from "./secret";

/** How long a `{ command }` source may run. */
export const SECRET_COMMAND_TIMEOUT_MS = 30_000;

/** Options of {@link resolveSecretSource}. */
export interface ResolveOptions {
  /** The environment file's directory: relative `{ file }` paths and `{ command }`s start there. */
  baseDir: string;
  reader: SecretReader;
}

type Outcome = { ok: true; value: Sensitive } | { ok: false; message: string };

/** One trailing newline (LF or CRLF) dropped: what `echo`, editors and `pass show` add. */
function withoutTrailingNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

function checkValue(key: string, text: string, origin: string): Outcome {
  if (text === "") return { ok: false, message: `${origin} gave an empty value` };
  const problem = envValueProblem(key, text);
  if (problem) return { ok: false, message: `the value from ${origin} ${problem}` };
  return { ok: true, value: new Sensitive(text) };
}

function decode(buffer: Buffer, origin: string): { ok: true; text: string } | { ok: false; message: string } {
  if (buffer.length > MAX_SECRET_BYTES) return { ok: false, message: `${origin} gave ${buffer.length} bytes; a secret may have at most ${MAX_SECRET_BYTES}` };
  const text = buffer.toString("utf8");
  if (text.includes("\uFFFD")) return { ok: false, message: `${origin} gave bytes that are not UTF-8 text` };
  return { ok: true, text };
}

/**
 * Reads one secret. `key` is the variable's name (for the env-file line limit); the outcome's
 * message says what is wrong without the value.
 */
export async function resolveSecretSource(key: string, source: SecretSource, options: ResolveOptions): Promise<Outcome> {
  const { reader } = options;
  if ("env" in source) {
    const value = reader.env[source.env];
    if (value === undefined) return { ok: false, message: `the environment variable ${source.env} is not set` };
    return checkValue(key, value, `the environment variable ${source.env}`);
  }
  if ("file" in source) {
    const file = path.resolve(options.baseDir, source.file);
    const origin = `the file ${source.file}`;
    let read: SecretFile;
    try {
      read = await reader.readFile(file);
    } catch (e) {
      return { ok: false, message: `${origin} (${file}) ${fsErrorProblem(e)}` };
    }
    if (!read.isFile) return { ok: false, message: `${origin} (${file}) is not a regular file` };
    if ((read.mode & 0o077) !== 0) {
      return {
        ok: false,
        message: `${origin} (${file}) may be read by others (mode ${(read.mode & 0o777).toString(8).padStart(4, "0")}): run chmod 600 ${file}`,
      };
    }
    const text = decode(read.content, origin);
    return text.ok ? checkValue(key, withoutTrailingNewline(text.text), origin) : text;
  }
  if ("command" in source) {
    const origin = `the command ${source.command[0]}`;
    const r = await reader.run(source.command, options.baseDir, SECRET_COMMAND_TIMEOUT_MS);
    if (r.spawnError) return { ok: false, message: `${origin} could not be started (${r.spawnError})` };
    if (r.timedOut) return { ok: false, message: `${origin} did not finish within ${SECRET_COMMAND_TIMEOUT_MS / 1000} s` };
    const text = decode(r.stdout, origin);
    if (r.exitCode !== 0) {
      const how = r.exitCode === null ? `was killed by ${r.signal}` : `exited ${r.exitCode}`;
      // A command that printed to stdout before failing may have printed (part of) the secret;
      // its stderr could repeat it, so only a command with no output gets its stderr shown.
      if (r.stdout.length > 0) return { ok: false, message: `${origin} ${how} (its output is not shown: it may hold the secret)` };
      const said = r.stderr.trim().split("\n").pop() ?? "";
      return { ok: false, message: `${origin} ${how}${said ? `: ${said.slice(0, 200)}` : ""}` };
    }
    return text.ok ? checkValue(key, withoutTrailingNewline(text.text), origin) : text;
  }
  return { ok: false, message: `a { pulumi: ${source.pulumi} } secret is read by the web Pulumi program only` };
}

/** The environment's secrets, read: app secrets by name, and the registry password. */
export interface ResolvedSecrets {
  app: Record<string, Sensitive>;
  /** Each accessory's secrets by name (`accessories.<name>.secrets`). @default {} (none read) */
  accessories?: Record<string, Record<string, Sensitive>>;
  registryPassword: Sensitive | null;
  /** Key paths left unread (`{ pulumi }` sources with `deferPulumi`). */
  deferred: string[];
}

/**
 * Reads every secret the environment names, all at once (in parallel), and reports every problem
 * together, each with its key path in `file`. Throws {@link ConfigError}; never returns a partial result.
 */
export async function resolveEnvironmentSecrets(
  env: Environment,
  options: ResolveOptions & {
    /** The environment file's name, for the issue paths. */
    file: string;
    /** Leave `{ pulumi }` sources unread (for `check` of an aws environment: the web program reads them). @default false */
    deferPulumi?: boolean;
  },
): Promise<ResolvedSecrets> {
  const all: Array<{ path: string; key: string; source: SecretSource }> = [
    ...Object.entries(env.app.secrets).map(([key, source]) => ({ path: `app.secrets.${key}`, key, source })),
    ...(env.registry ? [{ path: "registry.password", key: "REGISTRY_PASSWORD", source: env.registry.password }] : []),
    ...Object.entries(env.accessories).flatMap(([name, a]) =>
      Object.entries(a.secrets).map(([key, source]) => ({ path: `accessories.${name}.secrets.${key}`, key, source })),
    ),
  ];
  const jobs = all.filter((j) => !(options.deferPulumi && "pulumi" in j.source));
  const outcomes = await Promise.all(jobs.map(async (j) => ({ job: j, outcome: await resolveSecretSource(j.key, j.source, options) })));
  const issues: ConfigIssue[] = outcomes.flatMap(({ job, outcome }) =>
    outcome.ok ? [] : [{ path: `${options.file}: ${job.path}`, message: `${outcome.message} (source: ${describeSecretSource(job.source)})` }],
  );
  // The env file holds plain env and secrets together: its size limit is checked with both.
  if (issues.length === 0) {
    const secretLines = outcomes.flatMap(({ job, outcome }) => (outcome.ok && job.path.startsWith("app.secrets.") ? [[job.key, outcome.value.reveal()] as const] : []));
    const size = envFileSizeProblem([...Object.entries(env.app.env), ...secretLines]);
    if (size) issues.push({ path: `${options.file}: app.secrets`, message: size });
    for (const [name, a] of Object.entries(env.accessories)) {
      const prefix = `accessories.${name}.secrets.`;
      const lines = outcomes.flatMap(({ job, outcome }) => (outcome.ok && job.path.startsWith(prefix) ? [[job.key, outcome.value.reveal()] as const] : []));
      const problem = envFileSizeProblem([...Object.entries(a.env), ...lines]);
      if (problem) issues.push({ path: `${options.file}: accessories.${name}.secrets`, message: problem });
    }
  }
  if (issues.length) {
    throw new ConfigError(`the secrets of ${options.file}`, issues, { suggestion: "Fix the sources listed; docs/environment.md (Secrets) describes them." });
  }
  const value = (p: string): Sensitive | undefined => {
    const o = outcomes.find((x) => x.job.path === p)?.outcome;
    return o?.ok ? o.value : undefined;
  };
  const app: Record<string, Sensitive> = {};
  for (const k of Object.keys(env.app.secrets)) {
    const v = value(`app.secrets.${k}`);
    if (v) app[k] = v;
  }
  const accessories: Record<string, Record<string, Sensitive>> = {};
  for (const [name, a] of Object.entries(env.accessories)) {
    accessories[name] = {};
    for (const k of Object.keys(a.secrets)) {
      const v = value(`accessories.${name}.secrets.${k}`);
      if (v) accessories[name][k] = v;
    }
  }
  return {
    app,
    accessories,
    registryPassword: value("registry.password") ?? null,
    deferred: all.filter((j) => !jobs.includes(j)).map((j) => j.path),
  };
}
