/**
 * The `web` environment from the environment file: network, security groups, a deploy key, one
 * host fleet per slot, each host provisioned over SSH with the same app, registry and engine blocks
 * the local driver uses, and a blue/green load balancer whose traffic listener waits on the serving
 * slots' health gates. A function of the model (no Pulumi config read here), so tests build it
 * under mocks from any environment file.
 *
 * Logical names (a public contract: renaming one replaces real infrastructure): `web-net`,
 * `web-sg`, `web-deploy`, `web-blue`/`web-green` (fleets; their hosts `web-<slot>-<i>`),
 * `web-<slot>-<i>` (ProvisionedHost), `web-lb`, `web-lock` (the operation lock's bucket); with `aws.hostImage`, `web-image-builder` (a
 * one-host fleet), `web-image-builder-0` (its ProvisionedHost) and `web-image` (the HostImage); with
 * `aws.bastion`, `web-bastion` (the Bastion), and the network's private subnets and NAT gateways.
 *
 * With `aws.bastion` the hosts (and a host image's builder) sit in private subnets without public
 * addresses; everything that reaches them goes through the bastion: the provisioner (its
 * connection's `jump`), the health gates (HTTP over a tunnel from the bastion to the test
 * listeners, which admit the bastion's address) and the aws driver (the `bastion` output).
 */
import { createHmac } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { appInputOf, registryFor } from "../../model/deployment";
import { hostPortOf } from "../../model/app";
import type { AwsSpec } from "../../model/aws";
import { parseBundleRecipe } from "../../model/engine";
import type { Environment } from "../../model/environment";
import { targetGroupHealth } from "../../model/health";
import type { HostBundlePin, HostPlanInput } from "../../model/host-plan";
import { LOCK_FILE_NAME, type LockFile } from "../../model/lock-file";
import { SLOTS, type SlotName } from "../../model/names";
import type { ApplyHostEntry } from "../../provisioner/apply-host-contract";
import type { SshEndpointInput } from "../../provisioner/apply-host-contract";
import { Bastion } from "../../modules/bastion";
import { BlueGreenLoadBalancer } from "../../modules/blue-green-load-balancer";
import { DeployKey } from "../../modules/host-key";
import { debianAmiName, HostFleet } from "../../modules/host-fleet";
import { HostImage } from "../../modules/host-image";
import { Network } from "../../modules/network";
import { OperationLockBucket } from "../../modules/operation-lock";
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
  /**
   * The engine pins of the environment's `longshore.lock` (`name`: the file as messages call it).
   * Read only with `aws.hostImage`, whose AMI is made from the pinned bundle. @default nothing pinned
   */
  lock?: { name: string; engine: LockFile["engine"] };
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
  /** With `aws.hostImage` (and hosts): the AMI the slots boot from and the bundle it holds; else null. */
  hostImage: { amiId: pulumi.Output<string>; bundleId: string } | null;
  testEndpoints: Partial<Record<SlotName, pulumi.Output<string>>>;
  vpcId: pulumi.Output<string>;
  /**
   * With `aws.bastion`: where to SSH in (`address`, port 22, `sshUser`) and its pinned host key;
   * `hostAddresses` are then private addresses, reached through it. Else null.
   */
  bastion: { address: pulumi.Output<string>; hostKeyFingerprint: pulumi.Output<string> } | null;
  /** The bucket holding the operation lock shared by every operator (`locks/<name>.json` while one runs). */
  lockBucket: pulumi.Output<string>;
}

/** The host image and what makes it (see {@link buildWebStack}). */
export interface WebHostImage {
  /** The bundle pin it is made from (longshore.lock's, for the hosts' architecture). */
  pin: HostBundlePin;
  /** One host, `<environment>-builder-0`, that the image is taken of. */
  builder: HostFleet;
  /** The builder's engine-only provisioning. */
  provisioned: ProvisionedHost;
  image: HostImage;
}

/** What the stack builds, for tests and for the outputs. */
export interface WebStack {
  network: Network;
  securityGroups: WebSecurityGroups;
  /** With `aws.bastion`; else null. */
  bastion: Bastion | null;
  deployKey: DeployKey;
  fleets: Record<SlotName, HostFleet>;
  provisioned: Record<SlotName, ProvisionedHost[]>;
  /** With `aws.hostImage` and hosts in a slot; else null. */
  hostImage: WebHostImage | null;
  loadBalancer: BlueGreenLoadBalancer;
  /** Where `longshore` operations lock the environment across operators (`web-lock`). */
  lock: OperationLockBucket;
  outputs: WebStackOutputs;
}

