/**
 * The `web` environment from its parsed config: network, security groups, a deploy key, one host
 * fleet per slot, each host provisioned over SSH, and a blue/green load balancer whose traffic
 * listener waits on the serving slots' health gates. A function of plain data (no Pulumi config
 * read here), so tests build it under mocks with any config.
 *
 * Logical names (a public contract: renaming one replaces real infrastructure): `web-net`,
 * `web-sg`, `web-deploy`, `web-blue`/`web-green` (fleets; their hosts `web-<slot>-<i>`),
 * `web-<slot>-<i>` (ProvisionedHost), `web-lb`.
 */
import * as pulumi from "@pulumi/pulumi";
import { SLOTS, type SlotName, type WebStackConfig } from "../../config/web-stack";
import type { AppSpecInput, ApplyHostEntry, EngineOptionsInput } from "../../provisioner/apply-host-contract";
import { BlueGreenLoadBalancer } from "../../modules/blue-green-load-balancer";
import { DeployKey } from "../../modules/host-key";
import { HostFleet } from "../../modules/host-fleet";
import { Network } from "../../modules/network";
import { DEFAULT_APPLY_HOST_ENTRY, ProvisionedHost } from "../../modules/provisioned-host";
import { WebSecurityGroups } from "../../modules/security-groups";

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

/** The release label of an image: its tag, else its digest's start, else `latest`. Pure. */
export function imageVersion(image: string): string {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : null;
  const name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(":");
  const tag = colon > name.lastIndexOf("/") ? name.slice(colon + 1) : null;
  const ok = (v: string) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(v);
  if (tag && ok(tag)) return tag;
  if (digest) return `sha256-${digest.replace(/^sha256:/, "").slice(0, 12)}`;
  return "latest";
}

/** The app spec one slot's hosts run (secrets revealed: it travels as a Pulumi secret). Pure. */
export function appSpecFor(config: WebStackConfig, slot: SlotName): AppSpecInput {
  const image = config.slots[slot].image;
  if (image === undefined) throw new Error(`slots.${slot}.image is not set`);
  return {
    name: config.app.name,
    image,
    version: imageVersion(image),
    containerPort: config.app.port,
    hostPort: config.app.hostPort ?? config.app.port,
    env: config.app.env,
    secrets: Object.fromEntries(Object.entries(config.app.secrets).map(([k, v]) => [k, v.reveal()])),
    health: { path: config.app.healthPath },
    ...(config.registry
      ? { registry: { server: config.registry.server, username: config.registry.username, password: config.registry.password.reveal() } }
      : {}),
    slot,
  };
}

/** The engine options as the provisioner takes them (only the keys that were set). Pure. */
export function engineOptionsFor(config: WebStackConfig): EngineOptionsInput {
  return Object.fromEntries(Object.entries(config.engine).filter(([, v]) => v !== undefined));
}

/**
 * This project's config keys (without the namespace) that Pulumi holds as secrets. Uses
 * `isConfigSecret` from @pulumi/pulumi's runtime, which the SDK exports but does not declare
 * (3.248 is pinned; a unit test fails if it disappears).
 */
export function configSecretKeys(all: Record<string, string>, project: string): string[] {
  const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
  if (typeof isConfigSecret !== "function") throw new Error("@pulumi/pulumi no longer exports runtime/config isConfigSecret");
  return Object.keys(all)
    .filter((k) => k.startsWith(`${project}:`) && isConfigSecret(k))
    .map((k) => k.slice(project.length + 1));
}

function defaultLoadEntry(): Pick<ApplyHostEntry, "planHostHash"> {
  try {
    return require(DEFAULT_APPLY_HOST_ENTRY) as ApplyHostEntry;
  } catch (e) {
    throw new Error(
      `the provisioner's entry module is missing (${DEFAULT_APPLY_HOST_ENTRY}): build longshore with \`npm run build\`, or set web:provision false to create hosts only`,
      { cause: e },
    );
  }
}

