/**
 * Dialing one SSH connection with ssh2: host-key verification (always), authentication, an
 * optional jump host, handshake timeout, keepalive and dial retries. ssh2 verifies nothing and
 * times out nothing by default, so every one of those is set here explicitly.
 */
import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { Client, utils, type AnyAuthMethod, type ConnectConfig, type ServerHostKeyAlgorithm } from "ssh2";
import { HostKeyError, TransportError } from "../../core/errors";
import type { SshTarget } from "../../model/ssh-target";
import type { SshConnectOptions } from "./connect-options";
import { fingerprintOf, keyTypeOf } from "./fingerprint";
import {
  appendKnownHostsLine,
  decideHostKey,
  knownHostsLine,
  knownKeyTypes,
  readKnownHostsFile,
  type KnownHostEntry,
} from "./known-hosts";
import { retryUntilDeadline } from "./retry";
import { toTransportError } from "./ssh2-errors";

/** {@link SshConnectOptions} with every default filled in. */
export type ResolvedSshOptions = Required<Omit<SshConnectOptions, "signal" | "onRetry">> &
  Pick<SshConnectOptions, "signal" | "onRetry">;

/** Fills in the documented defaults of {@link SshConnectOptions}. */
export function resolveSshOptions(options: SshConnectOptions = {}): ResolvedSshOptions {
  return {
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    channelOpenTimeoutMs: options.channelOpenTimeoutMs ?? 10_000,
    commandTimeoutMs: options.commandTimeoutMs ?? 600_000,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? 5_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
    connectDeadlineMs: options.connectDeadlineMs ?? 60_000,
    signal: options.signal,
    onRetry: options.onRetry,
  };
}

/** A live, authenticated connection (and the jump connection it rides on, if any). */
export interface SshConnection {
  readonly client: Client;
  readonly target: SshTarget;
  readonly jump: SshConnection | undefined;
  /** Why the connection is gone, or null while it is up. */
  lost(): Error | null;
  /** Ends this connection, then its jump connection. Idempotent. */
  end(): void;
}

/**
 * Connects to `target` (through its jump host, recursively), retrying retryable failures with
 * backoff until `connectDeadlineMs` has passed since the first attempt.
 */
export async function dialSsh(target: SshTarget, options: ResolvedSshOptions, deadlineAt?: number): Promise<SshConnection> {
  const deadline = deadlineAt ?? Date.now() + options.connectDeadlineMs;
  const auth = await prepareAuth(target);
  const jump = target.jump ? await dialSsh(target.jump, options, deadline) : undefined;
  try {
    return await retryUntilDeadline(
      async () => {
        const sock = jump ? await forwardTo(jump, target, options) : undefined;
        return await handshake(target, auth, options, jump, sock);
      },
      {
        deadlineMs: Math.max(0, deadline - Date.now()),
        isRetryable: (e) => e instanceof TransportError && e.retryable,
        onRetry: options.onRetry,
        signal: options.signal,
      },
    );
  } catch (error) {
    jump?.end();
    if (options.signal?.aborted && !(error instanceof TransportError && error.kind === "aborted"))
      throw new TransportError("aborted", target.name, "connecting was aborted", { cause: error });
    throw error;
  }
}

/** The configured auth methods, parsed up front so a bad key fails clearly and at once. */
interface PreparedAuth {
  methods: AnyAuthMethod[];
  /** Human names of the methods, for the auth failure message (never key material). */
  tried: string[];
}

async function prepareAuth(target: SshTarget): Promise<PreparedAuth> {
  const { auth, user } = target;
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const passphrase = auth.passphrase?.reveal();
  const addKey = (data: Buffer | string, label: string) => {
    const key = utils.parseKey(data, passphrase);
    if (key instanceof Error)
      throw new TransportError("auth", target.name, `${label} cannot be used: ${key.message}`, {
        suggestion: "Check the key's format and passphrase.",
      });
    methods.push({ type: "publickey", username: user, key });
    tried.push(label);
  };
  if (auth.privateKey) addKey(auth.privateKey.reveal(), "publickey (in-memory key)");
  if (auth.privateKeyFile) {
    let data: Buffer;
    try {
      data = await readFile(auth.privateKeyFile);
    } catch (e) {
      throw new TransportError("auth", target.name, `cannot read key file ${auth.privateKeyFile}: ${(e as Error).message}`, { cause: e });
    }
    addKey(data, `publickey (key file ${auth.privateKeyFile})`);
  }
  if (auth.agent) {
    methods.push({ type: "agent", username: user, agent: auth.agent });
    tried.push(`agent (${auth.agent})`);
  }
  if (methods.length === 0)
    throw new TransportError("auth", target.name, "no authentication method configured (privateKey, privateKeyFile or agent)");
  return { methods, tried };
}

/** Opens a direct-tcpip channel from the jump host to the target, under the channel-open timeout. */
function forwardTo(jump: SshConnection, target: SshTarget, options: ResolvedSshOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new TransportError("timeout", target.name, `jump host ${jump.target.name} did not open a tunnel within ${options.channelOpenTimeoutMs} ms`));
    }, options.channelOpenTimeoutMs);
    try {
      jump.client.forwardOut("127.0.0.1", 0, target.address, target.port, (err, stream) => {
        clearTimeout(timer);
        if (done) return void stream?.close();
        done = true;
        if (err) reject(toTransportError(target.name, err, `tunnel through ${jump.target.name} to ${target.address}:${target.port}`));
        else resolve(stream);
      });
    } catch (e) {
      clearTimeout(timer);
      done = true;
      reject(toTransportError(target.name, e, `tunnel through ${jump.target.name}`));
    }
  });
}

