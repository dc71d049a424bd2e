// Unit: Compose apps in the model (app.compose, app.service, the Compose file's checks as an error
// table with exact messages) and the app.compose step's plan (the override Compose merges, exact;
// the files and their modes; no secret value outside the 0600 env and secret files), with the
// up/check scripts run by a real sh against a fake `docker`. Does not prove Compose's own merge of
// the two files on a host: test/e2e/compose.test.ts does.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { parseResolvedApp } from "../../model/app";
import { parseComposeFile, publishedHostPorts, type ComposeAppView } from "../../model/compose";
import { environmentSchema } from "../../model/environment";
import { loadEnvironment } from "../../model/environment-file";
import { appComposeStep, composeOverride, COMPOSE_CHECK_SCRIPT, COMPOSE_UP_SCRIPT } from "../../provisioner/steps/app-compose";
import { appSteps } from "../../provisioner/steps";
import type { ProvisionContext } from "../../provisioner/steps/engine-context";

const FACTS: ProvisionContext["facts"] = { arch: "amd64", osId: "debian", osVersionId: "13", osCodename: "trixie", cgroupVersion: 2, systemd: true, engineVersion: null, cpus: 2, memoryBytes: 2 ** 31 };
const APP: ComposeAppView = { service: "web", image: "registry.example/team/shop:1", hostPort: 8080, secretKeys: ["DB_PASSWORD"] };
const issues = (text: string, app: ComposeAppView = APP) => {
  const r = parseComposeFile(text, app, "compose.yaml");
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
};

