/**
 * Host facts for the engine steps: the host is probed once, before planning, by the one facts
 * probe (`gatherFacts`, provisioner/facts.ts: one command, delimited sections, pure parsers), and
 * {@link engineHostFacts} picks what plans need. The first step, `engine.facts`, then re-asserts
 * them on the host: it changes nothing and fails with every mismatch named (wrong architecture,
 * wrong release, no systemd...) before any other step touches the host.
 */
import { parseByteSize } from "../../model/app";
import type { HostFacts as ProbedFacts } from "../facts";
import type { Command } from "../command";
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import type { HostFacts, ProvisionContext } from "./engine-context";

/**
 * The engine's view of the probed facts. Architecture is dpkg's name (what bundles are built for),
 * falling back to the one mapped from `uname -m` on a host without dpkg; the engine version is the
 * installed package's Debian version. Pure.
 */
export function engineHostFacts(facts: ProbedFacts): HostFacts {
  return {
    arch: facts.dpkgArch ?? facts.arch,
    osId: facts.os.id,
    osVersionId: facts.os.versionId ?? "",
    osCodename: facts.os.codename ?? "",
    cgroupVersion: facts.cgroup === "v2" ? 2 : 1,
    systemd: facts.systemdBooted,
    engineVersion: facts.enginePackage?.version ?? null,
    cpus: facts.cpus,
    memoryBytes: facts.memory.totalBytes,
  };
}

/**
 * Pure check of the facts against the plan's needs, for a clear error before connecting steps
 * run at all. Returns the problems (empty when the host fits).
 */
export function hostFactsProblems(facts: HostFacts, ctx: Pick<ProvisionContext, "engine" | "bundle"> & { app?: Pick<ProvisionContext["app"], "resources"> }): string[] {
  const problems: string[] = [];
  const want = ctx.app?.resources;
  if (want?.cpus !== undefined && facts.cpus !== null && want.cpus > facts.cpus) {
    problems.push(`app.resources.cpus is ${want.cpus}; the host has ${facts.cpus} CPU${facts.cpus === 1 ? "" : "s"}`);
  }
  const memory = want?.memory === undefined ? null : parseByteSize(want.memory);
  if (memory !== null && memory > facts.memoryBytes) {
    problems.push(`app.resources.memory is ${want!.memory}; the host has ${Math.floor(facts.memoryBytes / 1024 ** 2)} MiB`);
  }
  if (!facts.systemd) problems.push("systemd is not running as PID 1 (the engine runs as systemd units)");
  if (ctx.engine.channel === "bundle" && ctx.bundle) {
    const r = ctx.bundle.manifest.recipe;
    if (facts.arch !== r.arch) problems.push(`host architecture is ${facts.arch}; the engine bundle is for ${r.arch}`);
    if (facts.osId !== r.distribution) problems.push(`host runs ${facts.osId}; the engine bundle is for ${r.distribution}`);
    if (facts.osCodename !== r.suite) problems.push(`host release is ${facts.osCodename || "unknown"}; the engine bundle is for ${r.suite}`);
  }
  return problems;
}

/** `engine.facts`: re-asserts on the host what the plan assumed. Changes nothing. */
export const engineFactsStep: Step<ProvisionContext> = {
  id: "engine.facts",
  title: "Check the host is what the plan was made for",
  plan(ctx) {
    const r = ctx.engine.channel === "bundle" && ctx.bundle ? ctx.bundle.manifest.recipe : null;
    const script = renderTemplate("engine/preflight.sh", {
      bundle: r ? { arch: r.arch, distribution: r.distribution, suite: r.suite } : null,
      cgroupVersion: ctx.facts.cgroupVersion,
    });
    const assert: Command = { argv: ["sh", "-c", script] };
    // Check and verify are the same read-only script: when it fails, apply has nothing to do
    // and verify fails with the script's message.
    return { check: [assert], apply: [], verify: [assert], timeoutMs: 30_000 };
  },
};
