// Unit: environment file parsing, loading and updating. Does not prove that a driver honours every
// field (the e2e tests do, for the local driver), nor the schema of each block (app, engine, aws:
// their own tests).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { demoEnvironmentText, loadEnvironment, parseEnvironment, updateEnvironmentText, writeEnvironmentText } from "../../model/environment-file";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-envfile-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const DAEMON_DEFAULTS = {
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" },
  "live-restore": true,
  "userland-proxy": false,
  "storage-driver": "overlay2",
};

function issues(text: string, file = "e.yaml"): unknown {
  const r = parseEnvironment(text, file);
  return r.ok ? "parsed" : r.issues;
}

describe("environment file", () => {
  it("the demo environment parses with its defaults: app.image set, both slots empty", () => {
    const r = parseEnvironment(demoEnvironmentText("longshore-demo:v1"), "longshore.yaml");
    expect(r.ok && r.value).toEqual({
      name: "demo",
      driver: "local",
      accessories: {},
      app: {
        name: "demo",
        image: "longshore-demo:v1",
        imageFrom: "registry",
        port: 8080,
        env: { GREETING: "hello" },
        secrets: {},
        volumes: [],
        resources: {},
        health: { path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 },
        stopTimeoutSeconds: 10,
        restart: "unless-stopped",
        init: false,
      },
      hosts: { os: "debian-13" },
      engine: { channel: "bundle", bundle: "debian-trixie", daemon: DAEMON_DEFAULTS },
      slots: { blue: { image: null, size: 2 }, green: { image: null, size: 2 } },
      live: null,
      rollout: { healthDeadlineSeconds: 120, soakSeconds: 10, drainSeconds: 2, keepPrevious: true },
      local: { listen: { address: "127.0.0.1", port: 8080 }, hostImage: true },
    });
  });

  it("fills every default of a minimal file", () => {
    const r = parseEnvironment("name: a\napp: { name: a, image: a:v1 }\n", "e.yaml");
    expect(r.ok && [r.value.slots, r.value.live, r.value.rollout, r.value.local, r.value.registry, r.value.aws]).toEqual([
      { blue: { image: null, size: 2 }, green: { image: null, size: 2 } },
      null,
      { healthDeadlineSeconds: 120, soakSeconds: 30, drainSeconds: 5, keepPrevious: true },
      { listen: { address: "127.0.0.1", port: 8080 }, hostImage: true },
      undefined,
      undefined,
    ]);
  });

  it("reports every problem with its path", () => {
    const text = [
      "name: Demo",
      "app: { name: demo, image: app:v1, port: 70000, helthPath: /h }",
      "slots:",
      "  blue: { image: 'Bad Image', size: 0 }",
      "live: green",
    ].join("\n");
    expect(issues(text, "web.yaml")).toEqual([
      { path: "web.yaml: name", message: "must be a lower-case name of 1-12 letters, digits or '-', starting with a letter" },
      { path: "web.yaml: app.port", message: "must be a whole number from 1 to 65535" },
      { path: "web.yaml: app.helthPath", message: "unknown key" },
      { path: "web.yaml: slots.blue.image", message: "must not contain whitespace" },
      { path: "web.yaml: slots.blue.size", message: "must be at least 1" },
      { path: "web.yaml: live", message: "the live slot (green) has no image" },
    ]);
  });

  it("refuses a live slot with no image", () => {
    expect(issues("name: a\napp: { name: a, image: a:v1 }\nslots: { blue: { image: a:v1 } }\nlive: green\n")).toEqual([
      { path: "e.yaml: live", message: "the live slot (green) has no image" },
    ]);
  });

  it("refuses a secret's value, a registry that does not serve app.image, a local slot over 50 and a pulumi source on the local driver", () => {
    expect(issues("name: a\napp: { name: a, image: a:v1, secrets: { DB: hunter2 } }\n")).toEqual([
      {
        path: "e.yaml: app.secrets.DB",
        message: "must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself",
      },
    ]);
    const text = [
      "name: a",
      "app: { name: a, image: reg.example/a:v1, secrets: { K: { pulumi: k } } }",
      "registry: { server: other.example, username: u, password: { env: P } }",
      "slots: { blue: { size: 51 } }",
    ].join("\n");
    expect(issues(text)).toEqual([
      { path: "e.yaml: registry.server", message: "is not the registry of app.image (reg.example/a:v1 is pulled from reg.example)" },
      { path: "e.yaml: slots.blue.size", message: "must be at most 50 on the local driver" },
      {
        path: "e.yaml: app.secrets.K",
        message: "is read by the web Pulumi program only (driver: aws); use { env }, { file } or { command } on the local driver",
      },
    ]);
  });

  it("refuses a source with two kinds, a bad listen address, driver aws without aws:, an empty file", () => {
    expect(issues("name: a\napp: { name: a, image: a:v1, secrets: { K: { env: K, file: f } } }\n")).toEqual([
      { path: "e.yaml: app.secrets.K", message: "must have exactly one of env, file, command or pulumi (has env and file)" },
    ]);
    expect(issues("name: a\napp: { name: a, image: a:v1 }\nlocal: { listen: '0.0.0.0:99999' }\n")).toEqual([
      { path: "e.yaml: local.listen", message: "must be IPV4-ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080" },
    ]);
    expect(issues("name: a\ndriver: aws\napp: { name: a, image: a:v1 }\n")).toEqual([
      { path: "e.yaml: aws", message: "is required with driver: aws (region, sshPublicKey, adminCidrs...)" },
    ]);
    expect(issues("")).toEqual([{ path: "e.yaml", message: "the file is empty: expected name:, app: and slots:" }]);
  });

  it("reports YAML syntax errors with line and column", () => {
    const r = parseEnvironment("name: a\n  app: [\n", "e.yaml");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues[0]?.path).toMatch(/^e\.yaml: line \d+, column \d+$/);
  });

  it("resolves a bundle directory against baseDir, and leaves a recipe name alone", () => {
    const dir = "name: a\napp: { name: a, image: a:v1 }\nengine: { bundle: ./bundles/x }\n";
    const r = parseEnvironment(dir, "e.yaml", "/srv/env");
    expect(r.ok && r.value.engine.bundle).toBe("/srv/env/bundles/x");
    const unresolved = parseEnvironment(dir, "e.yaml");
    expect(unresolved.ok && unresolved.value.engine.bundle).toBe("./bundles/x");
    const recipe = parseEnvironment("name: a\napp: { name: a, image: a:v1 }\nhosts: { os: debian-13 }\nengine: { bundle: debian-trixie }\n", "e.yaml", "/srv/env");
    expect(recipe.ok && recipe.value.engine.bundle).toBe("debian-trixie");
  });

  it("records a rollout's new desired state and keeps the comments", () => {
    const before = demoEnvironmentText("longshore-demo:v1");
    const after = updateEnvironmentText(before, { live: "green", images: { green: "longshore-demo:v2" } });
    const r = parseEnvironment(after);
    expect(r.ok && [r.value.live, r.value.slots.green.image, r.value.slots.blue.image, r.value.app.image]).toEqual([
      "green",
      "longshore-demo:v2",
      null,
      "longshore-demo:v1",
    ]);
    // Byte for byte the same file but for the two values that changed: comments, spacing and quoting as written.
    expect(after).toBe(before.replace(/^live: null /m, "live: green ").replace(/(green:\n    image: )null/, "$1longshore-demo:v2"));
    expect(after).toContain("live: green            # set by longshore after the first successful rollout");
  });

  it("sets a slot's image back to null and changes sizes, leaving what the change does not name", () => {
    const live = updateEnvironmentText(demoEnvironmentText("longshore-demo:v1"), { live: "blue", images: { blue: "longshore-demo:v1" } });
    const after = updateEnvironmentText(live, { live: "green", images: { blue: null, green: "longshore-demo:v2" }, sizes: { green: 3 } });
    const r = parseEnvironment(after);
    expect(r.ok && [r.value.live, r.value.slots]).toEqual([
      "green",
      { blue: { image: null, size: 2 }, green: { image: "longshore-demo:v2", size: 3 } },
    ]);
    expect(updateEnvironmentText(after, {})).toBe(after);
  });

  it("loadEnvironment returns the parsed file, its text, absolute path and directory", async () => {
    const file = path.join(tmp, "load", "longshore.yaml");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const text = demoEnvironmentText("longshore-demo:v1");
    fs.writeFileSync(file, text);
    const loaded = await loadEnvironment(path.relative(process.cwd(), file));
    expect([loaded.file, loaded.baseDir, loaded.text, loaded.env.app.image]).toEqual([file, path.dirname(file), text, "longshore-demo:v1"]);
  });

  it("loadEnvironment: a missing file and an invalid one are ConfigErrors listing every problem", async () => {
    const missing = path.join(tmp, "nope.yaml");
    const e1 = await loadEnvironment(missing).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConfigError);
    expect((e1 as ConfigError).issues).toEqual([{ path: missing, message: "the file does not exist" }]);
    const bad = path.join(tmp, "bad.yaml");
    fs.writeFileSync(bad, "name: a\napp: { name: a, image: A }\n");
    const e2 = await loadEnvironment(bad).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ConfigError);
    expect((e2 as ConfigError).issues).toEqual([{ path: `${bad}: app.image`, message: "repository name must be lower-case" }]);
  });

  it("writeEnvironmentText keeps the file's permission bits", async () => {
    const file = path.join(tmp, "mode.yaml");
    fs.writeFileSync(file, "old\n", { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    await writeEnvironmentText(file, "new\n");
    expect([fs.readFileSync(file, "utf8"), fs.statSync(file).mode & 0o777]).toEqual(["new\n", 0o640]);
  });
});