/**
 * One slot's host plan, secret values given as `S` (Pulumi inputs for the resource, placeholders
 * for the plan hash). Credentials go only with an image from their own registry. Pure.
 */
export function hostPlanFor<S>(env: AwsEnvironment, slot: SlotName, secrets: { app: Record<string, S>; registryPassword: S | null }, bundlePin: HostBundlePin | null = null) {
  const image = env.slots[slot].image;
  if (image === null) throw new Error(`slots.${slot}.image is not set`);
  const registry = registryFor(env.registry, secrets.registryPassword, image);
  return {
    slot,
    app: appInputOf(env.app, image, secrets.app),
    ...(registry ? { registry } : {}),
    engine: env.engine,
    healthDeadlineSeconds: env.rollout.healthDeadlineSeconds,
    // Hosts booted from a host image get its bundle, so their engine steps find it there.
    ...(bundlePin ? { bundlePin } : {}),
  };
}

/** The same plan with every secret a placeholder: what the plan hash is computed from (secrets hash as placeholders anyway). */
function hashablePlan(env: AwsEnvironment, slot: SlotName, bundlePin: HostBundlePin | null): HostPlanInput {
  const placeholder = new Sensitive("(secret)");
  return hostPlanFor(
    env,
    slot,
    {
      app: Object.fromEntries(Object.keys(env.app.secrets).map((k) => [k, placeholder])),
      registryPassword: env.registry ? placeholder : null,
    },
    bundlePin,
  ) as HostPlanInput;
}

/**
 * The builder's plan: the engine only (no app, image or secret may end up in an AMI every host
 * boots from), from the pinned bundle. `slot` and `app` are placeholders the provisioner does not
 * use with `engineOnly`; the app has no secrets and names no real image. Pure.
 */
export function builderPlanFor(env: AwsEnvironment, bundlePin: HostBundlePin) {
  return {
    slot: "blue" as const,
    app: { name: "host-image", image: "longshore-host-image:none" },
    engine: env.engine,
    engineOnly: true,
    bundlePin,
  };
}

/**
 * The pin a host image is made from, or null when none is made (`aws.hostImage` off, or no slot
 * has hosts): longshore.lock's bundle for the hosts' architecture, amd64 (the Debian lookup's)
 * unless `engine.bundle` names one. Throws a {@link ConfigError} at the lock's key when it pins
 * nothing there or another recipe, before anything is declared. Pure.
 */
