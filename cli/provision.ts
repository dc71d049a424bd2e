/**
 * `longshore provision [-f longshore.yaml] (-i FILE | --env NAME) [--slot S] [--image REF]
 * [--image-archive FILE] [--json] [--concurrency N]`: makes every host match the environment file
 * (engine, registry, app) — the engine from the bundle, the app's image, the container and its
 * health — over one SSH connection per host, hosts in parallel.
 *
 * Progress (stderr): one line per host per step with its status and duration. Result (stdout): a
 * summary per host (changed / unchanged / failed / not run), or with `--json` one JSON document.
 * A failed host makes the verb throw the aggregated error (host, step, redacted command, exit
 * code, stderr tail), which the program prints and maps to the exit code.
 */
import type { Command } from "commander";
import type { HostReport } from "../provisioner/report";
import { addProvisionOptions, prepareRun, progressLine, resultJson, runProvision, seconds, type ProvisionCliDeps, type ProvisionFlags } from "./provision-common";
import { table } from "./output";

/** Adds the `provision` verb. */
export function register(program: Command, deps: ProvisionCliDeps): void {
  const cmd = program
    .command("provision")
    .description("install the engine from its bundle, deliver the app's image and run the app on every host (idempotent)");
  addProvisionOptions(cmd).action((flags: ProvisionFlags) => runProvisionVerb(flags, deps));
}

async function runProvisionVerb(flags: ProvisionFlags, deps: ProvisionCliDeps): Promise<void> {
  const json = flags.json === true;
  const log = (line: string) => void (json ? undefined : deps.stderr.write(`${line}\n`));
  const prepared = await prepareRun(flags, deps, "apply", log);
  const width = Math.max(...prepared.targets.map((t) => t.name.length));
  log(`provisioning ${prepared.targets.length} host${prepared.targets.length === 1 ? "" : "s"}, slot ${prepared.slot}`);
  const result = await runProvision(deps, {
    ...prepared.input,
    onEvent: (e) => {
      const line = progressLine(e, width, deps.stderr);
      if (line !== null) log(line);
    },
  });
  deps.stdout.write(json ? `${JSON.stringify(resultJson(result), null, 2)}\n` : summary(result.report.hosts));
  if (result.error) throw result.error;
}

/** The human summary: per host its status, step counts, time and (when failed) the failing step. */
export function summary(hosts: readonly HostReport[]): string {
  const rows = [["HOST", "STATUS", "CHANGED", "UNCHANGED", "FAILED", "NOT RUN", "TIME", "FAILED STEP"]];
  for (const h of hosts) {
    const count = (s: string) => String(h.steps.filter((x) => x.status === s).length);
    const failed = h.steps.find((s) => s.status === "failed")?.id ?? (h.status === "failed" ? "(before the steps)" : "");
    rows.push([h.host, h.status, count("changed"), count("unchanged"), count("failed"), count("not-run"), seconds(h.durationMs), failed]);
  }
  return table(rows);
}
