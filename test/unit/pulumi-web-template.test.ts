// Unit: the `pulumi new` template's files as data (its environment file through the model, its Pulumi.yaml's template section). Does not prove `pulumi new` accepts it (no Pulumi CLI here) or that the program runs (test/integration/package-install.test.ts builds and runs it against the packed package under Pulumi's mocks).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseEnvironment } from "../../model/environment-file";

const DIR = path.resolve(__dirname, "..", "..", "templates", "pulumi-web");
const read = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");

describe("templates/pulumi-web", () => {
  it("its longshore.yaml is an aws environment the model accepts", () => {
    const r = parseEnvironment(read("longshore.yaml"), "templates/pulumi-web/longshore.yaml");
    if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
    expect([r.value.name, r.value.driver, r.value.aws?.region, r.value.slots.blue.size, r.value.live]).toEqual(["web", "aws", "eu-west-1", 2, "blue"]);
  });

  it("Pulumi.yaml: name, runtime nodejs, description, and a template section listing aws:region (with a default) and every { pulumi: KEY } secret of the file as secret", () => {
    const project = parse(read("Pulumi.yaml")) as Record<string, any>;
    expect(project.name).toBe("longshore-web");
    expect(project.runtime.name).toBe("nodejs");
    expect(typeof project.description).toBe("string");
    expect(typeof project.template.description).toBe("string");
    const r = parseEnvironment(read("longshore.yaml"), "longshore.yaml");
    if (!r.ok) throw new Error("invalid");
    const secretKeys = Object.values(r.value.app.secrets).flatMap((s) => ("pulumi" in s ? [s.pulumi] : []));
    expect(secretKeys).toEqual(["dbPassword"]);
    const config = project.template.config as Record<string, { description?: string; default?: string; secret?: boolean }>;
    expect(Object.keys(config).sort()).toEqual(["aws:region", ...secretKeys].sort());
    expect(config["aws:region"]).toMatchObject({ default: r.value.aws!.region });
    for (const k of secretKeys) expect(config[k]).toMatchObject({ secret: true, description: expect.any(String) });
    // The program is longshore's web program (which reads aws:region, the file's { pulumi } secrets
    // and an optional environmentFile), pointed at the longshore.yaml next to it.
    const program = read("index.ts");
    expect(program).toContain('import { webProgram } from "longshore";');
    expect(program).toContain('export = webProgram({ environmentFile: path.join(__dirname, "longshore.yaml") });');
  });

  it("package.json depends on longshore and its peers; tsconfig compiles index.ts next to itself (Pulumi.yaml's main)", () => {
    const pkg = JSON.parse(read("package.json")) as { main: string; dependencies: Record<string, string> };
    const ours = JSON.parse(fs.readFileSync(path.resolve(DIR, "..", "..", "package.json"), "utf8")) as { version: string; peerDependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["longshore", ...Object.keys(ours.peerDependencies)].sort());
    expect(pkg.dependencies["longshore"]).toBe(`^${ours.version}`);
    expect(pkg.main).toBe((parse(read("Pulumi.yaml")) as { main: string }).main);
    expect((JSON.parse(read("tsconfig.json")) as { files: string[] }).files).toEqual(["index.ts"]);
  });
});
