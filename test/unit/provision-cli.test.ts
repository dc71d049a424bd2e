// `longshore provision` / `longshore plan` through commander with scripted fake hosts: does NOT prove SSH or real hosts (test/e2e/provision-*.test.ts do), nor cli/main.ts's wiring (not in this branch).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseAppSpec } from "../../config/app";
import { demoImage } from "../../local/demo-app";
import { healthCheckScript } from "../../provisioner/steps/app-health";
import { register as registerPlan } from "../../cli/plan";
import { register as registerProvision } from "../../cli/provision";
import type { ProvisionCliDeps } from "../../cli/provision-common";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import type { SshTarget } from "../../provisioner/transport/ssh-target";
import { runCli, Sink } from "../helpers/cli-harness";
import { dockerHostTransport, newDockerHost, type DockerHostState } from "../helpers/fake-docker-host";
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

function provisionFile(name: string, maxFile = "3", extra = ""): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `engine:
  daemon:
    log-opts: { max-file: "${maxFile}" }
app:
  name: demo
  version: v1
  containerPort: 8080
  hostPort: 8080
${extra}image:
  archive: demo-v1.tar
bundle: ./bundles/engine
slot: blue
`,
  );
  return file;
}

const target = (name: string): SshTarget => ({ name, address: "10.213.47.10", port: 22, user: "root", auth: {}, hostKey: { fingerprints: [`SHA256:${"A".repeat(43)}`] } });

