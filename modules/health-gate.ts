/**
 * A gate in the deployment graph: a dynamic resource whose create (and update) waits until every
 * target answers an HTTP health check, and fails the update otherwise, naming each failing target
 * with its last status and the start of its body. Resources that `dependsOn` the gate (the
 * listener that switches traffic) are then never changed: traffic stays where it was.
 *
 * The check, clock and sleep are injectable (tests); the real check uses node's http/https with a
 * per-attempt timeout. The serialised provider captures only these small functions.
 *
 * With a `jump` (the web program's bastion), each attempt is made FROM the bastion: one pinned SSH
 * connection, one tunnel to the URL's host and port, HTTP over it. That is for targets the
 * machine running `pulumi up` cannot reach (a test listener open to the bastion only). The
 * provider then `require()`s longshore's provisioner entry module by the package's name at call
 * time (its `httpGetThrough`), as the ProvisionedHost provider does, so ssh2 is never captured.
 */
import * as pulumi from "@pulumi/pulumi";
import type { SshEndpointInput } from "../provisioner/apply-host-contract";
import { DEFAULT_APPLY_HOST_ENTRY, loadApplyHostEntry } from "./apply-host-entry";

/** One thing to check: a name for reports and the URL to GET. */
export interface HealthTarget {
  name: string;
  url: string;
}

/** How the gate checks. */
export interface HealthGateSettings {
  /** HTTP codes that pass, in a target group's matcher syntax: `200`, `200-299`, `200,204`. Default `200`. */
  matcher: string;
  /** Give up (and fail the update) this long after the first attempt. Default 300 000 (5 min). */
  deadlineMs: number;
  /** Pause between rounds. Default 5000. */
  intervalMs: number;
  /** One attempt's limit (connect + full response). Default 5000. */
  timeoutMs: number;
  /** Passes in a row each target needs. Default 2. */
  consecutiveSuccesses: number;
}

/** Defaults of {@link HealthGateSettings}. */
export const DEFAULT_HEALTH_GATE: Readonly<HealthGateSettings> = Object.freeze({
  matcher: "200",
  deadlineMs: 300_000,
  intervalMs: 5000,
  timeoutMs: 5000,
  consecutiveSuccesses: 2,
});

/** The gate resource's inputs. */
export interface HealthGateInputs extends HealthGateSettings {
  targets: HealthTarget[];
  /**
   * Ids of the instances the gate vouches for (behind its targets). Not checked themselves: they
   * are there so that replaced instances (new ids behind the same URL) make the gate run again.
   */
  instanceIds?: string[];
  /**
   * A bastion every attempt is made from (its address, pinned host key, login and private key:
   * stored as a secret). @default none: the targets are checked from the machine running Pulumi
   */
  jump?: SshEndpointInput;
}

/** What one attempt saw. `status` null: no HTTP answer (then `error` says why). */
export interface HealthCheckResult {
  status: number | null;
  /** The start of the body (at most 512 characters). */
  body: string;
  error?: string;
}

/** One attempt against one target; must resolve (never reject) within about `timeoutMs`. */
export type HealthCheckFn = (target: HealthTarget, timeoutMs: number) => Promise<HealthCheckResult>;

/** One attempt against one target, made from the bastion `jump`; must resolve (never reject) within about `timeoutMs`. */
export type TunnelCheckFn = (jump: SshEndpointInput, target: HealthTarget, timeoutMs: number) => Promise<HealthCheckResult>;

/** Injectable edges of the gate. */
export interface HealthGateDeps {
  check: HealthCheckFn;
  sleep: (ms: number) => Promise<void>;
  /** Milliseconds, monotonic enough for a deadline. */
  now: () => number;
}

/** Per target: how it ended. */
export interface HealthGateReport {
  targets: Array<{ name: string; status: number; attempts: number }>;
}

/** True when `status` is one of the matcher's codes or ranges. Pure. */
export function statusMatches(matcher: string, status: number): boolean {
  return matcher.split(",").some((part) => {
    const [lo, hi] = part.split("-").map((s) => Number(s.trim()));
    if (lo === undefined || Number.isNaN(lo)) return false;
    return hi === undefined ? status === lo : status >= lo && status <= (Number.isNaN(hi) ? lo : hi);
  });
}

