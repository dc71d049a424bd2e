// Unit: the environment file's schema (model/), with exact messages for every key, and the
// documented example. Does not prove that the drivers do what the keys say (the e2e tests do).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { environmentSchema } from "../../model/environment";
import { demoEnvironmentText, parseEnvironment, updateEnvironmentText } from "../../model/environment-file";
import { parseVolume, parseByteSize } from "../../model/app";

const FILE = "longshore.yaml";
const BASE = { name: "shop", app: { name: "shop", image: "shop:1" } };

/** Problems of `data` as `path: message` lines, in file order. */
function problems(data: unknown): string[] {
  const text = JSON.stringify(data);
  const r = parseEnvironment(text, FILE);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

function withApp(app: Record<string, unknown>, rest: Record<string, unknown> = {}): unknown {
  return { ...BASE, app: { ...BASE.app, ...app }, ...rest };
}

describe("the documented example", () => {
  const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "environment.md"), "utf8");
  const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;

  it("parses, and every key the docs' tables name is a key of the schema", () => {
    const r = parseEnvironment(example, FILE);
    expect(r.ok ? [] : r.issues).toEqual([]);
    if (!r.ok) return;
    const env = r.value;
    expect(env.app.command).toEqual(["node", "server.js"]);
    expect(env.app.env).toEqual({ LOG_LEVEL: "info", WORKERS: "4" });
    expect(env.app.secrets).toEqual({
      DB_PASSWORD: { env: "SHOP_DB_PASSWORD" },
      API_TOKEN: { file: "./secrets/api-token" },
      SIGNING_KEY: { command: ["pass", "show", "shop/signing"] },
    });
    expect(env.app.volumes).toEqual([
      { kind: "bind", source: "/srv/shop/uploads", target: "/app/uploads", readOnly: false },
      { kind: "volume", source: "cache", target: "/app/cache", readOnly: false },
    ]);
    expect(env.app.resources).toEqual({ memory: "512m", cpus: 1.5 });
    expect(env.app.logging).toEqual({ driver: "local", options: { "max-size": "10m" } });
    expect(env.app.health).toEqual({ path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 });
    expect(env.registry).toEqual({ server: "registry.example.com", username: "deploy", password: { env: "REGISTRY_PASSWORD" } });
    expect(env.engine.daemon["insecure-registries"]).toEqual(["10.213.47.1:5000"]);
    expect(env.local.listen).toEqual({ address: "127.0.0.1", port: 8080 });
    expect([env.live, env.slots.blue.size, env.slots.green.image]).toEqual(["blue", 2, null]);
  });

  it("documents every app key with its default, and no key the schema lacks", () => {
    const documented = [...doc.matchAll(/^\| `([a-zA-Z.]+)` \|/gm)].map((m) => m[1]!);
    const appKeys = Object.keys(environmentSchema.parse(parse(example)).app);
    for (const key of [...appKeys, "entrypoint", "hostPort", "user"]) {
      expect(documented.some((d) => d === key || d.startsWith(`${key}.`)) ? key : `app.${key} is not documented`).toBe(key);
    }
  });

  it("the demo environment `up` writes parses and deploys app.image", () => {
    const r = parseEnvironment(demoEnvironmentText("longshore-demo:v1"), FILE);
    expect(r.ok && [r.value.app.image, r.value.slots.blue.image, r.value.live]).toEqual(["longshore-demo:v1", null, null]);
  });
});

