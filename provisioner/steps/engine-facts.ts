/**
 * Host facts: probed once per host before planning (one command, key=value output, parsed by a
 * pure function), then re-asserted by the first step, `engine.facts`, which changes nothing and
 * fails with every mismatch named (wrong architecture, wrong release, no systemd...) before any
 * other step touches the host.
 */
import { PreconditionError } from "../../core/errors";
import type { Command } from "../command";
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import type { HostFacts, ProvisionContext } from "./engine-context";

/** Engine packages whose installed version the probe reports. */
export const ENGINE_PACKAGE_NAMES = ["docker.io", "docker-ce"] as const;

/**
 * The one command that gathers {@link HostFacts}: run it with the transport (no sudo needed) and
 * give its stdout to {@link parseHostFacts}. It always exits 0; missing facts are reported by
 * the parser.
 */
export function hostFactsProbe(): Command {
  return { argv: ["sh", "-c", renderTemplate("engine/facts.sh", { enginePackages: [...ENGINE_PACKAGE_NAMES] })] };
}

/** Parses the probe's output. Throws a PreconditionError naming the host and each missing fact. */
export function parseHostFacts(stdout: string, host: string): HostFacts {
  const kv = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const missing = ["arch", "os_id", "cgroup", "systemd"].filter((k) => !kv.get(k));
  if (missing.length > 0) {
    throw new PreconditionError(`${host}: could not determine ${missing.join(", ")} (is this a Debian-family Linux host?)`, {
      context: { host, missing },
    });
  }
  const engine = kv.get("engine");
  return {
    arch: kv.get("arch")!,
    osId: kv.get("os_id")!,
    osVersionId: kv.get("os_version_id") ?? "",
    osCodename: kv.get("os_codename") ?? "",
    cgroupVersion: kv.get("cgroup") === "2" ? 2 : 1,
    systemd: kv.get("systemd") === "yes",
    engineVersion: engine ? (engine.split(" ")[1] ?? null) : null,
  };
}

/**
 * Pure check of the facts against the plan's needs, for a clear error before connecting steps
 * run at all. Returns the problems (empty when the host fits).
 */
export function hostFactsProblems(facts: HostFacts, ctx: Pick<ProvisionContext, "engine" | "bundle">): string[] {
  const problems: string[] = [];
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
