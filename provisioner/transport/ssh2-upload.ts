/**
 * Atomic uploads over SFTP. The bytes are streamed (never a whole file in memory), hashed on the
 * way and checked against the expected sha256 before anything replaces the target; the target is
 * replaced by a rename in its own directory, so readers see the old file or the new one, never half.
 * A root-owned target with a non-root user goes through a private staging dir and `sudo -n install`.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { posix } from "node:path";
import type { SFTPWrapper } from "ssh2";
import { TransportError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import type { Command } from "../command";
import type { ExecOptions, ExecResult, UploadOptions, UploadResult, UploadSource } from "./transport";

/** What an upload needs from the transport it runs on. */
export interface UploadDeps {
  host: string;
  needsSudo: boolean;
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  sftp(): Promise<SFTPWrapper>;
}

const CHUNK = 64 * 1024;
/** Outstanding SFTP write requests: enough to fill the pipe, small enough to bound memory (1 MiB). */
const WRITES_IN_FLIGHT = 16;

/** Uploads `source` to `remotePath` unless the remote file already has that content, mode and owner. */
export async function uploadOverSftp(
  deps: UploadDeps,
  source: UploadSource,
  remotePath: string,
  options: UploadOptions,
): Promise<UploadResult> {
  if (!posix.isAbsolute(remotePath) || remotePath.endsWith("/"))
    throw new TransportError("protocol", deps.host, `upload target must be an absolute file path, got ${JSON.stringify(remotePath)}`);
  const local = await describeSource(deps.host, source);
  const mode = (options.mode ?? 0o644) & 0o7777;
  if (!options.force && (await remoteMatches(deps, remotePath, local.sha256, mode, options))) {
    return { uploaded: false, bytes: local.bytes, sha256: local.sha256 };
  }
  const sftp = await deps.sftp();
  if (options.sudo && deps.needsSudo) await stagedSudoUpload(deps, sftp, local, remotePath, mode, options);
  else await directUpload(deps, sftp, local, remotePath, mode, options);
  return { uploaded: true, bytes: local.bytes, sha256: local.sha256 };
}

interface LocalSource {
  sha256: string;
  bytes: number;
  /** A fresh stream of the bytes (read twice at most: hashing, sending). */
  open(): AsyncIterable<Buffer> | Iterable<Buffer>;
}

async function describeSource(host: string, source: UploadSource): Promise<LocalSource> {
  if ("content" in source) {
    const c = source.content;
    const buf = c instanceof Sensitive ? Buffer.from(c.reveal(), "utf8") : typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c);
    const sha256 = createHash("sha256").update(buf).digest("hex");
    return { sha256, bytes: buf.length, open: () => chunksOf(buf) };
  }
  const path = source.localPath;
  const info = await stat(path).catch((e: Error) => {
    throw new TransportError("protocol", host, `cannot read local file ${path}: ${e.message}`, { cause: e });
  });
  if (!info.isFile()) throw new TransportError("protocol", host, `local file ${path} is not a regular file`);
  const open = () => createReadStream(path, { highWaterMark: CHUNK });
  let sha256 = source.sha256?.toLowerCase();
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256))
    throw new TransportError("protocol", host, `sha256 given for ${path} is not 64 hex digits`);
  if (sha256 === undefined) {
    const hash = createHash("sha256");
    for await (const chunk of open()) hash.update(chunk as Buffer);
    sha256 = hash.digest("hex");
  }
  return { sha256, bytes: info.size, open: open as () => AsyncIterable<Buffer> };
}

function* chunksOf(buf: Buffer): Iterable<Buffer> {
  for (let i = 0; i < buf.length; i += CHUNK) yield buf.subarray(i, i + CHUNK);
}

/** One exec: the remote file's hash and `mode owner group`; true when all match what we want. */
async function remoteMatches(deps: UploadDeps, path: string, sha256: string, mode: number, options: UploadOptions): Promise<boolean> {
  const script = 'LC_ALL=C; export LC_ALL; sha256sum -- "$1" && stat -c "%a %U %G" -- "$1"';
  const result = await deps.exec({ argv: ["sh", "-c", script, "sh", path], sudo: options.sudo ?? false });
  if (result.exitCode !== 0) {
    if (/No such file or directory/.test(result.stderr)) return false;
    throw remoteFailure(deps.host, `cannot inspect ${path}`, result);
  }
  const lines = result.stdout.trim().split("\n");
  const hash = /^\\?([0-9a-f]{64})\s/.exec(lines[0] ?? "")?.[1];
  const [m, owner, group] = (lines[lines.length - 1] ?? "").split(" ");
  return (
    hash === sha256 &&
    parseInt(m ?? "", 8) === mode &&
    (options.owner === undefined || owner === options.owner) &&
    (options.group === undefined || group === options.group)
  );
}

