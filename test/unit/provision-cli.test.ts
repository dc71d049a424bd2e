// `longshore provision` / `longshore plan` through commander, reading the environment file, with
// scripted fake hosts (or a fake provisioning entry point where only the inputs matter): does NOT
// prove SSH or real hosts (test/e2e/provision-*.test.ts do), nor cli/main.ts's wiring (cli.test.ts).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { systemSecretReader } from "../../core/secret-reader";
import { parseResolvedApp } from "../../model/app";
import { demoImage } from "../../drivers/local/demo-app";
import { healthCheckScript } from "../../provisioner/steps/app-health";
import type { ProvisionHostsInput, ProvisionResult } from "../../provisioner/apply-host";
import { register as registerPlan } from "../../cli/plan";
import { register as registerProvision } from "../../cli/provision";
import type { ProvisionCliDeps } from "../../cli/provision-common";
import { repoTagOf } from "../../model/image-reference";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import { VERIFIED_STAMP } from "../../provisioner/bundle/verify";
import type { SshTarget } from "../../model/ssh-target";
import { runCli, Sink } from "../helpers/cli-harness";
import { dockerHostRules, newDockerHost, systemctlRestartDocker, type DockerHostState } from "../helpers/fake-docker-host";
import { FakeTransport } from "../helpers/fake-transport";
import { RECIPE } from "./fixtures/engine-context";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-provision-cli-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bundleDir = path.join(dir, "bundles", "engine");
fs.mkdirSync(path.join(bundleDir, DEBS_DIR), { recursive: true });
const pkgs: BundlePackage[] = ["docker.io", "containerd", "runc", "tini"].map((name) => {
  const filename = `${name}_1.0_amd64.deb`;
  const body = `deb of ${name}`;
  fs.writeFileSync(path.join(bundleDir, DEBS_DIR, filename), body);
  return { name, version: name === "docker.io" ? "20.10.24+dfsg1-1+deb12u1+b6" : "1.0", arch: "amd64", filename, size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
});
const manifest = createManifest(RECIPE, pkgs, "longshore/test");
fs.writeFileSync(path.join(bundleDir, MANIFEST_FILE), renderManifest(manifest));
const v1 = demoImage("v1");
fs.writeFileSync(path.join(dir, "demo-v1.tar"), v1.archive);

/** An environment file in `dir` (the bundle directory is relative to it). */
function envFile(name: string, o: { maxFile?: string; app?: string; top?: string; bundle?: string } = {}): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `name: e2e
app:
  name: demo
  image: longshore-demo:v1
  port: 8080
${o.app ?? ""}engine:
  bundle: ${o.bundle ?? "./bundles/engine"}
  daemon:
    log-opts: { max-file: "${o.maxFile ?? "3"}" }
${o.top ?? ""}`,
  );
  return file;
}

/**
 * The scripted host, answering app.run's create-then-swap script too (test/helpers/fake-docker-host.ts
 * still answers the `docker run --detach` that app.run used before): the swap leaves the container
 * that the step's last inspect check asked for.
 */
function hostTransport(name: string, h: DockerHostState): FakeTransport {
  let lastInspect = "";
  const rules = dockerHostRules(h, v1.imageId);
  return new FakeTransport(name, {
    state: h.base,
    unmatched: "error",
    rules: [
      {
        // Only remembers the check (and matches nothing): the helper's own rule answers it.
        match: (text) => {
          if (text.startsWith(`sh -c '[ "$(docker inspect --type container`)) lastInspect = text;
          return false;
        },
      },
      {
        match: /^sh -c 'set -u\napp=\$1; name=\$2;/,
        result: () => {
          h.container = lastInspect;
          h.containerRuns++;
          return { exitCode: 0 };
        },
      },
      ...rules,
    ],
  });
}

const target = (name: string): SshTarget => ({ name, address: "10.213.47.10", port: 22, user: "root", auth: {}, hostKey: { fingerprints: [`SHA256:${"A".repeat(43)}`] } });

