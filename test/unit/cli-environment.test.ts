// Unit: the environment verbs end to end through the CLI program, with a scripted driver and real
// files in a temp directory. Does not prove anything about real machines (e2e does).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main";
import type { CliDeps } from "../../cli/deps";
import { EXIT } from "../../cli/exit-codes";
import { demoEnvironmentText } from "../../config/environment-file";
import { fakeDriver } from "../helpers/fake-slot-driver";
import type { SlotName } from "../../rollout/driver";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-cli-env-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class Buf {
  text = "";
  write(c: string) {
    this.text += c;
    return true;
  }
}

function harness(name: string, probe: (slot: SlotName) => boolean = () => true) {
  const cwd = path.join(root, name);
  const stdout = new Buf();
  const stderr = new Buf();
  const { driver, calls, state } = fakeDriver({ live: null }, (s) => [{ host: `${s}-1`, ok: probe(s), status: probe(s) ? 200 : 404, detail: probe(s) ? "ok" : "longshore demo broken: unhealthy" }]);
  const destroyed: string[] = [];
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
    startDemoSshd: async () => {
      throw new Error("test: no demo");
    },
    environmentDriver: async () => driver,
    destroyEnvironment: async (env) => {
      destroyed.push(env.name);
      return [`${env.name}-blue-g1`];
    },
    operationLockDir: () => path.join(cwd, "state"),
  };
  mkdirSync(cwd, { recursive: true });
  return { deps, stdout, stderr, calls, state, cwd, destroyed };
}

const fast = ["--break-lock"];

describe("environment verbs", () => {
  it("up on a fresh directory creates the demo environment and brings up v1", async () => {
    const h = harness("up");
    const code = await main(["up", ...fast], h.deps);
    expect(code).toBe(EXIT.ok);
    expect(h.stderr.text).toContain(`created ${path.join(h.cwd, "longshore.yaml")}: the local demo environment (longshore-demo:v1)`);
    expect(h.calls[0]).toBe("prepare blue longshore-demo:v1 x2");
    expect(h.stdout.text.split("\n")[0]).toBe("longshore-demo:v1 is live on blue");
    expect(h.stdout.text).toContain("url: http://127.0.0.1:8080/");
    const file = readFileSync(path.join(h.cwd, "longshore.yaml"), "utf8");
    expect(file).toContain("live: blue");
    // A second up has nothing to do.
    const again = await main(["up"], h.deps);
    expect(again).toBe(EXIT.ok);
    expect(h.stdout.text).toContain("blue is live and runs longshore-demo:v1: nothing to do");
  }, 60_000);

  it("rollout to a broken image exits non-zero and names the failing probe", async () => {
    const h = harness("broken", (s) => s === "blue");
    // A short deadline: the gate gives up after 3 s instead of the demo's two minutes (still room
    // for the two healthy rounds `up` needs at one round a second, even on a loaded machine).
    writeFileSync(
      path.join(h.cwd, "longshore.yaml"),
      demoEnvironmentText("longshore-demo:v1").replace("healthDeadlineSeconds: 120", "healthDeadlineSeconds: 3"),
    );
    await main(["up"], h.deps);
    h.stdout.text = "";
    const code = await main(["rollout", "longshore-demo:broken", "--json"], h.deps);
    expect(code).toBe(EXIT.rolloutFailed);
    const report = JSON.parse(h.stdout.text);
    expect(report.outcome).toBe("failed");
    expect(report.failedProbes).toEqual([{ host: "green-1", ok: false, status: 404, detail: "longshore demo broken: unhealthy" }]);
    expect(h.state.live).toBe("blue");
  }, 60_000);

  it("reports a bad environment file with every problem and exit code 2, touching nothing", async () => {
    const h = harness("bad");
    writeFileSync(path.join(h.cwd, "longshore.yaml"), "name: x\napp: { name: x, port: 0 }\nslots: { blue: { image: 'A B' } }\n");
    const code = await main(["rollout", "x:v2"], h.deps);
    expect(code).toBe(EXIT.badInput);
    expect(h.stderr.text).toContain("slots.blue.image: must not contain whitespace");
    expect(h.stderr.text).toContain("app.port:");
    expect(h.calls).toEqual([]);
  });

  it("destroy needs --yes", async () => {
    const h = harness("destroy");
    await main(["up"], h.deps);
    expect(await main(["destroy"], h.deps)).toBe(EXIT.badInput);
    expect(h.destroyed).toEqual([]);
    expect(await main(["destroy", "--yes"], h.deps)).toBe(EXIT.ok);
    expect(h.destroyed).toEqual(["demo"]);
    expect(h.stdout.text).toContain("environment demo: removed (demo-blue-g1)");
  }, 60_000);

  it("status shows slots, hosts, health and the live slot; --json gives the same as one document", async () => {
    const h = harness("status", (s) => s === "blue");
    await main(["up"], h.deps);
    h.stdout.text = "";
    expect(await main(["status"], h.deps)).toBe(EXIT.ok);
    expect(h.stdout.text).toBe(
      [
        "environment demo (local)  live: blue  url: http://127.0.0.1:8080/",
        "blue (live): longshore-demo:v1, 2 hosts",
        "  blue-1                   10.0.0.0        healthy",
        "  blue-2                   10.0.0.1        unknown",
        "green: no image, 0 hosts",
        "",
      ].join("\n"),
    );
    h.stdout.text = "";
    expect(await main(["status", "--json"], h.deps)).toBe(EXIT.ok);
    const doc = JSON.parse(h.stdout.text);
    expect([doc.environment, doc.live, doc.slots.blue.image, doc.health.blue[0].ok]).toEqual(["demo", "blue", "longshore-demo:v1", true]);
  }, 60_000);

  it("rollback after a rollout puts the previous image live and records it in the file", async () => {
    const h = harness("rollback");
    writeFileSync(path.join(h.cwd, "longshore.yaml"), demoEnvironmentText("longshore-demo:v1").replace("soakSeconds: 10", "soakSeconds: 0"));
    await main(["up"], h.deps);
    expect(await main(["rollout", "longshore-demo:v2"], h.deps)).toBe(EXIT.ok);
    h.stdout.text = "";
    expect(await main(["rollback"], h.deps)).toBe(EXIT.ok);
    expect(h.stdout.text.split("\n")[0]).toBe("longshore-demo:v1 is live on blue");
    expect(h.state.live).toBe("blue");
    expect(readFileSync(path.join(h.cwd, "longshore.yaml"), "utf8")).toContain("live: blue");
  }, 60_000);
});
