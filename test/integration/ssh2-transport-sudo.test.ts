// Does not prove sudo setups other than Debian's sudo with a NOPASSWD sudoers.d rule (no LDAP, no requiretty).
import { existsSync, readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { sensitive } from "../../core/sensitive";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import { createTestUser, startSshd, type Sshd, type TestUser, pinnedTarget } from "../helpers/sshd";

let sshd: Sshd;
let sudoer: TestUser;
let plain: TestUser;
let asSudoer: Transport;
let asPlain: Transport;
const scratch = mkdtempSync(join(tmpdir(), "longshore-sudo-test-"));

function connectAs(user: string): Promise<Transport> {
  // The key in memory (Sensitive) rather than from a file: the other auth path.
  return connectSsh(pinnedTarget(sshd, `sudo-${user}`, { user, auth: { privateKey: sensitive(readFileSync(sshd.clientKeyPath, "utf8")) } }));
}

beforeAll(async () => {
  sudoer = createTestUser({ sudo: "nopasswd" });
  plain = createTestUser({ sudo: "none" });
  sshd = await startSshd({ user: sudoer.name });
  asSudoer = await connectAs(sudoer.name);
  asPlain = await connectAs(plain.name);
});

afterAll(async () => {
  await asSudoer?.close();
  await asPlain?.close();
  await sshd?.stop();
  sudoer?.remove();
  plain?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

describe("a non-root login", () => {
  it("needs sudo and runs sudo commands as uid 0", async () => {
    expect(asSudoer.needsSudo).toBe(true);
    const me = await asSudoer.exec({ argv: ["id", "-un"] });
    expect(me.stdout).toBe(`${sudoer.name}\n`);
    const root = await asSudoer.exec({ argv: ["id", "-u"], sudo: true });
    expect(root).toMatchObject({ exitCode: 0, stdout: "0\n" });
  });

  it("rejects with kind sudo when the user has no passwordless sudo", async () => {
    const err = (await asPlain.exec({ argv: ["id", "-u"], sudo: true }).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe("sudo");
    expect(err.message).toContain(`user ${plain.name} needs passwordless sudo (NOPASSWD) for \`sudo -n -- id -u\``);
    expect(err.retryable).toBe(false);
  });

  it("kills the remote process when a command times out", async () => {
    let pid = "";
    const err = (await asSudoer
      .exec({ argv: ["sh", "-c", "echo $$; exec sleep 30"], timeoutMs: 500 }, { onStdout: (c) => (pid += c.toString()) })
      .catch((e: unknown) => e)) as TransportError;
    expect(err.kind).toBe("command-timeout");
    expect(Number(pid)).toBeGreaterThan(1);
    expect(await gone(Number(pid))).toBe(true);
  });

  it("uploads a root-owned file through a private staging dir and sudo install", async () => {
    const target = join(scratch, "root-only.conf");
    const first = await asSudoer.upload({ content: "secret=1\n" }, target, { sudo: true, mode: 0o600, owner: "root", group: "root" });
    expect(first).toMatchObject({ uploaded: true, bytes: 9 });
    expect(readFileSync(target, "utf8")).toBe("secret=1\n");
    const st = await asSudoer.exec({ argv: ["stat", "-c", "%a %U %G", target], sudo: true });
    expect(st.stdout).toBe("600 root root\n");
    expect(await asSudoer.sha256(target, { sudo: true })).toBe(first.sha256);
    const again = await asSudoer.upload({ content: "secret=1\n" }, target, { sudo: true, mode: 0o600, owner: "root", group: "root" });
    expect(again.uploaded).toBe(false);
    // No staging dir of this user and no install temp file is left behind.
    const besideTarget = await asSudoer.exec({ argv: ["ls", "-A", scratch], sudo: true });
    expect(besideTarget.stdout).toBe("root-only.conf\n");
    const staging = await asSudoer.exec({ argv: ["find", "/tmp", "-maxdepth", "1", "-user", sudoer.name] });
    expect(staging).toMatchObject({ exitCode: 0, stdout: "" });
  });

  it("cannot upload to a root-owned directory without sudo", async () => {
    const err = (await asPlain.upload({ content: "x" }, join(scratch, "denied")).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain("Permission denied");
    expect(existsSync(join(scratch, "denied"))).toBe(false);
  });
});

/** True once /proc/<pid> disappears (polled up to 5 s: signal delivery is asynchronous). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
