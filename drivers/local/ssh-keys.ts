/**
 * SSH keys for local machines, all made on the controller with OpenSSH's ssh-keygen: one client key
 * per environment and one host key per machine, written into the machine before it boots. Because
 * longshore made the host key, it knows the fingerprint in advance and the very first connection is
 * already verified (the AWS path does the same through cloud-init).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { runLocal } from "./exec";

/** A key pair on disk. */
export interface KeyPairFiles {
  privatePath: string;
  publicPath: string;
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/**
 * The OpenSSH fingerprint of a public key line (`type base64 [comment]`): SHA-256 of the decoded
 * key blob, base64 without padding.
 */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error(`not an OpenSSH public key line: ${publicKeyLine.slice(0, 40)}`);
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/**
 * Makes a new ed25519 key pair at `privatePath` (+ `.pub`), mode 0600, no passphrase. An existing
 * pair is kept (re-runs reuse the environment's key) unless `replace` is set.
 */
export async function ensureKeyPair(privatePath: string, comment: string, replace = false): Promise<KeyPairFiles> {
  const publicPath = `${privatePath}.pub`;
  if (replace || !fs.existsSync(privatePath) || !fs.existsSync(publicPath)) {
    fs.rmSync(privatePath, { force: true });
    fs.rmSync(publicPath, { force: true });
    await runLocal("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", privatePath], {
      stepId: "local.ssh-keygen",
    });
    fs.chmodSync(privatePath, 0o600);
  }
  const publicKey = fs.readFileSync(publicPath, "utf8").trim();
  return { privatePath, publicPath, publicKey, fingerprint: fingerprintOf(publicKey) };
}

/** A known_hosts line pinning `publicKey` for `address` (`[address]:port` when port is not 22). */
export function knownHostsLine(address: string, port: number, publicKey: string): string {
  const host = port === 22 ? address : `[${address}]:${port}`;
  const [type, blob] = publicKey.trim().split(/\s+/);
  return `${host} ${type} ${blob}`;
}
