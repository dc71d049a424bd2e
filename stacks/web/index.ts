/**
 * The `web` stack program: reads this project's stack config (the only place in longshore that
 * does), parses it with zod (every problem at once, with its path), declares the environment and
 * exports its public outputs. Run it through Pulumi after `npm run build` (see Pulumi.yaml and
 * docs/aws.md).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../core/errors";
import { parseWebStackConfig, projectConfigValues, type WebStackConfig } from "../../config/web-stack";
import { buildWebStack, configSecretKeys } from "./web-stack";

/** Reads and parses the stack config, turning a ConfigError into a message without a stack trace. */
function readConfig(): WebStackConfig {
  const project = new pulumi.Config().name;
  const all = pulumi.runtime.allConfig();
  const raw = projectConfigValues(all, project);
  const secretKeys = configSecretKeys(all, project);
  try {
    return parseWebStackConfig(raw, { stack: pulumi.getStack(), secretKeys });
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new pulumi.RunError(`${e.message}${e.suggestion ? `\n${e.suggestion}` : ""}`);
    }
    throw e;
  }
}

const stack = buildWebStack(readConfig());

export const loadBalancerDnsName = stack.outputs.loadBalancerDnsName;
export const url = stack.outputs.url;
export const liveSlot = stack.outputs.liveSlot;
export const weights = stack.outputs.weights;
export const hostNames = stack.outputs.hostNames;
export const hostAddresses = stack.outputs.hostAddresses;
export const hostKeyFingerprints = stack.outputs.hostKeyFingerprints;
export const sshUser = stack.outputs.sshUser;
export const deployPublicKey = stack.outputs.deployPublicKey;
export const amiIds = stack.outputs.amiIds;
export const testEndpoints = stack.outputs.testEndpoints;
export const vpcId = stack.outputs.vpcId;
