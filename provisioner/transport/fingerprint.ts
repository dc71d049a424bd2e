/**
 * SSH public key fingerprints in OpenSSH's format: `SHA256:` + the unpadded base64 of the SHA-256
 * of the raw key blob (the wire encoding, i.e. the base64 field of a known_hosts or .pub line).
 * This is exactly what `ssh-keygen -lf` prints, so users can compare it with their own tools.
 */
import { createHash } from "node:crypto";

/** `SHA256:<base64 without padding>` of a raw public key blob. */
export function fingerprintOf(keyBlob: Uint8Array): string {
  const digest = createHash("sha256").update(keyBlob).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/**
 * The key type named inside a raw blob (its first SSH `string`, e.g. `ssh-ed25519`), or null when
 * the blob is too short to hold one.
 */
export function keyTypeOf(keyBlob: Uint8Array): string | null {
  if (keyBlob.length < 4) return null;
  const buf = Buffer.from(keyBlob.buffer, keyBlob.byteOffset, keyBlob.byteLength);
  const len = buf.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > buf.length) return null;
  return buf.subarray(4, 4 + len).toString("latin1");
}

/**
 * Decodes the base64 key field of an OpenSSH public key line and checks that its embedded type
 * equals the declared one (a mismatch means a corrupt or forged line). Null when invalid.
 */
export function decodeKeyBlob(declaredType: string, base64: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  const blob = Buffer.from(base64, "base64");
  return keyTypeOf(blob) === declaredType ? blob : null;
}

/**
 * Normalises a user-supplied fingerprint for comparison: keeps the `SHA256:` prefix (case-insensitive
 * on input) and drops base64 padding, which some tools print and OpenSSH does not.
 * Returns null for anything that is not a SHA256 fingerprint (MD5 ones are refused on purpose).
 */
export function normaliseFingerprint(text: string): string | null {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/i.exec(text.trim());
  return m ? `SHA256:${m[1]}` : null;
}

/** The public key as one `type base64` line, as in `.pub` and known_hosts files. */
export function publicKeyLine(keyBlob: Uint8Array): string {
  const type = keyTypeOf(keyBlob) ?? "unknown";
  return `${type} ${Buffer.from(keyBlob).toString("base64")}`;
}
