/**
 * The images of a small multi-service "shop" application, for end-to-end tests that run it with
 * `docker compose` (a web service, a worker and Redis). Built by the tests themselves with the
 * controller's own engine ({@link startControllerEngine}) from Debian packages only, and cached
 * as `docker save` archives under `<cacheDir>/compose-app-images/<recipeHash>/`.
 *
 * - `longshore-shop:1` and `:2`: one busybox-static image (no libc; like test/helpers/app-image.ts,
 *   whose `/app/serve`, `/cgi-bin/env` and `/cgi-bin/healthz` it reuses byte for byte) for two
 *   services: the web service (the default CMD, `/app/serve`: busybox httpd with CGI scripts) and
 *   the worker (`command: ["/app/worker"]`). Redis is spoken with busybox's `nc` applet, RESP
 *   written by hand. `:2` is `FROM longshore-shop:1` + `COPY version /app/version` (v1's layer
 *   shared, one layer more).
 * - `longshore-shop-redis:1` and `:2`: Debian bookworm's `redis-server` (debootstrap
 *   `--variant=minbase --include=redis-server` from this computer's Debian mirror, trimmed,
 *   `docker import`ed). `:2` is `FROM longshore-shop-redis:1` + a changed `/etc/shop-redis-version`.
 *
 * ## The shop over HTTP on `${PORT:-8080}` ({@link SHOP_PORT})
 *
 * | Request                        | Status | Body (exact bytes)                                                  |
 * |--------------------------------|--------|---------------------------------------------------------------------|
 * | `GET /cgi-bin/healthz`         | 200    | `ok\n` (never asks Redis)                                           |
 * |   … `UNHEALTHY` set non-empty or `/tmp/unhealthy` exists        | 500 | `unhealthy\n` (as the test app)      |
 * | `GET /`                        | 200    | `shop <version>\n` ({@link shopRootBody}): `shop 1\n` or `shop 2\n` |
 * | `GET /cgi-bin/visit`           | 200    | `INCR visits`'s new value + `\n` (`1\n`, `2\n`, ...)                |
 * | `GET /cgi-bin/put?KEY=VALUE`   | 200    | `stored\n` after `SET KEY VALUE`                                    |
 * |   … KEY or VALUE empty or not `[A-Za-z0-9_-]+`, or no `=`        | 400 | `invalid key or value\n`            |
 * | `GET /cgi-bin/get?KEY`         | 200    | the value of KEY + `\n`                                             |
 * |   … KEY does not exist                                          | 404 | `missing\n`                         |
 * |   … KEY empty or not `[A-Za-z0-9_-]+`                           | 400 | `invalid key\n`                     |
 * | `GET /cgi-bin/workers`         | 200    | the live workers' hostnames, sorted (bytewise), one per line; `` (empty) for none |
 * | `GET /cgi-bin/env?NAME`        | 200    | lowercase hex sha256 of NAME's value's bytes + `\n`, or `unset\n`   |
 * |   … NAME not `[A-Za-z_][A-Za-z0-9_]*`                           | 400 | `invalid name\n`                    |
 * | `GET /cgi-bin/secret?NAME`     | 200    | lowercase hex sha256 of the bytes of `/run/secrets/NAME` + `\n`, or `unset\n` (no such regular file) |
 * |   … NAME empty, starting with `.`, or not `[A-Za-z0-9_.-]+`      | 400 | `invalid name\n`                    |
 * | any Redis request (visit, put, get, workers) when nothing answers at REDIS_HOST:REDIS_PORT | 503 | `redis unreachable at <host>:<port>\n` |
 * |   … when Redis answers with an error (NOAUTH, WRONGPASS, ...)    | 503 | `redis error: <Redis's error line without the leading "-">\n` |
 * | anything else                  | 404    | (not part of the contract)                                          |
 *
 * KEY is used as the Redis key as it is: `get?visits` reads the visit counter. Values of `get`
 * are those `put` stored (a value set otherwise is answered up to its first line end).
 *
 * `/cgi-bin/env` reads the environment `/app/serve` was started with, which it copies at start
 * (see app-image.ts): CGI variables and request headers cannot shadow a value, and values are
 * exact bytes. The Redis settings come from that copy too.
 *
 * ## Settings (environment of the web service and of the worker)
 *
 * - `REDIS_HOST` (default `db`), `REDIS_PORT` (default `6379`): where Redis is. Names resolve with
 *   `/etc/hosts` first, then DNS (Docker's embedded DNS for Compose service names): busybox is a
 *   static glibc binary, and glibc >= 2.34 has the files and dns lookups built in.
 * - `REDIS_PASSWORD`: when set and non-empty, every connection starts with `AUTH <its exact bytes>`.
 *   When unset or empty, the file `/run/secrets/REDIS_PASSWORD` is used instead if it exists
 *   (without its trailing newlines): the same rule as the Redis image's entrypoint, so one Compose
 *   secret (or one variable) can serve both.
 * - `PORT` (web only, default 8080).
 *
 * Every Redis call is one `nc` connection (`nc -w 3`, all within `timeout 5`): commands are sent
 * as RESP arrays of bulk strings, so a password may hold any bytes.
 *
 * ## The worker (`/app/worker`, PID 1 of its container)
 *
 * Every second: `SET worker:<hostname> <unix time> EX 5`, so `/cgi-bin/workers` lists it within
 * a second of its start and forgets it at most 5 s after it dies. On SIGTERM (or SIGINT) it stops
 * within a second, `DEL`s its key (best effort, at most 2 s) so that it leaves the list at once,
 * and exits 0. A Redis it cannot reach is logged (on stderr, once per change) and retried every
 * second; the worker never exits for it.
 *
 * ## The Redis image
 *
 * CMD `["/usr/local/bin/shop-redis"]` ({@link SHOP_REDIS_ENTRYPOINT}), EXPOSE 6379, VOLUME /data,
 * WORKDIR /data. The entrypoint `exec`s (so Redis is PID 1 and SIGTERM shuts it down cleanly,
 * the AOF fsynced and an RDB snapshot written, exit 0):
 * `redis-server --bind 0.0.0.0 --protected-mode no --appendonly yes --dir /data
 * [--requirepass <password>] [extra arguments of the entrypoint]`, the password being
 * `REDIS_PASSWORD` when set and non-empty, else the content of `/run/secrets/REDIS_PASSWORD`
 * without trailing newlines when that file exists, else none. (Redis parses its command line as
 * configuration text, quoting each argument: any bytes work, except a password starting with `--`.)
 * Redis runs as root, so any volume or bind mount on /data is writable; it logs to stdout.
 * `/etc/shop-redis-version` holds `1\n` or `2\n`; `redis-cli` is there (for health checks).
 * Packages come from the mirror's `bookworm` suite (not bookworm-security): fine for a test image.
 *
 * ## Using the images in a test
 *
 * ```ts
 * const images = await buildComposeAppImages();
 * const engine = await startControllerEngine();   // stop() it in afterAll
 * await loadIntoEngine(engine, images);
 * // The operator's engine for `app.imageFrom: engine`: DOCKER_HOST=engine.host ("unix://<socket>").
 * await runCli(dir, { DOCKER_HOST: engine.host }, ["rollout", ...]);
 * ```
 *
 * The cache key ({@link ComposeAppImages.recipeHash}) is the recipe (this module's scripts and
 * steps, the reused test-app scripts, the mirror URL, `/bin/busybox`'s sha256), not the state of
 * the Debian archive: delete `<cacheDir>/compose-app-images/` to pick up new Debian packages.
 */
