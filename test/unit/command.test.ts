// Quoting and rendering against Debian's real /bin/sh (dash): does NOT prove bash, busybox sh or a remote sshd behave the same.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { sensitive } from "../../core/sensitive";
import { quoteArg } from "../../core/quote";
import { renderCommand, secretsOf, shell, type Arg } from "../../provisioner/command";

/** Runs shell text through a real `/bin/sh -c` and returns its stdout bytes. */
function sh(script: string): Buffer {
  const r = spawnSync("/bin/sh", ["-c", script], { encoding: "buffer" });
  if (r.status !== 0) throw new Error(`sh exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

// Any code point except NUL (argv cannot carry it) and lone surrogates (no UTF-8 form).
const word = fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\0"));

describe("quoteArg", () => {
  it.each([
    ["", "''"],
    ["abc", "abc"],
    ["/usr/bin/docker", "/usr/bin/docker"],
    ["--log-driver=local", "--log-driver=local"],
    ["user@host:22", "user@host:22"],
    ["a b", "'a b'"],
    ["it's", "'it'\\''s'"],
    ["'", "''\\'''"],
    ["$HOME", "'$HOME'"],
    ["`id`", "'`id`'"],
    ["$(id)", "'$(id)'"],
    ["a\nb", "'a\nb'"],
    ["*", "'*'"],
    ["~", "'~'"],
    ["a;b", "'a;b'"],
    ["back\\slash", "'back\\slash'"],
    ['dq"x', "'dq\"x'"],
    ["ümlaut", "'ümlaut'"],
    ["!bang", "'!bang'"],
  ])("quotes %j as %j", (input, expected) => {
    expect(quoteArg(input)).toBe(expected);
  });

  it("round-trips any string byte-exactly through a real /bin/sh", () => {
    fc.assert(
      fc.property(word, (s) => {
        expect(sh(`printf %s ${quoteArg(s)}`).equals(Buffer.from(s, "utf8"))).toBe(true);
      }),
      { numRuns: 300, examples: [[""], ["'"], ["a\nb\n"], ["\n"], ["'\"'\"'"], ["日本語 🚢"], ["\\n"], ["-n"], ["%s%d"]] },
    );
  });

  it("keeps word boundaries of a whole rendered argv through a real /bin/sh", () => {
    fc.assert(
      fc.property(fc.array(word, { maxLength: 6 }), fc.boolean(), (words, secret) => {
        const argv: Arg[] = ["printf", "%s|", ...words.map((w) => (secret ? sensitive(w) : w))];
        const out = sh(renderCommand({ argv }, { mode: "exec" }));
        const expected = words.length === 0 ? "|" : words.map((w) => `${w}|`).join("");
        expect(out.toString("utf8")).toBe(expected);
      }),
      { numRuns: 150 },
    );
  });
});

describe("renderCommand", () => {
  const install = { argv: ["apt-get", "install", "-y", "docker.io"], sudo: true };

  it("prefixes sudo -n -- only when the command wants root and the user is not root", () => {
    expect(renderCommand(install, { mode: "exec", useSudo: true })).toBe("sudo -n -- apt-get install -y docker.io");
    expect(renderCommand(install, { mode: "exec", useSudo: false })).toBe("apt-get install -y docker.io");
    expect(renderCommand(install, { mode: "exec" })).toBe("apt-get install -y docker.io");
    expect(renderCommand({ argv: ["id"] }, { mode: "exec", useSudo: true })).toBe("id");
  });

  it("shows secrets in clear only in exec mode", () => {
    const c = { argv: ["login", "-u", "me", "-p", sensitive("pa ss'word")], sudo: true };
    expect(renderCommand(c, { mode: "display", useSudo: true })).toBe("sudo -n -- login -u me -p [redacted]");
    expect(renderCommand(c, { mode: "exec", useSudo: true })).toBe("sudo -n -- login -u me -p 'pa ss'\\''word'");
  });

  it("renders shell snippets as one quoted word", () => {
    expect(renderCommand(shell("gunzip | docker load"), { mode: "display" })).toBe("sh -c 'gunzip | docker load'");
  });

  it("summary mode (errors, reports) shows a multi-line script by its first line and line count; display and exec keep it whole", () => {
    const script = "# longshore engine.install: install the engine packages\nset -eu\napt-get install -y docker.io\n";
    const c = { argv: ["sh", "-c", script, "sh", sensitive("t0ken")], sudo: true };
    expect(renderCommand(c, { mode: "summary", useSudo: true })).toBe("sudo -n -- sh -c '# longshore engine.install: install the engine packages … (3 lines)' sh [redacted]");
    expect(renderCommand(c, { mode: "display" })).toBe(`sh -c '${script}' sh [redacted]`);
    expect(renderCommand(c, { mode: "exec" })).toBe(`sh -c '${script}' sh t0ken`);
    expect(renderCommand(shell("gunzip | docker load"), { mode: "summary" })).toBe("sh -c 'gunzip | docker load'");
  });

  it("collects the secrets a command carries, from argv and stdin", () => {
    const a = sensitive("aaaa");
    const b = sensitive("bbbb");
    expect(secretsOf({ argv: ["x", a], stdin: b })).toEqual([a, b]);
    expect(secretsOf({ argv: ["x"], stdin: "plain" })).toEqual([]);
  });
});
