/**
 * `app.run`: one container of the app on the host, named `<app>-<release>`, from the planned
 * image, with everything the model says (command, ports, env file, volumes, limits, logging, user,
 * stop timeout, init, restart policy) and the labels rollouts and `status` read
 * (`io.longshore.app`, `.version`, `.slot`, `.plan`).
 *
 * Check: one `docker inspect --format` of the container compared with the expected line (running,
 * image, restart policy, port, limits, labels). The `io.longshore.plan` label is a hash of the
 * whole desired app state, so any other change of the spec also shows as a different line; a
 * changed env file (a rotated secret) fails the file comparison and re-creates the container too.
 *
 * Apply is create-then-swap ({@link SWAP_SCRIPT}): the new container is created first (a value the
 * engine refuses fails here, with the old container still serving), then the old one stops, the name
 * moves to the new one and it starts; if the new one does not start, or exits at once, it is
 * removed and the old one gets its name back and is started again. A host serves one version of an
 * app: rollouts replace hosts, not containers.
 */
import { Sensitive } from "../../core/sensitive";
import { hostPortOf, parseByteSize, type ResolvedApp } from "../../model/app";
import type { Command } from "../command";
import type { RemoteFile, Step } from "../step";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** Container label keys longshore sets. */
export const LABELS = {
  app: "io.longshore.app",
  version: "io.longshore.version",
  slot: "io.longshore.slot",
  plan: "io.longshore.plan",
} as const;

/** The container's name: `<app>-<release>`, with anything the engine refuses replaced by `-`. */
export function containerName(app: Pick<ResolvedApp, "name">, release: string): string {
  return `${app.name}-${release}`.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
}

/** The directory of the app's env files on the host (one per release, 0600). */
export function envFileDir(app: Pick<ResolvedApp, "name">): string {
  return `${HOST_PATHS.appEnvDir}/${app.name}`;
}

/** Where the env file of a release lives on the host. */
export function envFilePath(app: Pick<ResolvedApp, "name">, release: string): string {
  return `${envFileDir(app)}/${containerName(app, release)}.env`;
}

/**
 * The env file's text: `KEY=value` per line, plain env first then secrets, keys sorted (stable
 * bytes: same config, same sha, no restart). Sensitive when any secret is in it.
 */
export function renderEnvFile(app: Pick<ResolvedApp, "env" | "secrets">): string | Sensitive {
  const lines = Object.keys(app.env)
    .sort()
    .map((k) => `${k}=${app.env[k]}\n`);
  const secretKeys = Object.keys(app.secrets).sort();
  const secretLines = secretKeys.map((k) => `${k}=${app.secrets[k]!.reveal()}\n`);
  const text = [...lines, ...secretLines].join("");
  return secretKeys.length > 0 ? new Sensitive(text) : text;
}

/** What `docker create` gets the image as, and the image ID to expect when known. */
function imageOf(ctx: ProvisionContext): { run: string; id: string | null } {
  return ctx.image.source !== "registry"
    ? { run: ctx.image.imageId, id: ctx.image.imageId }
    : { run: ctx.image.ref, id: ctx.image.imageId ?? null };
}

function labelsOf(ctx: ProvisionContext): Array<[string, string]> {
  const labels: Array<[string, string]> = [
    [LABELS.app, ctx.app.name],
    [LABELS.version, ctx.release],
    [LABELS.slot, ctx.slot],
  ];
  if (ctx.planHash !== undefined) labels.push([LABELS.plan, ctx.planHash]);
  return labels;
}

/** NanoCpus as the engine stores `--cpus` (a whole number of billionths). */
function nanoCpus(cpus: number | undefined): string {
  return cpus === undefined ? "0" : String(Math.round(cpus * 1e9));
}

/**
 * The `docker inspect --format` template and the line it prints for the planned container.
 * Fields are joined by `|`; the ports part is `<port>/tcp=<hostIp>:<hostPort>,;`.
 */
