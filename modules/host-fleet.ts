/**
 * The hosts of one slot: N EC2 instances of Debian 12, each with an SSH host key longshore
 * generated (so its fingerprint is known before the host boots), IMDSv2 only, an encrypted gp3
 * root volume, and cloud-init user data that installs that key.
 *
 * Immutable hosts: the slot's image is part of every instance's user data and of its host key's
 * keepers, and user data is replace-on-change. A new image therefore REPLACES this slot's
 * instances (new ones are created before the old ones are deleted) and never patches them in
 * place; the other slot's fleet has its own inputs and is untouched. A new `amiId` (a new
 * HostImage, modules/host-image.ts) replaces them the same way; their host keys stay (same
 * image, same hosts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderUserData } from "../templates/cloud-init";
import { HostKey } from "./host-key";

/** Debian's AWS account, which publishes the official Debian AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";
/** Debian 12 (bookworm) on x86_64. */
export const DEBIAN_12_AMI_NAME = "debian-12-amd64-*";
/** Debian 13 (trixie) on x86_64. */
export const DEBIAN_13_AMI_NAME = "debian-13-amd64-*";

/** The AMI name filter of a host OS (`hosts.os`), for {@link HostFleetArgs.amiNameFilter}. */
export function debianAmiName(os: "debian-12" | "debian-13"): string {
  return os === "debian-13" ? DEBIAN_13_AMI_NAME : DEBIAN_12_AMI_NAME;
}

/** Arguments of {@link HostFleet}. */
export interface HostFleetArgs {
  /** The environment's name, for names and tags (`prod`). */
  environment: string;
  /** The slot these hosts serve (`blue`, `green`). */
  slot: string;
  /** The image the slot runs. Required when `size` > 0; may be empty for an empty slot. */
  image: string;
  /** How many hosts. 0 removes them all. */
  size: number;
  instanceType: pulumi.Input<string>;
  /** Subnets the hosts are spread over, round-robin (host i in subnet i mod n). */
  subnetIds: pulumi.Input<string>[];
  securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Public key lines authorized for the image's default user. At least one. */
  authorizedKeys: pulumi.Input<string>[];
  /**
   * The machine image. Default: the newest Debian 12 AMI (owner {@link DEBIAN_AMI_OWNER}, name
   * `amiNameFilter`), looked up at each deployment; pin it for production, or a new Debian release
   * replaces the hosts at the next `pulumi up`. A changed id replaces every host, create before
   * delete (a HostImage's `amiId` goes here).
   */
  amiId?: pulumi.Input<string>;
  /** Name filter of the AMI lookup. Default {@link DEBIAN_12_AMI_NAME}. */
  amiNameFilter?: string;
  /** An EC2 key pair name, for break-glass access. Default none (keys come from cloud-init). */
  keyName?: pulumi.Input<string>;
  /** Give hosts a public IPv4 address (needed to reach them without a bastion). Default true. */
  associatePublicIpAddress?: boolean;
  /** Root volume size in GiB. Default 16. */
  rootVolumeGb?: number;
  /** Extra tags on the instances. Default none. */
  tags?: Record<string, string>;
}

/** The id of the newest official Debian AMI (x86_64, HVM, EBS) whose name matches `nameFilter`, looked up at deployment time. */
export function newestDebianAmi(nameFilter: string, parent: pulumi.Resource): pulumi.Output<string> {
  return aws.ec2
    .getAmiOutput(
      {
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: [nameFilter] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      },
      { parent },
    )
    .apply((a) => a.id);
}

/** Problems with the arguments; empty when fine. */
export function hostFleetProblems(args: Pick<HostFleetArgs, "environment" | "slot" | "image" | "size" | "subnetIds" | "authorizedKeys" | "rootVolumeGb">): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(args.size) || args.size < 0) problems.push(`size: must be a whole number >= 0, got ${args.size}`);
  for (const key of ["environment", "slot"] as const) {
    if (!/^[a-z][a-z0-9-]*$/.test(args[key])) problems.push(`${key}: must be lower-case letters, digits and '-', got ${JSON.stringify(args[key])}`);
  }
  if (args.size > 0) {
    if (args.image.trim() === "") problems.push("image: is required when size > 0");
    if (args.image.length > 256) problems.push("image: must be at most 256 characters (it is an AWS tag value)");
    if (args.subnetIds.length === 0) problems.push("subnetIds: must list at least one subnet");
    if (args.authorizedKeys.length === 0) problems.push("authorizedKeys: must list at least one public key");
  }
  const gb = args.rootVolumeGb ?? 16;
  if (!Number.isInteger(gb) || gb < 8 || gb > 16384) problems.push(`rootVolumeGb: must be 8 to 16384, got ${gb}`);
  return problems;
}

/** A host's name in reports and tags: `<environment>-<slot>-<i>`. */
export function hostName(environment: string, slot: string, index: number): string {
  return `${environment}-${slot}-${index}`;
}

