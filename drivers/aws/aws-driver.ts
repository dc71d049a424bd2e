/**
 * The aws rollout driver: the same {@link SlotDriver} as the local one, carried out on the one
 * source of truth, the environment file. Every change is an edit of that file (a slot's image and
 * size, the live slot) followed by one `pulumi up` of the `web` program, which reads the same file.
 * The stack's own HealthGate keeps the listener from switching to an unhealthy slot even if this
 * driver is bypassed. Hosts are probed over SSH (the app port admits only the load balancer), with
 * the host keys the stack pins, through the stack's bastion when it has one (`aws.bastion`);
 * operators lock the environment through an object in the stack's lock bucket
 * ({@link LockObjectClient}; on S3: s3-lock-client.ts).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import { LockHeldError } from "../../core/errors";
import { describeHolder, type LockHolder } from "../../core/lock";
import type { Environment } from "../../model/environment";
import { parseEnvironment, updateEnvironmentText, writeEnvironmentText, type DesiredStateChange } from "../../model/environment-file";
import type { SshAuth, SshTarget } from "../../model/ssh-target";
import type { Command } from "../../provisioner/command";
import { healthCheckScript } from "../../provisioner/steps/app-health";
import type { SshConnectOptions } from "../../provisioner/transport/connect-options";
import { checkHostKey } from "../../provisioner/transport/host-key-check";
import type { ExecResult, Transport } from "../../provisioner/transport/transport";
import type { EnvironmentStatus, HeldSharedLock, HostKeyResult, HostStatus, ProbeResult, ProgressFn, SlotDriver, SlotName } from "../../rollout/driver";

/** The stack operations the driver needs; the Automation API implements it (stacks/web/workspace.ts), tests fake it. */
export interface StackWorkspace {
  /** `pulumi up`, streaming its output lines. */
  up(onOutput: (line: string) => void): Promise<void>;
  /** The stack's outputs (plain values; secrets stay secret). */
  outputs(): Promise<Record<string, unknown>>;
  /** The stack's AWS region (where its lock bucket is). @default unknown: the AWS SDK's own (AWS_REGION, the profile's) */
  region?(): Promise<string | undefined>;
}

/** The stack outputs this driver reads (see stacks/web/index.ts). */
interface WebOutputs {
  url?: string;
  liveSlot?: SlotName | null;
  hostNames?: Partial<Record<SlotName, string[]>>;
  hostAddresses?: Partial<Record<SlotName, string[]>>;
  hostKeyFingerprints?: Partial<Record<SlotName, string[]>>;
  sshUser?: string;
  lockBucket?: string | null;
  /** With `aws.bastion`: where to SSH in first (hosts' addresses are then private) and its pinned key. */
  bastion?: { address: string; hostKeyFingerprint: string } | null;
}

/** How the driver reaches the hosts over SSH (to probe them from inside, where the app port is open). */
export interface AwsSshOptions {
  /** Opens one connection (the provisioner's ssh2 transport in production, a fake in tests). */
  connect: (target: SshTarget, options?: SshConnectOptions) => Promise<Transport>;
  /** How to log in as `aws.sshUser`: the operator's key (`aws.sshPublicKey`'s private half), usually through the ssh-agent. */
  auth: SshAuth;
}

/** A lock object as read: its body and its ETag (what a conditional delete names). */
export interface LockObject {
  body: string;
  etag: string;
}

/**
 * The shared lock's storage: one S3 object per environment in the stack's lock bucket, written
 * only when absent and deleted only while unchanged. On S3: {@link s3LockClient}
 * (s3-lock-client.ts); tests fake it or run it against a fake S3 server.
 */
export interface LockObjectClient {
  /** PUT with `If-None-Match: *`: true when written, false when an object is already there (412). */
  putIfAbsent(bucket: string, key: string, body: string): Promise<boolean>;
  /** The object's body and ETag, or null when there is none. */
  get(bucket: string, key: string): Promise<LockObject | null>;
  /** DELETE with `If-Match: <etag>`: true when deleted, false when the object changed since (412) or is gone. */
  deleteIfMatch(bucket: string, key: string, etag: string): Promise<boolean>;
}

/** What the lock object holds: who took it, and an id only its taker knows, so release deletes only its own. */
export interface LockRecord extends LockHolder {
  id: string;
}

/** The shared lock as `longshore lock status` shows it. */
export type SharedLockState =
  | { state: "none"; reason: string }
  | { state: "free"; bucket: string; key: string }
  | { state: "held"; bucket: string; key: string; holder: LockRecord | null; etag: string };

