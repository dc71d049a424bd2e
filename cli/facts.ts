/**
 * `longshore facts`: what each host is (OS, arch, kernel, cgroup, init, disk, memory, engine),
 * one connection and one round-trip per host. `--demo` runs it against a throwaway local sshd.
 */
import type { Command } from "commander";
import { AggregateHostError, ConfigError } from "../core/errors";
import { gatherFacts, type HostFacts } from "../provisioner/facts";
import type { SshTarget } from "../model/ssh-target";
import type { DemoSshd } from "./demo-sshd";
import type { VerbDeps } from "./deps";
import { eachHost, type HostOutcome } from "./each-host";
import { createProgress, errorJson, formatBytes, progressMode, table } from "./output";
import { addTargetOptions, hasTargetFlags, parseConcurrency, resolveTargets, type TargetFlags } from "./targets";

interface FactsFlags extends TargetFlags {
  json?: boolean;
  concurrency?: string;
  demo?: boolean;
}

/** Adds the `facts` verb. */
export function register(program: Command, deps: VerbDeps): void {
  const cmd = program
    .command("facts")
    .description("show what each host is: OS, architecture, kernel, cgroup version, init, free disk, memory, container engine");
  addTargetOptions(cmd)
    .option("--json", "print one JSON document (no progress output)")
    .option("--concurrency <n>", "hosts at once (default 16)")
    .option("--demo", "start a throwaway sshd on 127.0.0.1 with generated keys and show its facts")
    .action((flags: FactsFlags) => runFacts(flags, deps));
}

async function runFacts(flags: FactsFlags, deps: VerbDeps): Promise<void> {
  const json = flags.json === true;
  const concurrency = parseConcurrency(flags.concurrency);
  let demo: DemoSshd | undefined;
  try {
    let targets: SshTarget[];
    if (flags.demo) {
      if (hasTargetFlags(flags)) {
        throw new ConfigError("command line", [{ path: "--demo", message: "starts its own sshd: drop --inventory/--host and their flags" }]);
      }
      demo = await deps.startDemoSshd();
      targets = [demo.target];
      if (!json) {
        const t = demo.target;
        deps.stderr.write(`demo sshd: ${t.user}@${t.address}:${t.port} (pid ${demo.pid}), host key ${t.hostKey.fingerprints?.[0] ?? "?"}\n`);
      }
    } else {
      targets = await resolveTargets(flags, {
        cwd: deps.cwd,
        homeDir: deps.homeDir,
        readFile: deps.readFile,
        ...(deps.env["SSH_AUTH_SOCK"] ? { sshAuthSock: deps.env["SSH_AUTH_SOCK"] } : {}),
      });
    }
    const progress = createProgress(deps.stderr, progressMode(deps.stderr, json), targets.map((t) => t.name));
    const outcomes = await eachHost(targets, { concurrency, deps, progress, working: "gathering facts" }, (t) =>
      gatherFacts(t, deps.signal ? { signal: deps.signal } : {}),
    );
    progress.finish();
    if (json) deps.stdout.write(`${JSON.stringify(factsJson(outcomes), null, 2)}\n`);
    else if (outcomes.some((o) => o.ok)) deps.stdout.write(factsTable(outcomes));
    const failures = outcomes.flatMap((o) => (o.ok ? [] : [{ host: o.host, error: o.error }]));
    if (failures.length) throw new AggregateHostError(failures, outcomes.length);
  } finally {
    await demo?.stop();
  }
}

/** The --json document: one entry per host, in target order. */
export function factsJson(outcomes: readonly HostOutcome<HostFacts>[]): { hosts: unknown[] } {
  return {
    hosts: outcomes.map((o) => (o.ok ? { host: o.host, ok: true, facts: o.value } : { host: o.host, ok: false, error: errorJson(o.error) })),
  };
}

/** The human table; hosts that failed get a short line (their errors are printed after). */
export function factsTable(outcomes: readonly HostOutcome<HostFacts>[]): string {
  const rows: string[][] = [["HOST", "OS", "ARCH", "KERNEL", "CGROUP", "INIT", "DISK FREE", "MEMORY AVAIL/TOTAL", "ENGINE"]];
  for (const o of outcomes) {
    if (!o.ok) {
      rows.push([o.host, "(failed, see below)"]);
      continue;
    }
    const f = o.value;
    rows.push([
      o.host,
      f.os.prettyName,
      f.arch === "unknown" ? `unknown (${f.machine})` : f.arch,
      f.kernel,
      f.cgroup,
      f.init === "systemd" ? "systemd" : `other (${f.initProcess})`,
      formatBytes(f.diskFreeBytes),
      `${formatBytes(f.memory.availableBytes)} / ${formatBytes(f.memory.totalBytes)}`,
      f.engine === null ? "none" : f.engine.version === null ? "docker (not running)" : `docker ${f.engine.version}`,
    ]);
  }
  return table(rows);
}
