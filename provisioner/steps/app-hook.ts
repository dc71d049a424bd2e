/**
 * The before-switch hook's container (`rollout.beforeSwitch`): one `docker run --rm` on a new host,
 * after its app container passed the health gate, like that container (the image ID it runs, its
 * env file, volumes, user, init and extra hosts) but with the hook's argv in place of the image's
 * ENTRYPOINT and CMD, and without what serves traffic (no published port, no restart policy, no
 * limits or log options of the app's). Not a step: it runs once per rollout, not on every host,
 * and changes nothing a plan compares. Pure: commands as data, run by the driver.
 */
import type { ResolvedApp } from "../../model/app";
import { volumeText } from "../../model/deployment";
import type { Command } from "../command";
import { COMPOSE_RUN_SCRIPT, composePaths } from "./app-compose";
import { containerName, envFilePath } from "./app-run";

/** The label the hook's container carries (never `io.longshore.app`: it is not the app's container). */
export const HOOK_LABEL = "io.longshore.hook";

/** What the hook's container is made from. */
export interface HookContext {
  /** The app as the host runs it (its secrets are in the env file on the host already). */
  app: Pick<ResolvedApp, "name" | "volumes" | "user" | "init">;
  /** The release label of the image (`releaseLabel`): names the app's container and its env file. */
  release: string;
  /** The image ID the host's app container runs (`sha256:...`), from {@link appContainerCommand}. */
  imageId: string;
  /** The app container's extra hosts (`NAME:ADDRESS`, as `docker inspect` gives them). @default [] */
  extraHosts?: readonly string[];
}

/** The hook's container: `<app>-<release>-hook`. */
export function hookContainerName(app: Pick<ResolvedApp, "name">, release: string): string {
  return `${containerName(app, release)}-hook`;
}

/**
 * Asks the host what its app container runs: one line, the image ID, then each extra host
 * (`sha256:... db:10.213.47.9`). Exit 1 when there is no such container.
 */
export function appContainerCommand(app: Pick<ResolvedApp, "name">, release: string): Command {
  return {
    argv: ["docker", "inspect", "--type", "container", "--format", "{{.Image}}{{range .HostConfig.ExtraHosts}} {{.}}{{end}}", containerName(app, release)],
    sudo: true,
  };
}

/** Reads {@link appContainerCommand}'s line. Pure. */
export function parseAppContainer(stdout: string): { ok: true; imageId: string; extraHosts: string[] } | { ok: false; message: string } {
  const [imageId = "", ...extraHosts] = stdout.trim().split(/\s+/);
  if (!/^sha256:[0-9a-f]{64}$/.test(imageId)) return { ok: false, message: `the engine gave no image ID for the app's container (${JSON.stringify(stdout.trim().slice(0, 100))})` };
  return { ok: true, imageId, extraHosts };
}

/**
 * The hook's `docker run`: `--rm`, named {@link hookContainerName}, the app container's image by
 * ID (never pulled), env file, init, user, volumes and extra hosts, `--entrypoint` the hook's
 * program and its arguments after the image. Output comes back on the command's stdout and
 * stderr; its exit code is the hook's (125-127: the engine could not run it).
 */
export function hookRunCommand(ctx: HookContext, hook: { command: readonly string[] }): Command {
  const [program = "", ...args] = hook.command;
  const argv = ["docker", "run", "--rm", "--name", hookContainerName(ctx.app, ctx.release), "--pull", "never", "--env-file", envFilePath(ctx.app, ctx.release)];
  if (ctx.app.init) argv.push("--init");
  if (ctx.app.user !== undefined) argv.push("--user", ctx.app.user);
  for (const v of ctx.app.volumes) argv.push("--volume", volumeText(v));
  for (const h of ctx.extraHosts ?? []) argv.push("--add-host", h);
  argv.push("--label", `${HOOK_LABEL}=before-switch`, "--entrypoint", program, ctx.imageId, ...args);
  return { argv, sudo: true };
}

/**
 * A Compose app's hook: a one-off container of `service` (default `app.service`) through Compose
 * itself ({@link COMPOSE_RUN_SCRIPT}), the project being up on the host already.
 */
export function composeHookRunCommand(app: Pick<ResolvedApp, "name"> & { service?: string | undefined }, release: string, hook: { command: readonly string[]; service?: string | undefined }): Command {
  const [program = "", ...args] = hook.command;
  const service = hook.service ?? app.service;
  if (service === undefined) throw new Error("a Compose app's hook needs app.service or rollout.beforeSwitch.service");
  const paths = composePaths(app);
  return {
    argv: ["sh", "-c", COMPOSE_RUN_SCRIPT, "sh", envFilePath(app, release), paths.dir, app.name, hookContainerName(app, release), service, program, ...args],
    sudo: true,
  };
}

/** Removes the hook's container (stopped at its timeout: the engine's client going away does not stop it). */
export function hookRemoveCommand(app: Pick<ResolvedApp, "name">, release: string): Command {
  return { argv: ["docker", "rm", "--force", hookContainerName(app, release)], sudo: true, okExitCodes: [0, 1] };
}
