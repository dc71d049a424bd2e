// Does not prove a real engine runs the container (e2e does): it pins the image, run, health and audit plans' exact argv and files, and runs their shell parts with real sh against a fake docker.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { parseResolvedApp } from "../../model/app";
import { resolvedRegistrySchema } from "../../model/registry";
import { renderCommand } from "../../provisioner/command";
import { auditAppendStep, auditLine } from "../../provisioner/steps/app-audit";
import { appHealthStep, healthCheckScript } from "../../provisioner/steps/app-health";
import { imageArchiveStream, imageLoadStep, imagePullStep } from "../../provisioner/steps/app-image";
import { appRunStep, containerExpectation, containerName, envFileDir, envFilePath, renderEnvFile, SWAP_SCRIPT } from "../../provisioner/steps/app-run";
import { IMAGE_ID, makeContext } from "./fixtures/engine-context";

const dir = mkdtempSync(path.join(tmpdir(), "longshore-app-steps-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A fake `docker` that logs its argv (one word per line, blank line after) and prints $FAKE_OUT for inspect/ps. */
function fakeDocker(): { bin: string; log: string; out: string } {
  const bin = mkdtempSync(path.join(dir, "bin-"));
  const log = path.join(bin, "argv.log");
  const out = path.join(bin, "out.txt");
  writeFileSync(out, "");
  writeFileSync(
    path.join(bin, "docker"),
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >> ${log}\necho >> ${log}\ncase "$1" in inspect|ps) cat ${out} ;; esac\n`,
  );
  chmodSync(path.join(bin, "docker"), 0o755);
  writeFileSync(log, "");
  return { bin, log, out };
}

function sh(argv: readonly unknown[], bin: string) {
  return spawnSync(argv[0] as string, argv.slice(1) as string[], { env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}` }, encoding: "utf8" });
}