import { randomBytes, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  assertStaticElf,
  run,
  startControllerEngine,
  TEST_APP_SCRIPTS,
  unmountUnder,
  withFileLock,
  writeBusyboxRootfs,
  type ControllerEngine,
  type RootfsEntry,
} from "./app-image";

/** The port the shop's web service listens on unless its `PORT` variable says otherwise. */
export const SHOP_PORT = 8080;

/** The shop's health check path (a CGI: busybox httpd runs CGI only under /cgi-bin/). */
export const SHOP_HEALTH_PATH = "/cgi-bin/healthz";

/** The worker service's command (the web service uses the image's CMD, `["/app/serve"]`). */
export const SHOP_WORKER_COMMAND: readonly string[] = ["/app/worker"];

/** `longshore-shop:1` and `longshore-shop:2`. */
export const SHOP_REPOSITORY = "longshore-shop";

/** `longshore-shop-redis:1` and `longshore-shop-redis:2`. */
export const SHOP_REDIS_REPOSITORY = "longshore-shop-redis";

/** Redis's port in the Redis image (and the shop's default `REDIS_PORT`). */
export const SHOP_REDIS_PORT = 6379;

/** The Redis image's CMD: the entrypoint script that execs redis-server. */
export const SHOP_REDIS_ENTRYPOINT = "/usr/local/bin/shop-redis";

/** Where Redis keeps its data (the image's VOLUME). */
export const SHOP_REDIS_DATA_DIR = "/data";

/** The exact body of the shop's `GET /`. */
export function shopRootBody(version: string): string {
  return `shop ${version}\n`;
}

/** One built image and its `docker save` archive. */
export interface ComposeAppImage {
  /** e.g. `longshore-shop:1`. */
  repoTag: string;
  /** `sha256:<64 hex>`: the ID `docker load` of {@link archive} gives on any engine. */
  imageId: string;
  /** Absolute path of the `docker save` tar (holds every layer: it loads on an empty engine). */
  archive: string;
  /** Size of {@link archive} in bytes. */
  bytes: number;
  /** `"1"` or `"2"` (the shop's `GET /` says `shop <version>`; Redis's /etc/shop-redis-version). */
  version: string;
}

/** The four images, from the cache directory. */
export interface ComposeAppImages {
  shopV1: ComposeAppImage;
  shopV2: ComposeAppImage;
  redisV1: ComposeAppImage;
  redisV2: ComposeAppImage;
  /** The cache directory used (the images are in `<cacheDir>/compose-app-images/<recipeHash>/`). */
  cacheDir: string;
  /** The directory holding the four archives and `meta.json`. */
  dir: string;
  /** Hash of the recipe (scripts, steps, mirror URL) and of `/bin/busybox`. */
  recipeHash: string;
  /** True when nothing was built: the directory was already complete (no engine was started). */
  fromCache: boolean;
}

