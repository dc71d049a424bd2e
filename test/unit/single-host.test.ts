// One host from the contract's JSON inputs on a scripted fake host (real bundle directory, real demo archive): does NOT prove SSH, a real engine or Pulumi calling it (test/e2e/provisioned-host.test.ts does).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, HostKeyError, PreconditionError } from "../../core/errors";
import { quoteArg } from "../../core/quote";
import type { Sensitive } from "../../core/sensitive";
import { demoImage } from "../../drivers/local/demo-app";
import type { ApplyHostInput, HostPlanInput } from "../../provisioner/apply-host-contract";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import { verifyBundle } from "../../provisioner/bundle/verify";
import { SWAP_SCRIPT } from "../../provisioner/steps/app-run";
import {
  APP_STEP_IDS,
  APPLY_CONNECT_DEADLINE_MS,
  applyHost,
  defaultCacheDir,
  HOST_PLAN_FORMAT,
  hostPlanDocument,
  INSPECT_CONNECT_DEADLINE_MS,
  inspectHost,
  parseHostPlan,
  pinnedBundle,
  planHostHash,
  type SingleHostDeps,
} from "../../provisioner/single-host";
import { appSteps, STEP_ORDER } from "../../provisioner/steps/index";
import type { SshTarget } from "../../model/ssh-target";
import type { SshConnectOptions } from "../../provisioner/transport/connect-options";
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
      port: 8080,
      hostPort: 8080,
      env: { LOG_LEVEL: "info" },
      secrets: { TOKEN: SECRET },
      health: { path: "/healthz" },
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

const ok = { exitCode: 0 };
const no = { exitCode: 1 };

/** app.run's create-then-swap on the shared fake host: the inspect check passes once a swap ran after it. */
function appRunRules(host: DockerHostState): FakeRule[] {
  let lastInspect = "";
  return [
    {
      match: /^sh -c '\[ "\$\(docker inspect --type container/,
      result: ({ text }) => {
        lastInspect = text;
        return host.container === text ? ok : no;
      },
    },
    {
      match: (text) => text.startsWith(`sh -c ${quoteArg(SWAP_SCRIPT)} sh `),
      result: () => {
        host.container = lastInspect;
        host.containerRuns++;
        return ok;
      },
    },
  ];
}

/** A fake host plus deps that record every connection, bundle request and registry login. */
function fakeHost(host: DockerHostState = newDockerHost()) {
  const connections: Array<{ target: SshTarget; options: SshConnectOptions | undefined; transport: FakeTransport }> = [];
  const arches: string[] = [];
  const logins: string[] = [];
  const deps: SingleHostDeps = {
    connect: async (target, options) => {
      // The scripted host, plus a registry: `docker pull` gives it the demo image.
      const pulled = () => (host.images.add(v1.imageId), ok);
      const registry: FakeRule[] = [
        { match: /^docker pull --quiet longshore-demo:v1$/, result: pulled },
        {
          match: /^sh -c 'docker login --username "\$2" --password-stdin "\$1" .*' sh r\.example:5000 ci longshore-demo:v1$/,
          result: ({ command }) => (logins.push((command.stdin as Sensitive).reveal()), pulled()),
        },
        { match: /^docker image inspect --format '\{\{\.Id\}\}' longshore-demo:v1$/, result: () => (host.images.has(v1.imageId) ? { exitCode: 0, stdout: `${v1.imageId}\n` } : no) },
      ];
      const transport = new FakeTransport(target.name, {
        state: host.base,
        rules: [...registry, ...appRunRules(host), ...dockerHostRules(host, v1.imageId)],
        unmatched: "error",
      });
      connections.push({ target, options, transport });
      return transport;
    },
    bundleFor: async (arch) => {
      arches.push(arch);
      return verifyBundle(bundleDir);
    },
  };
  return { host, deps, connections, arches, logins };
}

const issuesOf = (e: unknown) => (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);

