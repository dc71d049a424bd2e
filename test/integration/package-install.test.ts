// Does not prove `pulumi up` or the Pulumi engine's own refresh (no Pulumi CLI here: programs run under Pulumi's mocks; read and diff are called on the deserialised provider), nor the newest registry versions of the peers (npm installs the tarball for real, from the registry with the cache first, with @pulumi/pulumi, @pulumi/aws, TypeScript and @types/node pinned to this checkout's versions so runs repeat), nor a host with a real engine in the refresh case (its docker and sha256sum report set values).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installInto, installProject, packCheckout, ROOT } from "../helpers/packed-package";
import { startSshd, type Sshd } from "../helpers/sshd";

let dir: string;
let tarball: string;
let files: string[];
let consumer: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-pack-"));
  ({ tarball, files } = packCheckout(dir));
  consumer = path.join(dir, "consumer");
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "commonjs" }));
  // What the README says a user runs: `npm install longshore @pulumi/pulumi @pulumi/aws`.
  installInto(consumer, tarball);
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
    // The one TypeScript source: the `pulumi new` template's program, a user's project.
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual(["templates/pulumi-web/index.ts"]);
    expect(files.filter((f) => f.startsWith("templates/pulumi-web/")).sort()).toEqual(
      ["Pulumi.yaml", "index.ts", "longshore.yaml", "package.json", "tsconfig.json"].map((f) => `templates/pulumi-web/${f}`),
    );
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
    expect(out.exports).toEqual(["applyHost", "httpGetThrough", "inspectHost", "planHostHash", "provisionHosts"]);
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

  it("`longshore --help` from the installed package loads no AWS SDK module (the S3 client is required on the lock's first use)", () => {
    const hook = path.join(consumer, "count-modules.js");
    fs.writeFileSync(
      hook,
      'process.on("exit", () => { const k = Object.keys(require.cache); process.stderr.write("\\n" + JSON.stringify({ total: k.length, sdk: k.filter((f) => /[/]@aws-sdk[/]|[/]@smithy[/]/.test(f)).length, cli: k.some((f) => f.endsWith("/cli/main.js")) })); });\n',
    );
    const r = spawnSync(process.execPath, ["-r", hook, path.join(consumer, "node_modules", "longshore", "dist", "cli", "main.js"), "--help"], { cwd: consumer, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Usage: longshore");
    const counted = JSON.parse(r.stderr.trim().split("\n").pop()!) as { total: number; sdk: number; cli: boolean };
    expect(counted.cli).toBe(true);
    expect(counted.sdk).toBe(0);
    // The same hook does see the SDK when it is loaded (so 0 above is a count, not a blind spot).
    const withSdk = spawnSync(process.execPath, ["-r", hook, "-e", 'require("@aws-sdk/client-s3")'], { cwd: consumer, encoding: "utf8", timeout: 60_000 });
    expect((JSON.parse(withSdk.stderr.trim().split("\n").pop()!) as { sdk: number }).sdk).toBeGreaterThan(0);
  });

  it("builds templates/pulumi-web against the package (as `pulumi new` copies it) and runs longshore's web program from it under Pulumi's mocks with the config its Pulumi.yaml lists", () => {
    const project = path.join(dir, "pulumi-web");
    fs.cpSync(path.join(ROOT, "templates", "pulumi-web"), project, { recursive: true });
    installProject(project, tarball);
    execFileSync(path.join(project, "node_modules", ".bin", "tsc"), ["-p", project], { cwd: project, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    // The runner: config exactly as the template section lists it (defaults, a value for each secret), then the program under mocks.
    fs.writeFileSync(
      path.join(project, "run-mocked.js"),
      [
        'const crypto = require("node:crypto");',
        'const fs = require("node:fs");',
        'const pulumi = require("@pulumi/pulumi");',
        'const { parse } = require("yaml");',
        'const { openSshEd25519FromSeed } = require("longshore");',
        'const project = parse(fs.readFileSync("Pulumi.yaml", "utf8"));',
        "const config = {}; const secret = [];",
        "const omit = process.argv[2];",
        "for (const [k, v] of Object.entries(project.template.config)) {",
        "  if (k === omit) continue;",
        '  const key = k.includes(":") ? k : `${project.name}:${k}`;',
        '  config[key] = v.default !== undefined ? String(v.default) : "value-of-" + k;',
        "  if (v.secret) secret.push(key);",
        "}",
        "pulumi.runtime.setAllConfig(config, secret);",
        "const registered = [];",
        "pulumi.runtime.setMocks({",
        "  newResource: (a) => {",
        "    registered.push(`${a.type}::${a.name}`);",
        "    const state = { ...a.inputs, arn: `arn:mock:${a.name}` };",
        '    if (a.type === "pulumi-nodejs:dynamic/longshore:HostKey" || a.type === "pulumi-nodejs:dynamic/longshore:DeployKey") {',
        "      const pair = openSshEd25519FromSeed(crypto.createHash(\"sha256\").update(a.name).digest(), String(a.inputs.comment));",
        "      Object.assign(state, { publicKey: pair.publicKey, fingerprint: pair.fingerprint, privateKey: pair.privateKey });",
        "    }",
        '    if (a.type === "aws:ec2/instance:Instance") Object.assign(state, { publicIp: "198.51.100.7", privateIp: "10.0.0.7" });',
        '    if (a.type === "aws:lb/loadBalancer:LoadBalancer") Object.assign(state, { dnsName: "web-lb.example.elb.amazonaws.com" });',
        '    if (a.type === "aws:s3/bucket:Bucket") Object.assign(state, { bucket: "longshore-lock-0123" });',
        "    return { id: `${a.name}-id`, state };",
        "  },",
        "  call: (a) => {",
        '    if (a.token === "aws:index/getAvailabilityZones:getAvailabilityZones") return { id: "eu-west-1", names: ["eu-west-1a", "eu-west-1b"], zoneIds: ["euw1-az1", "euw1-az2"] };',
        '    if (a.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0", name: "debian-12-amd64-20250101-1966", architecture: "x86_64" };',
        "    throw new Error(`no mock for call ${a.token}`);",
        "  },",
        '}, project.name, "test", false);',
        "const value = (o) => new Promise((r) => pulumi.output(o).apply(r));",
        'require("./index.js")().then((out) => Promise.all([value(out.url), value(out.hostNames), value(out.liveSlot), value(out.lockBucket)]))',
        "  .then(([url, hostNames, liveSlot, lockBucket]) => setTimeout(() => process.stdout.write(JSON.stringify({ url, hostNames, liveSlot, lockBucket, registered: registered.sort() })), 500))",
        '  .catch((e) => { process.stderr.write(String(e && e.message)); process.exit(1); });',
        "",
      ].join("\n"),
    );
    const out = JSON.parse(execFileSync(process.execPath, ["run-mocked.js"], { cwd: project, encoding: "utf8", timeout: 60_000 })) as {
      url: string;
      hostNames: Record<string, string[]>;
      liveSlot: string;
      lockBucket: string;
      registered: string[];
    };
    // The environment of the template's longshore.yaml, built by the same program as stacks/web.
    expect(out.url).toBe("http://web-lb.example.elb.amazonaws.com/");
    expect(out.hostNames).toEqual({ blue: ["web-blue-0", "web-blue-1"], green: [] });
    expect(out.liveSlot).toBe("blue");
    expect(out.lockBucket).toBe("longshore-lock-0123");
    expect(out.registered.filter((r) => r.startsWith("pulumi-nodejs:dynamic/longshore:ProvisionedHost"))).toEqual([
      "pulumi-nodejs:dynamic/longshore:ProvisionedHost::web-blue-0",
      "pulumi-nodejs:dynamic/longshore:ProvisionedHost::web-blue-1",
    ]);
    expect(out.registered.filter((r) => r.startsWith("aws:ec2/instance:"))).toEqual(["aws:ec2/instance:Instance::web-blue-0", "aws:ec2/instance:Instance::web-blue-1"]);
    expect(out.registered.filter((r) => r.startsWith("aws:lb/loadBalancer:"))).toHaveLength(1);
    // Every config key the program requires is in the template section: leaving one out fails the program, naming it.
    const missingRegion = spawnSync(process.execPath, ["run-mocked.js", "aws:region"], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect(missingRegion.status).toBe(1);
    expect(missingRegion.stderr).toContain("aws.region: is eu-west-1, but the stack has no aws:region: make them agree");
    const missingSecret = spawnSync(process.execPath, ["run-mocked.js", "dbPassword"], { cwd: project, encoding: "utf8", timeout: 60_000 });
    expect(missingSecret.status).toBe(1);
    expect(missingSecret.stderr).toContain("app.secrets.DB_PASSWORD: the stack has no config longshore-web:dbPassword: set it with `pulumi config set --secret dbPassword <value>`");
  }, 420_000);

  it("builds examples/own-program against the package and runs it under Pulumi's mocks", () => {
    // The example's README steps: `npm install` (its package.json names the tarball), `npm run build`,
    // `node run-mocked.js`. Here the tarball's path is this run's and the peers are pinned (see above).
    const example = path.join(dir, "own-program");
    fs.mkdirSync(example);
    for (const f of ["package.json", "tsconfig.json", "index.ts", "run-mocked.js", "Pulumi.yaml"]) {
      fs.copyFileSync(path.join(ROOT, "examples", "own-program", f), path.join(example, f));
    }
    expect((JSON.parse(fs.readFileSync(path.join(example, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies.longshore).toBe("file:../../longshore-0.1.0.tgz");
    installProject(example, tarball);
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

describe("pulumi refresh from another directory (the ProvisionedHost provider loaded from another install)", () => {
  // A real sshd on 127.0.0.1 is the host; its sessions find a `docker` and a `sha256sum` that report
  // the engine this test sets (the provider's read runs `docker version` and `sha256sum
  // /etc/docker/daemon.json` there: this machine's own engine is not touched).
  let sshd: Sshd | undefined;
  let stub: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    stub = path.join(dir, "host-bin");
    fs.mkdirSync(stub);
    fs.writeFileSync(path.join(stub, "version"), "24.0.7\n");
    fs.writeFileSync(path.join(stub, "daemon.json"), '{"log-driver":"json-file"}\n');
    fs.writeFileSync(path.join(stub, "docker"), `#!/bin/sh\ncat ${stub}/version\n`, { mode: 0o755 });
    fs.writeFileSync(
      path.join(stub, "sha256sum"),
      `#!/bin/sh\n[ "$2" = /etc/docker/daemon.json ] && exec /usr/bin/sha256sum -- ${stub}/daemon.json\nexec /usr/bin/sha256sum "$@"\n`,
      { mode: 0o755 },
    );
    sshd = await startSshd({ extraConfig: [`SetEnv PATH=${stub}:/usr/local/bin:/usr/bin:/bin`] });
    first = path.join(dir, "first-checkout", "infra");
    second = path.join(dir, "elsewhere", "other-program");
    // Two more installs at other paths: copies of the consumer's real `npm install` (package.json,
    // lock and node_modules, links kept as npm made them), which is what a second `npm install` of
    // the same tarball lays out, without another 15-30 s of npm.
    for (const d of [first, second]) {
      fs.mkdirSync(d, { recursive: true });
      for (const f of ["package.json", "package-lock.json", "node_modules"]) fs.cpSync(path.join(consumer, f), path.join(d, f), { recursive: true, verbatimSymlinks: true });
    }
  });

  afterAll(async () => {
    await sshd?.stop();
  });

  /** Runs `script` with node in `cwd` (its requires resolve from there), `input` on stdin; its stdout as JSON. */
  const nodeIn = <T>(cwd: string, script: string, input: unknown): T =>
    JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd, input: JSON.stringify(input), encoding: "utf8", timeout: 60_000 })) as T;

  /** In `second`: the provider from the state's serialised text (as Pulumi's dynamic provider host loads it), then read and diff. */
  const REFRESH = [
    'const fs = require("node:fs");',
    'const requireFromString = require("require-from-string");',
    'const { text, id, outs, inputs } = JSON.parse(fs.readFileSync(0, "utf8"));',
    "const provider = requireFromString(text).handler();",
    "(async () => {",
    "  const read = await provider.read(id, outs);",
    "  const diff = await provider.diff(read.id, read.props, inputs);",
    '  process.stdout.write(JSON.stringify({ read, diff, entry: require.resolve("longshore/provisioner/apply-host") }));',
    "})().catch((e) => { process.stderr.write(String(e && e.stack)); process.exit(1); });",
  ].join("\n");

  it("state made with the provider of one install: read and diff from another path report no drift and no change, and no path of either is in the state", async () => {
    const privateKey = fs.readFileSync(sshd!.clientKeyPath, "utf8");
    const connection = { name: "web-blue-0", address: sshd!.address, port: sshd!.port, user: "root", privateKey, hostKeyFingerprint: sshd!.hostKeyFingerprint };
    const plan = {
      slot: "blue",
      app: { name: "shop", image: "registry.example.com/shop:1.0", port: 8080, hostPort: 8080, env: {}, secrets: {}, health: { path: "/healthz" } },
      engine: {},
      healthDeadlineSeconds: 60,
    };
    // The first install: the resource's state as `pulumi up` records it (what create stores: its
    // inputs and what the host reports after applying), and the provider's serialised text.
    const made = nodeIn<{ text: string; inputs: Record<string, unknown>; outs: Record<string, unknown>; entry: string }>(
      first,
      [
        'const fs = require("node:fs");',
        'const pulumi = require("@pulumi/pulumi");',
        'const { provisionedHostProvider } = require("longshore");',
        'const entry = require("longshore/provisioner/apply-host");',
        'const { connection, plan } = JSON.parse(fs.readFileSync(0, "utf8"));',
        "const provider = provisionedHostProvider();",
        "(async () => {",
        "  const inputs = { connection, ...plan, planHash: entry.planHostHash(plan) };",
        "  const host = await entry.inspectHost(inputs);",
        "  const outs = { ...inputs, appliedPlanHash: inputs.planHash, engineVersion: host.engineVersion, daemonJsonSha256: host.daemonJsonSha256, drift: [] };",
        "  const text = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;",
        '  process.stdout.write(JSON.stringify({ text, inputs, outs, entry: require.resolve("longshore/provisioner/apply-host") }));',
        "})().catch((e) => { process.stderr.write(String(e && e.stack)); process.exit(1); });",
      ].join("\n"),
      { connection, plan },
    );
    expect(made.entry).toBe(path.join(fs.realpathSync(first), "node_modules", "longshore", "dist", "provisioner", "apply-host.js"));
    expect(made.outs).toMatchObject({ engineVersion: "24.0.7", daemonJsonSha256: expect.stringMatching(/^[0-9a-f]{64}$/), drift: [] });
    // The first install is gone (a deleted checkout, another machine): nothing of it may be needed.
    fs.rmSync(path.dirname(first), { recursive: true, force: true });

    const state = { text: made.text, id: "web-blue-0", outs: made.outs, inputs: made.inputs };
    const refreshed = nodeIn<{ read: { id: string; props: Record<string, unknown> }; diff: { changes: boolean; replaces: string[] }; entry: string }>(second, REFRESH, state);
    expect(refreshed.entry).toBe(path.join(fs.realpathSync(second), "node_modules", "longshore", "dist", "provisioner", "apply-host.js"));
    expect(refreshed.read).toEqual({ id: "web-blue-0", props: made.outs });
    expect(refreshed.diff).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });

    const stored = `${made.text}\n${JSON.stringify(made.outs)}`;
    for (const p of [first, second, fs.realpathSync(second), dir, ROOT, "/work/", stub, os.tmpdir() + "/"]) expect(stored).not.toContain(p);
    expect(made.text).not.toMatch(/__dirname|__filename/);

    // The same read can see drift (so "no drift" above was looked for): a hand-changed engine and daemon.json.
    fs.writeFileSync(path.join(stub, "version"), "25.0.0\n");
    fs.writeFileSync(path.join(stub, "daemon.json"), "{}\n");
    const drifted = nodeIn<{ read: { props: { drift: string[] } }; diff: { changes: boolean } }>(second, REFRESH, state);
    expect(drifted.read.props.drift).toEqual([
      "engine version: applied 24.0.7, found 25.0.0",
      `daemon.json: applied sha256 ${String(made.outs.daemonJsonSha256)}, found ${execFileSync("sha256sum", [path.join(stub, "daemon.json")], { encoding: "utf8" }).split(" ")[0]}`,
    ]);
    expect(drifted.diff.changes).toBe(true);
  }, 120_000);
});