/** Declares the whole environment. */
export function buildWebStack(config: WebStackConfig, deps: WebStackDeps = {}): WebStack {
  const env = config.environment;
  const tags = { ...config.tags, "longshore:environment": env };
  const hostPort = config.app.hostPort ?? config.app.port;

  const network = new Network("web-net", {
    cidrBlock: config.vpcCidr,
    ...(config.availabilityZones ? { availabilityZones: config.availabilityZones } : { azCount: config.azCount }),
    tags,
  });

  const securityGroups = new WebSecurityGroups("web-sg", {
    vpcId: network.vpcId,
    adminCidrs: config.adminCidrs,
    appPort: hostPort,
    publicPorts: config.certificateArn ? [80, 443] : [80],
    testPorts: [config.testListenerPorts.blue, config.testListenerPorts.green],
    hostEgressPorts: config.hostEgressPorts,
    tags,
  });

  const deployKey = new DeployKey("web-deploy", { comment: `longshore-deploy@${env}` });

  const fleets = {} as Record<SlotName, HostFleet>;
  for (const slot of SLOTS) {
    const s = config.slots[slot];
    fleets[slot] = new HostFleet(`web-${slot}`, {
      environment: env,
      slot,
      image: s.image ?? "",
      size: s.size,
      instanceType: config.instanceType,
      subnetIds: network.publicSubnetIds,
      securityGroupIds: [securityGroups.hostsSecurityGroupId],
      authorizedKeys: [config.sshPublicKey, deployKey.publicKey],
      ...(s.amiId ? { amiId: s.amiId } : {}),
      rootVolumeGb: config.rootVolumeGb,
      tags,
    });
  }

  const provisioned: Record<SlotName, ProvisionedHost[]> = { blue: [], green: [] };
  if (config.provision) {
    const needsEntry = SLOTS.some((slot) => config.slots[slot].size > 0);
    const entry = needsEntry ? (deps.loadEntry ?? defaultLoadEntry)() : undefined;
    const engine = engineOptionsFor(config);
    for (const slot of SLOTS) {
      const fleet = fleets[slot];
      if (fleet.hostNames.length === 0) continue;
      const app = appSpecFor(config, slot);
      // Computed here, before anything is declared for the slot: a config the provisioner refuses
      // fails the preview, not a host.
      const planHash = entry!.planHostHash({ slot, app, engine });
      provisioned[slot] = fleet.hostNames.map(
        (name, i) =>
          new ProvisionedHost(`web-${slot}-${i}`, {
            connection: pulumi.all([fleet.publicIps[i]!, fleet.hostKeyFingerprints[i]!]).apply(([address, hostKeyFingerprint]) => ({
              name,
              address,
              port: 22,
              user: config.sshUser,
              hostKeyFingerprint,
            })),
            privateKey: deployKey.privateKey,
            slot,
            app,
            engine,
            planHash,
            ...(deps.provisionedHostProvider ? { provider: deps.provisionedHostProvider } : {}),
          }),
      );
    }
  }

  const loadBalancer = new BlueGreenLoadBalancer("web-lb", {
    vpcId: network.vpcId,
    subnetIds: network.publicSubnetIds,
    securityGroupIds: [securityGroups.loadBalancerSecurityGroupId],
    appPort: hostPort,
    targets: { blue: fleets.blue.instanceIds, green: fleets.green.instanceIds },
    ...(config.liveSlot ? { liveSlot: config.liveSlot } : {}),
    ...(config.weights ? { weights: config.weights } : {}),
    healthCheck: {
      path: config.app.healthPath,
      matcher: config.healthCheck.matcher,
      intervalSeconds: config.healthCheck.intervalSeconds,
      timeoutSeconds: config.healthCheck.timeoutSeconds,
      healthyThreshold: config.healthCheck.healthyThreshold,
      unhealthyThreshold: config.healthCheck.unhealthyThreshold,
    },
    deregistrationDelaySeconds: config.deregistrationDelaySeconds,
    ...(config.certificateArn ? { certificateArn: config.certificateArn } : {}),
    testListenerPorts: config.testListenerPorts,
    healthGate: {
      matcher: config.healthCheck.matcher,
      deadlineMs: config.healthCheck.deadlineSeconds * 1000,
      ...(deps.healthGateProvider ? { provider: deps.healthGateProvider } : {}),
    },
    slotDependencies: { blue: provisioned.blue, green: provisioned.green },
    tags,
  });

  const perSlot = <T>(f: (slot: SlotName) => T) => ({ blue: f("blue"), green: f("green") });
  const outputs: WebStackOutputs = {
    loadBalancerDnsName: loadBalancer.dnsName,
    url: pulumi.interpolate`${config.certificateArn ? "https" : "http"}://${loadBalancer.dnsName}/`,
    liveSlot: config.liveSlot ?? null,
    weights: config.weights ?? null,
    hostNames: perSlot((s) => fleets[s].hostNames),
    hostAddresses: perSlot((s) => fleets[s].publicIps),
    hostKeyFingerprints: perSlot((s) => fleets[s].hostKeyFingerprints),
    sshUser: config.sshUser,
    deployPublicKey: deployKey.publicKey,
    amiIds: perSlot((s) => fleets[s].amiId),
    testEndpoints: loadBalancer.testEndpoints,
    vpcId: network.vpcId,
  };
  return { network, securityGroups, deployKey, fleets, provisioned, loadBalancer, outputs };
}
