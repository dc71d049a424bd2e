// Inventory parsing and its error table: does NOT prove that the resulting targets can reach a real sshd.
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConfigError } from "../../core/errors";
import { loadInventory, parseInventory, type InventoryParseOptions } from "../../model/inventory";
import { formatPath } from "../../model/zod-issues";
import { hostConnectionSchema } from "../../model/host-plan";

const FP_A = "SHA256:ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs";
const FP_B = "SHA256:PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0";

const ADDRESS = "must be a host name (letters, digits, '-' and '.') or an IPv4 or IPv6 address";
const CONNECTION = { name: "web-1", port: 22, user: "root", privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n", hostKeyFingerprint: FP_A };

const opts: InventoryParseOptions = { file: "inventory.yaml", baseDir: "/srv/infra", homeDir: "/home/me" };

/** Parses and returns the issues as `path: message` lines (or the targets). */
function problems(text: string, o: InventoryParseOptions = opts): string[] {
  const r = parseInventory(text, o);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.value)}`);
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

function targets(text: string, o: InventoryParseOptions = opts) {
  const r = parseInventory(text, o);
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return r.value;
}

describe("parseInventory: valid files", () => {
  it("builds exact targets with defaults applied, paths resolved and named jumps linked", () => {
    const t = targets(`
defaults:
  user: deploy
  identity: keys/id_ed25519
  knownHosts: ~/.ssh/known_hosts
hosts:
  bastion:
    address: bastion.example.net
    port: 2222
    user: root
    hostKey: ${FP_A}
  web-1:
    address: 10.0.0.5
    hostKeys: [${FP_B}, ${FP_A}]
    jump: bastion
  web-2:
    address: 10.0.0.6
    identity: /etc/keys/web2
    sudo: false
    trustOnFirstUse: true
    jump: { address: 192.0.2.9, hostKey: ${FP_B} }
