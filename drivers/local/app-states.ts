/**
 * What the app's container is doing on each machine of a group, read over SSH (pinned host keys,
 * one short connection per host, in parallel): its status, exit code, restart count and last log
 * lines. The rollout gate uses it to stop waiting for a container that has exited or keeps
 * restarting, and to say why. Secret values the app may print are replaced by `[redacted]`.
 */
import { redactText, type Sensitive } from "../../core/sensitive";
import type { AppState } from "../../rollout/driver";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { machineGroupSshTargets } from "./machine-group";
import type { LocalPaths } from "./paths";

/** Log lines a report carries per host. */
export const LOG_TAIL_LINES = 10;

/** The one command run per host: the app's newest container, its state line, then its last log lines. */
export function appStateScript(app: string): string[] {
  return [
    "sh",
    "-c",
    `c=$(docker ps -aq --filter "label=io.longshore.app=$1" | head -n 1); ` +
      `if [ -z "$c" ]; then echo missing; exit 0; fi; ` +
      `docker inspect --format '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$c" && docker logs --tail ${LOG_TAIL_LINES} "$c" 2>&1`,
    "sh",
    app,
  ];
}

/** Parses the command's output into an {@link AppState}. Pure. */
export function parseAppState(host: string, stdout: string, secrets: Iterable<Sensitive> = []): AppState {
  const lines = stdout.replace(/\n$/, "").split("\n");
  const [status = "unknown", exit, restarts] = (lines[0] ?? "").trim().split(/\s+/);
  if (status === "missing") return { host, status: "missing", exitCode: null, restartCount: 0, logTail: [] };
  const logTail = lines
    .slice(1)
    .map((l) => redactText(l, secrets).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ""))
    .filter((l) => l.trim() !== "")
    .slice(-LOG_TAIL_LINES);
  return { host, status, exitCode: exit === undefined ? null : Number(exit), restartCount: Number(restarts ?? 0) || 0, logTail };
}

/** Reads the app's state on every machine of `group`; a host that cannot be asked is `unknown`. */
export async function machineGroupAppStates(group: string, app: string, paths: LocalPaths, secrets: Iterable<Sensitive> = []): Promise<AppState[]> {
  const secretList = [...secrets];
  return Promise.all(
    machineGroupSshTargets(group, paths).map(async (target): Promise<AppState> => {
      try {
        const t = await connectSsh(target, { connectDeadlineMs: 10_000, commandTimeoutMs: 15_000 });
        try {
          const r = await t.exec({ argv: appStateScript(app), sudo: true });
          return r.exitCode === 0 ? parseAppState(target.name, r.stdout, secretList) : unknown(target.name, `exit ${r.exitCode}`);
        } finally {
          await t.close();
        }
      } catch (e) {
        return unknown(target.name, (e as Error).message.split("\n")[0] ?? "");
      }
    }),
  );
}

function unknown(host: string, why: string): AppState {
  return { host, status: "unknown", exitCode: null, restartCount: 0, logTail: [`(could not ask the host: ${why})`] };
}
