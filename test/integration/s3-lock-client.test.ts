// Against a fake S3 server on 127.0.0.1 (test/helpers/fake-s3.ts): does not prove AWS's own behaviour (its conditional writes, IAM, regions, throttling), only that the real SDK's requests are signed, conditional and path-style, and how longshore reads S3's documented answers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LockHeldError, PreconditionError } from "../../core/errors";
import { AwsSlotDriver, type StackWorkspace } from "../../drivers/aws/aws-driver";
import { lockStoreError, s3LockClient, type S3LockClientOptions } from "../../drivers/aws/s3-lock-client";
import type { Environment } from "../../model/environment";
import { parseEnvironment } from "../../model/environment-file";
import type { ProbeResult, SlotName } from "../../rollout/driver";
import { runRollout } from "../../rollout/operations";
import { fakeS3Server, TEST_CREDENTIALS, TEST_REGION, type SeenRequest } from "../helpers/fake-s3";

const BUCKET = "longshore-lock-abc123";
const KEY = "locks/test.json";
const V1 = "registry.example.com/shop:1.0";
const V2 = "registry.example.com/shop:1.1";
const ENV_TEXT = `name: test
driver: aws
app: { name: shop, image: ${V1}, port: 8080, health: { path: /healthz } }
slots:
  blue: { image: ${V1}, size: 1 }
  green: { image: null, size: 1 }
live: blue
aws:
  region: ${TEST_REGION}
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop
  adminCidrs: [203.0.113.7/32]
`;

let server: Awaited<ReturnType<typeof fakeS3Server>>;
let dir: string;
beforeAll(async () => {
  server = await fakeS3Server({ buckets: [BUCKET, "denied-bucket"], denied: ["denied-bucket"] });
  dir = mkdtempSync(path.join(os.tmpdir(), "longshore-s3-lock-"));
});
afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The real client, pointed at the fake server with the static test credentials. */
const client = (extra: Partial<S3LockClientOptions> = {}) => s3LockClient({ region: TEST_REGION, endpoint: server.endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS, ...extra });

/** The requests since `from`, as `METHOD path condition -> status`, each checked to be signed. */
function requestsSince(from: number): string[] {
  const seen = server.requests.slice(from);
  for (const r of seen) expect({ signed: r.signatureValid, problem: r.signatureProblem }).toEqual({ signed: true, problem: null });
  return seen.map(describe1);
}
function describe1(r: SeenRequest): string {
  const cond = r.headers["if-none-match"] !== undefined ? ` If-None-Match:${r.headers["if-none-match"]}` : r.headers["if-match"] !== undefined ? ` If-Match:${r.headers["if-match"]}` : "";
  return `${r.method} ${r.path}${cond} -> ${r.status}`;
}

let count = 0;
function environment(): { file: string; env: Environment } {
  const file = path.join(dir, `longshore-${++count}.yaml`);
  writeFileSync(file, ENV_TEXT);
  const r = parseEnvironment(ENV_TEXT, file);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return { file, env: r.value };
}

/** A workspace whose stack has the lock bucket; `up` is recorded in `events` with the lock object's presence. */
function workspace(events: string[] = []): StackWorkspace {
  return {
    up: async () => {
      events.push(`up (lock object ${server.objects.has(`${BUCKET}/${KEY}`) ? "present" : "absent"})`);
    },
    outputs: async () => ({ lockBucket: BUCKET, liveSlot: "blue", hostNames: { blue: ["test-blue-0"] }, hostAddresses: { blue: ["198.51.100.7"], green: ["198.51.100.8"] } }),
  };
}

const operator = (user: string, pid: number) => () => ({ user, hostname: `${user}-laptop`, pid });
const at = (iso: string) => () => new Date(iso);

