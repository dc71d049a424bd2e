/**
 * The `web` stack program. It reads the environment file, the same `longshore.yaml` the CLI and
 * the local driver read (its path from the stack config `web:environmentFile`, default the
 * repository's `longshore.yaml`), parses it into the model (every problem at once, with its path),
 * reads its secrets (`{ pulumi: KEY }` ones from the stack's encrypted config), declares the
 * environment and returns its public outputs. Run it through Pulumi after `npm run build` (see
 * Pulumi.yaml and docs/aws.md); `longshore rollout` with `driver: aws` runs it for you.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import type { Sensitive } from "../../core/sensitive";
import { parseEnvironment } from "../../model/environment-file";
import { resolveEnvironmentSecrets } from "../../model/secret-resolve";
import { buildWebStack, type AwsEnvironment, type WebSecrets } from "./web-stack";

/** The stack config keys of this program (everything else is in the environment file). */
const ENVIRONMENT_FILE_KEY = "environmentFile";

/** The environment file: `web:environmentFile`, else the repository's `longshore.yaml`. */
function environmentFile(config: pulumi.Config): string {
  const set = config.get(ENVIRONMENT_FILE_KEY);
  // Compiled, this file is dist/stacks/web/index.js: the repository is three levels up.
  return set !== undefined ? path.resolve(set) : path.resolve(__dirname, "..", "..", "..", "longshore.yaml");
}

/** A Pulumi config secret named by `{ pulumi: KEY }`: `KEY` in this project's namespace, or `ns:KEY`. */
function pulumiSecret(key: string): pulumi.Output<string> {
  const i = key.indexOf(":");
  return i < 0 ? new pulumi.Config().requireSecret(key) : new pulumi.Config(key.slice(0, i)).requireSecret(key.slice(i + 1));
}

/** Reads and validates everything before any resource is declared. */
async function load(): Promise<{ env: AwsEnvironment; secrets: WebSecrets }> {
  const config = new pulumi.Config();
  const file = environmentFile(config);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError("stack config", [{ path: `web:${ENVIRONMENT_FILE_KEY}`, message: `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }], {
      suggestion: `Set it with \`pulumi config set web:${ENVIRONMENT_FILE_KEY} /path/to/longshore.yaml\`.`,
    });
  }
  const baseDir = path.dirname(file);
  const parsed = parseEnvironment(text, file, baseDir);
  if (!parsed.ok) throw new ConfigError(file, parsed.issues, { suggestion: "Fix the listed problems; docs/environment.md describes every key." });
  const env = parsed.value;
  if (env.driver !== "aws" || env.aws === undefined) {
    throw new ConfigError(file, [{ path: `${file}: driver`, message: `is ${env.driver}: the web program builds environments with driver: aws` }]);
  }
  const region = new pulumi.Config("aws").get("region");
  if (env.aws.region !== undefined && region !== undefined && region !== env.aws.region) {
    throw new ConfigError(file, [{ path: `${file}: aws.region`, message: `is ${env.aws.region}, but the stack's aws:region is ${region}: make them agree` }]);
  }
  const read = await resolveEnvironmentSecrets(env, { baseDir, reader: systemSecretReader(process.env), file, deferPulumi: true });
  const value = (v: Sensitive) => pulumi.secret(v.reveal());
  const app: WebSecrets["app"] = {};
  for (const [key, source] of Object.entries(env.app.secrets)) app[key] = "pulumi" in source ? pulumiSecret(source.pulumi) : value(read.app[key]!);
  const password = env.registry?.password;
  const registryPassword = password === undefined ? null : "pulumi" in password ? pulumiSecret(password.pulumi) : value(read.registryPassword!);
  return { env: env as AwsEnvironment, secrets: { app, registryPassword } };
}

/** The program: Pulumi calls it and exports what it returns. */
export = async () => {
  let loaded;
  try {
    loaded = await load();
  } catch (e) {
    // The user's error, without a stack trace.
    if (e instanceof ConfigError) throw new pulumi.RunError(`${e.message}${e.suggestion ? `\n${e.suggestion}` : ""}`);
    throw e;
  }
  const o = buildWebStack(loaded.env, loaded.secrets).outputs;
  return {
    loadBalancerDnsName: o.loadBalancerDnsName,
    url: o.url,
    liveSlot: o.liveSlot,
    weights: o.weights,
    hostNames: o.hostNames,
    hostAddresses: o.hostAddresses,
    hostKeyFingerprints: o.hostKeyFingerprints,
    sshUser: o.sshUser,
    deployPublicKey: o.deployPublicKey,
    amiIds: o.amiIds,
    testEndpoints: o.testEndpoints,
    vpcId: o.vpcId,
  };
};
