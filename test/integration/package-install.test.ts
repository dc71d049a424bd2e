// Does not prove `pulumi up` (no Pulumi CLI here: the programs run under Pulumi's mocks) nor the newest registry versions of the peers: npm installs the tarball for real, from the registry (cache first), with @pulumi/pulumi, @pulumi/aws, TypeScript and @types/node pinned to this checkout's versions so the run is repeatable.
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

/** The version of `name` this checkout installed (its package-lock's). */
function installedVersion(name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(MODULES, name, "package.json"), "utf8")) as { version: string }).version;
}

/** The peers and tools a user's project installs next to longshore, at this checkout's versions. */
const PINNED = ["@pulumi/pulumi", "@pulumi/aws", "typescript", "@types/node"];

/** `npm install` in `project`, as a user runs it (install scripts are npm's default: not run unless approved). */
function npmInstall(project: string, specs: string[] = []): void {
  execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...specs], {
    cwd: project,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 300_000,
  });
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
  fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "commonjs" }));
  // What the README says a user runs: `npm install longshore @pulumi/pulumi @pulumi/aws`.
  npmInstall(consumer, [tarball, ...PINNED.map((n) => `${n}@${installedVersion(n)}`)]);
}, 420_000);

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
    // The project's own TypeScript, against the installed package's .d.ts and peers (skipLibCheck off).
    execFileSync(path.join(consumer, "node_modules", ".bin", "tsc"), ["-p", consumer], { cwd: consumer, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
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

  it("serialises every installed dynamic provider with no path of this computer in it, requiring longshore's code by the package's name (what Pulumi stores in the state)", () => {
    // HostKey's provider calls a function of another longshore module: Pulumi captures that module as
    // a require() of its package export, which failed ("package.json export path ... not found")
    // before `./dist/*` was exported (a symlinked install did not show it, a real one does). This
    // project's directory has "longshore" in its path (longshore-pack-...), where Pulumi's lookup of
    // the package's exports gives up and keeps the file's own path: `./dist/*` makes that path a
    // valid export too, so the serialised code loads on any machine; the last step runs it.
    const script = [
      'const pulumi = require("@pulumi/pulumi");',
      'const l = require("longshore");',
      "const providers = { provisionedHost: l.provisionedHostProvider(), healthGate: l.healthGateProvider(), sshKey: l.sshKeyProvider() };",
      "(async () => {",
      "  const out = {};",
      "  for (const [name, provider] of Object.entries(providers)) out[name] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;",
      "  process.stdout.write(JSON.stringify(out));",
      "})().catch((e) => { process.stderr.write(String(e.message)); process.exit(1); });",
    ].join("\n");
    const texts = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: consumer, encoding: "utf8", timeout: 60_000 })) as Record<string, string>;
    expect(Object.keys(texts)).toEqual(["provisionedHost", "healthGate", "sshKey"]);
    expect(texts.provisionedHost).toContain(JSON.stringify("longshore/provisioner/apply-host"));
    expect(texts.sshKey).toContain(JSON.stringify("longshore/dist/modules/ssh-key.js"));
    for (const text of Object.values(texts)) {
      for (const p of [consumer, fs.realpathSync(consumer), dir, ROOT, "/work/", os.tmpdir() + "/"]) expect(text).not.toContain(p);
      expect(text).not.toMatch(/__dirname|__filename/);
    }
    // What Pulumi does with the text when it runs the provider: load it as a module, call create.
    fs.writeFileSync(path.join(consumer, "serialised-ssh-key.js"), texts.sshKey!);
    const created = JSON.parse(
      execFileSync(
        process.execPath,
        ["-e", 'require("./serialised-ssh-key.js").handler().create({ comment: "c" }).then((r) => process.stdout.write(JSON.stringify(r.outs)))'],
        { cwd: consumer, encoding: "utf8", timeout: 30_000 },
      ),
    ) as { publicKey: string; fingerprint: string };
    expect(created.publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* c$/);
    expect(created.fingerprint).toMatch(/^SHA256:/);
  }, 60_000);

  it("runs the command line installed as the package's bin", () => {
    const version = execFileSync(path.join(consumer, "node_modules", ".bin", "longshore"), ["--version"], { cwd: consumer, encoding: "utf8" });
    expect(version.trim()).toMatch(/^longshore 0\.1\.0\b/);
  });

  it("builds examples/own-program against the package and runs it under Pulumi's mocks", () => {
    // The example's README steps: `npm install` (its package.json names the tarball), `npm run build`,
    // `node run-mocked.js`. Here the tarball's path is this run's and the peers are pinned (see above).
    const example = path.join(dir, "own-program");
    fs.mkdirSync(example);
    for (const f of ["package.json", "tsconfig.json", "index.ts", "run-mocked.js", "Pulumi.yaml"]) {
      fs.copyFileSync(path.join(ROOT, "examples", "own-program", f), path.join(example, f));
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(example, "package.json"), "utf8")) as Record<string, Record<string, string>>;
    expect(manifest.dependencies!.longshore).toBe("file:../../longshore-0.1.0.tgz");
    manifest.dependencies!.longshore = `file:${tarball}`;
    for (const group of [manifest.dependencies!, manifest.devDependencies!]) {
      for (const n of PINNED) if (group[n]) group[n] = installedVersion(n);
    }
    fs.writeFileSync(path.join(example, "package.json"), JSON.stringify(manifest, null, 2));
    npmInstall(example);
    execFileSync("npm", ["run", "build", "--silent"], { cwd: example, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
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
  }, 420_000);
});