describe("the S3 lock client (real SDK, fake S3)", () => {
  it("writes with If-None-Match: *, reads the ETag, deletes with If-Match: every request SigV4-signed with the given credentials, the conditions among the signed headers", async () => {
    const from = server.requests.length;
    const c = client();
    expect(await c.putIfAbsent(BUCKET, "locks/round.json", '{"n":1}')).toBe(true);
    expect(await c.putIfAbsent(BUCKET, "locks/round.json", '{"n":2}')).toBe(false);
    const read = await c.get(BUCKET, "locks/round.json");
    const etag = server.objects.get(`${BUCKET}/locks/round.json`)!.etag;
    expect(read).toEqual({ body: '{"n":1}', etag });
    expect(await c.deleteIfMatch(BUCKET, "locks/round.json", '"0123"')).toBe(false);
    expect(await c.deleteIfMatch(BUCKET, "locks/round.json", etag)).toBe(true);
    expect(await c.get(BUCKET, "locks/round.json")).toBeNull();
    expect(await c.deleteIfMatch(BUCKET, "locks/round.json", etag)).toBe(false);
    const p = `/${BUCKET}/locks/round.json`;
    expect(requestsSince(from)).toEqual([
      `PUT ${p} If-None-Match:* -> 200`,
      `PUT ${p} If-None-Match:* -> 412`,
      `GET ${p} -> 200`,
      `DELETE ${p} If-Match:"0123" -> 412`,
      `DELETE ${p} If-Match:${etag} -> 204`,
      `GET ${p} -> 404`,
      `DELETE ${p} If-Match:${etag} -> 404`,
    ]);
    const seen = server.requests.slice(from);
    expect(seen.filter((r) => r.method === "PUT").every((r) => r.signedHeaders.includes("if-none-match"))).toBe(true);
    expect(seen.filter((r) => r.method === "DELETE").every((r) => r.signedHeaders.includes("if-match"))).toBe(true);
    expect(seen.every((r) => r.headers.authorization!.startsWith(`AWS4-HMAC-SHA256 Credential=${TEST_CREDENTIALS.accessKeyId}/`))).toBe(true);
  });

  it("the server's check can fail: a request signed with another secret is refused, and the error says the credentials were rejected", async () => {
    const from = server.requests.length;
    const err = await client({ credentials: { ...TEST_CREDENTIALS, secretAccessKey: "not-the-secret" } })
      .putIfAbsent(BUCKET, KEY, "{}")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as PreconditionError).message).toBe("cannot take the lock s3://longshore-lock-abc123/locks/test.json: AWS rejected the credentials (SignatureDoesNotMatch)");
    expect(server.requests.slice(from).map((r) => [r.signatureValid, r.status])).toEqual([[false, 403]]);
    expect(server.objects.has(`${BUCKET}/${KEY}`)).toBe(false);
  });

  it("409 ConditionalRequestConflict is retried once; a second one is an error", async () => {
    const from = server.requests.length;
    server.inject((r) => r.path === `/${BUCKET}/locks/conflict.json`, 409, "ConditionalRequestConflict");
    expect(await client().putIfAbsent(BUCKET, "locks/conflict.json", "{}")).toBe(true);
    const puts = server.requests.slice(from).filter((r) => r.method === "PUT");
    expect(puts.map((r) => r.status)).toEqual([409, 200]);
    server.inject((r) => r.path === `/${BUCKET}/locks/conflict2.json`, 409, "ConditionalRequestConflict");
    server.inject((r) => r.path === `/${BUCKET}/locks/conflict2.json`, 409, "ConditionalRequestConflict");
    await expect(client().putIfAbsent(BUCKET, "locks/conflict2.json", "{}")).rejects.toThrow("cannot take the lock s3://longshore-lock-abc123/locks/conflict2.json: S3 answered 409 ConditionalRequestConflict");
  });

  it("access denied (403) and a missing bucket: errors naming the object and what to do", async () => {
    const denied = (await client().putIfAbsent("denied-bucket", KEY, "{}").catch((e: unknown) => e)) as PreconditionError;
    expect(denied).toBeInstanceOf(PreconditionError);
    expect(denied.message).toBe("cannot take the lock s3://denied-bucket/locks/test.json: access denied");
    expect(denied.suggestion).toBe("Your AWS identity needs s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::denied-bucket/locks/* (docs/aws.md, The lock across operators).");
    const missing = (await client().get("gone-bucket", KEY).catch((e: unknown) => e)) as PreconditionError;
    expect(missing).toBeInstanceOf(PreconditionError);
    expect(missing.message).toBe("cannot read the lock s3://gone-bucket/locks/test.json: the bucket gone-bucket does not exist");
    expect(missing.suggestion).toBe(
      "The stack's lockBucket output names a bucket that is gone (deleted by hand?): run `pulumi up` in stacks/web to create it again, or check that the stack and the region (aws:region) are the right ones.",
    );
    const deleteDenied = (await client().deleteIfMatch("denied-bucket", KEY, '"e"').catch((e: unknown) => e)) as PreconditionError;
    expect(deleteDenied.message).toBe("cannot release the lock s3://denied-bucket/locks/test.json: access denied");
  });

  it("no credentials: an error saying so, and nothing sent", async () => {
    const from = server.requests.length;
    // What the SDK's default chain throws when it finds none (here without asking the instance metadata address).
    const none = async () => {
      throw Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
    };
    const err = (await client({ credentials: none }).putIfAbsent(BUCKET, KEY, "{}").catch((e: unknown) => e)) as PreconditionError;
    expect(err).toBeInstanceOf(PreconditionError);
    expect(err.message).toBe("cannot take the lock s3://longshore-lock-abc123/locks/test.json: no AWS credentials found");
    expect(err.suggestion).toBe(
      "Give the AWS SDK credentials the usual way: `aws sso login` / `aws configure` (a profile, AWS_PROFILE), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance role. The same ones `pulumi up` uses.",
    );
    expect(server.requests.length).toBe(from);
  });
});

