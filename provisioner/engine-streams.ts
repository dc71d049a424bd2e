/**
 * What `longshore logs` and `longshore events` run on each host, and how they read what comes
 * back: a container's log lines (`docker logs --timestamps`) and the engine's events
 * (`docker system events --format '{{json .}}'`), each with its time to the nanosecond so that
 * several hosts' streams merge in time order. Commands are data here; the CLI runs them.
 *
 * A following command is tied to its SSH channel: Debian 12's OpenSSH refuses signals on root
 * logins, and a closed channel alone ends `docker logs --follow` only at its next write (never, for
 * a quiet app: the e2e test sees it stay without this). So the command keeps the channel's stdin
 * open, and a watcher kills it when stdin ends, which is when the channel or the connection closes
 * (Ctrl-C, or longshore going away).
 */
import { PassThrough } from "node:stream";
import { redactText, type Sensitive } from "../core/sensitive";
import { engineTimestamp, formatRfc3339Nano, parseEngineTime, type EpochNs } from "../core/time-spec";
import type { Command } from "./command";

/** The exit code of the logs command when no container matches (the message is on stderr). */
export const NO_CONTAINER_EXIT = 3;

/**
 * Ends the shell (by then the `exec`ed engine command, same PID) when the channel's stdin ends.
 * A background job's stdin is /dev/null in a non-interactive shell, hence fd 3; its output goes to
 * /dev/null so that it never holds the channel open once the command ended by itself.
 */
const TIE_TO_CHANNEL = `exec 3<&0; (cat <&3 >/dev/null 2>&1; kill $$ 2>/dev/null) >/dev/null 2>&1 &`;

/** The stdin of a command tied to its channel: a stream that never ends (the channel's close ends it). */
function openStdin(): PassThrough {
  return new PassThrough();
}

/** Which container's logs: the newest one carrying `label=value` (stopped ones too: a crash is worth reading). */
export interface ContainerSelector {
  label: string;
  value: string;
}

/** The range and shape of a logs or events read. */
export interface StreamRange {
  /** @default none: from the start of the container's log, or the engine's events buffer */
  since?: EpochNs | null;
  /** @default none: to now (logs), or forever with `follow` (events) */
  until?: EpochNs | null;
  /** Keep streaming new lines until the channel closes. @default false */
  follow?: boolean;
}

/**
 * The command that prints a container's log lines with their times: `docker logs --timestamps`
 * of the newest container labelled `select`, stdout and stderr kept apart. No container is exit
 * {@link NO_CONTAINER_EXIT} with one line on stderr.
 */
export function containerLogsCommand(select: ContainerSelector, range: StreamRange & { tail?: number | null }): Command {
  const args = ["--timestamps", ...timeArgs(range)];
  if (range.tail !== undefined && range.tail !== null) args.push("--tail", String(range.tail));
  if (range.follow) args.push("--follow");
  const script =
    `c=$(docker ps -aq --filter "label=$1" | head -n 1); ` +
    `if [ -z "$c" ]; then echo "no container labelled $1" >&2; exit ${NO_CONTAINER_EXIT}; fi; shift; ` +
    `${range.follow ? `${TIE_TO_CHANNEL} ` : ""}exec docker logs "$@" "$c"${range.follow ? " 3<&-" : ""}`;
  return { argv: ["sh", "-c", script, "sh", `${select.label}=${select.value}`, ...args], sudo: true, ...(range.follow ? { stdin: openStdin } : {}) };
}

/** The command that prints the engine's events as JSON lines, `filters` as `docker events --filter` takes them. */
export function engineEventsCommand(range: StreamRange & { filters?: readonly string[] }): Command {
  const args = ["docker", "system", "events", "--format", "{{json .}}", ...timeArgs(range), ...(range.filters ?? []).flatMap((f) => ["--filter", f])];
  if (!range.follow) return { argv: args, sudo: true };
  return { argv: ["sh", "-c", `${TIE_TO_CHANNEL} exec "$@" 3<&-`, "sh", ...args], sudo: true, stdin: openStdin };
}

