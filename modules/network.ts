/**
 * A VPC for one environment: public subnets in N availability zones behind an internet gateway,
 * and optionally private subnets that reach out through NAT gateways.
 *
 * Subnet CIDRs are computed (a pure function, {@link planSubnets}), never typed by hand: public
 * subnet i takes block i of the VPC, private subnet i takes block 8 + i, each block being the VPC
 * prefix + 4 bits (a /16 VPC gets /20 subnets of 4096 addresses).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** How private subnets reach the internet. */
export type NatGatewayStrategy = "one-per-az" | "single";

/** Arguments of {@link Network}. */
export interface NetworkArgs {
  /** The VPC's IPv4 CIDR, /16 to /24. Default `10.0.0.0/16`. */
  cidrBlock?: string;
  /**
   * Availability zones, in order. Default: the region's first `azCount` zones that are
   * `available`, looked up at deployment time.
   */
  availabilityZones?: string[];
  /** How many zones when `availabilityZones` is not given. Default 2 (a load balancer needs two). */
  azCount?: number;
  /** Also create private subnets (one per zone) with NAT. Default false. */
  privateSubnets?: boolean;
  /**
   * NAT for private subnets. Default `one-per-az`: a zone's outage never cuts the others off, at
   * the price of one NAT gateway (and its hourly charge) per zone; `single` shares one.
   */
  natGateways?: NatGatewayStrategy;
  /** Tags on every resource. Default none. */
  tags?: Record<string, string>;
}

/** The subnet CIDRs of a VPC, public and private, one per zone. */
export interface SubnetPlan {
  public: string[];
  private: string[];
}

/** Most zones a network spans (8 blocks each for public and private subnets). */
export const MAX_AZ_COUNT = 6;

function parseCidr4(cidr: string): { base: number; prefix: number } | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return null;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return null;
  const base = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  return { base, prefix };
}

function formatCidr4(base: number, prefix: number): string {
  return `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.${base & 255}/${prefix}`;
}

/** Problems with network arguments; empty when fine. Messages name the argument. */
export function networkProblems(args: NetworkArgs): string[] {
  const problems: string[] = [];
  const cidr = args.cidrBlock ?? "10.0.0.0/16";
  const parsed = parseCidr4(cidr);
  if (!parsed) problems.push(`cidrBlock: ${JSON.stringify(cidr)} is not an IPv4 CIDR`);
  else {
    if (parsed.prefix < 16 || parsed.prefix > 24) problems.push(`cidrBlock: the prefix must be /16 to /24 (AWS allows /16-/28; subnets need 4 more bits)`);
    const mask = parsed.prefix === 0 ? 0 : (~0 << (32 - parsed.prefix)) >>> 0;
    if ((parsed.base & mask) >>> 0 !== parsed.base) problems.push(`cidrBlock: ${cidr} has host bits set (did you mean ${formatCidr4((parsed.base & mask) >>> 0, parsed.prefix)}?)`);
  }
  const zones = args.availabilityZones;
  const count = zones ? zones.length : (args.azCount ?? 2);
  if (zones && new Set(zones).size !== zones.length) problems.push("availabilityZones: lists a zone twice");
  if (!Number.isInteger(count) || count < 1 || count > MAX_AZ_COUNT) {
    problems.push(`${zones ? "availabilityZones" : "azCount"}: must be 1 to ${MAX_AZ_COUNT} zones, got ${count}`);
  }
  return problems;
}

/**
 * The subnet CIDRs for `azCount` zones. Pure.
 * @throws Error when the CIDR or count is invalid (see {@link networkProblems}).
 */
export function planSubnets(cidrBlock: string, azCount: number, withPrivate: boolean): SubnetPlan {
  const problems = networkProblems({ cidrBlock, azCount });
  if (problems.length) throw new Error(problems.join("; "));
  const { base, prefix } = parseCidr4(cidrBlock)!;
  const subPrefix = prefix + 4;
  const size = 2 ** (32 - subPrefix);
  const block = (i: number) => formatCidr4((base + i * size) >>> 0, subPrefix);
  const indices = [...Array(azCount).keys()];
  return { public: indices.map(block), private: withPrivate ? indices.map((i) => block(8 + i)) : [] };
}

/**
 * The VPC, its subnets and routes. Children: `${name}` (VPC, internet gateway), `${name}-public-${i}`
 * (subnets and their route table associations), `${name}-public` (route table),
 * `${name}-public-internet` (default route); with private subnets also `${name}-private-${i}`
 * (subnets, route tables, associations), `${name}-private-${i}-nat` (default routes) and
 * `${name}-nat-${i}` (elastic IPs and NAT gateways).
 */
