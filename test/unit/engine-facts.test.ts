// Does not prove the probe works on every Debian-family host: it runs it on this controller (Debian 12) and parses captured outputs.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PreconditionError } from "../../core/errors";
import { parseEngineOptions } from "../../config/engine";
import { hostFactsProbe, hostFactsProblems, parseHostFacts } from "../../provisioner/steps/engine-facts";
import { renderTemplate } from "../../templates/render";
import { MANIFEST } from "./fixtures/engine-context";

describe("host facts", () => {
  it("the probe is one unprivileged sh command", () => {
    expect(hostFactsProbe()).toEqual({ argv: ["sh", "-c", renderTemplate("engine/facts.sh", { enginePackages: ["docker.io", "docker-ce"] })] });
  });

  it("parses a bookworm host with docker.io installed", () => {
    const out = "arch=amd64\nos_id=debian\nos_version_id=12\nos_codename=bookworm\ncgroup=2\nsystemd=yes\nengine=docker.io 20.10.24+dfsg1-1+deb12u1+b6\n";
    expect(parseHostFacts(out, "web-1")).toEqual({
      arch: "amd64",
      osId: "debian",
      osVersionId: "12",
      osCodename: "bookworm",
      cgroupVersion: 2,
      systemd: true,
      engineVersion: "20.10.24+dfsg1-1+deb12u1+b6",
    });
  });

  it("names the host and every fact it could not read", () => {
    expect(() => parseHostFacts("arch=\nos_id=\ncgroup=1\n", "web-2")).toThrow(PreconditionError);
    expect(() => parseHostFacts("arch=\nos_id=\ncgroup=1\n", "web-2")).toThrow("web-2: could not determine arch, os_id, systemd (is this a Debian-family Linux host?)");
  });

  it("reads this controller correctly (real sh, /etc/os-release, dpkg)", () => {
    const probe = hostFactsProbe();
    const r = spawnSync(probe.argv[0] as string, probe.argv.slice(1) as string[], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const facts = parseHostFacts(r.stdout, "controller");
    const osRelease = readFileSync("/etc/os-release", "utf8");
    expect(facts.arch).toBe(execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim());
    expect(facts.osId).toBe(/^ID=(.*)$/m.exec(osRelease)?.[1]);
    expect(facts.osCodename).toBe(/^VERSION_CODENAME=(.*)$/m.exec(osRelease)?.[1]);
    // This computer: cgroup v1 hybrid, PID 1 is not systemd, docker.io installed (brief).
    expect(facts.cgroupVersion).toBe(1);
    expect(facts.systemd).toBe(false);
    expect(facts.engineVersion).toBe(execFileSync("dpkg-query", ["-W", "-f", "${Version}", "docker.io"], { encoding: "utf8" }));
  });

  it("lists what makes a host unfit for a bundle before anything runs", () => {
    const bundle = { dir: "/b", manifest: MANIFEST };
    const facts = { arch: "arm64", osId: "ubuntu", osVersionId: "24.04", osCodename: "noble", cgroupVersion: 2 as const, systemd: false, engineVersion: null };
    expect(hostFactsProblems(facts, { engine: parseEngineOptions({}), bundle })).toEqual([
      "systemd is not running as PID 1 (the engine runs as systemd units)",
      "host architecture is arm64; the engine bundle is for amd64",
      "host runs ubuntu; the engine bundle is for debian",
      "host release is noble; the engine bundle is for bookworm",
    ]);
    expect(hostFactsProblems({ ...facts, systemd: true }, { engine: parseEngineOptions({ channel: "distro" }), bundle: null })).toEqual([]);
  });
});
