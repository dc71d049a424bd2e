/**
 * `app.run`: one container of the app on the host, named `<app>-<version>`, from the planned
 * image, with its port, restart policy, env file (0600, secrets inside, uploaded by this step) and
 * the labels rollouts and `status` read (`io.longshore.app`, `.version`, `.slot`, `.plan`).
 *
 * Check: one `docker inspect --format` of the container compared with the expected line (running,
 * image, restart policy, port, labels). Apply: remove every container of this app (any version:
 * a host serves one version of an app; rollouts replace hosts, not containers), then `docker run`.
 * A changed env file fails the file comparison and so re-creates the container too.
 */
import { Sensitive } from "../../core/sensitive";
import type { AppSpec } from "../../config/app";
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

/** The container's name: `<app>-<version>`, with anything docker refuses replaced by `-`. */
export function containerName(app: Pick<AppSpec, "name" | "version">): string {
  return `${app.name}-${app.version}`.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
}

/** Where the env file lives on the host. */
export function envFilePath(app: Pick<AppSpec, "name" | "version">): string {
  return `${HOST_PATHS.appEnvDir}/${containerName(app)}.env`;
}

/**
 * The env file's text: `KEY=value` per line, plain env first then secrets, keys sorted (stable
 * bytes: same config, same sha, no restart). Sensitive when any secret is in it.
 */
export function renderEnvFile(app: Pick<AppSpec, "env" | "secrets">): string | Sensitive {
  const lines = Object.keys(app.env)
    .sort()
    .map((k) => `${k}=${app.env[k]}\n`);
  const secretKeys = Object.keys(app.secrets).sort();
  const secretLines = secretKeys.map((k) => `${k}=${app.secrets[k]!.reveal()}\n`);
  const text = [...lines, ...secretLines].join("");
  return secretKeys.length > 0 ? new Sensitive(text) : text;
}

/** What `docker run` gets the image as, and the image ID to expect when known. */
function imageOf(ctx: ProvisionContext): { run: string; id: string | null } {
  return ctx.image.source === "archive"
    ? { run: ctx.image.imageId, id: ctx.image.imageId }
    : { run: ctx.image.ref, id: ctx.image.imageId ?? null };
}

function labelsOf(ctx: ProvisionContext): Array<[string, string]> {
  const labels: Array<[string, string]> = [
    [LABELS.app, ctx.app.name],
    [LABELS.version, ctx.app.version],
    [LABELS.slot, ctx.slot],
  ];
  if (ctx.planHash !== undefined) labels.push([LABELS.plan, ctx.planHash]);
  return labels;
}

/**
 * The `docker inspect --format` template and the line it prints for the planned container.
 * Fields are joined by `|`; the ports part is `<containerPort>/tcp=<hostIp>:<hostPort>,;`.
 */
export function containerExpectation(ctx: ProvisionContext): { format: string; expected: string } {
  const image = imageOf(ctx);
  const parts: Array<[string, string]> = [
    ["{{.State.Running}}", "true"],
    ["{{.Config.Image}}", image.run],
    ...(image.id ? ([["{{.Image}}", image.id]] as Array<[string, string]>) : []),
    ["{{.HostConfig.RestartPolicy.Name}}", ctx.app.restart],
    [
      "{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{range $b}}{{.HostIp}}:{{.HostPort}},{{end}};{{end}}",
      `${ctx.app.containerPort}/tcp=:${ctx.app.hostPort},;`,
    ],
    ...labelsOf(ctx).map(([k, v]): [string, string] => [`{{index .Config.Labels ${JSON.stringify(k)}}}`, v]),
  ];
  return { format: parts.map((p) => p[0]).join("|"), expected: parts.map((p) => p[1]).join("|") };
}

/** `app.run`: the app's container, running as planned. */
export const appRunStep: Step<ProvisionContext> = {
  id: "app.run",
  title: "Run the app container",
  plan(ctx) {
    const app = ctx.app;
    const name = containerName(app);
    const envFile = envFilePath(app);
    const image = imageOf(ctx);
    const { format, expected } = containerExpectation(ctx);
    const inspect: Command = {
      argv: ["sh", "-c", '[ "$(docker inspect --type container --format "$1" "$2" 2>/dev/null)" = "$3" ]', "sh", format, name, expected],
      sudo: true,
    };
    const files: RemoteFile[] = [{ path: envFile, source: { content: renderEnvFile(app) }, mode: 0o600, sudo: true }];
    const nameRegex = `^/${name.replace(/[.]/g, "\\.")}$`;
    const run: string[] = [
      "docker",
      "run",
      "--detach",
      "--name",
      name,
      "--restart",
      app.restart,
      "--publish",
      `${app.hostPort}:${app.containerPort}`,
      "--env-file",
      envFile,
      ...(app.init ? ["--init"] : []),
      ...labelsOf(ctx).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
      image.run,
    ];
    return {
      files,
      check: [inspect],
      apply: [
        {
          argv: [
            "sh",
            "-c",
            'ids=$( { docker ps -aq --filter "label=$1"; docker ps -aq --filter "name=$2"; } | sort -u ); if [ -n "$ids" ]; then docker rm -f $ids >/dev/null; fi',
            "sh",
            `${LABELS.app}=${app.name}`,
            nameRegex,
          ],
          sudo: true,
        },
        { argv: run, sudo: true, timeoutMs: 2 * 60_000 },
      ],
      verify: [inspect],
      timeoutMs: 3 * 60_000,
    };
  },
};
