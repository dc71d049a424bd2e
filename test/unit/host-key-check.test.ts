// Unit: how a host-key check classifies what the transport's connect did (a fake connect that
// throws the transport's own errors). Does not prove what a real sshd presents: the integration
// test test/integration/host-key-check.test.ts does that.
import { describe, expect, it } from "vitest";
import { HostKeyError, TransportError } from "../../core/errors";
import type { SshTarget } from "../../model/ssh-target";
import { checkPinnedHostKeys } from "../../drivers/local/host-keys";
import { checkHostKey, HOST_KEY_CHECK_OPTIONS } from "../../provisioner/transport/host-key-check";
import { FakeTransport } from "../helpers/fake-transport";

const PIN = `SHA256:${"P".repeat(43)}`;
const OTHER = `SHA256:${"O".repeat(43)}`;
const target = (name: string): SshTarget => ({ name, address: "10.213.47.10", port: 22, user: "root", auth: { privateKeyFile: "/k" }, hostKey: { fingerprints: [PIN] } });

describe("checkHostKey", () => {
  it("match when the handshake succeeds (and the connection is closed again), with one attempt and a 5 s handshake", async () => {
    const seen: unknown[] = [];
    const t = new FakeTransport("web-1");
    expect(await checkHostKey(target("web-1"), async (_t, o) => (seen.push(o), t))).toEqual({ state: "match", detail: `presented ${PIN}` });
    expect([seen, t.closeCount]).toEqual([[{ connectDeadlineMs: 0, handshakeTimeoutMs: 5_000 }], 1]);
    expect(HOST_KEY_CHECK_OPTIONS).toEqual({ connectDeadlineMs: 0, handshakeTimeoutMs: 5_000 });
  });

  it("mismatch on a HostKeyError, naming both fingerprints", async () => {
    const r = await checkHostKey(target("web-1"), async () => {
      throw new HostKeyError("web-1", [PIN], OTHER);
    });
    expect(r).toEqual({ state: "mismatch", detail: `presented ${OTHER}, pinned ${PIN}` });
  });

  it("match when authentication failed after the key was verified; unreachable when auth failed before dialing", async () => {
    const afterKex = new TransportError("auth", "web-1", "authentication as root failed; tried publickey (key file /k)", {
      cause: Object.assign(new Error("All configured authentication methods failed"), { level: "client-authentication" }),
    });
    expect(
      await checkHostKey(target("web-1"), async () => {
        throw afterKex;
      }),
    ).toEqual({ state: "match", detail: `presented ${PIN} (but login failed: web-1: authentication as root failed; tried publickey (key file /k))` });
    const beforeDial = new TransportError("auth", "web-1", "cannot read key file /k: ENOENT");
    expect(
      await checkHostKey(target("web-1"), async () => {
        throw beforeDial;
      }),
    ).toEqual({ state: "unreachable", detail: "web-1: cannot read key file /k: ENOENT" });
  });

  it("unreachable for any other failure", async () => {
    const r = await checkHostKey(target("web-1"), async () => {
      throw new TransportError("refused", "web-1", "connecting to 10.213.47.10:22: connect ECONNREFUSED 10.213.47.10:22");
    });
    expect(r).toEqual({ state: "unreachable", detail: "web-1: connecting to 10.213.47.10:22: connect ECONNREFUSED 10.213.47.10:22" });
  });
});

describe("checkPinnedHostKeys (local driver)", () => {
  it("checks each host against its own pin, and says unknown for a host with no pin recorded", async () => {
    const r = await checkPinnedHostKeys([target("g-1"), target("g-2")], [{ name: "g-1", address: "a" }, { name: "g-2", address: "b" }, { name: "g-3", address: "c" }], async (t) => {
      if (t.name === "g-2") throw new HostKeyError("g-2", [PIN], OTHER);
      return new FakeTransport(t.name);
    });
    expect(r).toEqual([
      { host: "g-1", state: "match", detail: `presented ${PIN}` },
      { host: "g-2", state: "mismatch", detail: `presented ${OTHER}, pinned ${PIN}` },
      { host: "g-3", state: "unknown", detail: "no pinned host key recorded for this machine" },
    ]);
  });
});
