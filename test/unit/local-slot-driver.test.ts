// Unit: the local driver's slot bookkeeping with fake fleet, provisioner and balancer, and its
// probe against a real HTTP server on 127.0.0.1. Does not prove anything about real machines or
// HAProxy (the e2e rollout test does).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSlotDriver, groupName, type FleetHost } from "../../drivers/local/slot-driver";
import { DEFAULT_HEALTH, type HealthSpec } from "../../model/health";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-slots-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface SetupOptions {
  failPrepare?: boolean;
  failProvision?: boolean;
  failDestroy?: boolean;
  hostPort?: number;
  health?: HealthSpec;
  address?: string;
}

function setup(name: string, opts: SetupOptions = {}) {
  const log: string[] = [];
  const progress: string[] = [];
  let ip = 10;
  const stateDir = path.join(root, name);
  const driver = new LocalSlotDriver({
    env: "demo",
    stateDir,
    hostPort: opts.hostPort ?? 8080,
    health: opts.health ?? DEFAULT_HEALTH,
    url: "http://127.0.0.1:8080/",
    fleet: {
      async create(group, size) {
        log.push(`create ${group} x${size}`);
        return Array.from({ length: size }, (_, i): FleetHost => ({ name: `${group}-${i + 1}`, address: opts.address ?? `10.213.47.${ip++}` }));
      },
      async destroy(group) {
        log.push(`destroy ${group}`);
        if (opts.failDestroy) throw new Error("machinectl terminate failed");
      },
    },
    provisioner: {
      async prepare(image) {
        log.push(`prepare ${image}`);
        if (opts.failPrepare) throw new Error("engine.bundle: the bundle directory does not exist");
      },
      async provision(group, hosts, image, slot) {
        log.push(`provision ${image} on ${group} (${hosts.length}) as ${slot}`);
        if (opts.failProvision) throw new Error("engine.install failed");
      },
    },
    balancer: {
      async setServers(slots) {
        log.push(`lb blue=[${slots.blue.map((s) => s.name).join(",")}] green=[${slots.green.map((s) => s.name).join(",")}]`);
      },
      async activate(slot, hosts, drainMs) {
        log.push(`lb activate ${slot} [${hosts.map((h) => h.name).join(",")}] drain=${drainMs}`);
      },
    },
    async hostKeys(group, hosts) {
      log.push(`keys ${group} [${hosts.map((h) => h.name).join(",")}]`);
      return hosts.map((h) => ({ host: h.name, state: "mismatch", detail: `presented SHA256:other, pinned SHA256:${h.name}` }));
    },
  });
  return { driver, log, progress, say: (m: string) => progress.push(m), stateFile: path.join(stateDir, "slots.json") };
}

