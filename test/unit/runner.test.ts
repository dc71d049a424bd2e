// Runner against a scripted fake transport: does NOT prove anything about SSH, sudo or real hosts.
// Most tests here cover step-by-step probing (`batchProbes: false`); the batched probe has its own block at the end and test/unit/probe-batch.test.ts.
import { describe, expect, it } from "vitest";
import { inspect } from "node:util";
import { Readable } from "node:stream";
import { AggregateHostError, CommandFailedError, TransportError } from "../../core/errors";
import { sensitive } from "../../core/sensitive";
import { cmd, shell, sudo, type Command } from "../../provisioner/command";
import { runPlan, backoff, progressLines, UPLOADS_IN_FLIGHT, type HostJob, type RunEvent } from "../../provisioner/runner";
import type { Step, StepPlan } from "../../provisioner/step";
import { FakeTransport, InFlight, newHostState, sha256, type FakeRule } from "../helpers/fake-transport";

function step(id: string, plan: StepPlan | (() => StepPlan)): Step<unknown> {
  return { id, title: `title of ${id}`, plan: typeof plan === "function" ? plan : () => plan };
}

function job(name: string, transport: FakeTransport, steps: Step<unknown>[]): HostJob {
  return { name, transport, steps: steps.map((s) => ({ step: s, ctx: {} })) };
}

const noSleep = async () => {};

