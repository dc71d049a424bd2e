/**
 * "A user's own application" for end-to-end tests: two small images the tests build themselves
 * with the controller's own Docker engine, from Debian packages only (busybox-static, docker.io),
 * instead of the project's demo image. No registry and no network: the rootfs is made here and
 * imported, and v2 is a classic `docker build` on top of v1.
 *
 * What the image does (`longshore-test-app:1` and `:2`), as seen over HTTP on `${PORT:-8080}`:
 *
 * | Request                     | Status | Body (exact bytes)                                                  |
 * |-----------------------------|--------|---------------------------------------------------------------------|
 * | `GET /`                     | 200    | {@link testAppRootBody}: `longshore test app <version>[ <greeting>]\n` |
 * | `GET /cgi-bin/healthz`      | 200    | `ok\n`                                                              |
 * |   … if `UNHEALTHY` is set non-empty or `/tmp/unhealthy` exists | 500 | `unhealthy\n`                        |
 * | `GET /cgi-bin/env?NAME`     | 200    | lowercase hex sha256 of the value's bytes + `\n`, or `unset\n`      |
 * |   … NAME not `[A-Za-z_][A-Za-z0-9_]*`                          | 400 | `invalid name\n`                     |
 * | `GET /cgi-bin/whoami`       | 200    | `uid=<uid of the serving process>\n`                                |
 * | anything else               | 404    | (not part of the contract)                                          |
 *
 * `/cgi-bin/env` and the `UNHEALTHY` check read the environment `/app/serve` was started with, which
 * it copies at start, one file per variable, into `/tmp/app/env/` (mode 0600, the serving user's):
 * busybox httpd's CGI children do inherit the environment, but with the CGI variables
 * (QUERY_STRING, HTTP_<request header>, ...) on top, so a request could otherwise shadow a value.
 * Values are exact bytes (spaces, quotes, `$`, backslashes, `=`, UTF-8; anything but NUL).
 *
 * The health path is `/cgi-bin/healthz` ({@link TEST_APP_HEALTH_PATH}), not `/healthz`: Debian's
 * busybox httpd runs CGI only under `/cgi-bin/` (a URL without a `.suffix` cannot use an
 * interpreter mapping, a directory answers 302, and the reverse-proxy `P:` directive that could map
 * a path is not compiled in), and a static file could only say 200 or 404, never 500.
 * `GET /healthz` answers 404, on purpose, so that nobody mistakes a static page for the check.
 *
 * The container runs `/app/serve [GREETING...]` (the image's CMD, no ENTRYPOINT: give a greeting as
 * `command: ["/app/serve", "hello", "world"]`). It is PID 1, runs `busybox httpd -f` as its child,
 * forwards SIGTERM/SIGINT to it and exits 0 after such a signal. It works as root and as any other
 * user (`--user 1000:1000`; `/etc/passwd` has `app` = 1000:1000 with home `/home/app`).
 *
 * The engine helpers here start a private dockerd (own data-root, exec-root, pidfile, socket and
 * containerd) that never touches iptables, the FORWARD policy, `/etc/docker` or an existing engine.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The port the app listens on unless the container's `PORT` variable says otherwise. */
export const TEST_APP_PORT = 8080;

/**
 * The path of the app's health check: `/cgi-bin/healthz`, because busybox httpd cannot run a CGI
 * at `/healthz` (see the module comment). Give it as the app's `health.path` in tests.
 */
export const TEST_APP_HEALTH_PATH = "/cgi-bin/healthz";

/** The repository both images are tagged in: `longshore-test-app:1` and `longshore-test-app:2`. */
export const TEST_APP_REPOSITORY = "longshore-test-app";

/** One built image and its `docker save` archive. */
export interface TestAppImage {
  /** `longshore-test-app:1` or `longshore-test-app:2`. */
  repoTag: string;
  /** `sha256:<64 hex>`: the ID `docker load` of {@link archive} gives on any engine. */
  imageId: string;
  /** Absolute path of the `docker save` tar (holds every layer, so it loads on an empty engine). */
  archive: string;
  /** What `GET /` says after "longshore test app": `"1"` or `"2"`. */
  version: string;
}

/** Both images, from the cache directory. */
export interface TestAppImages {
  v1: TestAppImage;
  v2: TestAppImage;
  /** The cache directory used (the images are in `<cacheDir>/test-app-images/<recipeHash>/`). */
  cacheDir: string;
  /** The directory holding `v1.tar`, `v2.tar` and `meta.json`. */
  dir: string;
  /** Hash of the recipe (this helper's scripts and steps) and of `/bin/busybox`. */
  recipeHash: string;
  /** True when nothing was built: the directory was already complete (no engine was started). */
  fromCache: boolean;
}

/** Options of {@link buildTestAppImages}. */
export interface BuildTestAppImagesOptions {
  /** @default `process.env.LONGSHORE_CACHE_DIR ?? <repo>/.longshore/cache` */
  cacheDir?: string;
  /** Progress lines ("test-app: ...", "engine: ..."); nothing is printed without it. */
  log?: (line: string) => void;
}

/**
 * The exact body of `GET /`: `longshore test app <version>\n` without a greeting, otherwise
 * `longshore test app <version> <greeting>\n`, the greeting being `/app/serve`'s arguments joined
 * by single spaces (bytes as given, nothing trimmed).
 */
