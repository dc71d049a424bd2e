// Facts parsers on fixture text, and the facts script run by this machine's own /bin/sh: does NOT prove it over SSH or on other distributions.
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statfsSync } from "node:fs";
import * as os from "node:os";
import { CommandFailedError } from "../../core/errors";
import {
  FACTS_SCRIPT,
  FactsError,
  gatherFacts,
  parseArch,
  parseCgroupVersion,
  parseCpus,
  parseDfAvail,
  parseEngine,
  parseEnginePackage,
  parseFacts,
  parseInit,
  parseMeminfo,
  parseOsRelease,
  splitSections,
} from "../../provisioner/facts";
import { FakeTransport } from "../helpers/fake-transport";
import { DEBIAN_OS_RELEASE, FULL_FACTS, FULL_FACTS_OUTPUT, MEMINFO, factsOutput } from "../helpers/facts-fixture";

const DEBIAN = DEBIAN_OS_RELEASE;
const UBUNTU = `NAME="Ubuntu"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME='Ubuntu 22.04.4 LTS'
VERSION_ID="22.04"
`;
const ARCH_LINUX = `NAME="Arch Linux"
PRETTY_NAME="Arch \\"rolling\\" Linux"
ID=arch
BUILD_ID=rolling
`;
const output = factsOutput;
/** The shared Debian 12 output with the cpus section the probe prints after meminfo (4 CPUs). */
const FULL = FULL_FACTS_OUTPUT.replace("\n@@longshore-facts:docker@@", "\n@@longshore-facts:cpus@@\n4\n\n@@longshore-facts:docker@@");
const FULL_PARSED = { ...FULL_FACTS, cpus: 4 };