describe("runPlan: one host, apply mode", () => {
  it("runs check, sha256, upload, apply, verify in order, then the next step, then closes", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "test -e /etc/a", result: { exitCode: 1 } }] });
    const a = step("a.install", {
      check: [cmd("test", "-e", "/etc/a")],
      files: [{ path: "/etc/a.conf", source: { content: "A=1\n" } }],
      apply: [cmd("a1"), cmd("a2")],
      verify: [cmd("v1")],
    });
    const b = step("b.start", { apply: [cmd("b1")] });
    const events: RunEvent[] = [];
    const { report, error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a, b])], mode: "apply", onEvent: (e) => events.push(e) });

    expect(error).toBeUndefined();
    expect(t.log).toEqual([
      "exec: test -e /etc/a",
      "sha256: /etc/a.conf",
      "exec: mkdir -p -- /etc",
      "upload: /etc/a.conf",
      "exec: a1",
      "exec: a2",
      "exec: v1",
      "exec: b1",
      "close",
    ]);
    expect(report.ok).toBe(true);
    expect(report.hosts[0]!.steps.map((s) => [s.id, s.title, s.status, s.attempts, s.uploaded])).toEqual([
      ["a.install", "title of a.install", "changed", 1, [{ path: "/etc/a.conf", bytes: 4 }]],
      ["b.start", "title of b.start", "changed", 1, []],
    ]);
    expect(report.counts).toEqual({ unchanged: 0, changed: 2, "would-change": 0, failed: 0, "not-run": 0 });
    expect(events.map((e) => `${e.type}${"stepId" in e ? ` ${e.stepId}` : ""}${"status" in e ? ` ${e.status}` : ""}`)).toEqual([
      "host-start",
      "step-start a.install",
      "step-done a.install changed",
      "step-start b.start",
      "step-done b.start changed",
      "host-done ok",
    ]);
    // The upload was forced (the runner already compared hashes) and went through sudo by default.
    const up = t.calls.find((c) => c.kind === "upload");
    expect(up).toEqual({ kind: "upload", path: "/etc/a.conf", bytes: 4, options: { sudo: true, force: true } });
  });

  it("skips apply when every check passes and every file matches", async () => {
    const t = new FakeTransport("web-1", { files: { "/etc/a.conf": "A=1\n" } });
    const a = step("a.install", {
      check: [cmd("c1"), cmd("c2")],
      files: [{ path: "/etc/a.conf", source: { content: "A=1\n" }, sudo: false }],
      apply: [cmd("a1")],
      verify: [cmd("v1")],
    });
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a])], mode: "apply" });
    expect(t.log).toEqual(["exec: c1", "exec: c2", "sha256: /etc/a.conf", "close"]);
    expect(t.calls[2]).toEqual({ kind: "sha256", path: "/etc/a.conf", sudo: false });
    expect(report.hosts[0]!.steps[0]!.status).toBe("unchanged");
  });

  it("stops at the first failing check in apply mode and applies", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "c1", result: { exitCode: 3 } }] });
    const a = step("a.install", { check: [cmd("c1"), cmd("c2")], apply: [cmd("a1")] });
    await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a])], mode: "apply" });
    expect(t.log).toEqual(["exec: c1", "exec: a1", "close"]);
  });

  it("counts okExitCodes as success for checks and apply", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^a1/, result: { exitCode: 10 } }, { match: "c1", result: { exitCode: 1 } }] });
    const a = step("a.install", {
      check: [{ argv: ["c1"], okExitCodes: [0, 1] }],
      apply: [cmd("never")],
    });
    const b = step("b.install", { apply: [{ argv: ["a1"], okExitCodes: [0, 10] }] });
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a, b])], mode: "apply" });
    expect(report.hosts[0]!.steps.map((s) => s.status)).toEqual(["unchanged", "changed"]);
    expect(t.execs).toEqual(["c1", "a1"]);
  });

  it("files a passing check vouches for are not hashed (the bundle's .verified marker), unless rehashFiles; a failing check hashes them", async () => {
    const plan = (): StepPlan => ({
      check: [cmd("test", "-f", "/b/.verified")],
      files: [{ path: "/b/a.deb", source: { content: "deb\n" } }],
      apply: [cmd("verify-all")],
      filesTrustedWhenChecked: true,
    });
    const trusted = new FakeTransport("web-1", { files: { "/b/a.deb": "tampered\n" } });
    const r1 = await runPlan({ batchProbes: false, hosts: [job("web-1", trusted, [step("engine.bundle", plan())])], mode: "apply" });
    expect([r1.report.hosts[0]!.steps[0]!.status, trusted.log]).toEqual(["unchanged", ["exec: test -f /b/.verified", "close"]]);
    const rehashed = new FakeTransport("web-1", { files: { "/b/a.deb": "tampered\n" } });
    const r2 = await runPlan({ batchProbes: false, hosts: [job("web-1", rehashed, [step("engine.bundle", plan())])], mode: "apply", rehashFiles: true });
    expect([r2.report.hosts[0]!.steps[0]!.status, rehashed.log]).toEqual([
      "changed",
      ["exec: test -f /b/.verified", "sha256: /b/a.deb", "exec: mkdir -p -- /b", "upload: /b/a.deb", "exec: verify-all", "close"],
    ]);
    const noMarker = new FakeTransport("web-1", { rules: [{ match: "test -f /b/.verified", result: { exitCode: 1 } }], files: { "/b/a.deb": "deb\n" } });
    await runPlan({ batchProbes: false, hosts: [job("web-1", noMarker, [step("engine.bundle", plan())])], mode: "apply" });
    expect(noMarker.log).toEqual(["exec: test -f /b/.verified", "sha256: /b/a.deb", "exec: verify-all", "close"]);
  });

  it("uploads only the files whose remote sha256 differs or that are missing", async () => {
    const t = new FakeTransport("web-1", { files: { "/etc/same": "same\n", "/etc/old": "old\n" } });
    const a = step("files.write", {
      files: [
        { path: "/etc/same", source: { content: "same\n" } },
        { path: "/etc/old", source: { content: "new content\n" }, mode: 0o600, owner: "app", group: "app" },
        { path: "/etc/missing", source: { content: new Uint8Array([1, 2, 3]) } },
      ],
      apply: [cmd("reload")],
    });
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a])], mode: "apply" });
    expect(t.log).toEqual([
      "sha256: /etc/same",
      "sha256: /etc/old",
      "sha256: /etc/missing",
      "exec: mkdir -p -- /etc",
      "upload: /etc/old",
      "upload: /etc/missing",
      "exec: reload",
      "close",
    ]);
    expect(t.calls[4]).toEqual({
      kind: "upload",
      path: "/etc/old",
      bytes: 12,
      options: { mode: 0o600, owner: "app", group: "app", sudo: true, force: true },
    });
    expect(report.hosts[0]!.steps[0]!.uploaded).toEqual([
      { path: "/etc/old", bytes: 12 },
      { path: "/etc/missing", bytes: 3 },
    ]);
    expect(t.state.files.get("/etc/old")!.toString()).toBe("new content\n");
  });

  it("compares a streamed local file by its declared sha256", async () => {
    const t = new FakeTransport("web-1", { files: { "/opt/bundle.tar": "bundle-bytes" } });
    const a = step("bundle.copy", {
      files: [{ path: "/opt/bundle.tar", source: { localPath: "/nonexistent/bundle.tar", sha256: sha256("bundle-bytes") } }],
      apply: [cmd("unpack")],
    });
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a])], mode: "apply" });
    expect(report.hosts[0]!.steps[0]!.status).toBe("unchanged");
    expect(t.log).toEqual(["sha256: /opt/bundle.tar", "close"]);
  });

  it("always applies a step that has no check and no files", async () => {
    const state = newHostState();
    for (let run = 0; run < 2; run++) {
      const t = new FakeTransport("web-1", { state });
      const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("x.run", { apply: [cmd("x")] })])], mode: "apply" });
      expect(report.hosts[0]!.steps[0]!.status).toBe("changed");
      expect(t.execs).toEqual(["x"]);
    }
  });
});

