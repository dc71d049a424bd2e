// Mocks: does not prove the Pulumi CLI runs this program (no CLI here); it calls stacks/web/index.ts's program with config set through the SDK's own config store, the provisioner's entry replaced by a fixture.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
// The harness installs Pulumi's mocks when imported: it must stay the first import of the code under test.
import { isSecret, registrations, resetRegistrations, reveal, settle, type Registration } from "./harness";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { parseEnvironment } from "../../../model/environment-file";
import { serializeLockFile } from "../../../model/lock-file";
import { buildWebStack, type AwsEnvironment } from "../../../stacks/web/web-stack";

// The built provisioner entry is not there under vitest: the program loads this fixture instead
// (its planHostHash is `plan:<slot>:<image>`).
vi.mock("../../../modules/provisioned-host", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../../modules/provisioned-host")>();
  const p = await import("node:path");
  return { ...actual, DEFAULT_APPLY_HOST_ENTRY: p.resolve(__dirname, "fixtures", "fake-apply-host") };
});

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea admin@laptop";
const EXAMPLE = path.resolve(__dirname, "..", "..", "..", "stacks", "web", "longshore.example.yaml");
const DYN = "pulumi-nodejs:dynamic/longshore:ProvisionedHost";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-web-program-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An aws environment file: two blue hosts, green empty. */
function environmentText(edit: (raw: Record<string, any>) => void = () => {}): string {
  const raw: Record<string, any> = {
    name: "test",
    driver: "aws",
    app: { name: "shop", image: "shop:1.0", port: 8080 },
    slots: { blue: { image: "shop:1.0", size: 2 }, green: { image: null } },
    live: "blue",
    aws: { region: "eu-west-1", sshPublicKey: KEY, adminCidrs: ["203.0.113.7/32"] },
  };
  edit(raw);
  return stringify(raw);
}

function writeFile(name: string, text: string, mode = 0o644): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return file;
}

type Program = () => Promise<Record<string, unknown>>;

/** Runs the program with this stack config (as `pulumi up` would hand it over) and waits for every registration. */
async function runProgram(config: Record<string, string>, secretKeys: string[] = []): Promise<Record<string, unknown>> {
  resetRegistrations();
  pulumi.runtime.setAllConfig(config, secretKeys);
  const mod = (await import("../../../stacks/web/index.js")) as unknown as { default: Program };
  const outputs = await mod.default();
  await settle();
  return outputs;
}

/** The program's failure: it must be a RunError (Pulumi prints its message without a stack trace), before any resource. */
async function failure(config: Record<string, string>, secretKeys: string[] = []): Promise<string> {
  let error: unknown;
  try {
    await runProgram(config, secretKeys);
  } catch (e) {
    error = e;
  }
  expect(pulumi.RunError.isInstance(error)).toBe(true);
  const message = (error as Error).message;
  expect(message).not.toMatch(/\n\s+at /);
  await settle();
  expect(registrations).toEqual([]);
  return message;
}

const resolve = <T>(o: unknown) => new Promise<T>((r) => (o as pulumi.Output<T>).apply((v) => r(v)));

