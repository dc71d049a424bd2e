/**
 * A program of your own from longshore's components (a `pulumi new` template): the environment is
 * longshore.yaml next to this file, parsed by longshore's model (every problem with its path). One
 * VPC, the security groups, and a host fleet for each slot that has an image.
 *
 * Config it reads (all listed in Pulumi.yaml's `template.config`): `aws:region`, which must agree
 * with the file's `aws.region`, and each `{ pulumi: KEY }` secret the file names, as a stack secret.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { HostFleet, Network, WebSecurityGroups, loadEnvironment, type Environment } from "longshore";

const FILE = path.join(__dirname, "longshore.yaml");

/** The `{ pulumi: KEY }` secrets of the file, read from the stack's config (`pulumi config set --secret KEY ...`). */
function stackSecrets(env: Environment): Record<string, pulumi.Output<string>> {
  const config = new pulumi.Config();
  const out: Record<string, pulumi.Output<string>> = {};
  for (const [name, source] of Object.entries(env.app.secrets)) {
    if ("pulumi" in source) out[name] = config.requireSecret(source.pulumi);
  }
  return out;
}

export = async () => {
  const { env } = await loadEnvironment(FILE);
  if (env.driver !== "aws" || env.aws === undefined) throw new Error(`${FILE}: driver: this program builds environments with driver: aws`);
  const region = new pulumi.Config("aws").require("region");
  if (env.aws.region !== undefined && env.aws.region !== region) {
    throw new Error(`${FILE}: aws.region is ${env.aws.region}, but the stack's aws:region is ${region}: make them agree`);
  }
  // Read (and so required) here, before anything is declared; longshore's `web` program hands them to the hosts.
  const secrets = stackSecrets(env);

  const tags = { environment: env.name };
  const network = new Network(`${env.name}-net`, { azCount: env.aws.azCount, tags });
  const securityGroups = new WebSecurityGroups(`${env.name}-sg`, { vpcId: network.vpcId, adminCidrs: env.aws.adminCidrs, appPort: env.app.port, tags });
  const fleets = (["blue", "green"] as const)
    .filter((slot) => env.slots[slot].image !== null)
    .map(
      (slot) =>
        new HostFleet(`${env.name}-${slot}`, {
          environment: env.name,
          slot,
          image: env.slots[slot].image!,
          size: env.slots[slot].size,
          instanceType: env.aws!.instanceType,
          subnetIds: network.publicSubnetIds,
          securityGroupIds: [securityGroups.hostsSecurityGroupId],
          authorizedKeys: [env.aws!.sshPublicKey],
          tags,
        }),
    );

  return {
    vpcId: network.vpcId,
    hostNames: fleets.flatMap((f) => f.hostNames),
    publicIps: pulumi.all(fleets.map((f) => f.publicIps)).apply((ips) => ips.flat()),
    /** The names (never the values) of the stack secrets the program read. */
    secrets: Object.keys(secrets).sort(),
  };
};
