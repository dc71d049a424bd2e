// Does not prove: that systemd-nspawn accepts these flags or boots (test/e2e/local-machines.test.ts does).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { nspawnArgv, nspawnMachineName, spawnScript, vethName } from "../../drivers/local/nspawn";

describe("nspawnArgv", () => {
  it("builds the measured flag set in a fixed order", () => {
    expect(
      nspawnArgv({ machineName: "ls-47-10", root: "/m/root", bridge: "longshore0", dockerDir: "/m/docker", binds: ["/a:/b"] }),
    ).toEqual([
      "systemd-nspawn",
      "--boot",
      "--register=no",
      "--keep-unit",
      "--console=passive",
      "-M",
      "ls-47-10",
      "-D",
      "/m/root",
      "--network-veth",
      "--network-bridge=longshore0",
      "--bind=/m/docker:/var/lib/docker",
      "--bind=/a:/b",
      "--system-call-filter=@keyring",
    ]);
  });
});

describe("machine and veth names", () => {
  it("derives a short unique name from the address so the veth fits 15 characters", () => {
    expect(nspawnMachineName("10.213.47.10")).toBe("ls-47-10");
    expect(vethName(nspawnMachineName("10.213.255.254"))).toBe("vb-ls-255-254");
    expect(vethName(nspawnMachineName("172.31.255.254")).length).toBeLessThanOrEqual(15);
  });
});

describe("spawnScript (run by a real sh)", () => {
  it("joins every cgroup with the shell's own PID, then execs the argv with quoting intact", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-spawn-"));
    const groups = ["cpu x", "memory"].map((g) => path.join(dir, g));
    for (const g of groups) fs.mkdirSync(g);
    const script = spawnScript(groups, ["sh", "-c", 'echo "pid=$$ arg=$1"', "sh", "it's a $HOME `x`"]);
    const out = execFileSync("sh", ["-c", script], { encoding: "utf8" });
    const m = /^pid=(\d+) arg=(.*)$/.exec(out.trim());
    expect(m?.[2]).toBe("it's a $HOME `x`");
    // exec keeps the PID: the PID written to each cgroup is the PID of the exec'd program.
    for (const g of groups) expect(fs.readFileSync(path.join(g, "cgroup.procs"), "utf8").trim()).toBe(m?.[1]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("exits 97 without exec'ing when a cgroup cannot be joined", () => {
    let status: number | null = null;
    try {
      execFileSync("sh", ["-c", spawnScript(["/nonexistent/cg"], ["echo", "ran"])], { stdio: "pipe" });
    } catch (e) {
      status = (e as { status: number }).status;
    }
    expect(status).toBe(97);
  });
});
