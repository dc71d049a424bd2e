/**
 * Provisioning hosts end to end: per host ONE transport, the one facts probe, an early and clear
 * refusal of a host that does not fit the plan, the ProvisionContext, then the engine and app
 * steps through the runner on that same open transport. Hosts run in parallel under a limit; one
 * host's failure never stops another; every failure comes back together.
 *
 * In check mode (`longshore plan`) nothing changes on any host, and for each text file a step
 * would upload, the host's current copy is read (`cat`, same connection) and diffed against the
 * planned one. Secret files never show their content (`[redacted content changed]`), and neither
 * do files other users may not read (their old copy may hold secrets the plan no longer has).
 */
import { createHash } from "node:crypto";
import * as os from "node:os";
import { AggregateHostError, LongshoreError, PreconditionError } from "../core/errors";
import { Sensitive } from "../core/sensitive";
import type { ResolvedApp } from "../model/app";
import { DEB_ARCHES, type EngineOptions } from "../model/engine";
import { releaseLabel } from "../model/image-reference";
import type { ResolvedRegistry } from "../model/registry";
import { mapWithConcurrency } from "./concurrency";
import { gatherFacts } from "./facts";
import { planHashOf } from "./plan-hash";
import { countSteps, type HostReport, type RunReport } from "./report";
import type { ProbedStep } from "./probe-batch";
import { DEFAULT_CONCURRENCY, probeSteps, runPlan, type RunEvent, type RunResult } from "./runner";
import type { RemoteFile, Step } from "./step";
import type { BundleRef, ExtraHost, HostFacts, ImageSource, ProvisionContext } from "./steps/engine-context";
import { HOST_PATHS } from "./steps/engine-context";
import { engineHostFacts, hostFactsProblems } from "./steps/engine-facts";
import { provisionSteps } from "./steps/index";
import type { SshTarget } from "../model/ssh-target";
import type { SshConnectOptions } from "./transport/connect-options";
import type { Transport } from "./transport/transport";
import { unifiedDiff } from "./unified-diff";
import { isPrivateIPv4 } from "../model/net";
import { BlobExchange } from "./layers/blob-exchange";
import { deliverBlobs, FETCH_STEP_ID, lendStore, type BlobDeliveryReport, type LentStore } from "./layers/blob-delivery";
import { blobsOf } from "./layers/layered-image";
import type { StepReport } from "./report";

/** Opens one host's transport (the SSH adapter in production, fakes in tests). */
export type ConnectFn = (target: SshTarget, options?: SshConnectOptions) => Promise<Transport>;

/** Progress: the runner's events, plus when a host's facts are known. */
export type ProvisionEvent =
  | RunEvent
  | { type: "host-facts"; host: string; facts: HostFacts; durationMs: number }
  | { type: "image-delivered"; host: string; delivery: BlobDeliveryReport };

/** What {@link provisionHosts} needs. Everything is already validated by the model (model/). */
export interface ProvisionHostsInput {
  targets: readonly SshTarget[];
  engine: EngineOptions;
  /** The app, secrets resolved; `app.image` is what the hosts run. */
  app: ResolvedApp;
  /** Credentials for pulling `app.image`. @default none */
  registry?: ResolvedRegistry | null;
  /** How the image reaches the hosts. */
  image: ImageSource;
  /** Names the app's containers resolve to fixed addresses (the accessories). @default [] */
  extraHosts?: readonly ExtraHost[];
  /**
   * The verified bundle (`verifyBundle`), or null for the distro channel, or a function that
   * gives the bundle for a host's architecture (known only once its facts are in).
   */
  bundle: BundleRef | null | ((arch: (typeof DEB_ARCHES)[number]) => Promise<BundleRef>);
  slot: string;
  /** How long `app.health` waits for the app on each host. @default 60 000 */
  healthDeadlineMs?: number;
  /** `apply` changes hosts; `check` only probes, reports what would change and diffs files. */
  mode: "apply" | "check";
  /** Hosts in flight at once; default 16. */
  concurrency?: number;
  onEvent?: (event: ProvisionEvent) => void;
  /** Default: the ssh2 transport (loaded on first use). */
  connect?: ConnectFn;
  connectOptions?: SshConnectOptions;
  /**
   * Step ids to leave out. A rollout leaves out `app.health`: its own health gate probes every new
   * host from the controller, through the network the traffic takes, and reports each failure.
   */
  omitSteps?: readonly string[];
  /** Who runs this, for the audit line; default `$USER@hostname`. */
  auditUser?: string;
  /** This run's time (ISO-8601), the same for every host; default now. */
  now?: string;
  /**
   * Hosts outside this run that lend their blob stores to a layered delivery (the live slot's, whose
   * layers an update mostly keeps): each serves what it holds for the run's length, and nothing
   * else on it changes. @default none
   */
  lenders?: readonly SshTarget[];
  /** Hash every bundle file on the hosts again instead of trusting their verified marker (`--verify`). @default false */
  rehashFiles?: boolean;
  /** After the steps succeeded, read the engine's version and daemon.json's sha256 (Pulumi outputs). */
  readEngineState?: boolean;
  signal?: AbortSignal;
}

