// Unit: reading a host's container engine for `status`: the parsers of `docker info` and `docker
// system df` (model/engine-report.ts) on output captured from real engines, the one remote command
// (provisioner/engine-inspect.ts) run through a real `sh` with a scripted `docker`, the local
// driver's one connection per host (drivers/local/engine-states.ts) with a fake transport, and how
// `status` prints and serialises it. Does not prove a real machine answers this way (the
// status-prune e2e compares with docker's own output there), nor the aws driver (it reads no engine).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { statusText } from "../../cli/environment-verbs";
import type { CliDeps } from "../../cli/deps";
import { main } from "../../cli/main";
import { systemSecretReader } from "../../core/secret-reader";
import { fakeDriver } from "../helpers/fake-slot-driver";
import { readFile } from "node:fs/promises";
import { HostKeyError, TransportError } from "../../core/errors";
import { diskBytesOf, parseDockerInfo, parseEngineSize, parseSystemDf } from "../../model/engine-report";
import { parseEnvironment } from "../../model/environment-file";
import type { SshTarget } from "../../model/ssh-target";
import { engineStateOf, ENGINE_STATE_CONNECT_OPTIONS } from "../../drivers/local/engine-states";
import { ENGINE_INSPECT_FORMAT, ENGINE_INSPECT_SCRIPT, engineInspectCommand, parseEngineInspection } from "../../provisioner/engine-inspect";
import type { EngineState, EnvironmentHost } from "../../rollout/driver";
import { LocalSlotDriver, type LocalSlotDriverOptions, type SlotState } from "../../drivers/local/slot-driver";
import { DEFAULT_HEALTH } from "../../model/health";
import { FakeTransport } from "../helpers/fake-transport";

const fixture = (name: string) => readFileSync(path.join(__dirname, "fixtures", name), "utf8");
/** `docker info` of a Debian 12 engine (20.10), and the inspection command's output on a private dockerd (20.10). */
const INFO_TEXT = fixture("engine-docker-20.10-info.json");
const INSPECT_TEXT = fixture("engine-inspect-docker-20.10.txt");
/** What Debian 12's client prints when no engine answers on the socket (exit 0). */
const NO_DAEMON = '{"ServerErrors":["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"],"ClientInfo":{"Debug":false,"Context":"default","Plugins":[],"Warnings":null}}';