export class Network extends pulumi.ComponentResource {
  readonly vpc: aws.ec2.Vpc;
  readonly vpcId: pulumi.Output<string>;
  readonly availabilityZones: pulumi.Output<string>[];
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly subnetPlan: SubnetPlan;

  constructor(name: string, args: NetworkArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before super(): a refused network declares nothing, not even the component.
    const problems = networkProblems(args);
    if (problems.length) throw new Error(`Network ${name}: ${problems.join("; ")}`);
    super("longshore:network:Network", name, {}, opts);

    const cidrBlock = args.cidrBlock ?? "10.0.0.0/16";
    const count = args.availabilityZones?.length ?? args.azCount ?? 2;
    const withPrivate = args.privateSubnets ?? false;
    const tags = args.tags ?? {};
    const named = (n: string) => ({ ...tags, Name: n });
    this.subnetPlan = planSubnets(cidrBlock, count, withPrivate);

    if (args.availabilityZones) {
      this.availabilityZones = args.availabilityZones.map((z) => pulumi.output(z));
    } else {
      const found = aws.getAvailabilityZonesOutput({ state: "available" }, { parent: this });
      this.availabilityZones = [...Array(count).keys()].map((i) =>
        found.names.apply((names) => {
          const zone = names[i];
          if (zone === undefined) throw new Error(`Network ${name}: the region has ${names.length} available zones, ${count} were asked for`);
          return zone;
        }),
      );
    }

    this.vpc = new aws.ec2.Vpc(name, { cidrBlock, enableDnsSupport: true, enableDnsHostnames: true, tags: named(name) }, { parent: this });
    this.vpcId = this.vpc.id;
    const igw = new aws.ec2.InternetGateway(name, { vpcId: this.vpc.id, tags: named(name) }, { parent: this });

    const publicTable = new aws.ec2.RouteTable(`${name}-public`, { vpcId: this.vpc.id, tags: named(`${name}-public`) }, { parent: this });
    new aws.ec2.Route(`${name}-public-internet`, { routeTableId: publicTable.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id }, { parent: this });
    const publicSubnets = this.subnetPlan.public.map(
      (cidr, i) =>
        new aws.ec2.Subnet(
          `${name}-public-${i}`,
          {
            vpcId: this.vpc.id,
            cidrBlock: cidr,
            availabilityZone: this.availabilityZones[i]!,
            // Instances ask for a public address explicitly; nothing gets one by accident.
            mapPublicIpOnLaunch: false,
            tags: named(`${name}-public-${i}`),
          },
          { parent: this },
        ),
    );
    publicSubnets.forEach(
      (s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicTable.id }, { parent: this }),
    );
    this.publicSubnetIds = publicSubnets.map((s) => s.id);

    this.privateSubnetIds = [];
    if (withPrivate) {
      const natCount = (args.natGateways ?? "one-per-az") === "single" ? 1 : count;
      const nats = [...Array(natCount).keys()].map((i) => {
        const eip = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: "vpc", tags: named(`${name}-nat-${i}`) }, { parent: this });
        return new aws.ec2.NatGateway(
          `${name}-nat-${i}`,
          { allocationId: eip.id, subnetId: publicSubnets[i]!.id, tags: named(`${name}-nat-${i}`) },
          { parent: this, dependsOn: [igw] },
        );
      });
      this.subnetPlan.private.forEach((cidr, i) => {
        const subnet = new aws.ec2.Subnet(
          `${name}-private-${i}`,
          { vpcId: this.vpc.id, cidrBlock: cidr, availabilityZone: this.availabilityZones[i]!, mapPublicIpOnLaunch: false, tags: named(`${name}-private-${i}`) },
          { parent: this },
        );
        // One route table per zone even with a single NAT: switching strategies then changes routes, not names.
        const table = new aws.ec2.RouteTable(`${name}-private-${i}`, { vpcId: this.vpc.id, tags: named(`${name}-private-${i}`) }, { parent: this });
        new aws.ec2.Route(
          `${name}-private-${i}-nat`,
          { routeTableId: table.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nats[Math.min(i, nats.length - 1)]!.id },
          { parent: this },
        );
        new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: subnet.id, routeTableId: table.id }, { parent: this });
        this.privateSubnetIds.push(subnet.id);
      });
    }

    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
      availabilityZones: this.availabilityZones,
    });
  }
}