/** One file a step would change, as `plan` shows it. */
export interface FileChange {
  stepId: string;
  path: string;
  reason: "missing" | "different";
  /** A unified diff of a text file, or a one-line note: `[redacted content changed]`, `[binary ...]`. */
  diff: string;
}

/** What provisioning learned about one host beyond the run report. */
export interface HostOutcome {
  host: string;
  /** null when the host could not be reached or probed. */
  facts: HostFacts | null;
  /** Hash of the host's full plan with the run's time and user left out: stable across re-runs. */
  planHash: string | null;
  /** Check mode: the files that would change, with diffs. */
  files: FileChange[];
  /** With `readEngineState`: the engine's server version and daemon.json's sha256 on the host. */
  engine?: { version: string | null; daemonJsonSha256: string | null };
  /** A layers image source: how this host got the image's blobs. */
  delivery?: BlobDeliveryReport;
}

/** The run report, the aggregated error, and per-host outcomes (same order as the targets). */
export interface ProvisionResult extends RunResult {
  hosts: HostOutcome[];
}

/** How long `app.health` waits when the caller does not say. */
export const DEFAULT_HEALTH_DEADLINE_MS = 60_000;

/** The bundle for a host's architecture, or a clear refusal for an architecture longshore builds none for. */
async function bundleForHost(bundleFor: (arch: (typeof DEB_ARCHES)[number]) => Promise<BundleRef>, arch: string, host: string): Promise<BundleRef> {
  if (!(DEB_ARCHES as readonly string[]).includes(arch)) {
    throw new PreconditionError(`${host}: longshore has no engine bundle recipe for architecture ${arch}`, {
      context: { host, arch },
      suggestion: `Use a host of one of ${DEB_ARCHES.join(", ")}, or engine.channel: distro.`,
    });
  }
  return bundleFor(arch as (typeof DEB_ARCHES)[number]);
}

/** Text files up to this size are diffed; larger ones are only named. */
const MAX_DIFF_BYTES = 256 * 1024;

/** `$USER@hostname` of this computer. */
export function defaultAuditUser(): string {
  let user = process.env["USER"] ?? "";
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (containers): keep $USER.
  }
  return `${user || "unknown"}@${os.hostname()}`;
}

/**
 * The label hash: a digest of the desired app state only (app spec, image, slot). Not of the plan
 * (the plan contains the label) and not of the engine options, so an engine change never
 * re-creates the container. Secrets enter as `[redacted]`: a rotated secret changes the env file,
 * which re-creates the container by itself.
 */
export function appStateHash(ctx: Pick<ProvisionContext, "app" | "image" | "slot" | "release" | "extraHosts">): string {
  const image = ctx.image.source !== "registry" ? { id: ctx.image.imageId } : { ref: ctx.image.ref, id: ctx.image.imageId ?? null };
  // Extra hosts enter only when there are some, so the hash of an app without accessories is unchanged.
  const extra = ctx.extraHosts?.length ? { extraHosts: ctx.extraHosts } : {};
  return createHash("sha256")
    .update(JSON.stringify({ app: ctx.app, image, slot: ctx.slot, release: ctx.release, ...extra }))
    .digest("hex")
    .slice(0, 16);
}

/** The full plan's hash with the run's clock and user neutralised, so re-runs of the same plan hash alike. */
export function stablePlanHash(ctx: ProvisionContext): string {
  const fixed: ProvisionContext = { ...ctx, now: "(run time)", auditUser: "(runner)" };
  return planHashOf(provisionSteps(fixed).map((step) => ({ step, ctx: fixed })));
}