describe("image.load", () => {
  it("is skipped when the host has the image ID; otherwise streams the archive into docker load", () => {
    const plan = imageLoadStep.plan(makeContext());
    const inspect = { argv: ["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE_ID], sudo: true };
    expect(plan.check).toEqual([inspect]);
    expect(plan.verify).toEqual([inspect]);
    expect(plan.apply).toHaveLength(1);
    expect(plan.apply[0]).toMatchObject({ argv: ["docker", "load", "--quiet"], sudo: true, timeoutMs: 900_000 });
    expect(typeof plan.apply[0]!.stdin).toBe("function");
  });

  it("gzips a .tar at level 1 (fresh stream per attempt) and passes a .tar.gz through", async () => {
    const tar = path.join(dir, "image.tar");
    const content = Buffer.from("not really a tar, but bytes ".repeat(5000));
    writeFileSync(tar, content);
    const open = imageArchiveStream(tar);
    const first = await readAll(open());
    const second = await readAll(open());
    expect(gunzipSync(first).equals(content)).toBe(true);
    expect(second.equals(first)).toBe(true);
    expect(first.length).toBeLessThan(content.length / 10);
    const gz = path.join(dir, "image.tar.gz");
    writeFileSync(gz, first);
    expect((await readAll(imageArchiveStream(gz)())).equals(first)).toBe(true);
  });

  it("surfaces a missing archive as a stream error, not a short archive", async () => {
    await expect(readAll(imageArchiveStream(path.join(dir, "missing.tar"))())).rejects.toThrow(/ENOENT/);
  });
});

describe("image.pull", () => {
  const ref = `registry.local:5000/web@sha256:${"c".repeat(64)}`;

  it("pulls a digest-pinned reference, skipping when the host has it", () => {
    const plan = imagePullStep.plan(makeContext({ image: { source: "registry", ref } }));
    const inspect = { argv: ["docker", "image", "inspect", "--format", "{{.Id}}", ref], sudo: true };
    expect(plan).toEqual({
      check: [inspect],
      apply: [{ argv: ["docker", "pull", "--quiet", ref], sudo: true, timeoutMs: 900_000 }],
      verify: [inspect],
      timeoutMs: 960_000,
      retry: { attempts: 3, backoffMs: 2000 },
    });
  });

  it("always pulls a tag-only reference without a known image ID, and checks the ID when it is known", () => {
    const noCheck = imagePullStep.plan(makeContext({ image: { source: "registry", ref: "web:1.4.2" } }));
    expect(noCheck.check).toBeUndefined();
    const known = imagePullStep.plan(makeContext({ image: { source: "registry", ref: "web:1.4.2", imageId: IMAGE_ID } }));
    const idCheck = { argv: ["sh", "-c", '[ "$(docker image inspect --format "{{.Id}}" "$1" 2>/dev/null)" = "$2" ]', "sh", "web:1.4.2", IMAGE_ID], sudo: true };
    expect(known.check).toEqual([idCheck]);
    expect(known.verify).toEqual([idCheck]);
  });

  it("logs in with the password on stdin only, and logs out after the pull", () => {
    const registry = resolvedRegistrySchema.parse({ server: "registry.local:5000", username: "ci", password: "reg-pass-77" });
    const plan = imagePullStep.plan(makeContext({ registry, image: { source: "registry", ref } }));
    const pull = plan.apply[0]!;
    expect(pull.argv).toEqual([
      "sh",
      "-c",
      'docker login --username "$2" --password-stdin "$1" >/dev/null || exit $?; docker pull --quiet "$3"; rc=$?; docker logout "$1" >/dev/null 2>&1; exit $rc',
      "sh",
      "registry.local:5000",
      "ci",
      ref,
    ]);
    expect(pull.stdin).toBeInstanceOf(Sensitive);
    expect((pull.stdin as Sensitive).reveal()).toBe("reg-pass-77");
    expect(renderCommand(pull, { mode: "exec" })).not.toContain("reg-pass-77");

    // Real sh, fake docker: login gets the password on stdin, then pull, then logout.
    const fake = fakeDocker();
    writeFileSync(
      path.join(fake.bin, "docker"),
      `#!/bin/sh\nprintf '%s' "$*" >> ${fake.log}\nif [ "$1" = login ]; then printf ' stdin=%s' "$(cat)" >> ${fake.log}; fi\necho >> ${fake.log}\n`,
    );
    const r = spawnSync("sh", pull.argv.slice(1) as string[], { input: "reg-pass-77", env: { ...process.env, PATH: `${fake.bin}:${process.env["PATH"]}` }, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(readFileSync(fake.log, "utf8")).toBe(`login --username ci --password-stdin registry.local:5000 stdin=reg-pass-77\npull --quiet ${ref}\nlogout registry.local:5000\n`);
  });
});

describe("app.run", () => {
  const ctx = makeContext();
  const name = "web-1.4.2";
  const envFile = "/etc/longshore/apps/web/web-1.4.2.env";
  const format =
    '{{.State.Running}}|{{.Config.Image}}|{{.Image}}|{{.HostConfig.RestartPolicy.Name}}|{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{range $b}}{{.HostIp}}:{{.HostPort}},{{end}};{{end}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{index .Config.Labels "io.longshore.app"}}|{{index .Config.Labels "io.longshore.version"}}|{{index .Config.Labels "io.longshore.slot"}}|{{index .Config.Labels "io.longshore.plan"}}';
  const expected = `true|${IMAGE_ID}|${IMAGE_ID}|unless-stopped|8080/tcp=:8080,;|0|0|web|1.4.2|blue|p1an`;

  it("names the container <app>-<release> and its env file after it, in the app's own directory", () => {
    expect(containerName(ctx.app, ctx.release)).toBe(name);
    expect(envFileDir(ctx.app)).toBe("/etc/longshore/apps/web");
    expect(envFilePath(ctx.app, ctx.release)).toBe(envFile);
    expect(containerName({ name: "web" }, "1+build.7")).toBe("web-1-build.7");
    expect(envFilePath({ name: "web" }, "sha256-0123456789ab")).toBe("/etc/longshore/apps/web/web-sha256-0123456789ab.env");
  });

  it("plans the env file (0600, Sensitive), one inspect check, and create-then-swap as the apply", () => {
    const plan = appRunStep.plan(ctx);
    expect(containerExpectation(ctx)).toEqual({ format, expected });
    const inspect = {
      argv: ["sh", "-c", '[ "$(docker inspect --type container --format "$1" "$2" 2>/dev/null)" = "$3" ]', "sh", format, name, expected],
      sudo: true,
    };
    expect(plan.files).toHaveLength(1);
    expect(plan.files![0]).toMatchObject({ path: envFile, mode: 0o600, sudo: true });
    const content = (plan.files![0]!.source as { content: Sensitive }).content;
    expect(content).toBeInstanceOf(Sensitive);
    expect(content.reveal()).toBe("LOG_LEVEL=info\nMODE=prod\nDB_PASSWORD=s3cr3t-pw\n");
    expect(plan).toEqual({
      files: plan.files,
      check: [inspect],
      apply: [
        {
          argv: [
            "sh", "-c", SWAP_SCRIPT, "sh", "web", name, "/etc/longshore/apps/web", "web-1.4.2.env",
            "--restart", "unless-stopped", "--publish", "8080:8080", "--env-file", envFile, "--stop-timeout", "10",
            "--label", "io.longshore.app=web", "--label", "io.longshore.version=1.4.2", "--label", "io.longshore.slot=blue", "--label", "io.longshore.plan=p1an",
            IMAGE_ID,
          ],
          sudo: true,
          timeoutMs: 130_000,
        },
      ],
      verify: [inspect],
      timeoutMs: 190_000,
    });
    // No secret anywhere in argv.
    for (const c of [...plan.check!, ...plan.apply]) expect(renderCommand(c, { mode: "exec" })).not.toContain("s3cr3t-pw");
  });

  it("gives a longer stop timeout as much more time to the swap and the step", () => {
    const c = makeContext({ app: parseResolvedApp({ name: "web", image: "web:1.4.2", stopTimeoutSeconds: 300 }) });
    const plan = appRunStep.plan(c);
    expect(plan.apply[0]!.timeoutMs).toBe(120_000 + 300_000);
    expect(plan.timeoutMs).toBe(180_000 + 300_000);
  });

  it("a plain env file without secrets is plain text; keys are sorted", () => {
    expect(renderEnvFile({ env: { B: "2", A: "1" }, secrets: {} })).toBe("A=1\nB=2\n");
  });

  it("runs a registry image by reference, with --init when asked, and expects no image ID when unknown", () => {
    const app = parseResolvedApp({ name: "api", image: "registry.local:5000/api:2", port: 9000, hostPort: 80, restart: "always", init: true });
    const c = makeContext({ app, release: "2", image: { source: "registry", ref: "registry.local:5000/api:2" }, planHash: undefined });
    const plan = appRunStep.plan(c);
    expect(plan.apply[0]!.argv.slice(4)).toEqual([
      "api", "api-2", "/etc/longshore/apps/api", "api-2.env",
      "--restart", "always", "--publish", "80:9000", "--env-file", "/etc/longshore/apps/api/api-2.env", "--stop-timeout", "10", "--init",
      "--label", "io.longshore.app=api", "--label", "io.longshore.version=2", "--label", "io.longshore.slot=blue",
      "registry.local:5000/api:2",
    ]);
    expect(containerExpectation(c).expected).toBe("true|registry.local:5000/api:2|always|9000/tcp=:80,;|0|0|api|2|blue");
    expect(plan.files![0]!.source).toEqual({ content: "" });
  });

  it("expects the memory limit in bytes and the CPUs in billionths, as the engine stores them", () => {
    const app = parseResolvedApp({ name: "web", image: "web:1.4.2", resources: { memory: "512m", cpus: 1.5 } });
    expect(containerExpectation(makeContext({ app })).expected).toBe(`true|${IMAGE_ID}|${IMAGE_ID}|unless-stopped|8080/tcp=:8080,;|536870912|1500000000|web|1.4.2|blue|p1an`);
    const small = parseResolvedApp({ name: "web", image: "web:1.4.2", resources: { memory: "1G", cpus: 0.1 } });
    expect(containerExpectation(makeContext({ app: small })).expected).toBe(`true|${IMAGE_ID}|${IMAGE_ID}|unless-stopped|8080/tcp=:8080,;|1073741824|100000000|web|1.4.2|blue|p1an`);
  });

  it("the check passes only when docker inspect prints exactly the expected line (real sh, fake docker)", () => {
    const fake = fakeDocker();
    const check = appRunStep.plan(ctx).check![0]!;
    writeFileSync(fake.out, `${expected}\n`);
    expect(sh(check.argv, fake.bin).status).toBe(0);
    expect(readFileSync(fake.log, "utf8")).toBe(["inspect", "--type", "container", "--format", format, name, "", ""].join("\n"));
    writeFileSync(fake.out, `${expected.replace("true|", "false|")}\n`);
    expect(sh(check.argv, fake.bin).status).toBe(1);
    writeFileSync(fake.out, `${expected.replace("|0|0|", "|536870912|0|")}\n`);
    expect(sh(check.argv, fake.bin).status).toBe(1);
    writeFileSync(fake.out, "");
    expect(sh(check.argv, fake.bin).status).toBe(1);
  });
});

describe("app.health", () => {
  it("checks once, then probes until the deadline (bash)", () => {
    const ctx = makeContext();
    expect(appHealthStep.plan(ctx)).toEqual({
      check: [{ argv: ["bash", "-c", healthCheckScript(ctx.app, { deadlineMs: 0 })] }],
      apply: [{ argv: ["bash", "-c", healthCheckScript(ctx.app, { deadlineMs: 60_000 })], timeoutMs: 60_000 + 2000 + 1000 + 10_000 }],
      timeoutMs: 60_000 + 2000 + 1000 + 20_000,
    });
    expect(healthCheckScript(ctx.app, { deadlineMs: 60_000 })).toContain("\nhost=127.0.0.1\nport=8080\npath=/healthz\nexpect=200\ntimeout_s=2\ninterval_s=1\ndeadline_ms=60000\n");
    expect(healthCheckScript(ctx.app, { deadlineMs: 0 })).toContain("\ndeadline_ms=0\n");
  });

  it("takes the probe from app.health (seconds) and the deadline from the context", () => {
    const app = parseResolvedApp({ name: "web", image: "web:1.4.2", hostPort: 18080, health: { path: "/ready", status: 204, intervalSeconds: 0.5, timeoutSeconds: 1.25 } });
    const ctx = makeContext({ app, healthDeadlineMs: 90_000 });
    const plan = appHealthStep.plan(ctx);
    expect(plan).toEqual({
      check: [{ argv: ["bash", "-c", healthCheckScript(app, { deadlineMs: 0 })] }],
      apply: [{ argv: ["bash", "-c", healthCheckScript(app, { deadlineMs: 90_000 })], timeoutMs: 90_000 + 1250 + 500 + 10_000 }],
      timeoutMs: 90_000 + 1250 + 500 + 20_000,
    });
    expect(plan.apply[0]!.argv[2]).toContain("\nhost=127.0.0.1\nport=18080\npath=/ready\nexpect=204\ntimeout_s=1.25\ninterval_s=0.5\ndeadline_ms=90000\n");
  });
});

describe("audit.append", () => {
  const ctx = makeContext();

  it("appends one JSON line with app, version, slot, plan, image, when and who", () => {
    const { line, key } = auditLine(ctx);
    expect(line).toBe(`{"app":"web","version":"1.4.2","slot":"blue","plan":"p1an","image":"${IMAGE_ID}","when":"2025-05-20T10:00:00.000Z","who":"ops@controller"}`);
    expect(key).toBe('{"app":"web","version":"1.4.2","slot":"blue","plan":"p1an",');
    expect(auditAppendStep.plan(ctx)).toEqual({
      check: [{ argv: ["grep", "-qF", "--", key, "/var/log/longshore/audit.log"], sudo: true }],
      apply: [{ argv: ["sh", "-c", 'umask 027 && mkdir -p "$(dirname "$1")" && cat >> "$1"', "sh", "/var/log/longshore/audit.log"], sudo: true, stdin: `${line}\n` }],
      verify: [{ argv: ["grep", "-qF", "--", key, "/var/log/longshore/audit.log"], sudo: true }],
      timeoutMs: 30_000,
    });
  });

  it("records a plan once: a re-run finds its line, another plan does not (real sh and grep)", () => {
    const log = path.join(dir, "log", "audit.log");
    const plan = auditAppendStep.plan(ctx);
    const check = () => spawnSync("grep", [...(plan.check![0]!.argv.slice(1, 4) as string[]), log]).status;
    const append = (stdin: string) => spawnSync("sh", ["-c", plan.apply[0]!.argv[2] as string, "sh", log], { input: stdin }).status;
    expect(check()).not.toBe(0);
    expect(append(plan.apply[0]!.stdin as string)).toBe(0);
    expect(check()).toBe(0);
    const other = auditAppendStep.plan(makeContext({ planHash: "p2an", now: "2025-05-21T00:00:00.000Z" }));
    expect(spawnSync("grep", [...(other.check![0]!.argv.slice(1, 4) as string[]), log]).status).toBe(1);
    expect(append(other.apply[0]!.stdin as string)).toBe(0);
    expect(readFileSync(log, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { plan: string }).plan)).toEqual(["p1an", "p2an"]);
  });
});