describe("runPlan: failures", () => {
  it("fails the step when verify fails, stops the host, and reports later steps not-run", async () => {
    const t = new FakeTransport("web-1", {
      rules: [{ match: "curl -fsS http://127.0.0.1/health", result: { exitCode: 22, stderr: "line1\ncurl: (22) 503\n" } }],
    });
    const a = step("app.start", { apply: [cmd("start")], verify: [cmd("curl", "-fsS", "http://127.0.0.1/health")] });
    const b = step("app.tune", { apply: [cmd("tune")] });
    const { report, error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a, b])], mode: "apply" });

    expect(t.log).toEqual(["exec: start", "exec: curl -fsS http://127.0.0.1/health", "close"]);
    expect(report.ok).toBe(false);
    expect(report.hosts[0]!.status).toBe("failed");
    expect(report.hosts[0]!.steps.map((s) => s.status)).toEqual(["failed", "not-run"]);
    const expected = "web-1: app.start (verify): `curl -fsS http://127.0.0.1/health` exited 22\n    line1\n    curl: (22) 503";
    expect(report.hosts[0]!.steps[0]!.error).toEqual({ code: "COMMAND_FAILED", message: expected });
    expect(report.hosts[0]!.error).toEqual({ code: "COMMAND_FAILED", message: expected });
    expect(error).toBeInstanceOf(AggregateHostError);
    const inner = error!.failures[0]!.error as CommandFailedError;
    expect(inner).toBeInstanceOf(CommandFailedError);
    expect([inner.host, inner.stepId, inner.command, inner.exitCode, inner.signal, inner.stderrTail]).toEqual([
      "web-1",
      "app.start",
      "curl -fsS http://127.0.0.1/health",
      22,
      null,
      "line1\ncurl: (22) 503",
    ]);
    expect(inner.context["phase"]).toBe("verify");
    expect(error!.message).toBe(`1 of 1 host failed:\n    ${expected.split("\n").join("\n    ")}`);
  });

  it("treats a null exit code as a failure naming the signal, even when the command is a check", async () => {
    const t = new FakeTransport("web-1", {
      needsSudo: true,
      rules: [
        { match: "sudo -n -- apt-get install -y docker.io", result: { exitCode: null, signal: "KILL" } },
        { match: "probe", result: { exitCode: null, signal: "SEGV" } },
      ],
    });
    const r1 = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("engine.install", { apply: [sudo("apt-get", "install", "-y", "docker.io")] })])],
      mode: "apply",
    });
    expect(r1.report.hosts[0]!.steps[0]!.error!.message).toBe(
      "web-1: engine.install (apply): `sudo -n -- apt-get install -y docker.io` was killed by signal KILL",
    );
    expect((r1.error!.failures[0]!.error as CommandFailedError).signal).toBe("KILL");

    const t2 = new FakeTransport("web-1", { rules: [{ match: "probe", result: { exitCode: null, signal: "SEGV" } }] });
    const r2 = await runPlan({ batchProbes: false, hosts: [job("web-1", t2, [step("x.check", { check: [cmd("probe")], apply: [cmd("x")] })])], mode: "check" });
    expect(r2.report.hosts[0]!.steps[0]!.status).toBe("failed");
    expect(r2.report.hosts[0]!.steps[0]!.error!.message).toBe("web-1: x.check (check): `probe` was killed by signal SEGV");
  });

  it("aggregates failures across hosts while the healthy host completes", async () => {
    const ok = new FakeTransport("h2");
    const bad = new FakeTransport("h3", { rules: [{ match: "a1", result: { exitCode: 1, stderr: "boom" } }] });
    const steps = [step("s.one", { apply: [cmd("a1")] }), step("s.two", { apply: [cmd("a2")] })];
    const { report, error } = await runPlan({ batchProbes: false,
      mode: "apply",
      hosts: [
        { name: "h1", connect: async () => Promise.reject(new TransportError("refused", "h1", "connection refused")), steps: steps.map((s) => ({ step: s, ctx: {} })) },
        job("h2", ok, steps),
        job("h3", bad, steps),
      ],
    });
    expect(report.hosts.map((h) => [h.host, h.status, h.steps.map((s) => s.status)])).toEqual([
      ["h1", "failed", ["not-run", "not-run"]],
      ["h2", "ok", ["changed", "changed"]],
      ["h3", "failed", ["failed", "not-run"]],
    ]);
    expect(report.hosts[0]!.error).toEqual({ code: "TRANSPORT_FAILED", message: "h1: connection refused" });
    expect(ok.execs).toEqual(["a1", "a2"]);
    expect(error!.failures.map((f) => [f.host, f.error.constructor.name])).toEqual([
      ["h1", "TransportError"],
      ["h3", "CommandFailedError"],
    ]);
    expect(error!.message).toBe(
      "2 of 3 hosts failed:\n    h1: connection refused\n    h3: s.one (apply): `a1` exited 1\n        boom",
    );
    expect(report.counts).toEqual({ unchanged: 0, changed: 2, "would-change": 0, failed: 1, "not-run": 3 });
  });

  it("closes the transport once even when a step fails on a transport error, and does not retry it", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "a1", error: new TransportError("disconnected", "web-1", "connection lost") }] });
    const sleeps: number[] = [];
    const { report } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("s.one", { apply: [cmd("a1")], retry: { attempts: 3, backoffMs: 10 } })])],
      mode: "apply",
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(t.log).toEqual(["exec: a1", "close"]);
    expect(t.closeCount).toBe(1);
    expect(sleeps).toEqual([]);
    expect(report.hosts[0]!.steps[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "TRANSPORT_FAILED", message: "web-1: connection lost" } });
  });

  it("fails a step whose plan throws, without touching the host for it", async () => {
    const t = new FakeTransport("web-1");
    const bad = step("x.plan", () => {
      throw new Error("image tag missing");
    });
    const { report, error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [bad, step("y.run", { apply: [cmd("y")] })])], mode: "apply" });
    expect(t.log).toEqual(["close"]);
    expect(report.hosts[0]!.steps.map((s) => s.status)).toEqual(["failed", "not-run"]);
    expect(report.hosts[0]!.steps[0]!.error).toEqual({ code: "UNEXPECTED", message: "image tag missing" });
    expect(error!.failures[0]!.error.message).toBe("image tag missing");
  });
});

