// Whole provisioning runs against scripted fake hosts: does NOT prove SSH, apt, systemd or docker behave as simulated (the e2e tests on local machines do).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CommandFailedError, PreconditionError, TransportError } from "../../core/errors";
import { quoteArg } from "../../core/quote";
import { Sensitive } from "../../core/sensitive";
import { parseResolvedApp } from "../../model/app";
import { parseEngineOptions } from "../../model/engine";
import { resolvedRegistrySchema } from "../../model/registry";
import { createManifest, DEBS_DIR, type BundlePackage } from "../../provisioner/bundle/manifest";
import { appStateHash, provisionHosts, type ProvisionEvent, type ProvisionHostsInput } from "../../provisioner/provision-hosts";
import type { SshTarget } from "../../model/ssh-target";
import { SWAP_SCRIPT } from "../../provisioner/steps/app-run";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import type { Transport } from "../../provisioner/transport/transport";
import { dockerHostRules, newDockerHost, type DockerHostState } from "../helpers/fake-docker-host";
import { FakeTransport, InFlight, type FakeRule } from "../helpers/fake-transport";
import { RECIPE } from "./fixtures/engine-context";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-provision-hosts-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A real (tiny) bundle directory: the runner streams its files, so they must exist. */
function tinyBundle() {
  fs.mkdirSync(path.join(dir, DEBS_DIR), { recursive: true });
  const pkgs: BundlePackage[] = ["docker.io", "containerd", "runc", "tini"].map((name) => {
    const filename = `${name}_1.0_amd64.deb`;
    const body = `deb of ${name}`;
    fs.writeFileSync(path.join(dir, DEBS_DIR, filename), body);
    return { name, version: name === "docker.io" ? "20.10.24+dfsg1-1+deb12u1+b6" : "1.0", arch: "amd64", filename, size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
  });
  return { dir, manifest: createManifest(RECIPE, pkgs, "longshore/test") };
}

const BUNDLE = tinyBundle();
const IMAGE_ID = `sha256:${"e".repeat(64)}`;

function target(name: string): SshTarget {
  return { name, address: "10.0.0.1", port: 22, user: "root", auth: {}, hostKey: { fingerprints: ["SHA256:x"] } };
}

const APP = parseResolvedApp({ name: "web", image: "longshore-demo:v1", env: { MODE: "demo" } });

function input(overrides: Partial<ProvisionHostsInput> = {}): ProvisionHostsInput {
  return {
    targets: [target("web-1")],
    engine: parseEngineOptions({}),
    app: APP,
    image: { source: "archive", localPath: "/nonexistent/image.tar", imageId: IMAGE_ID },
    bundle: BUNDLE,
    slot: "blue",
    mode: "apply",
    auditUser: "ops@controller",
    now: "2026-01-01T00:00:00.000Z",
    ...overrides,
  };
}

const ok = { exitCode: 0 };
const no = { exitCode: 1 };

/** Options of a simulated host beyond the shared fake's (DockerHostState). */
interface HostExtras {
  /** The facts probe's cpus section (none when unset, as an older probe prints). */
  cpus?: number;
  /** Images a `docker pull` gets, by reference. */
  registryImages?: Set<string>;
  /** Every `docker login ... docker pull` command's stdin, revealed. */
  logins?: string[];
}

/**
 * app.run's create-then-swap and image.pull for the shared fake host, ahead of its own rules: the
 * inspect check passes once a swap ran after it, the swap records one container run.
 */
function extraRules(h: DockerHostState, x: HostExtras): FakeRule[] {
  let lastInspect = "";
  const facts = dockerHostRules(h, IMAGE_ID)[0]!;
  return [
    {
      match: facts.match,
      result: (ctx) => {
        const r = (facts.result as (c: typeof ctx) => { stdout: string })(ctx);
        if (x.cpus === undefined) return r;
        return { stdout: r.stdout.replace("\n@@longshore-facts:docker@@", `\n@@longshore-facts:cpus@@\n${x.cpus}\n\n@@longshore-facts:docker@@`) };
      },
    },
    {
      match: /^sh -c '\[ "\$\(docker inspect --type container/,
      result: ({ text }) => {
        lastInspect = text;
        return h.container === text ? ok : no;
      },
    },
    {
      match: (text) => text.startsWith(`sh -c ${quoteArg(SWAP_SCRIPT)} sh `),
      result: () => {
        h.container = lastInspect;
        h.containerRuns++;
        return ok;
      },
    },
    {
      match: /^sh -c 'docker login /,
      result: ({ command }) => {
        x.logins?.push((command.stdin as Sensitive).reveal());
        x.registryImages?.add(String(command.argv.at(-1)));
        return ok;
      },
    },
    { match: /^docker image inspect --format '\{\{\.Id\}\}' ([^s]\S*)$/, result: ({ command }) => (x.registryImages?.has(String(command.argv.at(-1))) ? ok : no) },
  ];
}

/** A fake transport to the simulated host. */
function hostTransport(name: string, h: DockerHostState, x: HostExtras = {}): FakeTransport {
  return new FakeTransport(name, { state: h.base, rules: [...extraRules(h, x), ...dockerHostRules(h, IMAGE_ID)], unmatched: "error" });
}

/** Connects to simulated hosts by name; records every transport opened. */
function fleet(hosts: Record<string, DockerHostState>, inFlight?: InFlight, extras: Record<string, HostExtras> = {}) {
  const opened: FakeTransport[] = [];
  const connect = async (t: SshTarget): Promise<Transport> => {
    const fake = hostTransport(t.name, hosts[t.name]!, extras[t.name]);
    if (inFlight) {
      inFlight.open();
      const close = fake.close.bind(fake);
      fake.close = async () => {
        inFlight.closed();
        await close();
      };
    }
    opened.push(fake);
    return fake;
  };
  return { connect, opened };
}

const statuses = (r: Awaited<ReturnType<typeof provisionHosts>>, i = 0) => r.report.hosts[i]!.steps.map((s) => `${s.id} ${s.status}`);

describe("provisionHosts: apply", () => {
  it("takes a fresh host to a running app over one connection, facts first, then every step in order", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    const events: ProvisionEvent[] = [];
    const r = await provisionHosts(input({ connect: f.connect, onEvent: (e) => events.push(e) }));
    expect(r.error).toBeUndefined();
    expect(statuses(r)).toEqual([
      "engine.facts unchanged",
      "engine.bundle changed",
      "engine.install changed",
      "engine.configure changed",
      "engine.start changed",
      "engine.verify unchanged",
      "image.load changed",
      "app.run changed",
      "app.health unchanged",
      "audit.append changed",
    ]);
    expect(f.opened).toHaveLength(1);
    const t = f.opened[0]!;
    expect(t.execs[0]).toMatch(/^sh -c .*@@longshore-facts/s);
    expect(t.calls.filter((c) => c.kind === "close")).toHaveLength(1);
    expect(t.calls[t.calls.length - 1]).toEqual({ kind: "close" });
    expect(h).toMatchObject({ installed: true, active: true, engineRestarts: 1, containerRuns: 1 });
    expect(h.images).toEqual(new Set([IMAGE_ID]));
    expect(r.hosts[0]!.facts).toEqual({
      arch: "amd64",
      osId: "debian",
      osVersionId: "12",
      osCodename: "bookworm",
      cgroupVersion: 1,
      systemd: true,
      engineVersion: null,
      cpus: null,
      memoryBytes: 2000 * 1024,
    });
    expect(events.slice(0, 3).map((e) => e.type)).toEqual(["host-start", "host-facts", "step-start"]);
    expect(events[events.length - 1]).toMatchObject({ type: "host-done", host: "web-1", status: "ok" });
    // The container is web-v1 (the image's tag is the release) and carries the app-state hash as its plan label.
    const hash = appStateHash({ app: APP, image: input().image, slot: "blue", release: "v1" });
    expect(h.container).toContain(` web-v1 'true|${IMAGE_ID}|${IMAGE_ID}|unless-stopped|8080/tcp=:8080,;|0|0|web|v1|blue|${hash}'`);
    const swaps = t.execs.filter((x) => x.startsWith(`sh -c ${quoteArg(SWAP_SCRIPT)} sh `));
    expect(swaps).toHaveLength(1);
    expect(swaps[0]!.slice(`sh -c ${quoteArg(SWAP_SCRIPT)} sh `.length)).toBe(
      "web web-v1 /etc/longshore/apps/web web-v1.env --restart unless-stopped --publish 8080:8080 --env-file /etc/longshore/apps/web/web-v1.env --stop-timeout 10 " +
        `--label io.longshore.app=web --label io.longshore.version=v1 --label io.longshore.slot=blue --label io.longshore.plan=${hash} ${IMAGE_ID}`,
    );
    expect(h.base.files.get("/etc/longshore/apps/web/web-v1.env")!.toString()).toBe("MODE=demo\n");
    expect(h.audit).toEqual([`{"app":"web","version":"v1","slot":"blue","plan":"${hash}","image":"${IMAGE_ID}","when":"2026-01-01T00:00:00.000Z","who":"ops@controller"}\n`]);
  });

  it("a second run is all unchanged: nothing uploaded, no restart, no new container, one audit line", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    const first = await provisionHosts(input({ connect: f.connect }));
    const second = await provisionHosts(input({ connect: f.connect, now: "2026-01-02T00:00:00.000Z" }));
    expect(second.report.counts).toEqual({ unchanged: 10, changed: 0, "would-change": 0, failed: 0, "not-run": 0 });
    expect(f.opened[1]!.calls.filter((c) => c.kind === "upload")).toEqual([]);
    expect(h).toMatchObject({ engineRestarts: 1, containerRuns: 1 });
    expect(h.audit).toHaveLength(1);
    // Same plan, another clock: the same plan hash.
    expect(second.hosts[0]!.planHash).toBe(first.hosts[0]!.planHash);
    expect(second.hosts[0]!.planHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("an engine option change re-runs only engine.configure and engine.start, and keeps the container", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    const first = await provisionHosts(input({ connect: f.connect }));
    const changed = await provisionHosts(input({ connect: f.connect, engine: parseEngineOptions({ daemon: { "log-opts": { "max-file": "4" } } }) }));
    expect(statuses(changed).filter((s) => !s.endsWith("unchanged"))).toEqual(["engine.configure changed", "engine.start changed"]);
    expect(h).toMatchObject({ engineRestarts: 2, containerRuns: 1 });
    expect(f.opened[1]!.calls.filter((c) => c.kind === "upload").map((c) => (c.kind === "upload" ? c.path : ""))).toEqual(["/etc/docker/daemon.json"]);
    expect(changed.hosts[0]!.planHash).not.toBe(first.hosts[0]!.planHash);
  });

  it("reads the engine version and daemon.json's sha256 after a successful run when asked", async () => {
    const h = newDockerHost();
    const r = await provisionHosts(input({ connect: fleet({ "web-1": h }).connect, readEngineState: true }));
    const daemonJson = h.base.files.get("/etc/docker/daemon.json")!;
    expect(r.hosts[0]!.engine).toEqual({ version: "20.10.24+dfsg1", daemonJsonSha256: createHash("sha256").update(daemonJson).digest("hex") });
  });
});

describe("provisionHosts: failures", () => {
  it("refuses a host that does not fit the bundle before any step, naming every misfit, while the other host is provisioned", async () => {
    const bad = newDockerHost();
    bad.facts = { codename: "bullseye", dpkgArch: "arm64", systemd: false };
    const good = newDockerHost();
    const f = fleet({ "web-1": good, "web-2": bad });
    const r = await provisionHosts(input({ connect: f.connect, targets: [target("web-1"), target("web-2")] }));
    expect(r.report.hosts.map((x) => x.status)).toEqual(["ok", "failed"]);
    expect(r.report.hosts[1]!.steps.every((s) => s.status === "not-run")).toBe(true);
    expect(r.error!.failures).toHaveLength(1);
    const e = r.error!.failures[0]!.error;
    expect(e).toBeInstanceOf(PreconditionError);
    expect(e.message).toBe(
      [
        "web-2: the host does not fit the plan:",
        "    - systemd is not running as PID 1 (the engine runs as systemd units)",
        "    - host architecture is arm64; the engine bundle is for amd64",
        "    - host release is bullseye; the engine bundle is for bookworm",
      ].join("\n"),
    );
    // Only the facts probe ran on the unfit host.
    expect(f.opened.find((t) => t.host === "web-2")!.execs).toHaveLength(1);
    expect(bad.installed).toBe(false);
  });

  it("reports a host it cannot reach with the transport's error, all its steps not-run", async () => {
    const good = newDockerHost();
    const f = fleet({ "web-1": good });
    const connect = async (t: SshTarget) => {
      if (t.name === "web-2") throw new TransportError("refused", "web-2", "connection refused (10.0.0.2:22)");
      return f.connect(t);
    };
    const r = await provisionHosts(input({ connect, targets: [target("web-1"), target("web-2")] }));
    expect(r.report.ok).toBe(false);
    expect(r.report.hosts[1]).toMatchObject({ host: "web-2", status: "failed", error: { code: "TRANSPORT_FAILED", message: "web-2: connection refused (10.0.0.2:22)" } });
    expect(r.report.counts["not-run"]).toBe(10);
    expect(r.report.hosts[0]!.status).toBe("ok");
  });

  it("fails app.health with the host's stderr (status line and body), and stops that host there", async () => {
    const h = newDockerHost();
    h.healthy = false;
    const r = await provisionHosts(input({ connect: fleet({ "web-1": h }).connect }));
    expect(statuses(r).slice(7)).toEqual(["app.run changed", "app.health failed", "audit.append not-run"]);
    const e = r.error!.failures[0]!.error as CommandFailedError;
    expect(e).toBeInstanceOf(CommandFailedError);
    expect(e.stepId).toBe("app.health");
    expect(e.stderrTail).toBe("app.health: GET http://127.0.0.1:8080/healthz: HTTP/1.0 404 Not Found\nlongshore demo broken: unhealthy");
    expect(h.audit).toEqual([]);
  });

  it("runs hosts in parallel under the limit, one transport each", async () => {
    const hosts = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`web-${i + 1}`, newDockerHost()]));
    const inFlight = new InFlight();
    const f = fleet(hosts, inFlight);
    const r = await provisionHosts(input({ connect: f.connect, targets: Object.keys(hosts).map(target), concurrency: 2 }));
    expect(r.report.ok).toBe(true);
    expect(f.opened.map((t) => t.host).sort()).toEqual(["web-1", "web-2", "web-3", "web-4", "web-5"]);
    expect(inFlight.max).toBe(2);
    expect(inFlight.current).toBe(0);
  });
});

