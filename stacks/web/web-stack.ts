/**
 * The `web` environment from the environment file: network, security groups, a deploy key, one
 * host fleet per slot, each host provisioned over SSH with the same app, registry and engine blocks
 * the local driver uses, and a blue/green load balancer whose traffic listener waits on the serving
 * slots' health gates. A function of the model (no Pulumi config read here), so tests build it
 * under mocks from any environment file.
 *
 * Logical names (a public contract: renaming one replaces real infrastructure): `web-net`,
 * `web-sg`, `web-deploy`, `web-blue`/`web-green` (fleets; their hosts `web-<slot>-<i>`),
 * `web-<slot>-<i>` (ProvisionedHost), `web-lb`.
 */
import { createHmac } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { Sensitive } from "../../core/sensitive";
import { appInputOf, registryFor } from "../../model/deployment";
import { hostPortOf } from "../../model/app";
import type { AwsSpec } from "../../model/aws";
import type { Environment } from "../../model/environment";
import { targetGroupHealth } from "../../model/health";
import type { HostPlanInput } from "../../model/host-plan";
import { SLOTS, type SlotName } from "../../model/names";
import type { ApplyHostEntry } from "../../provisioner/apply-host-contract";
import { BlueGreenLoadBalancer } from "../../modules/blue-green-load-balancer";
import { DeployKey } from "../../modules/host-key";
import { HostFleet } from "../../modules/host-fleet";
import { Network } from "../../modules/network";
import { DEFAULT_APPLY_HOST_ENTRY, ProvisionedHost } from "../../modules/provisioned-host";
import { WebSecurityGroups } from "../../modules/security-groups";

/** An environment the `web` program can build: `aws:` is set (the model requires it with `driver: aws`). */
export type AwsEnvironment = Environment & { aws: AwsSpec };

/**
 * The environment's secret values as the program has them: read from their sources, or Pulumi
 * secrets of the stack's config (`{ pulumi: KEY }`). They only ever travel as Pulumi secrets.
 */
export interface WebSecrets {
  app: Record<string, pulumi.Input<string>>;
  registryPassword: pulumi.Input<string> | null;
}

/** What the program needs besides the config; tests pass fakes. */
export interface WebStackDeps {
  /** The provisioner's entry module (for plan hashes). Default: required from the built tree. */
  loadEntry?: () => Pick<ApplyHostEntry, "planHostHash">;
  /** Providers for the dynamic resources (tests). Default: the real ones. */
  provisionedHostProvider?: pulumi.dynamic.ResourceProvider;
  healthGateProvider?: pulumi.dynamic.ResourceProvider;
}

/** The stack's outputs. Public values only; private keys never appear here. */
export interface WebStackOutputs {
  loadBalancerDnsName: pulumi.Output<string>;
  url: pulumi.Output<string>;
  liveSlot: SlotName | null;
  weights: Record<SlotName, number> | null;
  hostNames: Record<SlotName, string[]>;
  hostAddresses: Record<SlotName, pulumi.Output<string>[]>;
  hostKeyFingerprints: Record<SlotName, pulumi.Output<string>[]>;
  sshUser: string;
  deployPublicKey: pulumi.Output<string>;
  amiIds: Record<SlotName, pulumi.Output<string | null>>;
  testEndpoints: Partial<Record<SlotName, pulumi.Output<string>>>;
  vpcId: pulumi.Output<string>;
}

/** What the stack builds, for tests and for the outputs. */
export interface WebStack {
  network: Network;
  securityGroups: WebSecurityGroups;
  deployKey: DeployKey;
  fleets: Record<SlotName, HostFleet>;
  provisioned: Record<SlotName, ProvisionedHost[]>;
  loadBalancer: BlueGreenLoadBalancer;
  outputs: WebStackOutputs;
}

/**
 * One slot's host plan, secret values given as `S` (Pulumi inputs for the resource, placeholders
 * for the plan hash). Credentials go only with an image from their own registry. Pure.
 */
