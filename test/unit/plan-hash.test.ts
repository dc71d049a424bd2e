// Plan hash stability and sensitivity on hand-built plans: does NOT prove that Pulumi re-provisions when it changes.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { sensitive } from "../../core/sensitive";
import { cmd, sudo } from "../../provisioner/command";
import { canonicalPlan, planHash, planHashOf, type PlannedStep } from "../../provisioner/plan-hash";
import type { StepPlan } from "../../provisioner/step";

function base(): PlannedStep[] {
  return [
    {
      id: "engine.install",
      plan: {
        check: [cmd("test", "-x", "/usr/bin/dockerd")],
        files: [{ path: "/etc/docker/daemon.json", source: { content: '{"log-driver":"local"}\n' }, mode: 0o644 }],
        apply: [sudo("apt-get", "install", "-y", "./docker.deb")],
        verify: [cmd("docker", "version")],
      },
    },
    { id: "app.start", plan: { apply: [{ argv: ["docker", "login", "--password-stdin"], stdin: sensitive("pw-one-1234") }] } },
  ];
}

function edit(f: (steps: PlannedStep[]) => void): string {
  const s = base();
  f(s);
  return planHash(s);
}

const first = (s: PlannedStep[]): StepPlan => s[0]!.plan;

describe("planHash", () => {
  it("hashes the exact canonical form, and the canonical form holds no secret", () => {
    const canon = canonicalPlan(base());
    expect(canon).toBe(
      JSON.stringify([
        {
          id: "engine.install",
          check: [["test -x /usr/bin/dockerd", null, [0]]],
          files: [["/etc/docker/daemon.json", 420, null, null, true, createHash("sha256").update('{"log-driver":"local"}\n').digest("hex")]],
          apply: [["sudo -n -- apt-get install -y ./docker.deb", null, [0]]],
          verify: [["docker version", null, [0]]],
        },
        { id: "app.start", check: [], files: [], apply: [["docker login --password-stdin", "[redacted]", [0]]], verify: [] },
      ]),
    );
    expect(planHash(base())).toBe(createHash("sha256").update(canon).digest("hex"));
    expect(planHash(base())).toMatch(/^[0-9a-f]{64}$/);
    expect(canon).not.toContain("pw-one-1234");
  });

  it("is the same for the same plan, built twice", () => {
    expect(planHash(base())).toBe(planHash(base()));
    const step = { id: "x.run", title: "x", plan: (ctx: { v: string }) => ({ apply: [cmd("echo", ctx.v)] }) };
    expect(planHashOf([{ step, ctx: { v: "1" } }])).toBe(planHashOf([{ step, ctx: { v: "1" } }]));
    expect(planHashOf([{ step, ctx: { v: "1" } }])).not.toBe(planHashOf([{ step, ctx: { v: "2" } }]));
  });

  it("changes with any change to what runs", () => {
    const h = planHash(base());
    const variants: Record<string, string> = {
      "step id": edit((s) => void (s[0]!.id = "engine.setup")),
      "step order": edit((s) => s.reverse()),
      "an argv word": edit((s) => void (first(s).apply[0] = sudo("apt-get", "install", "-y", "./docker2.deb"))),
      "sudo flag": edit((s) => void (first(s).apply[0] = cmd("apt-get", "install", "-y", "./docker.deb"))),
      "a check": edit((s) => void (first(s).check = [])),
      "a verify": edit((s) => void first(s).verify!.push(cmd("true"))),
      "ok exit codes": edit((s) => void (first(s).verify![0] = { argv: ["docker", "version"], okExitCodes: [0, 1] })),
      "plain stdin": edit((s) => void (first(s).apply[0] = { ...sudo("apt-get", "install", "-y", "./docker.deb"), stdin: "y\n" })),
      "file content": edit((s) => void (first(s).files![0]!.source = { content: '{"log-driver":"json-file"}\n' })),
      "file mode": edit((s) => void (first(s).files![0]!.mode = 0o600)),
      "file owner": edit((s) => void (first(s).files![0]!.owner = "app")),
      "file path": edit((s) => void (first(s).files![0]!.path = "/etc/docker/daemon2.json")),
      "a streamed file's sha256": edit((s) => void (first(s).files![0]!.source = { localPath: "/tmp/x", sha256: "ab".repeat(32) })),
      "an extra step": edit((s) => void s.push({ id: "z.last", plan: { apply: [] } })),
    };
    for (const [what, hash] of Object.entries(variants)) expect([what, hash === h]).toEqual([what, false]);
    expect(new Set(Object.values(variants)).size).toBe(Object.keys(variants).length);
  });

  it("does not change when only a secret's value, a timeout or a retry policy changes", () => {
    const h = planHash(base());
    expect(edit((s) => void (s[1]!.plan.apply[0] = { argv: ["docker", "login", "--password-stdin"], stdin: sensitive("pw-two-5678") }))).toBe(h);
    expect(edit((s) => void (first(s).timeoutMs = 1000))).toBe(h);
    expect(edit((s) => void (first(s).retry = { attempts: 3, backoffMs: 100 }))).toBe(h);
    const secretFile = (v: string) => edit((s) => void (first(s).files![0]!.source = { content: sensitive(v) }));
    expect(secretFile("one-secret")).toBe(secretFile("two-secret"));
    expect(secretFile("one-secret")).not.toBe(h);
  });
});