describe("runPlan: idempotence, retries, timeouts, concurrency", () => {
  const installStep = step("engine.install", {
    check: [cmd("test", "-x", "/usr/bin/dockerd")],
    files: [{ path: "/etc/docker/daemon.json", source: { content: '{"log-driver":"local"}\n' } }],
    apply: [sudo("apt-get", "install", "-y", "./docker.deb")],
    verify: [cmd("test", "-x", "/usr/bin/dockerd")],
  });
  const rules: FakeRule[] = [
    { match: "test -x /usr/bin/dockerd", result: ({ fake }) => ({ exitCode: fake.state.flags["installed"] ? 0 : 1 }) },
    {
      match: "apt-get install -y ./docker.deb",
      result: ({ fake }) => {
        fake.state.flags["installed"] = true;
        return { exitCode: 0 };
      },
    },
  ];

  it("a second run reports every step unchanged and makes no uploads and no applies", async () => {
    const state = newHostState();
    const first = new FakeTransport("web-1", { state, rules });
    const r1 = await runPlan({ batchProbes: false, hosts: [job("web-1", first, [installStep])], mode: "apply" });
    expect(r1.report.hosts[0]!.steps[0]!.status).toBe("changed");
    expect(first.log).toEqual([
      "exec: test -x /usr/bin/dockerd",
      "sha256: /etc/docker/daemon.json",
      "exec: mkdir -p -- /etc/docker",
      "upload: /etc/docker/daemon.json",
      "exec: apt-get install -y ./docker.deb",
      "exec: test -x /usr/bin/dockerd",
      "close",
    ]);

    const second = new FakeTransport("web-1", { state, rules });
    const r2 = await runPlan({ batchProbes: false, hosts: [job("web-1", second, [installStep])], mode: "apply" });
    expect(r2.report.counts).toEqual({ unchanged: 1, changed: 0, "would-change": 0, failed: 0, "not-run": 0 });
    expect(second.log).toEqual(["exec: test -x /usr/bin/dockerd", "sha256: /etc/docker/daemon.json", "close"]);
    expect(second.calls.filter((c) => c.kind === "upload")).toEqual([]);
  });

  it("retries a failed apply with exponential backoff and jitter, and re-probes before each attempt", async () => {
    const t = new FakeTransport("web-1", {
      rules: [
        { match: "c1", result: { exitCode: 1 } },
        { match: "flaky", result: ({ count }) => (count < 2 ? { exitCode: 100, stderr: "lock held" } : { exitCode: 0 }) },
      ],
    });
    const sleeps: number[] = [];
    const events: RunEvent[] = [];
    const { report, error } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("pkg.install", { check: [cmd("c1")], apply: [cmd("flaky")], retry: { attempts: 3, backoffMs: 100 } })])],
      mode: "apply",
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 0.5,
      onEvent: (e) => events.push(e),
    });
    expect(error).toBeUndefined();
    expect(sleeps).toEqual([75, 150]);
    expect(t.execs).toEqual(["c1", "flaky", "c1", "flaky", "c1", "flaky"]);
    expect(report.hosts[0]!.steps[0]).toMatchObject({ status: "changed", attempts: 3 });
    expect(events.filter((e) => e.type === "step-retry")).toEqual([
      { type: "step-retry", host: "web-1", stepId: "pkg.install", attempt: 1, delayMs: 75, error: "web-1: pkg.install (apply): `flaky` exited 100\n    lock held" },
      { type: "step-retry", host: "web-1", stepId: "pkg.install", attempt: 2, delayMs: 150, error: "web-1: pkg.install (apply): `flaky` exited 100\n    lock held" },
    ]);
  });

  it("gives up after the last attempt and reports how many were made", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "flaky", result: { exitCode: 1 } }] });
    const { report } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("pkg.install", { apply: [cmd("flaky")], retry: { attempts: 2, backoffMs: 10 } })])],
      mode: "apply",
      sleep: noSleep,
    });
    expect(t.execs).toEqual(["flaky", "flaky"]);
    expect(report.hosts[0]!.steps[0]).toMatchObject({ status: "failed", attempts: 2 });
  });

  it("retries a command timeout but not an auth failure", async () => {
    const t = new FakeTransport("web-1", {
      rules: [{ match: "slow", error: ({ count }) => new TransportError(count === 0 ? "command-timeout" : "auth", "web-1", `failure ${count}`) }],
    });
    const { report } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("s.slow", { apply: [cmd("slow")], retry: { attempts: 5, backoffMs: 1 } })])],
      mode: "apply",
      sleep: noSleep,
    });
    expect(t.execs).toEqual(["slow", "slow"]);
    expect(report.hosts[0]!.steps[0]).toMatchObject({ status: "failed", attempts: 2, error: { message: "web-1: failure 1" } });
  });

  it("backoff doubles per attempt and stays within [half, full] of the doubled delay", () => {
    expect([backoff(100, 1, () => 0), backoff(100, 1, () => 0.999999), backoff(100, 3, () => 0), backoff(100, 3, () => 0.5)]).toEqual([
      50, 100, 200, 300,
    ]);
  });

  it("passes the command's timeout, else the step's, to exec", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "c", result: { exitCode: 1 } }] });
    await runPlan({ batchProbes: false,
      hosts: [
        job("web-1", t, [
          step("a.timed", { check: [cmd("c")], apply: [{ argv: ["fast"], timeoutMs: 100 }, cmd("slow")], timeoutMs: 5000 }),
          step("b.default", { apply: [cmd("plain")] }),
        ]),
      ],
      mode: "apply",
    });
    expect(t.calls.flatMap((c) => (c.kind === "exec" ? [[c.text, (({ onStderr: _, ...o }) => o)(c.options)]] : []))).toEqual([
      ["c", { timeoutMs: 5000 }],
      ["fast", { timeoutMs: 100 }],
      ["slow", { timeoutMs: 5000 }],
      ["plain", {}],
    ]);
  });

  it("passes an abort signal through to exec and upload", async () => {
    const t = new FakeTransport("web-1");
    const ac = new AbortController();
    await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("a.x", { files: [{ path: "/f", source: { content: "x" } }], apply: [cmd("go")] })])],
      mode: "apply",
      signal: ac.signal,
    });
    const signals = t.calls.flatMap((c) => (c.kind === "exec" || c.kind === "upload" ? [c.options.signal] : []));
    expect(signals).toEqual([ac.signal, ac.signal]);
  });

  it("honours the concurrency limit and opens one transport per host", async () => {
    for (const [hosts, limit, expected] of [
      [10, 3, 3],
      [20, undefined, 16],
      [4, 1, 1],
    ] as const) {
      const inFlight = new InFlight();
      const fakes: FakeTransport[] = [];
      const jobs: HostJob[] = Array.from({ length: hosts }, (_, i) => ({
        name: `h${i}`,
        connect: async () => {
          const f = new FakeTransport(`h${i}`, { delayMs: 5, inFlight });
          fakes.push(f);
          return f;
        },
        steps: [{ step: step("s.one", { check: [cmd("c")], apply: [cmd("a")] }), ctx: {} }],
      }));
      const { report } = await runPlan({ batchProbes: false, hosts: jobs, mode: "apply", ...(limit ? { concurrency: limit } : {}) });
      expect(inFlight.max).toBe(expected);
      expect(inFlight.current).toBe(0);
      expect(fakes.length).toBe(hosts);
      expect(fakes.every((f) => f.closeCount === 1)).toBe(true);
      expect(report.hosts.map((h) => h.host)).toEqual(jobs.map((j) => j.name));
    }
  });

  it("rejects a concurrency below 1", async () => {
    await expect(runPlan({ batchProbes: false, hosts: [], mode: "apply", concurrency: 0 })).rejects.toThrow("concurrency must be a whole number >= 1 (got 0)");
  });
});