function timeArgs(range: StreamRange): string[] {
  return [
    ...(range.since !== undefined && range.since !== null ? ["--since", engineTimestamp(range.since)] : []),
    ...(range.until !== undefined && range.until !== null ? ["--until", engineTimestamp(range.until)] : []),
  ];
}

/** Control characters a terminal would act on (escape sequences, C1 controls, carriage returns): dropped, tabs kept. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Host output made safe to print: secrets replaced by `[redacted]`, control characters dropped. */
export function cleanLine(text: string, secrets: Iterable<Sensitive>): string {
  return redactText(text.replace(/\r$/, ""), secrets).replace(CONTROL, "");
}

/** One log line of a container. */
export interface LogLine {
  ns: EpochNs;
  stream: "stdout" | "stderr";
  /** The line as the app wrote it, secrets redacted, control characters dropped. */
  line: string;
}

/**
 * Reads one line of `docker logs --timestamps` (`<RFC 3339 time> <text>`); null when it does not
 * start with a time (the engine's own message, e.g. an error on stderr).
 */
export function parseLogLine(text: string, stream: LogLine["stream"], secrets: Iterable<Sensitive> = []): LogLine | null {
  const space = text.indexOf(" ");
  const ns = parseEngineTime(space < 0 ? text.replace(/\r$/, "") : text.slice(0, space));
  if (ns === null) return null;
  return { ns, stream, line: space < 0 ? "" : cleanLine(text.slice(space + 1), secrets) };
}

/** One event of an engine. */
export interface EngineEvent {
  ns: EpochNs;
  /** `container`, `image`, `network`, `volume`, `daemon`... */
  type: string;
  /** `start`, `die`, `pull`, `exec_start: sh -c ...` (secrets redacted). */
  action: string;
  /** The object's ID (a container's, an image's reference...). */
  id: string;
  /** The engine's attributes (`name`, `image`, labels...), secrets redacted. */
  attributes: Record<string, string>;
}

/**
 * Reads one line of `docker system events --format '{{json .}}'`; null when it is not one. The
 * time comes from `timeNano` read as text: as a JSON number it is beyond what a double holds exactly.
 */
export function parseEventLine(text: string, secrets: Iterable<Sensitive> = []): EngineEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== "object" || raw === null) return null;
  const e = raw as { Type?: unknown; Action?: unknown; status?: unknown; id?: unknown; time?: unknown; Actor?: { ID?: unknown; Attributes?: unknown } };
  const nano = /"timeNano"\s*:\s*(\d+)/.exec(text)?.[1];
  const ns = nano !== undefined ? BigInt(nano) : typeof e.time === "number" ? BigInt(Math.trunc(e.time)) * 1_000_000_000n : null;
  if (ns === null) return null;
  const list = [...secrets];
  const attrs = typeof e.Actor?.Attributes === "object" && e.Actor.Attributes !== null ? (e.Actor.Attributes as Record<string, unknown>) : {};
  const attributes: Record<string, string> = {};
  for (const k of Object.keys(attrs).sort()) attributes[k] = cleanLine(String(attrs[k]), list);
  return {
    ns,
    type: typeof e.Type === "string" ? e.Type : "",
    action: cleanLine(typeof e.Action === "string" ? e.Action : typeof e.status === "string" ? e.status : "", list),
    id: cleanLine(typeof e.Actor?.ID === "string" ? e.Actor.ID : typeof e.id === "string" ? e.id : "", list),
    attributes,
  };
}

/** An event as `docker events` prints it: `<time> container start <id> (image=..., name=...)`. */
export function formatEvent(e: EngineEvent): string {
  const attrs = Object.entries(e.attributes).map(([k, v]) => `${k}=${v}`);
  return `${formatRfc3339Nano(e.ns)} ${e.type} ${e.action} ${e.id}${attrs.length ? ` (${attrs.join(", ")})` : ""}`;
}
