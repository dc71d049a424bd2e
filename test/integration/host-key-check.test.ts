// Integration: the host-key check `status` runs, against real OpenSSH sshd processes on 127.0.0.1
// (one SSH handshake each, through the ssh2 transport). Does not prove the local driver's machines
// (their pins come from `local up`; the e2e tests use them) or anything about the aws driver.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPinnedHostKeys } from "../../drivers/local/host-keys";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { pinnedTarget, startSshd, type Sshd } from "../helpers/sshd";

let a: Sshd;
let b: Sshd;
const dir = mkdtempSync(join(tmpdir(), "longshore-hostkey-check-"));

beforeAll(async () => {
  [a, b] = await Promise.all([startSshd(), startSshd()]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("host-key check against real sshd", () => {
  it("match for the pinned key, mismatch for a host whose key is not its pin, unreachable for a closed port", async () => {
    const otherKey = join(dir, "not_authorized");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", otherKey]);
    const port = await closedPort();
    const targets = [
      pinnedTarget(a, "web-1"),
      // web-2 answers at a's address but was pinned to b's key: what a rebuilt or replaced host looks like.
      pinnedTarget(a, "web-2", { hostKey: { fingerprints: [b.hostKeyFingerprint] } }),
      pinnedTarget(a, "web-3", { port }),
      // The key is verified before the login: a refused login still shows the key matched.
      pinnedTarget(a, "web-4", { auth: { privateKeyFile: otherKey } }),
    ];
    const t0 = Date.now();
    const r = await checkPinnedHostKeys(targets, targets.map((t) => ({ name: t.name, address: t.address })), connectSsh);
    const ms = Date.now() - t0;
    expect(r.map((x) => [x.host, x.state])).toEqual([
      ["web-1", "match"],
      ["web-2", "mismatch"],
      ["web-3", "unreachable"],
      ["web-4", "match"],
    ]);
    expect(r[0]!.detail).toBe(`presented ${a.hostKeyFingerprint}`);
    expect(r[1]!.detail).toBe(`presented ${a.hostKeyFingerprint}, pinned ${b.hostKeyFingerprint}`);
    expect(r[2]!.detail).toMatch(new RegExp(`^web-3: connecting to 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
    expect(r[3]!.detail).toBe(`presented ${a.hostKeyFingerprint} (but login failed: web-4: authentication as root failed; tried publickey (key file ${otherKey}))`);
    // One attempt each, in parallel: a closed port is not retried for a minute.
    expect(ms).toBeLessThan(5_000);
  });
});