export function testAppRootBody(version: string, greeting: readonly string[] = []): string {
  const joined = greeting.join(" ");
  return joined === "" ? `longshore test app ${version}\n` : `longshore test app ${version} ${joined}\n`;
}

// ---------------------------------------------------------------------------------------------
// The recipe. Every text below goes into the recipe hash, so editing a script invalidates the cache
// by itself; bump RECIPE_VERSION when a build step changes without a text changing.

const RECIPE_VERSION = "longshore-test-app recipe 1";

const BUSYBOX = "/bin/busybox";
const DOCKERD = "/usr/sbin/dockerd";
const CONTAINERD = "/usr/bin/containerd";
// Debian's client, the same version as the engine: the `docker` first on PATH may be another one.
const DOCKER_CLI = "/usr/bin/docker";
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Every engine directory is `<tmp>/longshore-engine-XXXXXX`; the reaper looks for this prefix. */
const ENGINE_PREFIX = "longshore-engine-";

/** Shared by the CGI scripts: the state `/app/serve` keeps for them. */
const STATE_DIR = "/tmp/app";

const SERVE = `#!/bin/sh
# longshore test app, PID 1: /app/serve [GREETING...]
# Serves /www with busybox httpd on \${PORT:-8080}; see test/helpers/app-image.ts for the endpoints.
umask 077
# The environment is saved from the kernel's copy below, so this does not change what is reported;
# it only keeps the app working whatever PATH it is given.
PATH=/bin
export PATH
state=${STATE_DIR}
# Fresh on every start: a restarted container keeps its /tmp.
rm -rf "$state" || exit 1
mkdir -p "$state/env" || exit 1
# The CGI scripts must see this process's environment exactly. httpd's CGI children inherit it,
# but with CGI variables on top (QUERY_STRING, HTTP_<request header>, PATH_INFO, ...) and the
# shell's own changes (PWD, SHLVL), so a request could shadow a value. Keep one file per variable,
# holding the raw bytes of its value, read from the kernel's copy (NUL-separated, so any byte but
# NUL survives). The first entry of a name wins, as with getenv().
xargs -0 -r sh -c '
  dir=$0
  for entry do
    name=\${entry%%=*}
    [ "$name" != "$entry" ] || continue
    case $name in ""|[!A-Za-z_]*|*[!A-Za-z0-9_]*) continue ;; esac
    [ -e "$dir/$name" ] || printf "%s" "\${entry#*=}" > "$dir/$name" || exit 1
  done
' "$state/env" < /proc/$$/environ || exit 1
printf '%s' "$*" > "$state/greeting" || exit 1

# A PID 1 shell ignores SIGTERM unless it handles it: forward it (and SIGINT) to httpd.
stopping=
child=
trap 'stopping=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM INT
/bin/busybox httpd -f -p "\${PORT:-${TEST_APP_PORT}}" -h /www &
child=$!
[ -z "$stopping" ] || kill -TERM "$child" 2>/dev/null
while :; do
  wait "$child"
  status=$?
  # wait also returns when a trapped signal arrives; only a gone child ends the loop.
  kill -0 "$child" 2>/dev/null || break
done
[ -z "$stopping" ] || exit 0
exit "$status"
`;

const INDEX_CGI = `#!/bin/sh
# GET / : busybox httpd runs /cgi-bin/index.cgi for any directory URL without an index.html,
# so anything but "/" itself is a 404 here.
PATH=/bin
case \${REQUEST_URI%%\\?*} in
  /) ;;
  *) printf 'Status: 404 Not Found\\r\\nContent-Type: text/plain\\r\\n\\r\\nnot found\\n'; exit 0 ;;
esac
read -r version < /app/version
printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'
printf 'longshore test app %s' "$version"
# cat, not $(...): a command substitution would drop trailing newlines of the greeting.
if [ -s ${STATE_DIR}/greeting ]; then printf ' '; cat ${STATE_DIR}/greeting; fi
printf '\\n'
`;

const HEALTHZ_CGI = `#!/bin/sh
# GET /cgi-bin/healthz : 500 while UNHEALTHY is non-empty or /tmp/unhealthy exists.
PATH=/bin
if [ -s ${STATE_DIR}/env/UNHEALTHY ] || [ -e /tmp/unhealthy ]; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nunhealthy\\n'
else
  printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'
fi
`;

const ENV_CGI = `#!/bin/sh
# GET /cgi-bin/env?NAME : sha256 of the app's NAME value, never the value itself.
PATH=/bin
name=$QUERY_STRING
case $name in
  ""|[!A-Za-z_]*|*[!A-Za-z0-9_]*)
    printf 'Status: 400 Bad Request\\r\\nContent-Type: text/plain\\r\\n\\r\\ninvalid name\\n'
    exit 0 ;;
esac
file=${STATE_DIR}/env/$name
if [ ! -f "$file" ]; then
  printf 'Content-Type: text/plain\\r\\n\\r\\nunset\\n'
  exit 0
fi
sum=$(sha256sum < "$file") || sum=
sum=\${sum%% *}
if [ -z "$sum" ]; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nsha256sum failed\\n'
  exit 0
fi
printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "$sum"
`;

