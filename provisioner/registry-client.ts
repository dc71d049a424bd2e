/**
 * A small Docker Registry HTTP API v2 client for the controller, used to push archives
 * (registry-push.ts) and to pin an image to its manifest digest (registry-image.ts).
 *
 * It answers auth challenges the way docker does: a request goes out without credentials (or with
 * what worked before); on `401` the `WWW-Authenticate` header is parsed ({@link parseAuthChallenges})
 * and its first `Basic` or `Bearer` challenge answered once, then the request is sent again:
 * - `Basic`: the username and password in the Authorization header;
 * - `Bearer`: a token from the challenge's `realm` (`GET realm?service=...&scope=...`, with Basic
 *   credentials when there are some, anonymously otherwise); its `token` or `access_token` goes on
 *   the retried request.
 *
 * The password is a {@link Sensitive}: it only ever goes into an Authorization header, never into
 * a log line, an error message or a URL. Tokens are treated the same way.
 */
import { Readable } from "node:stream";
import { RegistryError, type RegistryErrorKind } from "../core/errors";
import { Sensitive } from "../core/sensitive";

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** The auth scheme, lower-cased (`basic`, `bearer`): schemes are case-insensitive. */
  scheme: string;
  /** Its auth-params, names lower-cased, values unquoted (`realm`, `service`, `scope`...). */
  params: Record<string, string>;
  /** A token68 instead of params (`Negotiate abc==`), when the challenge has one. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_HERE = /^([A-Za-z0-9\-._~+/]+=*)[ \t]*(?:,|$)/;

/**
 * Parses a `WWW-Authenticate` header value into its challenges, as RFC 7235 writes them:
 * `scheme [token68 | name=value, ...]`, several challenges separated by commas, values as tokens
 * or quoted strings (which may hold commas, and `\"` escapes). Scheme and parameter names are
 * lower-cased. Lenient: what cannot be read is skipped up to the next comma. Pure.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const h = header;
  const n = h.length;
  const out: AuthChallenge[] = [];
  let i = 0;
  let current: AuthChallenge | null = null;
  const skipSpace = () => {
    while (i < n && (h[i] === " " || h[i] === "\t")) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TCHAR.test(h[i]!)) i++;
    return h.slice(start, i);
  };
  const quoted = () => {
    // At the opening quote; an unterminated string runs to the end of the header.
    let value = "";
    i++;
    while (i < n && h[i] !== '"') {
      if (h[i] === "\\" && i + 1 < n) i++;
      value += h[i];
      i++;
    }
    i++;
    return value;
  };
  const skipToComma = () => {
    while (i < n && h[i] !== ",") i++;
  };
  while (i < n) {
    skipSpace();
    if (i >= n) break;
    if (h[i] === ",") {
      i++;
      continue;
    }
    const name = token();
    if (name === "") {
      skipToComma();
      continue;
    }
    skipSpace();
    if (h[i] === "=") {
      // `name=value`: a parameter of the current challenge.
      i++;
      skipSpace();
      const value = h[i] === '"' ? quoted() : token();
      if (current && !(name.toLowerCase() in current.params)) current.params[name.toLowerCase()] = value;
      skipSpace();
      if (i < n && h[i] !== ",") skipToComma();
      continue;
    }
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    const t68 = TOKEN68_HERE.exec(h.slice(i));
    if (t68) {
      current.token68 = t68[1]!;
      i += t68[1]!.length;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The client

/** Credentials for a registry: the password (or token) as a {@link Sensitive}. */
export interface RegistryCredentials {
  username: string;
  password: Sensitive;
}

