// Does not prove these commands succeed on a real host (that is the e2e tests' job): it pins each engine step's exact argv and files, and runs the dpkg check against this computer's real dpkg.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseEngineOptions } from "../../model/engine";
import { renderCommand } from "../../provisioner/command";
import { createManifest, renderManifest, renderSha256Sums } from "../../provisioner/bundle/manifest";
import { ARCHIVE_FETCH_SCRIPT, archiveUrl, archiveUrls, engineBundleStep, remoteBundleDir } from "../../provisioner/steps/engine-bundle";
import { PreconditionError } from "../../core/errors";
import { engineConfigDigest, engineConfigDigestOf, engineConfigureStep } from "../../provisioner/steps/engine-configure";
import { engineFactsStep } from "../../provisioner/steps/engine-facts";
import { dpkgStateCheck, engineInstallStep, expectedDpkgState, installScript } from "../../provisioner/steps/engine-install";
import { ACTIVE_SCRIPT, engineStartStep, recordConfigScript, runningConfigCheck } from "../../provisioner/steps/engine-start";
import { appSteps, engineSteps, provisionSteps, STEP_ORDER } from "../../provisioner/steps/index";
import { renderTemplate } from "../../templates/render";
import { renderDaemonJson } from "../../templates/engine/daemon-json";
import { MANIFEST, PACKAGES, RECIPE, makeContext } from "./fixtures/engine-context";

const ctx = makeContext();
const ID = MANIFEST.id;
const DIR = `/var/lib/longshore/bundle/${ID}`;

