// Does not prove host certificates (@cert-authority lines are skipped, never trusted) or non-ed25519 host keys.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostKeyError } from "../../core/errors";
import { hashKnownHostsName } from "../../provisioner/transport/known-hosts";
import type { HostKeyPolicy, SshTarget } from "../../model/ssh-target";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { pinnedTarget, startSshd, type Sshd } from "../helpers/sshd";

let a: Sshd;
let b: Sshd;
const dir = mkdtempSync(join(tmpdir(), "longshore-hostkey-test-"));

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function target(sshd: Sshd, hostKey: HostKeyPolicy): SshTarget {
  return pinnedTarget(sshd, "hk-host", { hostKey });
}

/** Connects, runs `true`, closes; returns the number of dial retries. */
async function connectOnce(t: SshTarget): Promise<number> {
  let retries = 0;
  const transport = await connectSsh(t, { onRetry: () => retries++, connectDeadlineMs: 5_000 });
  try {
    expect((await transport.exec({ argv: ["true"] })).exitCode).toBe(0);
  } finally {
    await transport.close();
  }
  return retries;
}

async function refusal(t: SshTarget): Promise<{ error: HostKeyError; retries: number }> {
  let retries = 0;
  const error = await connectSsh(t, { onRetry: () => retries++, connectDeadlineMs: 5_000 }).then(
    async (tr) => {
      await tr.close();
      throw new Error("connected although the host key should have been refused");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HostKeyError);
  return { error: error as HostKeyError, retries };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("host key verification against a real sshd", () => {
  it("accepts the pinned fingerprint", async () => {
    expect(await connectOnce(target(a, { fingerprints: ["SHA256:" + "A".repeat(43), a.hostKeyFingerprint] }))).toBe(0);
  });

  it("refuses a mismatching pin, naming both fingerprints, without retrying", async () => {
    const { error, retries } = await refusal(target(a, { fingerprints: [b.hostKeyFingerprint] }));
    expect(error.message).toBe(`hk-host: host key verification failed: expected ${b.hostKeyFingerprint}, presented ${a.hostKeyFingerprint}`);
    expect(error.expected).toEqual([b.hostKeyFingerprint]);
    expect(retries).toBe(0);
  });

  it("refuses an unknown host when the policy knows nothing", async () => {
    const { error } = await refusal(target(a, {}));
    expect(error.message).toBe(`hk-host: host key verification failed: expected (no key known for this host), presented ${a.hostKeyFingerprint}`);
  });

  it("accepts known_hosts entries: [host]:port, comma lists and hashed names", async () => {
    expect(await connectOnce(target(a, { knownHostsFile: file("plain", `# comment\n\n${a.knownHostsLine}\n`) }))).toBe(0);
    const list = `example.org,[127.0.0.1]:${a.port},10.0.0.1 ${a.hostPublicKey}\n`;
    expect(await connectOnce(target(a, { knownHostsFile: file("list", list) }))).toBe(0);
    const hashed = `${hashKnownHostsName(`[127.0.0.1]:${a.port}`, randomBytes(20))} ${a.hostPublicKey}\n`;
    expect(await connectOnce(target(a, { knownHostsFile: file("hashed", hashed) }))).toBe(0);
  });

  it("refuses when known_hosts has another key for the host, or the entry lacks the port", async () => {
    const wrong = file("wrong", `[127.0.0.1]:${a.port} ${b.hostPublicKey}\n`);
    expect((await refusal(target(a, { knownHostsFile: wrong }))).error.expected).toEqual([b.hostKeyFingerprint]);
    const noPort = file("noport", `127.0.0.1 ${a.hostPublicKey}\n`);
    expect((await refusal(target(a, { knownHostsFile: noPort }))).error.expected).toEqual([]);
  });

  it("refuses a key marked @revoked even when it is also pinned", async () => {
    const revoked = file("revoked", `@revoked * ${a.hostPublicKey}\n${a.knownHostsLine}\n`);
    const { error } = await refusal(target(a, { knownHostsFile: revoked, fingerprints: [a.hostKeyFingerprint] }));
    expect(error.context).toMatchObject({ verdict: "revoked" });
    expect(error.suggestion).toContain("@revoked");
  });

  it("trust on first use records the key (0600) and later verifies against it", async () => {
    const recordTo = join(dir, "tofu_known_hosts");
    expect(existsSync(recordTo)).toBe(false);
    expect(await connectOnce(target(a, { trustOnFirstUse: { recordTo } }))).toBe(0);
    expect(readFileSync(recordTo, "utf8")).toBe(`${a.knownHostsLine}\n`);
    expect(statSync(recordTo).mode & 0o777).toBe(0o600);
    // Second connect: the host is known now and the same key is accepted without a new line.
    expect(await connectOnce(target(a, { trustOnFirstUse: { recordTo } }))).toBe(0);
    expect(readFileSync(recordTo, "utf8")).toBe(`${a.knownHostsLine}\n`);
    // A known host presenting another key is refused even under TOFU, and nothing is recorded.
    const changed = file("tofu-changed", `[127.0.0.1]:${b.port} ${a.hostPublicKey}\n`);
    const { error } = await refusal(target(b, { trustOnFirstUse: { recordTo: changed } }));
    expect(error.message).toContain(`expected ${a.hostKeyFingerprint}, presented ${b.hostKeyFingerprint}`);
    expect(readFileSync(changed, "utf8")).toBe(`[127.0.0.1]:${b.port} ${a.hostPublicKey}\n`);
  });
});
