// Does not prove that ssh2 hands the verifier the same key blob (see the host-key integration test).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprintOf } from "../../provisioner/transport/fingerprint";
import {
  appendKnownHostsLine,
  decideHostKey,
  entryMatchesHost,
  hashKnownHostsName,
  knownHostsLine,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHostsFile,
} from "../../provisioner/transport/known-hosts";

const dir = mkdtempSync(join(tmpdir(), "longshore-kh-test-"));
let made = 0;
/** A fresh public key as [type, base64] from ssh-keygen. */
function key(type: "ed25519" | "ecdsa" | "rsa" = "ed25519"): [string, string] {
  const path = join(dir, `k${++made}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", "", "-C", "", "-f", path]);
  const [t, b] = readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/);
  return [t!, b!];
}
let ed: [string, string];
let ec: [string, string];
let rsa: [string, string];
const blob = (k: [string, string]) => Buffer.from(k[1], "base64");
const line = (hosts: string, k: [string, string]) => `${hosts} ${k[0]} ${k[1]}`;

beforeAll(() => {
  ed = key("ed25519");
  ec = key("ecdsa");
  rsa = key("rsa");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("knownHostsName", () => {
  it.each([
    ["example.org", 22, "example.org"],
    ["Example.ORG", 22, "example.org"],
    ["10.0.0.5", 2222, "[10.0.0.5]:2222"],
    ["::1", 22, "::1"],
  ])("%s:%d -> %s", (host, port, name) => expect(knownHostsName(host, port)).toBe(name));
});

describe("parseKnownHosts + entryMatchesHost", () => {
  const cases: Array<[string, string, string, number, boolean]> = [
    ["plain name", "example.org", "example.org", 22, true],
    ["plain name, other host", "example.org", "other.example", 22, false],
    ["comma list", "a.example,example.org,10.0.0.5", "example.org", 22, true],
    ["[host]:port on that port", "[example.org]:2222", "example.org", 2222, true],
    ["[host]:port on port 22", "[example.org]:2222", "example.org", 22, false],
    ["plain name on a non-22 port", "example.org", "example.org", 2222, false],
    ["wildcard", "*.org", "example.org", 22, true],
    ["question mark", "exampl?.org", "example.org", 22, true],
    ["negation wins", "*.org,!example.org", "example.org", 22, false],
    ["case-insensitive", "EXAMPLE.org", "example.org", 22, true],
    ["regex characters are literal", "example+org", "exampleorg", 22, false],
  ];
  it.each(cases)("%s: %s", (_label, hosts, host, port, expected) => {
    const { entries, problems } = parseKnownHosts(line(hosts, ed));
    expect(problems).toEqual([]);
    expect(entries).toHaveLength(1);
    expect(entryMatchesHost(entries[0]!, host, port)).toBe(expected);
  });

  it("matches hashed names written by our helper and by ssh-keygen -H", () => {
    const ours = parseKnownHosts(line(hashKnownHostsName("[10.0.0.5]:2222", randomBytes(20)), ed)).entries[0]!;
    expect(ours.patterns).toBeNull();
    expect(entryMatchesHost(ours, "10.0.0.5", 2222)).toBe(true);
    expect(entryMatchesHost(ours, "10.0.0.5", 22)).toBe(false);

    const file = join(dir, "to-hash");
    writeFileSync(file, `${line("example.org", ed)}\n${line("[10.0.0.5]:2222", ec)}\n`);
    execFileSync("ssh-keygen", ["-H", "-f", file], { stdio: "ignore" });
    const hashedText = readFileSync(file, "utf8");
    expect(hashedText).not.toContain("example.org");
    const { entries } = parseKnownHosts(hashedText);
    expect(entries.filter((e) => e.hashed !== null)).toHaveLength(2);
    expect(decideHostKey({ address: "example.org", port: 22, presented: blob(ed), pinned: [], entries }).verdict).toBe("accept");
    expect(decideHostKey({ address: "10.0.0.5", port: 2222, presented: blob(ec), pinned: [], entries }).verdict).toBe("accept");
    expect(decideHostKey({ address: "10.0.0.5", port: 2222, presented: blob(ed), pinned: [], entries }).verdict).toBe("mismatch");
  });

  it("skips comments and blank lines, marks @revoked and @cert-authority, reports bad lines", () => {
    const text = [
      "# a comment",
      "",
      "   ",
      line("good.example", ed),
      `@revoked * ${ec[0]} ${ec[1]}`,
      `@cert-authority *.example ${rsa[0]} ${rsa[1]}`,
      "@bogus host ssh-ed25519 AAAA",
      "onlyhost",
      `mismatch.example ssh-rsa ${ed[1]}`,
      "|1|bad|hash ssh-ed25519 " + ed[1],
    ].join("\r\n");
    const { entries, problems } = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.keyType])).toEqual([
      [4, null, "ssh-ed25519"],
      [5, "revoked", "ecdsa-sha2-nistp256"],
      [6, "cert-authority", "ssh-rsa"],
    ]);
    expect(problems).toEqual([
      { line: 7, message: "unknown marker @bogus" },
      { line: 8, message: "expected: hosts keytype base64-key" },
      { line: 9, message: "key is not valid base64 of a ssh-rsa key" },
      { line: 10, message: "hashed host name is not |1|salt|hash" },
    ]);
  });
});

describe("decideHostKey", () => {
  const h = { address: "10.0.0.5", port: 2222 };
  it("accepts a pinned fingerprint (padding tolerated) and names what it expected", () => {
    const d = decideHostKey({ ...h, presented: blob(ed), pinned: [`${fingerprintOf(blob(ed))}=`], entries: [] });
    expect(d).toEqual({ verdict: "accept", expected: [fingerprintOf(blob(ed))], presented: fingerprintOf(blob(ed)) });
  });

  it("unknown with nothing known, mismatch with another key known", () => {
    expect(decideHostKey({ ...h, presented: blob(ed), pinned: [], entries: [] })).toEqual({
      verdict: "unknown",
      expected: [],
      presented: fingerprintOf(blob(ed)),
    });
    const entries = parseKnownHosts(line("[10.0.0.5]:2222", ec)).entries;
    expect(decideHostKey({ ...h, presented: blob(ed), pinned: [], entries })).toEqual({
      verdict: "mismatch",
      expected: [fingerprintOf(blob(ec))],
      presented: fingerprintOf(blob(ed)),
    });
  });

  it("accepts any one of several known keys for the host (pins and file together)", () => {
    const entries = parseKnownHosts([line("[10.0.0.5]:2222", ec), line("[10.0.0.5]:2222", rsa)].join("\n")).entries;
    const d = decideHostKey({ ...h, presented: blob(rsa), pinned: [fingerprintOf(blob(ed))], entries });
    expect(d.verdict).toBe("accept");
    expect(d.expected).toEqual([fingerprintOf(blob(ed)), fingerprintOf(blob(ec)), fingerprintOf(blob(rsa))]);
  });

  it("refuses a revoked key even when pinned and listed; cert-authority lines grant nothing", () => {
    const entries = parseKnownHosts([`@revoked nothing.matches ${ed[0]} ${ed[1]}`, line("[10.0.0.5]:2222", ed)].join("\n")).entries;
    expect(decideHostKey({ ...h, presented: blob(ed), pinned: [fingerprintOf(blob(ed))], entries }).verdict).toBe("revoked");
    const ca = parseKnownHosts(`@cert-authority * ${ed[0]} ${ed[1]}`).entries;
    expect(decideHostKey({ ...h, presented: blob(ed), pinned: [], entries: ca }).verdict).toBe("unknown");
  });

  it("lists the key types known for a host", () => {
    const entries = parseKnownHosts([line("[10.0.0.5]:2222", rsa), line("other", ed), line("[10.0.0.5]:2222,x", ec)].join("\n")).entries;
    expect(knownKeyTypes(entries, "10.0.0.5", 2222)).toEqual(["ssh-rsa", "ecdsa-sha2-nistp256"]);
  });
});

describe("known_hosts files", () => {
  it("reads a missing file as empty", async () => {
    expect(await readKnownHostsFile(join(dir, "does-not-exist"))).toEqual([]);
  });

  it("creates the file 0600 on append, and adds a missing final newline first", async () => {
    const fresh = join(dir, "fresh_known_hosts");
    const l1 = knownHostsLine("10.0.0.5", 2222, ed[0], blob(ed));
    expect(l1).toBe(`[10.0.0.5]:2222 ${ed[0]} ${ed[1]}`);
    await appendKnownHostsLine(fresh, l1);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    expect(readFileSync(fresh, "utf8")).toBe(`${l1}\n`);

    const noNewline = join(dir, "no_newline");
    writeFileSync(noNewline, line("a.example", ec));
    await appendKnownHostsLine(noNewline, l1);
    expect(readFileSync(noNewline, "utf8")).toBe(`${line("a.example", ec)}\n${l1}\n`);
    expect((await readKnownHostsFile(noNewline)).map((e) => e.keyType)).toEqual([ec[0], ed[0]]);
  });
});
