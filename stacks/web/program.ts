/**
 * The `web` program as a function, so the same program runs from this repository's stacks/web and
 * from a project of the user's (`import { webProgram } from "longshore"`, templates/pulumi-web). It
 * reads the environment file, the same `longshore.yaml` the CLI and the local driver read (its path
 * from the stack config `<project>:environmentFile`, else the caller's default, else the
 * repository's `longshore.yaml`), parses it into the model (every problem at once, with its path),
 * reads its secrets (`{ pulumi: KEY }` ones from the stack's encrypted config) and, with
 * `aws.hostImage`, the engine pins of the `longshore.lock` beside it, declares the environment and
 * returns its public outputs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, type ConfigIssue } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import type { Sensitive } from "../../core/sensitive";
import type { Environment } from "../../model/environment";
import { loadEnvironment } from "../../model/environment-file";
import { lockFilePath, readLockFile } from "../../model/lock-file";
import { resolveEnvironmentSecrets } from "../../model/secret-resolve";
import { pulumiSecretSources } from "./config-secrets";
import { buildWebStack, hostImagePin, type AwsEnvironment, type WebSecrets, type WebStackDeps, type WebStackOutputs } from "./web-stack";

/** The stack config keys of this program (everything else is in the environment file). */
const ENVIRONMENT_FILE_KEY = "environmentFile";

/** The repository this program belongs to: the nearest directory above it with a package.json (from the source and from dist/ alike). */
function repositoryRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, "..", "..", "..");
  }
}

/** The environment file: `<project>:environmentFile`, else `fallback`, else the repository's `longshore.yaml`. */
function environmentFile(config: pulumi.Config, fallback: string | undefined): string {
  const set = config.get(ENVIRONMENT_FILE_KEY);
  if (set !== undefined) return path.resolve(set);
  return fallback !== undefined ? path.resolve(fallback) : path.join(repositoryRoot(), "longshore.yaml");
}

/** Splits `{ pulumi: KEY }`'s key: `KEY` is in this project's namespace, `ns:KEY` in another. */
function pulumiKey(key: string): { namespace: string | undefined; name: string; full: string } {
  const i = key.indexOf(":");
  const namespace = i < 0 ? undefined : key.slice(0, i);
  const name = i < 0 ? key : key.slice(i + 1);
  const config = new pulumi.Config(namespace);
  return { namespace, name, full: `${config.name}:${name}` };
}

/**
 * The environment's `{ pulumi: KEY }` secrets, read from the stack's config with `getSecret`, so
 * each is a Pulumi secret in the state and the outputs however it was set. Every one that is missing
 * is reported at once with its path in the environment file. Whether the stack file holds a value
 * encrypted is not part of the SDK's public API for a program, so a value set without `--secret` is
 * not refused here; `longshore rollout` (the Automation API) refuses it (config-secrets.ts).
 */
function pulumiSecrets(env: Environment, file: string): Map<string, pulumi.Output<string>> {
  const sources = pulumiSecretSources(env);
  const issues: ConfigIssue[] = [];
  const values = new Map<string, pulumi.Output<string>>();
  for (const { path: keyPath, key } of sources) {
    const { namespace, name, full } = pulumiKey(key);
    const value = new pulumi.Config(namespace).getSecret(name);
    const set = `pulumi config set --secret ${namespace === undefined ? name : full} <value>`;
    if (value === undefined) issues.push({ path: `${file}: ${keyPath}`, message: `the stack has no config ${full}: set it with \`${set}\`` });
    else values.set(keyPath, value);
  }
  if (issues.length) throw new ConfigError(`the secrets of ${file}`, issues, { suggestion: "Set each listed key as a stack secret; docs/environment.md (Secrets) describes the sources." });
  return values;
}

/** Reads and validates everything before any resource is declared. */
async function load(fallbackFile: string | undefined): Promise<{ env: AwsEnvironment; secrets: WebSecrets; lock: WebStackDeps["lock"] }> {
  const config = new pulumi.Config();
  const file = environmentFile(config, fallbackFile);
  const key = `${config.name}:${ENVIRONMENT_FILE_KEY}`;
  const { env, baseDir } = await loadEnvironment(file, {
    namedBy: { source: "stack config", key, suggestion: `Set it with \`pulumi config set ${key} /path/to/longshore.yaml\`.` },
  });
  if (env.driver !== "aws" || env.aws === undefined) {
    throw new ConfigError(file, [{ path: `${file}: driver`, message: `is ${env.driver}: the web program builds environments with driver: aws` }]);
  }
  const region = new pulumi.Config("aws").get("region");
  if (env.aws.region !== undefined && region !== env.aws.region) {
    // Unset, the provider would take its region from the operator's AWS settings, not from the file.
    const stack = region === undefined ? "the stack has no aws:region" : `the stack's aws:region is ${region}`;
    throw new ConfigError(file, [{ path: `${file}: aws.region`, message: `is ${env.aws.region}, but ${stack}: make them agree` }], {
      suggestion: `Run \`pulumi config set aws:region ${env.aws.region}\` (the aws driver does it for you).`,
    });
  }
  // Only a host image reads the lock (its AMI is named by the pinned bundle); the pin is checked
  // here too, so a missing one is a message with its key, not a stack trace.
  let lock: WebStackDeps["lock"];
  if (env.aws.hostImage) {
    const loaded = await readLockFile(lockFilePath(file), lockFilePath(file));
    lock = { name: loaded.name, engine: loaded.lock.engine };
    hostImagePin(env as AwsEnvironment, lock);
  }
  const fromStack = pulumiSecrets(env, file);
  const read = await resolveEnvironmentSecrets(env, { baseDir, reader: systemSecretReader(process.env), file, deferPulumi: true });
  const value = (v: Sensitive) => pulumi.secret(v.reveal());
  const app: WebSecrets["app"] = {};
  for (const key of Object.keys(env.app.secrets)) app[key] = fromStack.get(`app.secrets.${key}`) ?? value(read.app[key]!);
  const registryPassword = env.registry === undefined ? null : (fromStack.get("registry.password") ?? value(read.registryPassword!));
  return { env: env as AwsEnvironment, secrets: { app, registryPassword }, lock };
}

/** Options of {@link webProgram}. */
export interface WebProgramOptions {
  /**
   * The environment file when the stack config has no `<project>:environmentFile`, relative to
   * the working directory. @default the repository's `longshore.yaml` (the nearest package.json's directory)
   */
  environmentFile?: string;
}

/**
 * The `web` program: the function a Pulumi program exports (`export = webProgram()`). Pulumi
 * calls it; it declares the environment of the file and returns the stack's outputs, exactly the
 * environment's public outputs. A problem with the file or the config is one error listing every
 * path, without a stack trace, before any resource is declared.
 */
export function webProgram(options: WebProgramOptions = {}): () => Promise<WebStackOutputs> {
  return async () => {
    let loaded;
    try {
      loaded = await load(options.environmentFile);
    } catch (e) {
      // The user's error, without a stack trace.
      if (e instanceof ConfigError) throw new pulumi.RunError(`${e.message}${e.suggestion ? `\n${e.suggestion}` : ""}`);
      throw e;
    }
    return buildWebStack(loaded.env, loaded.secrets, loaded.lock ? { lock: loaded.lock } : {}).outputs;
  };
}