describe("runPlan: check mode", () => {
  it("only probes, never uploads or applies, and says why each step would change", async () => {
    const t = new FakeTransport("web-1", {
      files: { "/etc/same": "same", "/etc/old": "old" },
      rules: [{ match: "c2", result: { exitCode: 1 } }],
    });
    const steps = [
      step("a.ok", { check: [cmd("c1")], files: [{ path: "/etc/same", source: { content: "same" } }], apply: [cmd("a")] }),
      step("b.files", {
        check: [cmd("c1"), cmd("c2"), sudo("c3")],
        files: [
          { path: "/etc/same", source: { content: "same" } },
          { path: "/etc/old", source: { content: "new" } },
          { path: "/etc/none", source: { content: "x" } },
        ],
        apply: [cmd("b")],
        verify: [cmd("vb")],
      }),
      step("c.always", { apply: [cmd("c")] }),
    ];
    const { report, error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, steps)], mode: "check" });
    expect(error).toBeUndefined();
    expect(t.calls.filter((c) => c.kind === "upload")).toEqual([]);
    expect(t.log).toEqual([
      "exec: c1",
      "sha256: /etc/same",
      "exec: c1",
      "exec: c2",
      "exec: c3",
      "sha256: /etc/same",
      "sha256: /etc/old",
      "sha256: /etc/none",
      "close",
    ]);
    expect(report.mode).toBe("check");
    expect(report.hosts[0]!.steps.map((s) => [s.id, s.status, s.wouldChange])).toEqual([
      ["a.ok", "unchanged", undefined],
      [
        "b.files",
        "would-change",
        {
          files: [
            { path: "/etc/old", reason: "different" },
            { path: "/etc/none", reason: "missing" },
          ],
          failedChecks: ["c2"],
          alwaysApplies: false,
        },
      ],
      ["c.always", "would-change", { files: [], failedChecks: [], alwaysApplies: true }],
    ]);
    expect(t.state.files.has("/etc/none")).toBe(false);
  });

  it("does not retry in check mode", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: "c", error: new TransportError("command-timeout", "web-1", "timed out") }] });
    const { report } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, [step("a.x", { check: [cmd("c")], apply: [cmd("a")], retry: { attempts: 3, backoffMs: 1 } })])],
      mode: "check",
      sleep: noSleep,
    });
    expect(t.execs).toEqual(["c"]);
    expect(report.hosts[0]!.steps[0]!.status).toBe("failed");
  });
});