const tmp = mkdtempSync(path.join(os.tmpdir(), "ls-engine-inspect-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DF_ROWS = [
  { type: "Images", totalCount: 2, active: 2, size: "1.984MB", sizeBytes: 1_984_000, reclaimable: "1.984MB (99%)", reclaimableBytes: 1_984_000 },
  { type: "Containers", totalCount: 2, active: 1, size: "0B", sizeBytes: 0, reclaimable: "0B", reclaimableBytes: 0 },
  { type: "Local Volumes", totalCount: 0, active: 0, size: "0B", sizeBytes: 0, reclaimable: "0B", reclaimableBytes: 0 },
  { type: "Build Cache", totalCount: 0, active: 0, size: "0B", sizeBytes: 0, reclaimable: "0B", reclaimableBytes: 0 },
];

describe("the engine's sizes", () => {
  it.each<[string, number | null]>([
    ["0B", 0],
    ["3B", 3],
    ["2.052kB", 2052],
    ["1.984MB", 1_984_000],
    ["75MB (50%)", 75_000_000],
    ["1.2GB (100%)", 1_200_000_000],
    ["999.9kB", 999_900],
    ["3.5TB", 3_500_000_000_000],
    ["12KB", 12_000],
    ["1.5 GiB", null],
    ["", null],
    ["N/A", null],
  ])("%j is %j bytes (decimal units, as Go's units.HumanSize prints them)", (text, bytes) => {
    expect(parseEngineSize(text)).toBe(bytes);
  });
});

describe("docker info and docker system df", () => {
  it("reads the fields status shows from a real `docker info` (every other field left alone)", () => {
    expect(parseDockerInfo(INFO_TEXT)).toEqual({
      ok: true,
      value: { serverVersion: "20.10.24+dfsg1", storageDriver: "overlay2", cgroupDriver: "cgroupfs", cgroupVersion: "1", containers: 1, containersRunning: 1, images: 1 },
    });
  });

  it("reads Debian 13's engine (26.1, on a local machine) and its `docker system df` the same way", () => {
    expect(parseDockerInfo(fixture("engine-docker-26.1-info.json"))).toEqual({
      ok: true,
      value: { serverVersion: "26.1.5+dfsg1", storageDriver: "overlay2", cgroupDriver: "cgroupfs", cgroupVersion: "1", containers: 1, containersRunning: 1, images: 1 },
    });
    expect(parseSystemDf(fixture("engine-docker-26.1-system-df.jsonl"))).toEqual({
      ok: true,
      value: [
        { type: "Images", totalCount: 1, active: 1, size: "1.983MB", sizeBytes: 1_983_000, reclaimable: "0B (0%)", reclaimableBytes: 0 },
        ...DF_ROWS.slice(1).map((r) => ({ ...r, totalCount: r.type === "Containers" ? 1 : 0 })),
      ],
    });
  });

  it("an engine that did not answer is its client's own message; a field missing names the field", () => {
    expect(parseDockerInfo(NO_DAEMON)).toEqual({ ok: false, message: "docker info: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" });
    expect(parseDockerInfo('{"ServerVersion":"26.1.5","Driver":"overlay2","CgroupDriver":"systemd","Containers":1,"Images":2}')).toEqual({
      ok: false,
      message: "docker info: ContainersRunning: Invalid input: expected number, received undefined",
    });
    expect(parseDockerInfo("WARNING: no swap")).toMatchObject({ ok: false, message: expect.stringMatching(/^docker info's output is not JSON/) });
  });

  it("reads every row of a real `docker system df`, keeping the engine's strings beside the bytes", () => {
    const text = INSPECT_TEXT.split("@@longshore-engine:df@@\n")[1]!.split("\n\n@@")[0]!;
    expect(parseSystemDf(text)).toEqual({ ok: true, value: DF_ROWS });
    expect(diskBytesOf(DF_ROWS, "Images")).toBe(1_984_000);
    expect(diskBytesOf(DF_ROWS, "Nothing")).toBe(0);
  });

  it("a row with a size it cannot read is an error naming the line and field; no rows at all is one too", () => {
    expect(parseSystemDf('{"Active":"0","Reclaimable":"0B","Size":"huge","TotalCount":"0","Type":"Images"}')).toEqual({ ok: false, message: 'docker system df, line 1: Size: not a size: "huge"' });
    expect(parseSystemDf('{"Active":"x","Reclaimable":"0B","Size":"0B","TotalCount":"0","Type":"Images"}')).toEqual({ ok: false, message: "docker system df, line 1: Active: must be a whole number" });
    expect(parseSystemDf("\n")).toEqual({ ok: false, message: "docker system df printed nothing" });
  });
});

describe("the inspection command", () => {
  it("is one sh -c as root: docker info then docker system df, each under its marker with its exit code", () => {
    expect(engineInspectCommand()).toEqual({ argv: ["sh", "-c", ENGINE_INSPECT_SCRIPT, "sh", "{{json .}}"], sudo: true, timeoutMs: 40_000 });
    expect(ENGINE_INSPECT_FORMAT).toBe("{{json .}}");
  });

  it("parses what it printed on a real engine", () => {
    const r = parseEngineInspection(INSPECT_TEXT);
    expect(r.problems).toEqual([]);
    expect(r.engine).toEqual({ serverVersion: "20.10.24+dfsg1", storageDriver: "overlay2", cgroupDriver: "cgroupfs", cgroupVersion: "1", containers: 2, containersRunning: 1, images: 2 });
    expect(r.disk).toEqual(DF_ROWS);
  });

  /** Runs the script through a real sh with `docker` answering as `body` says (each call's argv recorded). */
  function runScript(body: string): { stdout: string; argv: string[] } {
    const bin = mkdtempSync(path.join(tmp, "bin-"));
    const log = path.join(bin, "argv.log");
    writeFileSync(path.join(bin, "docker"), `#!/bin/sh\nprintf '%s|' "$@" >> ${log}; echo >> ${log}\n${body}\n`);
    chmodSync(path.join(bin, "docker"), 0o755);
    const stdout = execFileSync("/bin/sh", ["-c", ENGINE_INSPECT_SCRIPT, "sh", ENGINE_INSPECT_FORMAT], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: "utf8" });
    return { stdout, argv: readFileSync(log, "utf8").trim().split("\n") };
  }

  it("runs `docker info --format {{json .}}` and `docker system df --format {{json .}}` and reads their output", () => {
    const info = INSPECT_TEXT.split("@@longshore-engine:info@@\n")[1]!.split("\n")[0]!;
    const df = INSPECT_TEXT.split("@@longshore-engine:df@@\n")[1]!.split("\n\n@@")[0]!;
    writeFileSync(path.join(tmp, "info.json"), `${info}\n`);
    writeFileSync(path.join(tmp, "df.jsonl"), `${df}\n`);
    const r = runScript(`case "$1" in info) cat ${tmp}/info.json ;; system) cat ${tmp}/df.jsonl ;; esac`);
    expect(r.argv).toEqual(["info|--format|{{json .}}|", "system|df|--format|{{json .}}|"]);
    expect(parseEngineInspection(r.stdout)).toEqual({ problems: [], engine: expect.objectContaining({ images: 2 }), disk: DF_ROWS });
  });

  it("one call failing does not hide the other: each problem says which call and how", () => {
    const r = runScript(`case "$1" in info) printf '%s\\n' '${NO_DAEMON}' ;; system) echo 'Cannot connect to the Docker daemon' >&2; exit 1 ;; esac`);
    expect(parseEngineInspection(r.stdout, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n")).toEqual({
      problems: [
        "docker info: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        "docker system df: exit 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
      ],
    });
    expect(parseEngineInspection("@@longshore-engine:info@@\n{}")).toEqual({
      problems: ["docker info: no answer (the command's output was cut short)", "docker system df: no answer (the command's output was cut short)"],
    });
    expect(parseEngineInspection("@@longshore-engine:info@@\n\n@@longshore-engine:info-exit:127@@\n@@longshore-engine:df@@\n\n@@longshore-engine:df-exit:124@@\n").problems).toEqual([
      "docker info: exit 127 (docker is not installed)",
      "docker system df: exit 124 (timed out)",
    ]);
  });
});

const TARGET: SshTarget = { name: "blue-1", address: "10.0.0.1", port: 22, user: "root", auth: { privateKeyFile: "/k" }, hostKey: { fingerprints: ["SHA256:pinned"] }, sudo: false };

describe("the local driver's engine states: one connection per host, the host key checked by it", () => {
  it("a matching key: the one command runs, then the connection closes", async () => {
    const t = new FakeTransport("blue-1", { rules: [{ match: /docker info/, result: { stdout: INSPECT_TEXT } }] });
    const options: unknown[] = [];
    const s = await engineStateOf({ name: "blue-1", address: "10.0.0.1", hostImage: "0123456789abcdef" }, TARGET, async (target, o) => {
      options.push([target.name, o]);
      return t;
    });
    expect(s).toEqual({
      host: "blue-1",
      hostImage: "0123456789abcdef",
      hostKey: { state: "match", detail: "presented SHA256:pinned" },
      engine: { serverVersion: "20.10.24+dfsg1", storageDriver: "overlay2", cgroupDriver: "cgroupfs", cgroupVersion: "1", containers: 2, containersRunning: 1, images: 2 },
      disk: DF_ROWS,
    });
    expect(options).toEqual([["blue-1", { connectDeadlineMs: 0, handshakeTimeoutMs: 5_000, commandTimeoutMs: 45_000 }]]);
    expect(ENGINE_STATE_CONNECT_OPTIONS).toEqual({ connectDeadlineMs: 0, handshakeTimeoutMs: 5_000, commandTimeoutMs: 45_000 });
    expect(t.log).toEqual([`exec: sh -c '${ENGINE_INSPECT_SCRIPT.replace(/'/g, "'\\''")}' sh '{{json .}}'`, "close"]);
  });

  it("a key that does not match: no command runs (there is no connection), the engine fields are absent, with the reason", async () => {
    const s = await engineStateOf({ name: "blue-1", address: "10.0.0.1" }, TARGET, async () => {
      throw new HostKeyError("blue-1", ["SHA256:pinned"], "SHA256:other");
    });
    expect(s).toEqual({ host: "blue-1", hostKey: { state: "mismatch", detail: "presented SHA256:other, pinned SHA256:pinned" }, reason: "not asked: its SSH host key does not match its pin" });
  });

  it("an unreachable host, a failing engine and a machine without a pin each say so", async () => {
    const down = await engineStateOf({ name: "blue-1", address: "10.0.0.1" }, TARGET, async () => {
      throw new TransportError("refused", "blue-1", "connecting to 10.0.0.1:22: connect ECONNREFUSED");
    });
    expect(down).toEqual({ host: "blue-1", hostKey: { state: "unreachable", detail: "blue-1: connecting to 10.0.0.1:22: connect ECONNREFUSED" }, reason: "not asked: blue-1: connecting to 10.0.0.1:22: connect ECONNREFUSED" });
    const t = new FakeTransport("blue-1", { rules: [{ match: /docker info/, result: { stdout: `@@longshore-engine:info@@\n${NO_DAEMON}\n@@longshore-engine:info-exit:0@@\n@@longshore-engine:df@@\n@@longshore-engine:df-exit:1@@\n`, stderr: "Cannot connect\n" } }] });
    const failing = await engineStateOf({ name: "blue-1", address: "10.0.0.1" }, TARGET, async () => t);
    expect(failing).toEqual({
      host: "blue-1",
      hostKey: { state: "match", detail: "presented SHA256:pinned" },
      reason: "docker info: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?; docker system df: exit 1: Cannot connect",
    });
    expect(await engineStateOf({ name: "blue-1", address: "10.0.0.1" }, undefined, async () => t)).toEqual({
      host: "blue-1",
      hostKey: { state: "unknown", detail: "no pinned host key recorded for this machine" },
      reason: "not asked: no pinned host key recorded for this machine",
    });
  });
});

describe("LocalSlotDriver: engineStates and sshHosts only when wired", () => {
  const state: SlotState = {
    generation: 3,
    live: "green",
    slots: {
      blue: { image: "demo:v1", group: "demo-blue-g1", hosts: [{ name: "demo-blue-g1-1", address: "10.0.0.1", hostImage: "0123456789abcdef" }], prepared: { image: null, group: "demo-blue-g3", hosts: [] } },
      green: { image: "demo:v2", group: "demo-green-g2", hosts: [{ name: "demo-green-g2-1", address: "10.0.0.2" }] },
    },
  };
  function driver(extra: Partial<LocalSlotDriverOptions>, calls: string[] = []) {
    const stateDir = mkdtempSync(path.join(tmp, "slots-"));
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, "slots.json"), JSON.stringify(state));
    const none = async () => {
      throw new Error("not in this test");
    };
    return new LocalSlotDriver({
      env: "demo",
      stateDir,
      hostPort: 8080,
      health: DEFAULT_HEALTH,
      url: "http://127.0.0.1:8080/",
      fleet: { create: none, destroy: none },
      provisioner: { prepare: none, provision: none },
      balancer: { setServers: none, activate: none },
      hostKeys: async (group) => {
        calls.push(`keys ${group}`);
        return [];
      },
      ...extra,
    });
  }

  it("without the options the driver has neither method (status then says engines were not read)", () => {
    const d = driver({});
    expect([d.engineStates, d.sshHosts]).toEqual([undefined, undefined]);
  });

  it("engineStates reads a slot's own hosts (not a rollout's prepared ones), nothing for an empty slot", async () => {
    const calls: string[] = [];
    const d = driver({
      engineStates: async (group, hosts) => {
        calls.push(`engines ${group} [${hosts.map((h) => `${h.name}${h.hostImage ? `@${h.hostImage}` : ""}`).join(",")}]`);
        return hosts.map((h) => ({ host: h.name, hostKey: { state: "match" as const, detail: "" } }));
      },
    }, calls);
    expect((await d.engineStates!("blue")).map((e) => e.host)).toEqual(["demo-blue-g1-1"]);
    expect(calls).toEqual(["engines demo-blue-g1 [demo-blue-g1-1@0123456789abcdef]"]);
  });

  it("sshHosts: both slots' machines, prepared ones marked, then the environment's other hosts (accessories)", async () => {
    const t = (name: string): SshTarget => ({ ...TARGET, name });
    const db: EnvironmentHost = { name: "demo-acc-db-1", role: "accessory", target: t("demo-acc-db-1") };
    const d = driver({ ssh: { targets: (group) => (group === "demo-blue-g3" ? [t("demo-blue-g3-1")] : [t(`${group}-1`)]), otherHosts: () => [db] } });
    expect((await d.sshHosts!()).map((h) => [h.name, h.role, h.prepared ?? false, h.target.name])).toEqual([
      ["demo-blue-g1-1", "blue", false, "demo-blue-g1-1"],
      ["demo-blue-g3-1", "blue", true, "demo-blue-g3-1"],
      ["demo-green-g2-1", "green", false, "demo-green-g2-1"],
      ["demo-acc-db-1", "accessory", false, "demo-acc-db-1"],
    ]);
  });
});

describe("status shows each host's engine", () => {
  const parsed = parseEnvironment("name: demo\napp: { name: demo, image: longshore-demo:v1 }\nslots: { blue: { image: longshore-demo:v1 } }\nlive: blue\n");
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const hosts = [
    { name: "blue-1", address: "10.0.0.1", image: "longshore-demo:v1", hostImage: "0123456789abcdef" },
    { name: "blue-2", address: "10.0.0.2", image: "longshore-demo:v1" },
  ];
  const status = { live: "blue" as const, url: "http://127.0.0.1:8080/", slots: { blue: { image: "longshore-demo:v1", hosts }, green: { image: null, hosts: [] } } };
  const engines: EngineState[] = [
    {
      host: "blue-1",
      hostKey: { state: "match", detail: "" },
      hostImage: "0123456789abcdef",
      engine: { serverVersion: "26.1.5+dfsg1", storageDriver: "overlay2", cgroupDriver: "systemd", cgroupVersion: "1", containers: 1, containersRunning: 1, images: 2 },
      disk: DF_ROWS,
    },
    { host: "blue-2", hostKey: { state: "mismatch", detail: "presented SHA256:x, pinned SHA256:y" }, reason: "not asked: its SSH host key does not match its pin" },
  ];

  it("a line for the engine and one for its disk under each host; a host not asked says why", () => {
    const keys = engines.map((e) => ({ host: e.host, ...e.hostKey }));
    expect(statusText(parsed.value, status, { blue: [], green: [] }, { blue: keys, green: [] }, { states: { blue: engines, green: [] } }).split("\n")).toEqual([
      "environment demo (local)  live: blue  url: http://127.0.0.1:8080/",
      "blue (live): longshore-demo:v1, 2 hosts",
      "  blue-1                   10.0.0.1        unknown                 host key ok  host image 0123456789abcdef",
      "      engine 26.1.5+dfsg1 (overlay2, cgroup driver systemd): 1 of 1 container running, 2 images",
      "      disk: images 1.984MB (1.984MB, 99% reclaimable), containers 0B, local volumes 0B, build cache 0B",
      "  blue-2                   10.0.0.2        unknown                 HOST KEY MISMATCH",
      "      engine not read: not asked: its SSH host key does not match its pin",
      "green: no image, 0 hosts",
      "warning: blue-2's SSH host key does not match its pin (presented SHA256:x, pinned SHA256:y): longshore will not connect to it; unless the host was rebuilt, treat this as an attack",
      "",
    ]);
  });

  it("a driver that reads no engine gets one line saying so (and none when there are no hosts)", () => {
    const keys = hosts.map((h) => ({ host: h.name, state: "unknown" as const, detail: "" }));
    const text = statusText(parsed.value, status, { blue: [], green: [] }, { blue: keys, green: [] }, { unavailable: "the aws driver does not read its hosts' engines" });
    expect(text.split("\n").slice(-2)).toEqual(["engines: not read (the aws driver does not read its hosts' engines)", ""]);
    const empty = { ...status, live: null, slots: { blue: { image: null, hosts: [] }, green: { image: null, hosts: [] } } };
    expect(statusText(parsed.value, empty, { blue: [], green: [] }, { blue: [], green: [] }, { unavailable: "x" })).not.toContain("engines:");
  });
});

describe("longshore status with a driver that reads engines", () => {
  it("asks each slot once (no separate host-key check): --json has engines, and hostKeys from the same connections", async () => {
    const cwd = mkdtempSync(path.join(tmp, "cli-"));
    writeFileSync(path.join(cwd, "longshore.yaml"), "name: demo\napp: { name: demo, image: longshore-demo:v1 }\n");
    const { driver, calls } = fakeDriver({ live: "blue", blue: "longshore-demo:v1", size: 1 }, (slot) => [{ host: `${slot}-1`, ok: true, status: 200, detail: "ok" }]);
    const asked: string[] = [];
    driver.engineStates = async (slot) => {
      asked.push(slot);
      return slot === "blue" ? [{ host: "blue-1", hostKey: { state: "match", detail: "presented SHA256:k" }, engine: { serverVersion: "26.1.5", storageDriver: "overlay2", cgroupDriver: "systemd", containers: 1, containersRunning: 1, images: 1 }, disk: DF_ROWS }] : [];
    };
    let stdout = "";
    const deps: CliDeps = {
      connect: async () => {
        throw new Error("no ssh in this test");
      },
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: () => true },
      env: {},
      cwd,
      homeDir: cwd,
      readFile: (p) => readFile(p, "utf8"),
      secretReader: systemSecretReader({}),
      startDemoSshd: async () => {
        throw new Error("no");
      },
      environmentDriver: async () => driver,
      destroyEnvironment: async () => [],
      operationLockDir: () => cwd,
      gitUserEmail: async () => null,
      userAtHost: () => "me@here",
    };
    expect(await main(["status", "--json"], deps)).toBe(0);
    const doc = JSON.parse(stdout);
    expect(asked.sort()).toEqual(["blue", "green"]);
    expect(calls.filter((c) => c.startsWith("keys"))).toEqual([]);
    expect(doc.hostKeys).toEqual({ blue: [{ host: "blue-1", state: "match", detail: "presented SHA256:k" }], green: [] });
    expect(doc.engines.blue[0].engine.serverVersion).toBe("26.1.5");
    expect(doc.engines.blue[0].disk).toEqual(DF_ROWS);
    stdout = "";
    expect(await main(["status"], deps)).toBe(0);
    expect(stdout.split("\n").slice(2, 5)).toEqual([
      "  blue-1                   10.0.0.0        healthy                 host key ok",
      "      engine 26.1.5 (overlay2, cgroup driver systemd): 1 of 1 container running, 1 image",
      "      disk: images 1.984MB (1.984MB, 99% reclaimable), containers 0B, local volumes 0B, build cache 0B",
    ]);
  });
});