/**
 * One slot's hosts. Children: `${name}-hostkey-${i}` (HostKey) and `${name}-${i}` (instances).
 */
export class HostFleet extends pulumi.ComponentResource {
  readonly instances: aws.ec2.Instance[];
  readonly hostKeys: HostKey[];
  /** `<environment>-<slot>-<i>`, one per host. */
  readonly hostNames: string[];
  readonly instanceIds: pulumi.Output<string>[];
  readonly publicIps: pulumi.Output<string>[];
  readonly privateIps: pulumi.Output<string>[];
  /** Each host's pinned SSH host key fingerprint (`SHA256:...`). Public. */
  readonly hostKeyFingerprints: pulumi.Output<string>[];
  /** The AMI the hosts run (null for an empty slot without a pinned AMI). */
  readonly amiId: pulumi.Output<string | null>;

  constructor(name: string, args: HostFleetArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before super(): a refused fleet declares nothing, not even the component.
    const problems = hostFleetProblems(args);
    if (problems.length) throw new Error(`HostFleet ${name}: ${problems.join("; ")}`);
    super("longshore:compute:HostFleet", name, {}, opts);

    const ami: pulumi.Output<string | null> =
      args.amiId !== undefined ? pulumi.output(args.amiId) : args.size === 0 ? pulumi.output(null) : newestDebianAmi(args.amiNameFilter ?? DEBIAN_12_AMI_NAME, this);
    this.amiId = ami;

    this.hostNames = [...Array(args.size).keys()].map((i) => hostName(args.environment, args.slot, i));
    this.hostKeys = this.hostNames.map(
      (host, i) =>
        new HostKey(
          `${name}-hostkey-${i}`,
          // A new image means new hosts, and new hosts get new identities.
          { comment: `root@${host}`, keepers: { image: args.image } },
          { parent: this },
        ),
    );

    this.instances = this.hostNames.map((host, i) => {
      const key = this.hostKeys[i]!;
      const userData = pulumi.secret(
        pulumi.all([key.privateKey, key.publicKey, pulumi.all(args.authorizedKeys)]).apply(([privateKey, publicKey, authorizedKeys]) =>
          renderUserData({
            host: { name: host, environment: args.environment, slot: args.slot, image: args.image },
            hostKey: { privateKey, publicKey },
            authorizedKeys,
          }),
        ),
      );
      return new aws.ec2.Instance(
        `${name}-${i}`,
        {
          ami: ami.apply((id) => {
            if (id === null) throw new Error(`HostFleet ${name}: no AMI`);
            return id;
          }),
          instanceType: args.instanceType,
          subnetId: args.subnetIds[i % args.subnetIds.length]!,
          vpcSecurityGroupIds: args.securityGroupIds,
          associatePublicIpAddress: args.associatePublicIpAddress ?? true,
          ...(args.keyName !== undefined ? { keyName: args.keyName } : {}),
          userData,
          userDataReplaceOnChange: true,
          metadataOptions: {
            httpEndpoint: "enabled",
            // IMDSv2 only; a hop limit of 1 keeps containers (one hop further) away from the metadata
            // service, which holds this host's user data and so its host key.
            httpTokens: "required",
            httpPutResponseHopLimit: 1,
            instanceMetadataTags: "disabled",
          },
          rootBlockDevice: {
            encrypted: true,
            volumeType: "gp3",
            volumeSize: args.rootVolumeGb ?? 16,
            deleteOnTermination: true,
            tags: { ...(args.tags ?? {}), Name: host },
          },
          tags: {
            ...(args.tags ?? {}),
            Name: host,
            "longshore:environment": args.environment,
            "longshore:slot": args.slot,
            "longshore:image": args.image,
          },
        },
        // Replace, never patch: a changed user data (a new image) or a changed AMI (a new host
        // image, a newer Debian) gets a new instance, created before the old one is deleted so the
        // slot is never empty while it is rebuilt. The AWS provider already replaces an instance
        // whose `ami` changes (ForceNew); naming it here makes that this module's contract, checked
        // by its tests, rather than a property of a provider schema nothing here can see.
        { parent: this, replaceOnChanges: ["userData", "ami"], deleteBeforeReplace: false },
      );
    });

    this.instanceIds = this.instances.map((i) => i.id);
    this.publicIps = this.instances.map((i) => i.publicIp);
    this.privateIps = this.instances.map((i) => i.privateIp);
    this.hostKeyFingerprints = this.hostKeys.map((k) => k.fingerprint);
    this.registerOutputs({
      hostNames: this.hostNames,
      instanceIds: this.instanceIds,
      publicIps: this.publicIps,
      privateIps: this.privateIps,
      hostKeyFingerprints: this.hostKeyFingerprints,
      amiId: this.amiId,
    });
  }
}