/** Provisions (or, in check mode, inspects) every target. Never rejects for a host's failure. */
export async function provisionHosts(input: ProvisionHostsInput): Promise<ProvisionResult> {
  const started = performance.now();
  const connect = input.connect ?? defaultConnect;
  const now = input.now ?? new Date().toISOString();
  const auditUser = input.auditUser ?? defaultAuditUser();
  // A layered image is exchanged between the hosts of this run: each blob crosses the controller's
  // link once. Every host must be in flight at once for that (a host's server waits for the others).
  const exchange = input.image.source === "layers" && input.mode === "apply" ? new BlobExchange(input.targets.map((t) => t.name)) : null;
  const peers = input.targets.map((t) => t.address).filter(isPrivateIPv4);
  const concurrency = exchange ? input.targets.length : (input.concurrency ?? DEFAULT_CONCURRENCY);
  const lent = exchange && input.lenders?.length ? startLenders(input.lenders, input, connect, exchange, peers) : null;
  if (lent) exchange!.whenReady(lent.ready);
  let outcomes: Awaited<ReturnType<typeof provisionOne>>[];
  try {
    outcomes = await mapWithConcurrency(input.targets, concurrency, (target) => provisionOne(target, { ...input, connect, now, auditUser, exchange, peers }));
  } finally {
    await lent?.stop();
  }
  const hosts = outcomes.map((o) => o.report);
  const failures = outcomes.flatMap((o) => (o.error ? [{ host: o.report.host, error: o.error }] : []));
  const report: RunReport = {
    mode: input.mode,
    ok: failures.length === 0,
    durationMs: Math.round(performance.now() - started),
    hosts,
    counts: countSteps(hosts),
  };
  return {
    report,
    error: failures.length ? new AggregateHostError(failures, input.targets.length) : undefined,
    hosts: outcomes.map((o) => o.outcome),
  };
}

/**
 * Connects to each lender, lends its store to `exchange` (lendStore) and gives back when all have
 * registered (or failed: a lender that cannot be reached only lends nothing), and how to stop them.
 */
function startLenders(lenders: readonly SshTarget[], input: ProvisionHostsInput, connect: ConnectFn, exchange: BlobExchange, peers: string[]) {
  const image = (input.image as Extract<ImageSource, { source: "layers" }>).layers;
  const emit = input.onEvent ?? (() => undefined);
  const open: Array<{ transport: Transport; lent: LentStore | null }> = [];
  const ready = Promise.all(
    lenders
      .filter((t) => isPrivateIPv4(t.address))
      .map(async (target) => {
        try {
          const transport = await connect(target, { ...input.connectOptions, ...(input.signal ? { signal: input.signal } : {}) });
          const entry: { transport: Transport; lent: LentStore | null } = { transport, lent: null };
          open.push(entry);
          entry.lent = await lendStore({
            transport,
            image,
            exchange,
            address: target.address,
            peers,
            onProgress: (message) => emit({ type: "step-progress", host: target.name, stepId: FETCH_STEP_ID, message }),
          });
        } catch (e) {
          emit({ type: "step-progress", host: target.name, stepId: FETCH_STEP_ID, message: `lends nothing: ${asError(e).message}` });
        }
      }),
  );
  return {
    ready,
    async stop() {
      await ready;
      await Promise.all(open.map(async (o) => {
        await o.lent?.stop();
        await o.transport.close().catch(() => undefined);
      }));
    },
  };
}

/** The steps to run: all of them but those named in `omit`. */
function selectSteps<S extends { id: string }>(steps: S[], omit: readonly string[] = []): S[] {
  return steps.filter((s) => !omit.includes(s.id));
}

type Resolved = ProvisionHostsInput & { connect: ConnectFn; now: string; auditUser: string; exchange: BlobExchange | null; peers: string[] };