describe("planHostHash", () => {
  it("is the sha256 of the plan document, the same for the same input", () => {
    const h = planHostHash(plan());
    expect(h).toBe(createHash("sha256").update(hostPlanDocument(parseHostPlan(plan()))).digest("hex"));
    expect(planHostHash(plan())).toBe(h);
  });

  it("the document is the format, the validated blocks with defaults filled in, and where the image comes from", () => {
    expect(HOST_PLAN_FORMAT).toBe("longshore.host-plan/2");
    const doc = hostPlanDocument(parseHostPlan({ slot: "green", app: { name: "demo", image: "longshore-demo:v1", volumes: ["/srv/data:/data:rw"] } }));
    expect(JSON.parse(doc)).toEqual({
      app: {
        env: {},
        health: { healthyRounds: 2, intervalSeconds: 1, path: "/healthz", status: 200, timeoutSeconds: 2 },
        image: "longshore-demo:v1",
        init: false,
        name: "demo",
        port: 8080,
        resources: {},
        restart: "unless-stopped",
        secrets: {},
        stopTimeoutSeconds: 10,
        volumes: [{ kind: "bind", readOnly: false, source: "/srv/data", target: "/data" }],
      },
      engine: {
        bundle: "debian-bookworm",
        channel: "bundle",
        daemon: { "live-restore": true, "log-driver": "json-file", "log-opts": { "max-file": "3", "max-size": "10m" }, "storage-driver": "overlay2", "userland-proxy": false },
      },
      format: "longshore.host-plan/2",
      healthDeadlineSeconds: 120,
      image: { pull: "longshore-demo:v1" },
      registry: null,
      slot: "green",
    });
    // Compact canonical JSON: sorted keys, no spaces.
    expect(doc.startsWith('{"app":{"env":{},"health":{"healthyRounds":2,')).toBe(true);
  });

  it("ignores key order and spelled-out defaults", () => {
    const p = plan();
    const reordered: HostPlanInput = {
      healthDeadlineSeconds: 120,
      engine: { daemon: { "log-opts": { "max-file": "3", "max-size": "10m" }, "live-restore": true }, channel: "bundle", bundle: "debian-bookworm" },
      imageArchive: archive,
      app: {
        ...p.app,
        env: { LOG_LEVEL: "info" },
        health: { path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 },
        restart: "unless-stopped",
        stopTimeoutSeconds: 10,
        init: false,
        volumes: [],
        resources: {},
      },
      slot: "blue",
    };
    expect(planHostHash(reordered)).toBe(planHostHash(p));
    // `:rw` is the default mode of a volume.
    const vol = (v: string) => planHostHash(plan({ app: { ...plan().app, volumes: [v] } }));
    expect(vol("/srv/data:/data:rw")).toBe(vol("/srv/data:/data"));
  });

  it.each<[string, Partial<HostPlanInput>]>([
    ["the image", { app: { ...plan().app, image: "longshore-demo:v2" } }],
    ["an engine option", { engine: { daemon: { "log-opts": { "max-file": "4" } } } }],
    ["the engine channel", { engine: { channel: "distro" } }],
    ["the bundle recipe", { engine: { bundle: "debian-bookworm-amd64" } }],
    ["an env value", { app: { ...plan().app, env: { LOG_LEVEL: "debug" } } }],
    ["a secret's name", { app: { ...plan().app, secrets: { OTHER_TOKEN: SECRET } } }],
    ["the host port", { app: { ...plan().app, hostPort: 8081 } }],
    ["the container port", { app: { ...plan().app, port: 9090 } }],
    ["a volume", { app: { ...plan().app, volumes: ["/srv/data:/data:ro"] } }],
    ["a memory limit", { app: { ...plan().app, resources: { memory: "512m" } } }],
    ["the command", { app: { ...plan().app, command: ["serve"] } }],
    ["the health path", { app: { ...plan().app, health: { path: "/ready" } } }],
    ["registry credentials", { registry: { server: "r.example:5000", username: "ci", password: "pw-1234" } }],
    ["the health deadline", { healthDeadlineSeconds: 60 }],
    ["the slot", { slot: "green" }],
    ["the archive", { imageArchive: `${archive}.2` }],
    ["pull instead of the archive", { imageArchive: undefined }],
  ])("changes with %s", (_what, change) => {
    const changed = { ...plan(), ...change };
    if ("imageArchive" in change && change.imageArchive === undefined) delete changed.imageArchive;
    expect(planHostHash(changed)).not.toBe(planHostHash(plan()));
  });

  it("hashes secrets as their placeholder: a rotated value keeps the hash, and the document never holds it", () => {
    const rotated = plan({ app: { ...plan().app, secrets: { TOKEN: "another-value" } }, registry: { server: "r.example:5000", username: "u", password: "pw-1234" } });
    const again = plan({ app: { ...plan().app, secrets: { TOKEN: SECRET } }, registry: { server: "r.example:5000", username: "u", password: "pw-5678" } });
    expect(planHostHash(rotated)).toBe(planHostHash(again));
    const doc = hostPlanDocument(parseHostPlan(rotated));
    expect(doc).toContain('"secrets":{"TOKEN":"[redacted]"}');
    expect(doc).toContain('"registry":{"password":"[redacted]","server":"r.example:5000","username":"u"}');
    expect(doc).not.toMatch(/another-value|pw-1234/);
  });

  it("refuses what the provisioner would refuse, every problem with its path, never echoing a secret", () => {
    const bad = {
      slot: "Blue",
      app: { ...plan().app, name: "Demo", port: 0, secrets: { TOKEN: `${SECRET}\n` }, slot: "green", extra: 1 },
      registry: { server: "https://r.example", username: "u", password: SECRET },
      engine: { daemon: { hosts: ["tcp://0.0.0.0:2375", "fd://"] }, chanel: "bundle" },
      healthDeadlineSeconds: 0,
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
    expect((err as ConfigError).message.split("\n")[0]).toBe("host plan is invalid (11 problems):");
    expect(issuesOf(err)).toEqual([
      'slot: must be one of "blue", "green"',
      "app.name: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "app.port: must be a whole number from 1 to 65535",
      "app.secrets.TOKEN: must not contain a newline or NUL (the engine's env file holds one variable per line)",
      "app.slot: unknown key",
      "app.extra: unknown key",
      "registry.server: must be a registry host[:port], lower-case, no scheme",
      "engine.daemon.hosts[0]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
      "engine.chanel: unknown key",
      "healthDeadlineSeconds: must be greater than 0",
      "imageArchive: must be an absolute path",
    ]);
    expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain(SECRET);
  });

  it("refuses a bundle directory: the provider builds its own bundle from a recipe", () => {
    expect(() => planHostHash(plan({ engine: { bundle: "./bundles/engine" } }))).toThrow(
      "host plan is invalid (1 problem):\n  engine.bundle: must be a recipe name such as debian-bookworm here: the Pulumi provider builds its bundle itself (bundle directories are for `longshore provision`)",
    );
    // The distro channel takes no bundle at all.
    expect(planHostHash(plan({ engine: { channel: "distro" } }))).toMatch(/^[0-9a-f]{64}$/);
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
    expect(transport.execs.filter((t) => t.startsWith("bash -c '# longshore app.health")).map((t) => /\ndeadline_ms=([0-9]+)\n/.exec(t)?.[1])).toEqual(["0"]);
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
      "app.hostPort: must be a whole number from 1 to 65535",
      "connection.address: must be a host name (letters, digits, '-' and '.') or an IPv4 or IPv6 address",
      "connection.port: must be a whole number from 1 to 65535",
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
    expect(issuesOf(missing)).toEqual([`imageArchive: ${path.join(dir, "none.tar")} does not exist`]);
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

  it("rejects with the failing step's error when the app is unhealthy, having waited healthDeadlineSeconds", async () => {
    const host = newDockerHost();
    host.healthy = false;
    const { deps, connections } = fakeHost(host);
    const p = plan({ healthDeadlineSeconds: 5 });
    await expect(applyHost(input({ ...p, planHash: planHostHash(p) }), deps)).rejects.toThrow(/^web-1: app\.health \(apply\): `bash -c /);
    const probes = connections[0]!.transport.execs.filter((t) => t.startsWith("bash -c '# longshore app.health"));
    expect(probes.map((t) => /\ndeadline_ms=([0-9]+)\n/.exec(t)?.[1])).toEqual(["0", "5000"]);
    expect(host.audit).toEqual([]);
  });

  it("waits 120 s for the app by default", async () => {
    const host = newDockerHost();
    host.healthy = false;
    const { deps, connections } = fakeHost(host);
    await expect(applyHost(input(), deps)).rejects.toThrow(/^web-1: app\.health \(apply\)/);
    const probes = connections[0]!.transport.execs.filter((t) => t.startsWith("bash -c '# longshore app.health"));
    expect(probes.map((t) => /\ndeadline_ms=([0-9]+)\n/.exec(t)?.[1])).toEqual(["0", "120000"]);
  });

  it("logs in to the plan's registry with the password on stdin only, then pulls", async () => {
    const { deps, connections, logins } = fakeHost();
    const p = plan({ registry: { server: "r.example:5000", username: "ci", password: "reg-pw-4242" } });
    delete p.imageArchive;
    await applyHost({ ...input(), ...p, imageArchive: undefined, planHash: planHostHash(p) }, deps);
    expect(logins).toEqual(["reg-pw-4242"]);
    const execs = connections[0]!.transport.execs;
    expect(execs.filter((t) => t.includes("docker pull"))).toEqual([
      `sh -c 'docker login --username "$2" --password-stdin "$1" >/dev/null || exit $?; docker pull --quiet "$3"; rc=$?; docker logout "$1" >/dev/null 2>&1; exit $rc' sh r.example:5000 ci longshore-demo:v1`,
    ]);
    expect(execs.join("\n")).not.toContain("reg-pw-4242");
  });

  it("runs the container as <app>-<release> with the env file in the app's directory", async () => {
    const { host, deps, connections } = fakeHost();
    await applyHost(input(), deps);
    const prefix = `sh -c ${quoteArg(SWAP_SCRIPT)} sh `;
    const swaps = connections[0]!.transport.execs.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
    expect(swaps).toHaveLength(1);
    expect(swaps[0]).toMatch(/^demo demo-v1 \/etc\/longshore\/apps\/demo demo-v1\.env --restart unless-stopped --publish 8080:8080 --env-file \/etc\/longshore\/apps\/demo\/demo-v1\.env /);
    expect(host.base.files.get("/etc/longshore/apps/demo/demo-v1.env")!.toString()).toBe(`LOG_LEVEL=info\nTOKEN=${SECRET}\n`);
  });

  it("asks for the bundle of the host's architecture only when a pinned recipe matches it", async () => {
    const pinned = (bundle: string) => {
      const p = plan({ engine: { bundle } });
      return input({ ...p, planHash: planHostHash(p) });
    };
    const amd64 = fakeHost();
    await applyHost(pinned("debian-bookworm-amd64"), amd64.deps);
    expect(amd64.arches).toEqual(["amd64"]);

    const arm64 = fakeHost();
    const err = await applyHost(pinned("debian-bookworm-arm64"), arm64.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as PreconditionError).message).toBe("web-1: engine.bundle is debian-bookworm-arm64, but the host's architecture is amd64");
    expect((err as PreconditionError).suggestion).toBe("Use debian-bookworm to build the bundle for each host's architecture.");
    expect(arm64.arches).toEqual([]);
    expect(arm64.host.installed).toBe(false);
  });

  it("asks for no bundle on the distro channel", async () => {
    const { host, deps, arches, connections } = fakeHost();
    const p = plan({ engine: { channel: "distro" } });
    await applyHost(input({ ...p, planHash: planHostHash(p) }), deps);
    expect(arches).toEqual([]);
    expect(host.installed).toBe(true);
    expect(connections[0]!.transport.calls.filter((c) => c.kind === "upload" && c.path.startsWith("/var/lib/longshore/bundle/"))).toEqual([]);
  });
});

describe("engine-only hosts and pinned bundles (a host image's builder, aws.hostImage)", () => {
  /** The fixture bundle as longshore.lock would pin it for amd64. */
  async function pinOf(id?: string) {
    const m = (await verifyBundle(bundleDir)).manifest;
    return { arch: "amd64" as const, recipe: "debian-bookworm-amd64", id: id ?? m.id, packages: Object.fromEntries(m.packages.map((p) => [p.name, p.version])) };
  }
  /** The builder's plan: a placeholder app (unused), engine steps only, the pinned bundle. */
  const builderPlan = (pin: HostPlanInput["bundlePin"], more: Partial<HostPlanInput> = {}): HostPlanInput => ({
    slot: "blue",
    app: { name: "host-image", image: "longshore-host-image:none" },
    engine: { daemon: { "log-opts": { "max-file": "3" } } },
    engineOnly: true,
    bundlePin: pin,
    ...more,
  });
  const builderInput = (p: HostPlanInput): ApplyHostInput => ({ ...p, connection: input().connection, planHash: planHostHash(p) });

  it("the app steps are every step that is not the engine's", () => {
    expect(APP_STEP_IDS).toEqual(STEP_ORDER.filter((id) => !id.startsWith("engine.")));
    // ...which are exactly the steps appSteps gives for some image source, Compose or not (none is forgotten).
    const fromSources = new Set((["archive", "layers", "registry"] as const).flatMap((src) => [false, true].flatMap((compose) => appSteps(src, compose).map((st) => st.id))));
    expect(APP_STEP_IDS).toEqual(STEP_ORDER.filter((id) => fromSources.has(id)));
  });

  it("engine-only: installs, configures and verifies the engine with the pinned bundle, and leaves no image, container, secret or audit line", async () => {
    const { host, deps, connections, arches } = fakeHost();
    const result = await applyHost(builderInput(builderPlan(await pinOf())), deps);
    expect(result.engineVersion).toBe("20.10.24+dfsg1");
    expect([host.installed, host.active]).toEqual([true, true]);
    expect(arches).toEqual(["amd64"]);
    expect([host.images.size, host.container, host.containerRuns, host.audit]).toEqual([0, null, 0, []]);
    const execs = connections[0]!.transport.execs.join("\n");
    expect(execs).not.toMatch(/docker pull|docker load|app\.health|longshore-host-image/);
    expect([...host.base.files.keys()].filter((f) => f.startsWith("/etc/longshore/apps"))).toEqual([]);
  });

  it("refuses a bundle other than the pinned one, and a host of another architecture, before installing anything", async () => {
    const other = fakeHost();
    const err = await applyHost(builderInput(builderPlan(await pinOf("f".repeat(64)))), other.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as Error).message).toBe(`web-1: the engine bundle is ${(await pinOf()).id}, not the pinned ${"f".repeat(64)}`);
    expect(other.host.installed).toBe(false);

    const arm = newDockerHost();
    arm.facts.dpkgArch = "arm64";
    const onArm = fakeHost(arm);
    const archErr = await applyHost(builderInput(builderPlan(await pinOf())), onArm.deps).catch((e: unknown) => e);
    expect(archErr).toBeInstanceOf(PreconditionError);
    expect((archErr as Error).message).toBe(`web-1: the host's architecture is arm64, but its engine bundle is pinned for amd64 (debian-bookworm-amd64 ${(await pinOf()).id.slice(0, 12)})`);
    expect(onArm.arches).toEqual([]);
    expect(arm.installed).toBe(false);
  });

  it("pinnedBundle takes the pinned bundle from the cache without running apt", async () => {
    const pin = await pinOf();
    const cache = path.join(dir, "cache");
    fs.cpSync(bundleDir, path.join(cache, "bundles", `debian-bookworm-amd64-${pin.id.slice(0, 12)}`), { recursive: true });
    const build = async () => {
      throw new Error("must not build");
    };
    const ref = await pinnedBundle(pin, cache, { build, readFile: build });
    expect(ref.manifest.id).toBe(pin.id);
    // Not in the cache: built, and refused unless it is the pinned bundle (here the build fails first).
    await expect(pinnedBundle({ ...pin, id: "0".repeat(64) }, cache, { build, readFile: build })).rejects.toThrow("must not build");
  });

  it("hashes engineOnly and the pin only when set (plans without them keep their hash), and refuses what does not fit them", async () => {
    const pin = await pinOf();
    const doc = JSON.parse(hostPlanDocument(parseHostPlan(builderPlan(pin))));
    expect([doc.engineOnly, doc.bundlePin]).toEqual([true, pin]);
    expect("engineOnly" in JSON.parse(hostPlanDocument(parseHostPlan(plan())))).toBe(false);
    expect(planHostHash(plan({ bundlePin: pin }))).not.toBe(planHostHash(plan()));
    expect(planHostHash(builderPlan({ ...pin, id: "0".repeat(64) }))).not.toBe(planHostHash(builderPlan(pin)));
    const bad = (p: HostPlanInput) => {
      try {
        planHostHash(p);
        return [];
      } catch (e) {
        return issuesOf(e);
      }
    };
    expect(bad(builderPlan(pin, { registry: { server: "r.example:5000", username: "ci", password: "pw-1234" }, imageArchive: archive }))).toEqual([
      "registry: goes with an app: an engine-only host pulls no image",
      "imageArchive: goes with an app: an engine-only host gets no image",
    ]);
    expect(bad(builderPlan(pin, { engine: { bundle: "debian-trixie" } }))).toEqual(["bundlePin.recipe: is debian-bookworm-amd64, but engine.bundle asks for debian-trixie-amd64"]);
    expect(bad(builderPlan(pin, { engine: { bundle: "debian-bookworm-arm64" } }))).toEqual(["bundlePin.arch: is amd64, but engine.bundle is debian-bookworm-arm64"]);
    expect(bad(builderPlan(pin, { engine: { channel: "distro" } }))).toEqual(["bundlePin: goes with engine.channel: bundle"]);
    expect(bad(builderPlan({ ...pin, id: "xyz" }))).toEqual(["bundlePin.id: must be a bundle id: 64 lower-case hex digits"]);
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