describe("the Compose file's checks", () => {
  const GOOD = `services:
  web:
    image: registry.example/team/shop:1
    secrets: [DB_PASSWORD]
  worker:
    image: registry.example/team/shop:1
    command: ["/app/worker", "$$literal"]
  cache:
    image: redis:7
    ports: ["127.0.0.1:6380:6379"]
    volumes: ["cache:/data", "/srv/cache:/backup:ro"]
  tools:
    image: busybox
    profiles: [tools]
volumes:
  cache: {}
x-notes: anything
`;

  it("accepts a good file: which services run the app's image, start by default, name which secrets", () => {
    const r = parseComposeFile(GOOD, APP, "compose.yaml");
    expect(r.ok && r.value.services).toEqual({
      web: { image: "registry.example/team/shop:1", runsAppImage: true, startsByDefault: true, secrets: ["DB_PASSWORD"], setsRestart: false, setsStopGracePeriod: false },
      worker: { image: "registry.example/team/shop:1", runsAppImage: true, startsByDefault: true, secrets: [], setsRestart: false, setsStopGracePeriod: false },
      cache: { image: "redis:7", runsAppImage: false, startsByDefault: true, secrets: [], setsRestart: false, setsStopGracePeriod: false },
      tools: { image: "busybox", runsAppImage: false, startsByDefault: false, secrets: [], setsRestart: false, setsStopGracePeriod: false },
    });
    expect(r.ok && r.value.text).toBe(GOOD);
  });

  it.each([
    ["not a mapping", "- a\n", ["compose.yaml: must be a Compose file: a mapping with services:"]],
    ["no services", "volumes: {}\n", ["compose.yaml: services: must be a mapping of at least one service"]],
    ["an unknown top-level key", "servics: {}\nservices: { web: { image: 'registry.example/team/shop:1' } }\n", ["compose.yaml: servics: is not a top-level key of a Compose file (version, name, services, networks, volumes, configs, secrets, x-*)"]],
    [
      "build and no image",
      "services:\n  web:\n    build: .\n",
      ["compose.yaml: services.web.build: is not run by longshore: build and tag the image before, and give it as image:", "compose.yaml: services.web.image: is required: every service runs an image longshore delivers"],
    ],
    ["an unknown service key", "services:\n  web:\n    image: registry.example/team/shop:1\n    imagee: x\n", ["compose.yaml: services.web.imagee: is not a key of a Compose service (as Compose 2.26 on Debian 13 knows them)"]],
    ["a bad image reference", "services:\n  web:\n    image: registry.example/team/shop:1\n  db:\n    image: 'Bad Image'\n", ["compose.yaml: services.db.image: must not contain whitespace"]],
    [
      "the served service of another repository",
      "services:\n  web:\n    image: other/shop:1\n",
      ["compose.yaml: services.web.image: is other/shop:1, but app.image is registry.example/team/shop:1: the served service runs the app's image (rollouts move its tag), so both must name the same repository"],
    ],
    ["no served service", "services:\n  api:\n    image: registry.example/team/shop:1\n", ["compose.yaml: services: has no service web (app.service): it has api"]],
    [
      "files of this computer",
      "include: [other.yaml]\nservices:\n  web:\n    image: registry.example/team/shop:1\n    env_file: .env\n    volumes: ['./data:/data', {type: bind, source: ~/x, target: /x}]\n    extends: { file: base.yaml, service: b }\nconfigs:\n  c: { file: ./c.conf }\n",
      [
        "compose.yaml: include: names other files: only this Compose file is sent to the hosts; put everything in it",
        "compose.yaml: configs.c: must give its content inline (content:): a file or variable of this computer does not reach the hosts",
        "compose.yaml: services.web.env_file: names a file of this computer, which does not reach the hosts: put the values in app.env or app.secrets (longshore writes them to an env file on each host, 0600)",
        "compose.yaml: services.web.extends.file: names another file: only this Compose file is sent to the hosts",
        "compose.yaml: services.web.volumes[0]: mounts ./data, a path of this computer: use a named volume, or an absolute path on the hosts",
        "compose.yaml: services.web.volumes[1]: mounts ~/x, a path of this computer: use a named volume, or an absolute path on the hosts",
      ],
    ],
    [
      "variables",
      "services:\n  web:\n    image: registry.example/team/shop:1\n    environment: { A: '${A:-x}', B: '$HOME/b', C: 'cost $$5' }\n",
      [
        "compose.yaml: services.web.environment.A: uses ${A:-x}: Compose would read it from the environment of `docker compose` on the host, where it is unset; put the value in the file or in app.env, or write $$ for a literal $",
        "compose.yaml: services.web.environment.B: uses $HOME: Compose would read it from the environment of `docker compose` on the host, where it is unset; put the value in the file or in app.env, or write $$ for a literal $",
      ],
    ],
    [
      "host ports that clash",
      "services:\n  web:\n    image: registry.example/team/shop:1\n    ports: ['8080:8080']\n  ssh:\n    image: busybox\n    ports: ['0.0.0.0:22:2222', {target: 80, published: '47210-47215'}, 'x:y']\n",
      [
        "compose.yaml: services.web.ports[0]: publishes host port 8080, the app's own (app.hostPort, else app.port): longshore publishes it for app.service web; leave it out here",
        "compose.yaml: services.ssh.ports[0]: publishes host port 22, used by the host's SSH server",
        "compose.yaml: services.ssh.ports[1]: publishes host port 47213, used by longshore's blob exchange between hosts",
        'compose.yaml: services.ssh.ports[2]: cannot read the host port of "x:y"',
      ],
    ],
    [
      "secrets",
      "services:\n  web:\n    image: registry.example/team/shop:1\n    secrets: [API_KEY, {source: DB_PASSWORD, target: db}]\nsecrets:\n  API_KEY: { file: ./k }\n",
      [
        "compose.yaml: secrets: is written by longshore: every secret a service names must be a key of app.secrets (its value never enters this file)",
        "compose.yaml: services.web.secrets[0]: names API_KEY, which is not a key of app.secrets (DB_PASSWORD)",
      ],
    ],
    [
      "a served service that cannot serve",
      "services:\n  web:\n    image: registry.example/team/shop:1\n    network_mode: host\n    profiles: [x]\n    scale: 2\n",
      [
        "compose.yaml: services.web.network_mode: cannot be set on the served service: longshore publishes its port (app.port) on the host",
        "compose.yaml: services.web.profiles: cannot be set on the served service: it must start with the project",
        "compose.yaml: services.web: must run one container per host (no scale or deploy.replicas above 1): its port is published on the host, and rollouts add hosts, not containers",
      ],
    ],
  ])("refuses %s", (_what, text, expected) => {
    expect(issues(text)).toEqual(expected);
  });

  it("reads host ports in both syntaxes", () => {
    expect(publishedHostPorts("80")).toEqual({ ports: [] });
    expect(publishedHostPorts(80)).toEqual({ ports: [] });
    expect(publishedHostPorts("8081:80/udp")).toEqual({ ports: [8081] });
    expect(publishedHostPorts("[::1]:9000-9002:80")).toEqual({ ports: [9000, 9001, 9002] });
    expect(publishedHostPorts({ target: 80, published: 8443 })).toEqual({ ports: [8443] });
    expect(publishedHostPorts({ target: 80 })).toEqual({ ports: [] });
  });
});