/** The object key of an environment's lock in the lock bucket. */
export function lockObjectKey(environment: string): string {
  return `locks/${environment}.json`;
}

/** The command a host runs to probe its app once: the provisioner's app.health check, against its loopback. */
export function hostProbeCommand(env: Pick<Environment, "app">): Command {
  const h = env.app.health;
  return { argv: ["bash", "-c", healthCheckScript(env.app, { deadlineMs: 0 })], timeoutMs: h.timeoutSeconds * 1000 + 5_000 };
}

/**
 * A probe's {@link ProbeResult} from the health script's exit: 0 is healthy (the expected status);
 * otherwise the status it reports (`got status 503`), or none (refused, no answer), and its message.
 */
export function probeResultOf(host: string, expectStatus: number, r: ExecResult): ProbeResult {
  const out = (r.exitCode === 0 ? r.stdout : r.stderr || r.stdout).trim().replace(/\s*\n\s*/g, "; ");
  if (r.exitCode === 0) return { host, ok: true, status: expectStatus, detail: out };
  const m = /, got status (\d{3}) /.exec(r.stderr);
  const why = r.exitCode === null ? `the health check died on signal ${r.signal ?? "?"}` : out || `the health check exited ${r.exitCode}`;
  return { host, ok: false, status: m ? Number(m[1]) : null, detail: why };
}

/** Options for {@link AwsSlotDriver}. */
export interface AwsDriverOptions {
  /** The environment as loaded (its health check and policy). */
  env: Environment;
  /** The environment file the `web` program reads; this driver edits it before each `pulumi up`. */
  file: string;
  workspace: StackWorkspace;
  /**
   * Reaching the hosts over SSH, for the default probe. @default none: every probe fails saying so
   */
  ssh?: AwsSshOptions;
  /**
   * Health-checks hosts. @default over SSH ({@link AwsSshOptions}), one connection per host with the
   * stack's pinned host key: `app.health` checked on the host against 127.0.0.1 (the hosts' app port
   * admits only the load balancer)
   */
  probeHosts?: (slot: SlotName, hosts: HostStatus[]) => Promise<ProbeResult[]>;
  /** The shared lock's object store (the CLI wires {@link s3LockClient}). @default none: no lock across operators, only this computer's */
  lockClient?: LockObjectClient;
  /** Who takes the shared lock. @default this process (user, host name, pid) */
  holder?: () => Omit<LockHolder, "operation" | "since">;
  now?: () => Date;
  /** Called with each line of `pulumi up` output. */
  log?: (line: string) => void;
}

/** Drives the `web` stack through the environment file. */
export class AwsSlotDriver implements SlotDriver {
  readonly name = "the aws driver";

  constructor(private readonly options: AwsDriverOptions) {}

  /** The file's slot images as they are now (this driver edits them during an operation). */
  private async fileImages(): Promise<Record<SlotName, string | null>> {
    const text = await readFile(this.options.file, "utf8");
    const r = parseEnvironment(text, this.options.file);
    const env = r.ok ? r.value : this.options.env;
    return { blue: env.slots.blue.image, green: env.slots.green.image };
  }

  private async edit(change: DesiredStateChange): Promise<void> {
    const text = await readFile(this.options.file, "utf8");
    await writeEnvironmentText(this.options.file, updateEnvironmentText(text, change));
  }

  async status(): Promise<EnvironmentStatus> {
    return this.statusOf((await this.options.workspace.outputs()) as WebOutputs);
  }

  private async statusOf(out: WebOutputs): Promise<EnvironmentStatus> {
    const images = await this.fileImages();
    const slot = (s: SlotName) => {
      const names = out.hostNames?.[s] ?? [];
      const hosts = (out.hostAddresses?.[s] ?? []).map((address, i) => ({ name: names[i] ?? `${s}-${i}`, address, image: images[s] ?? "" }));
      return { image: hosts.length ? images[s] : null, hosts };
    };
    return { live: out.liveSlot ?? null, slots: { blue: slot("blue"), green: slot("green") }, url: out.url ?? null };
  }

