// Does not prove the rendered files work on a real host (systemd, apt, dockerd): only their exact text, strictness, and shell quoting through a real sh.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { parseResolvedApp } from "../../model/app";
import { parseEngineOptions } from "../../model/engine";
import { healthCheckScript } from "../../provisioner/steps/app-health";
import { installScript } from "../../provisioner/steps/engine-install";
import { recordConfigScript } from "../../provisioner/steps/engine-start";
import { verifyScriptData } from "../../provisioner/steps/engine-verify";
import { canonicalJson, canonicalJsonCompact } from "../../templates/json";
import { renderTemplate, renderTemplateText, TemplateError } from "../../templates/render";
import { renderDaemonJson } from "../../templates/engine/daemon-json";

const GOLDEN = path.join(__dirname, "golden");

/** Compares with test/unit/golden/<file>; UPDATE_GOLDEN=1 rewrites the file (review the diff). */
function golden(file: string, actual: string): void {
  const p = path.join(GOLDEN, file);
  if (process.env["UPDATE_GOLDEN"] === "1") writeFileSync(p, actual);
  expect(existsSync(p), `${p} is missing: run with UPDATE_GOLDEN=1 once and review it`).toBe(true);
  expect(actual).toBe(readFileSync(p, "utf8"));
}

const tmp = mkdtempSync(path.join(tmpdir(), "longshore-templates-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("golden templates", () => {
  it("engine/docker-hosts.conf", () => {
    golden("docker-hosts.conf", renderTemplate("engine/docker-hosts.conf", { dockerd: "/usr/sbin/dockerd" }));
  });

  it("engine/install.sh, offline from bundle files", () => {
    golden(
      "install-offline.sh",
      installScript({
        offline: true,
        packages: ["/var/lib/longshore/bundle/abc/debs/docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb", "/var/lib/longshore/bundle/abc/debs/dmsetup_2%3a1.02.185-2_amd64.deb"],
      }),
    );
  });

  it("engine/install.sh, from the host's own sources", () => {
    golden("install-distro.sh", installScript({ offline: false, packages: ["docker.io", "containerd", "runc", "tini"] }));
  });

  it("engine/preflight.sh, for a bundle", () => {
    golden("preflight-bundle.sh", renderTemplate("engine/preflight.sh", { bundle: { arch: "amd64", distribution: "debian", suite: "bookworm" }, cgroupVersion: 1 }));
  });

  it("engine/preflight.sh, for the distro channel", () => {
    golden("preflight-distro.sh", renderTemplate("engine/preflight.sh", { bundle: null, cgroupVersion: 2 }));
  });

  it("engine/record-config.sh and the docker.service drop-in that runs it", () => {
    golden("record-config.sh", recordConfigScript());
    golden("docker-record.conf", renderTemplate("engine/docker-record.conf", { recordScript: "/var/lib/longshore/engine/record-config.sh" }));
  });

  it("engine/restart.sh", () => {
    golden("restart.sh", renderTemplate("engine/restart.sh", { holdChain: "LONGSHORE-HOLD", waitSeconds: 60 }));
  });

  it("engine/verify.sh", () => {
    golden(
      "verify.sh",
      renderTemplate(
        "engine/verify.sh",
        verifyScriptData([
          { label: "server version", expected: "20.10.24", source: "info", format: "{{.ServerVersion}}", upstream: true },
          { label: "runc version", expected: "1.1.5", source: "version", format: '{{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}', upstream: true },
          { label: "storage driver", expected: "overlay2", source: "info", format: "{{.Driver}}", upstream: false },
        ]),
      ),
    );
  });

  it("app/health-check.sh", () => {
    golden(
      "health-check.sh",
      renderTemplate("app/health-check.sh", {
        host: "127.0.0.1",
        port: 8080,
        path: "/healthz?full=1&x='y'",
        expectStatus: 200,
        timeoutSeconds: "2",
        intervalSeconds: "0.5",
        deadlineMs: 60000,
      }),
    );
  });

  it("app/health-check.sh as app.health and the deadline render it (the same golden)", () => {
    const app = parseResolvedApp({ name: "web", image: "web:1", port: 8080, health: { path: "/healthz?full=1&x='y'", intervalSeconds: 0.5 } });
    golden("health-check.sh", healthCheckScript(app, { deadlineMs: 60_000 }));
  });

  it("daemon.json with the defaults", () => {
    golden("daemon.json", renderDaemonJson(parseEngineOptions({}).daemon));
  });

  it("every rendered shell script parses (sh -n / bash -n)", () => {
    const scripts: Array<[string, string]> = [
      ["sh", readFileSync(path.join(GOLDEN, "install-offline.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "install-distro.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "preflight-bundle.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "preflight-distro.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "verify.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "restart.sh"), "utf8")],
      ["sh", readFileSync(path.join(GOLDEN, "record-config.sh"), "utf8")],
      ["bash", readFileSync(path.join(GOLDEN, "health-check.sh"), "utf8")],
    ];
    for (const [shell, script] of scripts) {
      const r = spawnSync(shell, ["-n", "-c", script], { encoding: "utf8" });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    }
  });
});

describe("strict rendering", () => {
  it("a missing variable is an error naming the template and the variable", () => {
    expect(() => renderTemplate("engine/docker-hosts.conf", {})).toThrow(TemplateError);
    expect(() => renderTemplate("engine/docker-hosts.conf", {})).toThrow('template engine/docker-hosts.conf: "dockerd" not defined in [object Object]');
  });

  it("a missing variable given to shq is an error too (strict mode does not check helper arguments)", () => {
    expect(() => renderTemplate("engine/preflight.sh", { bundle: { arch: "amd64" }, cgroupVersion: 1 })).toThrow(
      "template engine/preflight.sh: shq got undefined: the variable it was given is missing from the data",
    );
  });

  it("an unknown template is an error", () => {
    expect(() => renderTemplate("engine/nope", {})).toThrow(/template engine\/nope: no file engine\/nope\.hbs/);
  });

  it("does not HTML-escape", () => {
    expect(renderTemplateText("{{a}}", { a: `<&>"'` })).toBe(`<&>"'`);
  });

  it("shq refuses secrets, objects and null", () => {
    expect(() => renderTemplateText("{{shq s}}", { s: new Sensitive("pw-123456") })).toThrow("template (inline): shq refuses a Sensitive value: pass secrets on stdin or in a 0600 file");
    expect(() => renderTemplateText("{{shq s}}", { s: { a: 1 } })).toThrow("template (inline): shq needs a string or a number, got object");
    expect(() => renderTemplateText("{{shq s}}", { s: null })).toThrow("template (inline): shq needs a string or a number, got null");
  });

  it.each([
    "plain",
    "",
    "two words",
    "it's",
    `"double" and 'single'`,
    "$(touch /tmp/pwned) `id` $HOME ${x}",
    "tab\there\nnewline",
    "*.deb ?[a] ~user",
    "--dash-first",
    "ünïcødé ✓",
    "back\\slash",
  ])("shq round-trips %j through a real sh", (word) => {
    const script = renderTemplateText('printf "%s" {{shq w}}', { w: word });
    expect(execFileSync("sh", ["-c", script], { encoding: "utf8" })).toBe(word);
  });

  it("shqJoin passes each word as one argument", () => {
    const words = ["a b", "it's", "$x", ""];
    const script = renderTemplateText('for w in {{shqJoin ws}}; do printf "[%s]" "$w"; done', { ws: words });
    expect(execFileSync("sh", ["-c", script], { encoding: "utf8" })).toBe("[a b][it's][$x][]");
  });
});

describe("install.sh behaviour with a fake apt-get", () => {
  // The real policy path is /usr/sbin/policy-rc.d; the template takes it as data so this test
  // can watch the policy appear during the install and vanish after it, without touching /usr/sbin.
  function runInstall(aptExit: number, preexisting: boolean): { status: number | null; log: string; policyAfter: boolean } {
    const dir = mkdtempSync(path.join(tmp, "install-"));
    const policy = path.join(dir, "policy-rc.d");
    if (preexisting) writeFileSync(policy, "#!/bin/sh\nexit 0\n");
    const log = path.join(dir, "apt.log");
    writeFileSync(
      path.join(dir, "apt-get"),
      `#!/bin/sh\n{ printf 'args:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; echo "policy: $(cat ${policy} | tail -n1)"; echo "frontend: $DEBIAN_FRONTEND"; } >> ${log}\nexit ${aptExit}\n`,
    );
    chmodSync(path.join(dir, "apt-get"), 0o755);
    const script = installScript({ offline: true, policyPath: policy, packages: ["/b/debs/a b.deb", "/b/debs/c_1%3a2_all.deb"], dpkgLocks: [path.join(dir, "lock-frontend")] });
    const r = spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` }, encoding: "utf8" });
    return { status: r.status, log: readFileSync(log, "utf8"), policyAfter: existsSync(policy) };
  }

  it("installs with services blocked (policy exit 101), then removes the policy it created", () => {
    const r = runInstall(0, false);
    expect(r).toEqual({
      status: 0,
      log:
        "args: [install] [-y] [-q] [--no-install-recommends] [-o] [DPkg::Lock::Timeout=120] [-o] [Dir::Etc::SourceList=/dev/null] [-o] [Dir::Etc::SourceParts=/dev/null] [/b/debs/a b.deb] [/b/debs/c_1%3a2_all.deb]\n" +
        "policy: exit 101\nfrontend: noninteractive\n",
      policyAfter: false,
    });
  });

  it("removes its policy when apt fails, and fails with apt's exit code", () => {
    const r = runInstall(100, false);
    expect(r.status).toBe(100);
    expect(r.policyAfter).toBe(false);
  });

  it("leaves an existing policy alone", () => {
    const r = runInstall(0, true);
    expect(r.log).toContain("policy: exit 0\n");
    expect(r.policyAfter).toBe(true);
  });
});

describe("install.sh waiting for dpkg's lock (real sh, a real fcntl lock held by python3)", () => {
  /**
   * Runs the install script with a fake apt-get while python3 holds a POSIX (fcntl) lock on the
   * script's lock file for `holdMs`, as an apt-get left by a dropped connection holds dpkg's.
   */
  async function installWhileLocked(holdMs: number, lockWaitSeconds: number) {
    const dir = mkdtempSync(path.join(tmp, "lock-"));
    const lock = path.join(dir, "lock-frontend");
    writeFileSync(lock, "");
    const log = path.join(dir, "apt.log");
    writeFileSync(path.join(dir, "apt-get"), `#!/bin/sh\necho "apt-get ran" >> ${log}\n`);
    chmodSync(path.join(dir, "apt-get"), 0o755);
    const holder = spawn("python3", ["-c", "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(float(sys.argv[2]))", lock, String(holdMs / 1000)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const script = installScript({ offline: true, policyPath: path.join(dir, "policy-rc.d"), packages: ["/b/debs/a.deb"], dpkgLocks: [path.join(dir, "no-such-lock"), lock], lockWaitSeconds });
    const t0 = Date.now();
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const sh = spawn("sh", ["-c", script], { env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` } });
      let stderr = "";
      sh.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      sh.on("close", (status) => resolve({ status, stderr }));
    });
    const ms = Date.now() - t0;
    holder.kill("SIGKILL");
    return { ...r, ms, pid: holder.pid!, aptRan: existsSync(log) };
  }

  it("says who holds the lock once, waits until it is free, then installs", async () => {
    const r = await installWhileLocked(1_500, 30);
    expect(r.stderr).toBe(`longshore-progress: waiting for dpkg lock held by PID ${r.pid} (python3)\n`);
    expect([r.status, r.aptRan]).toEqual([0, true]);
    expect(r.ms).toBeGreaterThanOrEqual(1_000);
  });

  it("gives up after the wait, naming the holder, without running apt", async () => {
    const r = await installWhileLocked(10_000, 1);
    expect(r.stderr).toBe(
      `longshore-progress: waiting for dpkg lock held by PID ${r.pid} (python3)\nengine.install: dpkg lock still held by PID ${r.pid} (python3) after 1 s; if it is stuck, stop it and run again\n`,
    );
    expect([r.status, r.aptRan]).toEqual([1, false]);
  });

  it("says nothing when nobody holds it", () => {
    const dir = mkdtempSync(path.join(tmp, "nolock-"));
    writeFileSync(path.join(dir, "lock"), "");
    writeFileSync(path.join(dir, "apt-get"), "#!/bin/sh\nexit 0\n");
    chmodSync(path.join(dir, "apt-get"), 0o755);
    const script = installScript({ offline: true, policyPath: path.join(dir, "policy-rc.d"), packages: ["/b/a.deb"], dpkgLocks: [path.join(dir, "lock")] });
    const r = spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` }, encoding: "utf8" });
    expect([r.status, r.stderr]).toEqual([0, ""]);
  });
});

describe("canonical JSON", () => {
  it("sorts keys at every level and keeps array order", () => {
    expect(canonicalJsonCompact({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{\n  "a": 2,\n  "b": 1\n}\n');
  });

  it("drops undefined object values but refuses what JSON cannot carry", () => {
    expect(canonicalJsonCompact({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow("$.a: NaN cannot be written as JSON");
    expect(() => canonicalJson({ s: new Sensitive("x-secret") })).toThrow("$.s: only plain objects can be written as JSON (got Sensitive)");
    expect(() => canonicalJson([1, undefined])).toThrow("$[1]: undefined cannot be written as JSON");
  });
});
