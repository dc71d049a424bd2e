// Unit: accessories without machines: the schema's problems with their exact messages and paths,
// the app the provisioner gets for an accessory, the names its app containers are given
// (--add-host) and what that does to the plan hash, the firewall rules, destroy's data decision,
// and the health script run by real bash against a fake docker and a real TCP port. Does not prove
// that a machine, its engine or its data directory behave (test/e2e/accessory.test.ts does).
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { accessoryFirewallRules, accessoryOfGroup, appToAccessoryRules, destroyDataDecision, accessoryDataBind } from "../../drivers/local/accessory-layout";
import { accessoryHealthCommand, healthyContainerId, parseAccessoryContainer } from "../../drivers/local/accessory-health";
import { accessoryApp, accessoryGroupName, accessoryVolume } from "../../model/accessory";
import { parseEnvironment, updateEnvironmentText } from "../../model/environment-file";
import { environmentSchema } from "../../model/environment";
import { resolveEnvironmentSecrets } from "../../model/secret-resolve";
import { systemSecretReader } from "../../core/secret-reader";
import { ConfigError } from "../../core/errors";
import { appStateHash } from "../../provisioner/provision-hosts";
import { createArguments } from "../../provisioner/steps/app-run";
import { makeContext } from "./fixtures/engine-context";

const FILE = "longshore.yaml";
const BASE = { name: "shop", app: { name: "shop", image: "shop:1" } };

