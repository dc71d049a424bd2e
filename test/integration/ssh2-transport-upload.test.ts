// Does not prove uploads to SFTP servers without posix-rename@openssh.com (the `mv -f` fallback is not exercised).
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import { sensitive } from "../../core/sensitive";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";
import { startSshd, type Sshd, pinnedTarget } from "../helpers/sshd";

let sshd: Sshd;
let transport: Transport;
// The "remote" and local side share this machine: remote paths live in their own temp dir.
const remoteDir = mkdtempSync(join(tmpdir(), "longshore-upload-remote-"));
const localDir = mkdtempSync(join(tmpdir(), "longshore-upload-local-"));
const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

beforeAll(async () => {
  sshd = await startSshd();
  transport = await connectSsh(pinnedTarget(sshd, "upload-host"));
});

afterAll(async () => {
  await transport?.close();
  await sshd?.stop();
  rmSync(remoteDir, { recursive: true, force: true });
  rmSync(localDir, { recursive: true, force: true });
});

describe("upload over SFTP", () => {
  it("uploads, hashes, sets the mode, leaves no temp file and skips an identical second upload", async () => {
    const target = join(remoteDir, "app.env");
    const first = await transport.upload({ content: sensitive("TOKEN=abc123\n") }, target, { mode: 0o600 });
    expect(first).toEqual({ uploaded: true, bytes: 13, sha256: sha("TOKEN=abc123\n") });
    expect(readFileSync(target, "utf8")).toBe("TOKEN=abc123\n");
    expect(statSync(target).mode & 0o7777).toBe(0o600);
    expect(await transport.sha256(target)).toBe(first.sha256);
    expect(readdirSync(remoteDir)).toEqual(["app.env"]);
    const second = await transport.upload({ content: sensitive("TOKEN=abc123\n") }, target, { mode: 0o600 });
    expect(second).toEqual({ uploaded: false, bytes: 13, sha256: first.sha256 });
    const forced = await transport.upload({ content: sensitive("TOKEN=abc123\n") }, target, { mode: 0o600, force: true });
    expect(forced.uploaded).toBe(true);
  });

  it("re-uploads when only the mode differs, and replaces the file by rename (new inode)", async () => {
    const target = join(remoteDir, "mode.txt");
    await transport.upload({ content: "same" }, target, { mode: 0o644 });
    const inodeBefore = statSync(target).ino;
    const r = await transport.upload({ content: "same" }, target, { mode: 0o640 });
    expect(r.uploaded).toBe(true);
    expect(statSync(target).mode & 0o7777).toBe(0o640);
    expect(statSync(target).ino).not.toBe(inodeBefore);
    const changed = await transport.upload({ content: new Uint8Array([0, 1, 2, 255]) }, target, { mode: 0o640 });
    expect(changed).toMatchObject({ uploaded: true, bytes: 4 });
    expect([...readFileSync(target)]).toEqual([0, 1, 2, 255]);
  });

  it("streams a 50 MiB local file and the remote sha256 matches", async () => {
    const local = join(localDir, "big.bin");
    const fd = openSync(local, "w");
    const hash = createHash("sha256");
    for (let i = 0; i < 50; i++) {
      const mib = randomBytes(1024 * 1024);
      hash.update(mib);
      writeSync(fd, mib);
    }
    closeSync(fd);
    const expected = hash.digest("hex");
    const target = join(remoteDir, "big.bin");
    const started = performance.now();
    const r = await transport.upload({ localPath: local }, target);
    const seconds = (performance.now() - started) / 1000;
    console.log(`50 MiB upload: ${seconds.toFixed(2)} s (${(50 / seconds).toFixed(1)} MiB/s)`);
    expect(r).toEqual({ uploaded: true, bytes: 50 * 1024 * 1024, sha256: expected });
    expect(await transport.sha256(target)).toBe(expected);
    expect(statSync(target).size).toBe(50 * 1024 * 1024);
    // With the hash given, the skip is decided without hashing the local file again.
    expect(await transport.upload({ localPath: local, sha256: expected }, target)).toMatchObject({ uploaded: false });
  });

  it("refuses to put a file in place when the given sha256 is wrong", async () => {
    const local = join(localDir, "small.txt");
    writeFileSync(local, "actual content\n");
    const target = join(remoteDir, "checked.txt");
    const err = (await transport
      .upload({ localPath: local, sha256: sha("other content\n") }, target)
      .catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain("do not match the expected sha256");
    expect(readdirSync(remoteDir)).not.toContain("checked.txt");
    expect(readdirSync(remoteDir).filter((n) => n.includes("longshore-"))).toEqual([]);
  });

  it("fails clearly when the parent directory is missing", async () => {
    const err = (await transport.upload({ content: "x" }, join(remoteDir, "no-such-dir", "f")).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain("(does its directory exist?)");
  });

  it("hashes: null for a missing file, an error for a directory", async () => {
    expect(await transport.sha256(join(remoteDir, "missing"))).toBeNull();
    const err = (await transport.sha256(remoteDir).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain("Is a directory");
  });

  it("stops an aborted upload before anything lands", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = (await transport
      .upload({ content: "never" }, join(remoteDir, "aborted"), { signal: ac.signal })
      .catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe("aborted");
    expect(readdirSync(remoteDir).filter((n) => n.includes("aborted"))).toEqual([]);
  });

  it("sets owner and group", async () => {
    const target = join(remoteDir, "owned");
    await transport.upload({ content: "o" }, target, { owner: "nobody", group: "nogroup", mode: 0o600 });
    const st = await transport.exec({ argv: ["stat", "-c", "%U:%G %a", target] });
    expect(st.stdout).toBe("nobody:nogroup 600\n");
    expect((await transport.upload({ content: "o" }, target, { owner: "nobody", group: "nogroup", mode: 0o600 })).uploaded).toBe(false);
  });
});