export function hostImagePin(env: AwsEnvironment, lock: { name: string; engine: LockFile["engine"] } = { name: LOCK_FILE_NAME, engine: {} }): HostBundlePin | null {
  if (!env.aws.hostImage || !SLOTS.some((slot) => env.slots[slot].image !== null)) return null;
  // The model refuses aws.hostImage without a recipe name: this parses.
  const recipe = parseBundleRecipe(env.engine.bundle);
  if (recipe === null) throw new Error(`aws.hostImage: engine.bundle ${env.engine.bundle} is not a recipe name`);
  const arch = recipe.arch ?? "amd64";
  const expected = `debian-${recipe.suite}-${arch}`;
  const pin = lock.engine[arch];
  const suggestion = `Run \`longshore engine update -f <environment file> --arch ${arch}\`, review the packages it prints and commit ${lock.name}.`;
  if (pin === undefined) {
    throw new ConfigError(lock.name, [{ path: `${lock.name}: engine.${arch}`, message: `pins no bundle: aws.hostImage makes the hosts' AMI from the bundle pinned here` }], { suggestion });
  }
  if (pin.recipe !== expected) {
    throw new ConfigError(lock.name, [{ path: `${lock.name}: engine.${arch}.recipe`, message: `pins ${pin.recipe}, but engine.bundle now asks for ${expected}` }], { suggestion });
  }
  return { arch, ...pin };
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
  // Before anything is declared: a missing pin fails the preview with the lock's key, not halfway.
  const imagePin = hostImagePin(env, deps.lock);

  const network = new Network("web-net", {
    cidrBlock: aws.vpcCidr,
    ...(aws.availabilityZones ? { availabilityZones: aws.availabilityZones } : { azCount: aws.azCount }),
    // Hosts behind a bastion pull their image and packages through NAT, one gateway per zone.
    ...(aws.bastion ? { privateSubnets: true } : {}),
    tags,
  });

  const deployKey = new DeployKey("web-deploy", { comment: `longshore-deploy@${name}` });
  const authorizedKeys = [aws.sshPublicKey, deployKey.publicKey];

  const bastion = aws.bastion
    ? new Bastion("web-bastion", {
        environment: name,
        vpcId: network.vpcId,
        vpcCidr: aws.vpcCidr,
        subnetId: network.publicSubnetIds[0]!,
        adminCidrs: aws.adminCidrs,
        authorizedKeys,
        // The health gates open tunnels from the bastion to the test listeners.
        forwardPorts: [aws.testListenerPorts.blue, aws.testListenerPorts.green],
        instanceType: aws.bastion.instanceType,
        // The hosts' base image: the file's AMI, else the newest Debian of hosts.os.
        ...(aws.amiId ? { amiId: aws.amiId } : { amiNameFilter: debianAmiName(env.hosts.os) }),
        tags,
      })
    : null;

  const securityGroups = new WebSecurityGroups("web-sg", {
    vpcId: network.vpcId,
    adminCidrs: aws.adminCidrs,
    adminCoverageLimit: aws.adminCidrsMaxCoverage,
    appPort: hostPort,
    publicPorts: aws.certificateArn ? [80, 443] : [80],
    testPorts: [aws.testListenerPorts.blue, aws.testListenerPorts.green],
    hostEgressPorts: aws.hostEgressPorts,
    // Behind a bastion: SSH from its group only, and its address may use the test listeners.
    ...(bastion ? { bastionSecurityGroupId: bastion.securityGroupId, adminSsh: false, bastionPublicIp: bastion.publicIp } : {}),
    tags,
  });

  // Where hosts live and how they are reached: private subnets and addresses behind a bastion.
  const hostSubnetIds = bastion ? network.privateSubnetIds : network.publicSubnetIds;
  const placement = bastion ? { subnetIds: hostSubnetIds, associatePublicIpAddress: false } : { subnetIds: hostSubnetIds };
  const addressesOf = (fleet: HostFleet) => (bastion ? fleet.privateIps : fleet.publicIps);
  // The bastion as the provisioner and the gates reach it (the deploy key is added where it is used, as a secret).
  const jumpOf = (b: Bastion) =>
    pulumi.all([b.publicIp, b.hostKeyFingerprint]).apply(([address, hostKeyFingerprint]) => ({ name: b.hostName, address, port: 22, user: aws.sshUser, hostKeyFingerprint }));
  const jump = bastion ? jumpOf(bastion) : null;
  // Behind a bastion, provisioning waits for the whole way in and out: the bastion and its rules,
  // the hosts' SSH rule, and the NAT routes the hosts pull their image through.
  const provisionOpts: pulumi.ComponentResourceOptions = bastion ? { dependsOn: [network, securityGroups, bastion] } : {};

  const needsEntry = aws.provision && SLOTS.some((slot) => sizeOf(slot) > 0);
  const entry = needsEntry ? (deps.loadEntry ?? defaultLoadEntry)() : undefined;
  const connectionOf = (fleet: HostFleet, i: number) =>
    pulumi.all([addressesOf(fleet)[i]!, fleet.hostKeyFingerprints[i]!, jump]).apply(([address, hostKeyFingerprint, via]) => ({
      name: fleet.hostNames[i]!,
      address,
      port: 22,
      user: aws.sshUser,
      hostKeyFingerprint,
      ...(via ? { jump: via } : {}),
    }));

  // The host image: one builder host, provisioned with the engine only, and an AMI of it. The
  // builder stays while aws.hostImage is on: the AMI resource takes its instance id as an input,
  // so a program without it would replace the AMI. Its `image` is the pinned bundle's id, not an
  // app image: a new pin changes its user data, so a fresh builder (never one upgraded in place)
  // is provisioned and imaged, under a new AMI name. The old AMI is retained (HostImage).
  let hostImage: WebHostImage | null = null;
  if (imagePin !== null) {
    const builder = new HostFleet("web-image-builder", {
      environment: name,
      slot: "builder",
      image: `longshore-host-image:${imagePin.id}`,
      size: 1,
      instanceType: aws.instanceType,
      ...placement,
      securityGroupIds: [securityGroups.hostsSecurityGroupId],
      authorizedKeys,
      // The base the image is made from: the file's AMI, else the newest Debian of hosts.os.
      ...(aws.amiId ? { amiId: aws.amiId } : { amiNameFilter: debianAmiName(env.hosts.os) }),
      // The AMI's root snapshot has this size; the slots' hosts take the same, never smaller.
      rootVolumeGb: aws.rootVolumeGb,
      tags: { ...tags, "longshore:role": "host-image-builder" },
    });
    const plan = builderPlanFor(env, imagePin);
    const provisioned = new ProvisionedHost("web-image-builder-0", {
      connection: connectionOf(builder, 0),
      privateKey: deployKey.privateKey,
      slot: plan.slot,
      app: plan.app,
      engine: plan.engine,
      planHash: entry!.planHostHash(plan),
      engineOnly: true,
      bundlePin: imagePin,
      ...(deps.provisionedHostProvider ? { provider: deps.provisionedHostProvider } : {}),
    }, provisionOpts);
    const image = new HostImage("web-image", {
      environment: name,
      bundleId: imagePin.id,
      sourceInstanceId: builder.instanceIds[0]!,
      // Taken once the engine is on the builder (the dynamic resource: a component's own
      // registration does not wait for its children).
      after: [provisioned.resource],
    });
    hostImage = { pin: imagePin, builder, provisioned, image };
  }

  const fleets = {} as Record<SlotName, HostFleet>;
  for (const slot of SLOTS) {
    fleets[slot] = new HostFleet(`web-${slot}`, {
      environment: name,
      slot,
      image: env.slots[slot].image ?? "",
      size: sizeOf(slot),
      instanceType: aws.instanceType,
      ...placement,
      securityGroupIds: [securityGroups.hostsSecurityGroupId],
      authorizedKeys,
      // A new host image replaces the slots' hosts, create before delete (HostFleet); with a host
      // image, aws.amiId is the builder's base only.
      ...(hostImage ? { amiId: hostImage.image.amiId } : aws.amiId ? { amiId: aws.amiId } : { amiNameFilter: debianAmiName(env.hosts.os) }),
      rootVolumeGb: aws.rootVolumeGb,
      tags,
    });
  }

  const provisioned: Record<SlotName, ProvisionedHost[]> = { blue: [], green: [] };
  if (aws.provision) {
    for (const slot of SLOTS) {
      const fleet = fleets[slot];
      if (fleet.hostNames.length === 0) continue;
      // Computed here, before anything is declared for the slot: a plan the provisioner refuses
      // fails the preview, not a host.
      const planHash = entry!.planHostHash(hashablePlan(env, slot, imagePin));
      const plan = hostPlanFor(env, slot, secrets, imagePin);
      const digest = secretsDigest(deployKey.privateKey, plan.app.secrets, plan.registry?.password ?? null);
      provisioned[slot] = fleet.hostNames.map(
        (_name, i) =>
          new ProvisionedHost(`web-${slot}-${i}`, {
            connection: connectionOf(fleet, i),
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
            ...(plan.bundlePin ? { bundlePin: plan.bundlePin } : {}),
            ...(deps.provisionedHostProvider ? { provider: deps.provisionedHostProvider } : {}),
          }, provisionOpts),
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
      // From the bastion, logged into with the deploy key (the gate stores it as a secret).
      ...(jump
        ? { jump: pulumi.all([jump, pulumi.secret(deployKey.privateKey)]).apply(([j, privateKey]): SshEndpointInput => ({ ...j, privateKey })) }
        : {}),
      ...(deps.healthGateProvider ? { provider: deps.healthGateProvider } : {}),
    },
    slotDependencies: { blue: provisioned.blue, green: provisioned.green },
    tags,
  });

  const lock = new OperationLockBucket("web-lock", { tags });

  const perSlot = <T>(f: (slot: SlotName) => T) => ({ blue: f("blue"), green: f("green") });
  const outputs: WebStackOutputs = {
    loadBalancerDnsName: loadBalancer.dnsName,
    url: pulumi.interpolate`${aws.certificateArn ? "https" : "http"}://${loadBalancer.dnsName}/`,
    liveSlot: env.live,
    weights: aws.weights ?? null,
    hostNames: perSlot((s) => fleets[s].hostNames),
    hostAddresses: perSlot((s) => addressesOf(fleets[s])),
    hostKeyFingerprints: perSlot((s) => fleets[s].hostKeyFingerprints),
    sshUser: aws.sshUser,
    deployPublicKey: deployKey.publicKey,
    amiIds: perSlot((s) => fleets[s].amiId),
    hostImage: hostImage ? { amiId: hostImage.image.amiId, bundleId: hostImage.pin.id } : null,
    testEndpoints: loadBalancer.testEndpoints,
    vpcId: network.vpcId,
    bastion: bastion ? { address: bastion.publicIp, hostKeyFingerprint: bastion.hostKeyFingerprint } : null,
    lockBucket: lock.bucketName,
  };
  return { network, securityGroups, bastion, deployKey, fleets, provisioned, hostImage, loadBalancer, lock, outputs };
}