/** Temp file in the target's directory, then chmod/chown, then an atomic rename over the target. */
async function directUpload(deps: UploadDeps, sftp: SFTPWrapper, local: LocalSource, target: string, mode: number, options: UploadOptions) {
  const tmp = tempNameBeside(target);
  try {
    await writeRemoteFile(deps.host, sftp, tmp, local, options.signal);
    await sftpCall<void>((cb) => sftp.chmod(tmp, mode, cb)).catch((e: Error) => {
      throw sftpFailure(deps.host, `cannot chmod ${tmp}`, e);
    });
    const spec = chownSpec(options);
    if (spec) await mustSucceed(deps, { argv: ["chown", "--", spec, tmp] }, `cannot chown ${tmp}`);
    await renameOver(deps, sftp, tmp, target);
  } catch (error) {
    await sftpCall<void>((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
    throw error;
  }
}

/**
 * For a root-owned target and a non-root user: write into a private `mktemp -d` directory, then
 * `sudo -n install` into a temp name beside the target and `mv -f` it over the target.
 */
async function stagedSudoUpload(deps: UploadDeps, sftp: SFTPWrapper, local: LocalSource, target: string, mode: number, options: UploadOptions) {
  const made = await mustSucceed(deps, { argv: ["mktemp", "-d"] }, "cannot create a staging directory");
  const dir = made.stdout.trim();
  if (!posix.isAbsolute(dir)) throw new TransportError("protocol", deps.host, `mktemp -d printed ${JSON.stringify(dir)}`);
  try {
    const staged = `${dir}/upload`;
    await writeRemoteFile(deps.host, sftp, staged, local, options.signal);
    // The install temp is removed by the trap when any step fails; after mv it no longer exists.
    const script = 'set -e; tmp=$3; trap \'rm -f -- "$tmp"\' EXIT; install -m "$1" -- "$2" "$tmp"; [ -z "$5" ] || chown -- "$5" "$tmp"; mv -f -- "$tmp" "$4"';
    const modeText = mode.toString(8).padStart(4, "0");
    await mustSucceed(
      deps,
      { argv: ["sh", "-c", script, "sh", modeText, staged, tempNameBeside(target), target, chownSpec(options) ?? ""], sudo: true },
      `cannot install ${target}`,
    );
  } finally {
    await deps.exec({ argv: ["rm", "-rf", "--", dir] }).catch(() => undefined);
  }
}

/** Streams `local` into a new remote file (mode 0600 until chmod), verifying its sha256 on the way. */
async function writeRemoteFile(host: string, sftp: SFTPWrapper, path: string, local: LocalSource, signal?: AbortSignal): Promise<void> {
  const handle = await sftpCall<Buffer>((cb) => sftp.open(path, "wx", { mode: 0o600 }, cb)).catch((e: Error) => {
    throw sftpFailure(host, `cannot create ${path}${/no such file/i.test(e.message) ? " (does its directory exist?)" : ""}`, e);
  });
  const hash = createHash("sha256");
  const inFlight = new Set<Promise<void>>();
  let offset = 0;
  let failure: unknown;
  try {
    for await (const chunk of local.open()) {
      if (signal?.aborted) throw new TransportError("aborted", host, `upload to ${path} was aborted`);
      hash.update(chunk);
      const p: Promise<void> = sftpCall<void>((cb) => sftp.write(handle, chunk, 0, chunk.length, offset, (err) => cb(err)));
      offset += chunk.length;
      const tracked = p.then(
        () => void inFlight.delete(tracked),
        (e: unknown) => {
          inFlight.delete(tracked);
          failure ??= e;
        },
      );
      inFlight.add(tracked);
      if (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight);
      if (failure) break;
    }
    await Promise.all(inFlight);
    if (failure) throw sftpFailure(host, `cannot write ${path}`, failure as Error);
  } finally {
    await Promise.all(inFlight);
    await sftpCall<void>((cb) => sftp.close(handle, cb)).catch(() => undefined);
  }
  const sent = hash.digest("hex");
  if (sent !== local.sha256 || offset !== local.bytes)
    throw new TransportError("protocol", host, `the bytes sent to ${path} do not match the expected sha256 (the local file changed, or its given sha256 is wrong)`, {
      context: { expected: local.sha256, sent, bytes: offset },
    });
}

/** posix-rename@openssh.com replaces the target atomically; plain SFTP rename refuses to. */
async function renameOver(deps: UploadDeps, sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
  } catch (e) {
    if (!/does not support/i.test((e as Error).message)) throw sftpFailure(deps.host, `cannot rename ${from} to ${to}`, e as Error);
    await mustSucceed(deps, { argv: ["mv", "-f", "--", from, to] }, `cannot rename ${from} to ${to}`);
  }
}

/** `.<name>.longshore-<random>` in the target's own directory (a rename never crosses filesystems). */
export function tempNameBeside(target: string): string {
  return posix.join(posix.dirname(target), `.${posix.basename(target)}.longshore-${randomBytes(6).toString("hex")}`);
}

function chownSpec(options: UploadOptions): string | undefined {
  if (options.owner === undefined && options.group === undefined) return undefined;
  return `${options.owner ?? ""}${options.group !== undefined ? `:${options.group}` : ""}`;
}

async function mustSucceed(deps: UploadDeps, command: Command, what: string): Promise<ExecResult> {
  const result = await deps.exec(command);
  if (result.exitCode !== 0) throw remoteFailure(deps.host, what, result);
  return result;
}

function remoteFailure(host: string, what: string, result: ExecResult): TransportError {
  const how = result.exitCode === null ? `killed by signal ${result.signal}` : `exit ${result.exitCode}`;
  return new TransportError("protocol", host, `${what} (${how}): ${result.stderr.trim().slice(-2000)}`);
}

function sftpFailure(host: string, what: string, error: Error): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError("protocol", host, `${what}: ${error.message}`, { cause: error });
}

/** Calls an SFTP method, turning a synchronous throw into a rejection too. */
function sftpCall<T>(start: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((err, value) => (err ? reject(err) : resolve(value)));
    } catch (e) {
      reject(e);
    }
  });
}