function harness(hosts: Record<string, DockerHostState>) {
  const stdout = new Sink();
  const stderr = new Sink();
  const connected: string[] = [];
  const deps: ProvisionCliDeps = {
    stdout,
    stderr,
    env: {},
    cwd: dir,
    homeDir: dir,
    readFile: (p) => fs.promises.readFile(p, "utf8"),
    connect: async (t) => {
      connected.push(t.name);
      return dockerHostTransport(t.name, hosts[t.name]!, v1.imageId);
    },
    localTargets: (env) => (env === "e2e" ? Object.keys(hosts).map(target) : []),
  };
  const run = async (...argv: string[]) => {
    stdout.text = "";
    stderr.text = "";
    const code = await runCli([(p) => registerProvision(p, deps), (p) => registerPlan(p, deps)], argv, stderr);
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  return { run, connected };
}

describe("longshore provision", () => {
  it("provisions, printing a progress line per step with status and time, then a summary per host", async () => {
    const h = harness({ "e2e-1": newDockerHost(), "e2e-22": newDockerHost() });
    const r = await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "e2e");
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n");
    expect(lines[0]).toBe(`bundle   ${manifest.name} ${manifest.version} (4 packages, verified)`);
    expect(lines[1]).toBe(`image    longshore-demo:v1 ${v1.imageId.slice(0, 19)} (archive, streamed over SSH)`);
    expect(lines[2]).toBe("provisioning 2 hosts, slot blue");
    expect(lines.filter((l) => l.startsWith("e2e-1 "))).toHaveLength(12);
    expect(lines.find((l) => l.startsWith("e2e-1   engine.install"))).toMatch(/^e2e-1   engine\.install    changed       \d+\.\d s$/);
    expect(lines.find((l) => l.startsWith("e2e-22  facts"))).toMatch(/^e2e-22  facts             debian 12 \(bookworm\) amd64, cgroup v1, no engine  \d+\.\d s$/);
    expect(lines.find((l) => l.startsWith("e2e-22  done"))).toMatch(/^e2e-22  done  \d+\.\d s$/);
    const summary = r.stdout.split("\n").map((l) => l.replace(/\d+\.\d s/, "T"));
    expect(summary.slice(0, 3)).toEqual([
      "HOST    STATUS  CHANGED  UNCHANGED  FAILED  NOT RUN  TIME   FAILED STEP",
      "e2e-1   ok      7        3          0       0        T",
      "e2e-22  ok      7        3          0       0        T",
    ]);
    // Re-run: nothing changes.
    const again = await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "e2e");
    expect(again.stdout.split("\n")[1]!.replace(/\d+\.\d s/, "T")).toBe("e2e-1   ok      0        10         0       0        T");
  });

  it("fails with exit code 4 naming host, step, command, exit code and stderr tail; the summary points at the step", async () => {
    const sick = newDockerHost();
    sick.healthy = false;
    const h = harness({ "e2e-1": sick });
    const r = await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "e2e");
    expect(r.code).toBe(4);
    expect(r.stdout.split("\n")[1]!.replace(/\d+\.\d s/, "T")).toBe("e2e-1  failed  6        2          1       1        T  app.health");
    const err = r.stderr.slice(r.stderr.indexOf("error ["));
    const lines = healthCheckScript(parseAppSpec({ name: "demo", image: "x", version: "v1", containerPort: 8080, hostPort: 8080 })).split("\n").length;
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
    const r = await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "e2e", "--json");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ mode: "apply", ok: true, counts: { changed: 7, unchanged: 3, failed: 0 } });
    expect(doc.hosts[0].host).toBe("e2e-1");
    expect(doc.hosts[0].planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.hosts[0].facts.osCodename).toBe("bookworm");
    expect(doc.hosts[0].steps.map((s: { id: string }) => s.id)[0]).toBe("engine.facts");
  });

  it("refuses bad flags and a bad file with every problem, exit code 2, before connecting anywhere", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const flags = await h.run("provision", "--inventory", "x.yaml", "--local-env", "e2e", "--concurrency", "0");
    expect(flags.code).toBe(2);
    expect(flags.stderr).toBe(
      [
        "error [CONFIG_INVALID]: command line is invalid (3 problems):",
        "  --file: is required: the provisioning file (provision.yaml)",
        "  --concurrency: must be a whole number from 1 to 1000",
        "  --local-env: use --inventory or --local-env, not both",
        "",
      ].join("\n"),
    );
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "app: {name: demo, version: v1, containerPort: 8080, hostPort: 8080, image: x}\nimage: {archive: demo-v1.tar}\nbundle: nope\n");
    const bad = await h.run("provision", "-f", file, "--local-env", "e2e");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${file}: app.image: set the image under the top-level image: (archive: or pull:), not in app`);
    expect(bad.stderr).toContain(`${file}: bundle: must be a bundle directory`);
    const noEnv = await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "nosuch");
    expect(noEnv.stderr).toBe("error [CONFIG_INVALID]: command line is invalid (1 problem):\n  --local-env: no local environment named nosuch with machines (create it with: longshore local up --env nosuch)\n");
    expect(h.connected).toEqual([]);
  });

  it("takes its hosts from an inventory file", async () => {
    const inv = path.join(dir, "inventory.yaml");
    fs.writeFileSync(path.join(dir, "id_test"), "not a real key");
    fs.writeFileSync(inv, `hosts:\n  web-9:\n    address: 10.213.47.99\n    identity: id_test\n    hostKey: "SHA256:${"B".repeat(43)}"\n`);
    const h = harness({ "web-9": newDockerHost() });
    const r = await h.run("provision", "-f", provisionFile("p.yaml"), "--inventory", "inventory.yaml");
    expect(r.code).toBe(0);
    expect(h.connected).toEqual(["web-9"]);
  });
});

describe("longshore plan", () => {
  it("shows per host and step what would change, with the daemon.json diff, and changes nothing", async () => {
    const host = newDockerHost();
    const h = harness({ "e2e-1": host });
    expect((await h.run("provision", "-f", provisionFile("p.yaml"), "--local-env", "e2e")).code).toBe(0);
    const restarts = host.engineRestarts;
    const r = await h.run("plan", "-f", provisionFile("p4.yaml", "4"), "--local-env", "e2e");
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
        `  engine.start      would change: check failed: sh -c '[ "$(cat "$1" 2>/dev/null)" = "$2" ]' sh /var/lib/longshore/engine/started-with.sha256 ${r.stdout.match(/started-with\.sha256 ([0-9a-f]{64})/)?.[1]}`,
        "  engine.verify     unchanged",
        "  image.load        unchanged",
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

  it("never shows a secret file's content, in text or --json", async () => {
    const h = harness({ "e2e-1": newDockerHost() });
    const file = provisionFile("secret.yaml", "3", '  secrets: { API_TOKEN: "tok-0123456789" }\n');
    const text = await h.run("plan", "-f", file, "--local-env", "e2e");
    expect(text.stdout).toContain("      /etc/longshore/apps/demo-v1.env (new): [redacted content changed]");
    const json = await h.run("plan", "-f", file, "--local-env", "e2e", "--json");
    const doc = JSON.parse(json.stdout);
    expect(doc.hosts[0].files.find((f: { path: string }) => f.path.endsWith(".env")).diff).toBe("[redacted content changed]");
    expect(text.stdout + text.stderr + json.stdout + json.stderr).not.toContain("tok-0123456789");
  });
});
