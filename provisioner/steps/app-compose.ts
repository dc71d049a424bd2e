/**
 * `app.compose`: a Compose app's project, run on the host by Compose itself:
 * `docker compose -p <app> -f compose.yaml -f longshore.override.yaml up -d --wait`.
 *
 * The user's Compose file is sent byte for byte (checked before any host by model/compose.ts).
 * What longshore adds is a second Compose file that Compose merges over it (its own merge rules,
 * nothing re-implemented), holding no secret value:
 * - each service's `image`: what this delivery put on the host (the image ID of a layered delivery,
 *   with `pull_policy: never`; the digest-pinned reference of a registry one); services of the
 *   app's repository run the slot's image;
 * - the labels rollouts and `status` read (`io.longshore.plan` on every service, `io.longshore.app`
 *   on the served one), `restart` and `stop_grace_period` from the app where the file sets none;
 * - `environment` of the services that run the app's image: every key of `app.env` and
 *   `app.secrets` as `${LONGSHORE_ENV_<KEY>}`, which Compose fills from its own process
 *   environment, exported by the apply script from the 0600 env file (`KEY=value` lines read raw:
 *   the value reaches the container byte for byte, never re-parsed by a dotenv reader);
 * - `secrets`: each secret a service names, as a 0600 file (`/run/secrets/<KEY>` in the container);
 * - `extra_hosts`: the accessories; `ports`: the served service's `app.hostPort:app.port`.
 *
 * Check (also the verify): `docker compose config -q` accepts the two files, and every service that
 * starts by default has a running container carrying this plan's label.
 */
import { hostPortOf } from "../../model/app";
import { composeAppView, parseComposeFile, type ComposeProject } from "../../model/compose";
import type { Command } from "../command";
import type { RemoteFile, Step } from "../step";
import { envFileDir, envFilePath, LABELS, renderEnvFile } from "./app-run";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** The label naming a container's Compose service (set by longshore beside Compose's own). */
export const SERVICE_LABEL = "io.longshore.service";

/** The prefix of the variables the apply script exports for Compose to fill `environment` from. */
export const ENV_PREFIX = "LONGSHORE_ENV_";

/** Where a Compose app's files live on the host. */
export function composePaths(app: { name: string }) {
  const dir = `${HOST_PATHS.appEnvDir}/${app.name}/compose`;
  return {
    dir,
    file: `${dir}/compose.yaml`,
    override: `${dir}/longshore.override.yaml`,
    secretsDir: `${HOST_PATHS.appEnvDir}/${app.name}/secrets`,
  };
}