const WHOAMI_CGI = `#!/bin/sh
# GET /cgi-bin/whoami : the uid httpd (and so its CGI children) runs as.
PATH=/bin
printf 'Content-Type: text/plain\\r\\n\\r\\nuid=%s\\n' "$(id -u)"
`;

const PASSWD = `root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;

const GROUP = `root:x:0:
app:x:1000:
nogroup:x:65534:
`;

/** One file or directory of a busybox image's rootfs, relative to its root; see {@link writeBusyboxRootfs}. */
export interface RootfsEntry {
  path: string;
  kind: "dir" | "file";
  mode: number;
  uid: number;
  content?: string;
}

/** Everything in v1's rootfs except /bin (busybox and its applet links). */
const ROOTFS: readonly RootfsEntry[] = [
  { path: "app", kind: "dir", mode: 0o755, uid: 0 },
  { path: "app/serve", kind: "file", mode: 0o755, uid: 0, content: SERVE },
  { path: "app/version", kind: "file", mode: 0o644, uid: 0, content: "1\n" },
  { path: "etc", kind: "dir", mode: 0o755, uid: 0 },
  { path: "etc/passwd", kind: "file", mode: 0o644, uid: 0, content: PASSWD },
  { path: "etc/group", kind: "file", mode: 0o644, uid: 0, content: GROUP },
  { path: "home", kind: "dir", mode: 0o755, uid: 0 },
  { path: "home/app", kind: "dir", mode: 0o755, uid: 1000 },
  { path: "root", kind: "dir", mode: 0o700, uid: 0 },
  // 1777: the app writes its state here whichever user it runs as.
  { path: "tmp", kind: "dir", mode: 0o1777, uid: 0 },
  { path: "www", kind: "dir", mode: 0o755, uid: 0 },
  { path: "www/cgi-bin", kind: "dir", mode: 0o755, uid: 0 },
  { path: "www/cgi-bin/index.cgi", kind: "file", mode: 0o755, uid: 0, content: INDEX_CGI },
  { path: "www/cgi-bin/healthz", kind: "file", mode: 0o755, uid: 0, content: HEALTHZ_CGI },
  { path: "www/cgi-bin/env", kind: "file", mode: 0o755, uid: 0, content: ENV_CGI },
  { path: "www/cgi-bin/whoami", kind: "file", mode: 0o755, uid: 0, content: WHOAMI_CGI },
];

/**
 * The test app's scripts and user files, for other busybox images that must behave the same way
 * (test/helpers/compose-app-images.ts): `serve` is `/app/serve` (saves the environment, runs httpd
 * on /www), `envCgi` and `healthzCgi` the `/cgi-bin/env` and `/cgi-bin/healthz` scripts, both
 * reading what `serve` saved. Changing one changes the recipe hash of every image that uses it.
 */
export const TEST_APP_SCRIPTS = { serve: SERVE, envCgi: ENV_CGI, healthzCgi: HEALTHZ_CGI, passwd: PASSWD, group: GROUP } as const;

const IMPORT_CHANGES = ['CMD ["/app/serve"]', `EXPOSE ${TEST_APP_PORT}`, "WORKDIR /"];

const V2_DOCKERFILE = `FROM ${TEST_APP_REPOSITORY}:1
COPY version /app/version
`;
const V2_VERSION_FILE = "2\n";

// ---------------------------------------------------------------------------------------------
// Processes

/** What a finished command gave. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link ControllerEngine.docker}. */
export interface DockerCallOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** @default 120_000; the process is killed by PID (SIGKILL) after it. */
  timeoutMs?: number;
  /** Extra variables on top of the clean client environment. */
  env?: Record<string, string>;
  /** Throw unless the exit code is 0. @default true */
  check?: boolean;
}

/**
 * Runs `command` (no shell) and collects its output; rejects only when it cannot be started or
 * was killed (by PID, SIGKILL) after `timeoutMs` (default 120 s). A non-zero exit resolves.
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killQuietly(child.pid, "SIGKILL");
    }, opts.timeoutMs ?? 120_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
      if (timedOut) reject(new Error(`${command} ${args.join(" ")}: killed after ${opts.timeoutMs ?? 120_000} ms\n${result.stderr}`));
      else resolve(result);
    });
    // EPIPE when the command exits without reading its input is reported by "close" already.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; by the child's own PID only. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  killQuietly(child.pid, "SIGTERM");
  if (await waitForExit(child, graceMs)) return;
  killQuietly(child.pid, "SIGKILL");
  if (!(await waitForExit(child, 10_000))) throw new Error(`PID ${child.pid} survived SIGKILL`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// Children still running when the test process exits (a test forgot stop(), or threw before
// registering it) would outlive it; a synchronous last-chance kill by PID is all "exit" allows.
const liveChildren = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of liveChildren) if (child.pid !== undefined && !exited(child)) killQuietly(child.pid, "SIGKILL");
});

// ---------------------------------------------------------------------------------------------
// The controller's own engine

/** A private Docker engine on this machine; see {@link startControllerEngine}. */
export interface ControllerEngine {
  /** Path of dockerd's API socket. */
  socket: string;
  /** `unix://<socket>`, for `docker -H`. */
  host: string;
  /** dockerd's PID. */
  pid: number;
  /** The engine's temporary directory (data-root, exec-root, containerd, logs); removed by stop(). */
  dir: string;
  /**
   * Runs Debian's docker client (`/usr/bin/docker -H <host> ...args`) with a clean environment
   * (own DOCKER_CONFIG, no DOCKER_HOST/CONTEXT, DOCKER_BUILDKIT=0). Throws on a non-zero exit
   * unless `check: false`.
   */
  docker(args: readonly string[], opts?: DockerCallOptions): Promise<CommandResult>;
  /**
   * Removes every container, stops dockerd and then containerd by PID (SIGTERM, SIGKILL after a
   * timeout), kills any shim left behind, unmounts what is left under {@link dir} and removes it.
   * Safe to call twice.
   */
  stop(): Promise<void>;
}

