// Does not prove a live Docker 20.10 prints exactly these fixtures (they are hand-written from its JSON shape); the host-side script runs against a fake docker that answers its Go templates.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEngineOptions } from "../../model/engine";
import { renderTemplate } from "../../templates/render";
import { recordConfigScript } from "../../provisioner/steps/engine-start";
import {
  ENGINE_FACT_FORMATS,
  engineFactRows,
  engineFactsCommands,
  engineVerifyStep,
  expectedEngineFacts,
  reportedUpstream,
  verifyEngineFacts,
  verifyScriptData,
  type ExpectedEngineFacts,
} from "../../provisioner/steps/engine-verify";
import { makeContext } from "./fixtures/engine-context";

const INFO_TEXT = readFileSync(path.join(__dirname, "fixtures", "engine-docker-20.10-info.json"), "utf8");
const VERSION_TEXT = readFileSync(path.join(__dirname, "fixtures", "engine-docker-20.10-version.json"), "utf8");
const INFO = JSON.parse(INFO_TEXT) as Record<string, unknown>;
const VERSION = JSON.parse(VERSION_TEXT) as Record<string, unknown>;

const ctx = makeContext();
const EXPECTED = expectedEngineFacts(ctx);

describe("expected engine facts", () => {
  it("come from the bundle, the options and the host's cgroup version", () => {
    expect(EXPECTED).toEqual({
      serverVersion: "20.10.24",
      containerdVersion: "1.6.20",
      runcVersion: "1.1.5",
      storageDriver: "overlay2",
      cgroupDriver: "cgroupfs",
      liveRestore: true,
      loggingDriver: "json-file",
    });
  });

  it("expect dockerd's own default cgroup driver on cgroup v2, and the configured one when set", () => {
    const v2 = makeContext({ facts: { ...ctx.facts, cgroupVersion: 2 } });
    expect(expectedEngineFacts(v2).cgroupDriver).toBe("systemd");
    const forced = makeContext({ engine: parseEngineOptions({ daemon: { "exec-opts": ["native.cgroupdriver=systemd"], "live-restore": false } }) });
    expect(expectedEngineFacts(forced)).toMatchObject({ cgroupDriver: "systemd", liveRestore: false });
  });

  it("do not check versions for the distro channel", () => {
    const distro = makeContext({ engine: parseEngineOptions({ channel: "distro" }), bundle: null });
    expect(expectedEngineFacts(distro)).toMatchObject({ serverVersion: null, containerdVersion: null, runcVersion: null });
    expect(engineFactRows(expectedEngineFacts(distro)).map((r) => r.label)).toEqual(["storage driver", "cgroup driver", "live restore", "logging driver"]);
  });
});

