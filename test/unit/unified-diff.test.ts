// Diffs checked against GNU diff's output and applied with GNU patch: does NOT prove `longshore plan` fetches the right remote file (the e2e test does).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { unifiedDiff } from "../../provisioner/unified-diff";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-diff-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** GNU diff -u of two texts, with the header lines replaced by ours. */
function gnuDiff(a: string, b: string): string {
  fs.writeFileSync(path.join(dir, "a"), a);
  fs.writeFileSync(path.join(dir, "b"), b);
  const r = spawnSync("diff", ["-u", "a", "b"], { cwd: dir, encoding: "utf8" });
  return r.stdout.replace(/^--- a\t.*\n\+\+\+ b\t.*\n/, "--- old\n+++ new\n");
}

/** Applies our diff to `a` with GNU patch and returns the result. */
function patched(a: string, diff: string): string {
  const f = path.join(dir, "target");
  fs.writeFileSync(f, a);
  execFileSync("patch", ["--quiet", "--force", f], { input: diff });
  return fs.readFileSync(f, "utf8");
}

const L = { oldLabel: "old", newLabel: "new" };

describe("unifiedDiff", () => {
  it("is empty for equal texts", () => {
    expect(unifiedDiff("a\nb\n", "a\nb\n", L)).toBe("");
  });

  it("matches GNU diff -u on a daemon.json change", () => {
    const a = '{\n  "live-restore": true,\n  "log-driver": "json-file",\n  "log-opts": {\n    "max-file": "3",\n    "max-size": "10m"\n  },\n  "storage-driver": "overlay2",\n  "userland-proxy": false\n}\n';
    const b = a.replace('"max-file": "3"', '"max-file": "4"');
    expect(unifiedDiff(a, b, L)).toBe(gnuDiff(a, b));
    expect(unifiedDiff(a, b, L)).toBe(
      [
        "--- old",
        "+++ new",
        "@@ -2,7 +2,7 @@",
        '   "live-restore": true,',
        '   "log-driver": "json-file",',
        '   "log-opts": {',
        '-    "max-file": "3",',
        '+    "max-file": "4",',
        '     "max-size": "10m"',
        "   },",
        '   "storage-driver": "overlay2",',
        "",
      ].join("\n"),
    );
  });

  it.each<[string, string, string]>([
    ["a new file", "", "one\ntwo\n"],
    ["a removed file", "one\ntwo\n", ""],
    ["a missing final newline", "a\nb\nc", "a\nb\nc\n"],
    ["two distant changes (two hunks)", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n"],
    ["changes close enough to share a hunk", "1\n2\n3\n4\n5\n6\n7\n", "1\nX\n3\n4\n5\nY\n7\n"],
  ])("matches GNU diff -u for %s", (_what, a, b) => {
    expect(unifiedDiff(a, b, L)).toBe(gnuDiff(a, b));
  });

  it("always yields a patch that GNU patch applies to give the new text (property)", () => {
    const line = fc.constantFrom("a", "b", "c", "d", "", "  x", "{", "}");
    const text = fc.tuple(fc.array(line, { maxLength: 12 }), fc.boolean()).map(([ls, nl]) => (ls.length ? ls.join("\n") + (nl ? "\n" : "") : ""));
    fc.assert(
      fc.property(text, text, (a, b) => {
        const d = unifiedDiff(a, b, L);
        if (a === b) return d === "";
        return patched(a, d) === b;
      }),
      { numRuns: 150 },
    );
  });
});
