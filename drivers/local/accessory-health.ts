/**
 * What an accessory's host is asked, as commands (data): whether the accessory is healthy (its
 * container runs, its port answers on the host, and its `health.command`, if any, exits 0 in the
 * container), retried until a deadline; and what its container is. Runs with what a minimal Debian
 * host has (bash's /dev/tcp, coreutils' timeout and date). Pure; accessories.ts runs them over SSH.
 */
import type { AccessorySpec } from "../../model/accessory";
import type { Command } from "../../provisioner/command";
import { LABELS } from "../../provisioner/steps/app-run";

/**
 * The health script. Arguments: the accessory's name (its containers' `io.longshore.app` label),
 * its port, the deadline in ms (0: one attempt), then the health command's argv, if any.
 * Prints `healthy <container id>` and exits 0, or exits 1 with why not on stderr: a first line of
 * its own words (what `accessory status` shows), then the health command's last lines and the
 * container's state and last log lines (which may hold secrets: redact before showing).
 */
export const ACCESSORY_HEALTH_SCRIPT = `set -u
app=$1; port=$2; deadline=$3; shift 3
start=$(date +%s%3N)
said=""
while :; do
  c=$(docker ps -q --no-trunc --filter "label=${LABELS.app}=$app" | head -n 1)
  if [ -z "$c" ]; then
    last="no running container of $app"
  elif ! timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$port" 2>/dev/null; then
    last="port $port does not answer on the host"
  elif [ $# -gt 0 ] && ! said=$(timeout 10 docker exec "$c" "$@" 2>&1); then
    last="the health command failed"
  else
    echo "healthy $c"
    exit 0
  fi
  if [ $(( $(date +%s%3N) - start )) -ge "$deadline" ]; then
    echo "$last" >&2
    # The command's own words after the first line, which says only what failed.
    if [ "$last" = "the health command failed" ] && [ -n "$said" ]; then printf '%s\\n' "$said" | tail -n 3 | sed 's/^/  /' >&2; fi
    c=$(docker ps -aq --no-trunc --filter "label=${LABELS.app}=$app" | head -n 1)
    if [ -n "$c" ]; then
      echo "its container is $(docker inspect --format '{{.State.Status}} (exit {{.State.ExitCode}}, {{.RestartCount}} restarts)' "$c"); its last log lines:" >&2
      docker logs --tail 10 "$c" 2>&1 | sed 's/^/  /' >&2
    fi
    exit 1
  fi
  sleep 1
done`;

/** The health check of accessory `name` on its host, retried until `deadlineMs` (0: once). */
export function accessoryHealthCommand(name: string, spec: Pick<AccessorySpec, "port" | "health">, deadlineMs: number): Command {
  return {
    argv: ["bash", "-c", ACCESSORY_HEALTH_SCRIPT, "bash", name, String(spec.port), String(Math.round(deadlineMs)), ...(spec.health.command ?? [])],
    sudo: true,
    // The script stops itself at the deadline; the margin covers one attempt (2 s port, 10 s command) and the logs.
    timeoutMs: deadlineMs + 30_000,
  };
}

/** Reads the container id from the health script's output, or null. Pure. */
export function healthyContainerId(stdout: string): string | null {
  return /^healthy ([0-9a-f]{64})$/m.exec(stdout)?.[1] ?? null;
}

/** What an accessory's newest container is: its id, state and restart count (or `missing`). */
export function accessoryContainerCommand(name: string): Command {
  return {
    argv: [
      "sh",
      "-c",
      `c=$(docker ps -aq --no-trunc --filter "label=${LABELS.app}=$1" | head -n 1); ` +
        `if [ -z "$c" ]; then echo missing; exit 0; fi; ` +
        `docker inspect --format '{{.Id}} {{.State.Status}} {{.RestartCount}} {{index .Config.Labels "${LABELS.version}"}}' "$c"`,
      "sh",
      name,
    ],
    sudo: true,
  };
}

/** An accessory's container as its host reports it. */
export interface AccessoryContainer {
  id: string;
  /** The engine's state: `running`, `restarting`, `exited`... */
  status: string;
  restartCount: number;
  /** Its `io.longshore.version` label (the image's release label). */
  release: string;
}

/** Parses {@link accessoryContainerCommand}'s output; null when there is no container. Pure. */
export function parseAccessoryContainer(stdout: string): AccessoryContainer | null {
  const [id = "", status = "unknown", restarts = "0", release = ""] = stdout.trim().split(/\s+/);
  if (id === "missing" || id === "") return null;
  return { id, status, restartCount: Number(restarts) || 0, release };
}