async function provisionOne(target: SshTarget, input: Resolved): Promise<{ report: HostReport; error: Error | undefined; outcome: HostOutcome }> {
  const host = target.name;
  const emit = input.onEvent ?? (() => undefined);
  const t0 = performance.now();
  emit({ type: "host-start", host });
  const outcome: HostOutcome = { host, facts: null, planHash: null, files: [] };
  const planned = selectSteps(provisionSteps({ engine: input.engine, image: input.image, app: input.app }), input.omitSteps);
  const fail = (error: Error) => {
    // Peers waiting for this host's blobs or its end must not wait for a host that is gone.
    input.exchange?.done(host);
    const durationMs = Math.round(performance.now() - t0);
    emit({ type: "host-done", host, status: "failed", durationMs, error: error.message });
    const report: HostReport = {
      host,
      status: "failed",
      durationMs,
      steps: planned.map((s) => ({ id: s.id, title: s.title, status: "not-run", durationMs: 0, attempts: 0, uploaded: [] })),
      error: { code: error instanceof LongshoreError ? error.code : "UNEXPECTED", message: error.message },
    };
    return { report, error, outcome };
  };

  let transport: Transport;
  /** Stops this host's blob server once every peer is done (it serves while this host goes on). */
  let stopServing: (() => Promise<void>) | undefined;
  try {
    transport = await input.connect(target, { ...input.connectOptions, ...(input.signal ? { signal: input.signal } : {}) });
  } catch (e) {
    return fail(asError(e));
  }
  // The runner closes the transports it is given; this one must stay open for the diffs and the
  // engine state read after the steps, so the runner gets a view whose close does nothing.
  const keepOpen: Transport = {
    host: transport.host,
    needsSudo: transport.needsSudo,
    exec: (c, o) => transport.exec(c, o),
    upload: (s, p, o) => transport.upload(s, p, o),
    sha256: (p, o) => transport.sha256(p, o),
    close: async () => undefined,
  };
  try {
    let ctx: ProvisionContext;
    try {
      const f0 = performance.now();
      const facts = engineHostFacts(await gatherFacts(transport, input.signal ? { signal: input.signal } : {}));
      outcome.facts = facts;
      emit({ type: "host-facts", host, facts, durationMs: Math.round(performance.now() - f0) });
      const bundle = typeof input.bundle === "function" ? await bundleForHost(input.bundle, facts.arch, host) : input.bundle;
      const problems = hostFactsProblems(facts, { engine: input.engine, bundle, app: input.app });
      if (problems.length) {
        throw new PreconditionError(`${host}: the host does not fit the plan:\n${problems.map((p) => `    - ${p}`).join("\n")}`, {
          context: { host, problems },
          suggestion: "Provision hosts of the bundle's distribution, release and architecture, or build a bundle for this host.",
        });
      }
      ctx = {
        facts,
        engine: input.engine,
        bundle,
        app: input.app,
        registry: input.registry ?? null,
        image: input.image,
        release: releaseLabel(input.app.image),
        slot: input.slot,
        healthDeadlineMs: input.healthDeadlineMs ?? DEFAULT_HEALTH_DEADLINE_MS,
        auditUser: input.auditUser,
        now: input.now,
        ...(input.extraHosts?.length ? { extraHosts: input.extraHosts } : {}),
      };
      ctx.planHash = appStateHash(ctx);
      outcome.planHash = stablePlanHash(ctx);
    } catch (e) {
      return fail(asError(e));
    }
    const steps = selectSteps(provisionSteps(ctx), input.omitSteps);
    // With a layered image, the blob store is filled (across hosts) between the engine steps and
    // image.layers: the steps run in two parts around that phase, reported as step image.fetch.
    const split = input.exchange ? steps.findIndex((st) => st.id === "image.layers") : -1;
    const total = steps.length + (split >= 0 ? 1 : 0);
    // One batched probe for both parts: the second part's answers hold while nothing has changed.
    const answers = split >= 0 && input.exchange ? await probeSteps(keepOpen, steps.map((step) => ({ step, ctx })), { mode: input.mode, rehashFiles: input.rehashFiles ?? false, ...(input.signal ? { signal: input.signal } : {}) }) : undefined;
    const answersFrom = (offset: number, count: number) =>
      answers ? new Map([...answers].filter(([i]) => i >= offset && i < offset + count).map(([i, a]) => [i - offset, a])) : undefined;
    const runPart = async (part: ReadonlyArray<Step<ProvisionContext>>, offset: number, probed?: ReadonlyMap<number, ProbedStep>) => {
      const run = await runPlan({
        hosts: [{ name: host, transport: keepOpen, steps: part.map((step) => ({ step, ctx })), ...(probed ? { probed } : {}) }],
        mode: input.mode,
        concurrency: 1,
        ...(input.rehashFiles ? { rehashFiles: true } : {}),
        // host-start was sent before connecting; host-done is sent below with the whole host's time.
        onEvent: (e) => {
          if (e.type === "step-start") emit({ ...e, index: e.index + offset, total });
          else if (e.type !== "host-start" && e.type !== "host-done") emit(e);
        },
        ...(input.signal ? { signal: input.signal } : {}),
      });
      return { report: run.report.hosts[0]!, error: run.error?.failures[0]?.error };
    };
    let report: HostReport;
    let error: Error | undefined;
    if (split < 0 || !input.exchange) {
      ({ report, error } = await runPart(steps, 0));
    } else {
      const first = await runPart(steps.slice(0, split), 0, answersFrom(0, split));
      const notRun = (st: { id: string; title: string }): StepReport => ({ id: st.id, title: st.title, status: "not-run", durationMs: 0, attempts: 0, uploaded: [] });
      const fetchTitle = "Fetch the image's missing blobs (from peers, else the controller)";
      if (first.error) {
        input.exchange.done(host);
        report = { ...first.report, steps: [...first.report.steps, notRun({ id: FETCH_STEP_ID, title: fetchTitle }), ...steps.slice(split).map(notRun)] };
        error = first.error;
      } else {
        const f0 = performance.now();
        emit({ type: "step-start", host, stepId: FETCH_STEP_ID, title: fetchTitle, index: split, total });
        const layered = (ctx.image as Extract<ImageSource, { source: "layers" }>).layers;
        // The batch already asked the engine for the image (image.layers' check): a host that has
        // it fetches nothing and need not even look at its store (a re-run's usual case). Only while
        // the engine steps changed nothing: a new storage driver, say, would no longer see it.
        const present = answers?.get(split)?.checks;
        const engineUntouched = first.report.steps.every((st) => st.status === "unchanged");
        const fetched = engineUntouched && present?.length && present.every(Boolean)
          ? (() => {
              input.exchange!.probed(host, false);
              input.exchange!.done(host);
              emit({ type: "step-progress", host, stepId: FETCH_STEP_ID, message: "image present: 0 blob bytes" });
              const delivery: BlobDeliveryReport = { present: true, blobs: blobsOf(layered).length, had: 0, fromPeers: 0, peerBytes: 0, fromController: 0, controllerBytes: 0, wireBytes: 0, refused: 0, served: false };
              return { delivery, error: undefined };
            })()
          : await deliverBlobs({
          transport,
          image: layered,
          cacheDir: (ctx.image as Extract<ImageSource, { source: "layers" }>).cacheDir,
          exchange: input.exchange,
          address: isPrivateIPv4(target.address) ? target.address : null,
          peers: input.peers,
          onProgress: (message) => emit({ type: "step-progress", host, stepId: FETCH_STEP_ID, message }),
          keepServing: (release) => (stopServing = release),
          ...(input.signal ? { signal: input.signal } : {}),
        }).then(
          (delivery) => ({ delivery, error: undefined }),
          (e: unknown) => ({ delivery: undefined, error: asError(e) }),
        );
        const durationMs = Math.round(performance.now() - f0);
        const status = fetched.error ? "failed" : fetched.delivery!.fromController + fetched.delivery!.fromPeers > 0 ? "changed" : "unchanged";
        emit({ type: "step-done", host, stepId: FETCH_STEP_ID, status, durationMs, ...(fetched.error ? { error: fetched.error.message } : {}) });
        const fetchReport: StepReport = {
          id: FETCH_STEP_ID,
          title: fetchTitle,
          status,
          durationMs,
          attempts: 1,
          uploaded: [],
          ...(fetched.error ? { error: { code: fetched.error instanceof LongshoreError ? fetched.error.code : "UNEXPECTED", message: fetched.error.message } } : {}),
        };
        if (fetched.delivery) {
          outcome.delivery = fetched.delivery;
          emit({ type: "image-delivered", host, delivery: fetched.delivery });
        }
        if (fetched.error) {
          report = { ...first.report, status: "failed", steps: [...first.report.steps, fetchReport, ...steps.slice(split).map(notRun)], error: fetchReport.error! };
          error = fetched.error;
        } else {
          // Nothing changed so far (a re-run): the batch's answers still hold for the second part.
          const untouched = status === "unchanged" && engineUntouched;
          const second = await runPart(steps.slice(split), split + 1, untouched ? answersFrom(split, steps.length - split) : undefined);
          report = { ...second.report, steps: [...first.report.steps, fetchReport, ...second.report.steps] };
          error = second.error;
        }
      }
    }
    report = { ...report, durationMs: Math.round(performance.now() - t0) };
    if (input.mode === "check") outcome.files = await fileChanges(transport, steps, ctx, report);
    if (input.readEngineState && !error) outcome.engine = await readEngineState(transport);
    emit({ type: "host-done", host, status: report.status, durationMs: report.durationMs, ...(error ? { error: error.message } : {}) });
    return { report, error, outcome };
  } finally {
    input.exchange?.done(host);
    await stopServing?.();
    await transport.close().catch(() => undefined);
  }
}

