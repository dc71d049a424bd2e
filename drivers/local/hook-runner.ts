/**
 * The local driver's before-switch hook: one SSH connection (pinned host key, as everywhere) to the
 * first machine of the prepared group, where the app's container is asked which image ID it runs
 * (and which extra hosts it has), then the hook's `docker run --rm` (provisioner/steps/app-hook.ts)
 * runs with its output streamed back line by line, redacted of the app's secrets. At its timeout
 * the command is killed and the hook's container removed (a killed engine client does not stop it).
 */
import { TransportError } from "../../core/errors";
import type { Sensitive } from "../../core/sensitive";
import type { ResolvedApp } from "../../model/app";
import { releaseLabel } from "../../model/image-reference";
import type { SshTarget } from "../../model/ssh-target";
import { renderCommand } from "../../provisioner/command";
import { appContainerCommand, composeHookRunCommand, hookContainerName, hookRemoveCommand, hookRunCommand, parseAppContainer } from "../../provisioner/steps/app-hook";
import { containerName } from "../../provisioner/steps/app-run";
import type { HookResult, HookSpec, ProgressFn } from "../../rollout/driver";
import { HookOutput } from "../../rollout/hook-output";
import type { Connect } from "./host-keys";
import { machineGroupSshTargets } from "./machine-group";
import type { LocalPaths } from "./paths";
import type { FleetHost } from "./slot-driver";

/** How long the short commands around the hook (the inspect, the removal) may take. */
const SHORT_COMMAND_MS = 30_000;

/** Output the transport buffers besides the lines (the lines are what count; this only bounds memory). */
const MAX_BUFFERED_OUTPUT = 64 * 1024;

/** What a hook run needs besides where it runs. */
export interface HookRunInput {
  /** The app as the environment gives it (the hook's container is like its container). */
  app: Pick<ResolvedApp, "name" | "volumes" | "user" | "init"> & { service?: string | undefined; compose?: unknown };
  /** The image the prepared hosts run (names the app's container and env file). */
  image: string;
  hook: HookSpec;
  /** Secret values replaced by `[redacted]` in every output line. */
  secrets: Iterable<Sensitive>;
  connect: Connect;
  progress: ProgressFn;
}

/** Runs the hook on `target` (one connection); see the module's comment. */
export async function runHookOn(target: SshTarget, input: HookRunInput): Promise<HookResult> {
  const { app, hook, progress } = input;
  const host = target.name;
  const release = releaseLabel(input.image);
  const t = await input.connect(target, { connectDeadlineMs: SHORT_COMMAND_MS });
  try {
    // A Compose app's hook goes through Compose, which knows the service's image and settings.
    const command = app.compose !== undefined ? composeHookRunCommand(app, release, hook) : await (async () => {
      const inspect = await t.exec(appContainerCommand(app, release), { timeoutMs: SHORT_COMMAND_MS });
      if (inspect.exitCode !== 0) {
        throw new Error(`${host}: the app's container ${containerName(app, release)} is not there to run the hook like: ${inspect.stderr.trim().slice(0, 300)}`);
      }
      const found = parseAppContainer(inspect.stdout);
      if (!found.ok) throw new Error(`${host}: ${found.message}`);
      return hookRunCommand({ app, release, imageId: found.imageId, extraHosts: found.extraHosts }, hook);
    })();
    progress(`${host}: ${renderCommand(command, { mode: "display" })}`);
    const output = new HookOutput(input.secrets, (line) => progress(`${host}: ${line}`));
    const started = performance.now();
    try {
      const r = await t.exec(command, {
        timeoutMs: hook.timeoutMs,
        maxOutputBytes: MAX_BUFFERED_OUTPUT,
        onStdout: (chunk) => output.push("stdout", chunk),
        onStderr: (chunk) => output.push("stderr", chunk),
      });
      return { host, exitCode: r.exitCode, ...(r.signal !== null ? { signal: r.signal } : {}), durationMs: r.durationMs, outputTail: output.end() };
    } catch (e) {
      if (!(e instanceof TransportError && e.kind === "command-timeout")) throw e;
      const durationMs = Math.round(performance.now() - started);
      const removed = await t.exec(hookRemoveCommand(app, release), { timeoutMs: SHORT_COMMAND_MS }).then(
        (x) => x.exitCode === 0,
        () => false,
      );
      progress(`${host}: the hook ran past ${hook.timeoutMs / 1000} s: ${removed ? `its container ${hookContainerName(app, release)} was removed` : "its container could not be removed (the host goes with the rollout)"}`);
      return { host, exitCode: null, timedOut: true, durationMs, outputTail: output.end() };
    }
  } finally {
    await t.close();
  }
}

/**
 * The local slot driver's `runHook` option: runs on `host` of machine group `group`, reached with
 * the pins in the group's state under `paths`.
 */
export function localHookRunner(
  paths: LocalPaths,
  app: HookRunInput["app"],
  secrets: Iterable<Sensitive>,
  connect: Connect,
): (group: string, host: FleetHost, image: string, hook: HookSpec, progress: ProgressFn) => Promise<HookResult> {
  const secretList = [...secrets];
  return (group, host, image, hook, progress) => {
    const target = machineGroupSshTargets(group, paths).find((t) => t.name === host.name);
    if (!target) return Promise.reject(new Error(`${host.name}: machine group ${group} has no SSH target for it`));
    return runHookOn(target, { app, image, hook, secrets: secretList, connect, progress });
  };
}
