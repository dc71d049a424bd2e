/**
 * Pulumi mocks for component tests: installs `setMocks` (all five arguments) and records every
 * resource registration as the engine would receive it (type, name, parent, options such as
 * replaceOnChanges, and the inputs with secrets still marked), by wrapping the mock monitor.
 * Outputs are realistic enough for the modules: ids, ARNs, IP addresses, DNS names, and for the
 * key resources a real (deterministic) ed25519 key whose private half comes back as a secret, as
 * the engine does for `additionalSecretOutputs`.
 *
 * Import this module FIRST in a test file: importing it installs the mocks, so every module under
 * test imported after it sees them (ES modules evaluate imports in order).
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { openSshEd25519FromSeed } from "../../../modules/ssh-key";

/** The secret marker Pulumi's RPC layer uses (`rpc.specialSecretSig`). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** One resource registration, as sent to the engine. */
export interface Registration {
  type: string;
  name: string;
  /** `type::name` of the parent, or null at the top level. */
  parent: string | null;
  custom: boolean;
  /** Inputs; secret values appear as `{ [SIG_KEY]: SECRET_SIG, value }` (see {@link isSecret}). */
  inputs: Record<string, unknown>;
  replaceOnChanges: string[];
  deleteBeforeReplace: boolean;
  /** Whether the engine leaves the cloud resource in place when it leaves the program. */
  retainOnDelete: boolean;
  additionalSecretOutputs: string[];
  /** `type::name` of each resource this one depends on (explicitly or through inputs). */
  dependencies: string[];
}

/** Every registration since the last {@link resetRegistrations}, in order. */
export const registrations: Registration[] = [];

/** Forgets what was recorded (between two builds in one test file). */
export function resetRegistrations(): void {
  registrations.length = 0;
}