/** Problems with gate settings and targets; empty when fine. */
export function healthGateProblems(settings: HealthGateSettings, targets?: readonly HealthTarget[]): string[] {
  const problems: string[] = [];
  if (!/^[1-5][0-9]{2}(?:-[1-5][0-9]{2})?(?:,[1-5][0-9]{2}(?:-[1-5][0-9]{2})?)*$/.test(settings.matcher)) {
    problems.push(`matcher: ${JSON.stringify(settings.matcher)} must be HTTP codes like 200, 200-299 or 200,204`);
  }
  const positive = (key: keyof HealthGateSettings, min: number) => {
    const v = settings[key] as number;
    if (!Number.isInteger(v) || v < min) problems.push(`${key}: must be a whole number >= ${min}, got ${v}`);
  };
  positive("deadlineMs", 0);
  positive("intervalMs", 100);
  positive("timeoutMs", 100);
  positive("consecutiveSuccesses", 1);
  if (targets) {
    const names = new Set<string>();
    targets.forEach((t, i) => {
      if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(t.url)) problems.push(`targets[${i}].url: ${JSON.stringify(t.url)} must be an http(s) URL`);
      if (names.has(t.name)) problems.push(`targets[${i}].name: ${t.name} is listed twice`);
      names.add(t.name);
    });
  }
  return problems;
}

function describeAttempt(r: HealthCheckResult): string {
  if (r.status === null) return `no answer: ${r.error ?? "unknown error"}`;
  const body = r.body.replace(/[\x00-\x1f\x7f]+/g, " ").trim().slice(0, 120);
  return `status ${r.status}${body ? `, body ${JSON.stringify(body)}` : ", empty body"}`;
}

/**
 * Checks every target in rounds until each passed `consecutiveSuccesses` times in a row, or the
 * deadline passes. A target that passed is not checked again.
 *
 * @throws Error naming every target that had not passed, with its last status and body start.
 */
export async function runHealthGate(inputs: HealthGateInputs, deps: HealthGateDeps): Promise<HealthGateReport> {
  const started = deps.now();
  const state = inputs.targets.map((target) => ({ target, streak: 0, attempts: 0, last: undefined as HealthCheckResult | undefined }));
  for (;;) {
    const pending = state.filter((s) => s.streak < inputs.consecutiveSuccesses);
    if (pending.length === 0) break;
    await Promise.all(
      pending.map(async (s) => {
        const r = await deps.check(s.target, inputs.timeoutMs);
        s.attempts++;
        s.last = r;
        s.streak = r.status !== null && statusMatches(inputs.matcher, r.status) ? s.streak + 1 : 0;
      }),
    );
    const failing = state.filter((s) => s.streak < inputs.consecutiveSuccesses);
    if (failing.length === 0) break;
    const elapsed = deps.now() - started;
    if (elapsed + inputs.intervalMs > inputs.deadlineMs) {
      const lines = failing.map((s) => {
        const last = s.last ? describeAttempt(s.last) : "not checked";
        // Healthy now but not yet often enough in a row: say so, or "status 200" reads like a pass.
        const streak = s.streak > 0 ? ` (${s.streak} of ${inputs.consecutiveSuccesses} passes in a row)` : "";
        return `  ${s.target.name} (${s.target.url}): ${last}${streak} after ${s.attempts} attempt${s.attempts === 1 ? "" : "s"}`;
      });
      throw new Error(
        `health gate: ${failing.length} of ${state.length} target${state.length === 1 ? "" : "s"} not healthy (expected ${inputs.matcher}) within ${inputs.deadlineMs % 1000 === 0 ? `${inputs.deadlineMs / 1000} s` : `${inputs.deadlineMs} ms`}:\n${lines.join("\n")}`,
      );
    }
    await deps.sleep(inputs.intervalMs);
  }
  return { targets: state.map((s) => ({ name: s.target.name, status: s.last!.status!, attempts: s.attempts })) };
}

/**
 * The real check: GET the URL with node's http or https, reading at most 512 characters of the
 * body. Resolves within about `timeoutMs`, with `status: null` and an error on any failure.
 */