export function hostPlanFor<S>(env: AwsEnvironment, slot: SlotName, secrets: { app: Record<string, S>; registryPassword: S | null }) {
  const image = env.slots[slot].image;
  if (image === null) throw new Error(`slots.${slot}.image is not set`);
  const registry = registryFor(env.registry, secrets.registryPassword, image);
  return {
    slot,
    app: appInputOf(env.app, image, secrets.app),
    ...(registry ? { registry } : {}),
    engine: env.engine,
    healthDeadlineSeconds: env.rollout.healthDeadlineSeconds,
  };
}

/** The same plan with every secret a placeholder: what the plan hash is computed from (secrets hash as placeholders anyway). */
function hashablePlan(env: AwsEnvironment, slot: SlotName): HostPlanInput {
  const placeholder = new Sensitive("(secret)");
  return hostPlanFor(env, slot, {
    app: Object.fromEntries(Object.keys(env.app.secrets).map((k) => [k, placeholder])),
    registryPassword: env.registry ? placeholder : null,
  }) as HostPlanInput;
}

function defaultLoadEntry(): Pick<ApplyHostEntry, "planHostHash"> {
  try {
    return require(DEFAULT_APPLY_HOST_ENTRY) as ApplyHostEntry;
  } catch (e) {
    throw new Error(
      `the provisioner's entry module is missing (${DEFAULT_APPLY_HOST_ENTRY}): build longshore with \`npm run build\`, or set aws.provision: false in the environment file to create hosts only`,
      { cause: e },
    );
  }
}

/**
 * HMAC-SHA256 of a slot's secret values (app secrets by name, the registry password), keyed by the
 * deploy private key: it changes when any secret changes, and says nothing about a short secret
 * without the key. Canonical (sorted keys), so the same values give the same digest on every run.
 */
export function secretsDigest(
  key: pulumi.Input<string>,
  app: Record<string, pulumi.Input<string>>,
  registryPassword: pulumi.Input<string> | null,
): pulumi.Output<string> {
  return pulumi.all([key, pulumi.all(app), registryPassword]).apply(([k, values, password]) => {
    const sorted = Object.fromEntries(Object.keys(values).sort().map((n) => [n, values[n]]));
    return createHmac("sha256", k).update(JSON.stringify({ app: sorted, registryPassword: password })).digest("hex");
  });
}