describe("defaults", () => {
  it("fills in every default of a minimal file", () => {
    const env = environmentSchema.parse(BASE);
    expect(env).toEqual({
      name: "shop",
      driver: "local",
      accessories: {},
      app: {
        name: "shop",
        image: "shop:1",
        imageFrom: "registry",
        port: 8080,
        env: {},
        secrets: {},
        volumes: [],
        resources: {},
        health: { path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 },
        stopTimeoutSeconds: 10,
        restart: "unless-stopped",
        init: false,
      },
      hosts: { os: "debian-12" },
      engine: env.engine,
      slots: { blue: { image: null, size: 2 }, green: { image: null, size: 2 } },
      live: null,
      rollout: { healthDeadlineSeconds: 120, soakSeconds: 30, drainSeconds: 5, keepPrevious: true },
      local: { listen: { address: "127.0.0.1", port: 8080 }, hostImage: true },
    });
    expect([env.engine.channel, env.engine.bundle, env.engine.daemon["log-driver"]]).toEqual(["bundle", "debian-bookworm", "json-file"]);
  });

  it("hosts.os debian-13 makes the engine bundle default Debian 13's (trixie); distro and a given bundle stay as written", () => {
    expect(environmentSchema.parse({ ...BASE, hosts: { os: "debian-13" } }).engine.bundle).toBe("debian-trixie");
    expect(environmentSchema.parse({ ...BASE, hosts: { os: "debian-13" }, engine: { bundle: "debian-trixie-arm64" } }).engine.bundle).toBe("debian-trixie-arm64");
    expect(environmentSchema.parse({ ...BASE, hosts: { os: "debian-13" }, engine: { channel: "distro" } }).engine).toMatchObject({ channel: "distro", bundle: "debian-bookworm" });
    expect(environmentSchema.parse({ ...BASE, hosts: { os: "debian-13" }, engine: { bundle: "./bundles/x" } }).engine.bundle).toBe("./bundles/x");
  });
});