describe("runPlan: secrets", () => {
  it("never puts a secret into the report, the events or the error, wherever the host echoes it", async () => {
    const secret = "hunter2-very-secret-token";
    const password = sensitive(secret);
    const t = new FakeTransport("web-1", {
      rules: [
        { match: (text) => text.startsWith("registry-login"), result: { exitCode: 1, stderr: `denied for ${secret}\n` } },
        { match: "check-token", result: { exitCode: 1 } },
      ],
    });
    const t2 = new FakeTransport("web-2", {
      rules: [{ match: "check-token", error: new TransportError("command-timeout", "web-2", `timed out running check-token ${secret}`) }],
    });
    const steps = (): Step<unknown>[] => [
      step("secret.file", {
        check: [cmd("check-token")],
        files: [{ path: "/etc/app/token", source: { content: password }, mode: 0o600 }],
        apply: [{ argv: ["registry-login", "--password-stdin"], stdin: password }],
      }),
      step("secret.argv", { apply: [cmd("use", password)] }),
    ];
    const events: RunEvent[] = [];
    const { report, error } = await runPlan({ batchProbes: false,
      hosts: [job("web-1", t, steps()), job("web-2", t2, steps())],
      mode: "apply",
      onEvent: (e) => events.push(e),
    });
    // The secret did reach the host where it must (the file), so the test is not vacuous.
    expect(t.state.files.get("/etc/app/token")!.toString()).toBe(secret);
    const everything = [
      JSON.stringify(report),
      JSON.stringify(events),
      error!.message,
      String(error!.stack),
      JSON.stringify(error),
      inspect(error, { depth: 10 }),
      ...error!.failures.map((f) => `${f.error.message} ${f.error.stack} ${JSON.stringify(f.error)} ${inspect(f.error, { depth: 10 })}`),
    ].join("\n");
    expect(everything).not.toContain(secret);
    expect(report.hosts[0]!.steps[0]!.error!.message).toBe(
      "web-1: secret.file (apply): `registry-login --password-stdin` exited 1\n    denied for [redacted]",
    );
    expect(report.hosts[1]!.steps[0]!.error!.message).toBe("web-2: timed out running check-token [redacted]");
  });

  it("shows a secret argv element as [redacted] in a failed command", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^login/, result: { exitCode: 2 } }] });
    const c: Command = { argv: ["login", "-p", sensitive("s3cr3t-value")] };
    const { error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("a.login", { apply: [c] })])], mode: "apply" });
    expect(t.execs).toEqual(["login -p s3cr3t-value"]);
    expect((error!.failures[0]!.error as CommandFailedError).command).toBe("login -p [redacted]");
  });

  it("renders shell steps through the one quoting function", async () => {
    const t = new FakeTransport("web-1");
    await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("a.sh", { apply: [shell("echo 'hi' | tee /tmp/x")] })])], mode: "apply" });
    expect(t.execs).toEqual([`sh -c 'echo '\\''hi'\\'' | tee /tmp/x'`]);
  });
});