describe("provisionHosts: inputs", () => {
  it("asks a bundle function for each host's own architecture, once its facts are in", async () => {
    const amd = newDockerHost();
    const arm = newDockerHost();
    arm.facts.dpkgArch = "arm64";
    const asked: string[] = [];
    const bundle = async (arch: string): Promise<BundleRef> => {
      asked.push(arch);
      return BUNDLE;
    };
    const f = fleet({ "web-1": amd, "web-2": arm });
    const r = await provisionHosts(input({ connect: f.connect, targets: [target("web-1"), target("web-2")], bundle, concurrency: 1 }));
    expect(asked).toEqual(["amd64", "arm64"]);
    // The (amd64) bundle does not fit the arm64 host: refused before any step, the other host done.
    expect(r.report.hosts.map((x) => x.status)).toEqual(["ok", "failed"]);
    expect(r.error!.failures[0]!.error.message).toBe("web-2: the host does not fit the plan:\n    - host architecture is arm64; the engine bundle is for amd64");
  });

  it("refuses a host of an architecture longshore has no bundle recipe for, without asking for a bundle", async () => {
    const h = newDockerHost();
    h.facts.dpkgArch = "mips64el";
    const asked: string[] = [];
    const r = await provisionHosts(input({ connect: fleet({ "web-1": h }).connect, bundle: async (arch) => (asked.push(arch), BUNDLE) }));
    const e = r.error!.failures[0]!.error as PreconditionError;
    expect(e).toBeInstanceOf(PreconditionError);
    expect(e.message).toBe("web-1: longshore has no engine bundle recipe for architecture mips64el");
    expect(e.suggestion).toBe("Use a host of one of amd64, arm64, armhf, i386, ppc64el, s390x, riscv64, or engine.channel: distro.");
    expect(asked).toEqual([]);
    expect(h.installed).toBe(false);
  });

  it("refuses a host with fewer CPUs or less memory than app.resources asks for, before any step", async () => {
    const h = newDockerHost();
    const app = parseResolvedApp({ name: "web", image: "longshore-demo:v1", resources: { cpus: 4, memory: "6m" } });
    const f = fleet({ "web-1": h }, undefined, { "web-1": { cpus: 2 } });
    const r = await provisionHosts(input({ connect: f.connect, app }));
    expect(r.hosts[0]!.facts).toMatchObject({ cpus: 2, memoryBytes: 2000 * 1024 });
    expect(r.error!.failures[0]!.error.message).toBe(
      "web-1: the host does not fit the plan:\n    - app.resources.cpus is 4; the host has 2 CPUs\n    - app.resources.memory is 6m; the host has 1 MiB",
    );
    expect(f.opened[0]!.execs).toHaveLength(1);
  });

  it("pulls with the registry's credentials, the password on stdin only", async () => {
    const h = newDockerHost();
    const x: HostExtras = { registryImages: new Set(), logins: [] };
    const registry = resolvedRegistrySchema.parse({ server: "registry.local:5000", username: "ci", password: "reg-pw-31337" });
    const ref = "registry.local:5000/web:v1";
    const app = parseResolvedApp({ name: "web", image: ref });
    const f = fleet({ "web-1": h }, undefined, { "web-1": x });
    const events: ProvisionEvent[] = [];
    const r = await provisionHosts(input({ connect: f.connect, app, registry, image: { source: "registry", ref }, onEvent: (e) => events.push(e) }));
    expect(r.error).toBeUndefined();
    expect(x.logins).toEqual(["reg-pw-31337"]);
    expect(x.registryImages).toEqual(new Set([ref]));
    const execs = f.opened[0]!.execs;
    expect(execs.filter((t) => t.includes("docker pull"))).toEqual([
      `sh -c 'docker login --username "$2" --password-stdin "$1" >/dev/null || exit $?; docker pull --quiet "$3"; rc=$?; docker logout "$1" >/dev/null 2>&1; exit $rc' sh registry.local:5000 ci ${ref}`,
    ]);
    expect(JSON.stringify(r) + JSON.stringify(events) + execs.join("\n")).not.toContain("reg-pw-31337");
  });

  it("waits 60 s for app.health unless told otherwise", async () => {
    const deadlines = async (extra: Partial<ProvisionHostsInput>) => {
      const h = newDockerHost();
      h.healthy = false;
      const f = fleet({ "web-1": h });
      await provisionHosts(input({ connect: f.connect, ...extra }));
      return f.opened[0]!.execs.filter((t) => t.startsWith("bash -c '# longshore app.health")).map((t) => /\ndeadline_ms=([0-9]+)\n/.exec(t)?.[1]);
    };
    expect(await deadlines({})).toEqual(["0", "60000"]);
    expect(await deadlines({ healthDeadlineMs: 7_500 })).toEqual(["0", "7500"]);
  });
});

