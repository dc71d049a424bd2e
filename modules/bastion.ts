/**
 * One SSH bastion: the only way into hosts that sit in private subnets (`aws.bastion`). A small
 * EC2 instance in a public subnet with a public address, whose security group admits SSH from the
 * admins' address ranges only and lets it open SSH to the VPC and, optionally, a few more TCP
 * ports anywhere (the load balancer's test listeners, which the health gates check from here).
 *
 * It is set up exactly like a host: Debian from the same AMI lookup, an SSH host key longshore
 * generated and pinned before it boots (modules/host-key.ts, installed by the hosts' own cloud-init
 * template, which also hardens sshd: that key only, public keys only, no root login), so the
 * first connection to it is verified and nothing is trusted on first use. No engine, no app.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { cidrFamily } from "../model/net";
import { renderUserData } from "../templates/cloud-init";
import { DEBIAN_12_AMI_NAME, newestDebianAmi } from "./host-fleet";
import { HostKey } from "./host-key";

/** Arguments of {@link Bastion}. */
export interface BastionArgs {
  /** The environment's name, for its host name and tags (`prod` gives `prod-bastion`). */
  environment: string;
  vpcId: pulumi.Input<string>;
  /** The VPC's CIDR: the bastion may open SSH to any address in it (the hosts). */
  vpcCidr: string;
  /** A public subnet (it needs a route to the internet gateway). */
  subnetId: pulumi.Input<string>;
  /** Who may SSH into the bastion. At least one range, never a /0. */
  adminCidrs: string[];
  /** Public key lines authorized for the image's default user (the admins' key, the deploy key). At least one. */
  authorizedKeys: pulumi.Input<string>[];
  /**
   * TCP ports the bastion may reach anywhere besides SSH in the VPC: the load balancer's test
   * listeners, which have public addresses only. @default [] (SSH to the VPC only)
   */
  forwardPorts?: number[];
  /** @default "t3.nano" */
  instanceType?: pulumi.Input<string>;
  /** The machine image. @default the newest Debian AMI matching `amiNameFilter` */
  amiId?: pulumi.Input<string>;
  /** Name filter of the AMI lookup. @default {@link DEBIAN_12_AMI_NAME} */
  amiNameFilter?: string;
  /** Tags on everything that takes tags. @default {} */
  tags?: Record<string, string>;
}

/** Problems with the arguments; empty when fine. */
export function bastionProblems(args: Pick<BastionArgs, "environment" | "adminCidrs" | "authorizedKeys" | "forwardPorts">): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(args.environment)) problems.push(`environment: must be lower-case letters, digits and '-', got ${JSON.stringify(args.environment)}`);
  if (args.adminCidrs.length === 0) problems.push("adminCidrs: must list at least one address range (SSH is never open to the world)");
  args.adminCidrs.forEach((cidr, i) => {
    if (cidrFamily(cidr) === null) problems.push(`adminCidrs[${i}]: ${JSON.stringify(cidr)} is not a CIDR`);
    else if (/\/0+$/.test(cidr.trim())) problems.push(`adminCidrs[${i}]: ${cidr} would open SSH to the whole internet`);
  });
  if (args.authorizedKeys.length === 0) problems.push("authorizedKeys: must list at least one public key");
  (args.forwardPorts ?? []).forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(`forwardPorts[${i}]: ${p} is not a port (1-65535)`);
  });
  return problems;
}

/**
 * The bastion. Children: `${name}-hostkey` (HostKey), `${name}` (security group and instance),
 * `${name}-ssh-${i}` (SSH from `adminCidrs[i]`), `${name}-egress-ssh` (SSH to the VPC) and
 * `${name}-egress-${port}` (each of `forwardPorts`).
 */
export class Bastion extends pulumi.ComponentResource {
  readonly instance: aws.ec2.Instance;
  readonly securityGroup: aws.ec2.SecurityGroup;
  readonly hostKey: HostKey;
  /** `<environment>-bastion`: its name in reports and tags. */
  readonly hostName: string;
  readonly securityGroupId: pulumi.Output<string>;
  /** The address the machine running Pulumi (and admins) connect to. */
  readonly publicIp: pulumi.Output<string>;
  /** Its pinned SSH host key fingerprint (`SHA256:...`). Public. */
  readonly hostKeyFingerprint: pulumi.Output<string>;