  async prepareSlot(slot: SlotName, image: string, size: number, progress: ProgressFn): Promise<HostStatus[]> {
    // A new image replaces the slot's instances (the stack marks user data replace-on-change): on
    // AWS the version the slot kept does not survive the update, and the output says so.
    const kept = (await this.fileImages())[slot];
    if (kept !== null && kept !== image) progress(`the ${slot} slot's ${kept} hosts are replaced by this update: no instant rollback to it from here on`);
    await this.edit({ images: { [slot]: image }, sizes: { [slot]: size } });
    progress(`pulumi up: ${slot} slot -> ${image} x${size}`);
    try {
      await this.up();
    } catch (e) {
      // Whatever the failed update created goes again, and the file never names hosts that are not there.
      progress(`pulumi up failed; removing the ${slot} slot's hosts again`);
      await this.edit({ images: { [slot]: null } });
      await this.up().catch((again: unknown) => progress(`removing them failed too: ${(again as Error).message}`));
      throw e;
    }
    return (await this.status()).slots[slot].hosts;
  }

  /**
   * Each host's SSH host key against the stack's pin (`hostKeyFingerprints`): one handshake each,
   * nothing run. Without SSH access configured: `unknown` for each host.
   */
  async checkHostKeys(slot: SlotName): Promise<HostKeyResult[]> {
    const out = (await this.options.workspace.outputs()) as WebOutputs;
    const hosts = (await this.statusOf(out)).slots[slot].hosts;
    const { ssh } = this.options;
    if (!ssh) return hosts.map((h) => ({ host: h.name, state: "unknown", detail: "no ssh-agent (SSH_AUTH_SOCK is unset): the aws driver checks host keys over SSH" }));
    const pins = out.hostKeyFingerprints?.[slot] ?? [];
    return Promise.all(
      hosts.map(async (h, i) => {
        const target = this.targetOf(h, pins[i], out);
        return target ? { host: h.name, ...(await checkHostKey(target, ssh.connect)) } : { host: h.name, state: "unknown" as const, detail: NO_PIN };
      }),
    );
  }

  /**
   * How to reach a host: the stack's user, its address, its pinned key, and with a bastion (the
   * stack's `bastion` output) through it, its own key pinned too, logged into as the same user
   * with the same key; null without a pin or SSH access.
   */
  private targetOf(host: HostStatus, fingerprint: string | undefined, out: WebOutputs): SshTarget | null {
    const { ssh, env } = this.options;
    if (!ssh || !fingerprint) return null;
    const user = out.sshUser ?? env.aws?.sshUser ?? "admin";
    const bastion = out.bastion;
    return {
      name: host.name,
      address: host.address,
      port: 22,
      user,
      auth: ssh.auth,
      hostKey: { fingerprints: [fingerprint] },
      ...(bastion ? { jump: { name: `${env.name}-bastion`, address: bastion.address, port: 22, user, auth: ssh.auth, hostKey: { fingerprints: [bastion.hostKeyFingerprint] } } } : {}),
    };
  }

  async probe(slot: SlotName): Promise<ProbeResult[]> {
    // One read of the outputs (each is a `pulumi stack output` through the Automation API).
    const out = (await this.options.workspace.outputs()) as WebOutputs;
    const hosts = (await this.statusOf(out)).slots[slot].hosts;
    if (this.options.probeHosts) return this.options.probeHosts(slot, hosts);
    const pins = out.hostKeyFingerprints?.[slot] ?? [];
    return Promise.all(hosts.map((h, i) => this.probeOverSsh(h, this.targetOf(h, pins[i], out))));
  }

  /** One connection to the host (its key pinned), one run of the health check there, then closed. */
  private async probeOverSsh(host: HostStatus, target: SshTarget | null): Promise<ProbeResult> {
    const { env, ssh } = this.options;
    if (!ssh) return { host: host.name, ok: false, status: null, detail: "no ssh-agent (SSH_AUTH_SOCK is unset): the aws driver probes hosts over SSH with the key aws.sshPublicKey authorizes" };
    if (!target) return { host: host.name, ok: false, status: null, detail: NO_PIN };
    let transport: Transport | undefined;
    try {
      // A probe is one attempt: a host that does not answer SSH within the health timeout is not healthy now.
      transport = await ssh.connect(target, { handshakeTimeoutMs: 10_000, connectDeadlineMs: env.app.health.timeoutSeconds * 1000 });
      return probeResultOf(host.name, env.app.health.status, await transport.exec(hostProbeCommand(env)));
    } catch (e) {
      return { host: host.name, ok: false, status: null, detail: `ssh: ${(e as Error).message}` };
    } finally {
      await transport?.close().catch(() => undefined);
    }
  }

