// Does not prove: how a real non-root user or a non-Linux computer fails end to end (the decision is tested over injected facts).
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { upMachineGroup } from "../../drivers/local/machine-group";
import { preconditionProblems, UP_TOOLS } from "../../drivers/local/preconditions";

describe("preconditionProblems", () => {
  const all = new Set(UP_TOOLS.map((t) => t.command));
  it("passes when root on Linux has every tool", () => {
    expect(preconditionProblems({ platform: "linux", uid: 0, present: all })).toEqual([]);
  });
  it("names the Debian package of each missing tool and asks for root", () => {
    const present = new Set([...all].filter((c) => !["systemd-nspawn", "debootstrap", "haproxy"].includes(c)));
    expect(preconditionProblems({ platform: "linux", uid: 1000, present })).toEqual([
      "run as root (sudo longshore local ...): machines need mounts, cgroups, a bridge and iptables",
      'systemd-nspawn not found: install the Debian package "systemd-container" (it boots the machines)',
      `debootstrap not found: install the Debian package "debootstrap" (it builds the machines' root filesystem)`,
      'haproxy not found: install the Debian package "haproxy" (it is the local load balancer)',
    ]);
  });
  it("says what to use instead on another operating system", () => {
    expect(preconditionProblems({ platform: "darwin", uid: 501, present: all })).toEqual([
      "local machines need Linux with systemd-nspawn (this is darwin); use the aws driver instead",
    ]);
  });
});

describe("upMachineGroup input validation", () => {
  it("reports every bad option with its path before touching the computer", async () => {
    const err = await upMachineGroup({ env: "Bad_Name", machines: 0, subnet: "8.8.8.0/24", bridge: "x".repeat(16), skipPreconditions: true, paths: { cacheDir: "/nonexistent/c", libDir: "/nonexistent/l", sharedDir: "/nonexistent/s", stateRoot: "/nonexistent/r" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([
      { path: "--env", message: "must be lower-case letters, digits and '-', starting with a letter, at most 24 characters" },
      { path: "--machines", message: "must be a whole number from 1 to 100 (got 0)" },
      { path: "--bridge", message: "an interface name of at most 15 characters" },
      { path: "--subnet", message: "8.8.8.0/24 is not a private (RFC 1918) network" },
    ]);
  });
});
