// Does not prove that cloud-init on Debian's AMI applies this document (no instance boots here); only its text, YAML and keys.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { renderUserData, userDataProblems, type UserDataInput } from "../../../templates/cloud-init";
import { openSshEd25519FromSeed } from "../../../modules/ssh-key";

const HOST_KEY = openSshEd25519FromSeed(Buffer.alloc(32, 1), "root@prod-green-0");
const DEPLOY_KEY = openSshEd25519FromSeed(Buffer.alloc(32, 2), "longshore-deploy@prod");
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";

function input(overrides: Partial<UserDataInput> = {}): UserDataInput {
  return {
    host: { name: "prod-green-0", environment: "prod", slot: "green", image: "registry.example.com:5000/team/shop:1.4.2" },
    hostKey: { privateKey: HOST_KEY.privateKey, publicKey: HOST_KEY.publicKey },
    authorizedKeys: [ADMIN_KEY, DEPLOY_KEY.publicKey],
    ...overrides,
  };
}

describe("renderUserData", () => {
  it("matches the golden file", () => {
    const golden = readFileSync(path.join(__dirname, "golden", "user-data.yaml"), "utf8");
    expect(renderUserData(input())).toBe(golden);
  });

  it("is a #cloud-config YAML document that installs exactly the generated host key and nothing else", () => {
    const text = renderUserData(input());
    expect(text.split("\n")[0]).toBe("#cloud-config");
    const doc = parse(text) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(
      ["disable_root", "ssh_authorized_keys", "ssh_deletekeys", "ssh_genkeytypes", "ssh_keys", "ssh_pwauth", "write_files"].sort(),
    );
    expect(doc.ssh_deletekeys).toBe(true);
    expect(doc.ssh_genkeytypes).toEqual([]);
    expect(doc.ssh_keys).toEqual({ ed25519_private: HOST_KEY.privateKey, ed25519_public: HOST_KEY.publicKey });
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.disable_root).toBe(true);
    expect(doc.ssh_authorized_keys).toEqual([ADMIN_KEY, DEPLOY_KEY.publicKey]);
    const files = doc.write_files as Array<Record<string, string>>;
    expect(files.map((f) => [f.path, f.permissions, f.owner])).toEqual([
      ["/etc/ssh/sshd_config.d/50-longshore.conf", "0644", "root:root"],
      ["/etc/longshore/host.json", "0644", "root:root"],
    ]);
    expect(files[0]!.content).toContain("PasswordAuthentication no\n");
    expect(files[0]!.content).toContain("HostKey /etc/ssh/ssh_host_ed25519_key\n");
    expect(JSON.parse(files[1]!.content!)).toEqual({
      host: "prod-green-0",
      environment: "prod",
      slot: "green",
      image: "registry.example.com:5000/team/shop:1.4.2",
    });
  });

  it("carries the private key through YAML intact: ssh-keygen reads the parsed value back to the pinned fingerprint", () => {
    const doc = parse(renderUserData(input())) as { ssh_keys: { ed25519_private: string } };
    const dir = mkdtempSync(path.join(tmpdir(), "longshore-userdata-"));
    try {
      const file = path.join(dir, "ssh_host_ed25519_key");
      writeFileSync(file, doc.ssh_keys.ed25519_private, { mode: 0o600 });
      const fp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).trim();
      expect(fp).toBe(`256 ${HOST_KEY.fingerprint} root@prod-green-0 (ED25519)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps hostile-looking values verbatim instead of letting them change the document", () => {
    const text = renderUserData(input({ host: { name: 'a": b #x', environment: "prod", slot: "green", image: "x: [y]" } }));
    const doc = parse(text) as { write_files: Array<{ content: string }>; ssh_deletekeys: boolean };
    expect(JSON.parse(doc.write_files[1]!.content)).toMatchObject({ host: 'a": b #x', image: "x: [y]" });
    expect(doc.ssh_deletekeys).toBe(true);
  });

  it("changes when only the image changes (that is what replaces the host)", () => {
    const a = renderUserData(input());
    const b = renderUserData(input({ host: { ...input().host, image: "registry.example.com:5000/team/shop:1.4.3" } }));
    expect(a).not.toBe(b);
  });
});

describe("userDataProblems", () => {
  it.each<[string, Partial<UserDataInput>, string[]]>([
    ["a PEM private key", { hostKey: { privateKey: "-----BEGIN PRIVATE KEY-----\nx\n", publicKey: HOST_KEY.publicKey } }, ["hostKey.privateKey: must be an OpenSSH private key"]],
    ["an RSA host public key", { hostKey: { privateKey: HOST_KEY.privateKey, publicKey: "ssh-rsa AAAA x" } }, ["hostKey.publicKey: must be one ssh-ed25519 public key line"]],
    ["no authorized keys", { authorizedKeys: [] }, ["authorizedKeys: must not be empty"]],
    ["a two-line authorized key", { authorizedKeys: [`${ADMIN_KEY}\nssh-ed25519 AAAA`] }, ["authorizedKeys[0]: must be one public key line"]],
    [
      "an empty slot and a two-line image",
      { host: { name: "h", environment: "prod", slot: "", image: "a\nb" } },
      ["host.slot: must be one non-empty line", "host.image: must be one non-empty line"],
    ],
  ])("refuses %s", (_what, overrides, problems) => {
    expect(userDataProblems(input(overrides))).toEqual(problems);
    expect(() => renderUserData(input(overrides))).toThrow(`cloud-init user data for ${input(overrides).host.name}: ${problems.join("; ")}`);
  });

  it("finds nothing wrong with good input", () => {
    expect(userDataProblems(input())).toEqual([]);
  });
});
