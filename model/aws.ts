/**
 * `aws:`: what an environment needs on AWS beyond the app (read by the `web` Pulumi program and
 * the aws rollout driver). Everything about the app, its health check, the slots and the rollout
 * policy comes from the rest of the environment file; this block says only where and how the
 * hosts and the load balancer live.
 */
import { z } from "zod";
import { CIDR4, coverageExcesses, DEFAULT_ADMIN_COVERAGE, describeCoverageExcess, isCidr6, isWorldCidr, portSchema } from "./net";

const count = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  // A missing value is "required", not "not a number" (`weights: { blue: 90 }`).
  return z
    .number({ error: (i) => (i.input === undefined ? "is required" : message) })
    .int(message)
    .min(min, message)
    .max(max, message);
};

/** The bastion's instance type unless `aws.bastion.instanceType` says otherwise: x86_64 (the Debian lookup's), the smallest. */
export const DEFAULT_BASTION_INSTANCE_TYPE = "t3.nano";

const SSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,2}(?: [^\r\n]*)?$/;
const CIDR_MESSAGE = "must be a CIDR such as 203.0.113.7/32 or 2001:db8::/64";

/** Schema of `aws:`. */
export const awsSchema = z
  .strictObject({
    /** The AWS region. @default the stack's `aws:region` */
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9]$/, "must be an AWS region such as eu-west-1").optional(),
    /** @default "t3.small" */
    instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as t3.small").default("t3.small"),
    /** Your own public key, authorized for the hosts' default user. */
    sshPublicKey: z.string().regex(SSH_PUBLIC_KEY, "must be one OpenSSH public key line such as 'ssh-ed25519 AAAA... you@laptop'"),
    /** The hosts' login user (`admin` on Debian's AMIs). @default "admin" */
    sshUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a user name").default("admin"),
    /** Who may reach the hosts' SSH port and the load balancer's test listeners. Never the whole internet. */
    adminCidrs: z
      .array(
        z
          .string()
          .refine((c) => CIDR4.test(c) || isCidr6(c), CIDR_MESSAGE)
          .refine((c) => !isWorldCidr(c), "would open SSH to the whole internet: list your own address ranges"),
      )
      .min(1, "must list at least one address range (SSH is never open to the world)"),
    /**
     * How much of each family `adminCidrs` may open, as a prefix length: the listed ranges together,
     * overlaps counted once, may cover at most as many addresses as one block of that length.
     * @default { ipv4: 8, ipv6: 32 }
     */
    adminCidrsMaxCoverage: z
      .strictObject({
        ipv4: count(1, 32).default(DEFAULT_ADMIN_COVERAGE.ipv4),
        ipv6: count(1, 128).default(DEFAULT_ADMIN_COVERAGE.ipv6),
      })
      .prefault({}),
    /** @default "10.0.0.0/16" */
    vpcCidr: z
      .string()
      .regex(CIDR4, "must be an IPv4 CIDR such as 10.0.0.0/16")
      .refine((c) => {
        // Only a CIDR has a prefix length to judge: anything else already has its problem.
        if (!CIDR4.test(c)) return true;
        const p = Number(c.split("/")[1]);
        return p >= 16 && p <= 24;
      }, "must have a prefix length from /16 to /24")
      .default("10.0.0.0/16"),
    /** Zones to use, in order. @default the region's first `azCount` available zones */
    availabilityZones: z
      .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$/, "must be an availability zone name such as eu-west-1a"))
      .min(2, "must list at least 2 zones (a load balancer needs two)")
      .max(6)
      .optional(),
    /** @default 2 */
    azCount: count(2, 6).default(2),
    /** @default 16 */
    rootVolumeGb: count(8, 1024).default(16),
    /** Pin the hosts' machine image. @default the newest Debian 12 AMI at each `pulumi up` */
    amiId: z.string().regex(/^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0123456789abcdef0").optional(),
    /** A canary split between the slots (0-999 each). @default all traffic to `live` */
    weights: z.strictObject({ blue: count(0, 999), green: count(0, 999) }).optional(),
    /** Load balancer ports that reach one slot each (admins only), for checks before a switch. @default { blue: 8081, green: 8082 } */
    testListenerPorts: z.strictObject({ blue: portSchema.default(8081), green: portSchema.default(8082) }).prefault({}),
    /** An ACM certificate: adds an HTTPS listener and turns port 80 into a redirect. @default none (HTTP only) */
    certificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate\/[0-9a-f-]+$/, "must be an ACM certificate ARN")
      .optional(),
    /** TCP ports hosts may reach on the internet (apt, the registry). @default [80, 443] */
    hostEgressPorts: z.array(portSchema).min(1).default([80, 443]),
    /** Run the provisioner on each host (`false`: hosts only, e.g. to debug cloud-init). @default true */
    provision: z.boolean().default(true),
    /**
     * Boot the slots' hosts from a host image: an AMI of one builder instance (`instanceType`, booted
     * from `amiId` or the Debian lookup) whose engine the provisioner installed from the bundle
     * `longshore.lock` pins, made once per pinned bundle; every host then gets that pinned bundle.
     * Off by default: the builder is one more instance that keeps running (it is the AMI's source
     * in the program) and the lock must pin the hosts' bundle, so it is opted into.
     * @default false
     */
    hostImage: z.boolean().default(false),
    /**
     * Reach the hosts through one bastion instance instead of directly: `true`, or its settings.
     * With it the hosts go into private subnets without public addresses (out through the NAT
     * gateways the network then builds, one per zone), one small bastion in a public subnet admits
     * SSH from `adminCidrs` only, and the hosts admit SSH from the bastion only. The provisioner,
     * the health gates and the aws driver's probes all go through it, so only the bastion's SSH
     * port must be reachable from the machine running `pulumi up` (docs/aws.md). Turning it on or
     * off replaces the hosts (new subnets). @default false
     */
    bastion: z
      .union(
        [
          z.boolean(),
          z.strictObject({
            /** The bastion's EC2 instance type (it only forwards SSH). @default "t3.nano" */
            instanceType: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type such as t3.nano").default(DEFAULT_BASTION_INSTANCE_TYPE),
          }),
        ],
        { error: (i) => (typeof i.input === "object" && i.input !== null && !Array.isArray(i.input) ? undefined : "must be true, false or a mapping such as { instanceType: t3.nano }") },
      )
      .default(false)
      .transform((b): false | { instanceType: string } => (b === false ? false : b === true ? { instanceType: DEFAULT_BASTION_INSTANCE_TYPE } : b)),
    /** Extra tags on every resource that takes tags. @default {} */
    tags: z.record(z.string().regex(/^[\w .:/=+@-]{1,128}$/, "must be a valid AWS tag key"), z.string().max(256)).default({}),
  })
  .superRefine((a, ctx) => {
    // Two /1s are all of IPv4 without a /0: judge the ranges together, not one by one. The world
    // (a /0) has its own message on its entry and is left out here.
    // A limit with its own problem judges nothing (refinements run on values that failed checks).
    const limit = a.adminCidrsMaxCoverage;
    const limitOk = Number.isInteger(limit.ipv4) && limit.ipv4 >= 1 && limit.ipv4 <= 32 && Number.isInteger(limit.ipv6) && limit.ipv6 >= 1 && limit.ipv6 <= 128;
    const ranges = a.adminCidrs.filter((c) => !isWorldCidr(c));
    for (const excess of limitOk ? coverageExcesses(ranges, limit) : []) {
      ctx.addIssue({ code: "custom", path: ["adminCidrs"], message: describeCoverageExcess(excess, "aws.adminCidrsMaxCoverage") });
    }
    // In file order: blue's problems, then green's.
    const { blue, green } = a.testListenerPorts;
    for (const slot of ["blue", "green"] as const) {
      if ([80, 443].includes(a.testListenerPorts[slot])) {
        ctx.addIssue({ code: "custom", path: ["testListenerPorts", slot], message: "must not be 80 or 443 (the public listeners)" });
      }
    }
    if (blue === green) ctx.addIssue({ code: "custom", path: ["testListenerPorts", "green"], message: "must differ from testListenerPorts.blue" });
    if (a.hostImage === true && a.provision === false) {
      ctx.addIssue({ code: "custom", path: ["hostImage"], message: "needs provision: true (the provisioner installs the image's engine on its builder)" });
    }
  });

/** A validated `aws:` block, defaults filled in. */
export type AwsSpec = z.output<typeof awsSchema>;

/** Most hosts one slot may have on AWS (an ALB target group takes 1000; keep plans reviewable). */
export const MAX_AWS_SLOT_SIZE = 100;