/** Options of {@link buildComposeAppImages}. */
export interface BuildComposeAppImagesOptions {
  /** @default `process.env.LONGSHORE_CACHE_DIR ?? <repo>/.longshore/cache` */
  cacheDir?: string;
  /** Progress lines ("compose-app: ...", "engine: ..."); nothing is printed without it. */
  log?: (line: string) => void;
}

const IMAGE_KEYS = ["shopV1", "shopV2", "redisV1", "redisV2"] as const;
type ImageKey = (typeof IMAGE_KEYS)[number];

// ---------------------------------------------------------------------------------------------
// The recipe. Every text below goes into the recipe hash; bump RECIPE_VERSION when a build step
// changes without a text changing.

const RECIPE_VERSION = "longshore compose app recipe 1";

const BUSYBOX = "/bin/busybox";
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const REPO = path.resolve(__dirname, "../..");
const LABEL = "compose-app";

/** Where the test app's /app/serve keeps the environment it saved (one file per variable). */
const SAVED_ENV_DIR = "/tmp/app/env";

const LIB = `# The shop's shell functions, sourced by its CGI scripts and /app/worker: settings, plain-text
# CGI replies, and Redis over busybox nc (RESP written by hand).
# See test/helpers/compose-app-images.ts for the contract.
PATH=/bin
nl='
'

# reply STATUS TEXT: a text/plain CGI reply whose body is TEXT and one newline.
reply() {
  [ "$1" = "200 OK" ] || printf 'Status: %s\\r\\n' "$1"
  printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n%s\\n' "$2"
}

# valid_word WORD: true when WORD is non-empty and only [A-Za-z0-9_-].
valid_word() {
  case $1 in ""|*[!A-Za-z0-9_-]*) return 1 ;; esac
  return 0
}

# saved_env NAME: the value /app/serve saved for NAME (raw bytes); fails when NAME was unset.
saved_env() {
  [ -f "${SAVED_ENV_DIR}/$1" ] && cat "${SAVED_ENV_DIR}/$1"
}

# own_env NAME: this process's own value of NAME (the worker's); fails when unset.
own_env() {
  case $1 in
    REDIS_HOST) [ -n "\${REDIS_HOST+set}" ] && printf '%s' "$REDIS_HOST" ;;
    REDIS_PORT) [ -n "\${REDIS_PORT+set}" ] && printf '%s' "$REDIS_PORT" ;;
    REDIS_PASSWORD) [ -n "\${REDIS_PASSWORD+set}" ] && printf '%s' "$REDIS_PASSWORD" ;;
    *) return 1 ;;
  esac
}

# shop_config GETENV: sets redis_host, redis_port and redis_pass from the settings GETENV NAME
# prints. The password: REDIS_PASSWORD's exact bytes when non-empty, else the file
# /run/secrets/REDIS_PASSWORD without its trailing newlines (as the Redis image reads it).
shop_config() {
  redis_host=$($1 REDIS_HOST) || redis_host=
  [ -n "$redis_host" ] || redis_host=db
  redis_port=$($1 REDIS_PORT) || redis_port=
  [ -n "$redis_port" ] || redis_port=${SHOP_REDIS_PORT}
  # The x keeps trailing newlines, which $(...) would drop.
  redis_pass=$($1 REDIS_PASSWORD; printf x)
  redis_pass=\${redis_pass%x}
  if [ -z "$redis_pass" ] && [ -f /run/secrets/REDIS_PASSWORD ]; then
    redis_pass=$(cat /run/secrets/REDIS_PASSWORD) || redis_pass=
  fi
  redis_timeout=5
}

# resp ARG...: one command as a RESP array of bulk strings (each argument's bytes as they are).
resp() {
  printf '*%d\\r\\n' $#
  for arg do
    len=$(printf '%s' "$arg" | wc -c)
    printf '$%d\\r\\n%s\\r\\n' $((len)) "$arg"
  done
}

# redis CMD ARG...: AUTH first when there is a password, then the command, on one connection.
# Prints the command's reply (\\r removed) and returns 0; returns 1 when nothing came back
# (Redis cannot be reached), or 2 with an error reply's text (without the "-") on stdout.
redis() {
  out=$( { [ -z "$redis_pass" ] || resp AUTH "$redis_pass"; resp "$@"; } |
    timeout "$redis_timeout" nc -w 3 "$redis_host" "$redis_port" | tr -d '\\r')
  [ -n "$out" ] || return 1
  if [ -n "$redis_pass" ]; then
    first=\${out%%"$nl"*}
    case $first in -*) printf '%s\\n' "\${first#-}"; return 2 ;; esac
    case $out in *"$nl"*) out=\${out#*"$nl"} ;; *) out= ;; esac
    [ -n "$out" ] || return 1
  fi
  first=\${out%%"$nl"*}
  case $first in -*) printf '%s\\n' "\${first#-}"; return 2 ;; esac
  printf '%s\\n' "$out"
}

# redis_failed STATUS OUTPUT: the 503 reply after a redis call that returned STATUS and OUTPUT.
redis_failed() {
  case $1 in
    1) reply "503 Service Unavailable" "redis unreachable at $redis_host:$redis_port" ;;
    2) reply "503 Service Unavailable" "redis error: $2" ;;
    *) reply "503 Service Unavailable" "redis error: unexpected reply" ;;
  esac
}
`;