function harness(hosts: Record<string, DockerHostState>, o: { env?: Record<string, string>; cwd?: string; fakeProvision?: boolean } = {}) {
  const stdout = new Sink();
  const stderr = new Sink();
  const connected: string[] = [];
  const inputs: ProvisionHostsInput[] = [];
  const deps: ProvisionCliDeps = {
    stdout,
    stderr,
    env: o.env ?? {},
    cwd: o.cwd ?? dir,
    homeDir: dir,
    cacheDir: path.join(dir, "cache"),
    readFile: (p) => fs.promises.readFile(p, "utf8"),
    secretReader: systemSecretReader(o.env ?? {}),
    connect: async (t) => {
      connected.push(t.name);
      return hostTransport(t.name, hosts[t.name]!);
    },
    localTargets: (group) => (group === "e2e" ? Object.keys(hosts).map(target) : []),
    ...(o.fakeProvision
      ? {
          provision: async (input: ProvisionHostsInput): Promise<ProvisionResult> => {
            inputs.push(input);
            return {
              report: { mode: input.mode, ok: true, durationMs: 0, counts: { changed: 0, unchanged: 0, failed: 0, notRun: 0 }, hosts: [] },
              hosts: [],
            } as unknown as ProvisionResult;
          },
        }
      : {}),
  };
  const run = async (...argv: string[]) => {
    stdout.text = "";
    stderr.text = "";
    // What a verb reports without throwing (plan --detailed-exitcode), as cli/main.ts returns it.
    let set: number | undefined;
    const code = await runCli([(p) => registerProvision(p, deps), (p) => registerPlan(p, { ...deps, setExitCode: (c) => void (set = c) })], argv, stderr);
    return { code: code === 0 ? (set ?? 0) : code, stdout: stdout.text, stderr: stderr.text };
  };
  return { run, connected, inputs };
}

const ARCHIVE = ["--image-archive", "demo-v1.tar"];

