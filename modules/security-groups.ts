/**
 * The two security groups of a blue/green web environment, least privilege:
 * - the load balancer's: its public ports (80, 443) open to the world (it is the front door), its
 *   test listener ports only to the admins, and out only to the hosts' app port;
 * - the hosts': SSH only from the admins' address ranges (or a bastion's group), the app port only
 *   from the load balancer's group, and out only on the TCP ports they need (apt, the registry).
 *   Behind a bastion (`adminSsh: false`), SSH only from the bastion's group.
 *
 * Every rule is its own resource (`aws.vpc.SecurityGroupIngressRule`/`EgressRule`), so adding an
 * admin range adds a rule instead of rewriting the group. SSH open to the world is refused by
 * {@link securityGroupProblems}, before anything is declared, and so are ranges that together open
 * more than one /8 of IPv4 or /32 of IPv6 (`adminCoverageLimit`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { cidrFamily, coverageExcesses, DEFAULT_ADMIN_COVERAGE, describeCoverageExcess, FAMILY_BITS, isPort, type CoverageLimit } from "../model/net";

/** Arguments of {@link WebSecurityGroups}. */
export interface WebSecurityGroupsArgs {
  vpcId: pulumi.Input<string>;
  /**
   * Address ranges allowed to SSH into hosts and to reach the test listeners. Never a /0, and
   * together (overlaps counted once) no more addresses per family than `adminCoverageLimit` allows.
   */
  adminCidrs: string[];
  /**
   * The most of each family `adminCidrs` may open together, as a prefix length (at most as many
   * addresses as one block of it). Default `{ ipv4: 8, ipv6: 32 }`.
   */
  adminCoverageLimit?: CoverageLimit;
  /** A bastion's security group allowed to SSH into hosts. Default none. */
  bastionSecurityGroupId?: pulumi.Input<string>;
  /**
   * Whether `adminCidrs` may SSH into the hosts directly. `false` (hosts behind a bastion) leaves
   * SSH to `bastionSecurityGroupId` alone, which it then requires. Default true.
   */
  adminSsh?: boolean;
  /**
   * The bastion's public IPv4 address, admitted to the test listeners besides `adminCidrs` (the
   * health gates check through the bastion; an internet-facing load balancer sees its public
   * address, not its group). Default none.
   */
  bastionPublicIp?: pulumi.Input<string>;
  /** The hosts' port the load balancer sends traffic to. */
  appPort: number;
  /** The hosts' SSH port. Default 22. */
  sshPort?: number;
  /** The load balancer's public listener ports. Default `[80, 443]`. */
  publicPorts?: number[];
  /** The load balancer's test listener ports (admins only). Default none. */
  testPorts?: number[];
  /** TCP ports hosts may reach anywhere (apt: 80, registries: 443). Default `[80, 443]`. */
  hostEgressPorts?: number[];
  /** Tags on both groups. Default none. */
  tags?: Record<string, string>;
}

export { cidrFamily };

/** True when a CIDR covers every address of its family (`0.0.0.0/0`, `::/0`, or any other `/0`). */
export function isOpenToWorld(cidr: string): boolean {
  return /\/0+$/.test(cidr.trim());
}

/**
 * Problems with the arguments; empty when fine. SSH open to the whole internet (`0.0.0.0/0`,
 * `::/0`) is always a problem: hosts are reached by admins and the provisioner only.
 */
export function securityGroupProblems(args: Omit<WebSecurityGroupsArgs, "vpcId">): string[] {
  const problems: string[] = [];
  if (args.adminCidrs.length === 0 && args.bastionSecurityGroupId === undefined) {
    problems.push("adminCidrs: must list at least one address range (or give bastionSecurityGroupId): SSH is never open to the world");
  }
  if (args.adminSsh === false && args.bastionSecurityGroupId === undefined) {
    problems.push("adminSsh: false needs bastionSecurityGroupId (the hosts would admit SSH from nowhere)");
  }
  args.adminCidrs.forEach((cidr, i) => {
    if (cidrFamily(cidr) === null) problems.push(`adminCidrs[${i}]: ${JSON.stringify(cidr)} is not a CIDR`);
    else if (isOpenToWorld(cidr)) problems.push(`adminCidrs[${i}]: ${cidr} would open SSH to the whole internet`);
  });
  // Two /1s are all of IPv4 without a /0: the ranges are judged together.
  const limit = args.adminCoverageLimit ?? DEFAULT_ADMIN_COVERAGE;
  const badLimit = (["ipv4", "ipv6"] as const).filter((f) => !Number.isInteger(limit[f]) || limit[f] < 1 || limit[f] > FAMILY_BITS[f]);
  for (const f of badLimit) problems.push(`adminCoverageLimit.${f}: ${limit[f]} is not a prefix length from 1 to ${FAMILY_BITS[f]}`);
  if (badLimit.length === 0) {
    const judged = args.adminCidrs.filter((c) => cidrFamily(c) !== null && !isOpenToWorld(c));
    for (const e of coverageExcesses(judged, limit)) problems.push(`adminCidrs: ${describeCoverageExcess(e, "adminCoverageLimit")}`);
  }
  const ports: Array<[string, number]> = [
    ["appPort", args.appPort],
    ["sshPort", args.sshPort ?? 22],
    ...(args.publicPorts ?? []).map((p, i): [string, number] => [`publicPorts[${i}]`, p]),
    ...(args.testPorts ?? []).map((p, i): [string, number] => [`testPorts[${i}]`, p]),
    ...(args.hostEgressPorts ?? []).map((p, i): [string, number] => [`hostEgressPorts[${i}]`, p]),
  ];
  for (const [what, p] of ports) if (!isPort(p)) problems.push(`${what}: ${p} is not a port (1-65535)`);
  if (args.appPort === (args.sshPort ?? 22)) problems.push(`appPort: must differ from the SSH port (${args.sshPort ?? 22})`);
  const publicPorts = new Set(args.publicPorts ?? [80, 443]);
  (args.testPorts ?? []).forEach((p, i) => {
    if (publicPorts.has(p)) problems.push(`testPorts[${i}]: ${p} is a public port; test listeners must be reachable by admins only`);
  });
  return problems;
}

