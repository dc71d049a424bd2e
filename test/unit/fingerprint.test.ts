// Does not prove anything about keys ssh2 presents during a handshake (see the host-key integration test).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeKeyBlob, fingerprintOf, keyTypeOf, normaliseFingerprint, publicKeyLine } from "../../provisioner/transport/fingerprint";

const dir = mkdtempSync(join(tmpdir(), "longshore-fp-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let made = 0;

/** Generates a key with ssh-keygen and returns its .pub fields and ssh-keygen's own fingerprint. */
function generated(type: string, bits?: number): { type: string; base64: string; expected: string } {
  const path = join(dir, `key-${++made}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", "", "-f", path]);
  const [t, base64] = readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/);
  const expected = execFileSync("ssh-keygen", ["-lf", `${path}.pub`], { encoding: "utf8" }).split(/\s+/)[1]!;
  return { type: t!, base64: base64!, expected };
}

describe("fingerprintOf", () => {
  it.each([
    ["ed25519", 256, "ssh-ed25519"],
    ["ecdsa", 256, "ecdsa-sha2-nistp256"],
    ["ecdsa", 384, "ecdsa-sha2-nistp384"],
    ["ecdsa", 521, "ecdsa-sha2-nistp521"],
    ["rsa", 2048, "ssh-rsa"],
  ])("equals ssh-keygen -lf for a %s-%s key", (type, bits, wireType) => {
    const key = generated(type, type === "ed25519" ? undefined : bits);
    expect(key.type).toBe(wireType);
    const blob = decodeKeyBlob(key.type, key.base64);
    expect(blob).not.toBeNull();
    expect(fingerprintOf(blob!)).toBe(key.expected);
    expect(keyTypeOf(blob!)).toBe(wireType);
    expect(publicKeyLine(blob!)).toBe(`${key.type} ${key.base64}`);
  });

  it("matches a committed fixture (ssh-keygen -lf output recorded once)", () => {
    const base64 = "AAAAC3NzaC1lZDI1NTE5AAAAIBX1Lr8d0pN0jbiGk9eJ/8wI1S3V4P6Q7n2r2zUQyC5m";
    expect(fingerprintOf(decodeKeyBlob("ssh-ed25519", base64)!)).toBe("SHA256:/KDTW5Rr1qDIpKu+pSSyOOFAlQ6CpZrOscPQLM2BW+w");
  });
});

describe("decodeKeyBlob", () => {
  it("refuses a blob whose embedded type differs from the declared one, and bad base64", () => {
    const { base64 } = generated("ed25519");
    expect(decodeKeyBlob("ssh-rsa", base64)).toBeNull();
    expect(decodeKeyBlob("ssh-ed25519", "not base64!")).toBeNull();
    expect(decodeKeyBlob("ssh-ed25519", "AAAA")).toBeNull();
  });
});

describe("normaliseFingerprint", () => {
  it.each([
    ["SHA256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g", "SHA256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g"],
    ["sha256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g=", "SHA256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g"],
    ["  SHA256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g\n", "SHA256:QJIqQTyu5yLQEGS7NN0M1uDbtpyx53s5YRpjVXHxN6g"],
    ["MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", null],
    ["SHA256:tooShort", null],
  ])("%j -> %j", (input, expected) => {
    expect(normaliseFingerprint(input)).toBe(expected);
  });
});
