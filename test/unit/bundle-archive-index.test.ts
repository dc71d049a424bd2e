// Does not fetch anything (test/integration/bundle-native.test.ts fetches Debian's indexes, and a tampered copy from 127.0.0.1): it checks the InRelease signature check with keys generated here and Debian's shipped keyring, the Valid-Until policy and the keyring fallback.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as openpgp from "openpgp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreconditionError } from "../../core/errors";
import { checkValidUntil, keyringFile, readKeyring, shippedKeyringDir, suiteCacheDir, verifyInRelease } from "../../provisioner/bundle/archive-index";
import { parseRelease } from "../../provisioner/bundle/deb822";

const tmp = mkdtempSync(path.join(tmpdir(), "longshore-archive-index-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RELEASE = `Origin: Test
Suite: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC
SHA256:
 ${"d".repeat(64)} 100 main/binary-amd64/Packages.gz
`;
const label = { uri: "http://mirror.test/debian", suite: "bookworm", keyring: "/keys/test.gpg" };
const REFUSED = "InRelease of http://mirror.test/debian bookworm is not signed by a key in /keys/test.gpg";

async function keyPair(name: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({ type: "ecc", curve: "curve25519Legacy", userIDs: [{ name }], format: "object" });
  return { privateKey, publicKey };
}

let signer: Awaited<ReturnType<typeof keyPair>>;
let other: Awaited<ReturnType<typeof keyPair>>;
let signed: string;

beforeAll(async () => {
  signer = await keyPair("archive");
  other = await keyPair("someone else");
  signed = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: RELEASE }), signingKeys: signer.privateKey });
});

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => {
      throw new Error("was accepted");
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(PreconditionError);
  return (e as Error).message;
}

describe("InRelease signature", () => {
  it("accepts a text signed by a key of the keyring and returns exactly the signed text", async () => {
    expect(await verifyInRelease(signed, [other.publicKey, signer.publicKey], label)).toBe(RELEASE);
  });

  it("refuses a tampered text, a signature by another key, and a text that is not clearsigned", async () => {
    const tampered = signed.replace(" 100 main/binary-amd64", " 101 main/binary-amd64");
    expect(tampered).not.toBe(signed);
    expect(await refusal(verifyInRelease(tampered, [signer.publicKey], label))).toBe(REFUSED);
    expect(await refusal(verifyInRelease(signed, [other.publicKey], label))).toBe(REFUSED);
    expect(await refusal(verifyInRelease(RELEASE, [signer.publicKey], label))).toBe(REFUSED);
  });

  it("Debian's keyring shipped with longshore is read by openpgp (RSA 4096 and ed25519 keys) and verifies a real InRelease", async () => {
    const file = path.join(shippedKeyringDir(), "debian-archive-keyring.gpg");
    const keys = await readKeyring(file);
    expect(keys.map((k) => k.getAlgorithmInfo().algorithm).sort()).toEqual([...Array(7).fill("rsaEncryptSign"), "eddsaLegacy", "eddsaLegacy"].sort());
    const text = readFileSync(path.join(__dirname, "fixtures", "debian-bookworm-updates.InRelease"), "utf8");
    const out = await verifyInRelease(text, keys, { ...label, suite: "bookworm-updates" });
    expect(parseRelease(out).codename).toBe("bookworm-updates");
    // The same bytes with one hash changed are refused.
    const bad = text.replace(/^( [a-f0-9]{63})([a-f0-9])/m, (_m, a: string, b: string) => a + (b === "0" ? "1" : "0"));
    expect(await refusal(verifyInRelease(bad, keys, { ...label, suite: "bookworm-updates" }))).toBe(REFUSED.replace("bookworm ", "bookworm-updates "));
  });
});

describe("Valid-Until policy", () => {
  const release = parseRelease(RELEASE);
  it("refuses an expired index unless the check is off", () => {
    let msg = "";
    try {
      checkValidUntil(release, label, new Date("2026-07-19T00:00:00Z"), true);
    } catch (e) {
      expect(e).toBeInstanceOf(PreconditionError);
      msg = (e as Error).message;
    }
    expect(msg).toBe("InRelease of http://mirror.test/debian bookworm expired at 2026-07-18T10:16:37.000Z (Valid-Until); refusing a possibly stale index");
    expect(() => checkValidUntil(release, label, new Date("2026-07-19T00:00:00Z"), false)).not.toThrow();
    expect(() => checkValidUntil(release, label, new Date("2026-07-18T00:00:00Z"), true)).not.toThrow();
  });
});

describe("keyring file", () => {
  it("is the source's own keyring when it exists, else longshore's copy of the same name, else an error", async () => {
    const own = path.join(tmp, "own.gpg");
    writeFileSync(own, "x");
    expect(await keyringFile(own)).toBe(own);
    expect(await keyringFile("/nonexistent/debian-archive-keyring.gpg")).toBe(path.join(shippedKeyringDir(), "debian-archive-keyring.gpg"));
    expect(await refusal(keyringFile("/nonexistent/docker.gpg"))).toBe("keyring /nonexistent/docker.gpg does not exist (and longshore ships no docker.gpg)");
  });

  it("longshore's copy is Debian 12's debian-archive-keyring, byte for byte, where this computer has it", () => {
    const system = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let sys: Buffer | null = null;
    try {
      sys = readFileSync(system);
    } catch {
      return; // not a Debian computer: nothing to compare with
    }
    expect(readFileSync(path.join(shippedKeyringDir(), "debian-archive-keyring.gpg")).equals(sys)).toBe(true);
  });
});

describe("cache layout", () => {
  it("one directory per archive host/path and suite", () => {
    expect(suiteCacheDir("/c", "http://deb.debian.org/debian-security/", "bookworm-security")).toBe("/c/archive/deb.debian.org_debian-security/bookworm-security");
  });
});
