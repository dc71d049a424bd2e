// Does not prove: that an SSH client accepts these files against a live sshd (the e2e machines test does).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderInventory, renderKnownHosts, sshTargets } from "../../drivers/local/inventory";
import { ensureKeyPair, fingerprintOf, knownHostsLine } from "../../drivers/local/ssh-keys";
import { newEnvState, type EnvState } from "../../drivers/local/state";

function state(): EnvState {
  const s = newEnvState({ env: "demo", stateDir: "/s/demo", sharedDir: "/s", bridge: "longshore0", subnet: "10.213.47.0/24", gateway: "10.213.47.1", now: new Date(0) });
  const m = (i: number, phase: "intent" | "running") => ({
    name: `demo-${i}`, nspawnName: `ls-47-${9 + i}`, address: `10.213.47.${9 + i}`, phase, dir: "/d", rootDir: "/d/r", upperDir: "/d/u", workDir: "/d/w",
    dockerDir: "/d/k", logFile: "/d/l", overlayMounted: true, binds: [], cgroups: [], veth: `vb-ls-47-${9 + i}`,
    ...(phase === "running" ? { hostKey: { publicKey: `ssh-ed25519 AAAAkey${i} root@demo-${i}`, fingerprint: `SHA256:fp${i}` } } : {}),
  });
  return { ...s, clientKey: { privatePath: "/s/demo/id_ed25519", publicPath: "/s/demo/id_ed25519.pub", fingerprint: "SHA256:c" }, knownHostsFile: "/s/demo/known_hosts", machines: [m(1, "running"), m(2, "running"), m(3, "intent")] };
}

describe("inventory output", () => {
  it("lists reachable machines with pinned host keys in the inventory format", () => {
    const text = renderInventory(state());
    expect(parse(text)).toEqual({
      hosts: {
        "demo-1": { address: "10.213.47.10", port: 22, user: "root", identity: "/s/demo/id_ed25519", hostKey: "SHA256:fp1" },
        "demo-2": { address: "10.213.47.11", port: 22, user: "root", identity: "/s/demo/id_ed25519", hostKey: "SHA256:fp2" },
      },
    });
    expect(renderKnownHosts(state())).toBe("10.213.47.10 ssh-ed25519 AAAAkey1\n10.213.47.11 ssh-ed25519 AAAAkey2\n");
    expect(sshTargets(state())[1]).toEqual({
      name: "demo-2", address: "10.213.47.11", port: 22, user: "root", auth: { privateKeyFile: "/s/demo/id_ed25519" },
      hostKey: { fingerprints: ["SHA256:fp2"], knownHostsFile: "/s/demo/known_hosts" }, sudo: false,
    });
    expect(knownHostsLine("10.0.0.1", 2222, "ssh-ed25519 AAAA c")).toBe("[10.0.0.1]:2222 ssh-ed25519 AAAA");
  });
});

describe("SSH keys", () => {
  it("generates an ed25519 pair 0600 and computes the same fingerprint as ssh-keygen -lf", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-keys-"));
    const k = await ensureKeyPair(path.join(dir, "id_ed25519"), "test");
    expect(fs.statSync(k.privatePath).mode & 0o777).toBe(0o600);
    const lf = execFileSync("ssh-keygen", ["-lf", k.publicPath], { encoding: "utf8" }).split(" ")[1];
    expect(k.fingerprint).toBe(lf);
    expect(fingerprintOf(k.publicKey)).toBe(lf);
    // Reused on a second call, replaced when asked.
    expect((await ensureKeyPair(k.privatePath, "test")).fingerprint).toBe(k.fingerprint);
    expect((await ensureKeyPair(k.privatePath, "test", true)).fingerprint).not.toBe(k.fingerprint);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
