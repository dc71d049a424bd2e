/**
 * `longshore logs`: the app's container logs from every host of a slot (the live one unless
 * `--slot` says), merged in time order, each line after its host's name (`docker compose logs`
 * style). `--follow` streams until Ctrl-C. Secrets of the environment print as `[redacted]`.
 *
 * Follow is `--follow` only: `-f` is the environment file on every environment verb (the same flag
 * for the same thing everywhere), so a `docker logs -f` habit stops with a usage error (`-f` wants
 * a file) instead of following.
 */
import type { Command } from "commander";
import { ConfigError, type ConfigIssue } from "../core/errors";
import { formatRfc3339Nano, msToNs, collectTimeRange, type EpochNs } from "../core/time-spec";
import { composeAppView, parseComposeFile } from "../model/compose";
import type { LoadedEnvironment } from "../model/environment-file";
import { cleanLine, containerLogsCommand, NO_CONTAINER_EXIT, parseLogLine, type ContainerSelector, type LogLine } from "../provisioner/engine-streams";
import { SERVICE_LABEL } from "../provisioner/steps/app-compose";
import { LABELS } from "../provisioner/steps/app-run";
import type { VerbDeps } from "./deps";
import type { ExitCode } from "./exit-codes";
import { describeOutcome, readExitCode, streamHosts } from "./host-streams";
import { addHostOptions, hostPrefixes, openHosts, slotIssue, type HostFlags } from "./slot-hosts";

/** The flags of `logs`. */
export interface LogsFlags extends HostFlags {
  follow?: boolean;
  since?: string;
  until?: string;
  tail?: string;
  grep?: string;
  service?: string;
  timestamps?: boolean;
}

/** The flags of `logs`, checked. */
export interface LogsOptions {
  follow: boolean;
  since: EpochNs | null;
  until: EpochNs | null;
  /** Lines per host from the end of its log; null for all. */
  tail: number | null;
  grep: RegExp | null;
}

/** Checks the flags of `logs`, every problem at once, each at its flag. Pure. */
export function logsOptions(flags: LogsFlags, nowNs: EpochNs): LogsOptions {
  const issues: ConfigIssue[] = [...slotIssue(flags.slot)];
  const range = collectTimeRange(flags, nowNs, issues);
  let tail: number | null = null;
  if (flags.tail !== undefined && flags.tail !== "all") {
    if (/^\d{1,9}$/.test(flags.tail)) tail = Number(flags.tail);
    else issues.push({ path: "--tail", message: `must be a number of lines or all; got ${JSON.stringify(flags.tail)}` });
  }
  let grep: RegExp | null = null;
  if (flags.grep !== undefined) {
    try {
      grep = new RegExp(flags.grep);
    } catch (e) {
      issues.push({ path: "--grep", message: `is not a regular expression: ${(e as Error).message}` });
    }
  }
  if (issues.length) throw new ConfigError("command line", issues);
  return { follow: flags.follow === true, ...range, tail, grep };
}

/**
 * Which container's logs: a Compose app's `--service` (default `app.service`, the served one) by
 * its `io.longshore.service` label; a single-container app's container by `io.longshore.app`.
 */
export function logsSelector(loaded: Pick<LoadedEnvironment, "env" | "compose">, service: string | undefined): ContainerSelector {
  const app = loaded.env.app;
  if (!loaded.compose || app.service === undefined) {
    if (service !== undefined) throw new ConfigError("command line", [{ path: "--service", message: `is for Compose apps (app.compose); ${app.name} is one container` }]);
    return { label: LABELS.app, value: app.name };
  }
  const wanted = service ?? app.service;
  const project = parseComposeFile(loaded.compose.text, composeAppView(app), loaded.compose.file);
  const names = project.ok ? Object.keys(project.value.services) : [];
  if (project.ok && !names.includes(wanted)) {
    throw new ConfigError("command line", [{ path: "--service", message: `${JSON.stringify(wanted)} is not a service of ${loaded.compose.file} (it has ${names.join(", ")})` }]);
  }
  return { label: SERVICE_LABEL, value: wanted };
}

/** A log line with its host, as `--json` prints it. */
export interface HostLogLine extends LogLine {
  host: string;
}

/** One line of output: `--json`'s object, or the host's padded name and the line. Pure. */
export function formatLogLine(l: HostLogLine, prefix: string, options: { json: boolean; timestamps: boolean }): string {
  if (options.json) return `${JSON.stringify({ time: formatRfc3339Nano(l.ns), host: l.host, stream: l.stream, line: l.line })}\n`;
  return `${prefix}${options.timestamps ? `${formatRfc3339Nano(l.ns)} ` : ""}${l.line}\n`;
}

/** Adds `logs`. */
export function register(program: Command, deps: VerbDeps): void {
  addHostOptions(
    program.command("logs").description("the app's container logs from every host of the live slot (or --slot), merged in time order"),
    "one JSON object per line: { time, host, stream, line }",
  )
    .option("--follow", "keep streaming new lines until Ctrl-C (exit 130); -f is the environment file, as on every verb")
    .option("--since <time>", "lines since then: a duration before now (10m, 1h30m, 2d), an RFC 3339 time, or a Unix time")
    .option("--until <time>", "lines until then (the same forms as --since)")
    .option("--tail <n>", "the last N lines of each host's log, or all (default: all)")
    .option("--grep <regexp>", "only lines that match this JavaScript regular expression (after redaction)")
    .option("--service <name>", "a Compose app's service (default: app.service, the one that receives traffic)")
    .option("--timestamps", "print each line's time (RFC 3339, UTC) after the host's name")
    .action(async (flags: LogsFlags) => {
      const options = logsOptions(flags, msToNs(Date.now()));
      let select: ContainerSelector | undefined;
      const opened = await openHosts(flags, deps, "logs", (loaded) => void (select = logsSelector(loaded, flags.service)));
      const { secrets, targets } = opened;
      const json = flags.json === true;
      const prefixes = hostPrefixes(targets);
      const codes: ExitCode[] = [];
      await streamHosts<HostLogLine>({
        targets,
        command: containerLogsCommand(select!, options),
        connect: deps.connect,
        follow: options.follow,
        ...(deps.signal ? { signal: deps.signal } : {}),
        streams: ["stdout", "stderr"],
        parse: (host, stream, text) => {
          const l = parseLogLine(text, stream, secrets);
          return l === null ? null : { ns: l.ns, item: { ...l, host } };
        },
        onItem: (l) => {
          if (options.grep && !options.grep.test(l.line)) return;
          deps.stdout.write(formatLogLine(l, prefixes.get(l.host) ?? `${l.host} | `, { json, timestamps: flags.timestamps === true }));
        },
        onMessage: (host, text) => void deps.stderr.write(`${host}: ${cleanLine(text, secrets)}\n`),
        onOutcome: (o) => {
          const d = describeOutcome(o, "docker logs", options.follow, NO_CONTAINER_EXIT);
          codes.push(d.code);
          if (d.message !== null) deps.stderr.write(`${cleanLine(d.message, secrets)}\n`);
        },
      });
      deps.setExitCode(readExitCode(codes, deps.signal?.aborted === true));
    });
}
