// Does not prove the shop works under `docker compose` on a Debian 13 host with engine 26 (service DNS names, depends_on, scaling, Compose secrets: the e2e tests do) nor under longshore's rollout; only that the images build, cache, load and answer as documented on this controller's own engine 20.10, with the containers sharing one network namespace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startControllerEngine, type ControllerEngine } from "../helpers/app-image";
import {
  buildComposeAppImages,
  loadIntoEngine,
  shopRootBody,
  SHOP_HEALTH_PATH,
  SHOP_PORT,
  SHOP_REDIS_ENTRYPOINT,
  SHOP_REDIS_PORT,
  SHOP_WORKER_COMMAND,
  type ComposeAppImages,
} from "../helpers/compose-app-images";

const HOOK = { timeout: 600_000 };
const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Breaks any quoting on the way: spaces (leading, trailing), quotes, $, backslashes, =, a tab, a newline and UTF-8. */
const TRICKY = ` lead "dq" 'sq' $HOME \${X} $(id) \`id\` back\\slash = a=b\ttab\nline2 é ü 😀 trail `;
/** A password with spaces, quotes, $, a backslash and UTF-8 (Redis takes it from its command line). */
const PASSWORD = `p a$$ "w" 'o' \\ é😀 $(x)`;

interface Reply {
  status: number;
  body: string;
}

