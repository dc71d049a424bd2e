// Unit: the architecture's dependency rule, checked on the source text of every module. Does not
// prove anything about behaviour; it keeps the layers from growing into each other.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const LAYERS = ["core", "config", "templates", "provisioner", "rollout", "local", "modules", "stacks", "cli"];

interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => path.join(dir, f));
}

/** Every import/require in a file, resolved to a path relative to the repository for local ones. */
function importsOf(file: string): Import[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    out.push({ file, spec: m[3]!, typeOnly: m[2] !== undefined });
  }
  for (const m of text.matchAll(/require\("([^"]+)"\)/g)) out.push({ file, spec: m[1]!, typeOnly: false });
  return out.map((i) =>
    i.spec.startsWith(".") ? { ...i, spec: path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), i.spec)) } : i,
  );
}

const all = LAYERS.flatMap(sources).flatMap(importsOf);
const layerOf = (spec: string) => spec.split("/")[0]!;
const isPackage = (spec: string) => !LAYERS.includes(layerOf(spec));
const violations = (pred: (i: Import) => boolean) => all.filter(pred).map((i) => `${i.file} -> ${i.spec}`);

describe("dependency rule", () => {
  it("scans the real tree", () => {
    expect(all.length).toBeGreaterThan(200);
  });

  it("only provisioner/transport/ssh2* imports ssh2", () => {
    expect(violations((i) => i.spec === "ssh2" && !/^provisioner\/transport\/ssh2[^/]*\.ts$/.test(i.file))).toEqual([]);
  });

  it("only modules/ and stacks/ import Pulumi", () => {
    expect(violations((i) => i.spec.startsWith("@pulumi/") && !/^(modules|stacks)\//.test(i.file))).toEqual([]);
  });

  it("core/ imports nothing but node builtins", () => {
    expect(violations((i) => i.file.startsWith("core/") && !i.spec.startsWith("node:") && layerOf(i.spec) !== "core")).toEqual([]);
  });

  it("config/ imports zod, yaml, core/ and config/ (plus the SshTarget type it produces)", () => {
    const allowed = (i: Import) =>
      ["zod", "yaml"].includes(i.spec) ||
      i.spec.startsWith("node:") ||
      ["core", "config"].includes(layerOf(i.spec)) ||
      (i.typeOnly && i.spec === "provisioner/transport/ssh-target");
    expect(violations((i) => i.file.startsWith("config/") && !allowed(i))).toEqual([]);
  });

  it("templates/ imports handlebars, config/ and core/ (and the one quoting function)", () => {
    const allowed = (i: Import) =>
      i.spec === "handlebars" || i.spec.startsWith("node:") || ["core", "config", "templates"].includes(layerOf(i.spec)) || i.spec === "provisioner/command";
    expect(violations((i) => i.file.startsWith("templates/") && !allowed(i))).toEqual([]);
  });

  it("provisioner/, rollout/ and local/ never import the CLI", () => {
    expect(violations((i) => /^(provisioner|rollout|local|config|templates|core)\//.test(i.file) && layerOf(i.spec) === "cli")).toEqual([]);
  });

  it("rollout/ reaches infrastructure only through its driver interface", () => {
    const allowed = (i: Import) => i.spec.startsWith("node:") || ["core", "config", "rollout"].includes(layerOf(i.spec));
    expect(violations((i) => i.file.startsWith("rollout/") && !allowed(i))).toEqual([]);
  });

  it("only cli/ (and bench/) decide the exit code", () => {
    const offenders = LAYERS.filter((l) => l !== "cli")
      .flatMap(sources)
      .filter((f) => /process\.exit(Code)?\b/.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
    expect(offenders).toEqual([]);
  });

  it("every third-party import is a declared dependency", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const name = (spec: string) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    expect(violations((i) => isPackage(i.spec) && !i.spec.startsWith("node:") && !(name(i.spec) in pkg.dependencies))).toEqual([]);
  });
});
