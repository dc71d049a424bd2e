/**
 * `longshore events`: the container engines' events (`docker system events`) from every host of
 * a slot (the live one unless `--slot` says), merged in time order, each after its host's name.
 * Without `--follow` the read ends now (`--until` now): `docker events` alone never ends.
 */
import type { Command } from "commander";
import { ConfigError, type ConfigIssue } from "../core/errors";
import { formatRfc3339Nano, msToNs, collectTimeRange, type EpochNs } from "../core/time-spec";
import { cleanLine, engineEventsCommand, formatEvent, parseEventLine, type EngineEvent } from "../provisioner/engine-streams";
import type { VerbDeps } from "./deps";
import type { ExitCode } from "./exit-codes";
import { describeOutcome, readExitCode, streamHosts } from "./host-streams";
import { addHostOptions, hostPrefixes, openHosts, slotIssue, type HostFlags } from "./slot-hosts";

/** The keys `docker events --filter` takes. */
export const EVENT_FILTER_KEYS = ["config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"] as const;

/** The flags of `events`. */
export interface EventsFlags extends HostFlags {
  follow?: boolean;
  since?: string;
  until?: string;
  filter?: string[];
}

/** The flags of `events`, checked. */
export interface EventsOptions {
  follow: boolean;
  since: EpochNs | null;
  /** Now when not following and none was given: the read must end. */
  until: EpochNs | null;
  filters: string[];
}

/** Checks the flags of `events`, every problem at once, each at its flag. Pure. */
export function eventsOptions(flags: EventsFlags, nowNs: EpochNs): EventsOptions {
  const issues: ConfigIssue[] = [...slotIssue(flags.slot)];
  const range = collectTimeRange(flags, nowNs, issues);
  const filters = flags.filter ?? [];
  for (const f of filters) {
    const key = /^([a-z]+)=./.exec(f)?.[1];
    if (key === undefined || !(EVENT_FILTER_KEYS as readonly string[]).includes(key)) {
      issues.push({ path: "--filter", message: `${JSON.stringify(f)} must be KEY=VALUE with KEY one of ${EVENT_FILTER_KEYS.join(", ")}` });
    }
  }
  if (issues.length) throw new ConfigError("command line", issues);
  const until = range.until ?? (flags.follow ? null : nowNs);
  return { follow: flags.follow === true, since: range.since, until, filters };
}

/** An event with its host. */
export interface HostEvent extends EngineEvent {
  host: string;
}

/** One line of output: `--json`'s object, or the host's padded name and the event as `docker events` prints it. Pure. */
export function formatHostEvent(e: HostEvent, prefix: string, json: boolean): string {
  if (json) return `${JSON.stringify({ time: formatRfc3339Nano(e.ns), host: e.host, type: e.type, action: e.action, id: e.id, attributes: e.attributes })}\n`;
  return `${prefix}${formatEvent(e)}\n`;
}

/** Adds `events`. */
export function register(program: Command, deps: VerbDeps): void {
  addHostOptions(
    program.command("events").description("the container engines' events from every host of the live slot (or --slot), merged in time order"),
    "one JSON object per line: { time, host, type, action, id, attributes }",
  )
    .option("--follow", "keep streaming new events until Ctrl-C (exit 130); without it the read ends now")
    .option("--since <time>", "events since then: a duration before now (10m, 1h30m, 2d), an RFC 3339 time, or a Unix time (default: what the engine still holds)")
    .option("--until <time>", "events until then (the same forms as --since; default: now, or never with --follow)")
    .option("--filter <key=value>", "the engine's event filter, e.g. type=container, event=start, label=io.longshore.app=demo (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .action(async (flags: EventsFlags) => {
      const options = eventsOptions(flags, msToNs(Date.now()));
      const { secrets, targets } = await openHosts(flags, deps, "events");
      const json = flags.json === true;
      const prefixes = hostPrefixes(targets);
      const codes: ExitCode[] = [];
      await streamHosts<HostEvent>({
        targets,
        command: engineEventsCommand(options),
        connect: deps.connect,
        follow: options.follow,
        ...(deps.signal ? { signal: deps.signal } : {}),
        streams: ["stdout"],
        parse: (host, stream, text) => {
          const e = stream === "stdout" ? parseEventLine(text, secrets) : null;
          return e === null ? null : { ns: e.ns, item: { ...e, host } };
        },
        onItem: (e) => void deps.stdout.write(formatHostEvent(e, prefixes.get(e.host) ?? `${e.host} | `, json)),
        onMessage: (host, text) => void deps.stderr.write(`${host}: ${cleanLine(text, secrets)}\n`),
        onOutcome: (o) => {
          const d = describeOutcome(o, "docker system events", options.follow);
          codes.push(d.code);
          if (d.message !== null) deps.stderr.write(`${cleanLine(d.message, secrets)}\n`);
        },
      });
      deps.setExitCode(readExitCode(codes, deps.signal?.aborted === true));
    });
}
