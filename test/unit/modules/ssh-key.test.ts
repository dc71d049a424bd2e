// Does not prove that a Debian cloud image's cloud-init accepts these keys (only that OpenSSH's ssh-keygen reads them).
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  ed25519PublicFromSeed,
  fingerprintOfPublicKey,
  generateOpenSshEd25519,
  openSshEd25519FromSeed,
} from "../../../modules/ssh-key";

const SEED = Buffer.alloc(32, 7);

/** Runs ssh-keygen on a private key written to a 0600 temp file, removed afterwards. */
function withKeyFile<T>(privateKey: string, fn: (file: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), "longshore-sshkey-"));
  try {
    const file = path.join(dir, "key");
    writeFileSync(file, privateKey, { mode: 0o600 });
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// RFC 8032, section 7.1, TEST 1: an ed25519 secret key and the public key that belongs to it.
const RFC_SEED = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
const RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

describe("ed25519PublicFromSeed", () => {
  it("derives the RFC 8032 test vector's public key", () => {
    expect(ed25519PublicFromSeed(RFC_SEED).toString("hex")).toBe(RFC_PUBLIC);
  });
});

describe("openSshEd25519FromSeed", () => {
  it("puts the public key in OpenSSH's wire format", () => {
    // string "ssh-ed25519" (length 11), string pk (length 32)
    const blob = Buffer.concat([Buffer.from("0000000b", "hex"), Buffer.from("ssh-ed25519"), Buffer.from("00000020", "hex"), Buffer.from(RFC_PUBLIC, "hex")]);
    expect(openSshEd25519FromSeed(RFC_SEED, "root@test").publicKey).toBe(`ssh-ed25519 ${blob.toString("base64")} root@test`);
    expect(openSshEd25519FromSeed(RFC_SEED, "").publicKey).toBe(`ssh-ed25519 ${blob.toString("base64")}`);
  });

  it("is deterministic for a seed and comment", () => {
    const a = openSshEd25519FromSeed(SEED, "root@test");
    const b = openSshEd25519FromSeed(SEED, "root@test");
    expect(a).toEqual(b);
    expect(a.privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n")).toBe(true);
    expect(a.privateKey.endsWith("\n-----END OPENSSH PRIVATE KEY-----\n")).toBe(true);
  });

  it("writes a private key that ssh-keygen reads back to the same public key and fingerprint", () => {
    const pair = openSshEd25519FromSeed(SEED, "root@web-blue-0");
    withKeyFile(pair.privateKey, (file) => {
      const pub = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
      expect(pub).toBe(pair.publicKey);
      const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).trim();
      expect(fp).toBe(`256 ${pair.fingerprint} root@web-blue-0 (ED25519)`);
    });
  });

  it("generates different keys each time, each readable by ssh-keygen", () => {
    const a = generateOpenSshEd25519("a");
    const b = generateOpenSshEd25519("a");
    expect(a.fingerprint).not.toBe(b.fingerprint);
    withKeyFile(a.privateKey, (file) => {
      expect(execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim()).toBe(a.publicKey);
    });
  });

  it("refuses a seed of the wrong size and a multi-line comment", () => {
    expect(() => ed25519PublicFromSeed(Buffer.alloc(31))).toThrow("an ed25519 seed is 32 bytes, got 31");
    expect(() => openSshEd25519FromSeed(SEED, "a\nb")).toThrow("an SSH key comment must be one line");
  });
});

describe("fingerprintOfPublicKey", () => {
  it("matches ssh-keygen for a public key line", () => {
    const pair = openSshEd25519FromSeed(SEED, "x");
    expect(fingerprintOfPublicKey(pair.publicKey)).toBe(pair.fingerprint);
    expect(fingerprintOfPublicKey(pair.publicKey.replace(/ x$/, ""))).toBe(pair.fingerprint);
  });

  it.each([
    ["not a key", "must be an OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'"],
    ["ssh-ed25519", "must be an OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'"],
    ["ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea", "the key data does not hold a ssh-rsa key"],
  ])("refuses %j", (line, message) => {
    expect(() => fingerprintOfPublicKey(line)).toThrow(message);
  });
});
