/**
 * `longshore app exec`: a command run in the app's running container on a host, as data. First
 * {@link findContainerCommand} asks the engine which container that is (by the labels longshore and
 * Compose set, never by a name guessed from the release), then {@link containerExecCommand} runs the
 * user's argv in it with `docker exec`, every word quoted by the one quoting function
 * (provisioner/command.ts's `renderCommand`, as for every command). Not a step: it changes nothing
 * a plan compares. Pure.
 */
import type { Command } from "../command";
import { LABELS } from "./app-run";

/** Compose's own labels on the containers of a project (what `docker compose ps` filters on). */
export const COMPOSE_LABELS = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  /** `True` on `docker compose run` containers (a before-switch hook's), `False` on the service's own. */
  oneoff: "com.docker.compose.oneoff",
} as const;

/** Which container to run in: the single-container app's, or a service's of the app's Compose project. */
export type ContainerQuery = { kind: "app"; app: string } | { kind: "compose"; project: string; service: string };

/** How a query is named in messages: `container labelled io.longshore.app=demo`, `container of service web of Compose project shop`. */
export function describeQuery(q: ContainerQuery): string {
  return q.kind === "app" ? `container labelled ${LABELS.app}=${q.app}` : `container of service ${q.service} of Compose project ${q.project}`;
}

/**
 * Lists the running containers `q` matches, newest first, one `ID NAME` line each. A Compose
 * service's one-off containers (`docker compose run`, such as a hook's) are not its own: left out.
 */
export function findContainerCommand(q: ContainerQuery): Command {
  const labels =
    q.kind === "app"
      ? [`${LABELS.app}=${q.app}`]
      : [`${COMPOSE_LABELS.project}=${q.project}`, `${COMPOSE_LABELS.service}=${q.service}`, `${COMPOSE_LABELS.oneoff}=False`];
  return {
    argv: ["docker", "ps", ...labels.flatMap((l) => ["--filter", `label=${l}`]), "--filter", "status=running", "--format", "{{.ID}} {{.Names}}"],
    sudo: true,
  };
}

/** A running container as {@link findContainerCommand} lists it. */
export interface FoundContainer {
  id: string;
  name: string;
  /** How many running containers matched (the newest is used: a scaled Compose service has several). */
  matches: number;
}

/** Reads {@link findContainerCommand}'s output: the newest container, or why there is none. */
export function parseFoundContainer(stdout: string, q: ContainerQuery): { ok: true; value: FoundContainer } | { ok: false; message: string } {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) return { ok: false, message: `no running ${describeQuery(q)}` };
  const [id = "", name = ""] = lines[0]!.trim().split(/\s+/);
  if (!/^[0-9a-f]{12,64}$/.test(id)) return { ok: false, message: `the engine listed no container ID for the ${describeQuery(q)} (${JSON.stringify(lines[0]!.slice(0, 100))})` };
  return { ok: true, value: { id, name: name || id, matches: lines.length } };
}

/**
 * `docker exec` of `argv` in container `id`. Interactive: `-i -t` (stdin kept open, a terminal in
 * the container, sized from the session's pty and resized with it). Each word of `argv` stays one
 * argument in the container.
 */
export function containerExecCommand(id: string, argv: readonly string[], options: { interactive: boolean }): Command {
  return { argv: ["docker", "exec", ...(options.interactive ? ["-i", "-t"] : []), id, ...argv], sudo: true };
}
