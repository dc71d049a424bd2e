/**
 * `longshore plan [-f longshore.yaml] (-i FILE | --env NAME) [--slot S] [--image REF] [--json]
 * [--detailed-exitcode]`: what `longshore provision` would do on each host, changing nothing. Per
 * host and step: unchanged, or what would change — files (with a unified diff of each text file
 * against the host's copy, read with `cat` over the same connection), checks that did not pass,
 * steps that always run. Secret files show `[redacted content changed]` and never their content.
 * With `--detailed-exitcode` the exit code says whether anything would change (see exit-codes.ts).
 */
import type { Command } from "commander";
import type { FileChange, ProvisionResult } from "../provisioner/provision-hosts";
import type { VerbDeps } from "./deps";
import { DETAILED_EXIT } from "./exit-codes";
import { addProvisionOptions, prepareRun, progressLine, resultJson, runProvision, type ProvisionCliDeps, type ProvisionFlags } from "./provision-common";

/** What `plan` needs: the provisioning verbs' dependencies and a way to set a non-error exit code. */
export type PlanCliDeps = ProvisionCliDeps & Pick<VerbDeps, "setExitCode">;

interface PlanFlags extends ProvisionFlags {
  detailedExitcode?: boolean;
}

/** Adds the `plan` verb. */
export function register(program: Command, deps: PlanCliDeps): void {
  const cmd = program.command("plan").description("show what provision would change on every host, with file diffs; changes nothing");
  addProvisionOptions(cmd)
    .option("--detailed-exitcode", "exit 0 when nothing would change, 2 when something would, 1 on any error (bad input too)")
    .action(({ detailedExitcode, ...flags }: PlanFlags) => runPlanVerb(flags, deps, detailedExitcode === true));
}

/** True when any step of any host would change. */
export function wouldChange(result: ProvisionResult): boolean {
  return result.report.hosts.some((h) => h.steps.some((s) => s.status === "would-change"));
}

async function runPlanVerb(flags: ProvisionFlags, deps: PlanCliDeps, detailed: boolean): Promise<void> {
  const json = flags.json === true;
  const log = (line: string) => void (json ? undefined : deps.stderr.write(`${line}\n`));
  const prepared = await prepareRun(flags, deps, "check", log);
  const width = Math.max(...prepared.targets.map((t) => t.name.length));
  const result = await runProvision(deps, {
    ...prepared.input,
    onEvent: (e) => {
      // Only facts and failures while planning: the plan itself is the result.
      if (e.type === "host-facts" || (e.type === "host-done" && e.status === "failed")) {
        const line = progressLine(e, width, deps.stderr);
        if (line !== null) log(line);
      }
    },
  });
  deps.stdout.write(json ? `${JSON.stringify(resultJson(result), null, 2)}\n` : renderPlan(result));
  // An error wins: a plan that could not look at every host says nothing certain about changes.
  if (result.error) throw result.error;
  if (detailed) deps.setExitCode(wouldChange(result) ? DETAILED_EXIT.changes : DETAILED_EXIT.noChanges);
}

/** The human plan: per host, per step, what would change, diffs indented under their file. */
export function renderPlan(result: ProvisionResult): string {
  const out: string[] = [];
  result.report.hosts.forEach((h, i) => {
    const o = result.hosts[i]!;
    const f = o.facts;
    out.push(`${h.host}${f ? ` (${f.osId} ${f.osVersionId} ${f.osCodename} ${f.arch})` : ""}${h.status === "failed" ? ": FAILED, see the error below" : ""}`);
    if (h.status === "failed") return;
    const width = Math.max(...h.steps.map((s) => s.id.length));
    for (const s of h.steps) {
      if (s.status !== "would-change" || !s.wouldChange) {
        out.push(`  ${s.id.padEnd(width)}  ${s.status}`);
        continue;
      }
      const w = s.wouldChange;
      const reasons = [
        ...(w.alwaysApplies ? ["always runs"] : []),
        ...(w.files.length ? [`${w.files.length} file${w.files.length === 1 ? "" : "s"} to upload`] : []),
        ...w.failedChecks.map((c) => `check failed: ${c}`),
      ];
      out.push(`  ${s.id.padEnd(width)}  would change: ${reasons[0] ?? ""}`);
      for (const r of reasons.slice(1)) out.push(`  ${" ".repeat(width)}                ${r}`);
      for (const file of o.files.filter((x) => x.stepId === s.id)) out.push(...fileLines(file));
    }
    const n = h.steps.filter((s) => s.status === "would-change").length;
    out.push(`  ${n === 0 ? "nothing to do" : `${n} step${n === 1 ? "" : "s"} would change`}`);
  });
  const changing = result.report.hosts.filter((h) => h.steps.some((s) => s.status === "would-change")).length;
  out.push("", `Plan: ${changing} of ${result.report.hosts.length} host${result.report.hosts.length === 1 ? "" : "s"} would change.`);
  return `${out.join("\n")}\n`;
}

function fileLines(f: FileChange): string[] {
  const head = `      ${f.path} (${f.reason === "missing" ? "new" : "changed"})`;
  if (!f.diff.startsWith("--- ")) return [`${head}: ${f.diff}`];
  return [head, ...f.diff.replace(/\n$/, "").split("\n").map((l) => `        ${l}`)];
}