describe("stacks/web/index.ts", () => {
  it("reads the environment file named by web:environmentFile, resolves its secrets, declares the environment and returns its public outputs", async () => {
    writeFile("api-token", "token-from-a-file\n", 0o600);
    const file = writeFile(
      "longshore.yaml",
      environmentText((raw) => {
        raw.app.secrets = { DB_PASSWORD: { pulumi: "dbPassword" }, API_TOKEN: { file: "./api-token" } };
      }),
    );
    const outputs = await runProgram(
      { "aws:region": "eu-west-1", "web:environmentFile": file, "web:dbPassword": "from-the-stack" },
      ["web:dbPassword"],
    );
    expect(registrations.filter((r) => r.type === "aws:ec2/instance:Instance").map((r) => r.name).sort()).toEqual(["web-blue-0", "web-blue-1"]);
    expect(Object.keys(outputs).sort()).toEqual(
      ["amiIds", "bastion", "deployPublicKey", "hostAddresses", "hostImage", "hostKeyFingerprints", "hostNames", "liveSlot", "loadBalancerDnsName", "lockBucket", "sshUser", "testEndpoints", "url", "vpcId", "weights"].sort(),
    );
    expect([outputs.liveSlot, outputs.weights, outputs.hostNames, outputs.sshUser, outputs.bastion]).toEqual(["blue", null, { blue: ["test-blue-0", "test-blue-1"], green: [] }, "admin", null]);
    expect(await resolve(outputs.url)).toBe("http://web-lb-1234567890.eu-west-1.elb.amazonaws.com/");
    const hosts = registrations.filter((r) => r.type === DYN);
    expect(hosts.map((r) => r.name)).toEqual(["web-blue-0", "web-blue-1"]);
    for (const h of hosts) {
      // Both sources arrive as Pulumi secrets inside the (secret) app; the file's trailing newline is dropped.
      expect(isSecret(h.inputs.app)).toBe(true);
      expect((reveal(h.inputs.app) as { secrets: unknown }).secrets).toEqual({ DB_PASSWORD: "from-the-stack", API_TOKEN: "token-from-a-file" });
      expect(h.inputs.planHash).toBe("plan:blue:shop:1.0");
    }
    const stored = JSON.stringify(registrations.map((r) => publicPart(r.inputs)));
    expect(stored).not.toContain("from-the-stack");
    expect(stored).not.toContain("token-from-a-file");
  });

  it("builds from stacks/web/longshore.example.yaml exactly what buildWebStack declares from the parsed file", async () => {
    await runProgram({ "aws:region": "eu-west-1", "web:environmentFile": EXAMPLE });
    const fromProgram = [...registrations];
    resetRegistrations();
    const parsed = parseEnvironment(fs.readFileSync(EXAMPLE, "utf8"), EXAMPLE, path.dirname(EXAMPLE));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const fixture = require(path.resolve(__dirname, "fixtures", "fake-apply-host")) as { planHostHash: (i: unknown) => string };
    buildWebStack(parsed.value as AwsEnvironment, { app: {}, registryPassword: null }, { loadEntry: () => fixture });
    await settle();
    const view = (regs: Registration[]) => regs.map((r) => JSON.stringify([r.type, r.name, r.parent, r.inputs, r.dependencies.sort()])).sort();
    expect(fromProgram).toHaveLength(45);
    expect(view(fromProgram)).toEqual(view(registrations));
  });

  it("fails with every problem of the file, each with its path, and no stack trace, before declaring anything", async () => {
    const file = writeFile(
      "bad.yaml",
      environmentText((raw) => {
        raw.app.port = 70000;
        raw.slots.blue.size = 101;
        raw.aws.adminCidrs = ["0.0.0.0/0"];
        raw.aws.instanceType = "big";
        raw.aws.extra = 1;
      }),
    );
    expect(await failure({ "aws:region": "eu-west-1", "web:environmentFile": file })).toBe(
      `${file} is invalid (5 problems):\n` +
        `  ${file}: app.port: must be a whole number from 1 to 65535\n` +
        `  ${file}: slots.blue.size: must be at most 100\n` +
        `  ${file}: aws.instanceType: must be an EC2 instance type such as t3.small\n` +
        `  ${file}: aws.adminCidrs[0]: would open SSH to the whole internet: list your own address ranges\n` +
        `  ${file}: aws.extra: unknown key\n` +
        "Fix the listed problems; docs/environment.md describes every key.",
    );
  });

  it("says which file it could not read and how to name another", async () => {
    const missing = path.join(dir, "no-such.yaml");
    expect(await failure({ "aws:region": "eu-west-1", "web:environmentFile": missing })).toBe(
      "stack config is invalid (1 problem):\n" +
        `  web:environmentFile: ${missing} does not exist\n` +
        "Set it with `pulumi config set web:environmentFile /path/to/longshore.yaml`.",
    );
  });

  it.skipIf(fs.existsSync(path.resolve(__dirname, "..", "..", "..", "longshore.yaml")))(
    "reads the repository's longshore.yaml when web:environmentFile is not set",
    async () => {
      const repoFile = path.resolve(__dirname, "..", "..", "..", "longshore.yaml");
      expect(await failure({ "aws:region": "eu-west-1" })).toContain(`  web:environmentFile: ${repoFile} does not exist\n`);
    },
  );

  it("refuses an environment file with driver: local", async () => {
    const file = writeFile(
      "local.yaml",
      environmentText((raw) => {
        raw.driver = "local";
        delete raw.aws;
      }),
    );
    expect(await failure({ "aws:region": "eu-west-1", "web:environmentFile": file })).toBe(
      `${file} is invalid (1 problem):\n  ${file}: driver: is local: the web program builds environments with driver: aws`,
    );
  });

  it("refuses an aws.region that disagrees with the stack's aws:region, or that the stack does not set", async () => {
    const file = writeFile("region.yaml", environmentText());
    expect(await failure({ "aws:region": "us-east-1", "web:environmentFile": file })).toBe(
      `${file} is invalid (1 problem):\n` +
        `  ${file}: aws.region: is eu-west-1, but the stack's aws:region is us-east-1: make them agree\n` +
        "Run `pulumi config set aws:region eu-west-1` (the aws driver does it for you).",
    );
    expect(await failure({ "web:environmentFile": file })).toBe(
      `${file} is invalid (1 problem):\n` +
        `  ${file}: aws.region: is eu-west-1, but the stack has no aws:region: make them agree\n` +
        "Run `pulumi config set aws:region eu-west-1` (the aws driver does it for you).",
    );
    // Without aws.region in the file, the stack's aws:region is the region.
    const unset = writeFile(
      "no-region.yaml",
      environmentText((raw) => {
        delete raw.aws.region;
        raw.aws.provision = false;
      }),
    );
    await runProgram({ "aws:region": "us-east-1", "web:environmentFile": unset });
    expect(registrations.filter((r) => r.type === "aws:ec2/instance:Instance")).toHaveLength(2);
  });

  it("with aws.hostImage, reads the bundle pin from the longshore.lock beside the file: none is an error at its key, before anything is declared", async () => {
    const sub = path.join(dir, "image");
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, "longshore.yaml");
    fs.writeFileSync(file, environmentText((raw) => void (raw.aws.hostImage = true)));
    const lockFile = path.join(sub, "longshore.lock");
    expect(await failure({ "aws:region": "eu-west-1", "web:environmentFile": file })).toBe(
      `${lockFile} is invalid (1 problem):\n` +
        `  ${lockFile}: engine.amd64: pins no bundle: aws.hostImage makes the hosts' AMI from the bundle pinned here\n` +
        `Run \`longshore engine update -f <environment file> --arch amd64\`, review the packages it prints and commit ${lockFile}.`,
    );
    const id = "c".repeat(64);
    fs.writeFileSync(lockFile, serializeLockFile({ version: 1, engine: { amd64: { recipe: "debian-bookworm-amd64", id, packages: { "docker.io": "20.10.24+dfsg1-1+deb12u1+b6" } } }, images: {} }));
    const outputs = await runProgram({ "aws:region": "eu-west-1", "web:environmentFile": file });
    const ami = registrations.find((r) => r.type === "aws:ec2/amiFromInstance:AmiFromInstance")!;
    expect(ami.name).toBe(`web-image-${id.slice(0, 12)}`);
    expect((outputs.hostImage as { bundleId: string }).bundleId).toBe(id);
    expect(registrations.find((r) => r.type === DYN && r.name === "web-image-builder-0")!.inputs.bundlePin).toMatchObject({ arch: "amd64", id });
  });

  it("lists every { pulumi: KEY } secret the stack lacks, with its path; each one set arrives as a Pulumi secret", async () => {
    const file = writeFile(
      "secrets.yaml",
      environmentText((raw) => {
        raw.app.image = "registry.example.com/shop:1.0";
        raw.slots.blue.image = "registry.example.com/shop:1.0";
        raw.app.secrets = { DB_PASSWORD: { pulumi: "dbPassword" }, API_TOKEN: { pulumi: "shop:apiToken" } };
        raw.registry = { server: "registry.example.com", username: "deploy", password: { pulumi: "registryPassword" } };
      }),
    );
    const config = { "aws:region": "eu-west-1", "web:environmentFile": file };
    expect(await failure(config, [])).toBe(
      `the secrets of ${file} is invalid (3 problems):\n` +
        `  ${file}: app.secrets.DB_PASSWORD: the stack has no config web:dbPassword: set it with \`pulumi config set --secret dbPassword <value>\`\n` +
        `  ${file}: app.secrets.API_TOKEN: the stack has no config shop:apiToken: set it with \`pulumi config set --secret shop:apiToken <value>\`\n` +
        `  ${file}: registry.password: the stack has no config web:registryPassword: set it with \`pulumi config set --secret registryPassword <value>\`\n` +
        "Set each listed key as a stack secret; docs/environment.md (Secrets) describes the sources.",
    );
    // All three set; shop:apiToken in clear (the public SDK cannot tell): every one still travels as a secret.
    await runProgram({ ...config, "shop:apiToken": "in-clear", "web:registryPassword": "encrypted", "web:dbPassword": "db-secret" }, ["web:registryPassword", "web:dbPassword"]);
    const hosts = registrations.filter((r) => r.type === DYN);
    expect(hosts.length).toBeGreaterThan(0);
    for (const h of hosts) {
      expect(isSecret(h.inputs.registry)).toBe(true);
      expect(isSecret(h.inputs.app)).toBe(true);
      expect(reveal(h.inputs.registry)).toEqual({ server: "registry.example.com", username: "deploy", password: "encrypted" });
      expect((reveal(h.inputs.app) as { secrets: unknown }).secrets).toEqual({ DB_PASSWORD: "db-secret", API_TOKEN: "in-clear" });
    }
  });
});

/** What Pulumi would store in clear: every secret replaced by a marker, provider code left out. */
function publicPart(v: unknown): unknown {
  if (isSecret(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(publicPart);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).filter(([k]) => k !== "__provider").map(([k, x]) => [k, publicPart(x)]));
  return v;
}