export function containerExpectation(ctx: ProvisionContext): { format: string; expected: string } {
  const image = imageOf(ctx);
  const memory = ctx.app.resources.memory === undefined ? 0 : parseByteSize(ctx.app.resources.memory)!;
  const parts: Array<[string, string]> = [
    ["{{.State.Running}}", "true"],
    ["{{.Config.Image}}", image.run],
    ...(image.id ? ([["{{.Image}}", image.id]] as Array<[string, string]>) : []),
    ["{{.HostConfig.RestartPolicy.Name}}", ctx.app.restart],
    [
      "{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{range $b}}{{.HostIp}}:{{.HostPort}},{{end}};{{end}}",
      `${ctx.app.port}/tcp=:${hostPortOf(ctx.app)},;`,
    ],
    ["{{.HostConfig.Memory}}", String(memory)],
    ["{{.HostConfig.NanoCpus}}", nanoCpus(ctx.app.resources.cpus)],
    ...labelsOf(ctx).map(([k, v]): [string, string] => [`{{index .Config.Labels ${JSON.stringify(k)}}}`, v]),
  ];
  return { format: parts.map((p) => p[0]).join("|"), expected: parts.map((p) => p[1]).join("|") };
}

/**
 * The `docker create` arguments after `--name NAME`: options, the image, then the entrypoint's
 * arguments and the command. `--entrypoint` takes one word, so an entrypoint `[a, b]` runs as
 * `--entrypoint a IMAGE b ...`; as in Compose, setting an entrypoint also drops the image's CMD.
 */
export function createArguments(ctx: ProvisionContext): string[] {
  const app = ctx.app;
  const out: string[] = [
    "--restart",
    app.restart,
    "--publish",
    `${hostPortOf(app)}:${app.port}`,
    "--env-file",
    envFilePath(app, ctx.release),
    "--stop-timeout",
    String(app.stopTimeoutSeconds),
  ];
  if (app.init) out.push("--init");
  if (app.user !== undefined) out.push("--user", app.user);
  if (app.resources.memory !== undefined) out.push("--memory", app.resources.memory);
  if (app.resources.cpus !== undefined) out.push("--cpus", String(app.resources.cpus));
  if (app.logging) {
    out.push("--log-driver", app.logging.driver);
    for (const k of Object.keys(app.logging.options).sort()) out.push("--log-opt", `${k}=${app.logging.options[k]}`);
  }
  for (const v of app.volumes) out.push("--volume", `${v.source}:${v.target}${v.readOnly ? ":ro" : ""}`);
  for (const h of ctx.extraHosts ?? []) out.push("--add-host", `${h.name}:${h.address}`);
  const [entry, ...entryArgs] = app.entrypoint ?? [];
  if (app.entrypoint !== undefined) out.push("--entrypoint", entry ?? "");
  for (const [k, v] of labelsOf(ctx)) out.push("--label", `${k}=${v}`);
  out.push(imageOf(ctx).run, ...entryArgs, ...(app.command ?? []));
  return out;
}

/**
 * Replaces the app's container without ever leaving the host with nothing when the new one fails.
 * Arguments: app name, container name, env file directory, the env file to keep, then
 * `docker create`'s arguments after `--name`. Exit 0: the new container runs under its name.
 */