describe("provisionHosts: check mode (plan)", () => {
  it("changes nothing on a fresh host and says what each step would do, with diffs of text files", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    const r = await provisionHosts(input({ connect: f.connect, mode: "check", app: parseResolvedApp({ name: "web", image: "x:v1", secrets: { TOKEN: "tok-123456" } }) }));
    expect(r.error).toBeUndefined();
    expect(statuses(r)).toEqual([
      "engine.facts unchanged",
      "engine.bundle would-change",
      "engine.install would-change",
      "engine.configure would-change",
      "engine.start would-change",
      "engine.verify unchanged",
      "image.load would-change",
      "app.run would-change",
      "app.health unchanged",
      "audit.append would-change",
    ]);
    expect(f.opened[0]!.calls.filter((c) => c.kind === "upload")).toEqual([]);
    expect(h).toMatchObject({ installed: false, active: false, containerRuns: 0 });
    const files = r.hosts[0]!.files;
    expect(files.map((x) => `${x.stepId} ${x.path} ${x.reason}`)).toEqual([
      ...BUNDLE.manifest.packages.map((p) => `engine.bundle /var/lib/longshore/bundle/${BUNDLE.manifest.id}/debs/${p.filename} missing`),
      `engine.bundle /var/lib/longshore/bundle/${BUNDLE.manifest.id}/manifest.json missing`,
      `engine.bundle /var/lib/longshore/bundle/${BUNDLE.manifest.id}/SHA256SUMS missing`,
      "engine.configure /etc/docker/daemon.json missing",
      "engine.start /var/lib/longshore/engine/record-config.sh missing",
      "engine.start /etc/systemd/system/docker.service.d/longshore-record.conf missing",
      "app.run /etc/longshore/apps/web/web-v1.env missing",
    ]);
    expect(files[0]!.diff).toMatch(/^\[file from this computer, sha256 [0-9a-f]{12}…: not shown\]$/);
    const daemon = files.find((x) => x.path === "/etc/docker/daemon.json")!.diff;
    expect(daemon.split("\n").slice(0, 4)).toEqual(["--- /dev/null", "+++ /etc/docker/daemon.json (planned)", "@@ -0,0 +1,10 @@", "+{"]);
    expect(files.find((x) => x.path.endsWith(".env"))!.diff).toBe("[redacted content changed]");
    expect(JSON.stringify(r)).not.toContain("tok-123456");
  });

  it("diffs daemon.json against the host's copy (read with cat over the same connection)", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    await provisionHosts(input({ connect: f.connect }));
    const r = await provisionHosts(input({ connect: f.connect, mode: "check", engine: parseEngineOptions({ daemon: { "log-opts": { "max-file": "4" } } }) }));
    expect(statuses(r).filter((s) => !s.endsWith("unchanged"))).toEqual(["engine.configure would-change", "engine.start would-change"]);
    expect(r.hosts[0]!.files).toHaveLength(1);
    expect(r.hosts[0]!.files[0]!.diff).toBe(
      [
        "--- /etc/docker/daemon.json (host)",
        "+++ /etc/docker/daemon.json (planned)",
        "@@ -2,7 +2,7 @@",
        '   "live-restore": true,',
        '   "log-driver": "json-file",',
        '   "log-opts": {',
        '-    "max-file": "3",',
        '+    "max-file": "4",',
        '     "max-size": "10m"',
        "   },",
        '   "storage-driver": "overlay2",',
        "",
      ].join("\n"),
    );
    expect(f.opened[1]!.execs.filter((x) => x.startsWith("cat "))).toEqual(["cat -- /etc/docker/daemon.json"]);
    expect(h.engineRestarts).toBe(1);
  });

  it("never prints the host's copy of a file others may not read, even without secrets in the plan", async () => {
    const h = newDockerHost();
    const f = fleet({ "web-1": h });
    await provisionHosts(input({ connect: f.connect }));
    h.base.files.set("/etc/longshore/apps/web/web-v1.env", Buffer.from("MODE=demo\nOLD_TOKEN=leftover-secret\n"));
    const r = await provisionHosts(input({ connect: f.connect, mode: "check" }));
    expect(r.hosts[0]!.files.map((x) => [x.path, x.diff])).toEqual([["/etc/longshore/apps/web/web-v1.env", "[content of a 0600 file changed: not shown]"]]);
    expect(JSON.stringify(r)).not.toContain("leftover-secret");
  });
});

