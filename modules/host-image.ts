/**
 * HostImage: an AMI made from one instance whose engine was provisioned from the environment's
 * bundle, for {@link HostFleet}'s `amiId`, so a slot's fresh instances boot with the engine ready
 * (the provisioner's engine steps then find nothing to do). The AMI is named and tagged with the
 * bundle id (its AWS name also with the source instance's id, unique per source): a new bundle id
 * declares a new AMI (a new child name), and the fleets that take its id replace their instances,
 * create before delete. The old AMI is retained when it leaves the program (`retainOnDelete`), so
 * a slot still running it keeps its image; removing unused ones is the operator's (issue 14's prune).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { environmentNameSchema } from "../model/names";

/** Inputs of {@link HostImage}. */
export interface HostImageArgs {
  /** The environment: names and tags the AMI. */
  environment: string;
  /**
   * The engine bundle's manifest id (64 hex digits) the source instance's engine was installed
   * from. Plain, because it decides which AMI exists: a new id makes a new AMI.
   */
  bundleId: string;
  /** The instance to image, with its engine provisioned (e.g. a one-host HostFleet's). */
  sourceInstanceId: pulumi.Input<string>;
  /** What must be done before the image is taken (the source's ProvisionedHost). @default none */
  after?: pulumi.Input<pulumi.Resource>[];
  /** Keep the AMI in the account when it leaves the program, for slots still running it. @default true */
  retainOnDelete?: boolean;
}

/** Every problem with the arguments, as `key: message`. Pure. */
export function hostImageProblems(args: HostImageArgs): string[] {
  const problems: string[] = [];
  if (!environmentNameSchema.safeParse(args.environment).success) problems.push(`environment: must be an environment name, got ${JSON.stringify(args.environment)}`);
  if (!/^[0-9a-f]{64}$/.test(args.bundleId)) problems.push("bundleId: must be a bundle id: 64 lower-case hex digits");
  return problems;
}

/** An AMI of an instance provisioned with the engine from one bundle. */
export class HostImage extends pulumi.ComponentResource {
  /** The AMI's id, for HostFleet's `amiId`. */
  readonly amiId: pulumi.Output<string>;
  /** The bundle id it was made with. */
  readonly bundleId: string;

  constructor(name: string, args: HostImageArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const problems = hostImageProblems(args);
    if (problems.length) throw new Error(`HostImage ${name}: ${problems.join("; ")}`);
    super("longshore:fleet:HostImage", name, {}, opts);
    const short = args.bundleId.slice(0, 12);
    const ami = new aws.ec2.AmiFromInstance(
      `${name}-${short}`,
      {
        sourceInstanceId: args.sourceInstanceId,
        // AMI names are unique per account and region, and a replaced AMI is created before the
        // old one leaves (which, retained, stays): a new source instance with the same bundle (a
        // newer Debian under the builder) must not take the same name. The instance id tells them apart.
        name: pulumi.interpolate`longshore-${args.environment}-${short}-${args.sourceInstanceId}`,
        description: `longshore host image: Debian 12 with the engine of bundle ${args.bundleId}`,
        // The instance is stopped for the snapshot: its file systems are consistent.
        snapshotWithoutReboot: false,
        tags: { "longshore:environment": args.environment, "longshore:bundle": args.bundleId, "longshore:role": "host-image" },
      },
      { parent: this, ...(args.after ? { dependsOn: args.after } : {}), retainOnDelete: args.retainOnDelete ?? true },
    );
    this.amiId = ami.id;
    this.bundleId = args.bundleId;
    this.registerOutputs({ amiId: this.amiId });
  }
}