/** For each file a step would upload: a diff against the host's copy, or a note when it cannot be shown. */
async function fileChanges(t: Transport, steps: ReadonlyArray<Step<ProvisionContext>>, ctx: ProvisionContext, report: HostReport): Promise<FileChange[]> {
  const out: FileChange[] = [];
  for (const s of report.steps) {
    if (!s.wouldChange?.files.length) continue;
    const step = steps.find((x) => x.id === s.id);
    const files = step ? (step.plan(ctx).files ?? []) : [];
    for (const change of s.wouldChange.files) {
      const file = files.find((f) => f.path === change.path);
      if (!file) continue;
      out.push({ stepId: s.id, path: change.path, reason: change.reason, diff: await describeChange(t, file, change.reason) });
    }
  }
  return out;
}

async function describeChange(t: Transport, file: RemoteFile, reason: "missing" | "different"): Promise<string> {
  if (!("content" in file.source)) return `[file from this computer, sha256 ${file.source.sha256.slice(0, 12)}…: not shown]`;
  const content = file.source.content;
  if (content instanceof Sensitive) return "[redacted content changed]";
  // A file others may not read (an env file) can hold secrets the plan no longer knows of: the
  // host's old copy is never printed.
  if (((file.mode ?? 0o644) & 0o004) === 0) return `[content of a ${(file.mode ?? 0o644).toString(8).padStart(4, "0")} file changed: not shown]`;
  if (typeof content !== "string") return `[binary content changed: ${content.byteLength} bytes]`;
  if (Buffer.byteLength(content) > MAX_DIFF_BYTES) return `[${Buffer.byteLength(content)} bytes: too large to show]`;
  let current = "";
  if (reason === "different") {
    const r = await t.exec({ argv: ["cat", "--", file.path], sudo: file.sudo ?? true }, { maxOutputBytes: MAX_DIFF_BYTES + 1 });
    if (r.exitCode !== 0) return `[cannot read the host's copy: cat exited ${r.exitCode ?? r.signal}]`;
    current = r.stdout;
    if (current.includes("\0") || current.includes("\uFFFD")) return "[binary content changed]";
    if (Buffer.byteLength(current) > MAX_DIFF_BYTES) return `[host's copy is larger than ${MAX_DIFF_BYTES} bytes: not shown]`;
  }
  return unifiedDiff(current, content, { oldLabel: reason === "missing" ? "/dev/null" : `${file.path} (host)`, newLabel: `${file.path} (planned)` });
}

/**
 * The engine's server version and the sha256 of daemon.json on the host (null when unreadable).
 * Exported so that a read-only inspection (Pulumi's refresh) computes them exactly as an apply does.
 */
export async function readEngineState(t: Transport): Promise<{ version: string | null; daemonJsonSha256: string | null }> {
  const v = await t.exec({ argv: ["docker", "version", "--format", "{{.Server.Version}}"], sudo: true }, { timeoutMs: 30_000 });
  const version = v.exitCode === 0 ? v.stdout.trim() || null : null;
  const daemonJsonSha256 = await t.sha256(HOST_PATHS.daemonJson, { sudo: true });
  return { version, daemonJsonSha256 };
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** The ssh2 transport, loaded on first use so that importing this module does not load ssh2. */
const defaultConnect: ConnectFn = async (target, options) => {
  const { connectSsh } = await import("./transport/ssh2-transport.js");
  return connectSsh(target, options);
};
