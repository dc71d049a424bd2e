// Unit: the environment verbs (check, up, rollout, rollback, status, destroy) end to end through the
// CLI program, with a scripted driver, a recording secret reader and real files in a temp
// directory. Does not prove anything about real machines or AWS (e2e does), nor the real wiring of
// drivers in cli/environment-deps.ts.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import type { CliDeps, DriverTarget } from "../../cli/deps";
import { rolloutImage, statusText } from "../../cli/environment-verbs";
import { EXIT } from "../../cli/exit-codes";
import { acquireLock } from "../../core/lock";
import { systemSecretReader, type SecretReader } from "../../core/secret-reader";
import { demoEnvironmentText, parseEnvironment } from "../../model/environment-file";
import { demoImage } from "../../drivers/local/demo-app";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import { fakeDriver } from "../helpers/fake-slot-driver";
import type { SlotName } from "../../rollout/driver";
import { RECIPE } from "./fixtures/engine-context";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-cli-env-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class Buf {
  text = "";
  write(c: string) {
    this.text += c;
    return true;
  }
}

interface HarnessOptions {
  probe?: (slot: SlotName) => boolean;
  /** The operator's environment the secret reader sees. */
  vars?: Record<string, string>;
  init?: { live: SlotName | null; blue?: string | null; green?: string | null };
}

function harness(name: string, o: HarnessOptions = {}) {
  const cwd = path.join(root, name);
  const probe = o.probe ?? (() => true);
  const stdout = new Buf();
  const stderr = new Buf();
  const { driver, calls, state, keys } = fakeDriver(o.init ?? { live: null }, (s) => [
    { host: `${s}-1`, ok: probe(s), status: probe(s) ? 200 : 404, detail: probe(s) ? "ok" : "longshore demo broken: unhealthy" },
  ]);
  const destroyed: string[] = [];
  const targets: DriverTarget[] = [];
  // What git's user.email says, and from which directories it was asked.
  const gitEmail: { value: string | null } = { value: null };
  const gitAsked: string[] = [];
  // Which variables were looked up: proves when secrets are (not) read.
  const looked: string[] = [];
  const base = systemSecretReader(o.vars ?? {});
  const secretReader: SecretReader = {
    ...base,
    env: new Proxy(o.vars ?? {}, {
      get: (t, k) => {
        if (typeof k === "string") looked.push(k);
        return (t as Record<string | symbol, string | undefined>)[k];
      },
    }),
  };
  const deps: CliDeps = {
    connect: async () => {
      throw new Error("test: no ssh");
    },
    stdout,
    stderr,
    env: {},
    cwd,
    homeDir: root,
    readFile: (p) => readFile(p, "utf8"),
    secretReader,
    startDemoSshd: async () => {
      throw new Error("test: no demo");
    },
    environmentDriver: async (target) => {
      targets.push(target);
      return driver;
    },
    destroyEnvironment: async (env) => {
      destroyed.push(env.name);
      return [`${env.name}-blue-g1`];
    },
    operationLockDir: () => path.join(cwd, "state"),
    gitUserEmail: async (d) => {
      gitAsked.push(d);
      return gitEmail.value;
    },
    userAtHost: () => "me@laptop",
  };
  mkdirSync(cwd, { recursive: true });
  const file = path.join(cwd, "longshore.yaml");
  const run = async (...argv: string[]) => {
    stdout.text = "";
    stderr.text = "";
    return main(argv, deps);
  };
  const fileState = () => {
    const r = parseEnvironment(readFileSync(file, "utf8"));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return { live: r.value.live, blue: r.value.slots.blue.image, green: r.value.slots.green.image };
  };
  return { deps, run, stdout, stderr, calls, state, keys, cwd, file, destroyed, targets, looked, fileState, gitEmail, gitAsked };
}

/** An environment whose rollouts take no real time: one healthy round passes the gate, no soak, no drain. */
function fastEnv(image: string, extra = ""): string {
  return `name: demo
app:
  name: demo
  image: ${image}
  health: { path: /healthz, intervalSeconds: 0.2, healthyRounds: 1 }
${extra}rollout: { healthDeadlineSeconds: 0.5, soakSeconds: 0, drainSeconds: 0 }
`;
}

