// Does not prove behaviour against non-OpenSSH servers or over a real network (everything is on 127.0.0.1).
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { sensitive } from "../../core/sensitive";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import { startSshd, type Sshd, pinnedTarget } from "../helpers/sshd";

let sshd: Sshd;
let transport: Transport;

beforeAll(async () => {
  sshd = await startSshd();
  transport = await connectSsh(pinnedTarget(sshd, "exec-host"));
});

afterAll(async () => {
  // Stop sshd first, while the connection is open: commands that timed out on this root session
  // (OpenSSH does not signal root sessions) are still in its process tree and get stopped with it.
  await sshd?.stop();
  await transport?.close();
});

describe("exec over a real sshd", () => {
  it("reports exit codes 0, 1 and 42 without rejecting", async () => {
    const ok = await transport.exec({ argv: ["true"] });
    const one = await transport.exec({ argv: ["false"] });
    const custom = await transport.exec({ argv: ["sh", "-c", "echo out; echo err >&2; exit 42"] });
    expect([ok.exitCode, one.exitCode, custom.exitCode]).toEqual([0, 1, 42]);
    expect(custom.stdout).toBe("out\n");
    expect(custom.stderr).toBe("err\n");
    expect(custom.signal).toBeNull();
  });

  it("reports a command killed by a signal as exitCode null with the signal name", async () => {
    const term = await transport.exec({ argv: ["sh", "-c", "kill -TERM $$"] });
    expect(term).toMatchObject({ exitCode: null, signal: "TERM" });
    const kill = await transport.exec({ argv: ["sh", "-c", "kill -KILL $$"] });
    expect(kill).toMatchObject({ exitCode: null, signal: "KILL" });
  });

  it("returns 5 MiB of stdout byte for byte", async () => {
    const size = 5 * 1024 * 1024;
    const r = await transport.exec({ argv: ["sh", "-c", `head -c ${size} /dev/zero | tr '\\0' 'x'`] });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(size);
    expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(
      createHash("sha256").update("x".repeat(size)).digest("hex"),
    );
  });

  it("keeps only the tail of the output beyond maxOutputBytes", async () => {
    const r = await transport.exec({ argv: ["sh", "-c", "seq 1 100000"] }, { maxOutputBytes: 13 });
    expect(r.stdout).toBe("99999\n100000\n");
  });

  it("feeds stdin from a string, bytes, a secret and a stream", async () => {
    const s = await transport.exec({ argv: ["cat"], stdin: "hello\nworld" });
    expect(s.stdout).toBe("hello\nworld");
    const b = await transport.exec({ argv: ["wc", "-c"], stdin: new Uint8Array([1, 2, 3, 0, 255]) });
    expect(b.stdout.trim()).toBe("5");
    const secret = await transport.exec({ argv: ["sha256sum"], stdin: sensitive("s3cret-value") });
    expect(secret.stdout.split(" ")[0]).toBe(createHash("sha256").update("s3cret-value").digest("hex"));
    const total = 3 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const stream = await transport.exec({
      argv: ["sh", "-c", "wc -c; echo done >&2"],
      stdin: () => Readable.from((function* () { for (let i = 0; i < total / chunk.length; i++) yield chunk; })()),
    });
    expect(stream.stdout.trim()).toBe(String(total));
    expect(stream.stderr).toBe("done\n");
  });

  it("ignores stdin a command never reads, and rejects when the stdin stream fails", async () => {
    const endless = () =>
      new Readable({
        read() {
          this.push(Buffer.alloc(64 * 1024));
        },
      });
    const r = await transport.exec({ argv: ["sh", "-c", "exit 3"], stdin: endless });
    expect(r.exitCode).toBe(3);
    const failing = () =>
      new Readable({
        read() {
          this.destroy(new Error("disk on fire"));
        },
      });
    const err = (await transport.exec({ argv: ["sleep", "10"], stdin: failing }).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toBe("exec-host: stdin for `sleep 10` failed: disk on fire");
  });

  it("round-trips nasty argv through the one quoting function", async () => {
    const nasty = [
      "it's",
      'double "quotes"',
      "  spaces  ",
      "$HOME $(id) `id` ${x}",
      "line1\nline2\n",
      "tab\there",
      "ünïcødé ✓ 日本",
      "back\\slash",
      "*?[a-z]",
      "-n",
      "",
      ";|&<>",
    ];
    for (const arg of nasty) {
      const r = await transport.exec({ argv: ["printf", "%s", arg] });
      expect(r.stdout).toBe(arg);
    }
  });

  it("kills a command that exceeds its timeout and names it", async () => {
    const err = await transport.exec({ argv: ["sleep", "30"], timeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).kind).toBe("command-timeout");
    expect((err as TransportError).message).toBe("exec-host: `sleep 30` did not finish within 500 ms and was killed");
    // That the remote process really dies is proven for a non-root login in ssh2-transport-sudo.test.ts:
    // OpenSSH ignores signal requests on root sessions (it skips post-auth privilege separation).
    // The connection stays usable.
    expect((await transport.exec({ argv: ["echo", "still here"] })).stdout).toBe("still here\n");
  });

  it("redacts secrets in the timeout message", async () => {
    const err = (await transport
      .exec({ argv: ["sh", "-c", "sleep 30", sensitive("top-secret-token")], timeoutMs: 300 })
      .catch((e: unknown) => e)) as TransportError;
    expect(err.kind).toBe("command-timeout");
    expect(err.message).toContain("[redacted]");
    expect(err.message).not.toContain("top-secret-token");
  });

  it("aborts a running command on an AbortSignal", async () => {
    const ac = new AbortController();
    const p = transport.exec({ argv: ["sleep", "30"] }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const err = (await p.catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe("aborted");
  });
});
