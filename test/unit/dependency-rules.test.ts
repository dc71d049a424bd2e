// Unit: the architecture's dependency rule (../shared/ARCHITECTURE.md), checked on the source text
// of every module, as rules over layers with no file excepted. Does not prove anything about
// behaviour; it keeps the layers from growing into each other.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");
const LAYERS = ["core", "model", "templates", "provisioner", "rollout", "drivers", "modules", "stacks", "cli"];

interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  // templates/pulumi-web is a user's project (a `pulumi new` template importing the package by name), not a layer of longshore.
  return fs
    .readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !path.join(dir, f).startsWith(path.join("templates", "pulumi-web") + path.sep))
    .map((f) => path.join(dir, f));
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

/** The layer of a repository path: `drivers/local`, `drivers/aws`, or its top folder. */
const unitOf = (spec: string) => (spec.startsWith("drivers/") ? spec.split("/").slice(0, 2).join("/") : layerOf(spec));
const isNode = (spec: string) => spec.startsWith("node:");

/**
 * What each layer may import, as a rule over layers and packages: no file is named, no exception
 * is listed. `types` are layers whose types (never code) a layer may use.
 */
const RULES: Record<string, { packages: string[]; layers: string[]; types?: string[] }> = {
  core: { packages: [], layers: ["core"] },
  model: { packages: ["zod", "yaml"], layers: ["core", "model"] },
  templates: { packages: ["handlebars"], layers: ["core", "model", "templates"] },
  // openpgp: the engine bundle's native resolver checks the archive's signed InRelease (provisioner/bundle/).
  provisioner: { packages: ["zod", "ssh2", "openpgp"], layers: ["core", "model", "templates", "provisioner"] },
  rollout: { packages: [], layers: ["core", "model", "rollout"] },
  // The local driver validates its own state files (machines, addresses, templates) and writes inventories.
  "drivers/local": { packages: ["zod", "yaml"], layers: ["core", "model", "templates", "provisioner", "rollout", "drivers/local"] },
  // The aws driver reaches its hosts through the provisioner's transport too (its health probes run over SSH),
  // and takes the lock across operators on S3 (the SDK, required lazily: s3-lock-client.ts).
  "drivers/aws": { packages: ["@aws-sdk/client-s3"], layers: ["core", "model", "provisioner", "rollout", "drivers/aws"] },
  modules: { packages: ["@pulumi/pulumi", "@pulumi/aws"], layers: ["core", "model", "templates", "modules"], types: ["provisioner"] },
  stacks: { packages: ["@pulumi/pulumi", "@pulumi/aws"], layers: ["core", "model", "modules", "stacks"], types: ["provisioner", "drivers/aws"] },
};

function allowed(i: Import): boolean {
  const rule = RULES[unitOf(i.file)];
  if (!rule) return true; // cli/ wires everything together
  if (isNode(i.spec)) return true;
  if (isPackage(i.spec)) {
    const name = i.spec.startsWith("@") ? i.spec.split("/").slice(0, 2).join("/") : i.spec.split("/")[0]!;
    return rule.packages.includes(name);
  }
  const target = unitOf(i.spec);
  return rule.layers.includes(target) || (i.typeOnly && (rule.types ?? []).includes(target));
}

describe("dependency rule", () => {
  it("scans the real tree", () => {
    expect(all.length).toBeGreaterThan(200);
  });

  it("every layer imports only what its rule allows (no file is an exception)", () => {
    expect(all.filter((i) => !allowed(i)).map((i) => `${i.file} -> ${i.spec}${i.typeOnly ? " (type)" : ""}`)).toEqual([]);
  });

  it("only provisioner/transport/ssh2* imports ssh2", () => {
    expect(violations((i) => i.spec === "ssh2" && !/^provisioner\/transport\/ssh2[^/]*\.ts$/.test(i.file))).toEqual([]);
  });

  it("only modules/ and stacks/ import Pulumi", () => {
    expect(violations((i) => i.spec.startsWith("@pulumi/") && !/^(modules|stacks)\//.test(i.file))).toEqual([]);
  });

  it("nothing but cli/ imports cli/; drivers never import each other", () => {
    expect(violations((i) => !i.file.startsWith("cli/") && layerOf(i.spec) === "cli")).toEqual([]);
    expect(violations((i) => unitOf(i.file).startsWith("drivers/") && unitOf(i.spec).startsWith("drivers/") && unitOf(i.spec) !== unitOf(i.file))).toEqual([]);
  });

  it("only cli/ (and bench/) decide the exit code", () => {
    const offenders = LAYERS.filter((l) => l !== "cli")
      .flatMap(sources)
      .filter((f) => /process\.exit(Code)?\b/.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
    expect(offenders).toEqual([]);
  });

  it("every third-party import is a declared dependency or peer dependency; every peer is a dev dependency too (the repository's own install)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Record<"dependencies" | "peerDependencies" | "devDependencies", Record<string, string>>;
    const declared = { ...pkg.dependencies, ...pkg.peerDependencies };
    const name = (spec: string) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    expect(violations((i) => isPackage(i.spec) && !i.spec.startsWith("node:") && !(name(i.spec) in declared))).toEqual([]);
    expect(Object.keys(pkg.peerDependencies).filter((p) => !(p in pkg.devDependencies) || p in pkg.dependencies)).toEqual([]);
  });
});