/** Options of {@link registryClient}. */
export interface RegistryClientOptions {
  /** `http://10.213.47.1:5000` or `https://registry.example`: scheme, host, port; no path. */
  baseUrl: string | URL;
  /** Sent only to answer a `Basic` challenge, or on a `Bearer` challenge's token request. @default none (anonymous) */
  credentials?: RegistryCredentials | null;
  /**
   * Where the password comes from, named when the registry refuses it (`registry.password` gives
   * `...refused the credentials of user ci (401): check registry.password`). @default none
   */
  credentialsKey?: string;
  /** Milliseconds each request (and token request) may take until its response headers arrive. @default no limit */
  timeoutMs?: number;
  /** The fetch to use (tests). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** Options of one request. */
export interface RegistryRequestOptions {
  /** Statuses that count as success; any other throws a {@link RegistryError}. @default any status is returned */
  expect?: number[];
  /** The body, as a function so that a request retried after a challenge can send it again. @default none */
  body?: () => Readable | Buffer;
  headers?: Record<string, string>;
}

/** A client of one registry. */
export interface RegistryClient {
  /** The registry's `host[:port]`, as messages name it. */
  readonly host: string;
  /**
   * Sends a request, answering one auth challenge if the registry asks for it. Throws a
   * {@link RegistryError}: `unreachable` when no answer came, `auth` when the registry (or its token
   * service) refused the credentials given, and, with `expect`, for any other status. Without
   * `expect` the response is returned with its body unread (the caller reads or cancels it).
   */
  request(method: string, pathAndQuery: string, options?: RegistryRequestOptions): Promise<Response>;
}

/** A token service's answer: docker's `token`, or OAuth2's `access_token`. */
interface TokenResponse {
  token?: unknown;
  access_token?: unknown;
}

/** Why a request got no answer, in a few words (`connect ECONNREFUSED 10.0.0.1:5000`, `no answer within 30000 ms`). */
function networkReason(e: unknown, timeoutMs: number | undefined): string {
  const err = e as Error & { cause?: { code?: unknown; message?: unknown } };
  if (err.name === "TimeoutError" || err.name === "AbortError") return `no answer within ${timeoutMs ?? "?"} ms`;
  const cause = err.cause;
  const message = cause && typeof cause.message === "string" && cause.message ? cause.message : err.message;
  const code = cause && typeof cause.code === "string" ? cause.code : null;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The first 300 characters of a body, on one line. */
async function bodySnippet(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}

function statusKind(status: number): RegistryErrorKind {
  return status === 401 || status === 403 ? "auth" : status === 404 ? "not-found" : "protocol";
}

/** A client of the registry at `baseUrl` (see the module comment for how it authenticates). */
export function registryClient(options: RegistryClientOptions): RegistryClient {
  const base = new URL(options.baseUrl);
  if (base.pathname !== "/" || base.search) throw new RegistryError("protocol", base.host, `registry URL must have no path: ${String(options.baseUrl)}`);
  const host = base.host;
  const doFetch = options.fetch ?? globalThis.fetch;
  const credentials = options.credentials ?? null;
  // What answered the last challenge: reused on the next requests, replaced on the next 401.
  let authorization: Sensitive | null = null;

  const refused = (status: number, by: string) =>
    new RegistryError(
      "auth",
      host,
      `registry ${host} refused the credentials of user ${credentials!.username} (${status}${by})${options.credentialsKey ? `: check ${options.credentialsKey}` : ""}`,
      { context: { status, user: credentials!.username }, suggestion: `Check the username and password for ${host}.` },
    );

  const send = async (url: URL, init: RequestInit & { duplex?: "half" }, what: string): Promise<Response> => {
    try {
      return await doFetch(url, { ...init, ...(options.timeoutMs ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}) });
    } catch (e) {
      throw new RegistryError("unreachable", host, `cannot reach registry ${host} (${what}): ${networkReason(e, options.timeoutMs)}`, { cause: e });
    }
  };

  const basic = (): Sensitive => {
    return new Sensitive(`Basic ${Buffer.from(`${credentials!.username}:${credentials!.password.reveal()}`).toString("base64")}`);
  };

  /** Answers the challenges of a 401: the new Authorization value, or null when none can be given. */
  const answer = async (res: Response): Promise<Sensitive | null> => {
    const challenges = parseAuthChallenges(res.headers.get("www-authenticate") ?? "");
    const challenge = challenges.find((c) => c.scheme === "bearer" || c.scheme === "basic");
    if (!challenge) return null;
    if (challenge.scheme === "basic") return credentials ? basic() : null;
    const realm = challenge.params["realm"];
    if (!realm) throw new RegistryError("protocol", host, `registry ${host} asked for a Bearer token without a realm`);
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(realm, base);
    } catch {
      throw new RegistryError("protocol", host, `registry ${host} named a token realm that is not a URL: ${realm}`);
    }
    if (tokenUrl.protocol !== "https:" && tokenUrl.protocol !== "http:") {
      throw new RegistryError("protocol", host, `registry ${host} named a token realm that is not http(s): ${realm}`);
    }
    // Credentials go in clear text over plain HTTP only to a registry that itself speaks plain HTTP.
    if (credentials && tokenUrl.protocol === "http:" && base.protocol === "https:") {
      throw new RegistryError("protocol", host, `registry ${host} asked for credentials at a plain-HTTP token realm (${tokenUrl.host}); longshore sends them only over HTTPS`);
    }
    if (challenge.params["service"] !== undefined) tokenUrl.searchParams.set("service", challenge.params["service"]);
    for (const scope of (challenge.params["scope"] ?? "").split(" ").filter(Boolean)) tokenUrl.searchParams.append("scope", scope);
    const tokenRes = await send(
      tokenUrl,
      { method: "GET", headers: credentials ? { authorization: basic().reveal() } : {}, redirect: "follow" },
      `token from ${tokenUrl.host}${tokenUrl.pathname}`,
    );
    if (tokenRes.status === 401 || tokenRes.status === 403) {
      await tokenRes.body?.cancel();
      // No anonymous token: the registry's own 401 says what it wants.
      if (!credentials) return null;
      throw refused(tokenRes.status, ` at its token service ${tokenUrl.host}`);
    }
    if (tokenRes.status !== 200) {
      throw new RegistryError(statusKind(tokenRes.status), host, `registry ${host}: its token service ${tokenUrl.host}${tokenUrl.pathname} answered ${tokenRes.status}: ${await bodySnippet(tokenRes)}`, {
        context: { status: tokenRes.status },
      });
    }
    let body: TokenResponse;
    try {
      body = (await tokenRes.json()) as TokenResponse;
    } catch (e) {
      throw new RegistryError("protocol", host, `registry ${host}: its token service ${tokenUrl.host} answered with no JSON`, { cause: e });
    }
    const token = typeof body.token === "string" && body.token ? body.token : typeof body.access_token === "string" && body.access_token ? body.access_token : null;
    if (token === null) throw new RegistryError("protocol", host, `registry ${host}: its token service ${tokenUrl.host} answered with neither token nor access_token`);
    return new Sensitive(`Bearer ${token}`);
  };