describe("verifyEngineFacts (the engine's own JSON)", () => {
  it("finds nothing wrong with a Docker 20.10 engine as planned", () => {
    expect(verifyEngineFacts(INFO_TEXT, VERSION_TEXT, EXPECTED)).toEqual([]);
    expect(verifyEngineFacts(INFO, VERSION, EXPECTED)).toEqual([]);
  });

  it("names every mismatching fact with expected and actual values", () => {
    const drifted = { ...INFO, ServerVersion: "20.10.5+dfsg1", Driver: "vfs", CgroupDriver: "systemd", LiveRestoreEnabled: false, LoggingDriver: "journald" };
    const server = VERSION["Server"] as { Components: Array<Record<string, unknown>> };
    const oldContainerd = {
      ...VERSION,
      Server: { ...server, Components: server.Components.map((c) => (c["Name"] === "containerd" ? { ...c, Version: "1.4.13~ds1" } : c)) },
    };
    expect(verifyEngineFacts(drifted, oldContainerd, EXPECTED)).toEqual([
      "server version: expected 20.10.24, got 20.10.5",
      "containerd version: expected 1.6.20, got 1.4.13",
      "storage driver: expected overlay2, got vfs",
      "cgroup driver: expected cgroupfs, got systemd",
      "live restore: expected true, got false",
      "logging driver: expected json-file, got journald",
    ]);
  });

  it("says (nothing) for a missing field and reports output that is not JSON", () => {
    const { Driver: _gone, ...noDriver } = INFO;
    expect(verifyEngineFacts(noDriver, VERSION, EXPECTED)).toEqual(["storage driver: expected overlay2, got (nothing)"]);
    expect(verifyEngineFacts("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", VERSION, EXPECTED)).toEqual([
      "docker info did not print JSON: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    ]);
  });

  it("normalises reported versions to their upstream part", () => {
    expect(["20.10.24+dfsg1", "v1.6.28", "1.6.20~ds1", "24.0.7", "1.1.12-0ubuntu2"].map(reportedUpstream)).toEqual(["20.10.24", "1.6.28", "1.6.20", "24.0.7", "1.1.12"]);
  });

  it("reads its JSON from two read-only commands", () => {
    expect(engineFactsCommands()).toEqual({
      info: { argv: ["docker", "info", "--format", "{{json .}}"], sudo: true },
      version: { argv: ["docker", "version", "--format", "{{json .}}"], sudo: true },
    });
  });
});

describe("engine.verify on the host (real sh, fake docker answering Go templates)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "longshore-verify-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What a real docker prints for each of the step's templates, taken from the fixtures. */
  function fakeDocker(info: Record<string, unknown>, version: Record<string, unknown>): string {
    const comps = ((version["Server"] as Record<string, unknown>)["Components"] as Array<Record<string, unknown>>) ?? [];
    const comp = (n: string) => String(comps.find((c) => c["Name"] === n)?.["Version"] ?? "");
    const answers: Record<string, string> = {
      "info {{.ServerVersion}}": String(info["ServerVersion"]),
      "info {{.Driver}}": String(info["Driver"]),
      "info {{.CgroupDriver}}": String(info["CgroupDriver"]),
      "info {{.LiveRestoreEnabled}}": String(info["LiveRestoreEnabled"]),
      "info {{.LoggingDriver}}": String(info["LoggingDriver"]),
      'version {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}': comp("containerd"),
      'version {{range .Server.Components}}{{if eq .Name "runc"}}{{.Version}}{{end}}{{end}}': comp("runc"),
    };
    const file = path.join(dir, "answers.json");
    writeFileSync(file, JSON.stringify(answers));
    const docker = path.join(dir, "docker");
    writeFileSync(
      docker,
      // A Go template's literal newlines print as they are: the script asks for a fact per line.
      `#!/usr/bin/env node\nconst a = require(${JSON.stringify(file)}); const [src, flag, fmt] = process.argv.slice(2);\nconst lines = (fmt || "").split("\\n");\nif (flag !== "--format" || !lines.every((l) => src + " " + l in a)) { console.error("fake docker: unexpected " + process.argv.slice(2).join(" ")); process.exit(2); }\nconsole.log(lines.map((l) => a[src + " " + l]).join("\\n"));\n`,
    );
    chmodSync(docker, 0o755);
    return dir;
  }

  function runStep(expected: ExpectedEngineFacts, binDir: string) {
    const plan = engineVerifyStep.plan(makeContext());
    expect(plan.apply).toEqual([]);
    expect(plan.check).toEqual(plan.verify);
    // Render for the given expectation through the same table the step uses.
    const rows = engineFactRows(expected);
    const script = (plan.check![0]!.argv[2] as string);
    for (const r of rows) expect(script).toContain(`check '${r.label}' ${r.expected} `);
    return spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${binDir}:${process.env["PATH"]}` }, encoding: "utf8" });
  }

  it("passes for the planned engine", () => {
    const r = runStep(EXPECTED, fakeDocker(INFO, VERSION));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
  });

  /** The step's verify script for the planned facts, with its record at `rec`, run with `bin` first on PATH. */
  function runWithRecord(rec: string, bin: string) {
    const script = renderTemplate("engine/verify.sh", verifyScriptData(engineFactRows(EXPECTED), rec));
    return spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}` }, encoding: "utf8" });
  }

  /** A bin dir with a `systemctl` that says dockerd runs as `pid`, and a `docker` that must not be asked. */
  function recordBin(pid: string): string {
    const bin = mkdtempSync(path.join(dir, "rec-bin-"));
    writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\n[ "$*" = "show -p MainPID --value docker.service" ] && echo ${pid}\n`);
    writeFileSync(path.join(bin, "docker"), "#!/bin/sh\necho asked the daemon >&2\nexit 9\n");
    chmodSync(path.join(bin, "systemctl"), 0o755);
    chmodSync(path.join(bin, "docker"), 0o755);
    return bin;
  }

  /** The record the recorder writes for this engine (facts in ENGINE_FACT_FORMATS order). */
  const recordOf = (pid: string, info: Record<string, unknown>) => {
    const comps = ((VERSION["Server"] as Record<string, unknown>)["Components"] as Array<Record<string, unknown>>) ?? [];
    const comp = (n: string) => String(comps.find((c) => c["Name"] === n)?.["Version"] ?? "");
    return `pid ${pid}\n${[info["ServerVersion"], info["Driver"], info["CgroupDriver"], info["LiveRestoreEnabled"], info["LoggingDriver"], comp("containerd"), comp("runc")].join("\n")}\n`;
  };

  it("reads the facts the daemon reported at its start, for the same PID, without asking it", () => {
    const rec = path.join(dir, "facts-same");
    writeFileSync(rec, recordOf("4242", INFO));
    expect(ENGINE_FACT_FORMATS.info).toHaveLength(5);
    const ok = runWithRecord(rec, recordBin("4242"));
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: "" });
    // A record that says vfs is drift, found without the daemon too.
    writeFileSync(rec, recordOf("4242", { ...INFO, Driver: "vfs" }));
    const drift = runWithRecord(rec, recordBin("4242"));
    expect({ status: drift.status, stderr: drift.stderr }).toEqual({ status: 1, stderr: "engine.verify: storage driver: expected overlay2, got vfs\n" });
  });

  it("the recorder (ExecStartPost) writes the record the verify script reads; start and reload remove it", () => {
    const facts = path.join(dir, "facts-recorded");
    const recorder = recordConfigScript({ recordPath: path.join(dir, "running-config"), daemonJson: path.join(dir, "daemon.json"), hostsDropIn: path.join(dir, "none"), factsPath: facts });
    const bin = fakeDocker(INFO, VERSION);
    const run = (mode: string) => spawnSync("sh", ["-c", recorder, "sh", mode], { env: { ...process.env, MAINPID: "5151", PATH: `${bin}:${process.env["PATH"]}` }, encoding: "utf8" });
    expect(run("facts").status).toBe(0);
    expect(readFileSync(facts, "utf8")).toBe(recordOf("5151", INFO));
    // What it wrote passes the verify script for dockerd 5151, with no daemon to ask.
    const r = runWithRecord(facts, recordBin("5151"));
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    for (const mode of ["reload", "start"]) {
      expect(run("facts").status).toBe(0);
      expect(run(mode).status).toBe(0);
      expect(existsSync(facts), mode).toBe(false);
    }
  });

  it("asks the daemon when the record is another daemon's (another PID), partial, or missing", () => {
    const rec = path.join(dir, "facts-other");
    writeFileSync(rec, recordOf("4242", INFO));
    for (const [name, setup] of [
      ["another PID", () => undefined],
      ["partial", () => writeFileSync(rec, recordOf("4243", INFO).split("\n").slice(0, 4).join("\n"))],
      ["missing", () => rmSync(rec, { force: true })],
    ] as const) {
      setup();
      const r = runWithRecord(rec, recordBin("4243"));
      // The fake docker refuses: asked, every fact reads its error or nothing.
      expect(r.status, name).toBe(1);
      expect(r.stderr, name).toContain("engine.verify: server version: expected 20.10.24, got asked the daemon");
    }
  });

  it("fails with the same messages as verifyEngineFacts", () => {
    const drifted = { ...INFO, ServerVersion: "20.10.5+dfsg1", Driver: "vfs", LiveRestoreEnabled: false };
    const r = runStep(EXPECTED, fakeDocker(drifted, VERSION));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(verifyEngineFacts(drifted, VERSION, EXPECTED).map((p) => `engine.verify: ${p}\n`).join(""));
    expect(r.stderr).toBe(
      "engine.verify: server version: expected 20.10.24, got 20.10.5\n" +
        "engine.verify: storage driver: expected overlay2, got vfs\n" +
        "engine.verify: live restore: expected true, got false\n",
    );
  });
});