  /**
   * The lock across operators: the environment's object in the stack's lock bucket, written only
   * if absent. Refused with {@link LockHeldError} naming the holder recorded in it. Without a
   * client, or on a stack that has no lock bucket yet, there is none (said through `log`).
   */
  async sharedLock(operation: string): Promise<HeldSharedLock> {
    const { lockClient, env } = this.options;
    const none: HeldSharedLock = { release: async () => {} };
    const log = this.options.log ?? (() => {});
    if (!lockClient) {
      log("no lock across operators: this aws driver was built without a lock store");
      return none;
    }
    const bucket = ((await this.options.workspace.outputs()) as WebOutputs).lockBucket;
    if (!bucket) {
      log("no lock across operators: the stack has no lockBucket output yet (the next pulumi up creates it)");
      return none;
    }
    const key = lockObjectKey(env.name);
    const who = (this.options.holder ?? defaultHolder)();
    const record: LockRecord = { id: randomUUID(), operation, ...who, since: (this.options.now ?? (() => new Date()))().toISOString() };
    if (!(await lockClient.putIfAbsent(bucket, key, JSON.stringify(record)))) {
      const held = parseRecord((await lockClient.get(bucket, key))?.body ?? null);
      const by = held ? describeHolder(held) : "an unknown holder (the lock object is unreadable or just went)";
      throw new LockHeldError(`environment ${env.name} is locked by ${by} (s3://${bucket}/${key})`, {
        context: { bucket, key },
        suggestion: "Wait for that operation to end. If it is gone for good (killed, its machine lost), `longshore lock release --force` removes its lock.",
      });
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // Only our own: someone may have removed ours (--force) and taken the lock since. The
        // delete names the ETag read, so a retake between the read and the delete survives too.
        const now = await lockClient.get(bucket, key);
        const ours = now !== null && parseRecord(now.body)?.id === record.id;
        if (!ours || !(await lockClient.deleteIfMatch(bucket, key, now.etag))) log(`the lock s3://${bucket}/${key} is no longer this operation's; left as it is`);
      },
    };
  }

  /** Where the shared lock is and who holds it (`longshore lock status`); `none` when there is no lock store or bucket. */
  async sharedLockState(): Promise<SharedLockState> {
    const { lockClient, env } = this.options;
    if (!lockClient) return { state: "none", reason: "this aws driver was built without a lock store" };
    const bucket = ((await this.options.workspace.outputs()) as WebOutputs).lockBucket;
    if (!bucket) return { state: "none", reason: "the stack has no lockBucket output yet (the next pulumi up creates it)" };
    const key = lockObjectKey(env.name);
    const now = await lockClient.get(bucket, key);
    return now === null ? { state: "free", bucket, key } : { state: "held", bucket, key, holder: parseRecord(now.body), etag: now.etag };
  }

  /**
   * Removes the lock object `held` read (`longshore lock release --force`), only if it is still
   * that object (`If-Match`): false when it changed hands or went since.
   */
  async forceReleaseSharedLock(held: SharedLockState & { state: "held" }): Promise<boolean> {
    if (!this.options.lockClient) return false;
    return this.options.lockClient.deleteIfMatch(held.bucket, held.key, held.etag);
  }

  async commitSlot(): Promise<void> {
    // The update in prepareSlot already made the new instances the slot's.
  }

  async discardPrepared(slot: SlotName, progress: ProgressFn): Promise<void> {
    // The slot's previous instances were replaced in prepareSlot: what failed goes, the slot is empty.
    await this.retireSlot(slot, progress);
  }

  async switchTraffic(slot: SlotName, _drainMs: number): Promise<void> {
    // Draining is the target groups' deregistration delay, which the stack sets from rollout.drainSeconds.
    await this.edit({ live: slot });
    await this.up();
  }

  async retireSlot(slot: SlotName, progress: ProgressFn): Promise<void> {
    await this.edit({ images: { [slot]: null } });
    progress(`pulumi up: retiring the ${slot} slot`);
    await this.up();
  }

  private async up(): Promise<void> {
    await this.options.workspace.up(this.options.log ?? (() => {}));
  }
}

const NO_PIN = "the stack's outputs pin no host key for it (hostKeyFingerprints)";

function defaultHolder(): Omit<LockHolder, "operation" | "since"> {
  let user = "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (a container): the host name and pid still say who.
  }
  return { user, hostname: os.hostname(), pid: process.pid };
}

function parseRecord(body: string | null): LockRecord | null {
  if (body === null) return null;
  try {
    const r = JSON.parse(body) as LockRecord;
    return r !== null && typeof r === "object" && typeof r.id === "string" && typeof r.operation === "string" ? r : null;
  } catch {
    return null;
  }
}
