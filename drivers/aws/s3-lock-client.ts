/**
 * The real {@link LockObjectClient}: the environment's lock object in the stack's lock bucket, on
 * AWS's own S3 client. Writes are S3 conditional writes: `PutObject` with `If-None-Match: *` (412
 * PreconditionFailed: someone holds it), `DeleteObject` with `If-Match: <etag>` (412: it is no
 * longer the object that was read, so it is left alone). Credentials come from the SDK's default
 * chain (environment, shared profiles, SSO, instance and container roles): longshore's files never
 * hold keys. The SDK is heavy, so it is `require`d on the first request, never by `--help` or the
 * local driver.
 */
import type * as S3 from "@aws-sdk/client-s3";
import { PreconditionError } from "../../core/errors";
import type { LockObject, LockObjectClient } from "./aws-driver";

/** How to reach S3. */
export interface S3LockClientOptions {
  /**
   * The lock bucket's region (the stack's `aws:region`), or a function that finds it (asked once, on
   * the first request). @default the SDK's (`AWS_REGION`, the profile's region)
   */
  region?: string | (() => Promise<string | undefined>);
  /** Another S3 endpoint (an S3-compatible server, tests). @default AWS's endpoint of the region */
  endpoint?: string;
  /** Path-style addressing (`<endpoint>/<bucket>/<key>`), for endpoints without virtual hosts. @default false */
  forcePathStyle?: boolean;
  /**
   * Credentials, or a provider of them. @default the SDK's default chain (`AWS_ACCESS_KEY_ID`...,
   * `AWS_PROFILE` and ~/.aws, SSO, web identity, ECS and EC2 instance roles)
   */
  credentials?: S3.S3ClientConfig["credentials"];
}

/** What the SDK's errors carry that tells them apart. */
interface SdkError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const statusOf = (e: unknown): number | undefined => (e as SdkError)?.$metadata?.httpStatusCode;
const nameOf = (e: unknown): string => String((e as SdkError)?.name ?? (e as SdkError)?.Code ?? "");

/**
 * A failure of S3 in the user's terms: what longshore was doing, the object (`s3://bucket/key`),
 * and what to do. No SDK stack trace reaches the user (the SDK's error is the cause).
 */
export function lockStoreError(action: string, bucket: string, key: string, e: unknown): PreconditionError {
  const where = `s3://${bucket}/${key}`;
  const name = nameOf(e);
  const status = statusOf(e);
  const context = { bucket, key, error: name || null, httpStatus: status ?? null };
  if (name === "CredentialsProviderError" || /could not load credentials/i.test(String((e as SdkError)?.message))) {
    return new PreconditionError(`cannot ${action} the lock ${where}: no AWS credentials found`, {
      cause: e,
      context,
      suggestion:
        "Give the AWS SDK credentials the usual way: `aws sso login` / `aws configure` (a profile, AWS_PROFILE), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance role. The same ones `pulumi up` uses.",
    });
  }
  // The SDK's words when neither the options, AWS_REGION nor the profile give one (or a provider gave none).
  if (/^Region is missing|expected `region` to be configured/.test(String((e as SdkError)?.message))) {
    return new PreconditionError(`cannot ${action} the lock ${where}: no AWS region`, {
      cause: e,
      context,
      suggestion: "Set aws.region in the environment file (or the stack's aws:region): the lock bucket is in the stack's region.",
    });
  }
  if (name === "NoSuchBucket") {
    return new PreconditionError(`cannot ${action} the lock ${where}: the bucket ${bucket} does not exist`, {
      cause: e,
      context,
      suggestion: "The stack's lockBucket output names a bucket that is gone (deleted by hand?): run `pulumi up` in stacks/web to create it again, or check that the stack and the region (aws:region) are the right ones.",
    });
  }
  if (name === "SignatureDoesNotMatch" || name === "InvalidAccessKeyId" || name === "ExpiredToken" || name === "InvalidToken") {
    return new PreconditionError(`cannot ${action} the lock ${where}: AWS rejected the credentials (${name})`, {
      cause: e,
      context,
      suggestion: "Refresh them (`aws sso login`, a new session token, or the right AWS_PROFILE), then try again.",
    });
  }
  if (name === "AccessDenied" || status === 403) {
    return new PreconditionError(`cannot ${action} the lock ${where}: access denied`, {
      cause: e,
      context,
      suggestion: `Your AWS identity needs s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::${bucket}/locks/* (docs/aws.md, The lock across operators).`,
    });
  }
  if (name === "PermanentRedirect" || name === "AuthorizationHeaderMalformed" || status === 301) {
    return new PreconditionError(`cannot ${action} the lock ${where}: the bucket is in another region than the one asked`, {
      cause: e,
      context,
      suggestion: "Set the stack's aws:region (and aws.region in the environment file) to the region the stack was created in.",
    });
  }
  const why = status !== undefined ? `S3 answered ${status}${name ? ` ${name}` : ""}` : (e as SdkError)?.message || name || "unknown error";
  return new PreconditionError(`cannot ${action} the lock ${where}: ${why}`, {
    cause: e,
    context,
    suggestion: "Check your network and AWS credentials, then try again.",
  });
}

/**
 * The lock object store on S3 (see the file's comment). The client is made on the first call, so
 * building the driver loads nothing.
 */
export function s3LockClient(options: S3LockClientOptions = {}): LockObjectClient {
  let made: Promise<{ sdk: typeof S3; client: S3.S3Client }> | undefined;
  const make = async () => {
    const region = typeof options.region === "function" ? await options.region() : options.region;
    // Loaded only here: the SDK costs tens of milliseconds and dozens of modules the local driver never needs.
    const sdk = require("@aws-sdk/client-s3") as typeof S3;
    const client = new sdk.S3Client({
      ...(region !== undefined ? { region } : {}),
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    });
    return { sdk, client };
  };
  const s3 = () => (made ??= make());
  return {
    async putIfAbsent(bucket, key, body) {
      for (let attempt = 1; ; attempt++) {
        try {
          const { sdk, client } = await s3();
          await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json", IfNoneMatch: "*" }));
          return true;
        } catch (e) {
          if (statusOf(e) === 412 || nameOf(e) === "PreconditionFailed") return false;
          // Another conditional write on the same key was in flight: S3 asks to retry; once.
          if ((statusOf(e) === 409 || nameOf(e) === "ConditionalRequestConflict") && attempt === 1) continue;
          throw lockStoreError("take", bucket, key, e);
        }
      }
    },
    async get(bucket, key): Promise<LockObject | null> {
      try {
        const { sdk, client } = await s3();
        const r = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: (await r.Body?.transformToString("utf8")) ?? "", etag: r.ETag ?? "" };
      } catch (e) {
        if (nameOf(e) === "NoSuchKey") return null;
        throw lockStoreError("read", bucket, key, e);
      }
    },
    async deleteIfMatch(bucket, key, etag) {
      try {
        const { sdk, client } = await s3();
        await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: etag }));
        return true;
      } catch (e) {
        // 412: replaced since it was read (someone released and took it again); NoSuchKey: gone already.
        if (statusOf(e) === 412 || nameOf(e) === "PreconditionFailed" || nameOf(e) === "NoSuchKey") return false;
        throw lockStoreError("release", bucket, key, e);
      }
    },
  };
}
