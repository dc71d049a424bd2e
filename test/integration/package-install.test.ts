// Does not prove npm's own dependency resolution of the tarball (no network here, and the npm cache has no packuments for the peers): the tarball is unpacked into node_modules/longshore the way npm lays it out, and its dependencies and peers are links to this checkout's node_modules.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");
const MODULES = path.join(ROOT, "node_modules");

let dir: string;
let tarball: string;
let files: string[];
let consumer: string;

/** A copy of the checkout's files (tracked and new, not ignored), so `npm pack`'s build does not touch this checkout's dist/. */
function copyCheckout(to: string): void {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
  for (const rel of listed.split("\0")) {
    if (!rel || rel === "node_modules" || rel.startsWith("node_modules/")) continue;
    const from = path.join(ROOT, rel);
    if (!fs.existsSync(from)) continue; // deleted in the work tree, not yet in the index
    fs.mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(to, rel));
  }
  fs.symlinkSync(MODULES, path.join(to, "node_modules"));
}

/** A fresh project with the packed longshore in node_modules and every other package linked from this checkout's. */
function installInto(project: string): void {
  const modules = path.join(project, "node_modules");
  fs.mkdirSync(path.join(modules, "longshore"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", path.join(modules, "longshore"), "--strip-components=1"]);
  for (const name of fs.readdirSync(MODULES)) {
    if (name !== "longshore" && !fs.existsSync(path.join(modules, name))) fs.symlinkSync(path.join(MODULES, name), path.join(modules, name));
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-pack-"));
  const src = path.join(dir, "src");
  copyCheckout(src);
  const out = path.join(dir, "out");
  fs.mkdirSync(out);
  // prepack builds dist/ with tsconfig.build.json first.
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", out], { cwd: src, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = path.join(out, packed[0]!.filename);
  files = packed[0]!.files.map((f) => f.path);
  consumer = path.join(dir, "consumer");
  fs.mkdirSync(consumer);
  installInto(consumer);
}, 240_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the packed longshore package", () => {
  it("ships the built code with its types, templates and README, and no tests, benchmarks or TypeScript sources", () => {
    expect(files).toContain("package.json");
    expect(files).toContain("README.md");
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.d.ts");
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("dist/provisioner/apply-host.js");
    expect(files).toContain("dist/provisioner/apply-host.d.ts");
    expect(files).toContain("templates/engine/install.sh.hbs");
    expect(files.filter((f) => /(^|\/)(test|bench)\//.test(f) || /vitest/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    const manifest = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as Record<string, Record<string, string>>;
    expect(manifest.peerDependencies).toEqual({ "@pulumi/aws": "^7.47.0", "@pulumi/pulumi": "^3.142.0" });
    expect(manifest.dependencies!["@pulumi/pulumi"]).toBeUndefined();
  });

  it("type-checks a strict program importing the components and the model by the package's name", () => {
    fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "commonjs" }));
    fs.writeFileSync(
      path.join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "ES2022", types: ["node"], noEmit: true, skipLibCheck: false },
        files: ["index.ts"],
      }),
    );
    fs.writeFileSync(
      path.join(consumer, "index.ts"),
      [
        'import { HostFleet, Network, ProvisionedHost, parseEnvironment, type Environment, type HostFleetArgs } from "longshore";',
        'import { main } from "longshore/cli";',
        "export const components = [HostFleet, Network, ProvisionedHost];",
        "export function name(env: Environment): string {",
        "  return env.name;",
        "}",
        "export type Args = HostFleetArgs;",
        "export const parse = parseEnvironment;",
        "export const cli: typeof main = main;",
        "",
      ].join("\n"),
    );
    execFileSync(path.join(MODULES, ".bin", "tsc"), ["-p", consumer], { cwd: consumer, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }, 120_000);

  it("resolves the provisioner's entry by the package's export from the program's directory, as the dynamic provider does", () => {
    const script = [
      'const entry = require.resolve("longshore/provisioner/apply-host");',
      'const m = require("longshore/provisioner/apply-host");',
      'const main = require("longshore");',
      "console.log(JSON.stringify({ entry, exports: Object.keys(m).sort(), default: main.DEFAULT_APPLY_HOST_ENTRY }));",
    ].join("\n");
    const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: consumer, encoding: "utf8" })) as { entry: string; exports: string[]; default: string };
    expect(out.entry).toBe(path.join(fs.realpathSync(consumer), "node_modules", "longshore", "dist", "provisioner", "apply-host.js"));
    expect(out.exports).toEqual(["applyHost", "inspectHost", "planHostHash", "provisionHosts"]);
    expect(out.default).toBe("longshore/provisioner/apply-host");
  });

  it("serialises the installed ProvisionedHost provider with no path of this computer in it (what Pulumi stores in the state)", () => {
    const script = [
      'const pulumi = require("@pulumi/pulumi");',
      'const { provisionedHostProvider } = require("longshore");',
      "const provider = provisionedHostProvider();",
      "pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }).then((sf) => process.stdout.write(sf.text));",
    ].join("\n");
    const text = execFileSync(process.execPath, ["-e", script], { cwd: consumer, encoding: "utf8", timeout: 60_000 });
    expect(text).toContain(JSON.stringify("longshore/provisioner/apply-host"));
    for (const p of [consumer, fs.realpathSync(consumer), dir, ROOT, "/work/", os.tmpdir() + "/"]) expect(text).not.toContain(p);
    expect(text).not.toMatch(/__dirname|__filename/);
  }, 60_000);

  it("builds examples/own-program against the package and runs it under Pulumi's mocks", () => {
    // The example's package.json names the tarball (`file:../../longshore-0.1.0.tgz`); here the same
    // tarball is laid out in its node_modules as above.
    const example = path.join(dir, "own-program");
    fs.mkdirSync(example);
    for (const f of ["package.json", "tsconfig.json", "index.ts", "run-mocked.js", "Pulumi.yaml"]) {
      fs.copyFileSync(path.join(ROOT, "examples", "own-program", f), path.join(example, f));
    }
    installInto(example);
    execFileSync(path.join(MODULES, ".bin", "tsc"), ["-p", example], { cwd: example, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const out = JSON.parse(execFileSync(process.execPath, ["run-mocked.js"], { cwd: example, encoding: "utf8", timeout: 60_000 })) as {
      vpcId: string;
      hostNames: string[];
      registered: string[];
    };
    expect(out.vpcId).toBe("own-net-id");
    expect(out.hostNames).toEqual(["own-blue-0", "own-blue-1"]);
    expect(out.registered.filter((r) => r.startsWith("longshore:"))).toEqual([
      "longshore:compute:HostFleet::own-blue",
      "longshore:network:Network::own-net",
      "longshore:network:WebSecurityGroups::own-sg",
    ]);
    expect(out.registered.filter((r) => r.startsWith("aws:ec2/instance:") || r.includes(":HostKey::"))).toEqual([
      "aws:ec2/instance:Instance::own-blue-0",
      "aws:ec2/instance:Instance::own-blue-1",
      "pulumi-nodejs:dynamic/longshore:HostKey::own-blue-hostkey-0",
      "pulumi-nodejs:dynamic/longshore:HostKey::own-blue-hostkey-1",
    ]);
  }, 120_000);
});