describe("longshore provision", () => {
  it("provisions, printing a progress line per step with status and time, then a summary per host", async () => {
    const h = harness({ "e2e-1": newDockerHost(), "e2e-22": newDockerHost() });
    const file = envFile("p.yaml");
    const r = await h.run("provision", "-f", file, "--env", "e2e", ...ARCHIVE);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n");
    expect(lines.slice(0, 4)).toEqual([
      `image    longshore-demo:v1 ${v1.imageId.slice(0, 19)} (layer by layer over SSH)`,
      `bundle   ${manifest.name} ${manifest.version} (4 packages, verified)`,
      "environment e2e (p.yaml): slot blue",
      "provisioning 2 hosts, slot blue",
    ]);
    expect(lines.find((l) => l.startsWith("e2e-1   engine.install"))).toMatch(/^e2e-1   engine\.install    changed       \d+\.\d s$/);
    expect(lines.find((l) => l.startsWith("e2e-22  facts"))).toMatch(/^e2e-22  facts             debian 12 \(bookworm\) amd64, cgroup v1, no engine  \d+\.\d s$/);
    expect(lines.find((l) => l.startsWith("e2e-22  done"))).toMatch(/^e2e-22  done  \d+\.\d s$/);
    const summary = r.stdout.split("\n").map((l) => l.replace(/\d+\.\d s/, "T"));
    expect(summary.slice(0, 3)).toEqual([
      "HOST    STATUS  CHANGED  UNCHANGED  FAILED  NOT RUN  TIME   FAILED STEP",
      "e2e-1   ok      8        3          0       0        T",
      "e2e-22  ok      8        3          0       0        T",
    ]);
    // Re-run: nothing changes.
    const again = await h.run("provision", "-f", file, "--local-env", "e2e", ...ARCHIVE);
    expect(again.stdout.split("\n")[1]!.replace(/\d+\.\d s/, "T")).toBe("e2e-1   ok      0        11         0       0        T");
  });

  it("app.imageFrom: engine reads the image from the engine DOCKER_HOST names, layer by layer; a missing image is exit 2 at app.imageFrom before any host", async () => {
    const socket = path.join(dir, "engine.sock");
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(String(req.url));
      if (req.url === "/images/longshore-demo%3Av1/json") return void res.end(JSON.stringify({ Id: v1.imageId }));
      if (req.url === "/images/get?names=longshore-demo%3Av1") return void res.end(v1.archive);
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(socket, r));
    try {
      fs.rmSync(path.join(dir, "cache", "blobs"), { recursive: true, force: true });
      const h = harness({ "e2e-1": newDockerHost() }, { env: { DOCKER_HOST: `unix://${socket}` } });
      const file = envFile("engine.yaml", { app: "  imageFrom: engine\n" });
      const r = await h.run("provision", "-f", file, "--local-env", "e2e");
      expect([r.code, r.stderr.split("\n")[0]]).toEqual([0, `image    longshore-demo:v1 ${v1.imageId.slice(0, 19)} (layer by layer over SSH)`]);
      expect(requests).toEqual(["/images/longshore-demo%3Av1/json", "/images/get?names=longshore-demo%3Av1"]);
      // Again: the image ID is in the blob cache, so the engine is only asked for it.
      expect((await h.run("provision", "-f", file, "--local-env", "e2e")).code).toBe(0);
      expect(requests.slice(2)).toEqual(["/images/longshore-demo%3Av1/json"]);
      const missing = harness({ "e2e-1": newDockerHost() }, { env: { DOCKER_HOST: `unix://${socket}` } });
      const m = await missing.run("provision", "-f", file, "--local-env", "e2e", "--image", ":v9");
      expect([m.code, m.stderr.split("\n").slice(0, 2)]).toEqual([2, ["error [CONFIG_INVALID]: engine.yaml is invalid (1 problem):", `  app.imageFrom: the engine at ${socket} has no image longshore-demo:v9`]]);
      expect(missing.connected).toEqual([]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("prints what a running step reports: waiting for dpkg's lock, naming the PID that holds it", async () => {
    const host = newDockerHost();
    const h = harness({ "e2e-1": host });
    host.installProgress = "longshore-progress: waiting for dpkg lock held by PID 4242 (apt-get)\n";
    const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE);
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("e2e-1  engine.install"));
    expect(lines[0]).toBe("e2e-1  engine.install    waiting for dpkg lock held by PID 4242 (apt-get)");
    expect(lines[1]).toMatch(/^e2e-1  engine\.install    changed       \d+\.\d s$/);
  });

  it("fails with exit code 4 naming host, step, command, exit code and stderr tail; the summary points at the step", async () => {
    const sick = newDockerHost();
    sick.healthy = false;
    const h = harness({ "e2e-1": sick });
    const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE);
    expect(r.code).toBe(4);
    expect(r.stdout.split("\n")[1]!.replace(/\d+\.\d s/, "T")).toBe("e2e-1  failed  7        2          1       1        T  app.health");
    const err = r.stderr.slice(r.stderr.indexOf("error ["));
    const lines = healthCheckScript(parseResolvedApp({ name: "demo", image: "longshore-demo:v1", port: 8080 }), { deadlineMs: 120_000 }).replace(/\n$/, "").split("\n").length;
    expect(err).toBe(
      [
        "error [HOSTS_FAILED]: 1 of 1 host failed:",
        `    e2e-1: app.health (apply): \`bash -c '# longshore app.health: GET the app'\\''s health path on this host until it answers the expected … (${lines} lines)'\` exited 1`,
        "        app.health: GET http://127.0.0.1:8080/healthz: HTTP/1.0 404 Not Found",
        "        longshore demo broken: unhealthy",
        "",
      ].join("\n"),
    );
  });

  it("prints one JSON document with --json and no progress lines", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE, "--json");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ mode: "apply", ok: true, counts: { changed: 8, unchanged: 3, failed: 0 } });
    expect(doc.hosts[0].host).toBe("e2e-1");
    expect(doc.hosts[0].planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.hosts[0].facts.osCodename).toBe("bookworm");
    expect(doc.hosts[0].steps.map((s: { id: string }) => s.id)[0]).toBe("engine.facts");
  });

  it("reports every flag problem together, exit code 2, before reading the file or connecting anywhere", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    for (const verb of ["provision", "plan"]) {
      const r = await h.run(verb, "-f", "nosuch.yaml", "-i", "x.yaml", "--env", "e2e", "--concurrency", "0", "--slot", "purple", "--image", "shop/App");
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        [
          "error [CONFIG_INVALID]: command line is invalid (4 problems):",
          '  --slot: must be one of "blue", "green"',
          "  --concurrency: must be a whole number from 1 to 1000",
          "  --image: repository name must be lower-case",
          "  --env: use --inventory or --env, not both",
          "",
        ].join("\n"),
      );
    }
    // --local-env, the name --env had before, still counts (hidden from --help).
    const none = await h.run("plan", "--local-env", "E2E");
    expect(none.stderr).toBe("error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --env: must be lower-case letters, digits and '-', starting with a letter, at most 24 characters\n");
    const noHosts = await h.run("plan");
    expect(noHosts.stderr).toBe("error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --inventory: name the hosts: -i/--inventory FILE or --env NAME\n");
    expect(h.connected).toEqual([]);
  });

  it("refuses a bad environment file with every problem and its path, and a missing one, before connecting", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "name: e2e\napp: { name: demo, image: longshore-demo:v1, containerPort: 8080 }\nengine: { bundle: nope }\n");
    const bad = await h.run("provision", "-f", file, "--local-env", "e2e");
    expect(bad.code).toBe(2);
    expect(bad.stderr.split("\n").slice(0, 3)).toEqual([
      `error [CONFIG_INVALID]: ${file} is invalid (2 problems):`,
      `  ${file}: app.containerPort: unknown key`,
      `  ${file}: engine.bundle: must be a bundle directory (a path with a /) or a recipe name debian-<suite>[-<arch>] such as debian-bookworm (arch one of amd64, arm64, armhf, i386, ppc64el, s390x, riscv64)`,
    ]);
    const missing = await h.run("plan", "--local-env", "e2e");
    expect(missing.code).toBe(2);
    expect(missing.stderr.split("\n").slice(0, 2)).toEqual([
      "error [CONFIG_INVALID]: longshore.yaml is invalid (1 problem):",
      "  longshore.yaml: the file does not exist",
    ]);
    expect(h.connected).toEqual([]);
  });

  it("refuses an unset secret source with its key path and variable, before connecting", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const file = envFile("unset.yaml", { app: "  secrets: { API_TOKEN: { env: SHOP_API_TOKEN } }\n" });
    const r = await h.run("provision", "-f", file, "--local-env", "e2e", ...ARCHIVE);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n").slice(0, 2)).toEqual([
      "error [CONFIG_INVALID]: the secrets of unset.yaml is invalid (1 problem):",
      "  unset.yaml: app.secrets.API_TOKEN: the environment variable SHOP_API_TOKEN is not set (source: env SHOP_API_TOKEN)",
    ]);
    expect(h.connected).toEqual([]);
  });

  it("refuses a malformed longshore.lock beside the file with its path, with the other input problems, before connecting", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    fs.mkdirSync(path.join(dir, "locked"), { recursive: true });
    const file = envFile(path.join("locked", "env.yaml"), { bundle: "debian-bookworm", app: "  secrets: { API_TOKEN: { env: SHOP_API_TOKEN } }\n" });
    fs.writeFileSync(path.join(dir, "locked", "longshore.lock"), "version: 1\nimages: { web:1: sha256:1 }\n");
    const r = await h.run("provision", "-f", file, "--local-env", "e2e", ...ARCHIVE);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n").slice(0, 3)).toEqual([
      "error [CONFIG_INVALID]: the input is invalid (2 problems):",
      "  locked/env.yaml: app.secrets.API_TOKEN: the environment variable SHOP_API_TOKEN is not set (source: env SHOP_API_TOKEN)",
      '  locked/longshore.lock: images["web:1"]: must be an image ID: sha256: and 64 lower-case hex digits',
    ]);
    expect(h.connected).toEqual([]);
  });

  it("refuses an unknown local machine group", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "nosuch");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --env: no local environment named nosuch with machines (create it with: longshore local up --env nosuch)\n",
    );
    expect(h.connected).toEqual([]);
  });

  it("refuses an --image-archive that does not hold the image, naming its tags, exit 2 before connecting", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", "--image", ":v2", ...ARCHIVE);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --image-archive: holds longshore-demo:v1, not longshore-demo:v2: pass --image with one of its tags\n",
    );
    fs.writeFileSync(path.join(dir, "not-an-archive.tar"), "hello");
    const unreadable = await h.run("plan", "-f", envFile("p.yaml"), "--local-env", "e2e", "--image-archive", "not-an-archive.tar");
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toBe(
      `error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --image-archive: ${dir}/not-an-archive.tar: tar archive is truncated (wanted 512 bytes, got 5)\n`,
    );
    expect(h.connected).toEqual([]);
  });

  it("takes its hosts from an inventory file", async () => {
    const inv = path.join(dir, "inventory.yaml");
    fs.writeFileSync(path.join(dir, "id_test"), "not a real key");
    fs.writeFileSync(inv, `hosts:\n  web-9:\n    address: 10.213.47.99\n    identity: id_test\n    hostKey: "SHA256:${"B".repeat(43)}"\n`);
    const h = harness({ "web-9": newDockerHost() });
    const r = await h.run("provision", "-f", envFile("p.yaml"), "-i", "inventory.yaml", ...ARCHIVE);
    expect(r.code).toBe(0);
    expect(h.connected).toEqual(["web-9"]);
  });
});

