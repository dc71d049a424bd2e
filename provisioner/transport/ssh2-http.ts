/**
 * One HTTP GET made from a bastion: an SSH connection to it (its host key pinned), one
 * `direct-tcpip` channel from there to the URL's host and port, and node's HTTP client speaking
 * over that channel. For health checks of addresses only the bastion can reach (the web program's
 * gates with `aws.bastion`): the bastion resolves the host name, so a load balancer's DNS name is
 * looked up inside the VPC. Never rejects: every failure is a result without a status, so a
 * gate can keep trying until its own deadline.
 */
import type { Duplex } from "node:stream";
import type { SshTarget } from "../../model/ssh-target";
import { dialSsh, resolveSshOptions, type SshConnection } from "./ssh2-connect";
import { toTransportError } from "./ssh2-errors";

/** What one GET through the bastion saw. `status` null: no HTTP answer (then `error` says why). */
export interface TunnelHttpResult {
  status: number | null;
  /** The start of the body (at most 512 characters). */
  body: string;
  error?: string;
}

/** Opens the `direct-tcpip` channel from the bastion to `host:port`. */
function forward(conn: SshConnection, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    conn.client.forwardOut("127.0.0.1", 0, host, port, (err, stream) => {
      if (err) reject(toTransportError(conn.target.name, err, `tunnel through ${conn.target.name} to ${host}:${port}`));
      else resolve(stream);
    });
  });
}

/**
 * GETs `url` from `bastion`, the whole attempt (SSH handshake, tunnel, full response) limited to
 * `timeoutMs`, reading at most 512 characters of the body; the connection is closed afterwards.
 * A bastion that presents another host key than its pin gives no answer, naming both keys.
 */
export async function httpGetThroughBastion(bastion: SshTarget, url: string, timeoutMs: number): Promise<TunnelHttpResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { status: null, body: "", error: `not a URL: ${url}` };
  }
  const https = parsed.protocol === "https:";
  const port = parsed.port ? Number(parsed.port) : https ? 443 : 80;
  // One attempt, no dial retries: the gate's rounds are the retries.
  const options = resolveSshOptions({ handshakeTimeoutMs: timeoutMs, channelOpenTimeoutMs: timeoutMs, connectDeadlineMs: 0 });
  let conn: SshConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<TunnelHttpResult>((resolve) => {
    timer = setTimeout(() => resolve({ status: null, body: "", error: `no complete answer through ${bastion.name} within ${timeoutMs} ms` }), timeoutMs);
  });
  const attempt = (async (): Promise<TunnelHttpResult> => {
    conn = await dialSsh(bastion, options);
    const channel = await forward(conn, parsed.hostname, port);
    const http = require(https ? "node:https" : "node:http") as typeof import("node:http");
    const tls = require("node:tls") as typeof import("node:tls");
    return await new Promise<TunnelHttpResult>((resolve) => {
      const req = http.get(
        parsed,
        {
          headers: { "user-agent": "longshore-health-gate", connection: "close" },
          // No agent: the request goes over this one channel (TLS on top of it for https).
          createConnection: () => (https ? tls.connect({ socket: channel, servername: parsed.hostname }) : channel) as unknown as import("node:net").Socket,
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            if (body.length < 512) body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? null, body: body.slice(0, 512) }));
          res.on("error", (e) => resolve({ status: null, body: "", error: e.message }));
        },
      );
      req.on("error", (e) => resolve({ status: null, body: "", error: e.message }));
    });
  })().catch((e: unknown): TunnelHttpResult => ({ status: null, body: "", error: e instanceof Error ? e.message : String(e) }));
  try {
    return await Promise.race([attempt, timedOut]);
  } finally {
    clearTimeout(timer);
    conn?.end();
    // A timed-out attempt may still connect afterwards: close it when it does.
    void attempt.then(() => (conn as SshConnection | undefined)?.end());
  }
}