/** One connection attempt: TCP (or tunnel), key exchange with host verification, auth. */
function handshake(
  target: SshTarget,
  auth: PreparedAuth,
  options: ResolvedSshOptions,
  jump: SshConnection | undefined,
  sock: Duplex | undefined,
): Promise<SshConnection> {
  return readPolicyEntries(target).then(
    (entries: KnownHostEntry[]) =>
      new Promise<SshConnection>((resolve, reject) => {
        const client = new Client();
        let settled = false;
        let hostKeyError: HostKeyError | undefined;
        let lostReason: Error | null = null;
        const where = `${target.address}:${target.port}${jump ? ` via ${jump.target.name}` : ""}`;

        const onAbort = () => fail(new TransportError("aborted", target.name, "connecting was aborted"));
        const fail = (error: unknown) => {
          if (settled) return;
          settled = true;
          options.signal?.removeEventListener("abort", onAbort);
          client.end();
          sock?.destroy();
          if (hostKeyError) return reject(hostKeyError);
          const e = toTransportError(target.name, error, `connecting to ${where}`);
          if (e.kind === "auth" && !(error instanceof TransportError))
            return reject(
              new TransportError("auth", target.name, `authentication as ${target.user} failed; tried ${auth.tried.join(", ")}`, {
                cause: error,
                suggestion: "Check the SSH user, the key (and passphrase) and the host's authorized_keys.",
              }),
            );
          reject(e);
        };

        client.on("error", (err) => {
          lostReason ??= err;
          fail(err);
        });
        client.on("close", () => {
          lostReason ??= new Error("connection closed");
          fail(new Error(`Connection lost before handshake`));
        });
        client.once("ready", () => {
          if (settled) return void client.end();
          settled = true;
          // Provisioning is many small request/response exchanges on one connection: with Nagle on,
          // each command waited ~40 ms for the server's delayed ACK (measured, see BENCHMARKS.md).
          client.setNoDelay(true);
          options.signal?.removeEventListener("abort", onAbort);
          let ended = false;
          resolve({
            client,
            target,
            jump,
            lost: () => lostReason,
            end: () => {
              if (ended) return;
              ended = true;
              lostReason ??= new Error("connection closed by longshore");
              client.end();
              jump?.end();
            },
          });
        });
        if (options.signal?.aborted) return onAbort();
        options.signal?.addEventListener("abort", onAbort, { once: true });

        const config: ConnectConfig = {
          host: target.address,
          port: target.port,
          username: target.user,
          authHandler: auth.methods,
          readyTimeout: options.handshakeTimeoutMs,
          keepaliveInterval: options.keepaliveIntervalMs,
          keepaliveCountMax: options.keepaliveCountMax,
          algorithms: { serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, target.address, target.port)) },
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            verifyHostKey(target, key, entries).then(
              (err) => {
                hostKeyError = err ?? undefined;
                verify(err === null);
              },
              (e: unknown) => {
                hostKeyError = new HostKeyError(target.name, [], fingerprintOf(key), {
                  cause: e,
                  suggestion: `The known_hosts file could not be used: ${(e as Error).message}`,
                });
                verify(false);
              },
            );
          },
          ...(sock ? { sock } : {}),
        };
        try {
          client.connect(config);
        } catch (e) {
          fail(e);
        }
      }),
  );
}

/** Entries of every known_hosts file in the policy (read per attempt: TOFU may have added one). */
async function readPolicyEntries(target: SshTarget): Promise<KnownHostEntry[]> {
  const { knownHostsFile, trustOnFirstUse } = target.hostKey;
  const files = [knownHostsFile, trustOnFirstUse?.recordTo].filter((f): f is string => !!f);
  try {
    const lists = await Promise.all([...new Set(files)].map((f) => readKnownHostsFile(f)));
    return lists.flat();
  } catch (e) {
    // Fail closed: a known_hosts file we cannot read can verify nothing.
    throw new TransportError("host-key", target.name, `cannot read known_hosts file: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Decides on the presented key; null means accepted. Unknown hosts are accepted only under
 * trust-on-first-use, and then recorded before the handshake goes on.
 */
async function verifyHostKey(target: SshTarget, key: Buffer, entries: KnownHostEntry[]): Promise<HostKeyError | null> {
  const policy = target.hostKey;
  const decision = decideHostKey({
    address: target.address,
    port: target.port,
    presented: key,
    pinned: policy.fingerprints ?? [],
    entries,
  });
  if (decision.verdict === "accept") return null;
  if (decision.verdict === "unknown" && policy.trustOnFirstUse) {
    const type = keyTypeOf(key) ?? "unknown";
    await appendKnownHostsLine(policy.trustOnFirstUse.recordTo, knownHostsLine(target.address, target.port, type, key));
    return null;
  }
  return new HostKeyError(target.name, decision.expected, decision.presented, {
    context: { address: target.address, port: target.port, verdict: decision.verdict },
    ...(decision.verdict === "revoked"
      ? { suggestion: "The presented key is marked @revoked in a known_hosts file: never accept it." }
      : {}),
  });
}

/** ssh2's default host key algorithms, in its own order. */
const DEFAULT_HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/**
 * Like OpenSSH, ask first for the key types already known for this host, so a host with several
 * keys presents the one we can verify instead of failing on another type.
 */
export function hostKeyAlgorithms(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const preferred: ServerHostKeyAlgorithm[] = [];
  for (const t of knownTypes) {
    const algs: ServerHostKeyAlgorithm[] =
      t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => a === t);
    preferred.push(...algs);
  }
  return [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