const INDEX_CGI = `#!/bin/sh
# GET / : busybox httpd runs /cgi-bin/index.cgi for any directory URL without an index.html,
# so anything but "/" itself is a 404 here.
. /app/lib.sh
case \${REQUEST_URI%%\\?*} in
  /) ;;
  *) reply "404 Not Found" "not found"; exit 0 ;;
esac
read -r version < /app/version
reply "200 OK" "shop $version"
`;

const VISIT_CGI = `#!/bin/sh
# GET /cgi-bin/visit : INCR visits, answer the new value.
. /app/lib.sh
shop_config saved_env
out=$(redis INCR visits)
status=$?
case $status:$out in
  0:":"*) reply "200 OK" "\${out#:}" ;;
  *) redis_failed "$status" "$out" ;;
esac
`;

const PUT_CGI = `#!/bin/sh
# GET /cgi-bin/put?KEY=VALUE : SET KEY VALUE.
. /app/lib.sh
query=$QUERY_STRING
key=\${query%%=*}
value=\${query#*=}
if [ "$key" = "$query" ] || ! valid_word "$key" || ! valid_word "$value"; then
  reply "400 Bad Request" "invalid key or value"
  exit 0
fi
shop_config saved_env
out=$(redis SET "$key" "$value")
status=$?
case $status:$out in
  "0:+OK") reply "200 OK" stored ;;
  *) redis_failed "$status" "$out" ;;
esac
`;

const GET_CGI = `#!/bin/sh
# GET /cgi-bin/get?KEY : GET KEY.
. /app/lib.sh
key=$QUERY_STRING
if ! valid_word "$key"; then
  reply "400 Bad Request" "invalid key"
  exit 0
fi
shop_config saved_env
out=$(redis GET "$key")
status=$?
case $status:$out in
  '0:$-1') reply "404 Not Found" missing ;;
  '0:$'*"$nl"*) value=\${out#*"$nl"}; reply "200 OK" "\${value%%"$nl"*}" ;;
  *) redis_failed "$status" "$out" ;;
esac
`;

const WORKERS_CGI = `#!/bin/sh
# GET /cgi-bin/workers : the hostnames of the live workers (keys worker:<hostname>), sorted.
. /app/lib.sh
shop_config saved_env
out=$(redis KEYS 'worker:*')
status=$?
case $status:$out in
  "0:*"*) ;;
  *) redis_failed "$status" "$out"; exit 0 ;;
esac
printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'
# The array's elements are the lines after their "$<length>" line; only keys start with worker:.
printf '%s\\n' "$out" | sed -n 's/^worker://p' | LC_ALL=C sort
`;

const SECRET_CGI = `#!/bin/sh
# GET /cgi-bin/secret?NAME : sha256 of the file /run/secrets/NAME (a Compose file secret).
. /app/lib.sh
name=$QUERY_STRING
case $name in
  ""|.*|*[!A-Za-z0-9_.-]*) reply "400 Bad Request" "invalid name"; exit 0 ;;
esac
file=/run/secrets/$name
if [ ! -f "$file" ]; then
  reply "200 OK" unset
  exit 0
fi
sum=$(sha256sum < "$file") || sum=
sum=\${sum%% *}
if [ -z "$sum" ]; then
  reply "500 Internal Server Error" "sha256sum failed"
  exit 0
fi
reply "200 OK" "$sum"
`;

const WORKER = `#!/bin/sh
# longshore shop worker, PID 1: every second SET worker:<hostname> <unix time> EX 5, until SIGTERM.
# See test/helpers/compose-app-images.ts.
. /app/lib.sh
shop_config own_env
host=$(hostname)
stopping=
child=
trap 'stopping=1; [ -z "$child" ] || kill "$child" 2>/dev/null' TERM INT
echo "worker $host: reporting to redis at $redis_host:$redis_port every second" >&2
state=
while [ -z "$stopping" ]; do
  out=$(redis SET "worker:$host" "$(date +%s)" EX 5)
  status=$?
  case $status:$out in
    "0:+OK") now=registered ;;
    1:*) now="redis unreachable at $redis_host:$redis_port" ;;
    *) now="redis error: $out" ;;
  esac
  [ "$now" = "$state" ] || echo "worker $host: $now" >&2
  state=$now
  [ -z "$stopping" ] || break
  # In the background, so that a SIGTERM ends the wait at once.
  sleep 1 &
  child=$!
  wait "$child"
  child=
done
# Leave the list now rather than when the key expires; best effort, briefly.
redis_timeout=2
redis DEL "worker:$host" > /dev/null
echo "worker $host: stopped" >&2
exit 0
`;

const NSSWITCH = `hosts: files dns
`;

