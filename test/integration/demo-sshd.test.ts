// The demo sshd against the real OpenSSH client (ssh, ssh-keyscan): does NOT prove the ssh2 transport, which has its own integration tests.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startDemoSshd, type DemoSshd } from "../../cli/demo-sshd";
import { renderCommand, shell } from "../../provisioner/command";
import { FACTS_SCRIPT, parseFacts } from "../../provisioner/facts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("startDemoSshd", () => {
  let demo: DemoSshd | undefined;
  const scratch = mkdtempSync(path.join(tmpdir(), "longshore-demo-test-"));
  afterAll(async () => {
    await demo?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("serves 127.0.0.1 with the pinned host key, lets the generated client key in, runs facts, and stops by PID", async () => {
    demo = await startDemoSshd();
    const t = demo.target;
    expect([t.address, t.hostKey.fingerprints?.length]).toEqual(["127.0.0.1", 1]);
    expect(t.hostKey.fingerprints![0]).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(alive(demo.pid)).toBe(true);

    // The key the server presents is the one pinned in the target.
    const scan = spawnSync("ssh-keyscan", ["-p", String(t.port), "-t", "ed25519", "127.0.0.1"], { encoding: "utf8" });
    expect(scan.status).toBe(0);
    const fp = spawnSync("ssh-keygen", ["-lf", "-", "-E", "sha256"], { input: scan.stdout, encoding: "utf8" });
    expect(fp.stdout.split(/\s+/)[1]).toBe(t.hostKey.fingerprints![0]);

    // A strict OpenSSH client logs in with the generated key and runs the facts script.
    const knownHosts = path.join(scratch, "known_hosts");
    writeFileSync(knownHosts, scan.stdout);
    const ssh = spawnSync(
      "ssh",
      [
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`,
        "-o", "IdentitiesOnly=yes",
        "-i", t.auth.privateKeyFile!,
        "-p", String(t.port),
        `${t.user}@127.0.0.1`,
        renderCommand(shell(FACTS_SCRIPT), { mode: "exec" }),
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    expect([ssh.status, ssh.stderr]).toEqual([0, ""]);
    const facts = parseFacts(ssh.stdout, "demo");
    expect(facts.kernel).toBe(spawnSync("uname", ["-r"], { encoding: "utf8" }).stdout.trim());

    const keyDir = path.dirname(t.auth.privateKeyFile!);
    const pid = demo.pid;
    await demo.stop();
    await demo.stop(); // safe twice
    expect(alive(pid)).toBe(false);
    expect(existsSync(keyDir)).toBe(false);
  });
});