describe("plan label", () => {
  it("the app-state hash ignores engine options and the clock, and follows app, image, slot and release", () => {
    const base = { app: APP, image: input().image, slot: "blue", release: "v1" };
    expect(appStateHash(base)).toMatch(/^[0-9a-f]{16}$/);
    expect(appStateHash({ ...base })).toBe(appStateHash(base));
    expect(appStateHash({ ...base, slot: "green" })).not.toBe(appStateHash(base));
    expect(appStateHash({ ...base, release: "v2" })).not.toBe(appStateHash(base));
    expect(appStateHash({ ...base, app: { ...base.app, env: { MODE: "prod" } } })).not.toBe(appStateHash(base));
    expect(appStateHash({ ...base, app: { ...base.app, resources: { memory: "512m" } } })).not.toBe(appStateHash(base));
    expect(appStateHash({ ...base, image: { source: "archive", localPath: "/other/path.tar", imageId: IMAGE_ID } })).toBe(appStateHash(base));
    expect(appStateHash({ ...base, image: { source: "archive", localPath: "/other/path.tar", imageId: `sha256:${"f".repeat(64)}` } })).not.toBe(appStateHash(base));
  });

  it("secrets enter the hash as [redacted]: a rotated secret keeps the label (the env file re-creates the container)", () => {
    const withSecret = (v: string) => ({ ...APP, secrets: { TOKEN: new Sensitive(v) } });
    const base = { image: input().image, slot: "blue", release: "v1" };
    expect(appStateHash({ ...base, app: withSecret("one") })).toBe(appStateHash({ ...base, app: withSecret("two") }));
    expect(appStateHash({ ...base, app: withSecret("one") })).not.toBe(appStateHash({ ...base, app: APP }));
  });
});