/** The shop's v1 rootfs besides /bin (busybox and its applet links). */
const SHOP_ROOTFS: readonly RootfsEntry[] = [
  { path: "app", kind: "dir", mode: 0o755, uid: 0 },
  { path: "app/serve", kind: "file", mode: 0o755, uid: 0, content: TEST_APP_SCRIPTS.serve },
  { path: "app/worker", kind: "file", mode: 0o755, uid: 0, content: WORKER },
  { path: "app/lib.sh", kind: "file", mode: 0o644, uid: 0, content: LIB },
  { path: "app/version", kind: "file", mode: 0o644, uid: 0, content: "1\n" },
  { path: "etc", kind: "dir", mode: 0o755, uid: 0 },
  { path: "etc/passwd", kind: "file", mode: 0o644, uid: 0, content: TEST_APP_SCRIPTS.passwd },
  { path: "etc/group", kind: "file", mode: 0o644, uid: 0, content: TEST_APP_SCRIPTS.group },
  { path: "etc/nsswitch.conf", kind: "file", mode: 0o644, uid: 0, content: NSSWITCH },
  { path: "home", kind: "dir", mode: 0o755, uid: 0 },
  { path: "home/app", kind: "dir", mode: 0o755, uid: 1000 },
  { path: "root", kind: "dir", mode: 0o700, uid: 0 },
  { path: "run", kind: "dir", mode: 0o755, uid: 0 },
  { path: "tmp", kind: "dir", mode: 0o1777, uid: 0 },
  { path: "www", kind: "dir", mode: 0o755, uid: 0 },
  { path: "www/cgi-bin", kind: "dir", mode: 0o755, uid: 0 },
  { path: "www/cgi-bin/index.cgi", kind: "file", mode: 0o755, uid: 0, content: INDEX_CGI },
  { path: "www/cgi-bin/healthz", kind: "file", mode: 0o755, uid: 0, content: TEST_APP_SCRIPTS.healthzCgi },
  { path: "www/cgi-bin/env", kind: "file", mode: 0o755, uid: 0, content: TEST_APP_SCRIPTS.envCgi },
  { path: "www/cgi-bin/visit", kind: "file", mode: 0o755, uid: 0, content: VISIT_CGI },
  { path: "www/cgi-bin/put", kind: "file", mode: 0o755, uid: 0, content: PUT_CGI },
  { path: "www/cgi-bin/get", kind: "file", mode: 0o755, uid: 0, content: GET_CGI },
  { path: "www/cgi-bin/workers", kind: "file", mode: 0o755, uid: 0, content: WORKERS_CGI },
  { path: "www/cgi-bin/secret", kind: "file", mode: 0o755, uid: 0, content: SECRET_CGI },
];

const SHOP_IMPORT_CHANGES = ['CMD ["/app/serve"]', `EXPOSE ${SHOP_PORT}`, "WORKDIR /"];
const SHOP_V2_DOCKERFILE = `FROM ${SHOP_REPOSITORY}:1
COPY version /app/version
`;

const REDIS_ENTRYPOINT = `#!/bin/sh
# longshore shop redis: redis-server as PID 1 (exec), data in /data. Extra arguments go to
# redis-server after the fixed ones. See test/helpers/compose-app-images.ts.
pass=\${REDIS_PASSWORD-}
if [ -z "$pass" ] && [ -f /run/secrets/REDIS_PASSWORD ]; then
  pass=$(cat /run/secrets/REDIS_PASSWORD) || exit 1
fi
set -- --bind 0.0.0.0 --protected-mode no --appendonly yes --dir ${SHOP_REDIS_DATA_DIR} "$@"
if [ -n "$pass" ]; then
  exec redis-server --requirepass "$pass" "$@"
fi
exec redis-server "$@"
`;

/** debootstrap's part of the Redis image. */
const REDIS_DEBOOTSTRAP = { suite: "bookworm", variant: "minbase", components: "main", include: ["redis-server"] } as const;

/** Removed from the Redis rootfs after debootstrap (contents of these directories, not the directories). */
const REDIS_TRIM_DIRS = [
  "var/cache/apt/archives",
  "var/lib/apt/lists",
  "var/log",
  "usr/share/doc",
  "usr/share/man",
  "usr/share/info",
  "usr/share/locale",
  // Docker mounts its own /dev; debootstrap's device nodes are of no use in an image.
  "dev",
  "tmp",
  "run",
];

/** Emptied: the build computer's name and resolver say nothing about a container (Docker mounts its own). */
const REDIS_EMPTY_FILES = ["etc/hostname", "etc/resolv.conf", "etc/machine-id"];

const REDIS_IMPORT_CHANGES = [
  `CMD ["${SHOP_REDIS_ENTRYPOINT}"]`,
  `EXPOSE ${SHOP_REDIS_PORT}`,
  `VOLUME ${SHOP_REDIS_DATA_DIR}`,
  `WORKDIR ${SHOP_REDIS_DATA_DIR}`,
];
const REDIS_V2_DOCKERFILE = `FROM ${SHOP_REDIS_REPOSITORY}:1
COPY shop-redis-version /etc/shop-redis-version
`;

// ---------------------------------------------------------------------------------------------
// Cache