describe("compose app images (longshore-shop:1/:2, longshore-shop-redis:1/:2)", () => {
  const scratch = fs.mkdtempSync(path.join(tmpdir(), "longshore-compose-app-test-"));
  const logLines: string[] = [];
  const log = (line: string) => logLines.push(line);
  let images: ComposeAppImages;
  let engine: ControllerEngine | undefined;
  /** Every container this file started, by ID, removed in afterAll (before the engine stops). */
  const started: string[] = [];

  const docker = (args: string[], opts: { input?: string | Buffer; check?: boolean; timeoutMs?: number } = {}) => engine!.docker(args, opts);

  async function runContainer(name: string, args: string[]): Promise<string> {
    const id = (await docker(["run", "-d", "--name", name, ...args])).stdout.trim();
    started.push(id);
    return id;
  }

  /**
   * GET `urlPath` from the shop in `container` (busybox nc inside it, to 127.0.0.1:`port`): the
   * engine has no bridge and publishes nothing, so the request is made in the container's own
   * network namespace.
   */
  async function get(container: string, urlPath: string, port = SHOP_PORT, headers: Record<string, string> = {}): Promise<Reply> {
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    const r = await docker(["exec", "-i", container, "nc", "127.0.0.1", String(port)], {
      input: `GET ${urlPath} HTTP/1.0\r\nHost: shop\r\n${head}\r\n`,
      check: false,
      timeoutMs: 30_000,
    });
    const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(r.stdout);
    const end = r.stdout.indexOf("\r\n\r\n");
    if (r.code !== 0 || !m || end < 0) throw new Error(`GET ${urlPath} in ${container}: exit ${r.code}, reply ${JSON.stringify(r.stdout)} ${r.stderr}`);
    return { status: Number(m[1]), body: r.stdout.slice(end + 4) };
  }

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms ${last ? (last as Error).message : ""}`);
      await sleep(100);
    }
  }

  const waitHealthy = (container: string, port = SHOP_PORT) =>
    waitFor(`${container} healthy`, async () => ((await get(container, SHOP_HEALTH_PATH, port)).status === 200 ? true : undefined));

  const waitRedis = (container: string, args: string[] = [], env: string[] = []) =>
    waitFor(`${container} answers PING`, async () => {
      const r = await docker(["exec", ...env, container, "redis-cli", ...args, "ping"], { check: false });
      return r.stdout.trim() === "PONG" ? true : undefined;
    });

  beforeAll(async () => {
    images = await buildComposeAppImages({ log });
    engine = await startControllerEngine({ log });
    await loadIntoEngine(engine, images);
  }, HOOK.timeout);

  afterAll(async () => {
    try {
      if (engine && started.length > 0) await engine.docker(["rm", "-f", "--volumes", ...started], { check: false, timeoutMs: 60_000 });
    } finally {
      try {
        await engine?.stop();
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
        // What the build took, for whoever reads the output.
        console.log(logLines.filter((l) => l.startsWith("compose-app:")).join("\n"));
      }
    }
  }, HOOK.timeout);

  it("answers from the cache without starting an engine; the archives load with their recorded IDs, v2 = v1 + one layer", HOOK, async () => {
    const before = logLines.length;
    const t0 = performance.now();
    const again = await buildComposeAppImages({ log });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(again).toEqual({ ...images, fromCache: true });
    expect(logLines.slice(before)).toEqual([`compose-app: cache hit ${images.dir}`]);
    expect(fs.readdirSync(images.dir).sort()).toEqual(["meta.json", "redis-v1.tar", "redis-v2.tar", "shop-v1.tar", "shop-v2.tar"]);

    const inspect = async (tag: string) =>
      JSON.parse((await docker(["image", "inspect", tag])).stdout)[0] as {
        Id: string;
        RootFS: { Layers: string[] };
        Config: { Cmd: string[]; Entrypoint: string[] | null; ExposedPorts: Record<string, object>; Volumes: Record<string, object> | null };
      };
    for (const [v1Image, v2Image, cmd, port, volumes] of [
      [images.shopV1, images.shopV2, ["/app/serve"], SHOP_PORT, null],
      [images.redisV1, images.redisV2, [SHOP_REDIS_ENTRYPOINT], SHOP_REDIS_PORT, ["/data"]],
    ] as const) {
      const v1 = await inspect(v1Image.repoTag);
      const v2 = await inspect(v2Image.repoTag);
      expect([v1.Id, v2.Id]).toEqual([v1Image.imageId, v2Image.imageId]);
      expect(v1.RootFS.Layers).toHaveLength(1);
      expect(v2.RootFS.Layers).toHaveLength(2);
      expect(v2.RootFS.Layers[0]).toBe(v1.RootFS.Layers[0]);
      for (const config of [v1.Config, v2.Config]) {
        expect(config.Cmd).toEqual(cmd);
        expect(config.Entrypoint).toBeNull();
        expect(Object.keys(config.ExposedPorts)).toEqual([`${port}/tcp`]);
        expect(config.Volumes === null ? null : Object.keys(config.Volumes)).toEqual(volumes);
      }
    }
  });

  it("the engine's socket is what DOCKER_HOST names for `imageFrom: engine`: its API reads the loaded images", HOOK, async () => {
    expect(engine!.host).toBe(`unix://${engine!.socket}`);
    for (const image of [images.shopV1, images.shopV2, images.redisV1, images.redisV2]) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.get({ socketPath: engine!.host.slice("unix://".length), path: `/images/${image.repoTag}/json`, headers: { host: "docker" } }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
          res.on("error", reject);
        });
        req.on("error", reject);
      });
      expect((JSON.parse(body) as { Id: string }).Id).toBe(image.imageId);
    }
  });

  // One network namespace, owned by the web container (--network none: loopback only, nothing on
  // this computer's network changes); Redis and the worker join it, and `db` is 127.0.0.1 in its
  // /etc/hosts, which the joined containers share.
  it("web: health and version without Redis, 503 for Redis calls, 404 elsewhere", HOOK, async () => {
    const secretFile = path.join(scratch, "api_key");
    fs.writeFileSync(secretFile, Buffer.concat([Buffer.from(TRICKY, "utf8"), Buffer.from([0xff, 0x00, 0x0a])]));
    await runContainer("web", [
      "--network", "none",
      "--add-host", "db:127.0.0.1",
      "-e", `TRICKY=${TRICKY}`,
      "-e", "EMPTY=",
      "-v", `${secretFile}:/run/secrets/api_key:ro`,
      images.shopV1.repoTag,
    ]);
    await waitHealthy("web");
    expect(await get("web", SHOP_HEALTH_PATH)).toEqual({ status: 200, body: "ok\n" });
    expect(await get("web", "/")).toEqual({ status: 200, body: shopRootBody("1") });
    expect(shopRootBody("1")).toBe("shop 1\n");
    expect((await get("web", "/nothing/")).status).toBe(404);
    expect((await get("web", "/healthz")).status).toBe(404);
    for (const p of ["/cgi-bin/visit", "/cgi-bin/put?a=b", "/cgi-bin/get?a", "/cgi-bin/workers"]) {
      expect(await get("web", p)).toEqual({ status: 503, body: "redis unreachable at db:6379\n" });
    }
  });

  it("web + redis v1: visit counts 1, 2; put/get; keys and values are checked", HOOK, async () => {
    await runContainer("redis", ["--network", "container:web", "-v", "shopdata:/data", images.redisV1.repoTag]);
    await waitRedis("redis");
    expect(await get("web", "/cgi-bin/visit")).toEqual({ status: 200, body: "1\n" });
    expect(await get("web", "/cgi-bin/visit")).toEqual({ status: 200, body: "2\n" });
    expect(await get("web", "/cgi-bin/put?colour=Blue-green_2")).toEqual({ status: 200, body: "stored\n" });
    expect(await get("web", "/cgi-bin/get?colour")).toEqual({ status: 200, body: "Blue-green_2\n" });
    expect(await get("web", "/cgi-bin/get?visits")).toEqual({ status: 200, body: "2\n" });
    expect(await get("web", "/cgi-bin/get?nothing")).toEqual({ status: 404, body: "missing\n" });
    for (const bad of ["", "a", "=b", "a=", "a=b=c", "a%20=b", "a=b%20c", "a=b;c", "a:b=c", "a=b c"]) {
      expect(await get("web", `/cgi-bin/put?${bad.replace(/ /g, "%20")}`)).toEqual({ status: 400, body: "invalid key or value\n" });
    }
    for (const bad of ["", "a%20b", "a=b", "a:b", "a*", "a/b"]) {
      expect(await get("web", `/cgi-bin/get?${bad}`)).toEqual({ status: 400, body: "invalid key\n" });
    }
    expect(await get("web", "/cgi-bin/workers")).toEqual({ status: 200, body: "" });
  });

  it("env and secret: sha256 of the exact bytes, `unset` otherwise, and nothing a request could inject", HOOK, async () => {
    expect(await get("web", "/cgi-bin/env?TRICKY")).toEqual({ status: 200, body: `${sha256(Buffer.from(TRICKY, "utf8"))}\n` });
    expect(await get("web", "/cgi-bin/env?EMPTY")).toEqual({ status: 200, body: `${sha256("")}\n` });
    expect(await get("web", "/cgi-bin/env?NOT_SET_ANYWHERE")).toEqual({ status: 200, body: "unset\n" });
    expect(await get("web", "/cgi-bin/env?QUERY_STRING")).toEqual({ status: 200, body: "unset\n" });
    expect(await get("web", "/cgi-bin/env?HTTP_X_PROBE", SHOP_PORT, { "X-Probe": "injected" })).toEqual({ status: 200, body: "unset\n" });
    expect(await get("web", "/cgi-bin/env?A-B")).toEqual({ status: 400, body: "invalid name\n" });

    const secret = fs.readFileSync(path.join(scratch, "api_key"));
    expect(await get("web", "/cgi-bin/secret?api_key")).toEqual({ status: 200, body: `${sha256(secret)}\n` });
    expect(await get("web", "/cgi-bin/secret?other")).toEqual({ status: 200, body: "unset\n" });
    for (const bad of ["", "..", ".hidden", "../etc/passwd", "a/b", "a%20b"]) {
      expect(await get("web", `/cgi-bin/secret?${bad}`)).toEqual({ status: 400, body: "invalid name\n" });
    }
  });

  it("worker: appears in /workers within seconds, and on SIGTERM leaves the list and exits 0 promptly", HOOK, async () => {
    await runContainer("worker", ["--network", "container:web", images.shopV1.repoTag, ...SHOP_WORKER_COMMAND]);
    const hostname = (await docker(["exec", "worker", "hostname"])).stdout.trim();
    expect(hostname).toMatch(/^[A-Za-z0-9.-]+$/);
    await waitFor("worker listed", async () => ((await get("web", "/cgi-bin/workers")).body === `${hostname}\n` ? true : undefined), 10_000);
    // Its key has a TTL of about 5 s, refreshed every second.
    const ttl = Number((await docker(["exec", "redis", "redis-cli", "ttl", `worker:${hostname}`])).stdout.trim());
    expect(ttl).toBeGreaterThan(2);
    expect(ttl).toBeLessThanOrEqual(5);

    const t0 = Date.now();
    await docker(["stop", "--time", "10", "worker"]);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect((await docker(["inspect", "--format", "{{.State.ExitCode}}", "worker"])).stdout.trim()).toBe("0");
    expect(await get("web", "/cgi-bin/workers")).toEqual({ status: 200, body: "" });
    const logs = await docker(["logs", "worker"]);
    expect(logs.stderr).toContain(`worker ${hostname}: registered`);
    expect(logs.stderr).toContain(`worker ${hostname}: stopped`);
  });

  it("redis: data survives replacing v1 with v2 on the same /data volume (clean SIGTERM stop); shop v2 says its version", HOOK, async () => {
    expect((await docker(["exec", "redis", "cat", "/etc/shop-redis-version"])).stdout).toBe("1\n");
    const t0 = Date.now();
    await docker(["stop", "--time", "30", "redis"]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await docker(["inspect", "--format", "{{.State.ExitCode}}", "redis"])).stdout.trim()).toBe("0");
    expect((await docker(["logs", "redis"])).stdout).toContain("ready to exit, bye bye");
    expect(await get("web", "/cgi-bin/visit")).toEqual({ status: 503, body: "redis unreachable at db:6379\n" });
    await docker(["rm", "redis"]);

    await runContainer("redis2", ["--network", "container:web", "-v", "shopdata:/data", images.redisV2.repoTag]);
    await waitRedis("redis2");
    expect((await docker(["exec", "redis2", "cat", "/etc/shop-redis-version"])).stdout).toBe("2\n");
    expect((await docker(["exec", "redis2", "ls", "/data"])).stdout.split("\n").filter(Boolean).sort()).toEqual(["appendonlydir", "dump.rdb"]);
    expect(await get("web", "/cgi-bin/get?colour")).toEqual({ status: 200, body: "Blue-green_2\n" });
    expect(await get("web", "/cgi-bin/visit")).toEqual({ status: 200, body: "3\n" });

    await runContainer("web2", ["--network", "container:web", "-e", "PORT=8081", images.shopV2.repoTag]);
    await waitHealthy("web2", 8081);
    expect(await get("web2", "/", 8081)).toEqual({ status: 200, body: shopRootBody("2") });
    expect(await get("web2", "/cgi-bin/visit", 8081)).toEqual({ status: 200, body: "4\n" });
  });

  it("REDIS_PASSWORD: redis refuses commands without AUTH; the shop authenticates with the exact bytes (REDIS_HOST/REDIS_PORT honoured)", HOOK, async () => {
    const settings = ["-e", "REDIS_HOST=localhost", "-e", "REDIS_PORT=6380"];
    await runContainer("pw-web", ["--network", "none", ...settings, "-e", `REDIS_PASSWORD=${PASSWORD}`, images.shopV1.repoTag]);
    await runContainer("pw-redis", ["--network", "container:pw-web", "-e", `REDIS_PASSWORD=${PASSWORD}`, images.redisV1.repoTag, SHOP_REDIS_ENTRYPOINT, "--port", "6380"]);
    await waitRedis("pw-redis", ["-p", "6380"], ["-e", `REDISCLI_AUTH=${PASSWORD}`]);
    expect((await docker(["exec", "pw-redis", "redis-cli", "-p", "6380", "ping"])).stdout.trim()).toBe("NOAUTH Authentication required.");
    expect((await docker(["exec", "pw-redis", "redis-cli", "-p", "6380", "incr", "visits"])).stdout.trim()).toBe("NOAUTH Authentication required.");

    await waitHealthy("pw-web");
    expect(await get("pw-web", "/cgi-bin/visit")).toEqual({ status: 200, body: "1\n" });
    expect(await get("pw-web", "/cgi-bin/visit")).toEqual({ status: 200, body: "2\n" });
    await runContainer("pw-web-none", ["--network", "container:pw-web", ...settings, "-e", "PORT=8081", images.shopV1.repoTag]);
    await runContainer("pw-web-wrong", ["--network", "container:pw-web", ...settings, "-e", "PORT=8082", "-e", `REDIS_PASSWORD=${PASSWORD}x`, images.shopV1.repoTag]);
    await waitHealthy("pw-web-none", 8081);
    await waitHealthy("pw-web-wrong", 8082);
    expect(await get("pw-web-none", "/cgi-bin/visit", 8081)).toEqual({ status: 503, body: "redis error: NOAUTH Authentication required.\n" });
    expect(await get("pw-web-wrong", "/cgi-bin/visit", 8082)).toEqual({
      status: 503,
      body: "redis error: WRONGPASS invalid username-password pair or user is disabled.\n",
    });
    // The worker reads the same settings from its own environment.
    await runContainer("pw-worker", ["--network", "container:pw-web", ...settings, "-e", `REDIS_PASSWORD=${PASSWORD}`, images.shopV2.repoTag, ...SHOP_WORKER_COMMAND]);
    const hostname = (await docker(["exec", "pw-worker", "hostname"])).stdout.trim();
    await waitFor("pw-worker listed", async () => ((await get("pw-web", "/cgi-bin/workers")).body === `${hostname}\n` ? true : undefined), 10_000);
    expect(await get("pw-web", "/cgi-bin/visit")).toEqual({ status: 200, body: "3\n" });
  });

  it("/run/secrets/REDIS_PASSWORD (a Compose file secret, trailing newline dropped) sets the password for both redis and the shop", HOOK, async () => {
    const file = path.join(scratch, "redis_password");
    fs.writeFileSync(file, `${PASSWORD}\n`);
    const secret = ["-v", `${file}:/run/secrets/REDIS_PASSWORD:ro`];
    await runContainer("sec-web", ["--network", "none", "--add-host", "db:127.0.0.1", ...secret, images.shopV2.repoTag]);
    await runContainer("sec-redis", ["--network", "container:sec-web", ...secret, images.redisV2.repoTag]);
    await waitRedis("sec-redis", [], ["-e", `REDISCLI_AUTH=${PASSWORD}`]);
    expect((await docker(["exec", "sec-redis", "redis-cli", "ping"])).stdout.trim()).toBe("NOAUTH Authentication required.");
    await waitHealthy("sec-web");
    expect(await get("sec-web", "/cgi-bin/visit")).toEqual({ status: 200, body: "1\n" });
    expect(await get("sec-web", "/cgi-bin/secret?REDIS_PASSWORD")).toEqual({ status: 200, body: `${sha256(`${PASSWORD}\n`)}\n` });
    await runContainer("sec-web-none", ["--network", "container:sec-web", "-e", "PORT=8081", images.shopV2.repoTag]);
    await waitHealthy("sec-web-none", 8081);
    expect(await get("sec-web-none", "/cgi-bin/visit", 8081)).toEqual({ status: 503, body: "redis error: NOAUTH Authentication required.\n" });
  });
});
