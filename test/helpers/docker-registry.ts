/**
 * Debian's `docker-registry` (the CNCF distribution registry, v2 API) started by a test: its own
 * config file, storage in a temp dir, listening on one given address and a free port, optional
 * htpasswd basic auth (bcrypt, made with the system's libcrypt), stopped by PID.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** A running registry. */
export interface TestRegistry {
  /** `http://ADDRESS:PORT` */
  url: string;
  /** `ADDRESS:PORT`, as image references and `insecure-registries` write it. */
  hostPort: string;
  pid: number;
  dir: string;
  stop(): Promise<void>;
}

/** A TCP port free on `address` a moment ago. */
export function freePortOn(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, address, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A bcrypt htpasswd line (what the registry's htpasswd auth accepts). */
function htpasswdLine(user: string, password: string): string {
  const hash = execFileSync(
    "python3",
    ["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH)))"],
    { input: password, encoding: "utf8" },
  ).trim();
  if (!hash.startsWith("$2")) throw new Error(`libcrypt made no bcrypt hash: ${hash}`);
  return `${user}:${hash}\n`;
}

async function waitReady(url: string, child: ChildProcess, logFile: string, deadlineMs = 20_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
    try {
      const r = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${deadlineMs} ms: ${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
}

/** Starts a registry on `address` (a free port), with basic auth when `auth` is given. */
export async function startRegistry(address: string, auth?: { user: string; password: string }): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-registry-"));
  const port = await freePortOn(address);
  const storage = path.join(dir, "storage");
  fs.mkdirSync(storage);
  const config = [
    "version: 0.1",
    "log: { level: info, fields: { service: longshore-test-registry } }",
    `storage: { filesystem: { rootdirectory: ${storage} }, delete: { enabled: true } }`,
    `http: { addr: "${address}:${port}", secret: longshore-test }`,
  ];
  if (auth) {
    fs.writeFileSync(path.join(dir, "htpasswd"), htpasswdLine(auth.user, auth.password), { mode: 0o600 });
    config.push(`auth: { htpasswd: { realm: longshore-test, path: ${path.join(dir, "htpasswd")} } }`);
  }
  const configFile = path.join(dir, "config.yml");
  fs.writeFileSync(configFile, `${config.join("\n")}\n`);
  const logFile = path.join(dir, "registry.log");
  const log = fs.openSync(logFile, "a");
  const child = spawn("/usr/bin/docker-registry", ["serve", configFile], { stdio: ["ignore", log, log], detached: false });
  fs.closeSync(log);
  const url = `http://${address}:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      process.kill(child.pid!, "SIGTERM");
      const timer = setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(url, child, logFile);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, hostPort: `${address}:${port}`, pid: child.pid!, dir, stop };
}