  constructor(name: string, args: BastionArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before super(): a refused bastion declares nothing, not even the component.
    const problems = bastionProblems(args);
    if (problems.length) throw new Error(`Bastion ${name}: ${problems.join("; ")}`);
    super("longshore:network:Bastion", name, {}, opts);
    const tags = args.tags ?? {};
    const child = { parent: this };
    this.hostName = `${args.environment}-bastion`;

    this.securityGroup = new aws.ec2.SecurityGroup(
      name,
      { vpcId: args.vpcId, description: "longshore bastion: SSH from admins only", tags: { ...tags, Name: name } },
      child,
    );
    const sgId = this.securityGroup.id;
    const tcp = (port: number) => ({ ipProtocol: "tcp", fromPort: port, toPort: port });
    const rules: pulumi.Resource[] = [];
    args.adminCidrs.forEach((cidr, i) => {
      const from = cidrFamily(cidr) === "ipv6" ? { cidrIpv6: cidr } : { cidrIpv4: cidr };
      rules.push(new aws.vpc.SecurityGroupIngressRule(`${name}-ssh-${i}`, { securityGroupId: sgId, ...tcp(22), ...from, description: "SSH from admins" }, child));
    });
    rules.push(
      new aws.vpc.SecurityGroupEgressRule(`${name}-egress-ssh`, { securityGroupId: sgId, ...tcp(22), cidrIpv4: args.vpcCidr, description: "SSH to the hosts" }, child),
    );
    for (const port of args.forwardPorts ?? []) {
      rules.push(
        new aws.vpc.SecurityGroupEgressRule(
          `${name}-egress-${port}`,
          { securityGroupId: sgId, ...tcp(port), cidrIpv4: "0.0.0.0/0", description: "tunnels to the load balancer's test listeners" },
          child,
        ),
      );
    }

    // Its identity is its own: no keepers, so only a new comment makes a new key.
    this.hostKey = new HostKey(`${name}-hostkey`, { comment: `root@${this.hostName}` }, child);
    const key = this.hostKey;
    const userData = pulumi.secret(
      pulumi.all([key.privateKey, key.publicKey, pulumi.all(args.authorizedKeys)]).apply(([privateKey, publicKey, authorizedKeys]) =>
        renderUserData({
          // The hosts' template; "slot" and "image" say what this machine is (it runs no image).
          host: { name: this.hostName, environment: args.environment, slot: "bastion", image: "none" },
          hostKey: { privateKey, publicKey },
          authorizedKeys,
        }),
      ),
    );
    const ami = args.amiId !== undefined ? pulumi.output(args.amiId) : newestDebianAmi(args.amiNameFilter ?? DEBIAN_12_AMI_NAME, this);
    this.instance = new aws.ec2.Instance(
      name,
      {
        ami,
        instanceType: args.instanceType ?? "t3.nano",
        subnetId: args.subnetId,
        vpcSecurityGroupIds: [sgId],
        associatePublicIpAddress: true,
        userData,
        userDataReplaceOnChange: true,
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
        rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: 8, deleteOnTermination: true, tags: { ...tags, Name: this.hostName } },
        tags: { ...tags, Name: this.hostName, "longshore:environment": args.environment, "longshore:role": "bastion" },
      },
      // Like the hosts: replaced, never patched, the new one up before the old one goes. Its address
      // (what connections wait for) is known only once its rules exist.
      { parent: this, replaceOnChanges: ["userData", "ami"], deleteBeforeReplace: false, dependsOn: rules },
    );
    this.securityGroupId = sgId;
    this.publicIp = this.instance.publicIp;
    this.hostKeyFingerprint = key.fingerprint;
    this.registerOutputs({ publicIp: this.publicIp, hostKeyFingerprint: this.hostKeyFingerprint, securityGroupId: sgId });
  }
}