describe("every problem, with its path and an exact message", () => {
  it.each<[string, unknown, string[]]>([
    ["an empty object", {}, [`${FILE}: name: is required`, `${FILE}: app: is required`]],
    ["a name too long", { ...BASE, name: "a-very-long-name" }, [`${FILE}: name: must be a lower-case name of 1-12 letters, digits or '-', starting with a letter`]],
    ["an unknown driver", { ...BASE, driver: "gcp" }, [`${FILE}: driver: must be one of "local", "aws"`]],
    ["an unknown host OS", { ...BASE, hosts: { os: "ubuntu-24.04" } }, [`${FILE}: hosts.os: must be one of "debian-12", "debian-13"`]],
    [
      "a bundle recipe for another release than the hosts'",
      { ...BASE, hosts: { os: "debian-13" }, engine: { bundle: "debian-bookworm-amd64" } },
      [`${FILE}: engine.bundle: is for Debian bookworm; hosts.os is debian-13 (trixie): use debian-trixie, or leave engine.bundle out`],
    ],
    ["an unknown top-level key", { ...BASE, bogus: 1 }, [`${FILE}: bogus: unknown key`]],
    ["an unknown app key", withApp({ healthPath: "/x" }), [`${FILE}: app.healthPath: unknown key`]],
    ["a port over 65535", withApp({ port: 99999 }), [`${FILE}: app.port: must be a whole number from 1 to 65535`]],
    ["a hostPort of 0", withApp({ hostPort: 0 }), [`${FILE}: app.hostPort: must be a whole number from 1 to 65535`]],
    ["an image with upper case", withApp({ image: "Shop:1" }), [`${FILE}: app.image: repository name must be lower-case`]],
    ["an image with a space", withApp({ image: "shop :1" }), [`${FILE}: app.image: must not contain whitespace`]],
    ["a health path with a space", withApp({ health: { path: "/he alth" } }), [`${FILE}: app.health.path: must start with / and contain no spaces or control characters`]],
    ["a health status of 99", withApp({ health: { status: 99 } }), [`${FILE}: app.health.status: must be at least 100`]],
    ["zero healthy rounds", withApp({ health: { healthyRounds: 0 } }), [`${FILE}: app.health.healthyRounds: must be at least 1`]],
    ["an empty command", withApp({ command: [] }), [`${FILE}: app.command: must not be empty (leave it out to keep the image's CMD)`]],
    ["a command that is a string", withApp({ command: "node server.js" }), [`${FILE}: app.command: must be a list (got a string)`]],
    ["an env name with a dash", withApp({ env: { "LOG-LEVEL": "x" } }), [`${FILE}: app.env.LOG-LEVEL: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)`]],
    ["an env value with a newline", withApp({ env: { A: "x\ny" } }), [`${FILE}: app.env.A: must not contain a newline or NUL (the engine's env file holds one variable per line)`]],
    ["an env value of 64 KiB", withApp({ env: { BIG: "x".repeat(65536) } }), [`${FILE}: app.env.BIG: is 65541 bytes as an env file line; the limit is 32768 bytes (32 KiB)`]],
    ["an env value that is a list", withApp({ env: { A: [1] } }), [`${FILE}: app.env.A: must be a string, number or boolean`]],
    [
      "a secret written in clear",
      withApp({ secrets: { DB_PASSWORD: "hunter2-the-password" } }),
      [`${FILE}: app.secrets.DB_PASSWORD: must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself`],
    ],
    ["a secret with two sources", withApp({ secrets: { A: { env: "X", file: "./y" } } }), [`${FILE}: app.secrets.A: must have exactly one of env, file, command or pulumi (has env and file)`]],
    ["a secret with no source", withApp({ secrets: { A: {} } }), [`${FILE}: app.secrets.A: must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself`]],
    ["a secret command without a program", withApp({ secrets: { A: { command: [] } } }), [`${FILE}: app.secrets.A.command: must name a program: [PROGRAM, ARGS...]`]],
    ["a secret from an unknown source", withApp({ secrets: { A: { vault: "x" } } }), [`${FILE}: app.secrets.A.vault: unknown key`, `${FILE}: app.secrets.A: must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself`]],
    ["a pulumi secret on the local driver", withApp({ secrets: { A: { pulumi: "dbPassword" } } }), [`${FILE}: app.secrets.A: is read by the web Pulumi program only (driver: aws); use { env }, { file } or { command } on the local driver`]],
    ["a name in env and secrets", withApp({ env: { A: "1" }, secrets: { A: { env: "X" } } }), [`${FILE}: app.secrets.A: is also set in env`]],
    ["a relative volume target", withApp({ volumes: ["/a:b"] }), [`${FILE}: app.volumes[0]: target must be an absolute path in the container, without '..' or ','`]],
    ["a volume without a target", withApp({ volumes: ["/a"] }), [`${FILE}: app.volumes[0]: must be SOURCE:TARGET[:ro|rw], SOURCE an absolute host path or a volume name, TARGET an absolute path in the container`]],
    ["a volume with a bad mode", withApp({ volumes: ["/a:/b:rx"] }), [`${FILE}: app.volumes[0]: mode must be ro or rw (got "rx")`]],
    ["a volume with ..", withApp({ volumes: ["/srv/../etc:/b"] }), [`${FILE}: app.volumes[0]: source must be an absolute host path without '..' or ','`]],
    ["two volumes on one target", withApp({ volumes: ["/a:/x", "cache:/x"] }), [`${FILE}: app.volumes[1]: mounts /x again (also volumes[0])`]],
    ["a memory limit of 1m", withApp({ resources: { memory: "1m" } }), [`${FILE}: app.resources.memory: must be at least 6m (the engine's smallest limit)`]],
    ["a memory limit in words", withApp({ resources: { memory: "lots" } }), [`${FILE}: app.resources.memory: must be a size like 512m or 1g (a number and b, k, m or g)`]],
    ["zero cpus", withApp({ resources: { cpus: 0 } }), [`${FILE}: app.resources.cpus: must be at least 0.01`]],
    ["an option of another log driver", withApp({ logging: { driver: "local", options: { tag: "x" } } }), [`${FILE}: app.logging.options.tag: is not an option of the local log driver (max-size, max-file, compress, mode, max-buffer-size)`]],
    ["a log option value", withApp({ logging: { driver: "json-file", options: { "max-file": 3 } } }), []],
    ["a bad log size", withApp({ logging: { driver: "json-file", options: { "max-size": "10x" } } }), [`${FILE}: app.logging.options.max-size: must be a size like 10m, 512k or 1g`]],
    ["options of the none driver", withApp({ logging: { driver: "none", options: { tag: "x" } } }), [`${FILE}: app.logging.options.tag: the none log driver takes no options`]],
    ["an unknown log driver", withApp({ logging: { driver: "fluentd" } }), [`${FILE}: app.logging.driver: must be one of "json-file", "local", "journald", "syslog", "none"`]],
    ["a user with a space", withApp({ user: "a b" }), [`${FILE}: app.user: must be USER or USER:GROUP (names or numeric ids)`]],
    ["a negative stop timeout", withApp({ stopTimeoutSeconds: -1 }), [`${FILE}: app.stopTimeoutSeconds: must be at least 0`]],
    ["credentials for another registry", { ...BASE, registry: { server: "registry.example.com", username: "u", password: { env: "P" } } }, [`${FILE}: registry.server: is not the registry of app.image (shop:1 is pulled from docker.io)`]],
    ["a registry password in clear", withApp({ image: "r.example/shop:1" }, { registry: { server: "r.example", username: "u", password: "pw" } }), [`${FILE}: registry.password: must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself`]],
    ["a registry with a scheme", withApp({ image: "r.example/shop:1" }, { registry: { server: "https://r.example", username: "u", password: { env: "P" } } }), [`${FILE}: registry.server: must be a registry host[:port], lower-case, no scheme`]],
    ["a listen port of 99999", { ...BASE, local: { listen: "127.0.0.1:99999" } }, [`${FILE}: local.listen: must be IPV4-ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080`]],
    ["a listen address out of range", { ...BASE, local: { listen: "127.0.0.300:80" } }, [`${FILE}: local.listen: must be IPV4-ADDRESS:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8080`]],
    ["a live slot without an image", { ...BASE, live: "green" }, [`${FILE}: live: the live slot (green) has no image`]],
    ["a slot of 51 on the local driver", { ...BASE, slots: { blue: { size: 51 } } }, [`${FILE}: slots.blue.size: must be at most 50 on the local driver`]],
    ["a slot of 0", { ...BASE, slots: { blue: { size: 0 } } }, [`${FILE}: slots.blue.size: must be at least 1`]],
    ["a bundle that is neither", { ...BASE, engine: { bundle: "ubuntu" } }, [`${FILE}: engine.bundle: must be a bundle directory (a path with a /) or a recipe name debian-<suite>[-<arch>] such as debian-bookworm (arch one of amd64, arm64, armhf, i386, ppc64el, s390x, riscv64)`]],
    ["a bundle with the distro channel", { ...BASE, engine: { channel: "distro", bundle: "debian-trixie" } }, [`${FILE}: engine.bundle: goes with channel: bundle (channel: distro installs from the host's own apt sources)`]],
    ["an engine on TCP without TLS", { ...BASE, engine: { daemon: { hosts: ["fd://", "tcp://0.0.0.0:2375"] } } }, [`${FILE}: engine.daemon.hosts[1]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket`]],
    ["a soak of a day and more", { ...BASE, rollout: { soakSeconds: 86401 } }, [`${FILE}: rollout.soakSeconds: must be at most 86400`]],
    ["driver aws without aws", { ...BASE, driver: "aws" }, [`${FILE}: aws: is required with driver: aws (region, sshPublicKey, adminCidrs...)`]],
    ["a hook without a command", { ...BASE, rollout: { beforeSwitch: {} } }, [`${FILE}: rollout.beforeSwitch.command: is required`]],
    ["a hook command that is a string", { ...BASE, rollout: { beforeSwitch: { command: "bin/migrate" } } }, [`${FILE}: rollout.beforeSwitch.command: must be a list (got a string)`]],
    ["an empty hook command", { ...BASE, rollout: { beforeSwitch: { command: [] } } }, [`${FILE}: rollout.beforeSwitch.command: must name a program: [PROGRAM, ARGS...]`]],
    ["a hook with an empty program", { ...BASE, rollout: { beforeSwitch: { command: ["", "x"] } } }, [`${FILE}: rollout.beforeSwitch.command: must name a program: [PROGRAM, ARGS...] (the program is empty)`]],
    ["a hook argument with a NUL", { ...BASE, rollout: { beforeSwitch: { command: ["sh", "a\0b"] } } }, [`${FILE}: rollout.beforeSwitch.command[1]: must not contain a NUL character`]],
    ["a hook timeout of 0", { ...BASE, rollout: { beforeSwitch: { command: ["x"], timeoutSeconds: 0 } } }, [`${FILE}: rollout.beforeSwitch.timeoutSeconds: must be greater than 0`]],
    ["a hook timeout over a day", { ...BASE, rollout: { beforeSwitch: { command: ["x"], timeoutSeconds: 86401 } } }, [`${FILE}: rollout.beforeSwitch.timeoutSeconds: must be at most 86400`]],
    ["an unknown hook key", { ...BASE, rollout: { beforeSwitch: { command: ["x"], env: {} } } }, [`${FILE}: rollout.beforeSwitch.env: unknown key`]],
    [
      "a hook service on a single-container app",
      { ...BASE, rollout: { beforeSwitch: { command: ["x"], service: "web" } } },
      [`${FILE}: rollout.beforeSwitch.service: is for Compose apps (app.compose): a single-container app's hook runs like its one container; leave it out`],
    ],
    ["a hook service that is no service name", { ...BASE, rollout: { beforeSwitch: { command: ["x"], service: "web app" } } }, [`${FILE}: rollout.beforeSwitch.service: must be a Compose service name (letters, digits, '_', '.', '-')`, `${FILE}: rollout.beforeSwitch.service: is for Compose apps (app.compose): a single-container app's hook runs like its one container; leave it out`]],
    [
      "a hook with driver aws",
      { ...BASE, driver: "aws", aws: { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea a@b", adminCidrs: ["203.0.113.7/32"] }, rollout: { beforeSwitch: { command: ["x"] } } },
      [`${FILE}: rollout.beforeSwitch: is not supported by the aws driver yet (the local driver runs it)`],
    ],
  ])("%s", (_name, data, expected) => {
    expect(problems(data)).toEqual(expected);
  });

  it("never repeats a secret written in clear", () => {
    const out = problems(withApp({ secrets: { DB: "hunter2-the-password" } }, { registry: undefined }));
    expect(out.join("\n")).not.toContain("hunter2");
  });

  it("reports YAML problems with a line and column", () => {
    const r = parseEnvironment("name: shop\napp: [\n", FILE);
    expect(r.ok ? [] : r.issues.map((i) => i.path)).toEqual([`${FILE}: line 3, column 1`]);
  });
});

describe("pure helpers", () => {
  it.each([
    ["512m", 512 * 1024 ** 2],
    ["1g", 1024 ** 3],
    ["65536", 65536],
    ["10K", 10 * 1024],
    ["1.5g", null],
    ["0", null],
  ])("parseByteSize(%s) = %s", (text, bytes) => expect(parseByteSize(text)).toBe(bytes));

  it("parses volumes: binds, named volumes, read-only", () => {
    expect(parseVolume("/srv/a:/app/a:ro")).toEqual({ ok: true, value: { kind: "bind", source: "/srv/a", target: "/app/a", readOnly: true } });
    expect(parseVolume("cache:/c")).toEqual({ ok: true, value: { kind: "volume", source: "cache", target: "/c", readOnly: false } });
    expect(parseVolume("c:/c")).toEqual({ ok: false, message: "source must be an absolute host path or a volume name (letters, digits, '_', '.', '-'; at least 2)" });
    expect(parseVolume("cache:/")).toEqual({ ok: false, message: "target must not be / (the container's root)" });
  });

  it("rewrites live, images and sizes keeping comments", () => {
    const text = "name: shop # mine\napp: { name: shop, image: shop:1 }\nslots:\n  blue: { image: null, size: 2 } # blue\n  green: { image: null, size: 2 }\nlive: null\n";
    const out = updateEnvironmentText(text, { live: "blue", images: { blue: "shop:1", green: null }, sizes: { blue: 3 } });
    expect(out).toContain("# mine");
    expect(out).toContain("# blue");
    const env = environmentSchema.parse(parse(out));
    expect([env.live, env.slots.blue, env.slots.green]).toEqual(["blue", { image: "shop:1", size: 3 }, { image: null, size: 2 }]);
  });
});

describe("rollout.beforeSwitch", () => {
  it("is in the documented example, as written there", () => {
    const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "environment.md"), "utf8");
    const r = parseEnvironment(/```yaml\n([\s\S]*?)```/.exec(doc)![1]!, FILE);
    expect(r.ok && r.value.rollout.beforeSwitch).toEqual({ command: ["node", "migrate.js"], timeoutSeconds: 600 });
  });

  it("is absent by default; given, its timeout defaults to 600 s and its command is kept as written", () => {
    expect(environmentSchema.parse(BASE).rollout.beforeSwitch).toBeUndefined();
    expect(environmentSchema.parse({ ...BASE, rollout: { beforeSwitch: { command: ["bin/rails", "db:migrate"] } } }).rollout.beforeSwitch).toEqual({
      command: ["bin/rails", "db:migrate"],
      timeoutSeconds: 600,
    });
  });
});