describe("runPlan: what the engine and app plans need (docs/engine.md, Wiring 5)", () => {
  it("creates each changed file's parent directory first: one mkdir -p per privilege, each directory once", async () => {
    const t = new FakeTransport("web-1", { files: { "/var/lib/b/debs/same.deb": "same" } });
    const a = step("engine.bundle", {
      files: [
        { path: "/var/lib/b/debs/same.deb", source: { content: "same" } },
        { path: "/var/lib/b/debs/one.deb", source: { content: "1" } },
        { path: "/var/lib/b/debs/two.deb", source: { content: "2" } },
        { path: "/var/lib/b/manifest.json", source: { content: "{}" } },
        { path: "/home/app/.config/app.conf", source: { content: "x" }, sudo: false },
      ],
      apply: [],
    });
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [a])], mode: "apply" });
    expect(report.ok).toBe(true);
    expect(t.log.filter((l) => !l.startsWith("sha256"))).toEqual([
      "exec: mkdir -p -- /var/lib/b/debs /var/lib/b",
      "exec: mkdir -p -- /home/app/.config",
      "upload: /var/lib/b/debs/one.deb",
      "upload: /var/lib/b/debs/two.deb",
      "upload: /var/lib/b/manifest.json",
      "upload: /home/app/.config/app.conf",
      "close",
    ]);
    // Root files' directories are made as root; a needsSudo transport shows it.
    const s = new FakeTransport("web-2", { needsSudo: true });
    await runPlan({ batchProbes: false, hosts: [job("web-2", s, [step("x.file", { files: [{ path: "/etc/x/y.conf", source: { content: "y" } }], apply: [] })])], mode: "apply" });
    expect(s.execs).toEqual(["sudo -n -- mkdir -p -- /etc/x"]);
  });

  it("sends no mkdir when every file matches, and none in check mode", async () => {
    const t = new FakeTransport("web-1", { files: { "/etc/x/a": "a" } });
    const plan = { files: [{ path: "/etc/x/a", source: { content: "a" } }], apply: [] };
    await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("x.file", plan)])], mode: "apply" });
    const c = new FakeTransport("web-1");
    await runPlan({ batchProbes: false, hosts: [job("web-1", c, [step("x.file", plan)])], mode: "check" });
    expect([...t.execs, ...c.execs]).toEqual([]);
  });

  it("fails the step when the parent directory cannot be made, naming the upload phase, and uploads nothing", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^mkdir/, result: { exitCode: 1, stderr: "mkdir: cannot create directory '/ro': Read-only file system\n" } }] });
    const { error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("x.file", { files: [{ path: "/ro/f", source: { content: "f" } }], apply: [] })])], mode: "apply" });
    expect(error!.failures[0]!.error.message).toBe(
      "web-1: x.file (upload): `mkdir -p -- /ro` exited 1\n    mkdir: cannot create directory '/ro': Read-only file system",
    );
    expect(t.calls.filter((c) => c.kind === "upload")).toEqual([]);
  });

  it("hashes a Sensitive file on its revealed bytes: a matching secret file is left alone, a different one uploaded", async () => {
    const same = new FakeTransport("web-1", { files: { "/etc/app.env": "TOKEN=abc-123\n" } });
    const plan = { files: [{ path: "/etc/app.env", source: { content: sensitive("TOKEN=abc-123\n") }, mode: 0o600 }], apply: [] };
    const r1 = await runPlan({ batchProbes: false, hosts: [job("web-1", same, [step("app.env", plan)])], mode: "apply" });
    expect(r1.report.hosts[0]!.steps[0]!.status).toBe("unchanged");
    const other = new FakeTransport("web-1", { files: { "/etc/app.env": "TOKEN=old-000\n" } });
    const r2 = await runPlan({ batchProbes: false, hosts: [job("web-1", other, [step("app.env", plan)])], mode: "apply" });
    expect(r2.report.hosts[0]!.steps[0]!.status).toBe("changed");
    expect(other.state.files.get("/etc/app.env")!.toString()).toBe("TOKEN=abc-123\n");
    expect(JSON.stringify(r2.report)).not.toContain("abc-123");
  });

  it("accepts apply: [] — a failing check then fails through verify, with verify's stderr", async () => {
    const assert = cmd("sh", "-c", "preflight");
    const healthy = new FakeTransport("web-1");
    const ok = await runPlan({ batchProbes: false, hosts: [job("web-1", healthy, [step("engine.facts", { check: [assert], apply: [], verify: [assert] })])], mode: "apply" });
    expect(ok.report.hosts[0]!.steps[0]!.status).toBe("unchanged");
    expect(healthy.execs).toEqual(["sh -c preflight"]);

    const unfit = new FakeTransport("web-2", { rules: [{ match: "sh -c preflight", result: { exitCode: 1, stderr: "engine.facts: host architecture is arm64; the engine bundle is for amd64\n" } }] });
    const bad = await runPlan({ batchProbes: false, hosts: [job("web-2", unfit, [step("engine.facts", { check: [assert], apply: [], verify: [assert] })])], mode: "apply" });
    expect(unfit.execs).toEqual(["sh -c preflight", "sh -c preflight"]);
    expect(bad.report.hosts[0]!.steps[0]!.error).toEqual({
      code: "COMMAND_FAILED",
      message: "web-2: engine.facts (verify): `sh -c preflight` exited 1\n    engine.facts: host architecture is arm64; the engine bundle is for amd64",
    });
  });

  it("hands a stdin stream factory to the transport untouched, once per attempt", async () => {
    const seen: unknown[] = [];
    let made = 0;
    const factory = () => {
      made++;
      return Readable.from([Buffer.from("archive-bytes")]);
    };
    const t = new FakeTransport("web-1", {
      rules: [
        {
          match: "docker load --quiet",
          result: (ctx) => {
            seen.push(ctx.command.stdin);
            return { exitCode: ctx.count === 0 ? 1 : 0 };
          },
        },
      ],
    });
    const plan: StepPlan = { apply: [{ argv: ["docker", "load", "--quiet"], stdin: factory }], retry: { attempts: 2, backoffMs: 1 } };
    const { report } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("image.load", plan)])], mode: "apply", sleep: noSleep });
    expect(report.hosts[0]!.steps[0]!.attempts).toBe(2);
    expect(seen).toEqual([factory, factory]);
    // The runner never calls it: reading it is the transport's job (the fake does not).
    expect(made).toBe(0);
  });
});

describe("runPlan: long scripts in messages", () => {
  it("names a multi-line script by its first line and length in errors and in check reports", async () => {
    const script = "# longshore app.health: GET the health path\nhost=127.0.0.1\nexit 1";
    const t = new FakeTransport("web-1", { rules: [{ match: /^bash -c/, result: { exitCode: 1, stderr: "app.health: HTTP/1.0 404 Not Found\n" } }] });
    const plan: StepPlan = { check: [cmd("bash", "-c", script)], apply: [cmd("bash", "-c", script)] };
    const { error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("app.health", plan)])], mode: "apply" });
    expect(error!.failures[0]!.error.message).toBe(
      "web-1: app.health (apply): `bash -c '# longshore app.health: GET the health path … (3 lines)'` exited 1\n    app.health: HTTP/1.0 404 Not Found",
    );
    // The host still got the whole script.
    expect(t.execs[0]).toBe(`bash -c '${script}'`);
    const check = await runPlan({ batchProbes: false, hosts: [job("web-1", new FakeTransport("web-1", { rules: [{ match: /^bash/, result: { exitCode: 1 } }] }), [step("app.health", plan)])], mode: "check" });
    expect(check.report.hosts[0]!.steps[0]!.wouldChange!.failedChecks).toEqual(["bash -c '# longshore app.health: GET the health path … (3 lines)'"]);
  });
});