/** The checked project of the context's app (checked when the environment was loaded: a problem here is a bug). */
export function composeProjectOf(ctx: Pick<ProvisionContext, "app">): ComposeProject {
  const compose = ctx.app.compose;
  if (!compose || ctx.app.service === undefined) throw new Error("app.compose planned for an app without a Compose file");
  const r = parseComposeFile(compose.text, composeAppView(ctx.app), compose.file);
  if (!r.ok) throw new Error(`${compose.file} no longer passes its checks: ${r.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
  return r.value;
}

/** What a service runs as on the host: the slot's image for the app's repository, else its delivered companion. */
function runAs(ctx: ProvisionContext, image: string, runsAppImage: boolean): string {
  if (runsAppImage) return ctx.image.source !== "registry" ? ctx.image.imageId : ctx.image.ref;
  const delivered = ctx.image.companions?.[image];
  if (delivered === undefined) throw new Error(`the delivery has no image for ${image} (a Compose service's image)`);
  return delivered;
}

/** The override Compose merges over the user's file (JSON, which Compose reads as YAML). Pure; no secret values. */
export function composeOverride(ctx: ProvisionContext, project: ComposeProject = composeProjectOf(ctx)): string {
  const app = ctx.app;
  const envKeys = [...Object.keys(app.env), ...Object.keys(app.secrets)].sort();
  const paths = composePaths(app);
  const services: Record<string, Record<string, unknown>> = {};
  const named = new Set<string>();
  for (const [name, svc] of Object.entries(project.services)) {
    const labels: Record<string, string> = {
      [LABELS.version]: ctx.release,
      [LABELS.slot]: ctx.slot,
      [SERVICE_LABEL]: name,
      ...(name === app.service ? { [LABELS.app]: app.name } : {}),
      ...(ctx.planHash !== undefined ? { [LABELS.plan]: ctx.planHash } : {}),
    };
    const out: Record<string, unknown> = { image: runAs(ctx, svc.image, svc.runsAppImage), labels };
    if (ctx.image.source === "layers") out["pull_policy"] = "never";
    if (!svc.setsRestart) out["restart"] = app.restart;
    if (!svc.setsStopGracePeriod) out["stop_grace_period"] = `${app.stopTimeoutSeconds}s`;
    if (svc.runsAppImage && envKeys.length) out["environment"] = Object.fromEntries(envKeys.map((k) => [k, `\${${ENV_PREFIX}${k}}`]));
    if (ctx.extraHosts?.length) out["extra_hosts"] = ctx.extraHosts.map((h) => `${h.name}:${h.address}`);
    if (name === app.service) out["ports"] = [`${hostPortOf(app)}:${app.port}`];
    svc.secrets.forEach((s) => named.add(s));
    services[name] = out;
  }
  const secrets = Object.fromEntries([...named].sort().map((k) => [k, { file: `${paths.secretsDir}/${k}` }]));
  return `${JSON.stringify({ services, ...(named.size ? { secrets } : {}) }, null, 2)}\n`;
}

/**
 * Exports each `KEY=value` line of the env file `$1` as `LONGSHORE_ENV_KEY` (raw: `read -r`, no
 * word splitting, no expansion), so the rest of a script's `docker compose` fills the override's
 * `environment` from them.
 */
const EXPORT_ENV = `while IFS= read -r line || [ -n "$line" ]; do
  [ -n "$line" ] || continue
  export "${ENV_PREFIX}\${line%%=*}=\${line#*=}"
done < "$1"`;

/**
 * Applies the project. Arguments: env file, project directory, project name, env file directory,
 * `--wait-timeout` seconds. Env files of other releases are removed once the project is up (they
 * may hold old secrets).
 */
export const COMPOSE_UP_SCRIPT = `set -eu
${EXPORT_ENV}
envfile=$1; dir=$2; project=$3; envdir=$4; wait=$5
cd "$dir"
if ! docker compose -p "$project" -f compose.yaml -f longshore.override.yaml up -d --wait --wait-timeout "$wait" --remove-orphans --quiet-pull; then
  echo "app.compose: the project did not come up; its services:" >&2
  docker compose -p "$project" -f compose.yaml -f longshore.override.yaml ps -a --format '  {{.Service}}: {{.State}} {{.Status}}' >&2 || true
  docker compose -p "$project" -f compose.yaml -f longshore.override.yaml logs --no-color --tail 10 >&2 2>&1 || true
  exit 1
fi
for f in "$envdir"/*.env; do
  if [ -e "$f" ] && [ "$f" != "$envfile" ]; then rm -f "$f"; fi
done`;

/**
 * Exit 0 when Compose accepts the files and every default service (`$5`: their names sorted, each
 * followed by a space) has a running container of this plan (`$4`). Arguments: env file, project
 * directory, project name, plan hash, services.
 */
export const COMPOSE_CHECK_SCRIPT = `set -eu
[ -f "$1" ] || exit 1
${EXPORT_ENV}
dir=$2; project=$3; plan=$4; want=$5
cd "$dir" 2>/dev/null || exit 1
docker compose -p "$project" -f compose.yaml -f longshore.override.yaml config -q 2>/dev/null || exit 1
have=$(docker ps --filter "label=com.docker.compose.project=$project" --filter "label=io.longshore.plan=$plan" --filter status=running --format '{{.Label "com.docker.compose.service"}}' | sort -u | tr '\\n' ' ')
[ "$have" = "$want" ]`;

/**
 * Runs a one-off container of a service like its own (`docker compose run --rm --no-deps -T`: the
 * service's image, environment, secrets, volumes and networks; no published port), with the env
 * exported as for `up`. Arguments: env file, project directory, project name, container name,
 * service, program, then the program's arguments. Exit status: the program's.
 */
export const COMPOSE_RUN_SCRIPT = `set -eu
${EXPORT_ENV}
dir=$2; project=$3; name=$4; service=$5; program=$6; shift 6
cd "$dir"
exec docker compose -p "$project" -f compose.yaml -f longshore.override.yaml run --rm --no-deps -T --name "$name" --label io.longshore.hook=before-switch --entrypoint "$program" "$service" "$@"`;

/** `app.compose`: the app's Compose project, up as planned. */
export const appComposeStep: Step<ProvisionContext> = {
  id: "app.compose",
  title: "Run the app's Compose project",
  plan(ctx) {
    const app = ctx.app;
    const project = composeProjectOf(ctx);
    const paths = composePaths(app);
    const envFile = envFilePath(app, ctx.release);
    const files: RemoteFile[] = [
      { path: envFile, source: { content: renderEnvFile(app) }, mode: 0o600, sudo: true },
      { path: paths.file, source: { content: app.compose!.text }, mode: 0o600, sudo: true },
      { path: paths.override, source: { content: composeOverride(ctx, project) }, mode: 0o600, sudo: true },
    ];
    const named = new Set(Object.values(project.services).flatMap((s) => s.secrets));
    for (const key of [...named].sort()) {
      files.push({ path: `${paths.secretsDir}/${key}`, source: { content: app.secrets[key]! }, mode: 0o600, sudo: true });
    }
    const want = Object.entries(project.services)
      .filter(([, s]) => s.startsByDefault)
      .map(([name]) => name)
      .sort()
      .map((n) => `${n} `)
      .join("");
    const check: Command = { argv: ["sh", "-c", COMPOSE_CHECK_SCRIPT, "sh", envFile, paths.dir, app.name, ctx.planHash ?? "", want], sudo: true };
    const waitSeconds = Math.max(10, Math.ceil(ctx.healthDeadlineMs / 1000));
    const up: Command = {
      argv: ["sh", "-c", COMPOSE_UP_SCRIPT, "sh", envFile, paths.dir, app.name, envFileDir(app), String(waitSeconds)],
      sudo: true,
      timeoutMs: (waitSeconds + 120) * 1000 + app.stopTimeoutSeconds * 1000,
    };
    return { files, check: [check], apply: [up], verify: [check], timeoutMs: (waitSeconds + 180) * 1000 + app.stopTimeoutSeconds * 1000 };
  },
};