/** Declares the whole environment from the environment file (read and validated by the caller). */
export function buildWebStack(env: AwsEnvironment, secrets: WebSecrets, deps: WebStackDeps = {}): WebStack {
  const aws = env.aws;
  const name = env.name;
  const tags = { ...aws.tags, "longshore:environment": name };
  const hostPort = hostPortOf(env.app);
  // A slot without an image has no hosts.
  const sizeOf = (slot: SlotName) => (env.slots[slot].image === null ? 0 : env.slots[slot].size);

  const network = new Network("web-net", {
    cidrBlock: aws.vpcCidr,
    ...(aws.availabilityZones ? { availabilityZones: aws.availabilityZones } : { azCount: aws.azCount }),
    tags,
  });

  const securityGroups = new WebSecurityGroups("web-sg", {
    vpcId: network.vpcId,
    adminCidrs: aws.adminCidrs,
    adminCoverageLimit: aws.adminCidrsMaxCoverage,
    appPort: hostPort,
    publicPorts: aws.certificateArn ? [80, 443] : [80],
    testPorts: [aws.testListenerPorts.blue, aws.testListenerPorts.green],
    hostEgressPorts: aws.hostEgressPorts,
    tags,
  });

  const deployKey = new DeployKey("web-deploy", { comment: `longshore-deploy@${name}` });

  const fleets = {} as Record<SlotName, HostFleet>;
  for (const slot of SLOTS) {
    fleets[slot] = new HostFleet(`web-${slot}`, {
      environment: name,
      slot,
      image: env.slots[slot].image ?? "",
      size: sizeOf(slot),
      instanceType: aws.instanceType,
      subnetIds: network.publicSubnetIds,
      securityGroupIds: [securityGroups.hostsSecurityGroupId],
      authorizedKeys: [aws.sshPublicKey, deployKey.publicKey],
      ...(aws.amiId ? { amiId: aws.amiId } : {}),
      rootVolumeGb: aws.rootVolumeGb,
      tags,
    });
  }

  const provisioned: Record<SlotName, ProvisionedHost[]> = { blue: [], green: [] };
  if (aws.provision) {
    const needsEntry = SLOTS.some((slot) => sizeOf(slot) > 0);
    const entry = needsEntry ? (deps.loadEntry ?? defaultLoadEntry)() : undefined;
    for (const slot of SLOTS) {
      const fleet = fleets[slot];
      if (fleet.hostNames.length === 0) continue;
      // Computed here, before anything is declared for the slot: a plan the provisioner refuses
      // fails the preview, not a host.
      const planHash = entry!.planHostHash(hashablePlan(env, slot));
      const plan = hostPlanFor(env, slot, secrets);
      const digest = secretsDigest(deployKey.privateKey, plan.app.secrets, plan.registry?.password ?? null);
      provisioned[slot] = fleet.hostNames.map(
        (name, i) =>
          new ProvisionedHost(`web-${slot}-${i}`, {
            connection: pulumi.all([fleet.publicIps[i]!, fleet.hostKeyFingerprints[i]!]).apply(([address, hostKeyFingerprint]) => ({
              name,
              address,
              port: 22,
              user: aws.sshUser,
              hostKeyFingerprint,
            })),
            privateKey: deployKey.privateKey,
            slot,
            app: pulumi.all(plan.app.secrets).apply((values) => ({ ...plan.app, secrets: values })),
            ...(plan.registry
              ? { registry: pulumi.output(plan.registry.password).apply((password) => ({ server: plan.registry!.server, username: plan.registry!.username, password })) }
              : {}),
            engine: plan.engine,
            healthDeadlineSeconds: plan.healthDeadlineSeconds,
            planHash,
            secretsDigest: digest,
            ...(deps.provisionedHostProvider ? { provider: deps.provisionedHostProvider } : {}),
          }),
      );
    }
  }

  const health = targetGroupHealth(env.app.health);
  const loadBalancer = new BlueGreenLoadBalancer("web-lb", {
    vpcId: network.vpcId,
    subnetIds: network.publicSubnetIds,
    securityGroupIds: [securityGroups.loadBalancerSecurityGroupId],
    appPort: hostPort,
    targets: { blue: fleets.blue.instanceIds, green: fleets.green.instanceIds },
    ...(env.live ? { liveSlot: env.live } : {}),
    ...(aws.weights ? { weights: aws.weights } : {}),
    healthCheck: { path: env.app.health.path, ...health, unhealthyThreshold: 2 },
    // Draining is the target groups' deregistration delay, which AWS takes in whole seconds
    // (the file may say 2.5: round up, never drain shorter than asked).
    deregistrationDelaySeconds: Math.ceil(env.rollout.drainSeconds),
    ...(aws.certificateArn ? { certificateArn: aws.certificateArn } : {}),
    testListenerPorts: aws.testListenerPorts,
    healthGate: {
      matcher: health.matcher,
      // Whole milliseconds (the gate refuses others): 1.1 * 1000 is 1100.0000000000002.
      deadlineMs: Math.round(env.rollout.healthDeadlineSeconds * 1000),
      ...(deps.healthGateProvider ? { provider: deps.healthGateProvider } : {}),
    },
    slotDependencies: { blue: provisioned.blue, green: provisioned.green },
    tags,
  });

  const perSlot = <T>(f: (slot: SlotName) => T) => ({ blue: f("blue"), green: f("green") });
  const outputs: WebStackOutputs = {
    loadBalancerDnsName: loadBalancer.dnsName,
    url: pulumi.interpolate`${aws.certificateArn ? "https" : "http"}://${loadBalancer.dnsName}/`,
    liveSlot: env.live,
    weights: aws.weights ?? null,
    hostNames: perSlot((s) => fleets[s].hostNames),
    hostAddresses: perSlot((s) => fleets[s].publicIps),
    hostKeyFingerprints: perSlot((s) => fleets[s].hostKeyFingerprints),
    sshUser: aws.sshUser,
    deployPublicKey: deployKey.publicKey,
    amiIds: perSlot((s) => fleets[s].amiId),
    testEndpoints: loadBalancer.testEndpoints,
    vpcId: network.vpcId,
  };
  return { network, securityGroups, deployKey, fleets, provisioned, loadBalancer, outputs };
}
