// A fake S3 for tests: it does not prove AWS's behaviour, only what this fake implements of it (see fakeS3Server).
import { createHash, createHmac } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";

/** Static credentials the tests give the client; the server verifies every signature with them. */
export const TEST_CREDENTIALS = { accessKeyId: "AKIALONGSHORETEST01", secretAccessKey: "longshore/test/secret/key/not/a/real/one/0000" };
export const TEST_REGION = "eu-west-1";

/** One request as the server saw it. */
export interface SeenRequest {
  method: string;
  /** The path-style path, `/<bucket>/<key>`, without the query. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  /** The SigV4 signature recomputed from the request with {@link TEST_CREDENTIALS} matched the one sent. */
  signatureValid: boolean;
  /** Why it did not, when it did not. */
  signatureProblem: string | null;
  /** The headers the signature covers (its `SignedHeaders`). */
  signedHeaders: string[];
  status: number;
}

/** Options of {@link fakeS3Server}. */
export interface FakeS3Options {
  /** Buckets that exist. */
  buckets: string[];
  /** Buckets whose every request is answered 403 AccessDenied. @default none */
  denied?: string[];
}

/** Node's crypto as the signer's hash (HMAC when given a secret). */
class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash("sha256") : createHmac("sha256", typeof secret === "string" ? secret : Buffer.from(secret as Uint8Array));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(typeof data === "string" ? data : Buffer.from(data as Uint8Array));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