describe("app.compose in the environment", () => {
  const base = { name: "shop", hosts: { os: "debian-13" }, app: { name: "shop", image: "shop:1", compose: "./compose.yaml", service: "web" } };
  const problems = (input: unknown) => {
    const r = environmentSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("needs app.service, Debian 13, the bundle channel and the local driver; single-container keys are refused", () => {
    expect(problems(base)).toEqual([]);
    expect(problems({ ...base, app: { ...base.app, service: undefined } })).toEqual(["app.service: is required with app.compose: the Compose service that receives traffic"]);
    expect(problems({ ...base, app: { name: "shop", image: "shop:1", service: "web" } })).toEqual(["app.service: is for Compose apps: set app.compose too, or leave app.service out"]);
    expect(problems({ ...base, hosts: { os: "debian-12" } })).toEqual([
      "app.compose: needs hosts.os: debian-13 (Debian 12 has no Compose v2: only the old Python docker-compose 1.29)",
    ]);
    expect(problems({ ...base, engine: { channel: "distro" } })).toEqual([
      "engine.channel: must be bundle for a Compose app (app.compose): the debian-trixie bundle carries Compose v2; the distro channel installs the engine only",
    ]);
    expect(problems({ ...base, app: { ...base.app, command: ["x"], volumes: ["/a:/b"], init: true, resources: { memory: "64m" } } })).toEqual([
      "app.command: is for single-container apps: with app.compose, set command on the services in the Compose file",
      "app.volumes: is for single-container apps: with app.compose, set volumes on the services in the Compose file",
      "app.resources: is for single-container apps: with app.compose, set deploy.resources or mem_limit/cpus on the services in the Compose file",
      "app.init: is for single-container apps: with app.compose, set init on the services in the Compose file",
    ]);
  });

  it("loading the environment reads and checks the Compose file, problems named by its path", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-compose-"));
    try {
      fs.writeFileSync(path.join(dir, "longshore.yaml"), `name: shop\nhosts: { os: debian-13 }\napp: { name: shop, image: "shop:1", compose: ./compose.yaml, service: web }\n`);
      await expect(loadEnvironment("longshore.yaml", { cwd: dir })).rejects.toMatchObject({ issues: [{ path: "longshore.yaml: app.compose", message: expect.stringMatching(/^\.\/compose\.yaml (does not exist|.*no such file)/) }] });
      fs.writeFileSync(path.join(dir, "compose.yaml"), "services:\n  web:\n    build: .\n    image: shop:1\n");
      await expect(loadEnvironment("longshore.yaml", { cwd: dir })).rejects.toMatchObject({
        issues: [{ path: "compose.yaml: services.web.build", message: "is not run by longshore: build and tag the image before, and give it as image:" }],
      });
      fs.writeFileSync(path.join(dir, "compose.yaml"), "services:\n  web:\n    image: shop:1\n");
      const loaded = await loadEnvironment("longshore.yaml", { cwd: dir });
      expect(loaded.compose).toEqual({ file: "compose.yaml", text: "services:\n  web:\n    image: shop:1\n" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the app.compose step", () => {
  const TEXT = "services:\n  web:\n    image: shop:1\n    secrets: [DB_PASSWORD]\n  worker:\n    image: shop:1\n    restart: always\n  cache:\n    image: redis:7\n    stop_grace_period: 3s\n";
  const ctx = (over: Partial<ProvisionContext> = {}): ProvisionContext => ({
    facts: FACTS,
    engine: { channel: "bundle", bundle: "debian-trixie", daemon: {} } as unknown as ProvisionContext["engine"],
    bundle: null,
    app: parseResolvedApp({
      name: "shop",
      image: "shop:2",
      service: "web",
      compose: { file: "compose.yaml", text: TEXT },
      port: 8000,
      hostPort: 8080,
      env: { MODE: "prod" },
      secrets: { DB_PASSWORD: new Sensitive("s3cret 'x' $y") },
    }),
    registry: null,
    image: { source: "layers", layers: { imageId: `sha256:${"a".repeat(64)}`, config: { digest: `sha256:${"a".repeat(64)}`, size: 1 }, layers: [], repoTags: [] }, cacheDir: "/c", imageId: `sha256:${"a".repeat(64)}`, companions: { "redis:7": `sha256:${"b".repeat(64)}` } },
    release: "2",
    slot: "green",
    healthDeadlineMs: 60_000,
    auditUser: "ci@x",
    now: "2026-12-04T00:00:00Z",
    planHash: "0123456789abcdef",
    extraHosts: [{ name: "db", address: "10.213.47.9" }],
    ...over,
  });

  it("is the app step of a Compose app, in place of app.run", () => {
    expect(appSteps("layers", true).map((s) => s.id)).toEqual(["image.layers", "app.compose", "app.health", "audit.append"]);
    expect(appSteps("layers").map((s) => s.id)).toEqual(["image.layers", "app.run", "app.health", "audit.append"]);
  });

  it("writes the override Compose merges: delivered images, labels, defaults, env by reference, secrets as files, the served port", () => {
    const a = `sha256:${"a".repeat(64)}`;
    const b = `sha256:${"b".repeat(64)}`;
    const common = { "io.longshore.version": "2", "io.longshore.slot": "green", "io.longshore.plan": "0123456789abcdef" };
    const env = { DB_PASSWORD: "${LONGSHORE_ENV_DB_PASSWORD}", MODE: "${LONGSHORE_ENV_MODE}" };
    expect(JSON.parse(composeOverride(ctx()))).toEqual({
      services: {
        web: {
          image: a,
          labels: { ...common, "io.longshore.service": "web", "io.longshore.app": "shop" },
          pull_policy: "never",
          restart: "unless-stopped",
          stop_grace_period: "10s",
          environment: env,
          extra_hosts: ["db:10.213.47.9"],
          ports: ["8080:8000"],
        },
        worker: { image: a, labels: { ...common, "io.longshore.service": "worker" }, pull_policy: "never", stop_grace_period: "10s", environment: env, extra_hosts: ["db:10.213.47.9"] },
        cache: { image: b, labels: { ...common, "io.longshore.service": "cache" }, pull_policy: "never", restart: "unless-stopped", extra_hosts: ["db:10.213.47.9"] },
      },
      secrets: { DB_PASSWORD: { file: "/etc/longshore/apps/shop/secrets/DB_PASSWORD" } },
    });
    // A registry delivery: the pinned references, and Compose may pull what is missing.
    const reg = JSON.parse(composeOverride(ctx({ image: { source: "registry", ref: "shop@sha256:" + "c".repeat(64), companions: { "redis:7": "redis@sha256:" + "d".repeat(64) } } })));
    expect([reg.services.web.image, reg.services.cache.image, reg.services.web.pull_policy]).toEqual([`shop@sha256:${"c".repeat(64)}`, `redis@sha256:${"d".repeat(64)}`, undefined]);
    expect(() => composeOverride(ctx({ image: { ...ctx().image, companions: {} } }))).toThrow("the delivery has no image for redis:7 (a Compose service's image)");
  });

  it("plans its files 0600 (secret values only in the env and secret files) and runs Compose itself", () => {
    const plan = appComposeStep.plan(ctx());
    expect(plan.files?.map((f) => [f.path, f.mode, f.source && "content" in f.source && f.source.content instanceof Sensitive])).toEqual([
      ["/etc/longshore/apps/shop/shop-2.env", 0o600, true],
      ["/etc/longshore/apps/shop/compose/compose.yaml", 0o600, false],
      ["/etc/longshore/apps/shop/compose/longshore.override.yaml", 0o600, false],
      ["/etc/longshore/apps/shop/secrets/DB_PASSWORD", 0o600, true],
    ]);
    expect(plan.files![1]!.source).toEqual({ content: TEXT });
    expect(plan.check?.[0]?.argv).toEqual(["sh", "-c", COMPOSE_CHECK_SCRIPT, "sh", "/etc/longshore/apps/shop/shop-2.env", "/etc/longshore/apps/shop/compose", "shop", "0123456789abcdef", "cache web worker "]);
    expect(plan.apply[0]?.argv).toEqual(["sh", "-c", COMPOSE_UP_SCRIPT, "sh", "/etc/longshore/apps/shop/shop-2.env", "/etc/longshore/apps/shop/compose", "shop", "/etc/longshore/apps/shop", "60"]);
    expect(JSON.stringify(plan)).not.toContain("s3cret");
  });

  it("the up script exports the env file's values raw for Compose, then removes other releases' env files", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-compose-up-"));
    try {
      const bin = path.join(dir, "bin");
      fs.mkdirSync(bin);
      // A fake docker: records the environment Compose would read, and the arguments.
      fs.writeFileSync(path.join(bin, "docker"), `#!/bin/sh\necho "$*" >> "${dir}/calls"\nenv | grep '^LONGSHORE_ENV_' | sort > "${dir}/env"\n`, { mode: 0o755 });
      const project = path.join(dir, "compose");
      fs.mkdirSync(project);
      const value = "a 'b' \"c\" $HOME \\n = ünï  ";
      fs.writeFileSync(path.join(dir, "shop-2.env"), `A=${value}\nB=\n`);
      fs.writeFileSync(path.join(dir, "shop-1.env"), "OLD=1\n");
      execFileSync("sh", ["-c", COMPOSE_UP_SCRIPT, "sh", path.join(dir, "shop-2.env"), project, "shop", dir, "60"], { env: { PATH: `${bin}:/usr/bin:/bin` } });
      expect(fs.readFileSync(path.join(dir, "env"), "utf8")).toBe(`LONGSHORE_ENV_A=${value}\nLONGSHORE_ENV_B=\n`);
      expect(fs.readFileSync(path.join(dir, "calls"), "utf8")).toBe("compose -p shop -f compose.yaml -f longshore.override.yaml up -d --wait --wait-timeout 60 --remove-orphans --quiet-pull\n");
      expect(fs.existsSync(path.join(dir, "shop-1.env"))).toBe(false);
      expect(fs.existsSync(path.join(dir, "shop-2.env"))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