/** The load balancer's and the hosts' security groups, and their rules. */
export class WebSecurityGroups extends pulumi.ComponentResource {
  /** The load balancer's group. */
  readonly loadBalancer: aws.ec2.SecurityGroup;
  /** The hosts' group. */
  readonly hosts: aws.ec2.SecurityGroup;
  readonly loadBalancerSecurityGroupId: pulumi.Output<string>;
  readonly hostsSecurityGroupId: pulumi.Output<string>;

  /**
   * Children: groups `${name}-lb` and `${name}-hosts`; rules `${name}-lb-public-${port}`,
   * `${name}-lb-test-${port}-${i}` (and `${name}-lb-test-${port}-bastion`), `${name}-lb-to-hosts`,
   * `${name}-hosts-ssh-${i}` (unless `adminSsh` is false), `${name}-hosts-ssh-bastion`, `${name}-hosts-app`, `${name}-hosts-egress-${port}`.
   */
  constructor(name: string, args: WebSecurityGroupsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before super(): refused rules declare nothing, not even the component.
    const problems = securityGroupProblems(args);
    if (problems.length) throw new Error(`WebSecurityGroups ${name}: ${problems.join("; ")}`);
    super("longshore:network:WebSecurityGroups", name, {}, opts);
    const tags = args.tags ?? {};
    const sshPort = args.sshPort ?? 22;
    const child = { parent: this };

    // No inline rules: the provider removes AWS's default allow-all egress, and each rule below
    // is a separate resource.
    this.loadBalancer = new aws.ec2.SecurityGroup(
      `${name}-lb`,
      { vpcId: args.vpcId, description: "longshore load balancer: public listeners, admin-only test listeners", tags: { ...tags, Name: `${name}-lb` } },
      child,
    );
    this.hosts = new aws.ec2.SecurityGroup(
      `${name}-hosts`,
      { vpcId: args.vpcId, description: "longshore hosts: SSH from admins, app port from the load balancer", tags: { ...tags, Name: `${name}-hosts` } },
      child,
    );
    const lbId = this.loadBalancer.id;
    const hostsId = this.hosts.id;
    const tcp = (port: number) => ({ ipProtocol: "tcp", fromPort: port, toPort: port });
    const fromCidr = (cidr: string) => (cidrFamily(cidr) === "ipv6" ? { cidrIpv6: cidr } : { cidrIpv4: cidr });

    for (const port of args.publicPorts ?? [80, 443]) {
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-lb-public-${port}`,
        { securityGroupId: lbId, ...tcp(port), cidrIpv4: "0.0.0.0/0", description: "public listener" },
        child,
      );
    }
    for (const port of args.testPorts ?? []) {
      args.adminCidrs.forEach(
        (cidr, i) =>
          new aws.vpc.SecurityGroupIngressRule(
            `${name}-lb-test-${port}-${i}`,
            { securityGroupId: lbId, ...tcp(port), ...fromCidr(cidr), description: "test listener, admins only" },
            child,
          ),
      );
      if (args.bastionPublicIp !== undefined) {
        new aws.vpc.SecurityGroupIngressRule(
          `${name}-lb-test-${port}-bastion`,
          { securityGroupId: lbId, ...tcp(port), cidrIpv4: pulumi.interpolate`${args.bastionPublicIp}/32`, description: "test listener, the bastion (health gates)" },
          child,
        );
      }
    }
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-lb-to-hosts`,
      { securityGroupId: lbId, ...tcp(args.appPort), referencedSecurityGroupId: hostsId, description: "to the hosts' app port" },
      child,
    );

    (args.adminSsh === false ? [] : args.adminCidrs).forEach(
      (cidr, i) =>
        new aws.vpc.SecurityGroupIngressRule(
          `${name}-hosts-ssh-${i}`,
          { securityGroupId: hostsId, ...tcp(sshPort), ...fromCidr(cidr), description: "SSH from admins" },
          child,
        ),
    );
    if (args.bastionSecurityGroupId !== undefined) {
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-hosts-ssh-bastion`,
        { securityGroupId: hostsId, ...tcp(sshPort), referencedSecurityGroupId: args.bastionSecurityGroupId, description: "SSH from the bastion" },
        child,
      );
    }
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-hosts-app`,
      { securityGroupId: hostsId, ...tcp(args.appPort), referencedSecurityGroupId: lbId, description: "app port from the load balancer only" },
      child,
    );
    for (const port of args.hostEgressPorts ?? [80, 443]) {
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-hosts-egress-${port}`,
        { securityGroupId: hostsId, ...tcp(port), cidrIpv4: "0.0.0.0/0", description: "packages and images" },
        child,
      );
    }

    this.loadBalancerSecurityGroupId = lbId;
    this.hostsSecurityGroupId = hostsId;
    this.registerOutputs({ loadBalancerSecurityGroupId: lbId, hostsSecurityGroupId: hostsId });
  }
}