/** Problems of an environment with these accessories, as `path: message` lines. */
function problems(accessories: unknown, rest: Record<string, unknown> = {}): string[] {
  const r = parseEnvironment(JSON.stringify({ ...BASE, ...rest, accessories }), FILE);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe("accessories: the schema", () => {
  it("fills in the defaults of a minimal accessory; none at all is {}", () => {
    const r = parseEnvironment(JSON.stringify({ ...BASE, accessories: { db: { image: "postgres:16", port: 5432 } } }), FILE);
    expect(r.ok && r.value.accessories).toEqual({
      db: { image: "postgres:16", port: 5432, env: {}, secrets: {}, volumes: [], host: {}, health: { deadlineSeconds: 60 } },
    });
    const none = parseEnvironment(JSON.stringify(BASE), FILE);
    expect(none.ok && none.value.accessories).toEqual({});
  });

  it("takes the app's env, secrets, volumes and command vocabulary", () => {
    const r = parseEnvironment(
      JSON.stringify({
        ...BASE,
        accessories: {
          cache: {
            image: "redis:7",
            port: 6379,
            command: ["redis-server", "--appendonly", "yes"],
            env: { MAXMEMORY: "64mb", DEBUG: false, THREADS: 2 },
            secrets: { REDIS_PASSWORD: { env: "SHOP_REDIS_PASSWORD" }, TLS_KEY: { file: "./tls.key" } },
            volumes: ["redis-data:/data", "/srv/redis/conf:/usr/local/etc/redis:ro"],
            health: { command: ["redis-cli", "ping"], deadlineSeconds: 30 },
          },
        },
      }),
      FILE,
    );
    expect(r.ok && r.value.accessories["cache"]).toEqual({
      image: "redis:7",
      port: 6379,
      command: ["redis-server", "--appendonly", "yes"],
      env: { MAXMEMORY: "64mb", DEBUG: "false", THREADS: "2" },
      secrets: { REDIS_PASSWORD: { env: "SHOP_REDIS_PASSWORD" }, TLS_KEY: { file: "./tls.key" } },
      volumes: [
        { kind: "volume", source: "redis-data", target: "/data", readOnly: false },
        { kind: "bind", source: "/srv/redis/conf", target: "/usr/local/etc/redis", readOnly: true },
      ],
      host: {},
      health: { command: ["redis-cli", "ping"], deadlineSeconds: 30 },
    });
  });

  it.each([
    ["a name that is not a DNS label", { Db: { image: "x:1", port: 1 } }, {}, ["longshore.yaml: accessories.Db: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)"]],
    ["no port", { db: { image: "x:1" } }, {}, ["longshore.yaml: accessories.db.port: is required"]],
    ["no image", { db: { port: 5432 } }, {}, ["longshore.yaml: accessories.db.image: is required"]],
    ["port 22", { db: { image: "x:1", port: 22 } }, {}, ["longshore.yaml: accessories.db.port: must not be 22: the host's SSH server uses it on the accessory's host"]],
    ["the blob exchange's port", { db: { image: "x:1", port: 47213 } }, {}, ["longshore.yaml: accessories.db.port: must not be 47213: longshore's blob exchange between hosts uses it on the accessory's host"]],
    ["port 0", { db: { image: "x:1", port: 0 } }, {}, ["longshore.yaml: accessories.db.port: must be a whole number from 1 to 65535"]],
    ["an unknown key", { db: { image: "x:1", port: 1, hostPort: 2 } }, {}, ["longshore.yaml: accessories.db.hostPort: unknown key"]],
    ["a host key", { db: { image: "x:1", port: 1, host: { size: "large" } } }, {}, ["longshore.yaml: accessories.db.host.size: unknown key"]],
    ["an empty command", { db: { image: "x:1", port: 1, command: [] } }, {}, ["longshore.yaml: accessories.db.command: must not be empty (leave it out to keep the image's CMD)"]],
    ["a secret value", { db: { image: "x:1", port: 1, secrets: { PASSWORD: "hunter2" } } }, {}, [
      "longshore.yaml: accessories.db.secrets.PASSWORD: must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself",
    ]],
    ["a bad env name and value", { db: { image: "x:1", port: 1, env: { "1X": "a", OK: null } } }, {}, [
      "longshore.yaml: accessories.db.env.1X: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
      "longshore.yaml: accessories.db.env.OK: must be a string, number or boolean",
    ]],
    ["a malformed volume", { db: { image: "x:1", port: 1, volumes: ["data"] } }, {}, [
      "longshore.yaml: accessories.db.volumes[0]: must be SOURCE:TARGET[:ro|rw], SOURCE an absolute host path or a volume name, TARGET an absolute path in the container",
    ]],
    ["the same volume target twice", { db: { image: "x:1", port: 1, volumes: ["pg:/data", "/srv/pg:/data"] } }, {}, ["longshore.yaml: accessories.db.volumes[1]: mounts /data again (also volumes[0])"]],
    ["a secret that is also env", { db: { image: "x:1", port: 1, env: { PASSWORD: "x" }, secrets: { PASSWORD: { env: "P" } } } }, {}, ["longshore.yaml: accessories.db.secrets.PASSWORD: is also set in env"]],
    ["a newline in an env value", { db: { image: "x:1", port: 1, env: { A: "x\ny" } } }, {}, [
      "longshore.yaml: accessories.db.env.A: must not contain a newline or NUL (the engine's env file holds one variable per line)",
    ]],
    ["an empty health command, a zero deadline", { db: { image: "x:1", port: 1, health: { command: [""], deadlineSeconds: 0 } } }, {}, [
      "longshore.yaml: accessories.db.health.command: must name a program: [PROGRAM, ARGS...] (the program is empty)",
      "longshore.yaml: accessories.db.health.deadlineSeconds: must be greater than 0",
    ]],
    ["the app's name", { shop: { image: "x:1", port: 1 } }, {}, ["longshore.yaml: accessories.shop: must not be named like the app (app.name: shop): both would answer to that name"]],
    ["a name too long for its machine group", { "postgres-main-17": { image: "x:1", port: 1 } }, {}, [
      "longshore.yaml: accessories.postgres-main-17: is too long for this environment: its machine group shop-acc-postgres-main-17 has more than 24 characters (at most 15 here)",
    ]],
    ["a pulumi secret on the local driver", { db: { image: "x:1", port: 1, secrets: { P: { pulumi: "dbPassword" } } } }, {}, [
      "longshore.yaml: accessories.db.secrets.P: is read by the web Pulumi program only (driver: aws); use { env }, { file } or { command } on the local driver",
    ]],
    ["driver: aws", { db: { image: "x:1", port: 1 } }, { driver: "aws" }, [
      "longshore.yaml: aws: is required with driver: aws (region, sshPublicKey, adminCidrs...)",
      "longshore.yaml: accessories: is not supported by the aws driver yet (accessories run on the local driver)",
    ]],
    ["a list", [{ image: "x:1", port: 1 }], {}, ["longshore.yaml: accessories: must be a mapping (key: value) (got a list)"]],
  ])("%s", (_what, accessories, rest, expected) => {
    expect(problems(accessories, rest)).toEqual(expected);
  });
});

describe("accessories: secrets and the file", () => {
  const env = environmentSchema.parse({
    ...BASE,
    app: { ...BASE.app, secrets: { API: { env: "SHOP_API" } } },
    accessories: { db: { image: "postgres:16", port: 5432, secrets: { POSTGRES_PASSWORD: { env: "SHOP_PG" } } }, cache: { image: "redis:7", port: 6379 } },
  });

  it("are read with the app's, by accessory, as Sensitive values", async () => {
    const r = await resolveEnvironmentSecrets(env, { baseDir: tmpdir(), reader: systemSecretReader({ SHOP_API: "api-1", SHOP_PG: "pg-pass-1" }), file: FILE });
    expect(Object.keys(r.app)).toEqual(["API"]);
    expect(Object.keys(r.accessories!)).toEqual(["db", "cache"]);
    expect(r.accessories!["db"]!["POSTGRES_PASSWORD"]!.reveal()).toBe("pg-pass-1");
    expect(r.accessories!["cache"]).toEqual({});
    expect(String(r.accessories!["db"]!["POSTGRES_PASSWORD"])).toBe("[redacted]");
  });

  it("a missing one is reported at its path, never with a value", async () => {
    const e = await resolveEnvironmentSecrets(env, { baseDir: tmpdir(), reader: systemSecretReader({ SHOP_API: "api-1" }), file: FILE }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues).toEqual([
      { path: "longshore.yaml: accessories.db.secrets.POSTGRES_PASSWORD", message: "the environment variable SHOP_PG is not set (source: env SHOP_PG)" },
    ]);
  });

  it("accessory upgrade's change rewrites only accessories.NAME.image, comments kept", () => {
    const text = "name: shop\napp: { name: shop, image: shop:1 }\naccessories:\n  db:\n    image: postgres:16   # the database\n    port: 5432\n";
    expect(updateEnvironmentText(text, { accessoryImages: { db: "postgres:17" } })).toBe(text.replace("postgres:16 ", "postgres:17 "));
  });
});

describe("accessories: the app the provisioner runs", () => {
  const r = parseEnvironment(
    JSON.stringify({
      ...BASE,
      accessories: {
        db: {
          image: "postgres:16",
          port: 5432,
          command: ["postgres", "-c", "fsync=on"],
          env: { POSTGRES_USER: "shop" },
          secrets: { POSTGRES_PASSWORD: { env: "PG" } },
          volumes: ["pgdata:/var/lib/postgresql/data", "/etc/pg:/etc/postgresql:ro", "/:/host"],
        },
      },
    }),
    FILE,
  );
  const spec = r.ok ? r.value.accessories["db"]! : (undefined as never);

  it("is the accessory as one container: its image, command, port published as itself, env, secret values, volumes in the data directory, restart unless-stopped", () => {
    const app = accessoryApp("db", spec, { POSTGRES_PASSWORD: new Sensitive("pw-123") }, "/var/lib/longshore/data");
    expect({ ...app, secrets: Object.keys(app.secrets) }).toEqual({
      name: "db",
      image: "postgres:16",
      command: ["postgres", "-c", "fsync=on"],
      port: 5432,
      env: { POSTGRES_USER: "shop" },
      secrets: ["POSTGRES_PASSWORD"],
      volumes: [
        { kind: "bind", source: "/var/lib/longshore/data/volumes/pgdata", target: "/var/lib/postgresql/data", readOnly: false },
        { kind: "bind", source: "/var/lib/longshore/data/paths/etc/pg", target: "/etc/postgresql", readOnly: true },
        { kind: "bind", source: "/var/lib/longshore/data/paths", target: "/host", readOnly: false },
      ],
      resources: {},
      health: { path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 },
      stopTimeoutSeconds: 10,
      restart: "unless-stopped",
      init: false,
    });
    expect(app.secrets["POSTGRES_PASSWORD"]!.reveal()).toBe("pw-123");
    // Another image (an upgrade) changes only the image.
    expect(accessoryApp("db", spec, {}, "/d", "postgres:17").image).toBe("postgres:17");
  });

  it("moves every volume source into the data directory", () => {
    expect(accessoryVolume({ kind: "volume", source: "cache", target: "/c", readOnly: true }, "/d")).toEqual({ kind: "bind", source: "/d/volumes/cache", target: "/c", readOnly: true });
    expect(accessoryVolume({ kind: "bind", source: "/srv/x", target: "/x", readOnly: false }, "/d")).toEqual({ kind: "bind", source: "/d/paths/srv/x", target: "/x", readOnly: false });
  });

  it("names its machine group and data bind after the environment", () => {
    expect(accessoryGroupName("shop", "db")).toBe("shop-acc-db");
    expect(accessoryOfGroup("shop", "shop-acc-db")).toBe("db");
    expect(accessoryOfGroup("shop", "shop-blue-g3")).toBe(null);
    expect(accessoryOfGroup("shop", "shop-acc-")).toBe(null);
    expect(accessoryOfGroup("shop", "shopx-acc-db")).toBe(null);
    expect(accessoryDataBind({ stateRoot: "/var/lib/longshore/local" }, "shop", "db")).toBe("/var/lib/longshore/local/shop.data/db:/var/lib/longshore/data");
  });
});

describe("accessories: the app's containers reach them by name", () => {
  const extraHosts = [
    { name: "cache", address: "10.213.47.21" },
    { name: "db", address: "10.213.47.20" },
  ];

  it("createArguments gives each as --add-host NAME:ADDRESS, after the volumes and before the labels", () => {
    expect(createArguments(makeContext({ extraHosts }))).toEqual([
      "--restart", "unless-stopped",
      "--publish", "8080:8080",
      "--env-file", "/etc/longshore/apps/web/web-1.4.2.env",
      "--stop-timeout", "10",
      "--add-host", "cache:10.213.47.21",
      "--add-host", "db:10.213.47.20",
      "--label", "io.longshore.app=web",
      "--label", "io.longshore.version=1.4.2",
      "--label", "io.longshore.slot=blue",
      "--label", "io.longshore.plan=p1an",
      expect.stringMatching(/^sha256:/),
    ]);
  });

  it("they enter the container's plan hash (a moved accessory re-creates it); none leaves the hash as it was", () => {
    const plain = appStateHash(makeContext());
    expect(appStateHash(makeContext({ extraHosts: [] }))).toBe(plain);
    const withDb = appStateHash(makeContext({ extraHosts }));
    expect(withDb).not.toBe(plain);
    expect(appStateHash(makeContext({ extraHosts: [extraHosts[0]!, { name: "db", address: "10.213.47.30" }] }))).not.toBe(withDb);
  });
});

describe("accessories: firewall rules", () => {
  it("drop what is forwarded to the accessory but replies, in mangle (before filter's bridge-wide accept), DROP inserted first so it ends last", () => {
    expect(accessoryFirewallRules("longshore0", "shop-acc-db", "10.213.47.20")).toEqual([
      { table: "mangle", chain: "FORWARD", spec: ["-i", "longshore0", "-o", "longshore0", "-d", "10.213.47.20/32", "-m", "comment", "--comment", "longshore:shop-acc-db", "-j", "DROP"], phase: "intent" },
      {
        table: "mangle",
        chain: "FORWARD",
        spec: ["-i", "longshore0", "-o", "longshore0", "-d", "10.213.47.20/32", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-m", "comment", "--comment", "longshore:shop-acc-db", "-j", "ACCEPT"],
        phase: "intent",
      },
    ]);
  });

  it("let each app host reach each accessory's port only, tagged with the app's group", () => {
    expect(appToAccessoryRules("longshore0", "shop-blue-g2", ["10.213.47.5"], [{ address: "10.213.47.20", port: 5432 }, { address: "10.213.47.21", port: 6379 }])).toEqual([
      {
        table: "mangle",
        chain: "FORWARD",
        spec: ["-i", "longshore0", "-o", "longshore0", "-s", "10.213.47.5/32", "-d", "10.213.47.20/32", "-p", "tcp", "--dport", "5432", "-m", "comment", "--comment", "longshore:shop-blue-g2", "-j", "ACCEPT"],
        phase: "intent",
      },
      {
        table: "mangle",
        chain: "FORWARD",
        spec: ["-i", "longshore0", "-o", "longshore0", "-s", "10.213.47.5/32", "-d", "10.213.47.21/32", "-p", "tcp", "--dport", "6379", "-m", "comment", "--comment", "longshore:shop-blue-g2", "-j", "ACCEPT"],
        phase: "intent",
      },
    ]);
  });
});

describe("accessories: destroy's data decision", () => {
  const dirs = ["/s/shop.data/cache", "/s/shop.data/db"];
  it.each([
    ["no data, no flag", [], {}, { ok: true, data: "none" }],
    ["no data, --delete-data", [], { deleteData: true }, { ok: true, data: "delete" }],
    ["data, --keep-data", dirs, { keepData: true }, { ok: true, data: "keep" }],
    ["data, --delete-data", dirs, { deleteData: true }, { ok: true, data: "delete" }],
    [
      "data, no flag",
      dirs,
      {},
      {
        ok: false,
        issues: [
          {
            path: "--keep-data or --delete-data",
            message:
              "is required: the accessories' data is in /s/shop.data/cache, /s/shop.data/db; --keep-data removes their machines and keeps it (a later up uses it again), --delete-data removes it too",
          },
        ],
      },
    ],
    ["both flags", dirs, { keepData: true, deleteData: true }, { ok: false, issues: [{ path: "--keep-data", message: "and --delete-data contradict each other: pass one of them" }] }],
  ])("%s", (_what, dataDirs, flags, expected) => {
    expect(destroyDataDecision(dataDirs, flags)).toEqual(expected);
  });
});

describe("accessories: the health script (real bash, a fake docker, a real port)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "longshore-acc-health-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ID = "c".repeat(64);

  /** A fake docker: `ps` prints $PS_OUT, `exec` prints "said it" and exits $EXEC_RC, `inspect`/`logs` print a line. */
  function fakeDocker(): string {
    const bin = mkdtempSync(path.join(dir, "bin-"));
    writeFileSync(
      path.join(bin, "docker"),
      `#!/bin/sh\ncase "$1" in\n  ps) [ -n "$PS_OUT" ] && echo "$PS_OUT" ;;\n  exec) echo "said it"; exit "$EXEC_RC" ;;\n  inspect) echo "exited (exit 3, 5 restarts)" ;;\n  logs) echo "a log line" ;;\nesac\nexit 0\n`,
    );
    chmodSync(path.join(bin, "docker"), 0o755);
    return bin;
  }

  function run(argv: readonly unknown[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1) as string[], { env: { ...process.env, ...env } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  async function withPort<T>(fn: (port: number) => Promise<T>): Promise<T> {
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      return await fn((server.address() as net.AddressInfo).port);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }

  it("is healthy when the container runs and its port answers; says which container", async () => {
    const bin = fakeDocker();
    await withPort(async (port) => {
      const cmd = accessoryHealthCommand("db", { port, health: { deadlineSeconds: 5 } }, 0);
      const r = await run(cmd.argv, { PATH: `${bin}:${process.env["PATH"]}`, PS_OUT: ID, EXEC_RC: "0" });
      expect(r).toEqual({ code: 0, stdout: `healthy ${ID}\n`, stderr: "" });
      expect(healthyContainerId(r.stdout)).toBe(ID);
    });
  });

  it("fails with its own first line: no container, a closed port, a failing health command (its words on later lines)", async () => {
    const bin = fakeDocker();
    const env = { PATH: `${bin}:${process.env["PATH"]}`, EXEC_RC: "1" };
    const none = await run(accessoryHealthCommand("db", { port: 1, health: { deadlineSeconds: 5 } }, 0).argv, { ...env, PS_OUT: "" });
    expect([none.code, none.stderr]).toEqual([1, "no running container of db\n"]);
    const closed = await withPort(async (port) => port).then((port) => run(accessoryHealthCommand("db", { port, health: { deadlineSeconds: 5 } }, 0).argv, { ...env, PS_OUT: ID }));
    expect([closed.code, closed.stderr.split("\n")[0]]).toEqual([1, expect.stringMatching(/^port \d+ does not answer on the host$/)]);
    expect(closed.stderr).toContain("its container is exited (exit 3, 5 restarts); its last log lines:\n  a log line\n");
    const failing = await withPort((port) => run(accessoryHealthCommand("db", { port, health: { command: ["redis-cli", "ping"], deadlineSeconds: 5 } }, 0).argv, { ...env, PS_OUT: ID }));
    expect(failing.code).toBe(1);
    expect(failing.stderr.split("\n").slice(0, 2)).toEqual(["the health command failed", "  said it"]);
  });

  it("retries until its deadline", async () => {
    const bin = fakeDocker();
    const t0 = Date.now();
    const r = await run(accessoryHealthCommand("db", { port: 1, health: { deadlineSeconds: 5 } }, 1500).argv, { PATH: `${bin}:${process.env["PATH"]}`, PS_OUT: "", EXEC_RC: "0" });
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
  });

  it("the container command's output parses; a missing one is null", () => {
    expect(parseAccessoryContainer(`${ID} running 0 16\n`)).toEqual({ id: ID, status: "running", restartCount: 0, release: "16" });
    expect(parseAccessoryContainer("missing\n")).toBe(null);
  });
});