export const SWAP_SCRIPT = `set -u
app=$1; name=$2; envdir=$3; keep=$4; shift 4
next="$name.next"; prev="$name.prev"
# A .next left by an interrupted run is not serving anything.
docker rm -f "$next" >/dev/null 2>&1
exact() { printf '^/%s$' "$(printf '%s' "$1" | sed 's/[.]/\\\\./g')"; }
old=$( { docker ps -aq --filter "label=io.longshore.app=$app"; docker ps -aq --filter "name=$(exact "$name")"; docker ps -aq --filter "name=$(exact "$prev")"; } | sort -u )
if ! docker create --name "$next" "$@" >/dev/null; then
  echo "app.run: the new container could not be created; the running one (if any) was left as it was" >&2
  exit 1
fi
running=""
for id in $old; do
  if [ "$(docker inspect --format '{{.State.Running}}' "$id" 2>/dev/null)" = true ]; then running="$running $id"; fi
done
if [ -n "$running" ]; then docker stop $running >/dev/null; fi
# The name moves while both containers are stopped: a rename needs no network then (renaming a
# container the engine is restarting fails: "sandbox not found").
# A .prev left by an interrupted run is stopped (it is in $old) and would block the move below.
for id in $(docker ps -aq --filter "name=$(exact "$prev")"); do
  case " $running " in *" $id "*) ;; *) docker rm -f "$id" >/dev/null ;; esac
done
holder=$(docker ps -aq --filter "name=$(exact "$name")")
restore() {
  if [ -n "$holder" ] && ! docker rename "$holder" "$name"; then echo "app.run: the previous container could not get its name $name back (it is $prev)" >&2; fi
  if [ -n "$running" ]; then docker start $running >/dev/null && echo "app.run: the previous container was started again" >&2; fi
}
if [ -n "$holder" ] && ! docker rename "$holder" "$prev"; then
  echo "app.run: could not move the old container out of the name $name" >&2
  docker rm -f "$next" >/dev/null 2>&1
  holder=""
  restore
  exit 1
fi
if ! docker rename "$next" "$name"; then
  echo "app.run: could not give the new container the name $name" >&2
  docker rm -f "$next" >/dev/null 2>&1
  restore
  exit 1
fi
started=0
if docker start "$name" >/dev/null; then
  started=1
  # Replacing a running container: a new one that exits at once must not be what the host is left with.
  if [ -n "$running" ]; then
    sleep 1
    [ "$(docker inspect --format '{{.State.Status}}' "$name" 2>/dev/null)" = running ] || started=0
  fi
fi
if [ "$started" = 0 ]; then
  echo "app.run: the new container did not keep running; its last log lines:" >&2
  docker logs --tail 20 "$name" 2>&1 | sed 's/^/  /' >&2
  docker rm -f "$name" >/dev/null 2>&1
  restore
  exit 1
fi
# Some of these may be gone already (a .prev removed above).
if [ -n "$old" ]; then docker rm -f $old >/dev/null 2>&1; fi
# Env files of containers that are gone may hold old secrets.
for f in "$envdir"/*.env; do
  if [ -e "$f" ] && [ "$f" != "$envdir/$keep" ]; then rm -f "$f"; fi
done
exit 0`;

/** `app.run`: the app's container, running as planned. */
export const appRunStep: Step<ProvisionContext> = {
  id: "app.run",
  title: "Run the app container",
  plan(ctx) {
    const app = ctx.app;
    const name = containerName(app, ctx.release);
    const envFile = envFilePath(app, ctx.release);
    const { format, expected } = containerExpectation(ctx);
    const inspect: Command = {
      argv: ["sh", "-c", '[ "$(docker inspect --type container --format "$1" "$2" 2>/dev/null)" = "$3" ]', "sh", format, name, expected],
      sudo: true,
    };
    const files: RemoteFile[] = [{ path: envFile, source: { content: renderEnvFile(app) }, mode: 0o600, sudo: true }];
    const swap: Command = {
      argv: ["sh", "-c", SWAP_SCRIPT, "sh", app.name, name, envFileDir(app), envFile.slice(envFileDir(app).length + 1), ...createArguments(ctx)],
      sudo: true,
      timeoutMs: 2 * 60_000 + app.stopTimeoutSeconds * 1000,
    };
    return { files, check: [inspect], apply: [swap], verify: [inspect], timeoutMs: 3 * 60_000 + app.stopTimeoutSeconds * 1000 };
  },
};