describe("step order", () => {
  it("is facts, bundle, install, configure, start, verify, image, run, health, audit", () => {
    expect(provisionSteps(ctx).map((s) => s.id)).toEqual([
      "engine.facts",
      "engine.bundle",
      "engine.install",
      "engine.configure",
      "engine.start",
      "engine.verify",
      "image.load",
      "app.run",
      "app.health",
      "audit.append",
    ]);
  });

  it("leaves out the bundle for the distro channel and pulls for a registry image", () => {
    const ids = provisionSteps({ engine: parseEngineOptions({ channel: "distro" }), image: { source: "registry", ref: "web:1" } }).map((s) => s.id);
    expect(ids).toEqual(["engine.facts", "engine.install", "engine.configure", "engine.start", "engine.verify", "image.pull", "app.run", "app.health", "audit.append"]);
    expect(engineSteps("bundle").length + appSteps("archive").length).toBe(10);
  });

  it("every step id is area.verb and listed in STEP_ORDER in the same relative order", () => {
    const ids = provisionSteps(ctx).map((s) => s.id);
    for (const id of ids) expect(id).toMatch(/^[a-z]+\.[a-z]+$/);
    const positions = ids.map((id) => STEP_ORDER.indexOf(id as (typeof STEP_ORDER)[number]));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it("plans are pure: the same context gives the same plan twice", () => {
    for (const step of provisionSteps(ctx)) {
      const a = step.plan(ctx);
      const b = step.plan(ctx);
      const show = (p: typeof a) =>
        JSON.stringify({ ...p, check: p.check?.map((c) => renderCommand(c, { mode: "display" })), apply: p.apply.map((c) => renderCommand(c, { mode: "display" })), verify: p.verify?.map((c) => renderCommand(c, { mode: "display" })) });
      expect(show(a)).toBe(show(b));
    }
  });
});

describe("engine.facts", () => {
  it("runs the same read-only preflight as check and verify, and applies nothing", () => {
    const plan = engineFactsStep.plan(ctx);
    const script = renderTemplate("engine/preflight.sh", { bundle: { arch: "amd64", distribution: "debian", suite: "bookworm" }, cgroupVersion: 1 });
    expect(plan).toEqual({ check: [{ argv: ["sh", "-c", script] }], apply: [], verify: [{ argv: ["sh", "-c", script] }], timeoutMs: 30_000 });
  });

  it("on this computer (no systemd as PID 1) fails naming that problem", () => {
    const [cmd] = engineFactsStep.plan(ctx).check!;
    const r = spawnSync(cmd!.argv[0] as string, cmd!.argv.slice(1) as string[], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("engine.facts: systemd is not running as PID 1 (the engine runs as systemd units)\n");
  });

  it("names an architecture mismatch", () => {
    const armCtx = makeContext({ bundle: { dir: "/b", manifest: { ...MANIFEST, recipe: { ...MANIFEST.recipe, arch: "arm64" } } } });
    const [cmd] = engineFactsStep.plan(armCtx).check!;
    const r = spawnSync("sh", cmd!.argv.slice(1) as string[], { encoding: "utf8" });
    expect(r.stderr).toContain("engine.facts: host architecture is amd64; the engine bundle is for arm64\n");
  });
});

describe("engine.bundle", () => {
  it("uploads every .deb (by sha), the manifest and SHA256SUMS, then checks them with sha256sum on the host", () => {
    const plan = engineBundleStep.plan(ctx);
    // A passing .verified check vouches for the files: re-runs do not hash the bundle on every host.
    expect(plan.filesTrustedWhenChecked).toBe(true);
    expect(plan.files).toEqual([
      ...MANIFEST.packages.map((p) => ({
        path: `${DIR}/debs/${p.filename}`,
        source: { localPath: `/cache/bundles/b/debs/${p.filename}`, sha256: p.sha256 },
        mode: 0o644,
        sudo: true,
      })),
      { path: `${DIR}/manifest.json`, source: { content: renderManifest(MANIFEST) }, mode: 0o644, sudo: true },
      { path: `${DIR}/SHA256SUMS`, source: { content: renderSha256Sums(MANIFEST) }, mode: 0o644, sudo: true },
    ]);
    expect(plan.files!.map((f) => f.path.slice(DIR.length + 1))).toEqual([
      "debs/containerd_1.6.20~ds1-1+deb12u3_amd64.deb",
      "debs/docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb",
      "debs/libdevmapper1.02.1_2%3a1.02.185-2_amd64.deb",
      "debs/runc_1.1.5+ds1-1+deb12u1_amd64.deb",
      "debs/tini_0.19.0-1+b3_amd64.deb",
      "manifest.json",
      "SHA256SUMS",
    ]);
    expect(plan.check).toEqual([{ argv: ["test", "-f", `${DIR}/.verified`], sudo: true }]);
    expect(plan.apply).toEqual([{ argv: ["sh", "-c", 'cd "$1" && sha256sum --check --strict --quiet SHA256SUMS && touch .verified', "sh", DIR], sudo: true }]);
    expect(plan.verify).toEqual([{ argv: ["test", "-f", `${DIR}/.verified`], sudo: true }]);
    expect(remoteBundleDir(ID)).toBe(DIR);
  });

  describe("with engine.fetch: archive", () => {
    const ROOT = "http://deb.debian.org/debian";
    const located = createManifest(
      RECIPE,
      PACKAGES.map((p) => ({ ...p, archivePath: `pool/main/${p.name[0]}/${p.name.replace(/[0-9.]+$/, "")}/${p.filename.replace("%3a", "")}`, archiveUri: ROOT })),
      "longshore/test",
    );
    const archiveCtx = (engine: Record<string, unknown>, manifest = located) => makeContext({ engine: parseEngineOptions({ fetch: "archive", ...engine }), bundle: { dir: "/cache/bundles/b", manifest } });

    it("uploads only the manifest and SHA256SUMS; the host fetches each .deb with apt-helper, checked, then verifies them all", () => {
      const plan = engineBundleStep.plan(archiveCtx({}));
      expect(located.id).toBe(ID);
      expect(plan.files).toEqual([
        { path: `${DIR}/manifest.json`, source: { content: renderManifest(located) }, mode: 0o644, sudo: true },
        { path: `${DIR}/SHA256SUMS`, source: { content: renderSha256Sums(located) }, mode: 0o644, sudo: true },
      ]);
      expect(plan.check).toEqual([{ argv: ["test", "-f", `${DIR}/.verified`], sudo: true }]);
      expect(plan.verify).toEqual([{ argv: ["test", "-f", `${DIR}/.verified`], sudo: true }]);
      expect(plan.filesTrustedWhenChecked).toBe(true);
      expect(plan.apply).toEqual([
        {
          argv: [
            "sh", "-c", ARCHIVE_FETCH_SCRIPT, "sh", DIR,
            `${ROOT}/pool/main/c/containerd/containerd_1.6.20%7Eds1-1%2Bdeb12u3_amd64.deb`, "containerd_1.6.20~ds1-1+deb12u3_amd64.deb", "2".repeat(64),
            `${ROOT}/pool/main/d/docker.io/docker.io_20.10.24%2Bdfsg1-1%2Bdeb12u1%2Bb6_amd64.deb`, "docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb", "1".repeat(64),
            `${ROOT}/pool/main/l/libdevmapper/libdevmapper1.02.1_21.02.185-2_amd64.deb`, "libdevmapper1.02.1_2%3a1.02.185-2_amd64.deb", "5".repeat(64),
            `${ROOT}/pool/main/r/runc/runc_1.1.5%2Bds1-1%2Bdeb12u1_amd64.deb`, "runc_1.1.5+ds1-1+deb12u1_amd64.deb", "3".repeat(64),
            `${ROOT}/pool/main/t/tini/tini_0.19.0-1%2Bb3_amd64.deb`, "tini_0.19.0-1+b3_amd64.deb", "4".repeat(64),
          ],
          sudo: true,
        },
      ]);
      // apt's own downloader checks the hash; only then does the file move into debs/; .verified comes last.
      expect(ARCHIVE_FETCH_SCRIPT).toContain('/usr/lib/apt/apt-helper -o APT::Sandbox::User=root -o Acquire::http::Timeout=30 download-file "$uri" "partial/$file" "SHA256:$sha" >/dev/null');
      expect(ARCHIVE_FETCH_SCRIPT.trimEnd().split("\n").at(-1)).toBe("sha256sum --check --strict --quiet SHA256SUMS && touch .verified");
    });

    it("fetches from engine.archiveMirror instead of the recipe's source", () => {
      const [cmd] = engineBundleStep.plan(archiveCtx({ archiveMirror: "http://10.213.47.1:8080/debian" })).apply;
      expect(cmd!.argv.filter((a) => String(a).startsWith("http"))).toEqual(located.packages.map((p) => `http://10.213.47.1:8080/debian/${p.archivePath!.split("/").map((x) => encodeURIComponent(x).replace(/~/g, "%7E")).join("/")}`));
      expect(archiveUrl("http://m/debian", "pool/main/c/containerd/containerd_1.6.20~ds1-1+deb12u3_amd64.deb")).toBe("http://m/debian/pool/main/c/containerd/containerd_1.6.20%7Eds1-1%2Bdeb12u3_amd64.deb");
    });

    it("refuses a bundle without archive paths, and one mirror for packages of two archives", () => {
      expect(() => engineBundleStep.plan(archiveCtx({}, MANIFEST))).toThrow(
        `engine.fetch: archive: bundle ${ID.slice(0, 12)} does not record where the archive keeps containerd, docker.io, libdevmapper1.02.1, runc, tini (it was built before longshore recorded archive paths)`,
      );
      const refused = (() => {
        try {
          archiveUrls(MANIFEST, undefined);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(refused).toBeInstanceOf(PreconditionError);
      {
        expect((refused as PreconditionError).suggestion).toBe(
          "Run `longshore engine bundle --distro bookworm --arch amd64`: it records them in the cached bundle (same bundle id, the lock stays valid), or set engine.fetch: upload.",
        );
      }
      const twoArchives = { ...located, packages: located.packages.map((p, i) => (i === 0 ? { ...p, archiveUri: "http://deb.debian.org/debian-security" } : p)) };
      expect(() => archiveUrls(twoArchives, "http://m/debian")).toThrow(
        "engine.archiveMirror: the bundle's packages come from 2 archives (http://deb.debian.org/debian, http://deb.debian.org/debian-security); one mirror cannot stand in for all of them",
      );
      expect(archiveUrls(twoArchives, undefined)[0]).toBe("http://deb.debian.org/debian-security/pool/main/c/containerd/containerd_1.6.20%7Eds1-1%2Bdeb12u3_amd64.deb");
    });
  });

  it("refuses to plan without a verified bundle", () => {
    expect(() => engineBundleStep.plan(makeContext({ bundle: null }))).toThrow("engine.channel is bundle but no verified bundle was given to the plan");
  });
});

describe("engine.install", () => {
  it("checks the requested packages at the bundle's versions and installs every .deb offline", () => {
    const plan = engineInstallStep.plan(ctx);
    const expected = "containerd=1.6.20~ds1-1+deb12u3=ii ;docker.io=20.10.24+dfsg1-1+deb12u1+b6=ii ;runc=1.1.5+ds1-1+deb12u1=ii ;tini=0.19.0-1+b3=ii ;";
    const check = {
      argv: ["sh", "-c", 'f=$1; e=$2; shift 2; [ "$(dpkg-query -W -f "$f" "$@" 2>/dev/null)" = "$e" ]', "sh", "${Package}=${Version}=${db:Status-Abbrev};", expected, "containerd", "docker.io", "runc", "tini"],
    };
    expect(plan.check).toEqual([check]);
    const script = installScript({ offline: true, packages: MANIFEST.packages.map((p) => `${DIR}/debs/${p.filename}`) });
    expect(script).toContain("\n  for lock in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock; do\n");
    expect(script).toContain("\nwait_s=120\n");
    expect(plan.apply).toEqual([{ argv: ["sh", "-c", script], sudo: true, timeoutMs: 600_000 }]);
    expect(script).toContain(
      `apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null '${DIR}/debs/containerd_1.6.20~ds1-1+deb12u3_amd64.deb' ${DIR}/debs/docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb ${DIR}/debs/libdevmapper1.02.1_2%3a1.02.185-2_amd64.deb ${DIR}/debs/runc_1.1.5+ds1-1+deb12u1_amd64.deb ${DIR}/debs/tini_0.19.0-1+b3_amd64.deb\n`,
    );
    expect(plan.verify).toEqual([check, { argv: ["/usr/sbin/dockerd", "--version"] }]);
  });

  it("for the distro channel installs from the host's sources and checks only that the packages are installed", () => {
    const plan = engineInstallStep.plan(makeContext({ engine: parseEngineOptions({ channel: "distro" }), bundle: null }));
    expect(plan.check).toEqual([
      { argv: ["sh", "-c", 'f=$1; e=$2; shift 2; [ "$(dpkg-query -W -f "$f" "$@" 2>/dev/null)" = "$e" ]', "sh", "${db:Status-Abbrev};", "ii ;ii ;ii ;ii ;ii ;", "busybox-static", "containerd", "docker.io", "runc", "tini"] },
    ]);
    const script = (plan.apply[0]!.argv as string[])[2]!;
    expect(script).toContain("apt-get update -q\napt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 docker.io containerd runc tini busybox-static\n");
  });

  it("the dpkg check passes for what this computer has installed and fails for another version (real dpkg-query)", () => {
    const names = ["tini", "runc"];
    const installed = execFileSync("dpkg-query", ["-W", "-f", "${Package} ${Version}\\n", ...names], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => ({ name: l.split(" ")[0]!, version: l.split(" ")[1]! }));
    const pass = dpkgStateCheck(names, expectedDpkgState(installed), true);
    const fail = dpkgStateCheck(names, expectedDpkgState(installed.map((p) => ({ ...p, version: `${p.version}.1` }))), true);
    const exec = (c: typeof pass) => spawnSync(c.argv[0] as string, c.argv.slice(1) as string[]).status;
    expect(exec(pass)).toBe(0);
    expect(exec(fail)).toBe(1);
    expect(exec(dpkgStateCheck(["tini", "no-such-package-longshore"], "tini=x=ii ;", true))).toBe(1);
  });
});

describe("engine.configure", () => {
  it("writes daemon.json and removes a stale hosts drop-in when hosts is not set", () => {
    const plan = engineConfigureStep.plan(ctx);
    expect(plan).toEqual({
      files: [{ path: "/etc/docker/daemon.json", source: { content: renderDaemonJson(ctx.engine.daemon) }, mode: 0o644, sudo: true }],
      check: [{ argv: ["test", "!", "-e", "/etc/systemd/system/docker.service.d/longshore-hosts.conf"], sudo: true }],
      apply: [{ argv: ["rm", "-f", "/etc/systemd/system/docker.service.d/longshore-hosts.conf"], sudo: true }],
      timeoutMs: 60_000,
    });
  });

  it("adds the drop-in that clears -H fd:// only when daemon.json sets hosts", () => {
    const engine = parseEngineOptions({ daemon: { hosts: ["fd://", "unix:///run/docker-ci.sock"] } });
    const plan = engineConfigureStep.plan(makeContext({ engine }));
    expect(plan).toEqual({
      files: [
        { path: "/etc/docker/daemon.json", source: { content: renderDaemonJson(engine.daemon) }, mode: 0o644, sudo: true },
        {
          path: "/etc/systemd/system/docker.service.d/longshore-hosts.conf",
          source: { content: renderTemplate("engine/docker-hosts.conf", { dockerd: "/usr/sbin/dockerd" }) },
          mode: 0o644,
          sudo: true,
        },
      ],
      apply: [],
      timeoutMs: 60_000,
    });
  });
});

describe("engine.start", () => {
  const RECORDER = "/var/lib/longshore/engine/record-config.sh";
  const RECORD = "/var/lib/longshore/engine/running-config";

  it("restarts only when docker is down, has unloaded unit files, or runs another config than planned; systemd records what it starts with", () => {
    const digest = engineConfigDigest(ctx);
    const sha = (t: string) => createHash("sha256").update(t).digest("hex");
    expect(digest).toBe(sha(`daemon.json ${sha(renderDaemonJson(ctx.engine.daemon))}\nhosts drop-in none\n`));
    const plan = engineStartStep.plan(ctx);
    const recorded = runningConfigCheck(RECORD, digest);
    expect(recorded).toEqual({
      argv: ["sh", "-c", 'f=$1; d=$2; [ "$(head -n 1 "$f" 2>/dev/null)" = "start $d" ] && ! grep -qvxF -e "start $d" -e "reload $d" "$f"', "sh", RECORD, digest],
      sudo: true,
    });
    expect(plan.check).toEqual([
      { argv: ["sh", "-c", ACTIVE_SCRIPT], sudo: true },
      { argv: ["sh", "-c", '[ "$(systemctl show -p NeedDaemonReload --value docker.service)" = no ]'], sudo: true },
      recorded,
    ]);
    expect(plan.files).toEqual([
      { path: RECORDER, source: { content: recordConfigScript() }, mode: 0o755, sudo: true },
      {
        path: "/etc/systemd/system/docker.service.d/longshore-record.conf",
        source: { content: renderTemplate("engine/docker-record.conf", { recordScript: RECORDER }) },
        mode: 0o644,
        sudo: true,
      },
    ]);
    expect(plan.apply).toEqual([
      { argv: ["systemctl", "daemon-reload"], sudo: true },
      { argv: ["systemctl", "enable", "--quiet", "docker.socket", "docker.service"], sudo: true },
      { argv: ["sh", "-c", renderTemplate("engine/restart.sh", { holdChain: "LONGSHORE-HOLD", waitSeconds: 60 })], sudo: true, timeoutMs: 180_000 },
    ]);
    expect(plan.verify).toEqual([
      { argv: ["sh", "-c", ACTIVE_SCRIPT], sudo: true },
      recorded,
      { argv: ["docker", "version", "--format", "{{.Server.Version}}"], sudo: true },
    ]);
  });

  it("the drop-in runs the recorder before each start, once the daemon is up, and after each reload, never failing the start", () => {
    expect(renderTemplate("engine/docker-record.conf", { recordScript: RECORDER }).split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      "[Service]",
      `ExecStartPre=-/bin/sh ${RECORDER} start`,
      `ExecStartPost=-/bin/sh ${RECORDER} facts`,
      `ExecReload=-/bin/sh ${RECORDER} reload`,
      "",
    ]);
  });

  it("a changed option changes the digest (one restart); the same options in another order do not", () => {
    const a = engineConfigDigest(makeContext({ engine: parseEngineOptions({ daemon: { mtu: 1400, debug: true } }) }));
    const b = engineConfigDigest(makeContext({ engine: parseEngineOptions({ daemon: { debug: true, mtu: 1400 } }) }));
    const c = engineConfigDigest(makeContext({ engine: parseEngineOptions({ daemon: { debug: true, mtu: 1450 } }) }));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).not.toBe(engineConfigDigest(ctx));
  });

  it("recorder and check on real files (real sh): a daemon started or reloaded with an edited file is drift even after the file is put back", () => {
    const dir = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    try {
      const paths = { recordPath: `${dir}/engine/running-config`, daemonJson: `${dir}/daemon.json`, hostsDropIn: `${dir}/longshore-hosts.conf` };
      const planned = renderDaemonJson(ctx.engine.daemon);
      const digest = engineConfigDigest(ctx);
      const check = runningConfigCheck(paths.recordPath, digest);
      const checks = () => spawnSync("sh", ["-c", check.argv[2] as string, "sh", paths.recordPath, digest]).status;
      const systemd = (event: "start" | "reload") => expect(spawnSync("sh", ["-c", recordConfigScript(paths), "sh", event]).status).toBe(0);
      const write = (text: string) => execFileSync("sh", ["-c", 'printf "%s" "$2" > "$1"', "sh", paths.daemonJson, text]);
      const record = () => execFileSync("cat", [paths.recordPath], { encoding: "utf8" });

      expect(checks()).toBe(1); // never started with the recorder
      write(planned);
      systemd("start");
      expect(record()).toBe(`start ${digest}\n`);
      expect(checks()).toBe(0);
      // The operator adds "debug": true and restarts docker by hand; then the file is put back.
      const drifted = planned.replace("{\n", '{\n  "debug": true,\n');
      write(drifted);
      systemd("start");
      expect(record()).toBe(`start ${engineConfigDigestOf(drifted, null)}\n`);
      write(planned);
      expect(checks()).toBe(1); // the running daemon read the drifted file: restart
      systemd("start");
      expect(checks()).toBe(0);
      // A reload with the drifted file (debug is a reloadable key) is drift too, until the next start.
      write(drifted);
      systemd("reload");
      write(planned);
      expect(record()).toBe(`start ${digest}\nreload ${engineConfigDigestOf(drifted, null)}\n`);
      expect(checks()).toBe(1);
      systemd("reload");
      expect(checks()).toBe(1); // the drifted reload still happened; only a start clears it
      systemd("start");
      systemd("reload");
      expect([record(), checks()]).toEqual([`start ${digest}\nreload ${digest}\n`, 0]);
      // The hosts drop-in counts: its presence changes the digest the host computes.
      execFileSync("sh", ["-c", 'echo "[Service]" > "$1"', "sh", paths.hostsDropIn]);
      systemd("start");
      expect(record()).toBe(`start ${engineConfigDigestOf(planned, "[Service]\n")}\n`);
    } finally {
      execFileSync("rm", ["-rf", dir]);
    }
  });
});


describe("engine.start's active check (real sh, a fake systemctl)", () => {
  /** Runs ACTIVE_SCRIPT against a systemctl that answers `states` in turn (the last one from then on). */
  function activeWith(states: string[]) {
    const dir = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    const seq = `${dir}/n`;
    execFileSync("sh", ["-c", `printf 0 > ${seq}; cat > ${dir}/systemctl <<'EOS'
#!/bin/sh
n=$(cat ${seq}); echo $((n + 1)) > ${seq}
set -- ${states.join(" ")}
shift $(( n < $# ? n : $# - 1 ))
echo "$1"
EOS
chmod +x ${dir}/systemctl`]);
    const r = spawnSync("sh", ["-c", ACTIVE_SCRIPT], { env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` } });
    const asked = Number(execFileSync("cat", [seq], { encoding: "utf8" }));
    execFileSync("rm", ["-rf", dir]);
    return { code: r.status, asked };
  }

  it("waits while docker is activating (a machine just booted, the recorder's ExecStartPost), then passes", () => {
    expect(activeWith(["activating", "activating", "active"])).toEqual({ code: 0, asked: 3 });
  });

  it("fails at once for a stopped or failed docker", () => {
    expect(activeWith(["inactive"])).toEqual({ code: 3, asked: 1 });
    expect(activeWith(["failed"])).toEqual({ code: 3, asked: 1 });
  });
});