`);
    const bastion = {
      name: "bastion",
      address: "bastion.example.net",
      port: 2222,
      user: "root",
      auth: { privateKeyFile: "/srv/infra/keys/id_ed25519" },
      hostKey: { fingerprints: [FP_A], knownHostsFile: "/home/me/.ssh/known_hosts" },
      sudo: false,
    };
    expect(t).toEqual([
      bastion,
      {
        name: "web-1",
        address: "10.0.0.5",
        port: 22,
        user: "deploy",
        auth: { privateKeyFile: "/srv/infra/keys/id_ed25519" },
        hostKey: { fingerprints: [FP_B, FP_A], knownHostsFile: "/home/me/.ssh/known_hosts" },
        sudo: true,
        jump: bastion,
      },
      {
        name: "web-2",
        address: "10.0.0.6",
        port: 22,
        user: "deploy",
        auth: { privateKeyFile: "/etc/keys/web2" },
        hostKey: {
          knownHostsFile: "/home/me/.ssh/known_hosts",
          trustOnFirstUse: { recordTo: "/home/me/.ssh/known_hosts" },
        },
        sudo: false,
        jump: {
          name: "web-2.jump",
          address: "192.0.2.9",
          port: 22,
          user: "deploy",
          auth: { privateKeyFile: "/srv/infra/keys/id_ed25519" },
          hostKey: { fingerprints: [FP_B], knownHostsFile: "/home/me/.ssh/known_hosts" },
          sudo: true,
        },
      },
    ]);
    // The jump target is the same object as the named host, not a copy that could drift.
    expect(t[1]!.jump).toBe(t[0]);
  });

  it("accepts JSON, uses the agent socket, and records trust-on-first-use keys to ~/.ssh/known_hosts by default", () => {
    const t = targets(JSON.stringify({ hosts: { db: { address: "127.0.0.1", agent: true, trustOnFirstUse: true } } }), {
      ...opts,
      sshAuthSock: "/run/user/1000/ssh-agent.sock",
    });
    expect(t).toEqual([
      {
        name: "db",
        address: "127.0.0.1",
        port: 22,
        user: "root",
        auth: { agent: "/run/user/1000/ssh-agent.sock" },
        hostKey: { trustOnFirstUse: { recordTo: "/home/me/.ssh/known_hosts" } },
        sudo: false,
      },
    ]);
  });
});

describe("parseInventory: problems, with exact messages", () => {
  const ok = `address: 10.0.0.5\n    identity: k\n    hostKey: ${FP_A}`;

  it.each([
    ["an unknown key", `hosts:\n  web-1:\n    ${ok}\n    colour: red\n`, ["inventory.yaml: hosts.web-1.colour: unknown key"]],
    ["an unknown top-level key", `hosts:\n  web-1:\n    ${ok}\nhots: {}\n`, ["inventory.yaml: hots: unknown key"]],
    ["a host-only key in defaults", `defaults:\n  address: 10.0.0.1\nhosts:\n  web-1:\n    ${ok}\n`, ["inventory.yaml: defaults.address: unknown key"]],
    ["port 0", `hosts:\n  web-1:\n    ${ok}\n    port: 0\n`, ["inventory.yaml: hosts.web-1.port: must be a whole number from 1 to 65535"]],
    ["port 65536", `hosts:\n  web-1:\n    ${ok}\n    port: 65536\n`, ["inventory.yaml: hosts.web-1.port: must be a whole number from 1 to 65535"]],
    ["a quoted port", `hosts:\n  web-1:\n    ${ok}\n    port: "22"\n`, ["inventory.yaml: hosts.web-1.port: must be a number (got a string)"]],
    ["a decimal port", `hosts:\n  web-1:\n    ${ok}\n    port: 22.5\n`, ["inventory.yaml: hosts.web-1.port: must be a whole number from 1 to 65535"]],
    [
      "a missing identity",
      `hosts:\n  web-1:\n    address: 10.0.0.5\n    hostKey: ${FP_A}\n`,
      ["inventory.yaml: hosts.web-1: no way to log in: set identity (a private key file) or agent: true"],
    ],
    [
      "agent without SSH_AUTH_SOCK",
      `hosts:\n  web-1:\n    address: 10.0.0.5\n    agent: true\n    hostKey: ${FP_A}\n`,
      ["inventory.yaml: hosts.web-1.agent: SSH_AUTH_SOCK is not set: start ssh-agent or use identity instead"],
    ],
    [
      "a malformed fingerprint",
      `hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: k\n    hostKey: SHA256:abc\n`,
      ["inventory.yaml: hosts.web-1.hostKey: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)"],
    ],
    [
      "an MD5 fingerprint in a list",
      `hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: k\n    hostKeys: [${FP_A}, "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"]\n`,
      ["inventory.yaml: hosts.web-1.hostKeys[1]: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)"],
    ],
    [
      "a missing host-key source",
      `hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: k\n    trustOnFirstUse: false\n`,
      ["inventory.yaml: hosts.web-1: no way to verify the host key: set hostKey, hostKeys, knownHosts or trustOnFirstUse: true"],
    ],
    [
      "a jump to an unknown host",
      `hosts:\n  web-1:\n    ${ok}\n    jump: bastoin\n`,
      ['inventory.yaml: hosts.web-1.jump: no host named "bastoin" in this inventory'],
    ],
    [
      "jump cycles",
      `hosts:\n  a:\n    ${ok}\n    jump: b\n  b:\n    ${ok}\n    jump: a\n  c:\n    ${ok}\n    jump: c\n  d:\n    ${ok}\n    jump: a\n`,
      ["inventory.yaml: hosts.a.jump: jump hosts form a cycle: a -> b -> a", "inventory.yaml: hosts.c.jump: jump hosts form a cycle: c -> c"],
    ],
    [
      "an inline jump without a way in",
      `hosts:\n  web-1:\n    ${ok}\n    jump: { address: 192.0.2.1, port: 0 }\n`,
      [
        "inventory.yaml: hosts.web-1.jump: no way to log in: set identity (a private key file) or agent: true",
        "inventory.yaml: hosts.web-1.jump: no way to verify the host key: set hostKey, hostKeys, knownHosts or trustOnFirstUse: true",
        "inventory.yaml: hosts.web-1.jump.port: must be a whole number from 1 to 65535",
      ],
    ],
    ["a missing address", `hosts:\n  web-1:\n    identity: k\n    hostKey: ${FP_A}\n`, ["inventory.yaml: hosts.web-1.address: is required"]],
    [
      "an address with a user in it",
      `hosts:\n  web-1:\n    address: root@10.0.0.5\n    identity: k\n    hostKey: ${FP_A}\n`,
      [`inventory.yaml: hosts.web-1.address: ${ADDRESS}`],
    ],
    [
      "a bad host name",
      `hosts:\n  "web 1":\n    ${ok}\n`,
      [`inventory.yaml: hosts["web 1"]: host names may only contain letters, digits, '.', '_' and '-'`],
    ],
    ["no hosts", `hosts: {}\n`, ["inventory.yaml: hosts: must list at least one host"]],
    ["an empty file", ``, ["inventory.yaml: the inventory is empty: expected a hosts: mapping"]],
    ["a list instead of a mapping", `- web-1\n`, ["inventory.yaml: must be a mapping (key: value) (got a list)"]],
    ["a host that is not a mapping", `hosts:\n  web-1: 10.0.0.5\n`, ["inventory.yaml: hosts.web-1: must be a mapping (key: value) (got a string)"]],
    ["a YAML syntax error", `hosts:\n  web-1: {address: x\n  web-2: 1\n`, ["inventory.yaml: line 3, column 3: YAML: Flow map in block collection must be sufficiently indented and end with a }"]],
    ["a duplicate key", `hosts:\n  web-1:\n    ${ok}\n  web-1:\n    ${ok}\n`, ["inventory.yaml: line 6, column 3: YAML: Map keys must be unique"]],
    ["an undefined alias", `hosts:\n  web-1:\n    address: *nope\n    identity: k\n    hostKey: ${FP_A}\n`, ["inventory.yaml: line 3, column 14: YAML: unresolved alias *nope: no anchor &nope before it"]],
  ])("reports %s", (_what, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  it("reports several problems in several hosts at once", () => {
    const text = `
defaults:
  user: "bad user"
hosts:
  web-1:
    address: 10.0.0.5
    port: 99999
    hostKey: SHA256:short
    sudo: "yes"
  web-2:
    address: 10.0.0.6
    identity: k
    jump: nowhere
    extra: 1
`;
    expect(problems(text)).toEqual([
      "inventory.yaml: defaults.user: must be a user name (letters, digits, '_', '.', '-')",
      "inventory.yaml: hosts.web-1: no way to log in: set identity (a private key file) or agent: true",
      "inventory.yaml: hosts.web-1.port: must be a whole number from 1 to 65535",
      "inventory.yaml: hosts.web-1.hostKey: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)",
      "inventory.yaml: hosts.web-1.sudo: must be true or false (got a string)",
      "inventory.yaml: hosts.web-2: no way to verify the host key: set hostKey, hostKeys, knownHosts or trustOnFirstUse: true",
      'inventory.yaml: hosts.web-2.jump: no host named "nowhere" in this inventory',
      "inventory.yaml: hosts.web-2.extra: unknown key",
    ]);
  });
});

describe("loadInventory", () => {
  it("reads a file, resolves identity next to it, and throws a ConfigError listing every problem", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "longshore-inv-"));
    try {
      const good = path.join(dir, "good.yaml");
      writeFileSync(good, `hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: id_ed25519\n    hostKey: ${FP_A}\n`);
      writeFileSync(path.join(dir, "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
      const t = await loadInventory(good, { homeDir: "/home/me" });
      expect(t[0]!.auth).toEqual({ privateKeyFile: path.join(dir, "id_ed25519") });

      const bad = path.join(dir, "bad.yaml");
      writeFileSync(bad, `hosts:\n  web-1:\n    address: 10.0.0.5\n    port: 0\n    hostKey: ${FP_A}\n`);
      const err = await loadInventory(bad, { homeDir: "/home/me" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe(
        `${bad} is invalid (2 problems):\n` +
          `  ${bad}: hosts.web-1: no way to log in: set identity (a private key file) or agent: true\n` +
          `  ${bad}: hosts.web-1.port: must be a whole number from 1 to 65535`,
      );

      const missing = await loadInventory(path.join(dir, "nope.yaml"), { homeDir: "/home/me" }).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ConfigError);
      expect((missing as ConfigError).issues).toEqual([{ path: path.join(dir, "nope.yaml"), message: "the file does not exist" }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("addresses: a host name or an IP address, one rule for the inventory, --host and the Pulumi host connection", () => {
  const host = (address: string) => `hosts:\n  web-1:\n    address: ${JSON.stringify(address)}\n    identity: k\n    hostKey: ${FP_A}\n`;

  it.each(["10.0.0.5", "web-1", "web-1.example.com", "WEB.Example.NET", "::1", "2001:db8::5", "fe80::1:2:3:4", "::ffff:192.0.2.1", "a".repeat(63)])(
    "accepts %s",
    (address) => {
      expect(targets(host(address))[0]!.address).toBe(address);
      expect(hostConnectionSchema.safeParse({ ...CONNECTION, address }).success).toBe(true);
    },
  );

  it.each([
    ["a control character", "10.0.0.5\u0007"],
    ["a newline", "web-1\nProxyCommand=x"],
    ["a NUL", "web\u0000"],
    ["unicode", "wéb.example"],
    ["a lookalike digit", "１0.0.0.5"],
    ["a megabyte of text", "a".repeat(1_000_000)],
    ["a label over 63 characters", `${"a".repeat(64)}.example`],
    ["a name over 253 characters", Array(64).fill("abc").join(".")],
    ["an IPv4 address with an octet over 255", "10.0.0.256"],
    ["a bare number", "167772165"],
    ["brackets around IPv6", "[::1]"],
    ["an IPv6 zone", "fe80::1%eth0"],
    ["a user in it", "root@10.0.0.5"],
    ["a port in it", "10.0.0.5:22"],
    ["a leading dash (an ssh option)", "-oProxyCommand=x"],
    ["a space", "web 1"],
    ["nothing", ""],
  ])("refuses %s, in the inventory, an inline jump and the host connection", (_what, address) => {
    expect(problems(host(address))).toEqual([`inventory.yaml: hosts.web-1.address: ${ADDRESS}`]);
    expect(problems(`hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: k\n    hostKey: ${FP_A}\n    jump: { address: ${JSON.stringify(address)}, identity: k, hostKey: ${FP_A} }\n`)).toEqual([
      `inventory.yaml: hosts.web-1.jump.address: ${ADDRESS}`,
    ]);
    const r = hostConnectionSchema.safeParse({ ...CONNECTION, address });
    expect(r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([`address: ${ADDRESS}`]);
  });
});

describe("many problems", () => {
  it("100,000 unknown keys: every one found, in file order, the message shows 50 and counts the rest", () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `  extra${i}: ${i}`);
    const text = `hosts:\n  web-1:\n    address: 10.0.0.5\n    identity: k\n    hostKey: ${FP_A}\n${keys.join("\n").replace(/^ {2}/gm, "    ")}\n`;
    const r = parseInventory(text, opts);
    expect(r.ok).toBe(false);
    const issues = r.ok ? [] : r.issues;
    expect(issues).toHaveLength(100_000);
    expect(issues[99_999]).toEqual({ path: "inventory.yaml: hosts.web-1.extra99999", message: "unknown key" });
    expect(new ConfigError("inventory.yaml", issues).message.split("\n")).toEqual([
      "inventory.yaml is invalid (100,000 problems):",
      ...Array.from({ length: 50 }, (_, i) => `  inventory.yaml: hosts.web-1.extra${i}: unknown key`),
      "  and 99,950 more",
    ]);
    expect(new ConfigError("inventory.yaml", issues).toJSON()).toMatchObject({ moreIssues: 99_950, issues: issues.slice(0, 50) });
  });
});

describe("formatPath", () => {
  it.each([
    [[], "(top level)"],
    [["hosts", "web-1", "port"], "hosts.web-1.port"],
    [["hosts", "web-1", "hostKeys", 2], "hosts.web-1.hostKeys[2]"],
    [["hosts", "web.1", "port"], 'hosts["web.1"].port'],
    [["slots", "green", "image"], "slots.green.image"],
  ] as const)("formats %j as %s", (p, expected) => {
    expect(formatPath(p)).toBe(expected);
  });
});
