/**
 * Ed25519 SSH keys in OpenSSH's own formats, made with node's crypto alone (no ssh-keygen, no
 * extra package): the public key line (`ssh-ed25519 AAAA... comment`), the unencrypted
 * `openssh-key-v1` private key that sshd and cloud-init read, and the `SHA256:` fingerprint that
 * `ssh-keygen -lf` prints and the provisioner pins.
 *
 * These functions are also captured by the HostKey dynamic provider, which Pulumi serialises:
 * they `require` node's crypto inside their bodies and touch nothing else at module level, so the
 * serialised closure stays a few functions long.
 */

/** An ed25519 key pair in OpenSSH formats. */
export interface OpenSshKeyPair {
  /** `ssh-ed25519 <base64> <comment>`, one line, no newline. */
  publicKey: string;
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` ... unencrypted, ending with a newline. A secret. */
  privateKey: string;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** DER prefix of a PKCS#8 ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX_HEX = "302e020100300506032b657004220420";

/** SSH wire `string`: uint32 big-endian length, then the bytes. */
function sshString(data: Uint8Array | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** The public key blob: string "ssh-ed25519", string pk. */
function ed25519PublicBlob(publicKey: Uint8Array): Buffer {
  return Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
}

/** `SHA256:` fingerprint of a public key blob, as OpenSSH prints it. */
function fingerprintOfBlob(blob: Uint8Array): string {
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * The 32-byte public key that belongs to a 32-byte ed25519 seed (RFC 8032 private key).
 * @throws Error when the seed is not 32 bytes.
 */
export function ed25519PublicFromSeed(seed: Uint8Array): Buffer {
  if (seed.length !== 32) throw new Error(`an ed25519 seed is 32 bytes, got ${seed.length}`);
  const crypto = require("node:crypto") as typeof import("node:crypto");
  const der = Buffer.concat([Buffer.from(PKCS8_ED25519_PREFIX_HEX, "hex"), Buffer.from(seed)]);
  const priv = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const jwk = crypto.createPublicKey(priv).export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("node did not export the ed25519 public key");
  return Buffer.from(jwk.x, "base64url");
}

/**
 * Encodes an ed25519 key pair from its seed in OpenSSH formats. Deterministic: the same seed and
 * comment give the same text (the private key's check integer is derived from the public key, as
 * nothing depends on it being random for an unencrypted key), which is what golden tests need.
 *
 * @param seed 32 random bytes (the RFC 8032 private key).
 * @param comment Free text stored with the key (`root@web-blue-0`); must be one line.
 */
export function openSshEd25519FromSeed(seed: Uint8Array, comment: string): OpenSshKeyPair {
  if (/[\r\n]/.test(comment)) throw new Error("an SSH key comment must be one line");
  const pub = ed25519PublicFromSeed(seed);
  const blob = ed25519PublicBlob(pub);
  const checkint = blob.subarray(blob.length - 4);
  const parts = [
    checkint,
    checkint,
    sshString("ssh-ed25519"),
    sshString(pub),
    // OpenSSH stores the 64-byte "secret key": seed followed by the public key.
    sshString(Buffer.concat([Buffer.from(seed), pub])),
    sshString(comment),
  ];
  let section = Buffer.concat(parts);
  // Padded with 1, 2, 3... to the cipher block size, which is 8 for "none".
  const pad: number[] = [];
  for (let i = 1; (section.length + pad.length) % 8 !== 0; i++) pad.push(i);
  section = Buffer.concat([section, Buffer.from(pad)]);

  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"), // cipher
    sshString("none"), // kdf
    sshString(""), // kdf options
    Buffer.from([0, 0, 0, 1]), // one key
    sshString(blob),
    sshString(section),
  ]);
  const b64 = body.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return {
    publicKey: `ssh-ed25519 ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`,
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`,
    fingerprint: fingerprintOfBlob(blob),
  };
}

/** A fresh ed25519 key pair from 32 bytes of the system's CSPRNG. */
export function generateOpenSshEd25519(comment: string): OpenSshKeyPair {
  const { randomBytes } = require("node:crypto") as typeof import("node:crypto");
  return openSshEd25519FromSeed(randomBytes(32), comment);
}

/**
 * The `SHA256:` fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`, or
 * any other key type). Used to check a configured admin key and to pin host keys.
 * @throws Error when the line is not `<type> <base64> [comment]` with a blob naming that type.
 */
export function fingerprintOfPublicKey(line: string): string {
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?$/.exec(line.trim());
  if (!m) throw new Error("must be an OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'");
  const blob = Buffer.from(m[2]!, "base64");
  const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (typeLen < 0 || 4 + typeLen > blob.length || blob.subarray(4, 4 + typeLen).toString("latin1") !== m[1]) {
    throw new Error(`the key data does not hold a ${m[1]} key`);
  }
  return fingerprintOfBlob(blob);
}
