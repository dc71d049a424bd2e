// Does not prove the images work under longshore's own rollout or on a provisioned host (the e2e tests do): only that they build, cache, load and answer as documented on this controller's own engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  buildTestAppImages,
  startControllerEngine,
  testAppRootBody,
  TEST_APP_HEALTH_PATH,
  TEST_APP_PORT,
  type ControllerEngine,
  type TestAppImages,
} from "../helpers/app-image";

const HOOK = { timeout: 600_000 };
const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

/** A value that breaks any quoting on the way: spaces (leading and trailing), quotes, $, backslashes, =, a tab and UTF-8. */
const TRICKY = ` lead "dq" 'sq' $HOME \${X} $(id) \`id\` back\\slash \\\\ \\n a=b==c\ttab é ü 😀 trail `;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function get(port: number, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath}: timeout`)));
    req.on("error", reject);
  });
}

describe("test app images (longshore-test-app:1 and :2)", () => {
  const scratch = fs.mkdtempSync(path.join(tmpdir(), "longshore-app-image-test-"));
  const cacheDir = path.join(scratch, "cache");
  const logLines: string[] = [];
  const log = (line: string) => logLines.push(line);
  let images: TestAppImages;
  let built: TestAppImages[] = [];
  let engine: ControllerEngine | undefined;

  /** Runs the app with host networking on a free port and waits until it answers HTTP. */
  async function runApp(image: string, opts: { args?: string[]; docker?: string[] } = {}): Promise<{ id: string; port: number }> {
    const port = await freePort();
    const id = (
      await engine!.docker(["run", "-d", "--network", "host", "-e", `PORT=${port}`, ...(opts.docker ?? []), image, ...(opts.args ?? [])])
    ).stdout.trim();
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await get(port, "/");
        return { id, port };
      } catch (e) {
        if (Date.now() > deadline) {
          const logs = await engine!.docker(["logs", id], { check: false });
          throw new Error(`app ${image} on :${port} never answered: ${(e as Error).message}\n${logs.stdout}${logs.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  beforeAll(async () => {
    // A fresh cache directory, so the build itself is exercised on every run; two callers at once,
    // so the lock is too: one builds, the other waits and then finds the result.
    built = await Promise.all([buildTestAppImages({ cacheDir, log }), buildTestAppImages({ cacheDir, log })]);
    images = built[0]!;
    // A second engine with an empty data root: loading the archives there is what a host does.
    engine = await startControllerEngine({ log });
    for (const image of [images.v1, images.v2]) {
      const loaded = await engine.docker(["load", "--input", image.archive]);
      expect(loaded.stdout).toContain(`Loaded image: ${image.repoTag}`);
    }
  }, HOOK.timeout);

  afterAll(async () => {
    try {
      await engine?.stop();
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }, HOOK.timeout);

  it("builds once for concurrent callers, then answers from the cache without starting an engine", HOOK, async () => {
    expect(built.map((b) => b.fromCache).sort()).toEqual([false, true]);
    expect(built[1]!.v1).toEqual(built[0]!.v1);
    expect(built[1]!.v2).toEqual(built[0]!.v2);
    expect(fs.readdirSync(images.dir).sort()).toEqual(["meta.json", "v1.tar", "v2.tar"]);
    expect(images.dir).toBe(path.join(cacheDir, "test-app-images", images.recipeHash));
    // No temporary build directory is left next to the result.
    expect(fs.readdirSync(path.dirname(images.dir)).filter((n) => n.startsWith("."))).toEqual([]);

    const before = logLines.length;
    const started = performance.now();
    const again = await buildTestAppImages({ cacheDir, log });
    const ms = performance.now() - started;
    expect(again).toEqual({ ...images, fromCache: true });
    expect(ms).toBeLessThan(1000);
    expect(logLines.slice(before)).toEqual([`test-app: cache hit ${images.dir}`]);
  });

  it("loads in a fresh data root with the same image IDs, and v2 is v1 plus one layer", HOOK, async () => {
    const inspect = async (tag: string) =>
      JSON.parse((await engine!.docker(["image", "inspect", tag])).stdout)[0] as {
        Id: string;
        RootFS: { Layers: string[] };
        Config: { Cmd: string[]; Entrypoint: string[] | null; ExposedPorts: Record<string, object> };
      };
    const v1 = await inspect(images.v1.repoTag);
    const v2 = await inspect(images.v2.repoTag);
    expect([v1.Id, v2.Id]).toEqual([images.v1.imageId, images.v2.imageId]);
    expect(v1.RootFS.Layers).toHaveLength(1);
    expect(v2.RootFS.Layers).toHaveLength(2);
    expect(v2.RootFS.Layers[0]).toBe(v1.RootFS.Layers[0]);
    for (const config of [v1.Config, v2.Config]) {
      expect(config.Cmd).toEqual(["/app/serve"]);
      expect(config.Entrypoint).toBeNull();
      expect(Object.keys(config.ExposedPorts)).toEqual([`${TEST_APP_PORT}/tcp`]);
    }
    expect([images.v1.version, images.v2.version]).toEqual(["1", "2"]);
  });

  it("says its version and the greeting on /, for v1 and v2", HOOK, async () => {
    const a = await runApp(images.v1.repoTag, { args: ["/app/serve", "hello", "big  world"] });
    expect(await get(a.port, "/")).toEqual({ status: 200, body: "longshore test app 1 hello big  world\n" });
    expect(testAppRootBody("1", ["hello", "big  world"])).toBe("longshore test app 1 hello big  world\n");

    const b = await runApp(images.v2.repoTag);
    expect(await get(b.port, "/")).toEqual({ status: 200, body: "longshore test app 2\n" });
    expect(testAppRootBody("2")).toBe("longshore test app 2\n");
    // Only "/" itself: busybox would run the same script for any directory URL.
    expect((await get(b.port, "/nothing/")).status).toBe(404);
  });

  it(`is healthy on ${TEST_APP_HEALTH_PATH} until UNHEALTHY is set or /tmp/unhealthy exists; /healthz is not served`, HOOK, async () => {
    expect(TEST_APP_HEALTH_PATH).toBe("/cgi-bin/healthz");
    const ok = await runApp(images.v1.repoTag);
    expect(await get(ok.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 200, body: "ok\n" });
    expect((await get(ok.port, "/healthz")).status).toBe(404);

    await engine!.docker(["exec", ok.id, "touch", "/tmp/unhealthy"]);
    expect(await get(ok.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 500, body: "unhealthy\n" });
    await engine!.docker(["exec", ok.id, "rm", "/tmp/unhealthy"]);
    expect(await get(ok.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 200, body: "ok\n" });

    const sick = await runApp(images.v2.repoTag, { docker: ["-e", "UNHEALTHY=1"] });
    expect(await get(sick.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 500, body: "unhealthy\n" });
    // Set but empty counts as healthy.
    const empty = await runApp(images.v2.repoTag, { docker: ["-e", "UNHEALTHY="] });
    expect(await get(empty.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 200, body: "ok\n" });
  });

  it("reports the sha256 of an --env-file value byte for byte, never the value, and nothing a request could inject", HOOK, async () => {
    const envFile = path.join(scratch, "app.env");
    // docker's env-file format: NAME=value, the value taken verbatim up to the end of the line.
    fs.writeFileSync(envFile, `TRICKY=${TRICKY}\nEMPTY=\n`);
    const app = await runApp(images.v1.repoTag, { docker: ["--env-file", envFile] });
    expect(await get(app.port, "/cgi-bin/env?TRICKY")).toEqual({ status: 200, body: `${sha256(Buffer.from(TRICKY, "utf8"))}\n` });
    expect(await get(app.port, "/cgi-bin/env?EMPTY")).toEqual({ status: 200, body: `${sha256("")}\n` });
    expect(await get(app.port, "/cgi-bin/env?NOT_SET_ANYWHERE")).toEqual({ status: 200, body: "unset\n" });
    expect(await get(app.port, `/cgi-bin/env?PORT`)).toEqual({ status: 200, body: `${sha256(String(app.port))}\n` });
    // CGI variables and request headers (HTTP_*) exist in the CGI's environment, not the app's.
    expect(await get(app.port, "/cgi-bin/env?QUERY_STRING")).toEqual({ status: 200, body: "unset\n" });
    expect(await get(app.port, "/cgi-bin/env?HTTP_X_PROBE", { "X-Probe": "injected" })).toEqual({ status: 200, body: "unset\n" });
    for (const bad of ["", "1A", "A-B", "A=B", "%41", "A;id"]) {
      expect(await get(app.port, `/cgi-bin/env?${bad}`)).toEqual({ status: 400, body: "invalid name\n" });
    }
  });

  it("a controller engine changes no firewall or docker state, and stop() leaves no process, mount, cgroup or directory", HOOK, async () => {
    const forwardPolicy = () => spawnSync("iptables", ["-S", "FORWARD"], { encoding: "utf8" }).stdout.split("\n")[0];
    const ipForward = () => fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8");
    const etcDocker = () => (fs.existsSync("/etc/docker") ? fs.readdirSync("/etc/docker").sort() : []);
    const before = [forwardPolicy(), ipForward(), etcDocker()];

    const own = await startControllerEngine();
    let stopped = false;
    try {
      const port = await freePort();
      await own.docker(["load", "--input", images.v1.archive]);
      await own.docker(["run", "-d", "--network", "host", "-e", `PORT=${port}`, images.v1.repoTag]);
      // The container's cgroups live under the engine's own parent (v1: in each hierarchy; v2: once).
      const cgroupParent = path.basename(own.dir);
      const cgroupDirs = () =>
        ["", ...fs.readdirSync("/sys/fs/cgroup")].map((h) => path.join("/sys/fs/cgroup", h, cgroupParent)).filter((p) => fs.existsSync(p));
      expect(cgroupDirs()).not.toEqual([]);
      expect([forwardPolicy(), ipForward(), etcDocker()]).toEqual(before);

      await own.stop();
      stopped = true;
      expect(() => process.kill(own.pid, 0)).toThrow();
      expect(fs.existsSync(own.dir)).toBe(false);
      expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(own.dir);
      expect(cgroupDirs()).toEqual([]);
      await expect(get(port, "/")).rejects.toThrow();
      expect([forwardPolicy(), ipForward(), etcDocker()]).toEqual(before);
    } finally {
      if (!stopped) await own.stop();
    }
  });

  it("serves as an unprivileged user, and stops promptly and cleanly on SIGTERM", HOOK, async () => {
    const root = await runApp(images.v1.repoTag);
    expect(await get(root.port, "/cgi-bin/whoami")).toEqual({ status: 200, body: "uid=0\n" });

    const user = await runApp(images.v2.repoTag, { docker: ["--user", "1000:1000"], args: ["/app/serve", "as", "app"] });
    expect(await get(user.port, "/cgi-bin/whoami")).toEqual({ status: 200, body: "uid=1000\n" });
    expect(await get(user.port, "/")).toEqual({ status: 200, body: "longshore test app 2 as app\n" });
    expect(await get(user.port, TEST_APP_HEALTH_PATH)).toEqual({ status: 200, body: "ok\n" });
    expect(await get(user.port, "/cgi-bin/env?PORT")).toEqual({ status: 200, body: `${sha256(String(user.port))}\n` });

    // PID 1 forwards SIGTERM to httpd: docker stop needs no SIGKILL after its 10 s, and the exit is 0.
    const started = Date.now();
    await engine!.docker(["stop", "--time", "10", user.id]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await engine!.docker(["inspect", "--format", "{{.State.ExitCode}}", user.id])).stdout.trim()).toBe("0");
    await expect(get(user.port, "/")).rejects.toThrow();
  });
});
