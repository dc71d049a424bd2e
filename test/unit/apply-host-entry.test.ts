// The entry module as Pulumi loads it (built with tsc, required by path with Node's loader): does NOT prove it provisions a real host (test/e2e/provisioned-host.test.ts does).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApplyHostEntry, ApplyHostInput, HostPlanInput } from "../../provisioner/apply-host-contract";
import { planHostHash } from "../../provisioner/single-host";
import { compileTree, type CompiledTree } from "../helpers/compiled-tree";

let tree: CompiledTree;
beforeAll(() => {
  tree = compileTree(["provisioner/apply-host.ts"], "ls-entry");
}, 180_000);
afterAll(() => tree?.remove());

const plan: HostPlanInput = {
  slot: "green",
  app: {
    name: "shop",
    image: "registry.example.com/shop:1.2.0",
    port: 8080,
    hostPort: 80,
    env: { MODE: "prod" },
    secrets: { DB_PASSWORD: "hunter2-hunter2" },
    health: { path: "/healthz" },
  },
  registry: { server: "registry.example.com", username: "ci", password: "hunter2-registry" },
  engine: { daemon: { "log-level": "warn" } },
};

const isLoaded = (file: string) => Object.keys(require.cache).includes(`${file}.js`);

describe("provisioner/apply-host, built and required by path", () => {
  it("exports exactly the contract's functions (and provisionHosts), loading the implementation on first call", () => {
    const entry = tree.load<ApplyHostEntry & Record<string, unknown>>("provisioner/apply-host");
    expect(Object.keys(entry).sort()).toEqual(["applyHost", "httpGetThrough", "inspectHost", "planHostHash", "provisionHosts"]);
    expect(isLoaded(tree.file("provisioner/single-host"))).toBe(false);
    expect(entry.planHostHash(plan)).toBe(planHostHash(plan));
    expect(isLoaded(tree.file("provisioner/single-host"))).toBe(true);
  });

  it("httpGetThrough refuses a bad bastion with the built ConfigError, every problem with its path, before connecting", async () => {
    const entry = tree.load<Required<ApplyHostEntry>>("provisioner/apply-host");
    const { ConfigError } = tree.load<typeof import("../../core/errors")>("core/errors");
    const jump = { name: "b", address: "203.0.113.5 ", port: 22, user: "admin", privateKey: "not a key", hostKeyFingerprint: "md5:aa" };
    const thrown = await entry.httpGetThrough({ jump, url: "http://lb.example:8081/healthz", timeoutMs: 1000 }).then(
      () => new Error("no error"),
      (e: unknown) => e,
    );
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as InstanceType<typeof ConfigError>).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "jump.address: must be a host name (letters, digits, '-' and '.') or an IPv4 or IPv6 address",
      "jump.privateKey: must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----)",
      "jump.hostKeyFingerprint: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)",
    ]);
    expect((thrown as Error).message).not.toContain("not a key");
  });

  it("refuses a bad plan with the built ConfigError, synchronously, every problem with its path", () => {
    const entry = tree.load<ApplyHostEntry>("provisioner/apply-host");
    const { ConfigError } = tree.load<typeof import("../../core/errors")>("core/errors");
    let thrown: unknown;
    try {
      entry.planHostHash({ ...plan, engine: { daemon: { hosts: ["tcp://0.0.0.0:2375"] } }, app: { ...plan.app, hostPort: 0 } });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as InstanceType<typeof ConfigError>).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "app.hostPort: must be a whole number from 1 to 65535",
      'engine.daemon.hosts: must include "fd://": Debian\'s docker.service is started by docker.socket, which hands dockerd /run/docker.sock through it',
      "engine.daemon.hosts[0]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
    ]);
  });

  it("rejects applyHost and inspectHost input it cannot use before connecting anywhere", async () => {
    const entry = tree.load<ApplyHostEntry>("provisioner/apply-host");
    const input: ApplyHostInput = {
      ...plan,
      // Were validation skipped, this would be refused (the test would then time out and fail).
      connection: { name: "web-green-0", address: "127.0.0.1", port: 9, user: "admin", privateKey: "hunter2-hunter2", hostKeyFingerprint: "SHA256:short" },
      planHash: "p",
    };
    for (const call of [entry.applyHost, entry.inspectHost]) {
      const err = (await call(input).catch((e: unknown) => e)) as Error & { code: string; issues: Array<{ path: string; message: string }> };
      expect([err.code, err.issues.map((i) => `${i.path}: ${i.message}`)]).toEqual([
        "CONFIG_INVALID",
        [
          "connection.privateKey: must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----)",
          "connection.hostKeyFingerprint: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)",
        ],
      ]);
      expect(`${err.message} ${JSON.stringify(err)}`).not.toContain("hunter2");
    }
  });

  it("keeps its top-level imports to types, so requiring it loads nothing heavy", () => {
    const src = fs.readFileSync(path.join(__dirname, "../../provisioner/apply-host.ts"), "utf8");
    const imports = src.split("\n").filter((l) => /^import /.test(l));
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.every((l) => l.startsWith("import type "))).toBe(true);
  });
});
