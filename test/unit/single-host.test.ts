// One host from the contract's JSON inputs on a scripted fake host (real bundle directory, real demo archive): does NOT prove SSH, a real engine or Pulumi calling it (test/e2e/provisioned-host.test.ts does).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, HostKeyError } from "../../core/errors";
import { demoImage } from "../../local/demo-app";
import type { ApplyHostInput, HostPlanInput } from "../../provisioner/apply-host-contract";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import { verifyBundle } from "../../provisioner/bundle/verify";
import {
  APPLY_CONNECT_DEADLINE_MS,
  applyHost,
  defaultCacheDir,
  hostPlanDocument,
  INSPECT_CONNECT_DEADLINE_MS,
  inspectHost,
  parseHostPlan,
  planHostHash,
  type SingleHostDeps,
} from "../../provisioner/single-host";
import type { SshConnectOptions, SshTarget } from "../../provisioner/transport/ssh-target";
import { dockerHostRules, newDockerHost, type DockerHostState } from "../helpers/fake-docker-host";
import { FakeTransport, type FakeRule } from "../helpers/fake-transport";
import { RECIPE } from "./fixtures/engine-context";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-single-host-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bundleDir = path.join(dir, "bundle");
fs.mkdirSync(path.join(bundleDir, DEBS_DIR), { recursive: true });
const pkgs: BundlePackage[] = ["docker.io", "containerd", "runc", "tini"].map((name) => {
  const filename = `${name}_1.0_amd64.deb`;
  const body = `deb of ${name}`;
  fs.writeFileSync(path.join(bundleDir, DEBS_DIR, filename), body);
  return { name, version: "1.0", arch: "amd64", filename, size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
});
fs.writeFileSync(path.join(bundleDir, MANIFEST_FILE), renderManifest(createManifest(RECIPE, pkgs, "longshore/test")));

const v1 = demoImage("v1");
const archive = path.join(dir, "v1.tar");
fs.writeFileSync(archive, v1.archive);

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n";
const FP = `SHA256:${"A".repeat(43)}`;
const SECRET = "s3cret-token-value";

function plan(overrides: Partial<HostPlanInput> = {}): HostPlanInput {
  return {
    slot: "blue",
    app: {
      name: "demo",
      image: "longshore-demo:v1",
      version: "v1",
      containerPort: 8080,
      hostPort: 8080,
      env: { LOG_LEVEL: "info" },
      secrets: { TOKEN: SECRET },
      health: { path: "/healthz" },
      slot: "blue",
    },
    engine: { daemon: { "log-opts": { "max-file": "3" } } },
    imageArchive: archive,
    ...overrides,
  };
}

function input(overrides: Partial<ApplyHostInput> = {}): ApplyHostInput {
  const p = plan();
  return {
    ...p,
    connection: { name: "web-1", address: "10.213.47.10", port: 22, user: "root", privateKey: KEY, hostKeyFingerprint: FP },
    planHash: planHostHash(p),
    ...overrides,
  };
}

/** A fake host plus deps that record every connection and bundle request. */
function fakeHost(host: DockerHostState = newDockerHost()) {
  const connections: Array<{ target: SshTarget; options: SshConnectOptions | undefined; transport: FakeTransport }> = [];
  const arches: string[] = [];
  const deps: SingleHostDeps = {
    connect: async (target, options) => {
      // The scripted host, plus a registry: `docker pull` gives it the demo image.
      const registry: FakeRule[] = [
        { match: /^docker pull --quiet longshore-demo:v1$/, result: () => (host.images.add(v1.imageId), { exitCode: 0 }) },
        { match: /^docker image inspect --format '\{\{\.Id\}\}' longshore-demo:v1$/, result: () => (host.images.has(v1.imageId) ? { exitCode: 0, stdout: `${v1.imageId}\n` } : { exitCode: 1 }) },
      ];
      const transport = new FakeTransport(target.name, { state: host.base, rules: [...registry, ...dockerHostRules(host, v1.imageId)], unmatched: "error" });
      connections.push({ target, options, transport });
      return transport;
    },
    bundleFor: async (arch) => {
      arches.push(arch);
      return verifyBundle(bundleDir);
    },
  };
  return { host, deps, connections, arches };
}

const issuesOf = (e: unknown) => (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);

describe("planHostHash", () => {
  it("is the sha256 of the plan document, the same for the same input", () => {
    const h = planHostHash(plan());
    expect(h).toBe(createHash("sha256").update(hostPlanDocument(parseHostPlan(plan()))).digest("hex"));
    expect(planHostHash(plan())).toBe(h);
  });

  it("ignores key order and spelled-out defaults", () => {
    const p = plan();
    const reordered: HostPlanInput = {
      engine: { daemon: { "log-opts": { "max-file": "3", "max-size": "10m" }, "live-restore": true }, channel: "bundle" },
      imageArchive: archive,
      app: { ...p.app, env: { LOG_LEVEL: "info" }, health: { path: "/healthz" } },
      slot: "blue",
    };
    expect(planHostHash(reordered)).toBe(planHostHash(p));
  });

  it.each<[string, Partial<HostPlanInput>]>([
    ["the image", { app: { ...plan().app, image: "longshore-demo:v2", version: "v2" } }],
    ["an engine option", { engine: { daemon: { "log-opts": { "max-file": "4" } } } }],
    ["the engine channel", { engine: { channel: "distro" } }],
    ["an env value", { app: { ...plan().app, env: { LOG_LEVEL: "debug" } } }],
    ["a secret's name", { app: { ...plan().app, secrets: { OTHER_TOKEN: SECRET } } }],
    ["the host port", { app: { ...plan().app, hostPort: 8081 } }],
    ["the slot", { slot: "green", app: { ...plan().app, slot: "green" } }],
    ["the archive", { imageArchive: `${archive}.2` }],
    ["pull instead of the archive", { imageArchive: undefined }],
  ])("changes with %s", (_what, change) => {
    const changed = { ...plan(), ...change };
    if ("imageArchive" in change && change.imageArchive === undefined) delete changed.imageArchive;
    expect(planHostHash(changed)).not.toBe(planHostHash(plan()));
  });

  it("hashes secrets as their placeholder: a rotated value keeps the hash, and the document never holds it", () => {
    const rotated = plan({ app: { ...plan().app, secrets: { TOKEN: "another-value" }, registry: { server: "r.example:5000", username: "u", password: "pw-1234" } } });
    const again = plan({ app: { ...plan().app, secrets: { TOKEN: SECRET }, registry: { server: "r.example:5000", username: "u", password: "pw-5678" } } });
    expect(planHostHash(rotated)).toBe(planHostHash(again));
    const doc = hostPlanDocument(parseHostPlan(rotated));
    expect(doc).toContain('"secrets":{"TOKEN":"[redacted]"}');
    expect(doc).toContain('"password":"[redacted]"');
    expect(doc).not.toMatch(/another-value|pw-1234/);
  });

  it("refuses what the provisioner would refuse, every problem with its path, never echoing a secret", () => {
    const bad = {
      slot: "Blue",
      app: { ...plan().app, name: "Demo", containerPort: 0, secrets: { TOKEN: `${SECRET}\n` }, slot: "green", extra: 1 },
      engine: { daemon: { hosts: ["tcp://0.0.0.0:2375", "fd://"] }, chanel: "bundle" },
      imageArchive: "relative.tar",
    } as unknown as HostPlanInput;
    const err = (() => {
      try {
        return planHostHash(bad);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message.split("\n")[0]).toBe("host plan is invalid (9 problems):");
    expect(issuesOf(err)).toEqual([
      "slot: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "app.name: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "app.containerPort: must be an integer from 1 to 65535",
      "app.secrets.TOKEN: must not contain a newline (docker --env-file reads one variable per line)",
      "app.slot: must be the host's slot (Blue) or left out",
      "app.extra: unknown key",
      "engine.daemon.hosts[0]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
      "engine.chanel: unknown key",
      "imageArchive: must be an absolute path (the provider may run in another directory than the program)",
    ]);
    expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain(SECRET);
  });

  it("refuses an app whose slot is not the host's", () => {
    expect(() => planHostHash(plan({ app: { ...plan().app, slot: "green" } }))).toThrow(
      "host plan is invalid (1 problem):\n  app.slot: must be the host's slot (blue) or left out",
    );
  });
});

describe("applyHost", () => {
  it("applies every step over one pinned connection and returns what Pulumi stores", async () => {
    const { host, deps, connections, arches } = fakeHost();
    const result = await applyHost(input(), deps);
    expect(result).toEqual({
      planHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      engineVersion: "20.10.24+dfsg1",
      daemonJsonSha256: createHash("sha256").update(host.base.files.get("/etc/docker/daemon.json")!).digest("hex"),
    });
    // One connection, pinned to the fingerprint only, the key sealed, boot-time retries for 3 minutes.
    expect(connections).toHaveLength(1);
    const { target, options, transport } = connections[0]!;
    expect(target).toMatchObject({ name: "web-1", address: "10.213.47.10", port: 22, user: "root", hostKey: { fingerprints: [FP] } });
    expect(Object.keys(target.hostKey)).toEqual(["fingerprints"]);
    expect(target.auth.privateKey!.reveal()).toBe(KEY);
    expect(JSON.stringify(target)).not.toContain("PRIVATE KEY");
    expect(options).toEqual({ connectDeadlineMs: APPLY_CONNECT_DEADLINE_MS });
    expect(APPLY_CONNECT_DEADLINE_MS).toBe(180_000);
    // The bundle for the probed architecture; the image from the archive; the app checked on the host.
    expect(arches).toEqual(["amd64"]);
    expect(host.images).toEqual(new Set([v1.imageId]));
    expect(transport.execs.some((t) => t.startsWith("bash -c '# longshore app.health"))).toBe(true);
    expect(host.audit).toHaveLength(1);
    // The secret reached the host only in the env file, never a command line.
    expect(transport.execs.join("\n")).not.toContain(SECRET);
    expect(transport.log.at(-1)).toBe("close");
    expect(transport.closeCount).toBe(1);
  });

  it("is cheap and stable when run again: same plan hash, nothing reloaded or restarted", async () => {
    const { host, deps } = fakeHost();
    const first = await applyHost(input(), deps);
    const restarts = host.engineRestarts;
    const runs = host.containerRuns;
    expect(await applyHost(input(), deps)).toEqual(first);
    expect([host.engineRestarts, host.containerRuns]).toEqual([restarts, runs]);
  });

  it("pulls app.image when no archive is given", async () => {
    const { deps, connections } = fakeHost();
    const p = plan();
    delete p.imageArchive;
    const result = await applyHost({ ...input(), ...p, imageArchive: undefined, planHash: planHostHash(p) }, deps);
    expect(result.engineVersion).toBe("20.10.24+dfsg1");
    const execs = connections[0]!.transport.execs;
    expect(execs.filter((t) => t.includes("docker pull") || t.startsWith("docker load"))).toEqual(["docker pull --quiet longshore-demo:v1"]);
  });

  it("refuses bad input before connecting, and never shows the key or a secret", async () => {
    const { deps, connections } = fakeHost();
    const bad = input({
      connection: { name: "web-1", address: "10.213.47.10 ", port: 0, user: "root", privateKey: `not a key ${SECRET}`, hostKeyFingerprint: "md5:aa" },
      app: { ...plan().app, hostPort: 70000 },
    });
    const err = await applyHost(bad, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(issuesOf(err)).toEqual([
      "app.hostPort: must be an integer from 1 to 65535",
      "connection.address: must be a host name or an IP address (no spaces, '@' or '/')",
      "connection.port: must be between 1 and 65535",
      "connection.privateKey: must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----)",
      "connection.hostKeyFingerprint: must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)",
    ]);
    expect((err as Error).message.split("\n")[0]).toBe("host web-1 is invalid (5 problems):");
    expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain(SECRET);
    expect(connections).toEqual([]);
  });

  it("refuses an archive that does not carry app.image, before connecting", async () => {
    const { deps, connections } = fakeHost();
    const p = plan({ app: { ...plan().app, image: "longshore-demo:v2" } });
    const err = await applyHost(input({ ...p, planHash: planHostHash(p) }), deps).catch((e: unknown) => e);
    expect(issuesOf(err)).toEqual(["imageArchive: holds longshore-demo:v1, not app.image (longshore-demo:v2)"]);
    const missing = await applyHost(input({ imageArchive: path.join(dir, "none.tar") }), deps).catch((e: unknown) => e);
    expect(issuesOf(missing)[0]).toMatch(/^imageArchive: cannot be read as a docker save archive: /);
    expect(connections).toEqual([]);
  });

  it("fails with the connection's error (a host key mismatch) and asks for no bundle", async () => {
    const { deps, arches } = fakeHost();
    const mismatch = new HostKeyError("web-1", [FP], `SHA256:${"B".repeat(43)}`);
    const err = await applyHost(input(), { ...deps, connect: async () => Promise.reject(mismatch) }).catch((e: unknown) => e);
    expect(err).toBe(mismatch);
    expect(arches).toEqual([]);
  });

  it("refuses a host of an architecture without a recipe, closing its connection", async () => {
    const host = newDockerHost();
    host.facts.dpkgArch = "mips64el";
    const { deps, connections, arches } = fakeHost(host);
    await expect(applyHost(input(), deps)).rejects.toThrow("web-1: longshore has no engine bundle recipe for architecture mips64el");
    expect(arches).toEqual([]);
    expect(connections[0]!.transport.closeCount).toBe(1);
    expect(host.installed).toBe(false);
  });

  it("rejects with the failing step's error when the app is unhealthy", async () => {
    const host = newDockerHost();
    host.healthy = false;
    const { deps } = fakeHost(host);
    await expect(applyHost(input(), deps)).rejects.toThrow(/^web-1: app\.health \(apply\): `bash -c /);
  });
});

describe("inspectHost", () => {
  it("reads the engine version and daemon.json's sha256 without changing anything", async () => {
    const { host, deps, connections } = fakeHost();
    await applyHost(input(), deps);
    const daemonJson = host.base.files.get("/etc/docker/daemon.json")!;
    const result = await inspectHost(input(), deps);
    expect(result).toEqual({ engineVersion: "20.10.24+dfsg1", daemonJsonSha256: createHash("sha256").update(daemonJson).digest("hex") });
    const inspect = connections[1]!;
    expect(inspect.options).toEqual({ connectDeadlineMs: INSPECT_CONNECT_DEADLINE_MS });
    expect(inspect.transport.log).toEqual(["exec: docker version --format '{{.Server.Version}}'", "sha256: /etc/docker/daemon.json", "close"]);
  });

  it("reports a host without an engine as nulls", async () => {
    const { deps } = fakeHost();
    expect(await inspectHost(input(), deps)).toEqual({ engineVersion: null, daemonJsonSha256: null });
  });
});

describe("defaultCacheDir", () => {
  it("follows LONGSHORE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache", () => {
    expect(defaultCacheDir({ LONGSHORE_CACHE_DIR: "/var/cache/longshore", XDG_CACHE_HOME: "/x" }, 1000)).toBe("/var/cache/longshore");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" }, 1000)).toBe("/x/longshore");
    expect(defaultCacheDir({}, 1000)).toBe(path.join(os.homedir(), ".cache", "longshore"));
  });
});

describe("defaultCacheDir for root", () => {
  it("is /var/cache/longshore, shared with the local driver", () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" }, 0)).toBe("/var/cache/longshore");
  });
});
