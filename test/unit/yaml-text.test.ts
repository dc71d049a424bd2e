// Unit: reading user YAML (model/yaml-text.ts): aliases, duplicate keys and syntax errors become
// issues with the file and line. Does not prove which verbs read which files (the CLI tests do).
import { describe, expect, it } from "vitest";
import { parseYamlText } from "../../model/yaml-text";

function problems(text: string): string[] {
  const r = parseYamlText(text, "e.yaml");
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.data)}`);
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

/** A billion-laughs document: each level a list of nine aliases of the level before (9^9 leaves). */
function aliasBomb(): string {
  const lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  let prev = "a";
  for (const c of "bcdefghi") {
    lines.push(`${c}: &${c} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    prev = c;
  }
  return `name: demo\n${lines.join("\n")}\n`;
}

describe("parseYamlText", () => {
  it("resolves anchors and aliases, also many aliases of one small anchor", () => {
    const hosts = Array.from({ length: 300 }, (_, i) => `  h${i}: *common`).join("\n");
    const r = parseYamlText(`common: &common { user: deploy, port: 22 }\nhosts:\n${hosts}\n`, "e.yaml");
    expect(r.ok).toBe(true);
    const data = r.ok ? (r.data as { hosts: Record<string, unknown> }) : { hosts: {} };
    expect(Object.keys(data.hosts)).toHaveLength(300);
    expect(data.hosts["h299"]).toEqual({ user: "deploy", port: 22 });
  });

  it("an undefined alias is an issue with the file, line and column, every one of them", () => {
    expect(problems("name: demo\napp:\n  name: demo\n  image: *nope\n  env: { A: *also }\n")).toEqual([
      "e.yaml: line 4, column 10: YAML: unresolved alias *nope: no anchor &nope before it",
      "e.yaml: line 5, column 13: YAML: unresolved alias *also: no anchor &also before it",
    ]);
  });

  it("an alias used before its anchor is unresolved", () => {
    expect(problems("a: *x\nb: &x 1\n")).toEqual(["e.yaml: line 1, column 4: YAML: unresolved alias *x: no anchor &x before it"]);
  });

  it("an alias bomb is refused at the alias that crosses the limit, at once", () => {
    const started = Date.now();
    expect(problems(aliasBomb())).toEqual([
      "e.yaml: line 6, column 8: YAML: alias *d takes the values copied through aliases past 10000 (an alias bomb?)",
    ]);
    // Not a timing assertion of the fix: a guard that the test itself cannot hang the suite.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("an alias inside the node it names is refused (it would make a cycle)", () => {
    expect(problems("a: &a [1, *a]\n")).toEqual(["e.yaml: line 1, column 11: YAML: alias *a is inside the node &a it names"]);
  });

  it("duplicate keys are still refused with their line, in a flow map too", () => {
    expect(problems("a: 1\nb: 2\na: 3\nc: { x: 1, x: 2 }\n")).toEqual([
      "e.yaml: line 3, column 1: YAML: Map keys must be unique",
      "e.yaml: line 4, column 12: YAML: Map keys must be unique",
    ]);
  });

  it("syntax errors keep their line and column", () => {
    expect(problems("a: [1, 2\nb: 3\n")).toEqual([expect.stringMatching(/^e\.yaml: line \d+, column \d+: YAML: /)]);
  });
});