export function httpHealthCheck(target: HealthTarget, timeoutMs: number): Promise<HealthCheckResult> {
  const url = new URL(target.url);
  const client = (url.protocol === "https:" ? require("node:https") : require("node:http")) as typeof import("node:http");
  return new Promise((resolve) => {
    let settled = false;
    // Declared before use: Pulumi's closure serialiser refuses a closure over a later `const`.
    let timer: NodeJS.Timeout | undefined = undefined;
    const done = (r: HealthCheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = client.get(url, { headers: { "user-agent": "longshore-health-gate", connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < 512) body += chunk;
      });
      res.on("end", () => done({ status: res.statusCode ?? null, body: body.slice(0, 512) }));
      res.on("error", (e) => done({ status: null, body: "", error: e.message }));
    });
    // A hard limit on the whole attempt, not just an idle socket: a server that drips bytes fails too.
    timer = setTimeout(() => {
      req.destroy();
      done({ status: null, body: "", error: `no complete answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on("error", (e) => done({ status: null, body: "", error: e.message }));
  });
}

/** One round of checks with no waiting: the names of targets that fail now (for `pulumi refresh`). */
async function failingNow(inputs: HealthGateInputs, check: HealthCheckFn): Promise<string[]> {
  const results = await Promise.all(inputs.targets.map(async (t) => ({ t, r: await check(t, inputs.timeoutMs) })));
  return results.filter(({ r }) => r.status === null || !statusMatches(inputs.matcher, r.status)).map(({ t }) => t.name);
}

/** The gate's stored state. */
interface HealthGateOutputs extends HealthGateInputs {
  report: HealthGateReport;
  /** Targets a refresh found failing; non-empty => the next `up` runs the gate again. */
  failing: string[];
}

/**
 * True when the gate must run again: its targets or settings changed, or the instances behind
 * them did (a gate stored without `instanceIds` counts as changed once it is given some).
 */
function gateInputsChanged(olds: HealthGateInputs, news: HealthGateInputs): boolean {
  const view = (i: HealthGateInputs) =>
    JSON.stringify([
      i.targets,
      i.matcher,
      i.deadlineMs,
      i.intervalMs,
      i.timeoutMs,
      i.consecutiveSuccesses,
      i.instanceIds ?? null,
      // Where the checks are made from (never the key itself in a comparison's text).
      i.jump ? [i.jump.address, i.jump.port, i.jump.user, i.jump.hostKeyFingerprint] : null,
    ]);
  return view(olds) !== view(news);
}

/**
 * The gate's provider. `deps` replaces the real check, sleep and clock (tests call the provider
 * directly with fakes); the default provider captures none.
 */
export function healthGateProvider(
  deps: Partial<HealthGateDeps> & {
    /** Replaces the check made from a bastion (tests). */
    tunnel?: TunnelCheckFn;
    /** The provisioner's entry module as `require` takes it (an absolute path only in tests). @default its package export */
    entryPath?: string;
  } = {},
): pulumi.dynamic.ResourceProvider {
  const entryPath = deps.entryPath ?? DEFAULT_APPLY_HOST_ENTRY;
  const tunnel: TunnelCheckFn =
    deps.tunnel ??
    (async (jump, target, timeoutMs) => {
      const entry = loadApplyHostEntry(entryPath);
      if (!entry.httpGetThrough) throw new Error(`longshore's provisioner entry module has no httpGetThrough: the installed longshore is older than this program's`);
      return entry.httpGetThrough({ jump, url: target.url, timeoutMs });
    });
  const resolved = (jump?: SshEndpointInput): HealthGateDeps => ({
    check: deps.check ?? (jump ? (t: HealthTarget, ms: number) => tunnel(jump, t, ms) : httpHealthCheck),
    sleep: deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
    now: deps.now ?? (() => Date.now()),
  });
  const run = async (inputs: HealthGateInputs): Promise<HealthGateOutputs> => ({
    ...inputs,
    report: await runHealthGate(inputs, resolved(inputs.jump)),
    failing: [],
  });
  return {
    async create(inputs: HealthGateInputs) {
      const outs = await run(inputs);
      return { id: inputs.targets.map((t) => t.name).join(",") || "no-targets", outs };
    },
    async diff(_id: string, olds: HealthGateOutputs, news: HealthGateInputs) {
      const changes = gateInputsChanged(olds, news) || (olds.failing ?? []).length > 0;
      return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: HealthGateOutputs, news: HealthGateInputs) {
      return { outs: await run(news) };
    },
    async read(id: string, props: HealthGateOutputs) {
      return { id, props: { ...props, failing: await failingNow(props, resolved(props.jump).check) } };
    },
    async delete() {
      // A gate holds nothing outside the state.
    },
  };
}

/** One provider object for every gate: Pulumi serialises a provider once per object. */
const DEFAULT_PROVIDER = healthGateProvider();

class HealthGateResource extends pulumi.dynamic.Resource {
  declare readonly report: pulumi.Output<HealthGateReport>;
  declare readonly failing: pulumi.Output<string[]>;

  constructor(name: string, props: pulumi.Inputs, provider: pulumi.dynamic.ResourceProvider, opts: pulumi.CustomResourceOptions) {
    super(provider, name, props, opts, "longshore", "HealthGate");
  }
}

/** Arguments of {@link HealthGate}. */
export interface HealthGateArgs extends Partial<HealthGateSettings> {
  /** Every one must pass. */
  targets: pulumi.Input<pulumi.Input<{ name: pulumi.Input<string>; url: pulumi.Input<string> }>[]>;
  /**
   * Ids of the instances behind the targets (e.g. a target group's attached instances). When one
   * changes (an instance replaced by a new image or AMI, with the same URL in front of it), the
   * gate runs again. Default none: the gate then runs again only when its targets or settings change.
   */
  instanceIds?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Check from this bastion (see {@link HealthGateInputs.jump}); stored as a secret (it holds the
   * private key). Default none: checked from the machine running Pulumi.
   */
  jump?: pulumi.Input<SshEndpointInput>;
  /** Another provider (tests). Default: the real one. */
  provider?: pulumi.dynamic.ResourceProvider;
}

/**
 * Waits for targets to be healthy during `pulumi up`. Child: `${name}` (the dynamic resource).
 * Put the gate in the `dependsOn` of whatever must not happen before health is proven; give the
 * gate `dependsOn` on whatever must exist before checking starts.
 */
export class HealthGate extends pulumi.ComponentResource {
  readonly resource: pulumi.dynamic.Resource;
  readonly report: pulumi.Output<HealthGateReport>;

  constructor(name: string, args: HealthGateArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const settings: HealthGateSettings = {
      matcher: args.matcher ?? DEFAULT_HEALTH_GATE.matcher,
      deadlineMs: args.deadlineMs ?? DEFAULT_HEALTH_GATE.deadlineMs,
      intervalMs: args.intervalMs ?? DEFAULT_HEALTH_GATE.intervalMs,
      timeoutMs: args.timeoutMs ?? DEFAULT_HEALTH_GATE.timeoutMs,
      consecutiveSuccesses: args.consecutiveSuccesses ?? DEFAULT_HEALTH_GATE.consecutiveSuccesses,
    };
    const problems = healthGateProblems(settings);
    if (problems.length) throw new Error(`HealthGate ${name}: ${problems.join("; ")}`);
    super("longshore:rollout:HealthGate", name, {}, opts);
    const targets = pulumi.output(args.targets).apply((ts): HealthTarget[] => {
      const p = healthGateProblems(settings, ts);
      if (p.length) throw new Error(`HealthGate ${name}: ${p.join("; ")}`);
      return ts;
    });
    const res = new HealthGateResource(
      name,
      {
        ...settings,
        targets,
        ...(args.instanceIds !== undefined ? { instanceIds: args.instanceIds } : {}),
        ...(args.jump !== undefined ? { jump: pulumi.secret(args.jump) } : {}),
        report: undefined,
        failing: undefined,
      },
      args.provider ?? DEFAULT_PROVIDER,
      // A component's dependsOn does not hold back its children: pass it on, or the check could
      // start before what it waits for exists.
      {
        parent: this,
        ...(args.jump !== undefined ? { additionalSecretOutputs: ["jump"] } : {}),
        ...(opts.dependsOn !== undefined ? { dependsOn: opts.dependsOn } : {}),
      },
    );
    this.resource = res;
    this.report = res.report;
    this.registerOutputs({ report: res.report });
  }
}
