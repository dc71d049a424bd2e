// Does not prove which errors ssh2 really raises for each failure (the integration tests do, for refused/timeout/auth/disconnect).
import { describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { hostKeyAlgorithms } from "../../provisioner/transport/ssh2-connect";
import { classifySsh2Error, toTransportError } from "../../provisioner/transport/ssh2-errors";
import { TailBuffer } from "../../provisioner/transport/ssh2-exec";

const err = (message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), extra);

describe("classifySsh2Error", () => {
  it.each([
    [err("getaddrinfo ENOTFOUND nope.invalid", { code: "ENOTFOUND" }), "dns"],
    [err("getaddrinfo EAI_AGAIN h", { code: "EAI_AGAIN" }), "dns"],
    [err("Error while looking up IPv4 address", { level: "client-dns" }), "dns"],
    [err("connect ECONNREFUSED 127.0.0.1:1", { code: "ECONNREFUSED" }), "refused"],
    [err("(SSH) Channel open failure: Connection refused", { reason: 2 }), "refused"],
    [err("(SSH) Channel open failure: Connection timed out", { reason: 2 }), "timeout"],
    [err("(SSH) Channel open failure: No route to host", { reason: 2 }), "timeout"],
    [err("(SSH) Channel open failure: administratively prohibited: open failed", { reason: 1 }), "protocol"],
    [err("connect ETIMEDOUT", { code: "ETIMEDOUT" }), "timeout"],
    [err("Timed out while waiting for handshake", { level: "client-timeout" }), "timeout"],
    [err("read ECONNRESET", { code: "ECONNRESET" }), "disconnected"],
    [err("Connection lost before handshake", { level: "protocol" }), "disconnected"],
    [err("Keepalive timeout", { level: "client-timeout" }), "disconnected"],
    [err("All configured authentication methods failed", { level: "client-authentication" }), "auth"],
    [err("Host denied (verification failed)", { level: "handshake" }), "host-key"],
    [err("Handshake failed: no matching key exchange algorithm", { level: "handshake" }), "protocol"],
    ["a string", "protocol"],
  ])("%s -> %s", (e, kind) => {
    expect(classifySsh2Error(e)).toBe(kind);
  });

  it("keeps a TransportError's own kind and wraps others with host and context", () => {
    const t = new TransportError("sudo", "h", "x");
    expect(toTransportError("h", t, "ctx")).toBe(t);
    const wrapped = toTransportError("web-1", err("connect ECONNREFUSED 127.0.0.1:22", { code: "ECONNREFUSED" }), "connecting to 127.0.0.1:22");
    expect(wrapped.message).toBe("web-1: connecting to 127.0.0.1:22: connect ECONNREFUSED 127.0.0.1:22");
    expect([wrapped.kind, wrapped.retryable]).toEqual(["refused", true]);
  });
});

describe("hostKeyAlgorithms", () => {
  it("asks for known key types first and keeps every default", () => {
    expect(hostKeyAlgorithms([])).toEqual([
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
      "ecdsa-sha2-nistp384",
      "ecdsa-sha2-nistp521",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
    expect(hostKeyAlgorithms(["ssh-rsa", "ecdsa-sha2-nistp384", "sk-ssh-ed25519@openssh.com"])).toEqual([
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
      "ecdsa-sha2-nistp384",
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
      "ecdsa-sha2-nistp521",
    ]);
  });
});

describe("TailBuffer", () => {
  it("keeps exactly the last max bytes across chunk boundaries", () => {
    const t = new TailBuffer(5);
    for (const c of ["abc", "defg", "h", "ijklmnop", "q"]) t.push(Buffer.from(c));
    expect(t.toString()).toBe("mnopq");
    const all = new TailBuffer(100);
    all.push(Buffer.from("short"));
    expect(all.toString()).toBe("short");
  });
});