describe("runPlan: progress a command reports", () => {
  it("turns each stderr line starting with longshore-progress: into a step-progress event while the step runs", async () => {
    const stderr = "longshore-progress: waiting for dpkg lock held by PID 4242 (apt-get)\nReading package lists...\nlongshore-progress: waiting for dpkg lock held by PID 4250 (dpkg)\n";
    const t = new FakeTransport("web-1", { rules: [{ match: /^sh -c/, result: { stderr } }] });
    const events: RunEvent[] = [];
    const { error } = await runPlan({ batchProbes: false, hosts: [job("web-1", t, [step("engine.install", { apply: [shell("install")] })])], mode: "apply", onEvent: (e) => events.push(e) });
    expect(error).toBeUndefined();
    expect(events.filter((e) => e.type.startsWith("step-"))).toEqual([
      { type: "step-start", host: "web-1", stepId: "engine.install", title: "title of engine.install", index: 0, total: 1 },
      { type: "step-progress", host: "web-1", stepId: "engine.install", message: "waiting for dpkg lock held by PID 4242 (apt-get)" },
      { type: "step-progress", host: "web-1", stepId: "engine.install", message: "waiting for dpkg lock held by PID 4250 (dpkg)" },
      expect.objectContaining({ type: "step-done", stepId: "engine.install", status: "changed" }),
    ]);
  });

  it("progressLines joins lines split across chunks and ignores everything else", () => {
    const seen: string[] = [];
    const feed = progressLines((m) => seen.push(m));
    for (const c of ["noise\nlongshore-prog", "ress: wait", "ing\r\n", "longshore-progress: half"]) feed(Buffer.from(c));
    expect(seen).toEqual(["waiting"]);
    feed(Buffer.from(" done\n"));
    expect(seen).toEqual(["waiting", "half done"]);
  });
});

describe("runPlan: the batched probe (default)", () => {
  const batchRule = (stdout: string): FakeRule => ({ match: /^sh -s$/, result: { exitCode: 0, stdout } });

  it("decides from the batch's answers, and a retry probes again instead of trusting them", async () => {
    const t = new FakeTransport("web-1", {
      rules: [
        batchRule("@probe s0.c0 1\n"),
        { match: "c1", result: { exitCode: 1 } },
        { match: "flaky", result: ({ count }) => (count < 1 ? { exitCode: 100 } : { exitCode: 0 }) },
      ],
    });
    const { report, error } = await runPlan({
      hosts: [job("web-1", t, [step("pkg.install", { check: [cmd("c1")], apply: [cmd("flaky")], retry: { attempts: 2, backoffMs: 10 } })])],
      mode: "apply",
      sleep: noSleep,
    });
    expect(error).toBeUndefined();
    // The batch said c1 fails: no c1 before the first attempt; the second attempt asks again.
    expect(t.execs).toEqual(["sh -s", "flaky", "c1", "flaky"]);
    expect(report.hosts[0]!.steps[0]).toMatchObject({ status: "changed", attempts: 2 });
  });

  it("a batch that cannot run (the connection fails it) leaves every step to probe for itself", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^sh -s$/, error: new TransportError("command-timeout", "web-1", "no") }] });
    const { report } = await runPlan({ hosts: [job("web-1", t, [step("a", { check: [cmd("c1")], apply: [cmd("a1")] })])], mode: "apply" });
    expect(t.execs).toEqual(["sh -s", "c1"]);
    expect(report.hosts[0]!.steps[0]!.status).toBe("unchanged");
  });

  it("a step whose plan throws fails in its turn; the batch covers the others", async () => {
    const t = new FakeTransport("web-1", { rules: [batchRule("@probe s1.c0 0\n")] });
    const bad: Step<unknown> = { id: "bad", title: "bad", plan: () => { throw new Error("no bundle"); } };
    const { report } = await runPlan({ hosts: [job("web-1", t, [step("ok", { check: [cmd("c0")], apply: [] }), bad])], mode: "check" });
    // Step 0 printed no answer: it asks for itself; the plan error is step 1's.
    expect(t.execs).toEqual(["sh -s", "c0"]);
    expect(report.hosts[0]!.steps.map((s) => [s.id, s.status])).toEqual([["ok", "unchanged"], ["bad", "failed"]]);
    expect(report.hosts[0]!.steps[1]!.error!.message).toBe("no bundle");
  });
});

describe("runPlan: a step's uploads", () => {
  it("go a few at once over the connection, reported in the plan's order", async () => {
    const t = new FakeTransport("web-1", { delayMs: 5 });
    let now = 0;
    let max = 0;
    const upload = t.upload.bind(t);
    t.upload = async (...args) => {
      max = Math.max(max, ++now);
      try {
        return await upload(...args);
      } finally {
        now--;
      }
    };
    const files = Array.from({ length: 9 }, (_, i) => ({ path: `/b/f${i}`, source: { content: `${i}\n` } }));
    const { report } = await runPlan({ hosts: [job("web-1", t, [step("engine.bundle", { files, apply: [] })])], mode: "apply" });
    expect(max).toBe(UPLOADS_IN_FLIGHT);
    expect(report.hosts[0]!.steps[0]!.uploaded.map((u) => u.path)).toEqual(files.map((f) => f.path));
  });
});