interface Meta {
  recipeHash: string;
  busyboxSha256: string;
  mirror: string;
  redisPackageVersion: string;
  engineVersion: string;
  builtAt: string;
  buildMs: number;
  images: Record<ImageKey, { repoTag: string; imageId: string; archive: string; bytes: number; version: string }>;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The first `URIs` of a deb822 stanza of type `deb` whose `Suites` has `suite`, from apt's
 * sources (`/etc/apt/sources.list.d/debian.sources`, else a one-line `/etc/apt/sources.list`).
 */
function debianMirror(suite: string): string {
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  for (const stanza of read("/etc/apt/sources.list.d/debian.sources").split(/\n\s*\n/)) {
    const field = (name: string) =>
      stanza
        .split("\n")
        .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
        ?.slice(name.length + 1)
        .trim()
        .split(/\s+/) ?? [];
    if (field("Types").includes("deb") && field("Suites").includes(suite) && field("URIs")[0]) return field("URIs")[0]!;
  }
  for (const line of read("/etc/apt/sources.list").split("\n")) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
    if (m && m[2] === suite) return m[1]!;
  }
  throw new Error(`${LABEL}: no Debian mirror for ${suite} in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list`);
}

function recipeHashOf(busyboxSha256: string, mirror: string): string {
  const recipe = JSON.stringify({
    RECIPE_VERSION,
    SHOP_ROOTFS,
    SHOP_IMPORT_CHANGES,
    SHOP_V2_DOCKERFILE,
    REDIS_ENTRYPOINT,
    REDIS_DEBOOTSTRAP,
    REDIS_TRIM_DIRS,
    REDIS_EMPTY_FILES,
    REDIS_IMPORT_CHANGES,
    REDIS_V2_DOCKERFILE,
    busyboxSha256,
    mirror,
  });
  return sha256(recipe).slice(0, 16);
}

/** The images in `dir`, or null unless meta.json and all four archives (of the recorded size) are there. */
function readComplete(dir: string, cacheDir: string, recipeHash: string): ComposeAppImages | null {
  let meta: Meta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8")) as Meta;
  } catch {
    return null;
  }
  if (meta.recipeHash !== recipeHash) return null;
  const image = (key: ImageKey): ComposeAppImage | null => {
    const m = meta.images?.[key];
    if (!m || !/^sha256:[0-9a-f]{64}$/.test(m.imageId)) return null;
    const archive = path.join(dir, m.archive);
    try {
      if (fs.statSync(archive).size !== m.bytes) return null;
    } catch {
      return null;
    }
    return { repoTag: m.repoTag, imageId: m.imageId, archive, bytes: m.bytes, version: m.version };
  };
  const shopV1 = image("shopV1");
  const shopV2 = image("shopV2");
  const redisV1 = image("redisV1");
  const redisV2 = image("redisV2");
  if (!shopV1 || !shopV2 || !redisV1 || !redisV2) return null;
  return { shopV1, shopV2, redisV1, redisV2, cacheDir, dir, recipeHash, fromCache: true };
}

