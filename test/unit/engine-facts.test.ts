// Does not prove the probe works on every Debian-family host: it maps parsed facts (the probe itself is tested in facts.test.ts) and checks them against bundles.
import { describe, expect, it } from "vitest";
import { parseResolvedApp } from "../../model/app";
import { parseEngineOptions } from "../../model/engine";
import { parseFacts, type HostFacts as ProbedFacts } from "../../provisioner/facts";
import { engineHostFacts, hostFactsProblems } from "../../provisioner/steps/engine-facts";
import { MANIFEST } from "./fixtures/engine-context";
import { FULL_FACTS } from "../helpers/facts-fixture";

// The shared Debian 12 fixture, with only the details these checks care about changed.
const GIB = 1024 ** 3;
const PROBED: ProbedFacts = { ...FULL_FACTS, diskFreeBytes: 1, memory: { totalBytes: 4 * GIB, availableBytes: 1 }, cpus: 4, engine: null };

describe("engine host facts", () => {
  it("picks what plans need from the one facts probe", () => {
    expect(engineHostFacts(PROBED)).toEqual({
      arch: "amd64",
      osId: "debian",
      osVersionId: "12",
      osCodename: "bookworm",
      cgroupVersion: 2,
      systemd: true,
      engineVersion: "20.10.24+dfsg1-1+deb12u1+b6",
      cpus: 4,
      memoryBytes: 4 * GIB,
    });
  });

  it("prefers dpkg's architecture name, falls back to uname's, and reads missing release fields as empty", () => {
    const armhf = { ...PROBED, arch: "unknown" as const, machine: "armv7l", dpkgArch: "armhf" };
    expect(engineHostFacts(armhf).arch).toBe("armhf");
    const bare = { ...PROBED, dpkgArch: null, os: { id: "arch", versionId: null, prettyName: "Arch", codename: null }, cgroup: "v1" as const, systemdBooted: false, enginePackage: null, cpus: null };
    expect(engineHostFacts(bare)).toEqual({ arch: "amd64", osId: "arch", osVersionId: "", osCodename: "", cgroupVersion: 1, systemd: false, engineVersion: null, cpus: null, memoryBytes: 4 * GIB });
  });

  it("maps a whole probe output (the same text `longshore facts` reads)", () => {
    const out = [
      "@@longshore-facts:os-release@@", 'ID=debian', 'VERSION_ID="12"', "VERSION_CODENAME=bookworm",
      "@@longshore-facts:uname-m@@", "x86_64",
      "@@longshore-facts:uname-r@@", "6.1.0",
      "@@longshore-facts:cgroup@@", "tmpfs",
      "@@longshore-facts:init@@", "systemd",
      "@@longshore-facts:systemd@@", "yes",
      "@@longshore-facts:dpkg-arch@@", "amd64",
      "@@longshore-facts:engine-package@@",
      "@@longshore-facts:df@@", "Avail", "100",
      "@@longshore-facts:meminfo@@", "MemTotal: 2 kB", "MemAvailable: 1 kB",
      "@@longshore-facts:cpus@@", "2",
      "@@longshore-facts:docker@@", "absent",
      "@@longshore-facts:end@@", "",
    ].join("\n");
    expect(engineHostFacts(parseFacts(out, "web-1"))).toEqual({
      arch: "amd64",
      osId: "debian",
      osVersionId: "12",
      osCodename: "bookworm",
      cgroupVersion: 1,
      systemd: true,
      engineVersion: null,
      cpus: 2,
      memoryBytes: 2048,
    });
  });

  it("lists what makes a host unfit for a bundle before anything runs", () => {
    const bundle = { dir: "/b", manifest: MANIFEST };
    const facts = { arch: "arm64", osId: "ubuntu", osVersionId: "24.04", osCodename: "noble", cgroupVersion: 2 as const, systemd: false, engineVersion: null, cpus: 4, memoryBytes: 4 * GIB };
    expect(hostFactsProblems(facts, { engine: parseEngineOptions({}), bundle })).toEqual([
      "systemd is not running as PID 1 (the engine runs as systemd units)",
      "host architecture is arm64; the engine bundle is for amd64",
      "host runs ubuntu; the engine bundle is for debian",
      "host release is noble; the engine bundle is for bookworm",
    ]);
    expect(hostFactsProblems({ ...facts, systemd: true }, { engine: parseEngineOptions({ channel: "distro" }), bundle: null })).toEqual([]);
  });

  it("refuses an app that asks for more CPUs or memory than the host has", () => {
    const engine = parseEngineOptions({ channel: "distro" });
    const facts = engineHostFacts(PROBED);
    const app = (resources: Record<string, unknown>) => parseResolvedApp({ name: "web", image: "web:1", resources });
    expect(hostFactsProblems(facts, { engine, bundle: null, app: app({ cpus: 8, memory: "8g" }) })).toEqual([
      "app.resources.cpus is 8; the host has 4 CPUs",
      "app.resources.memory is 8g; the host has 4096 MiB",
    ]);
    expect(hostFactsProblems({ ...facts, cpus: 1, systemd: false }, { engine, bundle: null, app: app({ cpus: 1.5 }) })).toEqual([
      "app.resources.cpus is 1.5; the host has 1 CPU",
      "systemd is not running as PID 1 (the engine runs as systemd units)",
    ]);
    // Exactly what the host has fits; a host that does not say how many CPUs it has is not refused for them.
    expect(hostFactsProblems(facts, { engine, bundle: null, app: app({ cpus: 4, memory: "4g" }) })).toEqual([]);
    expect(hostFactsProblems({ ...facts, cpus: null }, { engine, bundle: null, app: app({ cpus: 64 }) })).toEqual([]);
    expect(hostFactsProblems(facts, { engine, bundle: null, app: app({ memory: "4097m" }) })).toEqual(["app.resources.memory is 4097m; the host has 4096 MiB"]);
    expect(hostFactsProblems(facts, { engine, bundle: null, app: app({}) })).toEqual([]);
  });
});
