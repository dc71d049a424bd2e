// The batched probe against a real OpenSSH sshd and a real sh/coreutils: each scenario runs the same
// plan twice on identical scratch state, batched and step by step, and the reports must agree while
// the batch asks the host fewer times. Does not prove anything about hosts without coreutils' timeout.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sensitive } from "../../core/sensitive";
import { cmd, shell, sudo, type Command } from "../../provisioner/command";
import { probeBatch } from "../../provisioner/probe-batch";
import type { RunReport } from "../../provisioner/report";
import { runPlan } from "../../provisioner/runner";
import type { Step, StepPlan } from "../../provisioner/step";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import { createTestUser, pinnedTarget, startSshd, type Sshd, type TestUser } from "../helpers/sshd";

let sshd: Sshd;
let sudoer: TestUser;
const scratch = mkdtempSync(join(tmpdir(), "longshore-probe-batch-"));
chmodSync(scratch, 0o755);

beforeAll(async () => {
  sudoer = createTestUser({ sudo: "nopasswd" });
  sshd = await startSshd();
});

afterAll(async () => {
  await sshd?.stop();
  sudoer?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

/** A transport that records what crosses the connection: each exec's first word, and sha256 calls. */
async function recording(user?: string): Promise<{ t: Transport; calls: string[] }> {
  const inner = await connectSsh(
    pinnedTarget(sshd, user ? `probe-${user}` : "probe-root", user ? { user, auth: { privateKey: sensitive(readFileSync(sshd.clientKeyPath, "utf8")) } } : {}),
  );
  const calls: string[] = [];
  const t: Transport = {
    host: inner.host,
    needsSudo: inner.needsSudo,
    exec: (c: Command, o) => {
      calls.push(`exec ${c.argv.map(String).join(" ")}`);
      return inner.exec(c, o);
    },
    upload: (s, p, o) => {
      calls.push(`upload ${p}`);
      return inner.upload(s, p, o);
    },
    sha256: (p, o) => {
      calls.push(`sha256 ${p}`);
      return inner.sha256(p, o);
    },
    close: () => inner.close(),
  };
  return { t, calls };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const step = (id: string, plan: StepPlan): Step<unknown> => ({ id, title: id, plan: () => plan });

/** A report with the clock taken out, for comparing a batched run with a step-by-step one. */
function shape(r: RunReport) {
  return r.hosts.map((h) => ({ status: h.status, error: h.error?.message, steps: h.steps.map((s) => ({ id: s.id, status: s.status, wouldChange: s.wouldChange, uploaded: s.uploaded, error: s.error?.message })) }));
}

/** Runs `build(dir)`'s steps in two copies of the same state, batched and not; returns both. */
async function both(name: string, setup: (dir: string) => void, build: (dir: string) => Step<unknown>[], mode: "apply" | "check", user?: string) {
  const out: Record<"batched" | "stepwise", { report: RunReport; calls: string[]; dir: string }> = {} as never;
  for (const kind of ["batched", "stepwise"] as const) {
    const dir = join(scratch, `${name}-${kind}`);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    setup(dir);
    const { t, calls } = await recording(user);
    const { report } = await runPlan({ hosts: [{ name: "h", transport: t, steps: build(dir).map((s) => ({ step: s, ctx: {} })) }], mode, batchProbes: kind === "batched" });
    out[kind] = { report, calls, dir };
  }
  // The two runs may only differ in the directory they worked in.
  const norm = (r: RunReport, dir: string) => JSON.parse(JSON.stringify(shape(r)).split(dir).join("<dir>"));
  expect(norm(out.batched.report, out.batched.dir)).toEqual(norm(out.stepwise.report, out.stepwise.dir));
  return out;
}

/** Three steps of an in-sync host: a passing check plus a matching file each. */
function inSync(dir: string): Step<unknown>[] {
  return ["a", "b", "c"].map((n) =>
    step(`${n}.step`, {
      check: [cmd("test", "-e", join(dir, `${n}.flag`))],
      files: [{ path: join(dir, `${n}.conf`), source: { content: `${n}=1\n` } }],
      apply: [cmd("touch", join(dir, `${n}.flag`))],
    }),
  );
}
const inSyncSetup = (dir: string) => {
  for (const n of ["a", "b", "c"]) {
    writeFileSync(join(dir, `${n}.flag`), "");
    writeFileSync(join(dir, `${n}.conf`), `${n}=1\n`);
  }
};

describe("the batched probe against a real sshd", () => {
  it("an in-sync host is one command: every step unchanged, as step by step (which takes six)", async () => {
    const r = await both("insync", inSyncSetup, inSync, "apply");
    expect(r.batched.report.counts.unchanged).toBe(3);
    expect(r.batched.calls).toEqual(["exec sh -s"]);
    expect(r.stepwise.calls.length).toBe(6);
  });

  it("a step that must change is applied from the batch's answers; the steps after it probe for themselves", async () => {
    const r = await both(
      "change",
      (dir) => {
        inSyncSetup(dir);
        rmSync(join(dir, "b.flag"));
        writeFileSync(join(dir, "b.conf"), "b=old\n");
        rmSync(join(dir, "c.conf"));
      },
      inSync,
      "apply",
    );
    expect(r.batched.report.hosts[0]!.steps.map((s) => s.status)).toEqual(["unchanged", "changed", "changed"]);
    // a: answered; b: answered, then upload + apply; c: asked again (b changed the host), then upload + apply.
    expect(r.batched.calls).toEqual([
      "exec sh -s",
      `exec mkdir -p -- ${r.batched.dir}`,
      `upload ${join(r.batched.dir, "b.conf")}`,
      `exec touch ${join(r.batched.dir, "b.flag")}`,
      `exec test -e ${join(r.batched.dir, "c.flag")}`,
      `sha256 ${join(r.batched.dir, "c.conf")}`,
      `exec mkdir -p -- ${r.batched.dir}`,
      `upload ${join(r.batched.dir, "c.conf")}`,
      `exec touch ${join(r.batched.dir, "c.flag")}`,
    ]);
    expect(readFileSync(join(r.batched.dir, "b.conf"), "utf8")).toBe("b=1\n");
  });

  it("check mode: every check runs and every reason is the same as step by step", async () => {
    const build = (dir: string) => [
      step("x.multi", {
        check: [cmd("test", "-e", join(dir, "nope")), cmd("true"), cmd("false"), { argv: ["sh", "-c", "exit 1"], okExitCodes: [0, 1] }],
        files: [
          { path: join(dir, "same"), source: { content: "s\n" } },
          { path: join(dir, "diff"), source: { content: "new\n" } },
          { path: join(dir, "gone"), source: { content: "g\n" } },
        ],
        apply: [cmd("true")],
      }),
    ];
    const r = await both(
      "checkmode",
      (dir) => {
        writeFileSync(join(dir, "same"), "s\n");
        writeFileSync(join(dir, "diff"), "old\n");
      },
      build,
      "check",
    );
    const wc = r.batched.report.hosts[0]!.steps[0]!.wouldChange!;
    expect(wc.failedChecks).toEqual([`test -e ${join(r.batched.dir, "nope")}`, "false"]);
    expect(wc.files).toEqual([
      { path: join(r.batched.dir, "diff"), reason: "different" },
      { path: join(r.batched.dir, "gone"), reason: "missing" },
    ]);
    expect(r.batched.calls).toEqual(["exec sh -s"]);
  });

  it("files a passing check vouches for are not hashed; a failing check hashes them", async () => {
    const build = (dir: string) => [
      step("v.pass", { check: [cmd("true")], files: [{ path: join(dir, "v1"), source: { content: "want\n" } }], apply: [cmd("false")], filesTrustedWhenChecked: true }),
      step("v.fail", { check: [cmd("false")], files: [{ path: join(dir, "v2"), source: { content: "want\n" } }], apply: [cmd("true")], filesTrustedWhenChecked: true }),
    ];
    const r = await both("vouch", (dir) => {
      writeFileSync(join(dir, "v1"), "tampered\n");
      writeFileSync(join(dir, "v2"), "tampered\n");
    }, build, "check");
    expect(r.batched.report.hosts[0]!.steps.map((s) => [s.status, s.wouldChange?.files])).toEqual([
      ["unchanged", undefined],
      ["would-change", [{ path: join(r.batched.dir, "v2"), reason: "different" }]],
    ]);
  });

  it("what the batch cannot answer exactly (a timeout, stdin, a missing command) is left to the step, with the same outcome", async () => {
    const build = (dir: string): Step<unknown>[] => [
      step("t.stdin", { check: [{ argv: ["sh", "-c", 'read x; [ "$x" = yes ]'], stdin: "yes\n" }], apply: [cmd("false")] }),
      step("t.nocmd", { check: [cmd("longshore-no-such-command")], apply: [cmd("touch", join(dir, "nocmd"))] }),
      step("t.slow", { check: [{ argv: ["sleep", "5"], timeoutMs: 1000 }], apply: [cmd("true")] }),
    ];
    const r = await both("uncertain", () => undefined, build, "apply");
    expect(r.batched.report.hosts[0]!.steps.map((s) => s.status)).toEqual(["unchanged", "changed", "failed"]);
    expect(r.batched.report.hosts[0]!.steps[2]!.error!.message).toMatch(/`sleep 5` did not finish/);
    // The stdin check ran on its own; the others were asked in the batch first, then again.
    expect(r.batched.calls[0]).toBe("exec sh -s");
    expect(r.batched.calls[1]).toBe("exec sh -c read x; [ \"$x\" = yes ]");
  });

  it("probes the steps in parallel: three checks that each wait for all three to have started all pass", async () => {
    const dir = join(scratch, "parallel");
    mkdirSync(dir, { recursive: true });
    // Run one after another, the first would wait for the others in vain and fail after 5 s.
    const meet = (k: number): Command => ({
      argv: ["sh", "-c", `touch "$1/s${k}"; for _ in $(seq 50); do [ -e "$1/s1" ] && [ -e "$1/s2" ] && [ -e "$1/s3" ] && exit 0; sleep 0.1; done; exit 1`, "sh", dir],
    });
    const { t, calls } = await recording();
    const { report } = await runPlan({ hosts: [{ name: "h", transport: t, steps: [1, 2, 3].map((k) => ({ step: step(`p.${k}`, { check: [meet(k)], apply: [cmd("false")] }), ctx: {} })) }], mode: "apply" });
    expect(report.hosts[0]!.steps.map((s) => s.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
    expect(calls).toEqual(["exec sh -s"]);
  });

  it("a non-root login: root-only files are hashed through sudo -n, as the step-by-step probe does", async () => {
    const build = (dir: string) => [
      step("s.root", { check: [sudo("test", "-r", join(dir, "secret", "k"))], files: [{ path: join(dir, "secret", "k"), source: { content: "k\n" }, mode: 0o600 }], apply: [cmd("false")] }),
    ];
    const setup = (dir: string) => {
      mkdirSync(join(dir, "secret"), { mode: 0o700 });
      writeFileSync(join(dir, "secret", "k"), "k\n", { mode: 0o600 });
    };
    const r = await both("sudo", setup, build, "apply", sudoer.name);
    expect(r.batched.report.hosts[0]!.steps[0]!.status).toBe("unchanged");
    expect(r.batched.calls).toEqual(["exec sh -s"]);
    expect(sha("k\n")).toHaveLength(64);
  });
});

describe("probeBatch (pure)", () => {
  it("sends a check's secret on stdin as a Sensitive, never in argv", () => {
    const b = probeBatch([{ plan: { check: [shell("true"), { argv: ["test", sensitive("s3cr3t-value")] }], apply: [] }, trustFilesWhenChecked: false }], { mode: "apply", needsSudo: false })!;
    expect(b.command.argv).toEqual(["sh", "-s"]);
    expect(JSON.stringify(b.command)).not.toContain("s3cr3t-value");
    expect(String(b.command.stdin)).toBe("[redacted]");
  });

  it("a step with nothing to probe, or a check reading stdin, is not covered", () => {
    expect(probeBatch([{ plan: { apply: [cmd("x")] }, trustFilesWhenChecked: false }], { mode: "apply", needsSudo: false })).toBeNull();
    const b = probeBatch(
      [
        { plan: { check: [{ argv: ["cat"], stdin: "x" }], apply: [] }, trustFilesWhenChecked: false },
        { plan: { check: [cmd("true")], apply: [] }, trustFilesWhenChecked: false },
      ],
      { mode: "apply", needsSudo: false },
    )!;
    expect(b.covered).toEqual([1]);
  });

  it("parses only complete, certain answers", () => {
    const items = [
      { plan: { check: [cmd("a"), cmd("b")], files: [{ path: "/f", source: { content: "x" } }], apply: [] }, trustFilesWhenChecked: false },
      { plan: { check: [cmd("c")], apply: [] }, trustFilesWhenChecked: false },
      { plan: { check: [cmd("d")], apply: [] }, trustFilesWhenChecked: false },
    ];
    const b = probeBatch(items, { mode: "apply", needsSudo: false })!;
    const h = "a".repeat(64);
    const answers = b.parse([`@probe s0.c0 0`, `@probe s0.c1 0`, `@probe s0.f0 0 ${h}  /f`, `@probe s1.c0 124`].join("\n"));
    expect(answers.get(0)).toEqual({ checks: [true, true], files: [h] });
    // s1 timed out, s2 printed nothing: both probe for themselves.
    expect(answers.has(1)).toBe(false);
    expect(answers.has(2)).toBe(false);
    expect(b.parse("@probe s0.c0 1\n@probe s0.f0 1 sha256sum: /f: No such file or directory\n").get(0)).toEqual({ checks: [false], files: [null] });
    expect(b.parse("@probe s0.c0 0\n@probe s0.c1 0\n@probe s0.f0 1 sha256sum: /f: Permission denied\n").has(0)).toBe(false);
  });
});