/** Unmounts whatever a killed debootstrap left mounted under `dir` (proc, sys), then removes it. */
function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  unmountUnder(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Builds `longshore-shop:1`/`:2` and `longshore-shop-redis:1`/`:2` with a private engine
 * ({@link startControllerEngine}), or reuses them from `<cacheDir>/compose-app-images/<recipeHash>/`
 * (`shop-v1.tar`, `shop-v2.tar`, `redis-v1.tar`, `redis-v2.tar`, `meta.json`). A cache hit reads
 * meta.json and four file sizes, hashes /bin/busybox, reads apt's sources and starts nothing.
 *
 * A build (about a minute, most of it debootstrap from the Debian mirror) holds a flock on
 * `<cacheDir>/compose-app-images/build.lock`, so concurrent callers build once; results are
 * written in a temporary directory and renamed into place. debootstrap's downloads are kept in
 * `<cacheDir>/compose-app-images/debs/` for the next build.
 * Each archive is a full `docker save` of one image (v2's holds v1's layer too).
 */
export async function buildComposeAppImages(options: BuildComposeAppImagesOptions = {}): Promise<ComposeAppImages> {
  const log = options.log ?? (() => undefined);
  const cacheDir = path.resolve(options.cacheDir ?? process.env.LONGSHORE_CACHE_DIR ?? path.join(REPO, ".longshore", "cache"));
  const busyboxSha256 = sha256(fs.readFileSync(BUSYBOX));
  const mirror = debianMirror(REDIS_DEBOOTSTRAP.suite);
  const recipeHash = recipeHashOf(busyboxSha256, mirror);
  const root = path.join(cacheDir, "compose-app-images");
  const dir = path.join(root, recipeHash);

  const hit = readComplete(dir, cacheDir, recipeHash);
  if (hit) {
    log(`${LABEL}: cache hit ${dir}`);
    return hit;
  }
  fs.mkdirSync(root, { recursive: true });
  // One lock for every recipe: they share the debootstrap download cache.
  return withFileLock(
    path.join(root, "build.lock"),
    log,
    async () => {
      const built = readComplete(dir, cacheDir, recipeHash);
      if (built) {
        log(`${LABEL}: cache hit ${dir} (built by another caller)`);
        return built;
      }
      // Only the lock holder writes these, so any left over are from a build that died.
      for (const name of fs.readdirSync(root)) {
        if (name.startsWith(".tmp-") || name.startsWith(".stale-")) removeTree(path.join(root, name));
      }
      const work = path.join(root, `.tmp-${recipeHash}-${process.pid}-${randomBytes(4).toString("hex")}`);
      fs.mkdirSync(work);
      try {
        const started = Date.now();
        log(`${LABEL}: building in ${work}`);
        assertStaticElf(BUSYBOX);
        const meta = await buildInto(work, { recipeHash, busyboxSha256, mirror, debs: path.join(root, "debs"), started }, log);
        fs.writeFileSync(path.join(work, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
        if (fs.existsSync(dir)) {
          // Incomplete (readComplete said so): move it out of the way atomically, then delete it.
          const stale = path.join(root, `.stale-${recipeHash}-${process.pid}`);
          fs.renameSync(dir, stale);
          removeTree(stale);
        }
        fs.renameSync(work, dir);
        log(`${LABEL}: built in ${Date.now() - started} ms: ${dir}`);
      } finally {
        removeTree(work);
      }
      const result = readComplete(dir, cacheDir, recipeHash);
      if (!result) throw new Error(`${LABEL}: ${dir} is incomplete right after the build`);
      return { ...result, fromCache: false };
    },
    LABEL,
  );
}

async function checked(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const r = await run(command, args, { env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8" }, timeoutMs });
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")}: exit ${r.code ?? r.signal}\n${(r.stderr || r.stdout).trim().split("\n").slice(-20).join("\n")}`);
  return r.stdout;
}

/**
 * debootstrap, then the image's own files and the trimming. debootstrap itself keeps postinst
 * scripts from starting services (a policy-rc.d answering 101 and a fake start-stop-daemon while
 * it installs), so redis-server is never started on this computer.
 */
async function buildRedisRootfs(target: string, mirror: string, debs: string, log: (line: string) => void): Promise<string> {
  const d = REDIS_DEBOOTSTRAP;
  fs.mkdirSync(debs, { recursive: true });
  const t0 = Date.now();
  try {
    await checked(
      "debootstrap",
      [
        `--variant=${d.variant}`,
        `--components=${d.components}`,
        `--include=${d.include.join(",")}`,
        `--cache-dir=${debs}`,
        d.suite,
        target,
        mirror,
      ],
      20 * 60_000,
    );
  } catch (e) {
    const logFile = [path.join(target, "debootstrap", "debootstrap.log"), path.join(target, "var/log/bootstrap.log")].find((f) => fs.existsSync(f));
    if (logFile) (e as Error).message += `\n${logFile}:\n${fs.readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-15).join("\n")}`;
    throw e;
  } finally {
    // debootstrap unmounts proc and sys itself, unless it was killed.
    unmountUnder(target);
  }
  log(`${LABEL}: debootstrap ${d.suite} --include=${d.include.join(",")} in ${Date.now() - t0} ms`);
  const version = (await checked("chroot", [target, "dpkg-query", "-W", "-f=${Version}", "redis-server"], 60_000)).trim();

  for (const rel of REDIS_TRIM_DIRS) {
    const p = path.join(target, rel);
    for (const name of fs.readdirSync(p)) fs.rmSync(path.join(p, name), { recursive: true, force: true });
  }
  for (const rel of REDIS_EMPTY_FILES) if (fs.existsSync(path.join(target, rel))) fs.writeFileSync(path.join(target, rel), "");
  fs.chmodSync(path.join(target, "tmp"), 0o1777);
  fs.writeFileSync(path.join(target, SHOP_REDIS_ENTRYPOINT.slice(1)), REDIS_ENTRYPOINT);
  fs.chmodSync(path.join(target, SHOP_REDIS_ENTRYPOINT.slice(1)), 0o755);
  fs.writeFileSync(path.join(target, "etc/shop-redis-version"), "1\n");
  fs.chmodSync(path.join(target, "etc/shop-redis-version"), 0o644);
  fs.mkdirSync(path.join(target, SHOP_REDIS_DATA_DIR.slice(1)), { mode: 0o755 });
  return version;
}

interface BuildParams {
  recipeHash: string;
  busyboxSha256: string;
  mirror: string;
  debs: string;
  started: number;
}

/** Writes the four archives into `work` and returns their metadata; `work`'s scratch is removed. */
async function buildInto(work: string, p: BuildParams, log: (line: string) => void): Promise<Meta> {
  const scratch = path.join(work, "scratch");
  fs.mkdirSync(scratch);
  try {
    // The rootfs tars first: no engine is needed for them.
    const shopRoot = path.join(scratch, "shop-root");
    fs.mkdirSync(shopRoot);
    writeBusyboxRootfs(shopRoot, SHOP_ROOTFS);
    const shopTar = path.join(scratch, "shop-rootfs.tar");
    // Sorted, fixed mtimes and numeric owners: the same recipe gives the same layer bytes.
    await checked("tar", ["--sort=name", "--mtime=@0", "--numeric-owner", "-C", shopRoot, "-cf", shopTar, "."], 120_000);

    const redisRoot = path.join(scratch, "redis-root");
    fs.mkdirSync(redisRoot);
    const redisPackageVersion = await buildRedisRootfs(redisRoot, p.mirror, p.debs, log);
    const redisTar = path.join(scratch, "redis-rootfs.tar");
    await checked("tar", ["--sort=name", "--numeric-owner", "-C", redisRoot, "-cf", redisTar, "."], 300_000);
    removeTree(redisRoot);

    const shopContext = path.join(scratch, "shop-v2");
    fs.mkdirSync(shopContext);
    fs.writeFileSync(path.join(shopContext, "Dockerfile"), SHOP_V2_DOCKERFILE);
    fs.writeFileSync(path.join(shopContext, "version"), "2\n");
    const redisContext = path.join(scratch, "redis-v2");
    fs.mkdirSync(redisContext);
    fs.writeFileSync(path.join(redisContext, "Dockerfile"), REDIS_V2_DOCKERFILE);
    fs.writeFileSync(path.join(redisContext, "shop-redis-version"), "2\n");

    const engine = await startControllerEngine({ log });
    let failure: unknown;
    try {
      const plan: Array<{ key: ImageKey; tag: string; version: string; build: () => Promise<unknown> }> = [
        {
          key: "shopV1",
          tag: `${SHOP_REPOSITORY}:1`,
          version: "1",
          build: () => engine.docker(["import", ...SHOP_IMPORT_CHANGES.flatMap((c) => ["--change", c]), "--message", "longshore shop 1", shopTar, `${SHOP_REPOSITORY}:1`]),
        },
        {
          key: "shopV2",
          tag: `${SHOP_REPOSITORY}:2`,
          version: "2",
          // --network none: the engine has no bridge, and COPY needs no network anyway.
          build: () => engine.docker(["build", "--network", "none", "--tag", `${SHOP_REPOSITORY}:2`, shopContext], { timeoutMs: 300_000 }),
        },
        {
          key: "redisV1",
          tag: `${SHOP_REDIS_REPOSITORY}:1`,
          version: "1",
          build: () =>
            engine.docker(
              ["import", ...REDIS_IMPORT_CHANGES.flatMap((c) => ["--change", c]), "--message", `longshore shop redis 1 (redis-server ${redisPackageVersion})`, redisTar, `${SHOP_REDIS_REPOSITORY}:1`],
              { timeoutMs: 300_000 },
            ),
        },
        {
          key: "redisV2",
          tag: `${SHOP_REDIS_REPOSITORY}:2`,
          version: "2",
          build: () => engine.docker(["build", "--network", "none", "--tag", `${SHOP_REDIS_REPOSITORY}:2`, redisContext], { timeoutMs: 300_000 }),
        },
      ];
      const images = {} as Meta["images"];
      for (const step of plan) {
        await step.build();
        const archive = `${step.key.replace(/V(\d)$/, "-v$1")}.tar`;
        await engine.docker(["save", "--output", path.join(work, archive), step.tag], { timeoutMs: 300_000 });
        const imageId = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", step.tag])).stdout.trim();
        // docker save writes 0600; the archives are inputs for uploads by whoever runs the tests.
        fs.chmodSync(path.join(work, archive), 0o644);
        const bytes = fs.statSync(path.join(work, archive)).size;
        images[step.key] = { repoTag: step.tag, imageId, archive, bytes, version: step.version };
        log(`${LABEL}: ${step.tag} ${imageId.slice(7, 19)}, ${(bytes / 1e6).toFixed(1)} MB saved`);
      }
      const engineVersion = (await engine.docker(["version", "--format", "{{.Server.Version}}"])).stdout.trim();
      return {
        recipeHash: p.recipeHash,
        busyboxSha256: p.busyboxSha256,
        mirror: p.mirror,
        redisPackageVersion,
        engineVersion,
        builtAt: new Date().toISOString(),
        buildMs: Date.now() - p.started,
        images,
      };
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      try {
        await engine.stop();
      } catch (e) {
        // Do not hide the build's own error behind the cleanup's.
        if (failure === undefined) throw e;
        log(`${LABEL}: ${(e as Error).message}`);
      }
    }
  } finally {
    removeTree(scratch);
  }
}

/**
 * `docker load`s the four archives into `engine` (e.g. a fresh {@link startControllerEngine}, the
 * "operator's engine" of `app.imageFrom: engine`, reached with `DOCKER_HOST=engine.host`), and
 * checks that each tag then names the recorded image ID.
 */
export async function loadIntoEngine(engine: ControllerEngine, images: ComposeAppImages): Promise<void> {
  for (const key of IMAGE_KEYS) {
    const image = images[key];
    const loaded = await engine.docker(["load", "--input", image.archive], { timeoutMs: 300_000 });
    if (!loaded.stdout.includes(`Loaded image: ${image.repoTag}`)) throw new Error(`docker load ${image.archive}: no "Loaded image: ${image.repoTag}" in:\n${loaded.stdout}`);
    const id = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", image.repoTag])).stdout.trim();
    if (id !== image.imageId) throw new Error(`${image.repoTag} loaded as ${id}, not ${image.imageId}`);
  }
}
