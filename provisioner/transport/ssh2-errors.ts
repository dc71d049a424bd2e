/**
 * Maps the errors ssh2 and Node's sockets raise to {@link TransportErrorKind}s. The kind decides
 * whether a dial is retried, so this table is the retry policy: refused, timeouts and dropped
 * connections may heal (a host still booting); dns, auth and host-key failures never do.
 */
import { TransportError, type TransportErrorKind } from "../../core/errors";

/** What ssh2 attaches to the errors it emits. */
interface Ssh2ErrorShape {
  code?: unknown;
  level?: unknown;
  message?: unknown;
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);
const DISCONNECT_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

/** Classifies one error seen while dialing or talking to a host. */
export function classifySsh2Error(error: unknown): TransportErrorKind {
  if (error instanceof TransportError) return error.kind;
  const e = (typeof error === "object" && error !== null ? error : {}) as Ssh2ErrorShape;
  const code = typeof e.code === "string" ? e.code : "";
  const level = typeof e.level === "string" ? e.level : "";
  const message = typeof e.message === "string" ? e.message : String(error);
  if (DNS_CODES.has(code) || level === "client-dns") return "dns";
  if (code === "ECONNREFUSED" || /Channel open failure: Connection refused/i.test(message)) return "refused";
  if (level === "client-authentication" || /All configured authentication methods failed/.test(message)) return "auth";
  if (/Host denied \(verification failed\)/.test(message)) return "host-key";
  // A bastion that cannot reach the host yet (a private host still booting) reports its connect error as the tunnel's.
  if (TIMEOUT_CODES.has(code) || /Timed out while waiting for handshake|Channel open failure: (Connection timed out|No route to host|Network is unreachable)/i.test(message)) return "timeout";
  if (
    DISCONNECT_CODES.has(code) ||
    /Connection lost before handshake|No response from server|Keepalive timeout|Not connected|socket hang up/i.test(message)
  )
    return "disconnected";
  return "protocol";
}

/** Wraps any dial/transport error as a {@link TransportError} for `host` (kept as is when it is one). */
export function toTransportError(host: string, error: unknown, what: string): TransportError {
  if (error instanceof TransportError) return error;
  const kind = classifySsh2Error(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new TransportError(kind, host, `${what}: ${detail}`, { cause: error, suggestion: SUGGESTIONS[kind] });
}

const SUGGESTIONS: Partial<Record<TransportErrorKind, string>> = {
  dns: "Check the host's address in the inventory.",
  refused: "Check that sshd runs on the host and listens on this port.",
  timeout: "Check that the host is up and reachable (security groups, firewall, routing).",
  auth: "Check the SSH user, the private key (and its passphrase) and the host's authorized_keys.",
  disconnected: "The connection dropped; re-run (idempotent steps resume cheaply).",
};