describe("files the configuration points at are input: exit 2 naming the key or flag, before any host", () => {
  const KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\nnot checked here\n-----END OPENSSH PRIVATE KEY-----\n`;
  fs.writeFileSync(path.join(dir, "id_ok"), KEY);
  fs.mkdirSync(path.join(dir, "a-directory"), { recursive: true });
  fs.writeFileSync(path.join(dir, "empty"), "");
  const inventory = (name: string, hosts: string, defaults = "") => {
    fs.writeFileSync(path.join(dir, name), `${defaults}hosts:\n${hosts}`);
    return name;
  };
  const host = (name: string, identity?: string) =>
    `  ${name}:\n    address: 10.213.47.99\n${identity === undefined ? "" : `    identity: ${identity}\n`}    hostKey: "SHA256:${"B".repeat(43)}"\n`;

  it("--image-archive: missing, a directory, empty, truncated", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    fs.writeFileSync(path.join(dir, "cut.tar"), v1.archive.subarray(0, v1.archive.length - 1024));
    const cases: Array<[string, string]> = [
      ["nosuch.tar", `${dir}/nosuch.tar does not exist`],
      ["a-directory", `${dir}/a-directory is a directory`],
      ["empty", `${dir}/empty is empty`],
      ["cut.tar", `${dir}/cut.tar: tar archive is truncated (no end-of-archive marker)`],
    ];
    for (const [archive, message] of cases) {
      const r = await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", "--image-archive", archive);
      expect([r.code, r.stderr]).toEqual([2, `error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --image-archive: ${message}\n`]);
    }
    expect(h.connected).toEqual([]);
  });

  it("engine.bundle: missing, not a directory, empty, tampered", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const tampered = path.join(dir, "bundles", "tampered");
    fs.cpSync(bundleDir, tampered, { recursive: true });
    fs.writeFileSync(path.join(tampered, DEBS_DIR, "runc_1.0_amd64.deb"), "tampered");
    fs.writeFileSync(path.join(tampered, DEBS_DIR, "extra.deb"), "x");
    fs.mkdirSync(path.join(dir, "bundles", "empty"), { recursive: true });
    const SHA_TAMPERED = createHash("sha256").update("tampered").digest("hex");
    const cases: Array<[string, string[]]> = [
      ["./bundles/nosuch", [`${dir}/bundles/nosuch does not exist`]],
      ["./empty/", [`${dir}/empty is not a directory`]],
      ["./bundles/empty", [`${dir}/bundles/empty is empty`]],
      [
        "./bundles/tampered",
        [`${tampered}/debs/extra.deb: not listed in the manifest`, `${tampered}/debs/runc_1.0_amd64.deb: sha256 mismatch: expected ${pkgs[2]!.sha256}, actual ${SHA_TAMPERED}`],
      ],
    ];
    for (const [bundle, messages] of cases) {
      const r = await h.run("plan", "-f", envFile("b.yaml", { bundle }), "--local-env", "e2e", ...ARCHIVE);
      expect([r.code, r.stderr]).toEqual([
        2,
        [
          `error [CONFIG_INVALID]: b.yaml is invalid (${messages.length} problem${messages.length === 1 ? "" : "s"}):`,
          ...messages.map((m) => `  b.yaml: engine.bundle: ${m}`),
          "",
        ].join("\n"),
      ]);
    }
    expect(h.connected).toEqual([]);
  });

  it("engine.fetch: archive with a bundle that does not record archive paths is exit 2 at engine.fetch, before connecting", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const r = await h.run("plan", "-f", envFile("fetch.yaml", { bundle: "./bundles/engine\n  fetch: archive" }), "--local-env", "e2e", ...ARCHIVE);
    expect([r.code, r.stderr.split("\n").slice(2)]).toEqual([
      2,
      [
        "error [CONFIG_INVALID]: fetch.yaml is invalid (1 problem):",
        `  fetch.yaml: engine.fetch: archive: bundle ${manifest.id.slice(0, 12)} does not record where the archive keeps containerd, docker.io, runc, tini (it was built before longshore recorded archive paths)`,
        "",
      ],
    ]);
    expect(h.connected).toEqual([]);
  });

  it("an inventory's identity: missing, a directory, empty; a default named once, at defaults.identity", async () => {
    const h = harness({ "web-1": newDockerHost(), "web-2": newDockerHost(), "web-3": newDockerHost(), "web-4": newDockerHost() });
    const inv = inventory("inv-keys.yaml", host("web-1", "no_key") + host("web-2", "a-directory") + host("web-3", "empty") + host("web-4", "id_ok") + host("web-5"), "defaults:\n  identity: ~/nokey\n");
    const r = await h.run("provision", "-f", envFile("p.yaml"), "-i", inv, ...ARCHIVE);
    expect([r.code, r.stderr]).toEqual([
      2,
      [
        `error [CONFIG_INVALID]: ${dir}/inv-keys.yaml is invalid (4 problems):`,
        `  ${dir}/inv-keys.yaml: defaults.identity: ${dir}/nokey does not exist`,
        `  ${dir}/inv-keys.yaml: hosts.web-1.identity: ${dir}/no_key does not exist`,
        `  ${dir}/inv-keys.yaml: hosts.web-2.identity: ${dir}/a-directory is a directory`,
        `  ${dir}/inv-keys.yaml: hosts.web-3.identity: ${dir}/empty is empty`,
        "",
      ].join("\n"),
    ]);
    expect(h.connected).toEqual([]);
  });

  it("every problem at once: a secret, an identity, the archive and the bundle", async () => {
    const h = harness({ "web-1": newDockerHost() });
    const file = envFile("all.yaml", { app: "  secrets: { API_TOKEN: { env: SHOP_API_TOKEN } }\n", bundle: "./bundles/nosuch" });
    const r = await h.run("plan", "-f", file, "-i", inventory("inv-one.yaml", host("web-1", "no_key")), "--image-archive", "nosuch.tar");
    expect([r.code, r.stderr]).toEqual([
      2,
      [
        "error [CONFIG_INVALID]: the input is invalid (4 problems):",
        "  all.yaml: app.secrets.API_TOKEN: the environment variable SHOP_API_TOKEN is not set (source: env SHOP_API_TOKEN)",
        `  ${dir}/inv-one.yaml: hosts.web-1.identity: ${dir}/no_key does not exist`,
        `  --image-archive: ${dir}/nosuch.tar does not exist`,
        `  all.yaml: engine.bundle: ${dir}/bundles/nosuch does not exist`,
        "",
      ].join("\n"),
    ]);
    expect(h.connected).toEqual([]);
  });
});

describe("provision and plan defaults", () => {
  const run = async (top: string, ...argv: string[]) => {
    const h = harness({ "e2e-1": newDockerHost() }, { fakeProvision: true });
    const file = envFile("defaults.yaml", { top });
    const r = await h.run("plan", "-f", file, "--local-env", "e2e", ...argv);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    const input = h.inputs[0]!;
    return { slot: input.slot, image: input.app.image, source: input.image, mode: input.mode, stderr: r.stderr };
  };
  const slots = (blue: string, green: string, live: string) => `slots:\n  blue: { image: ${blue} }\n  green: { image: ${green} }\nlive: ${live}\n`;

  it("--verify makes the hosts hash every bundle file again; without it they trust their .verified record", async () => {
    for (const [argv, rehash] of [[[], undefined], [["--verify"], true]] as const) {
      const h = harness({ "e2e-1": newDockerHost() }, { fakeProvision: true });
      const r = await h.run("plan", "-f", envFile("verify.yaml"), "--local-env", "e2e", ...argv);
      expect([r.code, h.inputs[0]!.rehashFiles]).toEqual([0, rehash]);
    }
  });

  it("--verify hashes the bundle on this computer again too, instead of trusting the stamp of its last verification", async () => {
    const stamped = path.join(dir, "bundles", "stamped");
    fs.cpSync(bundleDir, stamped, { recursive: true });
    const file = envFile("stamped.yaml", { bundle: "./bundles/stamped" });
    const plan = (...argv: string[]) => harness({ "e2e-1": newDockerHost() }, { fakeProvision: true }).run("plan", "-f", file, "--local-env", "e2e", ...argv);
    expect((await plan()).code).toBe(0);
    // A stamp forged to match a tampered .deb (the file system cannot produce one: any write moves
    // the ctime): trusted without --verify, found with it.
    const deb = path.join(stamped, DEBS_DIR, "runc_1.0_amd64.deb");
    fs.writeFileSync(deb, "tampered");
    const stampFile = path.join(stamped, VERIFIED_STAMP);
    const forged = JSON.parse(fs.readFileSync(stampFile, "utf8")) as { files: string[] };
    const st = fs.statSync(deb, { bigint: true });
    forged.files = forged.files.map((f) => (f.startsWith("runc_1.0_amd64.deb ") ? `runc_1.0_amd64.deb ${st.size}:${st.ino}:${st.ctimeNs}` : f));
    fs.writeFileSync(stampFile, JSON.stringify(forged));
    expect((await plan()).code).toBe(0);
    const checked = await plan("--verify");
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain(`${stamped}/debs/runc_1.0_amd64.deb: sha256 mismatch`);
  });

  it("with nothing running: slot blue, app.image, pulled by each host", async () => {
    expect(await run("")).toEqual({
      slot: "blue",
      image: "longshore-demo:v1",
      source: { source: "registry", ref: "longshore-demo:v1" },
      mode: "check",
      stderr: [
        "image    longshore-demo:v1 (pulled by each host)",
        `bundle   ${manifest.name} ${manifest.version} (4 packages, verified)`,
        "environment e2e (defaults.yaml): slot blue",
        "",
      ].join("\n"),
    });
  });

  it("the live slot and the image it runs; --slot picks the other one, whose image else app.image", async () => {
    const top = slots("null", "longshore-demo:v0", "green");
    expect(await run(top)).toMatchObject({ slot: "green", image: "longshore-demo:v0" });
    expect(await run(top, "--slot", "blue")).toMatchObject({ slot: "blue", image: "longshore-demo:v1" });
    const both = slots("reg.example:5000/demo:v7", "longshore-demo:v0", "green");
    expect(await run(both, "--slot", "blue")).toMatchObject({ slot: "blue", image: "reg.example:5000/demo:v7" });
  });

  it("--image: a full reference, or :TAG / @DIGEST for app.image's repository", async () => {
    expect(await run("", "--image", "other.example/team/app:v3")).toMatchObject({ image: "other.example/team/app:v3" });
    expect(await run("", "--image", ":v9")).toMatchObject({ image: "longshore-demo:v9", source: { source: "registry", ref: "longshore-demo:v9" } });
    const digest = `@sha256:${"a".repeat(64)}`;
    expect(await run("", "--image", digest)).toMatchObject({ image: `longshore-demo${digest}` });
  });

  it("--image :TAG that makes a bad reference is exit 2 naming --image", async () => {
    const h = harness({ "e2e-1": newDockerHost() }, { fakeProvision: true });
    const r = await h.run("plan", "-f", envFile("p.yaml"), "--local-env", "e2e", "--image", ":-bad");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --image: tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'\n",
    );
    expect(h.inputs).toEqual([]);
  });

  it("-f defaults to ./longshore.yaml in the working directory", async () => {
    const cwd = path.join(dir, "cwd");
    fs.mkdirSync(path.join(cwd, "bundles"), { recursive: true });
    fs.cpSync(bundleDir, path.join(cwd, "bundles", "engine"), { recursive: true });
    fs.writeFileSync(path.join(cwd, "longshore.yaml"), fs.readFileSync(envFile("p.yaml"), "utf8").replace("image: longshore-demo:v1", "image: longshore-demo:v5"));
    const h = harness({ "e2e-1": newDockerHost() }, { fakeProvision: true, cwd });
    const r = await h.run("provision", "--local-env", "e2e");
    expect(r.code).toBe(0);
    expect(h.inputs.map((i) => [i.mode, i.app.image])).toEqual([["apply", "longshore-demo:v5"]]);
    expect(r.stderr).toContain("environment e2e (longshore.yaml): slot blue\n");
  });

  it("finds an image without a tag (or with docker.io/library/) in an archive of its :latest", () => {
    expect(["shop/app", "shop/app:latest", "docker.io/shop/app", "docker.io/library/nginx:1.25", "nginx:1.25", "reg.example:5000/app", "localhost/app:v1"].map(repoTagOf)).toEqual([
      "shop/app:latest",
      "shop/app:latest",
      "shop/app:latest",
      "nginx:1.25",
      "nginx:1.25",
      "reg.example:5000/app:latest",
      "localhost/app:v1",
    ]);
    expect(repoTagOf(`app@sha256:${"a".repeat(64)}`)).toBeNull();
  });
});

describe("longshore plan", () => {
  it("shows per host and step what would change, with the daemon.json diff, and changes nothing", async () => {
    const host = newDockerHost();
    const h = harness({ "e2e-1": host });
    expect((await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE)).code).toBe(0);
    const restarts = host.engineRestarts;
    const r = await h.run("plan", "-f", envFile("p4.yaml", { maxFile: "4" }), "--local-env", "e2e", ...ARCHIVE);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "e2e-1 (debian 12 bookworm amd64)",
        "  engine.facts      unchanged",
        "  engine.bundle     unchanged",
        "  engine.install    unchanged",
        "  engine.configure  would change: 1 file to upload",
        "      /etc/docker/daemon.json (changed)",
        "        --- /etc/docker/daemon.json (host)",
        "        +++ /etc/docker/daemon.json (planned)",
        "        @@ -2,7 +2,7 @@",
        '           "live-restore": true,',
        '           "log-driver": "json-file",',
        '           "log-opts": {',
        '        -    "max-file": "3",',
        '        +    "max-file": "4",',
        '             "max-size": "10m"',
        "           },",
        '           "storage-driver": "overlay2",',
        `  engine.start      would change: check failed: sh -c 'f=$1; d=$2; [ "$(head -n 1 "$f" 2>/dev/null)" = "start $d" ] && ! grep -qvxF -e "start $d" -e "reload $d" "$f"' sh /var/lib/longshore/engine/running-config ${r.stdout.match(/running-config ([0-9a-f]{64})/)?.[1]}`,
        "  engine.verify     unchanged",
        "  image.layers      unchanged",
        "  app.run           unchanged",
        "  app.health        unchanged",
        "  audit.append      unchanged",
        "  2 steps would change",
        "",
        "Plan: 1 of 1 host would change.",
        "",
      ].join("\n"),
    );
    expect(host.engineRestarts).toBe(restarts);
  });

  it("--detailed-exitcode: 0 when nothing would change, 2 when something would, as terraform plan -detailed-exitcode", async () => {
    const host = newDockerHost();
    const h = harness({ "e2e-1": host });
    expect((await h.run("provision", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE)).code).toBe(0);
    const same = await h.run("plan", "-f", envFile("p.yaml"), "--local-env", "e2e", ...ARCHIVE, "--detailed-exitcode");
    expect([same.code, same.stdout.split("\n").at(-2)]).toEqual([0, "Plan: 0 of 1 host would change."]);
    const drift = await h.run("plan", "-f", envFile("p4.yaml", { maxFile: "4" }), "--local-env", "e2e", ...ARCHIVE, "--detailed-exitcode");
    expect([drift.code, drift.stdout.split("\n").at(-2)]).toEqual([2, "Plan: 1 of 1 host would change."]);
    const json = await h.run("plan", "-f", envFile("p4.yaml", { maxFile: "4" }), "--local-env", "e2e", ...ARCHIVE, "--detailed-exitcode", "--json");
    expect([json.code, JSON.parse(json.stdout).counts["would-change"]]).toEqual([2, 2]);
    // Without the flag a plan that finds changes is a success like any other.
    expect((await h.run("plan", "-f", envFile("p4.yaml", { maxFile: "4" }), "--local-env", "e2e", ...ARCHIVE)).code).toBe(0);
    for (const r of [same, drift, json]) expect(r.stderr).not.toContain("error");
  });

  it("a daemon restarted by hand with an edited daemon.json is drift: provision restores the file AND restarts it, then plan shows nothing", async () => {
    const host = newDockerHost();
    const h = harness({ "e2e-1": host });
    const file = envFile("p.yaml");
    expect((await h.run("provision", "-f", file, "--local-env", "e2e", ...ARCHIVE)).code).toBe(0);
    const planned = host.base.files.get("/etc/docker/daemon.json")!.toString();
    expect(host.runningDaemonJson).toBe(planned);
    // The operator adds "debug": true and restarts docker by hand.
    host.base.files.set("/etc/docker/daemon.json", Buffer.from(planned.replace("{\n", '{\n  "debug": true,\n')));
    systemctlRestartDocker(host);
    expect(host.runningDaemonJson).toContain('"debug": true');
    const drift = await h.run("plan", "-f", file, "--local-env", "e2e", ...ARCHIVE, "--detailed-exitcode");
    expect(drift.code).toBe(2);
    expect(drift.stdout).toContain("  engine.start      would change: check failed: sh -c 'f=$1; d=$2;");
    const restarts = host.engineRestarts;
    const fix = await h.run("provision", "-f", file, "--local-env", "e2e", ...ARCHIVE, "--json");
    expect(fix.code).toBe(0);
    expect(JSON.parse(fix.stdout).hosts[0].steps.filter((s: { status: string }) => s.status !== "unchanged").map((s: { id: string; status: string }) => `${s.id} ${s.status}`)).toEqual([
      "engine.configure changed",
      "engine.start changed",
    ]);
    // dockerd was restarted once and now runs the planned file, not the one with debug.
    expect([host.engineRestarts - restarts, host.runningDaemonJson]).toEqual([1, planned]);
    const clean = await h.run("plan", "-f", file, "--local-env", "e2e", ...ARCHIVE, "--detailed-exitcode");
    expect([clean.code, clean.stdout.split("\n").at(-2)]).toEqual([0, "Plan: 0 of 1 host would change."]);
  });

  it("never shows a secret's value, in text or --json", async () => {
    const h = harness({ "e2e-1": newDockerHost() }, { env: { API_TOKEN: "tok-0123456789" } });
    const file = envFile("secret.yaml", { app: "  secrets: { API_TOKEN: { env: API_TOKEN } }\n" });
    const text = await h.run("plan", "-f", file, "--local-env", "e2e", ...ARCHIVE);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("      /etc/longshore/apps/demo/demo-v1.env (new): [redacted content changed]");
    const json = await h.run("plan", "-f", file, "--local-env", "e2e", ...ARCHIVE, "--json");
    const doc = JSON.parse(json.stdout);
    expect(doc.hosts[0].files.find((f: { path: string }) => f.path.endsWith(".env")).diff).toBe("[redacted content changed]");
    expect(text.stdout + text.stderr + json.stdout + json.stderr).not.toContain("tok-0123456789");
  });
});
