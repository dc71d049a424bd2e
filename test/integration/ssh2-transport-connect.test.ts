// Does not prove DNS failures (no resolver may be contacted here; classification is unit-tested) or real network loss.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { sensitive } from "../../core/sensitive";
import type { SshTarget } from "../../model/ssh-target";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { startSshd, type Sshd, pinnedTarget } from "../helpers/sshd";

let sshd: Sshd;
const dir = mkdtempSync(join(tmpdir(), "longshore-connect-test-"));
const started: Sshd[] = [];

beforeAll(async () => {
  sshd = await startSshd();
  started.push(sshd);
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function target(s: Sshd, over: Partial<SshTarget> = {}): SshTarget {
  return pinnedTarget(s, "conn-host", over);
}

async function failure(p: Promise<unknown>): Promise<TransportError> {
  const e = await p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TransportError);
  return e as TransportError;
}

describe("authentication", () => {
  it("classifies a rejected key as auth, names the methods tried, and never retries", async () => {
    const other = join(dir, "other_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", other]);
    let retries = 0;
    const err = await failure(
      connectSsh(target(sshd, { auth: { privateKeyFile: other } }), { onRetry: () => retries++, connectDeadlineMs: 10_000 }),
    );
    expect(err.kind).toBe("auth");
    expect(err.message).toBe(`conn-host: authentication as root failed; tried publickey (key file ${other})`);
    expect(retries).toBe(0);
  });

  it("uses a passphrase-protected key given in memory and fails clearly without the passphrase", async () => {
    const enc = join(dir, "enc_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "correct horse", "-C", "", "-f", enc]);
    execFileSync("sh", ["-c", `cat ${enc}.pub >> ${sshd.dir}/authorized_keys`]);
    const key = sensitive(execFileSync("cat", [enc], { encoding: "utf8" }));
    const t = await connectSsh(target(sshd, { auth: { privateKey: key, passphrase: sensitive("correct horse") } }));
    expect((await t.exec({ argv: ["echo", "ok"] })).stdout).toBe("ok\n");
    await t.close();
    const err = await failure(connectSsh(target(sshd, { auth: { privateKey: key } })));
    expect(err.kind).toBe("auth");
    expect(err.message).toContain("publickey (in-memory key) cannot be used");
    expect(err.message).not.toContain("OPENSSH PRIVATE KEY");
  });

  it("authenticates through a real ssh-agent, after a rejected in-memory key", async () => {
    const socket = join(dir, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      while (!existsSync(socket)) await new Promise((r) => setTimeout(r, 20));
      execFileSync("ssh-add", ["-q", sshd.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: "ignore" });
      const rejected = join(dir, "rejected_key");
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", rejected]);
      const auth = { privateKey: sensitive(readFileSync(rejected, "utf8")), agent: socket };
      const t = await connectSsh(target(sshd, { auth }));
      expect((await t.exec({ argv: ["id", "-u"] })).stdout).toBe("0\n");
      await t.close();
      // The in-memory key was offered first and refused; the agent's key then got in.
      const fp = (k: string) => execFileSync("ssh-keygen", ["-lf", `${k}.pub`], { encoding: "utf8" }).split(" ")[1];
      const log = sshd.log();
      const refused = log.indexOf(`Failed publickey for root from 127.0.0.1`);
      expect(log.slice(refused)).toContain(`ED25519 ${fp(rejected)}`);
      expect(log.lastIndexOf(`Accepted publickey for root from 127.0.0.1`)).toBeGreaterThan(log.lastIndexOf(fp(rejected)!));
    } finally {
      agent.kill("SIGTERM");
    }
  });
});

describe("dialing", () => {
  it("retries a refused port and gives up at the deadline with kind refused", async () => {
    const closed = await startSshd();
    started.push(closed);
    await closed.stop();
    let retries = 0;
    // The stopped sshd's dir (and its client key) is gone: authenticate with the live one's key.
    const t = target(closed, { auth: { privateKeyFile: sshd.clientKeyPath } });
    const err = await failure(connectSsh(t, { onRetry: () => retries++, connectDeadlineMs: 1_500 }));
    expect(err.kind).toBe("refused");
    expect(retries).toBeGreaterThan(0);
  });

  it("reaches an sshd that starts listening 2 s late", async () => {
    const late = await startSshd({ delayMs: 2_000 });
    started.push(late);
    const retries: string[] = [];
    const t = await connectSsh(target(late), { onRetry: (i) => retries.push((i.error as TransportError).kind) });
    expect((await t.exec({ argv: ["echo", "up"] })).stdout).toBe("up\n");
    await t.close();
    expect(retries.length).toBeGreaterThan(0);
    expect(new Set(retries)).toEqual(new Set(["refused"]));
  });

  it("times out a handshake with a peer that accepts TCP but never speaks SSH, and retries it", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as AddressInfo).port;
    let retries = 0;
    try {
      const err = await failure(
        connectSsh(target(sshd, { port }), { handshakeTimeoutMs: 300, connectDeadlineMs: 1_000, onRetry: () => retries++ }),
      );
      expect(err.kind).toBe("timeout");
      expect(err.message).toContain("Timed out while waiting for handshake");
      expect(retries).toBeGreaterThan(0);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  it("aborts a dial that is still retrying", async () => {
    const never = await startSshd({ delayMs: 60_000 });
    started.push(never);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await failure(connectSsh(target(never), { signal: ac.signal }));
    expect(err.kind).toBe("aborted");
  });
});

describe("a connection that dies", () => {
  it("rejects a running command with disconnected when sshd's connection process is killed", async () => {
    const t = await connectSsh(target(sshd));
    let out = "";
    const running = t.exec({ argv: ["sh", "-c", "echo $PPID $$; exec sleep 30"] }, { onStdout: (c) => (out += c.toString()) });
    while (!out.includes("\n")) await new Promise((r) => setTimeout(r, 20));
    const [sshdChild, sleeper] = out.trim().split(" ").map(Number);
    process.kill(sshdChild!, "SIGKILL");
    const err = await failure(running);
    process.kill(sleeper!, "SIGKILL");
    expect(err.kind).toBe("disconnected");
    expect(err.message).toContain("connection lost while running `sh -c 'echo $PPID $$; exec sleep 30'`");
    expect(err.retryable).toBe(true);
    expect((await failure(t.exec({ argv: ["true"] }))).kind).toBe("disconnected");
    await t.close();
  });

  it("a lost connection's error shows a long script by its first line and line count, never the whole script", async () => {
    const t = await connectSsh(target(sshd));
    let out = "";
    // 20 lines, like engine.install's script; the first says what it is.
    const script = ["# longshore test: a long script that loses its connection", "echo $PPID $$", "exec sleep 30", ...Array.from({ length: 17 }, (_, i) => `: line ${i + 4}`)].join("\n");
    const running = t.exec({ argv: ["sh", "-c", script], sudo: true }, { onStdout: (c) => (out += c.toString()) });
    while (!out.includes("\n")) await new Promise((r) => setTimeout(r, 20));
    const [sshdChild, sleeper] = out.trim().split(" ").map(Number);
    process.kill(sshdChild!, "SIGKILL");
    const err = await failure(running);
    process.kill(sleeper!, "SIGKILL");
    expect(err.kind).toBe("disconnected");
    const head = "conn-host: connection lost while running `sh -c '# longshore test: a long script that loses its connection … (20 lines)'`: ";
    expect(err.message.slice(0, head.length)).toBe(head);
    expect(err.message.split("\n")).toHaveLength(1);
    expect(err.message).not.toContain("exec sleep 30");
    expect(err.context["command"]).toBe("sh -c '# longshore test: a long script that loses its connection … (20 lines)'");
    await t.close();
  });

  it("notices a frozen peer through keepalive", async () => {
    const t = await connectSsh(target(sshd), { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    let out = "";
    const running = t.exec({ argv: ["sh", "-c", "echo $PPID $$; exec sleep 30"] }, { onStdout: (c) => (out += c.toString()) });
    while (!out.includes("\n")) await new Promise((r) => setTimeout(r, 20));
    const [sshdChild, sleeper] = out.trim().split(" ").map(Number);
    process.kill(sshdChild!, "SIGSTOP");
    try {
      const err = await failure(running);
      expect(err.kind).toBe("disconnected");
      expect(err.message).toContain("Keepalive timeout");
    } finally {
      process.kill(sshdChild!, "SIGKILL");
      process.kill(sleeper!, "SIGKILL");
      await t.close();
    }
  });

  it("close() is idempotent and later calls fail as disconnected", async () => {
    const t = await connectSsh(target(sshd));
    await t.close();
    await t.close();
    const err = await failure(t.exec({ argv: ["true"] }));
    expect(err.kind).toBe("disconnected");
  });
});