describe("facts parsers", () => {
  it.each([
    [DEBIAN, { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", codename: "bookworm" }],
    [UBUNTU, { id: "ubuntu", versionId: "22.04", prettyName: "Ubuntu 22.04.4 LTS", codename: null }],
    [ARCH_LINUX, { id: "arch", versionId: null, prettyName: 'Arch "rolling" Linux', codename: null }],
    ["", { id: "linux", versionId: null, prettyName: "Linux", codename: null }],
    ["# comment\n\nID=alpine\nVERSION_ID=3.19.1\n", { id: "alpine", versionId: "3.19.1", prettyName: "Linux", codename: null }],
  ])("reads os-release %#", (text, expected) => {
    expect(parseOsRelease(text)).toEqual(expected);
  });

  it.each([
    ["x86_64\n", { arch: "amd64", machine: "x86_64" }],
    ["aarch64\n", { arch: "arm64", machine: "aarch64" }],
    ["arm64", { arch: "arm64", machine: "arm64" }],
    ["armv7l\n", { arch: "unknown", machine: "armv7l" }],
    ["riscv64\n", { arch: "unknown", machine: "riscv64" }],
  ])("maps uname -m %j", (text, expected) => {
    expect(parseArch(text)).toEqual(expected);
  });

  it("reads the cgroup version and the init system", () => {
    expect([parseCgroupVersion("cgroup2fs\n"), parseCgroupVersion("tmpfs\n"), parseCgroupVersion("")]).toEqual(["v2", "v1", "v1"]);
    expect(parseInit("systemd\n")).toEqual({ init: "systemd", initProcess: "systemd" });
    expect(parseInit("process_api\n")).toEqual({ init: "other", initProcess: "process_api" });
  });

  it("reads free disk space from GNU and POSIX df", () => {
    expect(parseDfAvail("       Avail\n84649213952\n")).toBe(84649213952);
    expect(parseDfAvail("Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda1        41152736 9123456  30000000      24% /\n")).toBe(30000000 * 1024);
    expect(() => parseDfAvail("df: /: No such file\n")).toThrow(FactsError);
  });

  it("reads memory in bytes and refuses a meminfo without MemAvailable", () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalBytes: 24684084 * 1024, availableBytes: 24207884 * 1024 });
    expect(() => parseMeminfo("MemTotal: 1 kB\n")).toThrow("cannot read MemAvailable from /proc/meminfo");
  });

  it.each([
    ["4\n", 4],
    [" 16 \n", 16],
    ["1", 1],
    ["", null],
    [undefined, null],
    ["0\n", null],
    ["-2\n", null],
    ["2.5\n", null],
    ["nproc: not found\n", null],
  ])("reads nproc's answer %j as %j", (text, expected) => {
    expect(parseCpus(text)).toBe(expected);
  });

  it("tells an absent engine from a stopped one", () => {
    expect(parseEngine("absent\n")).toBeNull();
    expect(parseEngine("cli\n")).toEqual({ name: "docker", version: null });
    expect(parseEngine("cli\n24.0.7\n")).toEqual({ name: "docker", version: "24.0.7" });
    expect(parseEngine("cli\n20.10.24+dfsg1\n")).toEqual({ name: "docker", version: "20.10.24+dfsg1" });
  });

  it("reads the installed engine package, preferring docker.io, ignoring removed ones", () => {
    expect(parseEnginePackage("docker.io ii 20.10.24+dfsg1-1+deb12u1+b6\n")).toEqual({ name: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6" });
    expect(parseEnginePackage("docker.io rc 20.10.24+dfsg1-1\ndocker-ce ii 5:27.3.1-1~debian.12~bookworm\n")).toEqual({ name: "docker-ce", version: "5:27.3.1-1~debian.12~bookworm" });
    expect(parseEnginePackage("docker.io un \n")).toBeNull();
    expect(parseEnginePackage("")).toBeNull();
  });

  it("splits sections without mixing neighbours", () => {
    const s = splitSections(output({ a: "one\n", b: "", c: "three\nlines\n", end: "" }));
    expect([...s.entries()]).toEqual([
      ["a", "one\n"],
      ["b", ""],
      ["c", "three\nlines\n"],
      ["end", ""],
    ]);
  });

  it("parses a whole facts output into exact values", () => {
    expect(FULL).not.toBe(FULL_FACTS_OUTPUT);
    expect(parseFacts(FULL, "web-1")).toEqual(FULL_PARSED);
    expect(FULL_FACTS.memory).toEqual({ totalBytes: 24684084 * 1024, availableBytes: 24207884 * 1024 });
  });

  it("reads an output without a cpus section (an older probe) or with an empty one as CPUs unknown", () => {
    expect(parseFacts(FULL_FACTS_OUTPUT, "web-1")).toEqual({ ...FULL_FACTS, cpus: null });
    const empty = FULL.replace("@@longshore-facts:cpus@@\n4\n", "@@longshore-facts:cpus@@\n");
    expect(parseFacts(empty, "web-1")).toEqual({ ...FULL_FACTS, cpus: null });
  });

  it("the script asks nproc, with getconf as the fallback, right after meminfo", () => {
    const lines = FACTS_SCRIPT.split("\n");
    const cpus = lines.indexOf("m cpus; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null");
    expect(cpus).toBe(lines.findIndex((l) => l.startsWith("m meminfo;")) + 1);
  });

  it("names what is missing in a truncated or foreign output", () => {
    expect(() => parseFacts(FULL.slice(0, FULL.indexOf("@@longshore-facts:end")), "web-1")).toThrow("web-1: facts output was cut short");
    expect(() => parseFacts(output({ "os-release": "", "uname-m": "", end: "" }), "web-1")).toThrow(
      "web-1: facts output has no uname-m section (is this a Linux host with coreutils?)",
    );
  });
});

describe("gatherFacts", () => {
  it("makes exactly one exec and parses its output", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^sh -c /, result: { stdout: FULL } }] });
    const facts = await gatherFacts(t);
    expect(facts).toEqual(FULL_PARSED);
    expect(t.calls.length).toBe(1);
    expect(t.calls[0]).toMatchObject({ kind: "exec", options: { timeoutMs: 30000 } });
  });

  it("turns a failed script into a CommandFailedError", async () => {
    const t = new FakeTransport("web-1", { rules: [{ match: /^sh -c /, result: { exitCode: 127, stderr: "sh: not found" } }] });
    const err = await gatherFacts(t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    expect((err as Error).message).toBe(
      `web-1: facts.gather (facts): \`sh -c <facts script, ${FACTS_SCRIPT.length} bytes>\` exited 127\n    sh: not found`,
    );
  });

  it("the real script, run by this machine's /bin/sh, yields this machine's facts", () => {
    const r = spawnSync("/bin/sh", ["-c", FACTS_SCRIPT], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const facts = parseFacts(r.stdout, "localhost");
    const osRelease = readFileSync("/etc/os-release", "utf8");
    const comm = readFileSync("/proc/1/comm", "utf8").trim();
    const CGROUP2_SUPER_MAGIC = 0x63677270;
    expect({
      os: facts.os,
      machine: facts.machine,
      kernel: facts.kernel,
      cgroup: facts.cgroup,
      initProcess: facts.initProcess,
      totalBytes: facts.memory.totalBytes,
      cpus: facts.cpus,
    }).toEqual({
      os: parseOsRelease(osRelease),
      machine: os.machine(),
      kernel: os.release(),
      cgroup: statfsSync("/sys/fs/cgroup").type === CGROUP2_SUPER_MAGIC ? "v2" : "v1",
      initProcess: comm,
      totalBytes: os.totalmem(),
      cpus: Number(execFileSync("nproc", { encoding: "utf8" }).trim()),
    });
    // This computer (brief): Debian with dpkg, PID 1 is not systemd, Debian's docker.io installed.
    expect(facts.dpkgArch).toBe(execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim());
    expect(facts.systemdBooted).toBe(existsSync("/run/systemd/system"));
    expect(facts.enginePackage).toEqual({ name: "docker.io", version: execFileSync("dpkg-query", ["-W", "-f", "${Version}", "docker.io"], { encoding: "utf8" }) });
    expect(facts.diskFreeBytes).toBeGreaterThan(0);
    expect(facts.memory.availableBytes).toBeGreaterThan(0);
  });
});
