/**
 * Where longshore's operations lock an environment across operators: a private S3 bucket that
 * holds one object per environment while an operation runs (`locks/<environment>.json`, written by
 * the aws driver with a conditional put, `If-None-Match: *`, and deleted when it ends). The bucket
 * holds nothing else; versioning is off, so a deleted lock is gone.
 *
 * Children: `${name}` (the bucket, `aws.s3.Bucket`) and `${name}-public-access` (every public
 * access setting blocked).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Inputs of {@link OperationLockBucket}. */
export interface OperationLockBucketArgs {
  /** Tags on the bucket. @default none */
  tags?: Record<string, string>;
}

/** A private bucket for the environment's operation lock. */
export class OperationLockBucket extends pulumi.ComponentResource {
  /** The bucket's name (generated: `longshore-lock-` and a random suffix, as S3 names are global). */
  readonly bucketName: pulumi.Output<string>;

  constructor(name: string, args: OperationLockBucketArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    super("longshore:lock:OperationLockBucket", name, {}, opts);
    const bucket = new aws.s3.Bucket(
      name,
      {
        bucketPrefix: "longshore-lock-",
        // A lock left by a killed operation must not keep `pulumi destroy` from removing the bucket.
        forceDestroy: true,
        ...(args.tags ? { tags: args.tags } : {}),
      },
      { parent: this },
    );
    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      { parent: this },
    );
    this.bucketName = bucket.bucket;
    this.registerOutputs({ bucketName: this.bucketName });
  }
}