/** Options of {@link startControllerEngine}. */
export interface StartControllerEngineOptions {
  log?: (line: string) => void;
  /** @default 60_000 */
  readyTimeoutMs?: number;
}

function requireExecutable(file: string, debianPackage: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: install the Debian package ${debianPackage}`);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Starts a private dockerd for this process: its own containerd, data-root, exec-root, pidfile and
 * API socket, all in one new temporary directory, with `--iptables=false --ip6tables=false
 * --ip-forward=false --ip-masq=false --bridge=none` so that no firewall rule, sysctl or FORWARD
 * policy changes. Containers get no bridge: use `--network host` (needs no iptables) and pick a
 * free port with the app's `PORT` variable. Resolves once `docker version` answers.
 *
 * Containers' cgroups go under `/<basename of dir>` in each hierarchy (cgroupfs driver), removed by
 * stop(). Outside its directory the engine only leaves the empty directories `/run/docker/plugins`
 * and `/run/containerd/s`, paths dockerd 20.10 and containerd 1.6 hard-code (plugin and shim
 * sockets) and that a system engine uses too. Needs root, like any dockerd.
 */
export async function startControllerEngine(options: StartControllerEngineOptions = {}): Promise<ControllerEngine> {
  const log = options.log ?? (() => undefined);
  if (process.getuid?.() !== 0) throw new Error("startControllerEngine needs root (dockerd does)");
  requireExecutable(DOCKERD, "docker.io");
  requireExecutable(CONTAINERD, "containerd");
  requireExecutable(DOCKER_CLI, "docker.io");

  // Unix socket paths are limited to 108 bytes, and the shim's is longer than ours: a long TMPDIR
  // would break containerd, so fall back to /tmp.
  const base = os.tmpdir().length <= 40 ? os.tmpdir() : "/tmp";
  await reapOrphanedEngines(base, log);
  const dir = fs.mkdtempSync(path.join(base, ENGINE_PREFIX));
  // Who owns this engine, so that a later start can stop it if this process dies without stop().
  fs.writeFileSync(path.join(dir, "owner.json"), JSON.stringify({ pid: process.pid, start: processStart(process.pid) }) + "\n");
  const ctd = path.join(dir, "containerd");
  const socket = path.join(dir, "docker.sock");
  const host = `unix://${socket}`;
  const ctdSocket = path.join(ctd, "containerd.sock");
  const cgroupParent = path.basename(dir);
  fs.mkdirSync(ctd, { mode: 0o700 });
  fs.mkdirSync(path.join(dir, "client"), { mode: 0o700 });

  // Our own containerd rather than the one dockerd would supervise: that one puts its "opt" plugin
  // in /opt/containerd, and here every path is ours.
  fs.writeFileSync(
    path.join(ctd, "config.toml"),
    [
      "version = 2",
      `root = ${JSON.stringify(path.join(ctd, "root"))}`,
      `state = ${JSON.stringify(path.join(ctd, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = ${JSON.stringify(ctdSocket)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${ctdSocket}.ttrpc`)}`,
      "[debug]",
      '  address = ""',
      "[metrics]",
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(path.join(ctd, "opt"))}`,
      "",
    ].join("\n"),
  );
  // An explicit (nearly empty) config file keeps dockerd away from /etc/docker/daemon.json, and
  // without "deprecated-key-path" dockerd 20.10 writes its identity key to /etc/docker/key.json.
  fs.writeFileSync(path.join(dir, "daemon.json"), JSON.stringify({ "deprecated-key-path": path.join(dir, "key.json") }) + "\n");

  const daemonEnv: NodeJS.ProcessEnv = { PATH: SYSTEM_PATH, HOME: dir, LANG: "C.UTF-8" };
  const clientEnv: NodeJS.ProcessEnv = {
    PATH: SYSTEM_PATH,
    HOME: dir,
    LANG: "C.UTF-8",
    // An empty client config: credential helpers in ~/.docker/config.json (docker build asks them
    // for every registry) must not run.
    DOCKER_CONFIG: path.join(dir, "client"),
    DOCKER_BUILDKIT: "0",
  };

  const children: ChildProcess[] = [];
  const startChild = (name: string, command: string, args: string[]): ChildProcess => {
    const logFd = fs.openSync(path.join(dir, `${name}.log`), "a");
    try {
      const child = spawn(command, args, { env: daemonEnv, stdio: ["ignore", logFd, logFd] });
      child.on("error", () => undefined); // reported through exitCode/"exit" and the log
      if (child.pid !== undefined) fs.writeFileSync(path.join(dir, `${name}.pid`), `${child.pid}\n`);
      children.push(child);
      liveChildren.add(child);
      child.once("exit", () => liveChildren.delete(child));
      return child;
    } finally {
      fs.closeSync(logFd);
    }
  };

  let stopped = false;
  let dockerd: ChildProcess | undefined;
  const docker = async (args: readonly string[], opts: DockerCallOptions = {}): Promise<CommandResult> => {
    const result = await run(DOCKER_CLI, ["-H", host, ...args], {
      env: { ...clientEnv, ...opts.env },
      input: opts.input,
      timeoutMs: opts.timeoutMs,
    });
    if ((opts.check ?? true) && result.code !== 0) {
      throw new Error(`docker ${args.join(" ")}: exit ${result.code ?? result.signal}\n${result.stderr.trim()}`);
    }
    return result;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    if (dockerd && !exited(dockerd)) {
      // dockerd stops containers itself on SIGTERM, but only within its shutdown timeout, and a
      // SIGKILLed dockerd would leave them (and their shims) running.
      try {
        const ids = (await docker(["ps", "-aq"], { timeoutMs: 30_000 })).stdout.split("\n").filter(Boolean);
        if (ids.length > 0) await docker(["rm", "-f", ...ids], { timeoutMs: 60_000 });
      } catch (e) {
        problems.push(`removing containers: ${(e as Error).message}`);
      }
    }
    // dockerd first: it still talks to containerd while it shuts down.
    for (const child of [...children].reverse()) {
      try {
        await stopChild(child, 20_000);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    killLeftoverShims(ctdSocket, log);
    try {
      removeCgroups(cgroupParent);
    } catch (e) {
      problems.push((e as Error).message);
    }
    try {
      unmountUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      problems.push((e as Error).message);
    }
    log(`engine: stopped, ${dir} ${fs.existsSync(dir) ? "NOT removed" : "removed"}`);
    if (problems.length > 0) throw new Error(`stopping the engine in ${dir}:\n${problems.join("\n")}`);
  };

  try {
    const containerd = startChild("containerd", CONTAINERD, ["--config", path.join(ctd, "config.toml")]);
    await waitUntil(options.readyTimeoutMs ?? 60_000, async () => {
      if (exited(containerd)) throw new Error(`containerd exited (${containerd.exitCode ?? containerd.signalCode}):\n${tail(path.join(dir, "containerd.log"))}`);
      return fs.existsSync(ctdSocket);
    });
    const daemon = startChild("dockerd", DOCKERD, [
      "--config-file", path.join(dir, "daemon.json"),
      "--containerd", ctdSocket,
      "--data-root", path.join(dir, "data"),
      "--exec-root", path.join(dir, "exec"),
      // Not dockerd.pid: that one startChild writes at spawn time, before dockerd writes its own.
      "--pidfile", path.join(dir, "docker.pid"),
      "--host", host,
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--bridge=none",
      // Containers' cgroups under a parent of our own (not the /docker a system engine uses),
      // removed by stop(). cgroupfs, so the parent is a plain path whatever the init system.
      "--exec-opt", "native.cgroupdriver=cgroupfs",
      "--cgroup-parent", `/${cgroupParent}`,
    ]);
    dockerd = daemon;
    if (daemon.pid === undefined) throw new Error(`dockerd did not start:\n${tail(path.join(dir, "dockerd.log"))}`);
    log(`engine: dockerd PID ${daemon.pid}, containerd PID ${containerd.pid}, in ${dir}`);
    await waitUntil(options.readyTimeoutMs ?? 60_000, async () => {
      if (exited(daemon)) throw new Error(`dockerd exited (${daemon.exitCode ?? daemon.signalCode}):\n${tail(path.join(dir, "dockerd.log"))}`);
      if (!fs.existsSync(socket)) return false;
      const v = await docker(["version", "--format", "{{.Server.Version}}"], { check: false, timeoutMs: 10_000 });
      return v.code === 0;
    });
    log("engine: ready");
    return { socket, host, pid: daemon.pid, dir, docker, stop };
  } catch (e) {
    try {
      await stop();
    } catch (cleanup) {
      log(`engine: cleanup after a failed start: ${(cleanup as Error).message}`);
    }
    throw e;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or null when the process is gone or a zombie. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in (...) may hold spaces and parentheses: fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? null : (fields[19] ?? null);
  } catch {
    return null;
  }
}

/** SIGTERM, then SIGKILL, for a process that is not our child (so only polling tells its end). */
async function terminatePid(pid: number, graceMs: number): Promise<void> {
  for (const [signal, waitMs] of [["SIGTERM", graceMs], ["SIGKILL", 10_000]] as const) {
    killQuietly(pid, signal);
    const deadline = Date.now() + waitMs;
    while (processStart(pid) !== null && Date.now() < deadline) await sleep(100);
    if (processStart(pid) === null) return;
  }
}

/**
 * Stops and removes engines whose owning process died without stop() (SIGKILL, a crashed worker):
 * their dockerd and containerd would otherwise run on and keep their mounts. Only directories with
 * our prefix and an owner.json whose process is gone (PID and start time) are touched, and only
 * processes whose command line names that directory are signalled.
 */
async function reapOrphanedEngines(base: string, log: (line: string) => void): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(base).filter((n) => n.startsWith(ENGINE_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(base, name);
    let owner: { pid: number; start: string | null };
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, "owner.json"), "utf8")) as { pid: number; start: string | null };
    } catch {
      continue; // not ours, or its owner is still creating it
    }
    const ownerStart = processStart(owner.pid);
    if (ownerStart !== null && ownerStart === owner.start) continue;
    log(`engine: reaping ${dir}, left behind by PID ${owner.pid}`);
    for (const file of ["dockerd.pid", "containerd.pid"]) {
      let pid: number;
      try {
        pid = Number(fs.readFileSync(path.join(dir, file), "utf8").trim());
      } catch {
        continue;
      }
      let cmdline = "";
      try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      // PIDs are reused: only the process started for this directory.
      if (pid > 1 && cmdline.includes(dir)) await terminatePid(pid, 20_000);
    }
    killLeftoverShims(path.join(dir, "containerd", "containerd.sock"), log);
    try {
      removeCgroups(name);
      unmountUnder(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      log(`engine: could not reap ${dir}: ${(e as Error).message}`);
    }
  }
}