describe("LocalSlotDriver", () => {
  it("names groups by env, slot and generation", () => {
    expect(groupName("demo", "green", 3)).toBe("demo-green-g3");
  });

  it("starts empty", async () => {
    const { driver } = setup("empty");
    expect(await driver.status()).toEqual({
      live: null,
      url: "http://127.0.0.1:8080/",
      slots: { blue: { image: null, hosts: [] }, green: { image: null, hosts: [] } },
    });
  });

  /** prepare, commit, switch: what a successful rollout asks of the driver. */
  async function rollOut(driver: LocalSlotDriver, slot: "blue" | "green", image: string, size: number) {
    const hosts = await driver.prepareSlot(slot, image, size, () => {});
    await driver.commitSlot(slot, () => {});
    await driver.switchTraffic(slot, 100);
    return hosts;
  }

  it("prepares beside the kept version, removes it only on commit, and switches once the balancer checked the new hosts", async () => {
    const { driver, log } = setup("a");
    await rollOut(driver, "blue", "demo:v1", 2);
    await rollOut(driver, "green", "demo:v2", 2);
    expect(await driver.prepareSlot("blue", "demo:v3", 1, () => {})).toEqual([{ name: "demo-blue-g3-1", address: "10.213.47.14", image: "demo:v3" }]);
    // While v3 is only prepared, blue still runs (and reports) v1: the rollback target.
    expect((await driver.status()).slots.blue.image).toBe("demo:v1");
    expect((await driver.probe("blue")).map((p) => p.host)).toEqual(["demo-blue-g3-1"]);
    await driver.commitSlot("blue", () => {});
    expect(log).toEqual([
      "prepare demo:v1",
      "create demo-blue-g1 x2",
      "provision demo:v1 on demo-blue-g1 (2) as blue",
      "lb blue=[demo-blue-g1-1,demo-blue-g1-2] green=[]",
      "lb activate blue [demo-blue-g1-1,demo-blue-g1-2] drain=100",
      "prepare demo:v2",
      "create demo-green-g2 x2",
      "provision demo:v2 on demo-green-g2 (2) as green",
      "lb blue=[demo-blue-g1-1,demo-blue-g1-2] green=[demo-green-g2-1,demo-green-g2-2]",
      "lb activate green [demo-green-g2-1,demo-green-g2-2] drain=100",
      "prepare demo:v3",
      "create demo-blue-g3 x1",
      "provision demo:v3 on demo-blue-g3 (1) as blue",
      "lb blue=[demo-blue-g3-1] green=[demo-green-g2-1,demo-green-g2-2]",
      "destroy demo-blue-g1",
    ]);
    const s = await driver.status();
    expect(s.live).toBe("green");
    expect(s.slots.blue).toEqual({ image: "demo:v3", hosts: [{ name: "demo-blue-g3-1", address: "10.213.47.14", image: "demo:v3" }] });
  });

  it("discarding the prepared hosts gives the slot back its kept version, in the balancer too", async () => {
    const { driver, log } = setup("discard");
    await rollOut(driver, "blue", "demo:v1", 1);
    await rollOut(driver, "green", "demo:v2", 1);
    await driver.prepareSlot("blue", "demo:v3", 1, () => {});
    log.length = 0;
    await driver.discardPrepared("blue", () => {});
    expect(log).toEqual(["lb blue=[demo-blue-g1-1] green=[demo-green-g2-1]", "destroy demo-blue-g3"]);
    expect((await driver.status()).slots.blue).toEqual({ image: "demo:v1", hosts: [{ name: "demo-blue-g1-1", address: "10.213.47.10", image: "demo:v1" }] });
    await expect(driver.commitSlot("blue", () => {})).rejects.toThrow("the blue slot has no prepared hosts to commit");
  });

  it("a failing provisioner.prepare creates no machine group at all and keeps the slot it would have replaced", async () => {
    const ok = setup("prep");
    await rollOut(ok.driver, "blue", "demo:v1", 1);
    await ok.driver.prepareSlot("green", "demo:v2", 1, () => {});
    await ok.driver.commitSlot("green", () => {});
    const before = readFileSync(ok.stateFile, "utf8");
    const failing = setup("prep", { failPrepare: true });
    await expect(failing.driver.prepareSlot("green", "demo:v3", 1, () => {})).rejects.toThrow("engine.bundle: the bundle directory does not exist");
    expect(failing.log).toEqual(["prepare demo:v3"]);
    expect(readFileSync(ok.stateFile, "utf8")).toBe(before);
    expect((await failing.driver.status()).slots.green.image).toBe("demo:v2");
  });

  it("a failing prepare on an empty environment creates nothing", async () => {
    const { driver, log } = setup("prep-empty", { failPrepare: true });
    await expect(driver.prepareSlot("blue", "demo:v1", 2, () => {})).rejects.toThrow("engine.bundle: the bundle directory does not exist");
    expect(log).toEqual(["prepare demo:v1"]);
    expect((await driver.status()).slots).toEqual({ blue: { image: null, hosts: [] }, green: { image: null, hosts: [] } });
  });

  it("removes the machines it created when provisioning fails, and records nothing", async () => {
    const { driver, log } = setup("b", { failProvision: true });
    await expect(driver.prepareSlot("blue", "demo:v1", 1, () => {})).rejects.toThrow("engine.install failed");
    expect(log).toEqual(["prepare demo:v1", "create demo-blue-g1 x1", "provision demo:v1 on demo-blue-g1 (1) as blue", "lb blue=[] green=[]", "destroy demo-blue-g1"]);
    expect((await driver.status()).slots.blue).toEqual({ image: null, hosts: [] });
    expect((await driver.load()).slots.blue).toEqual({ image: null, group: null, hosts: [], prepared: null });
  });

  it("when removing the failed group fails too: the first error is the one thrown, and the next rollout removes the group", async () => {
    const failing = setup("d", { failProvision: true, failDestroy: true });
    await expect(failing.driver.prepareSlot("blue", "demo:v1", 1, failing.say)).rejects.toThrow("engine.install failed");
    expect(failing.progress).toEqual(["could not remove demo-blue-g1: machinectl terminate failed"]);
    expect((await failing.driver.load()).slots.blue).toEqual({ image: null, group: null, hosts: [], prepared: { image: null, group: "demo-blue-g1", hosts: [{ name: "demo-blue-g1-1", address: "10.213.47.10" }] } });
    expect((await failing.driver.status()).slots.blue).toEqual({ image: null, hosts: [] });
    const next = setup("d");
    await next.driver.prepareSlot("blue", "demo:v1", 1, () => {});
    expect(next.log).toEqual([
      "prepare demo:v1",
      "lb blue=[] green=[]",
      "destroy demo-blue-g1",
      "create demo-blue-g2 x1",
      "provision demo:v1 on demo-blue-g2 (1) as blue",
      "lb blue=[demo-blue-g2-1] green=[]",
    ]);
  });

  it("checks host keys of a slot's own group and hosts; a slot without hosts has none to check", async () => {
    const { driver, log, say } = setup("keys");
    expect(await driver.checkHostKeys("blue")).toEqual([]);
    await driver.prepareSlot("blue", "app:v1", 2, say);
    // Prepared hosts are not the slot's yet: status checks the hosts the slot has.
    expect(await driver.checkHostKeys("blue")).toEqual([]);
    await driver.commitSlot("blue", say);
    log.length = 0;
    expect(await driver.checkHostKeys("blue")).toEqual([
      { host: "demo-blue-g1-1", state: "mismatch", detail: "presented SHA256:other, pinned SHA256:demo-blue-g1-1" },
      { host: "demo-blue-g1-2", state: "mismatch", detail: "presented SHA256:other, pinned SHA256:demo-blue-g1-2" },
    ]);
    expect(await driver.checkHostKeys("green")).toEqual([]);
    expect(log).toEqual(["keys demo-blue-g1 [demo-blue-g1-1,demo-blue-g1-2]"]);
  });

  it("retires a slot that is not live", async () => {
    const { driver, log } = setup("r");
    await rollOut(driver, "blue", "demo:v1", 1);
    await rollOut(driver, "green", "demo:v2", 1);
    log.length = 0;
    await driver.retireSlot("blue", () => {});
    await driver.retireSlot("blue", () => {});
    expect(log).toEqual(["lb blue=[] green=[demo-green-g2-1]", "destroy demo-blue-g1"]);
    expect((await driver.status()).slots.blue).toEqual({ image: null, hosts: [] });
  });

  it("refuses to replace or retire the live slot", async () => {
    const { driver, log } = setup("c");
    await rollOut(driver, "blue", "demo:v1", 1);
    log.length = 0;
    await expect(driver.prepareSlot("blue", "demo:v2", 1, () => {})).rejects.toThrow("refusing to replace the live slot (blue)");
    await expect(driver.retireSlot("blue", () => {})).rejects.toThrow("refusing to retire the live slot (blue)");
    await expect(driver.switchTraffic("green", 0)).rejects.toThrow("the green slot has no hosts to send traffic to");
    expect(log).toEqual([]);
  });

  it("probes each host of a slot on hostPort with app.health's path, status and timeout", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? "");
      if (req.url === "/ready") {
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(200);
        res.end("wrong path");
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const health = { ...DEFAULT_HEALTH, path: "/ready", status: 204 };
      const { driver } = setup("p", { hostPort: port, health, address: "127.0.0.1" });
      await driver.prepareSlot("green", "demo:v1", 2, () => {});
      expect(await driver.probe("green")).toEqual([
        { host: "demo-green-g1-1", ok: true, status: 204, detail: "" },
        { host: "demo-green-g1-2", ok: true, status: 204, detail: "" },
      ]);
      expect(await driver.probe("blue")).toEqual([]);
      const wrong = setup("p", { hostPort: port, health: DEFAULT_HEALTH, address: "127.0.0.1" });
      expect(await wrong.driver.probe("green")).toEqual([
        { host: "demo-green-g1-1", ok: true, status: 200, detail: "wrong path" },
        { host: "demo-green-g1-2", ok: true, status: 200, detail: "wrong path" },
      ]);
      expect(seen).toEqual(["/ready", "/ready", "/healthz", "/healthz"]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("a probe that gets no answer within app.health.timeoutSeconds is a failed probe", async () => {
    const server = http.createServer(() => {
      // Never answers.
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const { driver } = setup("t", { hostPort: port, health: { ...DEFAULT_HEALTH, timeoutSeconds: 0.2 }, address: "127.0.0.1" });
      await driver.prepareSlot("blue", "demo:v1", 1, () => {});
      const started = Date.now();
      expect(await driver.probe("blue")).toEqual([{ host: "demo-blue-g1-1", ok: false, status: null, detail: "no answer within 200 ms" }]);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