describe("errors the SDK raises before sending", () => {
  it("no region (neither the file, the stack nor the SDK's settings name one): an error saying where to set it", async () => {
    // The SDK's own error when its region provider gives none (the default chain's "Region is missing" depends on this computer's AWS settings).
    const sdk = await import("@aws-sdk/client-s3");
    const from = server.requests.length;
    const raw = await new sdk.S3Client({ endpoint: server.endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS, region: async () => undefined as unknown as string })
      .send(new sdk.GetObjectCommand({ Bucket: BUCKET, Key: KEY }))
      .catch((e: unknown) => e);
    expect(server.requests.length).toBe(from);
    const err = lockStoreError("read", BUCKET, KEY, raw);
    expect([err.message, err.suggestion]).toEqual([
      "cannot read the lock s3://longshore-lock-abc123/locks/test.json: no AWS region",
      "Set aws.region in the environment file (or the stack's aws:region): the lock bucket is in the stack's region.",
    ]);
  });
});

describe("two operators, one lock (two aws drivers, each with its own real client)", () => {
  it("racing sharedLock: exactly one wins, the other is refused naming the winner; after its release the other can take it", async () => {
    const { file, env } = environment();
    const alice = new AwsSlotDriver({ env, file, workspace: workspace(), lockClient: client(), holder: operator("alice", 101), now: at("2026-12-04T05:00:00.000Z") });
    const bob = new AwsSlotDriver({ env, file, workspace: workspace(), lockClient: client(), holder: operator("bob", 202), now: at("2026-12-04T05:00:01.000Z") });
    const from = server.requests.length;
    const results = await Promise.allSettled([alice.sharedLock("rollout"), bob.sharedLock("up")]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect([won.length, lost.length]).toEqual([1, 1]);
    const winner = JSON.parse(server.objects.get(`${BUCKET}/${KEY}`)!.body) as { user: string };
    const byWinner = winner.user === "alice" ? "rollout by alice@alice-laptop (pid 101) since 2026-12-04T05:00:00.000Z" : "up by bob@bob-laptop (pid 202) since 2026-12-04T05:00:01.000Z";
    expect(lost[0]!.reason).toBeInstanceOf(LockHeldError);
    expect((lost[0]!.reason as Error).message).toBe(`environment test is locked by ${byWinner} (s3://${BUCKET}/${KEY})`);
    expect(requestsSince(from).sort()).toEqual([`GET /${BUCKET}/${KEY} -> 200`, `PUT /${BUCKET}/${KEY} If-None-Match:* -> 200`, `PUT /${BUCKET}/${KEY} If-None-Match:* -> 412`]);

    // The winner's release deletes its own record; the loser then takes the lock.
    const etag = server.objects.get(`${BUCKET}/${KEY}`)!.etag;
    const mark = server.requests.length;
    await (won[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
    expect(requestsSince(mark)).toEqual([`GET /${BUCKET}/${KEY} -> 200`, `DELETE /${BUCKET}/${KEY} If-Match:${etag} -> 204`]);
    expect(server.objects.has(`${BUCKET}/${KEY}`)).toBe(false);
    const second = await (winner.user === "alice" ? bob : alice).sharedLock("again");
    await second.release();
    expect(server.objects.has(`${BUCKET}/${KEY}`)).toBe(false);
  });

  it("release after a force-release and a retake by another operator leaves the new holder's object (and sends no delete)", async () => {
    const { file, env } = environment();
    const lines: string[] = [];
    const alice = new AwsSlotDriver({ env, file, workspace: workspace(), lockClient: client(), holder: operator("alice", 101), log: (l) => lines.push(l) });
    const carol = new AwsSlotDriver({ env, file, workspace: workspace(), lockClient: client(), holder: operator("carol", 303), now: at("2026-12-04T06:00:00.000Z") });
    const held = await alice.sharedLock("rollout");
    const aliceEtag = server.objects.get(`${BUCKET}/${KEY}`)!.etag;
    const mark = server.requests.length;
    // carol: `lock release --force` (read, then delete naming what was read), then her own operation.
    const state = await carol.sharedLockState();
    expect(state).toMatchObject({ state: "held", bucket: BUCKET, key: KEY, etag: aliceEtag, holder: { user: "alice", operation: "rollout" } });
    if (state.state !== "held") throw new Error(state.state);
    expect(await carol.forceReleaseSharedLock(state)).toBe(true);
    const carols = await carol.sharedLock("rollback");
    await held.release();
    expect(requestsSince(mark)).toEqual([
      `GET /${BUCKET}/${KEY} -> 200`,
      `DELETE /${BUCKET}/${KEY} If-Match:${aliceEtag} -> 204`,
      `PUT /${BUCKET}/${KEY} If-None-Match:* -> 200`,
      `GET /${BUCKET}/${KEY} -> 200`,
    ]);
    expect((JSON.parse(server.objects.get(`${BUCKET}/${KEY}`)!.body) as { user: string }).user).toBe("carol");
    expect(lines).toEqual([`the lock s3://${BUCKET}/${KEY} is no longer this operation's; left as it is`]);
    await carols.release();
    expect(server.objects.has(`${BUCKET}/${KEY}`)).toBe(false);
  });

  it("a retake between release's read and its delete: the delete's If-Match fails (412) and the new holder's object stays", async () => {
    const { file, env } = environment();
    const lines: string[] = [];
    const alice = new AwsSlotDriver({ env, file, workspace: workspace(), lockClient: client(), holder: operator("alice", 101), log: (l) => lines.push(l) });
    const held = await alice.sharedLock("rollout");
    const aliceEtag = server.objects.get(`${BUCKET}/${KEY}`)!.etag;
    const daves = JSON.stringify({ id: "44444444-4444-4444-4444-444444444444", operation: "up", user: "dave", hostname: "ci", pid: 4, since: "2026-12-04T07:00:00.000Z" });
    let daveEtag = "";
    // Right after the release's GET is answered, before its DELETE can arrive: another operator's force-release and retake (done on the server at once).
    server.afterNext((r) => {
      expect(`${r.method} ${r.path}`).toBe(`GET /${BUCKET}/${KEY}`);
      daveEtag = server.put(BUCKET, KEY, daves);
    });
    const mark = server.requests.length;
    await held.release();
    expect(daveEtag).not.toBe(aliceEtag);
    expect(requestsSince(mark)).toEqual([`GET /${BUCKET}/${KEY} -> 200`, `DELETE /${BUCKET}/${KEY} If-Match:${aliceEtag} -> 412`]);
    expect(server.objects.get(`${BUCKET}/${KEY}`)).toEqual({ body: daves, etag: daveEtag });
    expect(lines).toEqual([`the lock s3://${BUCKET}/${KEY} is no longer this operation's; left as it is`]);
    server.objects.delete(`${BUCKET}/${KEY}`);
  });
});

describe("a rollout on the aws driver with the real client and a recording workspace", () => {
  it("takes the lock object locks/<env>.json before the first pulumi up and deletes it (If-Match) after the last", async () => {
    const { file, env } = environment();
    const events: string[] = [];
    const from = server.requests.length;
    const recording = workspace(events);
    const healthy = async (_slot: SlotName, hosts: Array<{ name: string }>): Promise<ProbeResult[]> => hosts.map((h) => ({ host: h.name, ok: true, status: 200, detail: "ok" }));
    const driver = new AwsSlotDriver({ env, file, workspace: recording, probeHosts: healthy, lockClient: client(), holder: operator("alice", 101), now: at("2026-12-04T05:00:00.000Z") });
    const report = await runRollout({
      env,
      envText: readFileSync(file, "utf8"),
      files: { envFile: file, lockFile: path.join(dir, `op-${++count}.lock`), auditFile: path.join(dir, `audit-${count}.jsonl`) },
      driver,
      actor: "alice@example.com",
      image: V2,
      policy: { soakMs: 0, healthyRounds: 1, probeIntervalMs: 0 },
      clock: { now: () => 0, sleep: async () => {} },
    });
    expect(report.outcome).toBe("succeeded");
    const s3 = server.requests.slice(from);
    const etag = `"${(await import("node:crypto")).createHash("md5").update(s3[0]!.body).digest("hex")}"`;
    expect(JSON.parse(s3[0]!.body)).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), operation: "rollout", user: "alice", hostname: "alice-laptop", pid: 101, since: "2026-12-04T05:00:00.000Z" });
    expect(requestsSince(from)).toEqual([`PUT /${BUCKET}/${KEY} If-None-Match:* -> 200`, `GET /${BUCKET}/${KEY} -> 200`, `DELETE /${BUCKET}/${KEY} If-Match:${etag} -> 204`]);
    // The two updates (prepare green, switch traffic) ran while the object was there.
    expect(events).toEqual(["up (lock object present)", "up (lock object present)"]);
    expect(server.objects.has(`${BUCKET}/${KEY}`)).toBe(false);
  });
});