async function waitUntil(timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Mount points at or under `dir`, deepest first (from /proc/self/mountinfo, escapes decoded). */
function mountsUnder(dir: string): string[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(decode)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * dockerd leaves a bind mount of the host's network namespace (exec-root/netns/default), and a
 * killed engine can leave overlay mounts: unmount them, so that removing the directory never
 * reaches into another filesystem.
 */
export function unmountUnder(dir: string): void {
  for (const mountPoint of mountsUnder(dir)) {
    if (spawnSync("umount", [mountPoint], { stdio: "ignore" }).status !== 0) {
      spawnSync("umount", ["-l", mountPoint], { stdio: "ignore" });
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted, not removing ${dir}: ${left.join(", ")}`);
}

/**
 * Removes the engine's cgroup parent from every cgroup hierarchy, deepest first. rmdir only: a
 * cgroup that still holds a process refuses it (EBUSY), which is reported, never forced.
 */
function removeCgroups(parent: string): void {
  const mountPoints = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    // Fields: 3 = root of the mount within the hierarchy, 4 = mount point; fstype after " - ".
    .filter((f) => f[3] === "/" && ["cgroup", "cgroup2"].includes(f[f.indexOf("-") + 1] ?? ""))
    .map((f) => f[4]!);
  const failed: string[] = [];
  const remove = (p: string) => {
    for (const entry of fs.readdirSync(p, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(p, entry.name));
    try {
      fs.rmdirSync(p);
    } catch (e) {
      failed.push(`${p}: ${(e as NodeJS.ErrnoException).code}`);
    }
  };
  for (const mountPoint of mountPoints) {
    const p = path.join(mountPoint, parent);
    if (fs.existsSync(p)) remove(p);
  }
  if (failed.length > 0) throw new Error(`cgroups not removed: ${failed.join(", ")}`);
}

/** Shims of our containerd (found by its socket on their command line) and their descendants. */
function killLeftoverShims(ctdSocket: string, log: (line: string) => void): void {
  const procs = new Map<number, { ppid: number; argv: string[] }>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      // The command name in (...) may hold spaces and parentheses: fields start after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      procs.set(Number(name), { ppid, argv });
    } catch {
      // Exited meanwhile.
    }
  }
  const shims = [...procs].filter(([, p]) => path.basename(p.argv[0] ?? "").startsWith("containerd-shim") && p.argv.includes(ctdSocket)).map(([pid]) => pid);
  if (shims.length === 0) return;
  const doomed: number[] = [];
  const collect = (pid: number) => {
    for (const [child, p] of procs) if (p.ppid === pid) collect(child);
    doomed.push(pid); // children before parents
  };
  shims.forEach(collect);
  log(`engine: killing leftover shim processes ${doomed.join(" ")}`);
  for (const pid of doomed) killQuietly(pid, "SIGKILL");
}

// ---------------------------------------------------------------------------------------------
// Building and caching

/** The repository root, for the default cache directory. */
const REPO = path.resolve(__dirname, "../..");

interface Meta {
  recipeHash: string;
  busyboxSha256: string;
  engineVersion: string;
  builtAt: string;
  images: Record<"v1" | "v2", { repoTag: string; imageId: string; archive: string; bytes: number; version: string }>;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Throws unless `file` is an ELF executable without a PT_INTERP program header (statically linked). */
export function assertStaticElf(file: string): void {
  const buf = fs.readFileSync(file);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const phoff = is64 ? Number(le ? buf.readBigUInt64LE(0x20) : buf.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === PT_INTERP) {
      throw new Error(`${file} is dynamically linked: install busybox-static (the image has no libc)`);
    }
  }
}

function recipeHashOf(busyboxSha256: string): string {
  const recipe = JSON.stringify({ RECIPE_VERSION, ROOTFS, IMPORT_CHANGES, V2_DOCKERFILE, V2_VERSION_FILE, busyboxSha256 });
  return sha256(recipe).slice(0, 16);
}

/** The images in `dir`, or null unless meta.json and both archives (of the recorded size) are there. */
function readComplete(dir: string, cacheDir: string, recipeHash: string): TestAppImages | null {
  let meta: Meta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8")) as Meta;
  } catch {
    return null;
  }
  if (meta.recipeHash !== recipeHash) return null;
  const image = (key: "v1" | "v2"): TestAppImage | null => {
    const m = meta.images?.[key];
    if (!m || !/^sha256:[0-9a-f]{64}$/.test(m.imageId)) return null;
    const archive = path.join(dir, m.archive);
    try {
      if (fs.statSync(archive).size !== m.bytes) return null;
    } catch {
      return null;
    }
    return { repoTag: m.repoTag, imageId: m.imageId, archive, version: m.version };
  };
  const v1 = image("v1");
  const v2 = image("v2");
  return v1 && v2 ? { v1, v2, cacheDir, dir, recipeHash, fromCache: true } : null;
}

/**
 * An exclusive `flock` on `lockFile`, held by a child process for as long as `fn` runs. The child
 * holds it through `cat` on a pipe from us, so the lock goes away with this process even if it
 * dies without cleaning up (the pipe closes, cat and flock exit). `label` prefixes the "waiting"
 * log line.
 */
export async function withFileLock<T>(lockFile: string, log: (line: string) => void, fn: () => Promise<T>, label = "test-app"): Promise<T> {
  const holder = spawn("flock", ["-x", lockFile, "sh", "-c", "echo locked; exec cat"], { stdio: ["pipe", "pipe", "pipe"] });
  liveChildren.add(holder);
  holder.once("exit", () => liveChildren.delete(holder));
  holder.stdin.on("error", () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      let stderr = "";
      const waiting = setTimeout(() => log(`${label}: waiting for ${lockFile} (another build holds it)`), 1000);
      const giveUp = setTimeout(() => reject(new Error(`no lock on ${lockFile} within 20 minutes`)), 20 * 60_000);
      const done = () => {
        clearTimeout(waiting);
        clearTimeout(giveUp);
      };
      holder.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      holder.stdout.on("data", (b: Buffer) => {
        if (b.toString().includes("locked")) {
          done();
          resolve();
        }
      });
      holder.once("error", (e) => {
        done();
        reject(e);
      });
      holder.once("exit", (code) => {
        done();
        reject(new Error(`flock ${lockFile} exited ${code}: ${stderr.trim()}`));
      });
    });
    return await fn();
  } finally {
    holder.stdin.end();
    if (!(await waitForExit(holder, 5000)) && holder.pid !== undefined) {
      killQuietly(holder.pid, "SIGKILL");
      await waitForExit(holder, 5000);
    }
  }
}

/**
 * Builds `longshore-test-app:1` and `:2` with a private engine ({@link startControllerEngine}), or
 * reuses them from `<cacheDir>/test-app-images/<recipeHash>/` (`v1.tar`, `v2.tar`, `meta.json`).
 * A cache hit reads meta.json and two file sizes, hashes /bin/busybox and starts nothing.
 *
 * v1 is a busybox-static rootfs made here and `docker import`ed (CMD ["/app/serve"], EXPOSE 8080);
 * v2 is `DOCKER_BUILDKIT=0 docker build` of `FROM longshore-test-app:1` + `COPY version
 * /app/version`, so it shares v1's layer. Each is `docker save`d; the image IDs come from
 * `docker image inspect`. Concurrent callers (processes or not) serialise on a flock per recipe;
 * results are written in a temporary directory and renamed into place.
 */
export async function buildTestAppImages(options: BuildTestAppImagesOptions = {}): Promise<TestAppImages> {
  const log = options.log ?? (() => undefined);
  const cacheDir = path.resolve(options.cacheDir ?? process.env.LONGSHORE_CACHE_DIR ?? path.join(REPO, ".longshore", "cache"));
  const busyboxSha256 = sha256(fs.readFileSync(BUSYBOX));
  const recipeHash = recipeHashOf(busyboxSha256);
  const root = path.join(cacheDir, "test-app-images");
  const dir = path.join(root, recipeHash);

  const hit = readComplete(dir, cacheDir, recipeHash);
  if (hit) {
    log(`test-app: cache hit ${dir}`);
    return hit;
  }
  fs.mkdirSync(root, { recursive: true });
  return withFileLock(path.join(root, `${recipeHash}.lock`), log, async () => {
    // Another caller may have finished while we waited for the lock.
    const built = readComplete(dir, cacheDir, recipeHash);
    if (built) {
      log(`test-app: cache hit ${dir} (built by another caller)`);
      return built;
    }
    // Only the lock holder writes these, so any left over are from a build that died.
    for (const name of fs.readdirSync(root)) {
      if (name.startsWith(`.tmp-${recipeHash}-`) || name.startsWith(`.stale-${recipeHash}-`)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
    const work = path.join(root, `.tmp-${recipeHash}-${process.pid}-${randomBytes(4).toString("hex")}`);
    fs.mkdirSync(work);
    try {
      const started = Date.now();
      log(`test-app: building in ${work}`);
      assertStaticElf(BUSYBOX);
      const meta = await buildInto(work, recipeHash, busyboxSha256, log);
      fs.writeFileSync(path.join(work, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
      if (fs.existsSync(dir)) {
        // Incomplete (readComplete said so): move it out of the way atomically, then delete it.
        const stale = path.join(root, `.stale-${recipeHash}-${process.pid}`);
        fs.renameSync(dir, stale);
        fs.rmSync(stale, { recursive: true, force: true });
      }
      fs.renameSync(work, dir);
      log(`test-app: built in ${Date.now() - started} ms: ${dir}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    const result = readComplete(dir, cacheDir, recipeHash);
    if (!result) throw new Error(`test-app: ${dir} is incomplete right after the build`);
    return { ...result, fromCache: false };
  });
}

/** Writes v1.tar and v2.tar into `work` and returns their metadata; `work`'s scratch is removed. */
async function buildInto(work: string, recipeHash: string, busyboxSha256: string, log: (line: string) => void): Promise<Meta> {
  const scratch = path.join(work, "scratch");
  const rootfs = path.join(scratch, "rootfs");
  fs.mkdirSync(rootfs, { recursive: true });
  writeRootfs(rootfs);
  const rootfsTar = path.join(scratch, "rootfs.tar");
  // Sorted, fixed mtimes and numeric owners: the same recipe gives the same layer bytes.
  const tar = await run("tar", ["--sort=name", "--mtime=@0", "--numeric-owner", "-C", rootfs, "-cf", rootfsTar, "."], { env: { PATH: SYSTEM_PATH } });
  if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`);

  const context = path.join(scratch, "v2");
  fs.mkdirSync(context);
  fs.writeFileSync(path.join(context, "Dockerfile"), V2_DOCKERFILE);
  fs.writeFileSync(path.join(context, "version"), V2_VERSION_FILE);

  const engine = await startControllerEngine({ log });
  let failure: unknown;
  try {
    const tag1 = `${TEST_APP_REPOSITORY}:1`;
    const tag2 = `${TEST_APP_REPOSITORY}:2`;
    await engine.docker(["import", ...IMPORT_CHANGES.flatMap((c) => ["--change", c]), "--message", "longshore test app 1", rootfsTar, tag1]);
    log(`test-app: imported ${tag1}`);
    // --network none: the engine has no bridge, and COPY needs no network anyway.
    await engine.docker(["build", "--network", "none", "--tag", tag2, context], { timeoutMs: 300_000 });
    log(`test-app: built ${tag2}`);
    const images = {} as Meta["images"];
    for (const [key, tag, version] of [["v1", tag1, "1"], ["v2", tag2, "2"]] as const) {
      const archive = `${key}.tar`;
      await engine.docker(["save", "--output", path.join(work, archive), tag], { timeoutMs: 300_000 });
      const imageId = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", tag])).stdout.trim();
      // docker save writes 0600; the archives are inputs for uploads by whoever runs the tests.
      fs.chmodSync(path.join(work, archive), 0o644);
      images[key] = { repoTag: tag, imageId, archive, bytes: fs.statSync(path.join(work, archive)).size, version };
    }
    const engineVersion = (await engine.docker(["version", "--format", "{{.Server.Version}}"])).stdout.trim();
    return { recipeHash, busyboxSha256, engineVersion, builtAt: new Date().toISOString(), images };
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    try {
      await engine.stop();
    } catch (e) {
      // Do not hide the build's own error behind the cleanup's.
      if (failure === undefined) throw e;
      log(`test-app: ${(e as Error).message}`);
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** v1's rootfs: busybox with a link per applet in /bin, plus {@link ROOTFS}. */
function writeRootfs(root: string): void {
  writeBusyboxRootfs(root, ROOTFS);
}

/**
 * Fills the empty directory `root` with a busybox-static rootfs: `/bin/busybox` (copied from this
 * computer's `/bin/busybox`) with a symlink per applet in `/bin`, plus `entries` in order. Everything
 * is owned by root, except entries with another `uid` (uid = gid); modes are set exactly.
 */
export function writeBusyboxRootfs(root: string, entries: readonly RootfsEntry[]): void {
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, "bin"));
  fs.chmodSync(path.join(root, "bin"), 0o755);
  fs.copyFileSync(BUSYBOX, path.join(root, "bin", "busybox"));
  fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
  const list = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" });
  if (list.status !== 0) throw new Error(`busybox --list: ${list.stderr}`);
  // Every applet, so that `docker exec ... touch /tmp/unhealthy` and friends work too.
  for (const applet of list.stdout.split("\n")) {
    if (applet === "" || applet === "busybox" || applet.includes("/")) continue;
    fs.symlinkSync("busybox", path.join(root, "bin", applet));
  }
  for (const entry of entries) {
    const target = path.join(root, entry.path);
    if (entry.kind === "dir") fs.mkdirSync(target);
    else fs.writeFileSync(target, entry.content ?? "");
    // chmod after creating: the umask would have masked the mode (and the sticky bit of /tmp).
    fs.chmodSync(target, entry.mode);
  }
  // tar records what is on disk; chown explicitly rather than trust who runs the build.
  const chownTree = (p: string) => {
    fs.lchownSync(p, 0, 0);
    if (fs.lstatSync(p).isDirectory()) for (const name of fs.readdirSync(p)) chownTree(path.join(p, name));
  };
  chownTree(root);
  for (const entry of entries) if (entry.uid !== 0) fs.lchownSync(path.join(root, entry.path), entry.uid, entry.uid);
}
