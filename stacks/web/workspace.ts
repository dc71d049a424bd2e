/**
 * The `web` stack through Pulumi's Automation API, for the aws rollout driver: the stack is named
 * after the environment, and its only config is where the environment file is (`web:environmentFile`)
 * and, when the file says one, the region. Everything else the program reads from the file.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import type * as automation from "@pulumi/pulumi/automation";
import { ConfigError, MissingToolError } from "../../core/errors";
import type { StackWorkspace } from "../../drivers/aws/aws-driver";
import type { Environment } from "../../model/environment";
import { plainSecretIssues } from "./config-secrets";

/** Finds the Pulumi CLI on PATH, or explains how to get it. */
export function requirePulumiCli(env: NodeJS.ProcessEnv = process.env): string {
  const found = spawnSync("sh", ["-c", "command -v pulumi"], { env, encoding: "utf8" });
  const bin = found.status === 0 ? found.stdout.trim() : "";
  if (!bin) {
    throw new MissingToolError("the aws driver needs the Pulumi CLI, and `pulumi` is not on PATH", {
      suggestion: "Install it (https://www.pulumi.com/docs/install/), log in with `pulumi login`, then run this again. The local driver needs no Pulumi CLI.",
    });
  }
  return bin;
}

/** The `web` stack's project directory (the one with Pulumi.yaml), from the source or the build. */
export function webStackDir(): string {
  // Compiled, this file is dist/stacks/web/workspace.js; the project lives in the source tree.
  const candidates = [__dirname, path.resolve(__dirname, "../../../stacks/web")];
  return candidates.find((d) => existsSync(path.join(d, "Pulumi.yaml"))) ?? candidates[0]!;
}

/**
 * The real workspace: the Automation API over the `web` program. Checks for the CLI first, so its
 * absence is one clear error instead of a stack trace from deep inside.
 */
export async function automationWorkspace(env: Environment, environmentFile: string, workDir = webStackDir()): Promise<StackWorkspace> {
  requirePulumiCli();
  // Loaded only here: the Automation API is heavy and unused by the local driver.
  const { LocalWorkspace } = require("@pulumi/pulumi/automation") as typeof automation;
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: env.name, workDir });
  await stack.setConfig("web:environmentFile", { value: path.resolve(environmentFile) });
  if (env.aws?.region) await stack.setConfig("aws:region", { value: env.aws.region });
  // Before `up`: a secret set without --secret sits in clear in the stack file (and in git).
  const plain = plainSecretIssues(env, environmentFile, await stack.getAllConfig());
  if (plain.length) throw new ConfigError(`the secrets of ${environmentFile}`, plain, { suggestion: "Pulumi keeps a value encrypted only when it is set with --secret." });
  return {
    up: async (onOutput) => {
      await stack.up({ onOutput: (text: string) => text.split("\n").filter(Boolean).forEach(onOutput) });
    },
    outputs: async () => Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, (v as automation.OutputValue).value])),
    // The stack's region (the lock bucket's): the file's, else the stack's aws:region config.
    region: async () => env.aws?.region ?? (await stack.getConfig("aws:region").then((v) => v.value, () => undefined)),
  };
}
