// Does not prove a jump host on another machine: both sshds run on 127.0.0.1, so the tunnel is shown by process ownership.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostKeyError } from "../../core/errors";
import type { SshTarget } from "../../model/ssh-target";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { descendantsOf, startSshd, type Sshd, pinnedTarget } from "../helpers/sshd";

let jump: Sshd;
let inner: Sshd;

beforeAll(async () => {
  inner = await startSshd();
  // The jump host may open tunnels to the inner sshd only; DEBUG1 logs each direct-tcpip request.
  jump = await startSshd({ extraConfig: ["AllowTcpForwarding yes", `PermitOpen 127.0.0.1:${inner.port}`], logLevel: "DEBUG1" });
});

afterAll(async () => {
  await Promise.all([jump?.stop(), inner?.stop()]);
});

function through(jumpFingerprint: string): SshTarget {
  return pinnedTarget(inner, "inner", { jump: pinnedTarget({ ...jump, hostKeyFingerprint: jumpFingerprint }, "bastion") });
}

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("jump host", () => {
  it("tunnels through the jump sshd (the inner connection's peer is a jump sshd process) and closes both", async () => {
    const t = await connectSsh(through(jump.hostKeyFingerprint));
    const r = await t.exec({ argv: ["sh", "-c", 'echo "$SSH_CLIENT"'] });
    const [peerAddress, peerPort, localPort] = r.stdout.trim().split(" ");
    expect([peerAddress, localPort]).toEqual(["127.0.0.1", String(inner.port)]);
    // Who owns the TCP socket the inner sshd sees as its peer? It must be a child of the jump sshd.
    const ss = execFileSync("ss", ["-Htnp", "state", "established", `( sport = :${peerPort} )`], { encoding: "utf8" });
    const owner = Number(/pid=(\d+)/.exec(ss)?.[1]);
    expect(descendantsOf(jump.pid!)).toContain(owner);
    expect(jump.log()).toContain(`server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.1 port ${inner.port}`);

    await t.close();
    // Both connections end: neither sshd keeps a per-connection child.
    expect(await until(() => descendantsOf(jump.pid!).length === 0 && descendantsOf(inner.pid!).length === 0)).toBe(true);
  });

  it("verifies the jump host's own key", async () => {
    const err = await connectSsh(through(inner.hostKeyFingerprint)).then(
      () => new Error("connected through a jump host with the wrong key"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).message).toBe(
      `bastion: host key verification failed: expected ${inner.hostKeyFingerprint}, presented ${jump.hostKeyFingerprint}`,
    );
  });
});