  const request: RegistryClient["request"] = async (method, pathAndQuery, ro = {}) => {
    const url = new URL(pathAndQuery, base);
    const what = `${method} ${url.pathname}`;
    const attempt = (auth: Sensitive | null) => {
      const body = ro.body?.();
      return send(
        url,
        {
          method,
          headers: { ...(auth ? { authorization: auth.reveal() } : {}), ...ro.headers },
          ...(body === undefined
            ? {}
            : Buffer.isBuffer(body)
              ? { body: new Uint8Array(body) }
              : { body: Readable.toWeb(body) as unknown as NonNullable<RequestInit["body"]>, duplex: "half" as const }),
          redirect: "follow",
        },
        what,
      );
    };
    let res = await attempt(authorization);
    if (res.status === 401) {
      const sentBasic = authorization !== null && authorization.reveal().startsWith("Basic ");
      const next = sentBasic ? null : await answer(res);
      if (next !== null) {
        await res.body?.cancel();
        authorization = next;
        res = await attempt(authorization);
        // Basic credentials are checked by the request itself: a second 401 means they are wrong.
        if (res.status === 401 && authorization.reveal().startsWith("Basic ")) {
          await res.body?.cancel();
          authorization = null;
          throw refused(401, "");
        }
      } else if (sentBasic) {
        await res.body?.cancel();
        throw refused(401, "");
      }
    }
    if (ro.expect && !ro.expect.includes(res.status)) {
      throw new RegistryError(statusKind(res.status), host, `${host}: ${what} answered ${res.status} (expected ${ro.expect.join(" or ")}): ${await bodySnippet(res)}`, {
        context: { status: res.status },
        ...(res.status === 401 ? { suggestion: "The registry wants credentials: pass a username and password." } : {}),
      });
    }
    if (ro.expect) await res.arrayBuffer().catch(() => undefined);
    return res;
  };

  return { host, request };
}