function short(urn: string): string | null {
  if (!urn) return null;
  const parts = urn.split("::");
  const type = parts[2]!.split("$").pop()!;
  return `${type}::${parts[3]}`;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** A stable fake IPv4 address in 198.18.0.0/15 (reserved for benchmarks), from a name. */
export function fakeIp(name: string, salt: string): string {
  const d = digest(`${salt}:${name}`);
  return `198.${18 + (d[0]! & 1)}.${d[1]}.${d[2]}`;
}

/** The key the mock "generates" for a key resource: derived from its name, so runs agree. */
export function fakeKeyFor(name: string, comment: string) {
  return openSshEd25519FromSeed(digest(`key:${name}`), comment);
}

/** True for a value Pulumi would store as a secret. */
export function isSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with every secret marker removed (for comparisons that ignore secretness). */
export function reveal(v: unknown): unknown {
  if (isSecret(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  return v;
}

/**
 * Inputs whose change replaces an EC2 instance: the AWS provider's ForceNew `ami`, `subnetId` and
 * `availabilityZone`, and `userData` (HostFleet sets `userDataReplaceOnChange` and `replaceOnChanges`).
 */
export const INSTANCE_REPLACING_INPUTS = ["ami", "userData", "subnetId", "availabilityZone"] as const;

function outputsFor(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
  const { type, name } = args;
  const inputs = args.inputs as Record<string, unknown>;
  const arn = `arn:aws:mock:eu-west-1:123456789012:${type.split(":").pop()}/${name}`;
  switch (type) {
    case "aws:ec2/instance:Instance":
      return {
        // A replaced instance is a new instance with a new id, as in EC2: the id derives from the
        // name and the inputs that replace an instance (see INSTANCE_REPLACING_INPUTS), so two runs
        // differ in it exactly when the engine would replace it. (Addresses stay derived from the name.)
        id: `i-${digest(JSON.stringify([name, ...INSTANCE_REPLACING_INPUTS.map((k) => reveal(inputs[k]) ?? null)])).toString("hex").slice(0, 17)}`,
        state: { ...inputs, arn, publicIp: fakeIp(name, "public"), privateIp: fakeIp(name, "private") },
      };
    case "aws:ec2/amiFromInstance:AmiFromInstance":
      // A new source or name makes a new AMI (both replace it), with a new id, as in EC2.
      return {
        id: `ami-${digest(JSON.stringify([name, reveal(inputs.sourceInstanceId) ?? null, reveal(inputs.name) ?? null])).toString("hex").slice(0, 17)}`,
        state: { ...inputs, arn },
      };
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: `sg-${digest(name).toString("hex").slice(0, 17)}`, state: { ...inputs, arn } };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { id: arn, state: { ...inputs, arn, dnsName: `${name}-1234567890.eu-west-1.elb.amazonaws.com` } };
    case "aws:lb/targetGroup:TargetGroup":
    case "aws:lb/listener:Listener":
      return { id: arn, state: { ...inputs, arn } };
    case "pulumi-nodejs:dynamic/longshore:HostKey":
    case "pulumi-nodejs:dynamic/longshore:DeployKey": {
      const comment = String(reveal(inputs.comment));
      const pair = fakeKeyFor(name, comment);
      return {
        id: pair.fingerprint,
        state: {
          ...inputs,
          publicKey: pair.publicKey,
          fingerprint: pair.fingerprint,
          // What `additionalSecretOutputs: ["privateKey"]` makes the engine do.
          privateKey: { [SIG_KEY]: SECRET_SIG, value: pair.privateKey },
        },
      };
    }
    case "aws:s3/bucket:Bucket": {
      // S3 completes a bucketPrefix with a unique suffix; the id is the bucket's name.
      const bucket = `${String(reveal(inputs.bucketPrefix ?? ""))}${digest(name).toString("hex").slice(0, 12)}`;
      return { id: bucket, state: { ...inputs, arn: `arn:aws:s3:::${bucket}`, bucket } };
    }
    default:
      return { id: `${name}-id`, state: { ...inputs, arn } };
  }
}

/** Data sources the modules call. */
function callFor(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
  switch (args.token) {
    case "aws:ec2/getAmi:getAmi":
      return { id: "ami-0d3b1a2c4e5f60718", name: "debian-12-amd64-20250101-1966", architecture: "x86_64" };
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { id: "eu-west-1", names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"], zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"] };
    default:
      throw new Error(`no mock for call ${args.token}`);
  }
}

/** Data source calls made, by token. */
export const calls: string[] = [];
/** The same calls with their inputs (the AMI lookup's filters, ...). */
export const callInputs: Array<{ token: string; inputs: Record<string, unknown> }> = [];

let installed = false;

/** Installs the mocks once per process (each vitest file runs in its own fork). */
export function installMocks(): void {
  if (installed) return;
  installed = true;
  void pulumi.runtime.setMocks(
    {
      newResource: (args) => outputsFor(args),
      call: (args) => {
        calls.push(args.token);
        callInputs.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
        return callFor(args);
      },
    },
    "web",
    "test",
    false,
    "longshore",
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: (err: unknown, res: unknown) => void): Promise<void>;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = async (req, cb) => {
    registrations.push({
      type: req.getType(),
      name: req.getName(),
      parent: short(req.getParent()),
      custom: req.getCustom(),
      inputs: pulumi.runtime.deserializeProperties(req.getObject()) as Record<string, unknown>,
      replaceOnChanges: req.getReplaceonchangesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      retainOnDelete: req.getRetainondelete() ?? false,
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      dependencies: req.getDependenciesList().map((u) => short(u)!),
    });
    return original(req, cb);
  };
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
  getReplaceonchangesList(): string[];
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean | undefined;
  getAdditionalsecretoutputsList(): string[];
  getDependenciesList(): string[];
}

/** Rejects after `ms`: a hung Output (e.g. a provider that failed to serialise) fails the test. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

/** Waits until every registration and output in flight has settled. */
export function settle(ms = 30_000): Promise<void> {
  const { waitForRPCs } = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> };
  return withTimeout(waitForRPCs(), ms, "Pulumi's RPC queue");
}

/** The value of an Output (secret or not). */
export function promiseOf<T>(o: pulumi.Output<T>, ms = 10_000): Promise<T> {
  return withTimeout(new Promise<T>((resolve) => o.apply((v) => resolve(v))), ms, "an Output");
}

/** Registrations of one type. */
export function ofType(type: string): Registration[] {
  return registrations.filter((r) => r.type === type);
}

/** The one registration with this type and name. */
export function find(type: string, name: string): Registration {
  const hits = registrations.filter((r) => r.type === type && r.name === name);
  if (hits.length !== 1) throw new Error(`expected one ${type} ${name}, found ${hits.length}`);
  return hits[0]!;
}

installMocks();