describe("environment verbs", () => {
  it("up on a fresh directory creates the demo environment and brings up app.image", async () => {
    const h = harness("up");
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(h.stderr.text).toContain(`created ${h.file}: the local demo environment (longshore-demo:v1)\n`);
    expect(h.calls[0]).toBe("prepare blue longshore-demo:v1 x2");
    expect(h.stdout.text.split("\n")[0]).toBe("longshore-demo:v1 is live on blue");
    expect(h.stdout.text).toContain("url: http://127.0.0.1:8080/");
    expect(h.fileState()).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null });
    // A second up has nothing to do.
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("blue is live and runs longshore-demo:v1: nothing to do\nurl: http://127.0.0.1:8080/\n");
  }, 30_000);

  it("up says so when app.image differs from what is live, and changes nothing", async () => {
    const h = harness("up-differs");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    writeFileSync(h.file, readFileSync(h.file, "utf8").replace("image: longshore-demo:v1", "image: longshore-demo:v2"));
    const calls = h.calls.length;
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      "blue is live and runs longshore-demo:v1; app.image is longshore-demo:v2: deploy it with `longshore rollout`\nurl: http://127.0.0.1:8080/\n",
    );
    expect(h.calls.length).toBe(calls);
  });

  it("up refuses when the file's live slot is not the live one (exit 6)", async () => {
    const h = harness("up-refuse", { init: { live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v0" } });
    writeFileSync(h.file, fastEnv("longshore-demo:v1", "slots: { blue: { image: longshore-demo:v1 }, green: { image: longshore-demo:v0 } }\nlive: green\n"));
    expect(await h.run("up")).toBe(EXIT.rolloutFailed);
    expect(h.stderr.text).toBe("error: the file says green is live but blue is: use `longshore rollback` or `longshore rollout`\n");
  });

  it("rollout with no image deploys app.image; :TAG is app.image's repository at TAG", async () => {
    const h = harness("rollout-default");
    writeFileSync(h.file, fastEnv("reg.example:5000/shop/web:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    writeFileSync(h.file, readFileSync(h.file, "utf8").replace("web:v1", "web:v2"));
    expect(await h.run("rollout")).toBe(EXIT.ok);
    expect(h.calls.filter((c) => c.startsWith("prepare"))).toEqual(["prepare blue reg.example:5000/shop/web:v1 x2", "prepare green reg.example:5000/shop/web:v2 x2"]);
    expect(h.stdout.text.split("\n")[0]).toBe("reg.example:5000/shop/web:v2 is live on green");
    expect(await h.run("rollout", ":v3")).toBe(EXIT.ok);
    expect(h.calls.filter((c) => c.startsWith("prepare")).at(-1)).toBe("prepare blue reg.example:5000/shop/web:v3 x2");
    expect(h.fileState()).toEqual({ live: "blue", blue: "reg.example:5000/shop/web:v3", green: "reg.example:5000/shop/web:v2" });
  });

  it("rollout of a bad image or size is exit 2 before any secret is read or driver made", async () => {
    const h = harness("rollout-bad", { vars: { TOKEN: "t0ken" } });
    writeFileSync(h.file, fastEnv("shop/web:v1", "  secrets: { TOKEN: { env: TOKEN } }\n"));
    expect(await h.run("rollout", "Shop/Web:v2")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe('error: command line is invalid (1 problem):\n  IMAGE: "Shop/Web:v2" registry host must be lower-case\n');
    expect(await h.run("rollout", ":-v2")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      "error: command line is invalid (1 problem):\n  IMAGE: \":-v2\" tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'\n",
    );
    expect(await h.run("rollout", "--size", "51")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --size: must be at most 50 on the local driver\n");
    expect(await h.run("rollout", "--size", "0")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --size: must be a whole number from 1 to 100\n");
    expect([h.looked, h.targets, h.calls]).toEqual([[], [], []]);
  });

  it("rolloutImage: the argument, :TAG or @DIGEST against app.image, else app.image", () => {
    const env = (parseEnvironment(fastEnv("reg.example/shop/web:v1")) as { ok: true; value: Parameters<typeof rolloutImage>[1] }).value;
    const digest = `sha256:${"0".repeat(64)}`;
    expect([undefined, ":v2", `@${digest}`, "other/app:v9"].map((a) => rolloutImage(a, env))).toEqual([
      "reg.example/shop/web:v1",
      "reg.example/shop/web:v2",
      `reg.example/shop/web@${digest}`,
      "other/app:v9",
    ]);
    expect(() => rolloutImage("a b", env)).toThrow('command line is invalid (1 problem):\n  IMAGE: "a b" must not contain whitespace');
  });

  it("rollout reads the secrets and hands them to the driver; status and rollback read none", async () => {
    const h = harness("secrets", { vars: { TOKEN: "t0ken" } });
    writeFileSync(h.file, fastEnv("shop/web:v1", "  secrets: { TOKEN: { env: TOKEN } }\n"));
    expect(await h.run("rollout")).toBe(EXIT.ok);
    expect(h.looked).toEqual(["TOKEN"]);
    expect(h.targets[0]!.secrets?.app["TOKEN"]?.reveal()).toBe("t0ken");
    expect([h.targets[0]!.file, h.targets[0]!.baseDir, h.targets[0]!.env.app.image]).toEqual([h.file, h.cwd, "shop/web:v1"]);
    h.looked.length = 0;
    expect(await h.run("status")).toBe(EXIT.ok);
    expect(h.stdout.text + h.stderr.text).not.toContain("t0ken");
    expect(await h.run("rollback")).toBe(EXIT.rolloutFailed);
    expect(h.stderr.text).toBe("error: the previous slot (green) has no hosts: an instant rollback is not possible\nhint: Roll out the previous image again instead: longshore rollout <image>.\n");
    expect([h.looked, h.targets.slice(1).map((t) => t.secrets)]).toEqual([[], [null, null]]);
  });

  it("rollout with an unset secret source is exit 2 naming the key path and the variable, before a driver is made", async () => {
    const h = harness("unset");
    writeFileSync(h.file, fastEnv("shop/web:v1", "  secrets: { DB_PASSWORD: { env: SHOP_DB_PASSWORD } }\n"));
    expect(await h.run("rollout", ":v2")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        "error: the secrets of longshore.yaml is invalid (1 problem):",
        "  longshore.yaml: app.secrets.DB_PASSWORD: the environment variable SHOP_DB_PASSWORD is not set (source: env SHOP_DB_PASSWORD)",
        "hint: Fix the sources listed; docs/environment.md (Secrets) describes them.",
        "",
      ].join("\n"),
    );
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("rollout to a broken image exits 6, names the failing probe, and records the discarded slot as empty", async () => {
    const h = harness("broken", { probe: (s) => s === "blue" });
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(await h.run("rollout", "longshore-demo:broken", "--json")).toBe(EXIT.rolloutFailed);
    const report = JSON.parse(h.stdout.text);
    expect([report.outcome, report.fromSlot, report.toSlot, report.url]).toEqual(["failed", "blue", "green", "http://127.0.0.1:8080/"]);
    expect(report.failedProbes).toEqual([{ host: "green-1", ok: false, status: 404, detail: "longshore demo broken: unhealthy" }]);
    expect(h.stderr.text).toBe("");
    expect(h.state.live).toBe("blue");
    expect(h.fileState()).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null });
    // The human report says where traffic is and why.
    expect(await h.run("rollout", ":broken")).toBe(EXIT.rolloutFailed);
    const lines = h.stdout.text.split("\n");
    expect(lines[0]).toBe("failed: traffic stays on blue (longshore-demo:v1)");
    expect(lines.map((l) => l.replace(/\d+\.\d s/, "T"))).toEqual([
      "failed: traffic stays on blue (longshore-demo:v1)",
      "  prepare      T",
      "  health-gate  T",
      expect.stringMatching(/^reason: the green slot did not become healthy within 500 ms: green-1: status 404: "longshore demo broken: unhealthy"$/),
      '  green-1: HTTP 404 "longshore demo broken: unhealthy"',
      "",
    ]);
    expect(h.stderr.text.split("\n").slice(0, 4)).toEqual(["==> prepare", expect.stringMatching(/^<== prepare done in \d+\.\d s$/), "==> health-gate", expect.stringMatching(/^ {4}gate round 1: 0\/1 healthy \(green-1: status 404/)]);
    expect(h.stderr.text).toMatch(/<== health-gate failed in \d+\.\d s\n$/);
  });

  it("a first rollout that fails its soak says that it stays live", async () => {
    let round = 0;
    const h = harness("soak-first", { probe: () => round++ < 1 });
    writeFileSync(h.file, fastEnv("shop/web:v1").replace("soakSeconds: 0", "soakSeconds: 0.4"));
    expect(await h.run("rollout")).toBe(EXIT.rolloutFailed);
    expect(h.stdout.text.split("\n")[0]).toBe("failed: traffic is on blue (shop/web:v1)");
    expect(h.stdout.text).toContain('reason: the blue slot failed during the soak: blue-1: status 404: "longshore demo broken: unhealthy"; nothing ran before it, so it stays live\n');
    expect(h.fileState()).toEqual({ live: "blue", blue: "shop/web:v1", green: null });
  });

  it("reports a bad environment file with every problem and exit code 2, touching nothing", async () => {
    const h = harness("bad");
    writeFileSync(h.file, "name: x\napp: { name: x, image: x:v1, port: 0 }\nslots: { blue: { image: 'A B' } }\n");
    expect(await h.run("rollout", "x:v2")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        `error: longshore.yaml is invalid (2 problems):`,
        `  longshore.yaml: app.port: must be a whole number from 1 to 65535`,
        `  longshore.yaml: slots.blue.image: must not contain whitespace`,
        "hint: Fix the listed problems; docs/environment.md describes every key.",
        "",
      ].join("\n"),
    );
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("an undefined alias or an alias bomb is exit 2 naming the file and line, touching nothing", async () => {
    const h = harness("aliases");
    writeFileSync(h.file, "name: demo\napp:\n  name: demo\n  image: *nope\n");
    expect(await h.run("up")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        `error: longshore.yaml is invalid (1 problem):`,
        `  longshore.yaml: line 4, column 10: YAML: unresolved alias *nope: no anchor &nope before it`,
        "hint: Fix the listed problems; docs/environment.md describes every key.",
        "",
      ].join("\n"),
    );
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (const [i, c] of [..."bcdefghi"].entries()) levels.push(`${c}: &${c} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(", ")}]`);
    writeFileSync(h.file, `name: demo\n${levels.join("\n")}\n`);
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text.split("\n").slice(0, 2)).toEqual([
      `error: longshore.yaml is invalid (1 problem):`,
      `  longshore.yaml: line 6, column 8: YAML: alias *d takes the values copied through aliases past 10000 (an alias bomb?)`,
    ]);
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("a file with 100,000 unknown keys prints the first 50 problems in file order and counts the rest", async () => {
    const h = harness("many-keys");
    const keys = Array.from({ length: 100_000 }, (_, i) => `unknown${i}: ${i}`);
    writeFileSync(h.file, `name: demo\napp: { name: demo, image: shop:1 }\n${keys.join("\n")}\n`);
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        `error: longshore.yaml is invalid (100,000 problems):`,
        ...Array.from({ length: 50 }, (_, i) => `  longshore.yaml: unknown${i}: unknown key`),
        "  and 99,950 more",
        "hint: Fix the listed problems; docs/environment.md describes every key.",
        "",
      ].join("\n"),
    );
    expect(h.stdout.text).toBe("");
  });

  it("up and rollout refuse a missing or tampered engine.bundle directory with its key path, exit 2, before a driver is made", async () => {
    const h = harness("bundle-input", { vars: {} });
    writeFileSync(h.file, fastEnv("longshore-demo:v1", "engine: { bundle: ./bundles/nosuch }\n"));
    for (const argv of [["up"], ["rollout", ":v2"]]) {
      expect(await h.run(...argv)).toBe(EXIT.badInput);
      expect(h.stderr.text).toBe(
        [
          "error: longshore.yaml is invalid (1 problem):",
          `  longshore.yaml: engine.bundle: ${h.cwd}/bundles/nosuch does not exist`,
          "hint: engine.bundle names a directory made by `longshore engine bundle`, or a recipe such as debian-bookworm (docs/engine.md).",
          "",
        ].join("\n"),
      );
    }
    const dir = path.join(h.cwd, "bundles", "engine");
    mkdirSync(path.join(dir, DEBS_DIR), { recursive: true });
    writeFileSync(path.join(dir, DEBS_DIR, "runc_1.0_amd64.deb"), "no manifest promises this");
    writeFileSync(h.file, fastEnv("longshore-demo:v1", "engine: { bundle: ./bundles/engine }\n"));
    expect(await h.run("up")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        "error: longshore.yaml is invalid (1 problem):",
        `  longshore.yaml: engine.bundle: ${dir}/manifest.json: missing`,
        "hint: Rebuild the bundle with `longshore engine bundle`; never edit a bundle by hand.",
        "",
      ].join("\n"),
    );
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("a malformed longshore.lock beside the file is exit 2 listing every problem, with the other input problems, before a driver is made", async () => {
    const h = harness("lock-input", { vars: {} });
    mkdirSync(path.join(h.cwd, "envs"), { recursive: true });
    writeFileSync(path.join(h.cwd, "envs", "prod.yaml"), fastEnv("shop/web:v1", "  secrets: { K: { env: PROD_K } }\n"));
    writeFileSync(path.join(h.cwd, "envs", "longshore.lock"), `version: 1\nengine:\n  amd64: { recipe: debian-bookworm-amd64, id: abc, packages: { tini: 0.19.0-1 } }\nimages: { web:1: sha256:1 }\n`);
    for (const argv of [["up", "-f", "envs/prod.yaml"], ["rollout", "-f", "envs/prod.yaml"], ["check", "-f", "envs/prod.yaml"]]) {
      expect(await h.run(...argv)).toBe(EXIT.badInput);
      expect(h.stderr.text.split("\n").slice(0, 4)).toEqual([
        "error: the input is invalid (3 problems):",
        "  envs/prod.yaml: app.secrets.K: the environment variable PROD_K is not set (source: env PROD_K)",
        "  envs/longshore.lock: engine.amd64.id: must be a bundle id: 64 lower-case hex digits",
        '  envs/longshore.lock: images["web:1"]: must be an image ID: sha256: and 64 lower-case hex digits',
      ]);
    }
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("the lock beside the file is read before the driver is made and handed to it; none is nothing pinned", async () => {
    const h = harness("lock-target");
    writeFileSync(h.file, fastEnv("shop/web:v1"));
    expect(await h.run("rollout")).toBe(EXIT.ok);
    expect(h.targets[0]!.lock).toMatchObject({ file: path.join(h.cwd, "longshore.lock"), name: "longshore.lock", exists: false, lock: { version: 1, engine: {}, images: {} } });
    const id = "c".repeat(64);
    writeFileSync(path.join(h.cwd, "longshore.lock"), `version: 1\nengine:\n  amd64: { recipe: debian-bookworm-amd64, id: ${id}, packages: { tini: 0.19.0-1 } }\n`);
    expect(await h.run("rollout", ":v2")).toBe(EXIT.ok);
    expect(h.targets[1]!.lock?.lock.engine.amd64?.id).toBe(id);
  });

  it("--break-lock is gone: an unknown option, exit 2", async () => {
    const h = harness("break-lock");
    expect(await h.run("rollout", "--break-lock")).toBe(EXIT.badInput);
    expect(h.stderr.text).toContain("error: unknown option '--break-lock'");
  });

  it("a verb while another operation holds the lock is exit 6 naming the holder", async () => {
    const h = harness("locked", { init: { live: "blue", blue: "longshore-demo:v1" } });
    writeFileSync(h.file, fastEnv("longshore-demo:v1", "slots: { blue: { image: longshore-demo:v1 } }\nlive: blue\n"));
    const held = await acquireLock(path.join(h.cwd, "state", "demo.lock"), { what: "environment demo", operation: "rollout", now: () => new Date("2026-12-04T05:00:00Z") });
    try {
      const who = `rollout by ${os.userInfo().username}@${os.hostname()} (pid ${process.pid}) since 2026-12-04T05:00:00.000Z`;
      for (const argv of [["rollout", ":v2"], ["rollback"], ["destroy", "--yes"]]) {
        expect(await h.run(...argv)).toBe(EXIT.rolloutFailed);
        expect(h.stderr.text.split("\n")[0]).toBe(`error: environment demo is locked: ${who}`);
      }
      expect([h.calls, h.destroyed]).toEqual([[], []]);
    } finally {
      await held.release();
    }
  });

  it("destroy needs --yes, and records in the file that nothing runs", async () => {
    const h = harness("destroy");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(await h.run("rollout", ":v2")).toBe(EXIT.ok);
    expect(h.fileState()).toEqual({ live: "green", blue: "longshore-demo:v1", green: "longshore-demo:v2" });
    expect(await h.run("destroy")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --yes: destroy removes every host of the environment: confirm with --yes\n");
    expect(h.destroyed).toEqual([]);
    expect(await h.run("destroy", "--yes")).toBe(EXIT.ok);
    expect(h.destroyed).toEqual(["demo"]);
    expect(h.stdout.text).toBe("environment demo: removed (demo-blue-g1)\n");
    expect(h.fileState()).toEqual({ live: null, blue: null, green: null });
    expect(readFileSync(h.file, "utf8")).toContain("  image: longshore-demo:v1\n");
    expect(await h.run("destroy", "--yes", "--json")).toBe(EXIT.ok);
    expect(JSON.parse(h.stdout.text)).toEqual({ environment: "demo", removed: ["demo-blue-g1"] });
  });

  it("destroy with accessory data refuses without --keep-data or --delete-data (nothing removed), and passes the one given to the driver", async () => {
    const h = harness("destroy-data");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    const asked: unknown[] = [];
    const destroy = h.deps.destroyEnvironment;
    h.deps.accessoryData = () => ["/state/demo.data/db"];
    h.deps.destroyEnvironment = async (env, progress, options) => {
      asked.push(options);
      return destroy(env, progress, options);
    };
    expect(await h.run("destroy", "--yes")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      "error: command line is invalid (1 problem):\n  --keep-data or --delete-data: is required: the accessories' data is in /state/demo.data/db; --keep-data removes their machines and keeps it (a later up uses it again), --delete-data removes it too\n",
    );
    expect(await h.run("destroy", "--yes", "--keep-data", "--delete-data")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --keep-data: and --delete-data contradict each other: pass one of them\n");
    expect(h.destroyed).toEqual([]);
    expect(await h.run("destroy", "--yes", "--keep-data", "--json")).toBe(EXIT.ok);
    expect(JSON.parse(h.stdout.text)).toEqual({ environment: "demo", removed: ["demo-blue-g1"], data: { kept: ["/state/demo.data/db"], deleted: [] } });
    expect(await h.run("destroy", "--yes", "--delete-data")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe("environment demo: removed (demo-blue-g1)\naccessory data removed: /state/demo.data/db\n");
    expect(asked).toEqual([{ data: "keep" }, { data: "delete" }]);
  });

  it("status shows slots, hosts, health and the live slot; --json gives the same as one document", async () => {
    const h = harness("status", { probe: (s) => s === "blue" });
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(await h.run("status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      [
        "environment demo (local)  live: blue  url: http://127.0.0.1:8080/",
        "blue (live): longshore-demo:v1, 2 hosts",
        "  blue-1                   10.0.0.0        healthy                 host key ok",
        "  blue-2                   10.0.0.1        unknown                 host key ok",
        "green: no image, 0 hosts",
        "engines: not read (this driver does not read its hosts' engines)",
        "",
      ].join("\n"),
    );
    expect(await h.run("status", "--json")).toBe(EXIT.ok);
    const doc = JSON.parse(h.stdout.text);
    // Without the driver's engine reader each host's entry says why, and the keys come from checkHostKeys.
    expect(doc.engines).toEqual({
      blue: ["blue-1", "blue-2"].map((host) => ({ host, hostKey: { state: "match", detail: "presented the pinned key" }, reason: "not read: this driver does not read its hosts' engines" })),
      green: [],
    });
    expect([doc.environment, doc.driver, doc.live, doc.slots.blue.image, doc.health.blue, doc.health.green]).toEqual([
      "demo",
      "local",
      "blue",
      "longshore-demo:v1",
      [{ host: "blue-1", ok: true, status: 200, detail: "ok" }],
      [{ host: "green-1", ok: false, status: 404, detail: "longshore demo broken: unhealthy" }],
    ]);
  });

  it("status names the host image a host booted from (and --json carries it as hostImage)", () => {
    const parsed = parseEnvironment("name: demo\napp: { name: demo, image: longshore-demo:v1 }\nslots: { blue: { image: longshore-demo:v1 } }\nlive: blue\n");
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const hosts = [
      { name: "blue-1", address: "10.0.0.1", image: "longshore-demo:v1", hostImage: "0123456789abcdef" },
      { name: "blue-2", address: "10.0.0.2", image: "longshore-demo:v1" },
    ];
    const text = statusText(
      parsed.value,
      { live: "blue", url: "http://127.0.0.1:8080/", slots: { blue: { image: "longshore-demo:v1", hosts }, green: { image: null, hosts: [] } } },
      { blue: [], green: [] },
      { blue: hosts.map((x) => ({ host: x.name, state: "match" as const, detail: "" })), green: [] },
    );
    expect(text.split("\n").slice(2, 4)).toEqual([
      "  blue-1                   10.0.0.1        unknown                 host key ok  host image 0123456789abcdef",
      "  blue-2                   10.0.0.2        unknown                 host key ok",
    ]);
  });

  it("status checks each host's SSH host key against its pin: a healthy host whose key changed is not just healthy", async () => {
    const h = harness("status-keys");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    h.keys.set("blue-1", { state: "mismatch", detail: "presented SHA256:AAAA, pinned SHA256:BBBB" });
    h.keys.set("blue-2", { state: "unreachable", detail: "blue-2: connecting to 10.0.0.1:22: connect ECONNREFUSED 10.0.0.1:22" });
    expect(await h.run("status")).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      [
        "environment demo (local)  live: blue  url: http://127.0.0.1:8080/",
        "blue (live): longshore-demo:v1, 2 hosts",
        "  blue-1                   10.0.0.0        healthy                 HOST KEY MISMATCH",
        "  blue-2                   10.0.0.1        unknown                 host key not checked (unreachable)",
        "green: no image, 0 hosts",
        "engines: not read (this driver does not read its hosts' engines)",
        "warning: blue-1's SSH host key does not match its pin (presented SHA256:AAAA, pinned SHA256:BBBB): longshore will not connect to it; unless the host was rebuilt, treat this as an attack",
        "",
      ].join("\n"),
    );
    expect(h.calls.filter((c) => c.startsWith("keys"))).toEqual(["keys blue", "keys green"]);
    expect(await h.run("status", "--json")).toBe(EXIT.ok);
    expect(JSON.parse(h.stdout.text).hostKeys).toEqual({
      blue: [
        { host: "blue-1", state: "mismatch", detail: "presented SHA256:AAAA, pinned SHA256:BBBB" },
        { host: "blue-2", state: "unreachable", detail: "blue-2: connecting to 10.0.0.1:22: connect ECONNREFUSED 10.0.0.1:22" },
      ],
      green: [],
    });
  });

  it("the audit log beside the file names the operator: $LONGSHORE_OPERATOR, else git's user.email there, else user@host", async () => {
    const h = harness("operator");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    const audit = () =>
      readFileSync(path.join(h.cwd, "demo.audit.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { who: string; action: string; event: string });
    h.deps.env = { LONGSHORE_OPERATOR: "deploy-bot" };
    h.gitEmail.value = "alice@example.com";
    expect(await h.run("up")).toBe(EXIT.ok);
    h.deps.env = {};
    expect(await h.run("rollout", ":v2")).toBe(EXIT.ok);
    h.gitEmail.value = null;
    expect(await h.run("rollback")).toBe(EXIT.ok);
    expect(audit().map((l) => [l.action, l.event, l.who])).toEqual([
      ["up", "started", "deploy-bot"],
      ["up", "finished", "deploy-bot"],
      ["rollout", "started", "alice@example.com"],
      ["rollout", "finished", "alice@example.com"],
      ["rollback", "started", "me@laptop"],
      ["rollback", "finished", "me@laptop"],
    ]);
    // git is asked in the environment file's directory, whose repository the audit log is committed to.
    expect(new Set(h.gitAsked)).toEqual(new Set([h.cwd]));
  });

  it("rollback after a rollout puts the previous image live and records it in the file", async () => {
    const h = harness("rollback");
    writeFileSync(h.file, fastEnv("longshore-demo:v1"));
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(await h.run("rollout", "longshore-demo:v2")).toBe(EXIT.ok);
    expect(await h.run("rollback")).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n")[0]).toBe("longshore-demo:v1 is live on blue");
    expect(h.state.live).toBe("blue");
    expect(h.fileState()).toEqual({ live: "blue", blue: "longshore-demo:v1", green: "longshore-demo:v2" });
  });
});

describe("check", () => {
  const SHOP = `name: shop
app:
  name: shop
  image: reg.example/shop/web:v1
  volumes: [/srv/shop/uploads:/uploads, cache:/cache:ro]
  secrets:
    DB_PASSWORD: { env: SHOP_DB_PASSWORD }
    API_KEY: { file: api.key }
    SIGNING_KEY: { command: [printf, s3cret-signing] }
registry:
  server: reg.example
  username: deploy
  password: { env: REG_PASSWORD }
`;
  const VALUES = ["hunter2-db", "k3y-from-file", "s3cret-signing", "regpw-0451"];
  const shop = (name: string, vars: Record<string, string> = { SHOP_DB_PASSWORD: VALUES[0]!, REG_PASSWORD: VALUES[3]! }) => {
    const h = harness(name, { vars });
    writeFileSync(h.file, SHOP);
    writeFileSync(path.join(h.cwd, "api.key"), `${VALUES[1]}\n`, { mode: 0o600 });
    chmodSync(path.join(h.cwd, "api.key"), 0o600);
    return h;
  };

  it("checks what app.imageFrom names: an archive read whole (layers against diff_ids) into the blob cache; a missing archive or no engine is exit 2 at app.imageFrom", async () => {
    const h = harness("check-image-from");
    h.deps.env = { LONGSHORE_CACHE_DIR: path.join(h.cwd, "cache") };
    const v1 = demoImage("v1");
    writeFileSync(path.join(h.cwd, "app.tar"), v1.archive);
    const text = (from: string) => `name: shop\napp:\n  name: shop\n  image: longshore-demo:v1\n  imageFrom: ${from}\n`;
    writeFileSync(h.file, text("{ archive: ./app.tar }"));
    expect(await h.run("check"), h.stderr.text).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n")[1]).toBe(`  app.imageFrom: archive ${path.join(h.cwd, "app.tar")}: longshore-demo:v1 is ${v1.imageId}, 1 layer, each checked against its diff_id`);
    writeFileSync(h.file, text("{ archive: ./missing.tar }"));
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text).toContain(`  app.imageFrom: ${path.join(h.cwd, "missing.tar")} does not exist`);
    writeFileSync(h.file, text("engine"));
    h.deps.env = { LONGSHORE_CACHE_DIR: path.join(h.cwd, "cache"), DOCKER_HOST: `unix://${path.join(h.cwd, "no.sock")}` };
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text).toContain(`  app.imageFrom: no container engine answers at ${path.join(h.cwd, "no.sock")} (ENOENT), so the image longshore-demo:v1 cannot be read from it`);
  });

  it("prints the environment resolved, every secret only as [redacted] with its source", async () => {
    const h = shop("check-text");
    expect(await h.run("check")).toBe(EXIT.ok);
    const lines = h.stdout.text.split("\n");
    expect(lines.slice(0, 8)).toEqual([
      "longshore.yaml: ok",
      "  app.secrets.DB_PASSWORD: read from env SHOP_DB_PASSWORD",
      "  app.secrets.API_KEY: read from file api.key",
      "  app.secrets.SIGNING_KEY: read from command printf",
      "  registry.password: read from env REG_PASSWORD",
      "",
      "# resolved, defaults filled in, secrets redacted:",
      "name: shop",
    ]);
    const yaml = h.stdout.text.slice(h.stdout.text.indexOf("name: shop"));
    expect(yaml).toContain(
      [
        "  env: {}",
        "  secrets:",
        "    DB_PASSWORD:",
        "      from: env SHOP_DB_PASSWORD",
        '      value: "[redacted]"',
        "    API_KEY:",
        "      from: file api.key",
        '      value: "[redacted]"',
        "    SIGNING_KEY:",
        "      from: command printf",
        '      value: "[redacted]"',
        "  volumes:",
        "    - /srv/shop/uploads:/uploads",
        "    - cache:/cache:ro",
      ].join("\n"),
    );
    expect(yaml).toContain(["registry:", "  server: reg.example", "  username: deploy", "  password:", "    from: env REG_PASSWORD", '    value: "[redacted]"'].join("\n"));
    expect(yaml).toContain("live: null\nrollout:\n  healthDeadlineSeconds: 120\n  soakSeconds: 30\n  drainSeconds: 5\n  keepPrevious: true\nlocal:\n  listen: 127.0.0.1:8080\n");
    for (const v of VALUES) expect(h.stdout.text + h.stderr.text).not.toContain(v);
    expect([h.targets, h.calls]).toEqual([[], []]);
  });

  it("--json: one document, the same redaction, each secret's source and status", async () => {
    const h = shop("check-json");
    expect(await h.run("check", "--json")).toBe(EXIT.ok);
    const doc = JSON.parse(h.stdout.text);
    expect([doc.ok, doc.file, doc.checked]).toEqual([true, "longshore.yaml", []]);
    expect(doc.secrets).toEqual([
      { path: "app.secrets.DB_PASSWORD", source: "env SHOP_DB_PASSWORD", status: "read" },
      { path: "app.secrets.API_KEY", source: "file api.key", status: "read" },
      { path: "app.secrets.SIGNING_KEY", source: "command printf", status: "read" },
      { path: "registry.password", source: "env REG_PASSWORD", status: "read" },
    ]);
    expect(doc.environment.app.secrets).toEqual({
      DB_PASSWORD: { from: "env SHOP_DB_PASSWORD", value: "[redacted]" },
      API_KEY: { from: "file api.key", value: "[redacted]" },
      SIGNING_KEY: { from: "command printf", value: "[redacted]" },
    });
    expect(doc.environment.registry).toEqual({ server: "reg.example", username: "deploy", password: { from: "env REG_PASSWORD", value: "[redacted]" } });
    expect([doc.environment.local, doc.environment.app.volumes, doc.environment.app.health]).toEqual([
      { listen: "127.0.0.1:8080" },
      ["/srv/shop/uploads:/uploads", "cache:/cache:ro"],
      { path: "/healthz", status: 200, intervalSeconds: 1, timeoutSeconds: 2, healthyRounds: 2 },
    ]);
    for (const v of VALUES) expect(h.stdout.text).not.toContain(v);
    expect(h.stderr.text).toBe("");
  });

  it("an unset env source (and every other bad source) is exit 2, naming longshore.yaml: app.secrets.X and the variable", async () => {
    const h = shop("check-unset", { REG_PASSWORD: VALUES[3]! });
    chmodSync(path.join(h.cwd, "api.key"), 0o644);
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        "error: the secrets of longshore.yaml is invalid (2 problems):",
        "  longshore.yaml: app.secrets.DB_PASSWORD: the environment variable SHOP_DB_PASSWORD is not set (source: env SHOP_DB_PASSWORD)",
        `  longshore.yaml: app.secrets.API_KEY: the file api.key (${path.join(h.cwd, "api.key")}) may be read by others (mode 0644): run chmod 600 ${path.join(h.cwd, "api.key")} (source: file api.key)`,
        "hint: Fix the sources listed; docs/environment.md (Secrets) describes them.",
        "",
      ].join("\n"),
    );
    expect(h.stdout.text).toBe("");
  });

  it("-f names another file; the issue paths use the name the user knows", async () => {
    const h = harness("check-f");
    mkdirSync(path.join(h.cwd, "envs"), { recursive: true });
    writeFileSync(path.join(h.cwd, "envs", "staging.yaml"), fastEnv("shop/web:v1", "  secrets: { K: { env: STAGING_K } }\n"));
    expect(await h.run("check", "-f", "envs/staging.yaml")).toBe(EXIT.badInput);
    expect(h.stderr.text.split("\n")[1]).toBe("  envs/staging.yaml: app.secrets.K: the environment variable STAGING_K is not set (source: env STAGING_K)");
  });

  it("a { pulumi } source on driver aws is deferred: left to pulumi up, never read", async () => {
    const h = harness("check-aws", { vars: { SHOP_API_KEY: "api-k3y" } });
    writeFileSync(
      h.file,
      `name: shop
driver: aws
app:
  name: shop
  image: shop/web:v1
  secrets:
    DB_PASSWORD: { pulumi: dbPassword }
    API_KEY: { env: SHOP_API_KEY }
aws:
  region: eu-west-1
  sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB you@laptop
  adminCidrs: [203.0.113.7/32]
`,
    );
    expect(await h.run("check")).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n").slice(0, 3)).toEqual([
      "longshore.yaml: ok",
      "  app.secrets.DB_PASSWORD: left to pulumi up: pulumi dbPassword",
      "  app.secrets.API_KEY: read from env SHOP_API_KEY",
    ]);
    expect(h.stdout.text).toContain("    DB_PASSWORD:\n      from: pulumi dbPassword\n      value: (read by pulumi up)\n");
    expect(await h.run("check", "--json")).toBe(EXIT.ok);
    const doc = JSON.parse(h.stdout.text);
    expect(doc.secrets).toEqual([
      { path: "app.secrets.DB_PASSWORD", source: "pulumi dbPassword", status: "deferred" },
      { path: "app.secrets.API_KEY", source: "env SHOP_API_KEY", status: "read" },
    ]);
    expect(doc.environment.app.secrets.DB_PASSWORD).toEqual({ from: "pulumi dbPassword", value: "(read by pulumi up)" });
    expect(h.stdout.text).not.toContain("api-k3y");
  });

  it("verifies a bundle directory the file names, and refuses a damaged one with its path", async () => {
    const h = harness("check-bundle");
    const dir = path.join(h.cwd, "bundles", "engine");
    mkdirSync(path.join(dir, DEBS_DIR), { recursive: true });
    const pkgs: BundlePackage[] = ["docker.io", "containerd", "runc", "tini"].map((name) => {
      const filename = `${name}_1.0_amd64.deb`;
      writeFileSync(path.join(dir, DEBS_DIR, filename), `deb of ${name}`);
      const body = `deb of ${name}`;
      return { name, version: "1.0", arch: "amd64", filename, size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
    });
    const manifest = createManifest(RECIPE, pkgs, "longshore/test");
    writeFileSync(path.join(dir, MANIFEST_FILE), renderManifest(manifest));
    writeFileSync(h.file, fastEnv("shop/web:v1", "engine: { bundle: ./bundles/engine }\n"));
    expect(await h.run("check")).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n")[1]).toBe(`  engine.bundle: ${dir}: ${manifest.name} ${manifest.version}, 4 packages, every sha256 verified`);
    writeFileSync(path.join(dir, DEBS_DIR, "runc_1.0_amd64.deb"), "tampered");
    expect(await h.run("check")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      [
        "error: longshore.yaml is invalid (1 problem):",
        `  longshore.yaml: engine.bundle: ${dir}/debs/runc_1.0_amd64.deb: sha256 mismatch: expected ${pkgs[2]!.sha256}, actual ${createHash("sha256").update("tampered").digest("hex")}`,
        "hint: Rebuild the bundle with `longshore engine bundle`; never edit a bundle by hand.",
        "",
      ].join("\n"),
    );
  });

  it("the demo environment checks clean", async () => {
    const h = harness("check-demo");
    writeFileSync(h.file, demoEnvironmentText("longshore-demo:v1"));
    expect(await h.run("check")).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n").slice(0, 3)).toEqual(["longshore.yaml: ok", "", "# resolved, defaults filled in, secrets redacted:"]);
  });
});

describe("rollout.beforeSwitch through the CLI", () => {
  it("prints the hook's lines as progress and a hook line in the report; a failed hook is exit 6 with its reason, and --json has it", async () => {
    const h = harness("hook");
    const inner = h.deps.environmentDriver;
    let exitCode = 0;
    h.deps.environmentDriver = async (target, progress) => {
      const d = await inner(target, progress);
      d.runHook = async (slot, spec, say) => {
        say(`${slot}-1: migrating`);
        return { host: `${slot}-1`, exitCode, durationMs: 1_500, outputTail: [`${spec.command.join(" ")}: migrating`] };
      };
      return d;
    };
    writeFileSync(h.file, fastEnv("longshore-demo:v1").replace("drainSeconds: 0 }", "drainSeconds: 0, beforeSwitch: { command: [bin/migrate, up] } }"));
    expect(await h.run("up")).toBe(EXIT.ok);
    expect(h.stderr.text).toContain("==> before-switch\n    blue-1: migrating\n<== before-switch done in ");
    expect(h.stdout.text.split("\n").map((l) => l.replace(/\d+\.\d s/, "T"))).toContain("hook: bin/migrate up on blue-1: exit 0 after T");

    exitCode = 3;
    expect(await h.run("rollout", ":v2", "--json")).toBe(EXIT.rolloutFailed);
    const report = JSON.parse(h.stdout.text);
    expect([report.outcome, report.reason, report.hook]).toEqual([
      "failed",
      "the before-switch hook `bin/migrate up` on green-1 exited 3; last output: bin/migrate up: migrating",
      { command: ["bin/migrate", "up"], host: "green-1", exitCode: 3, durationMs: 1_500, outputTail: ["bin/migrate up: migrating"] },
    ]);
    expect(h.calls.filter((c) => c.startsWith("switch"))).toEqual(["switch blue drain=0"]);
    expect(h.fileState()).toEqual({ live: "blue", blue: "longshore-demo:v1", green: null });
  });
});