const xmlError = (code: string, message: string, extra = "") => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${extra}<RequestId>fake</RequestId></Error>`;

/**
 * An S3-compatible HTTP server on 127.0.0.1 (path-style addressing) implementing only what the lock
 * needs: PutObject (with `If-None-Match: *` answered 412 when the key exists), GetObject (404
 * NoSuchKey), DeleteObject (with `If-Match`: 412 when the ETag differs, 404 when gone), NoSuchBucket
 * and AccessDenied. Every request is recorded and its SigV4 signature verified with
 * `@smithy/signature-v4` against {@link TEST_CREDENTIALS}; a bad signature is answered 403
 * SignatureDoesNotMatch. Requests are handled one at a time (the event loop), so a conditional write
 * is atomic, as S3 promises.
 */
export async function fakeS3Server(options: FakeS3Options) {
  const objects = new Map<string, { body: string; etag: string }>();
  const requests: SeenRequest[] = [];
  /** Answers the next requests matching `when` with this status and error code instead (then serves normally). */
  const injected: Array<{ when: (r: SeenRequest) => boolean; status: number; code: string }> = [];
  /** Called after each request is answered (a test acts "between" two requests of the client). */
  const after: Array<(r: SeenRequest) => void> = [];
  const signer = new SignatureV4({ credentials: TEST_CREDENTIALS, region: TEST_REGION, service: "s3", sha256: Sha256, uriEscapePath: false, applyChecksum: false });

  async function verify(req: http.IncomingMessage, rawPath: string, query: Record<string, string>, body: Buffer): Promise<{ problem: string | null; signed: string[] }> {
    const auth = req.headers.authorization ?? "";
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return { problem: `no SigV4 Authorization header: ${JSON.stringify(auth)}`, signed: [] };
    const [, akid, , region, signedList] = m;
    const signed = signedList!.split(";");
    if (akid !== TEST_CREDENTIALS.accessKeyId) return { problem: `access key ${akid}`, signed };
    if (region !== TEST_REGION) return { problem: `region ${region}`, signed };
    for (const must of ["host", "x-amz-date", "x-amz-content-sha256"]) if (!signed.includes(must)) return { problem: `${must} is not signed`, signed };
    const payload = String(req.headers["x-amz-content-sha256"]);
    if (payload !== createHash("sha256").update(body).digest("hex")) return { problem: `x-amz-content-sha256 ${payload} is not the body's hash`, signed };
    const headers: Record<string, string> = {};
    for (const h of signed) {
      const v = req.headers[h];
      if (v === undefined) return { problem: `signed header ${h} is missing`, signed };
      headers[h] = Array.isArray(v) ? v.join(",") : v;
    }
    const d = String(req.headers["x-amz-date"]);
    const signingDate = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
    const [hostname, port] = headers.host!.split(":");
    const again = await signer.sign(
      { method: req.method!, protocol: "http:", hostname: hostname!, ...(port ? { port: Number(port) } : {}), path: rawPath, query, headers, body: body.toString("utf8") },
      { signingDate, signableHeaders: new Set(signed), unsignableHeaders: new Set() },
    );
    const expected = again.headers.authorization ?? again.headers.Authorization;
    return { problem: expected === auth ? null : `signature mismatch: expected ${expected}, got ${auth}`, signed };
  }

  function handle(seen: SeenRequest, res: http.ServerResponse): void {
    const send = (status: number, body = "", headers: Record<string, string> = {}) => {
      seen.status = status;
      res.writeHead(status, { ...(body ? { "content-type": "application/xml" } : {}), ...headers }).end(body);
    };
    if (!seen.signatureValid) return send(403, xmlError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."));
    const [, bucket = "", ...rest] = seen.path.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const i = injected.findIndex((x) => x.when(seen));
    if (i >= 0) {
      const [x] = injected.splice(i, 1);
      return send(x!.status, xmlError(x!.code, "injected by the test"));
    }
    if (!options.buckets.includes(bucket)) return send(404, xmlError("NoSuchBucket", "The specified bucket does not exist", `<BucketName>${bucket}</BucketName>`));
    if (options.denied?.includes(bucket)) return send(403, xmlError("AccessDenied", "Access Denied"));
    const id = `${bucket}/${key}`;
    const current = objects.get(id);
    const ifMatch = seen.headers["if-match"];
    const ifNoneMatch = seen.headers["if-none-match"];
    if (seen.method === "PUT") {
      if (ifNoneMatch === "*" && current) return send(412, xmlError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", "<Condition>If-None-Match</Condition>"));
      if (ifMatch !== undefined && current?.etag !== ifMatch) return send(412, xmlError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", "<Condition>If-Match</Condition>"));
      const etag = `"${createHash("md5").update(seen.body).digest("hex")}"`;
      objects.set(id, { body: seen.body, etag });
      return send(200, "", { etag });
    }
    if (seen.method === "GET") {
      if (!current) return send(404, xmlError("NoSuchKey", "The specified key does not exist.", `<Key>${key}</Key>`));
      seen.status = 200;
      res.writeHead(200, { "content-type": "application/json", etag: current.etag, "content-length": String(Buffer.byteLength(current.body)) }).end(current.body);
      return;
    }
    if (seen.method === "DELETE") {
      if (ifMatch !== undefined) {
        if (!current) return send(404, xmlError("NoSuchKey", "The specified key does not exist.", `<Key>${key}</Key>`));
        if (current.etag !== ifMatch) return send(412, xmlError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", "<Condition>If-Match</Condition>"));
      }
      objects.delete(id);
      return send(204);
    }
    send(405, xmlError("MethodNotAllowed", `${seen.method} is not implemented by this fake`));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const rawPath = q < 0 ? url : url.slice(0, q);
      const query = Object.fromEntries(new URLSearchParams(q < 0 ? "" : url.slice(q + 1)));
      void verify(req, rawPath, query, body).then(({ problem, signed }) => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v)]));
        const seen: SeenRequest = { method: req.method!, path: rawPath, query, headers, body: body.toString("utf8"), signatureValid: problem === null, signatureProblem: problem, signedHeaders: signed, status: 0 };
        requests.push(seen);
        handle(seen, res);
        for (const f of after.splice(0)) f(seen);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    objects,
    requests,
    /** Answers the next request matching `when` with an error. */
    inject(when: (r: SeenRequest) => boolean, status: number, code: string): void {
      injected.push({ when, status, code });
    },
    /** Runs `f` once, right after the next request is answered. */
    afterNext(f: (r: SeenRequest) => void): void {
      after.push(f);
    },
    /** Sets an object as another writer would. */
    put(bucket: string, key: string, body: string): string {
      const etag = `"${createHash("md5").update(body).digest("hex")}"`;
      objects.set(`${bucket}/${key}`, { body, etag });
      return etag;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
