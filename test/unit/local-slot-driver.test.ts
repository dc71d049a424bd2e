// Unit: the local driver's slot bookkeeping with fake fleet, provisioner and balancer. Does not
// prove anything about real machines or HAProxy (the e2e rollout test does).
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSlotDriver, groupName, type FleetHost } from "../../local/slot-driver";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-slots-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function setup(name: string, opts: { failProvision?: boolean } = {}) {
  const log: string[] = [];
  let ip = 10;
  const driver = new LocalSlotDriver({
    env: "demo",
    stateDir: path.join(root, name),
    appPort: 8080,
    healthPath: "/healthz",
    url: "http://127.0.0.1:8080/",
    fleet: {
      async create(group, size) {
        log.push(`create ${group} x${size}`);
        return Array.from({ length: size }, (_, i): FleetHost => ({ name: `${group}-${i + 1}`, address: `10.213.47.${ip++}` }));
      },
      async destroy(group) {
        log.push(`destroy ${group}`);
      },
    },
    provision: async (group, hosts, image) => {
      log.push(`provision ${image} on ${group} (${hosts.length})`);
      if (opts.failProvision) throw new Error("engine.install failed");
    },
    balancer: {
      async setServers(slots) {
        log.push(`lb blue=[${slots.blue.map((s) => s.name).join(",")}] green=[${slots.green.map((s) => s.name).join(",")}]`);
      },
      async activate(slot, drainMs) {
        log.push(`lb activate ${slot} drain=${drainMs}`);
      },
    },
  });
  return { driver, log };
}

describe("LocalSlotDriver", () => {
  it("names groups by env, slot and generation", () => {
    expect(groupName("demo", "green", 3)).toBe("demo-green-g3");
  });

  it("prepares, switches and replaces the kept slot on the next rollout", async () => {
    const { driver, log } = setup("a");
    await driver.prepareSlot("blue", "demo:v1", 2, () => {});
    await driver.switchTraffic("blue", 100);
    await driver.prepareSlot("green", "demo:v2", 2, () => {});
    await driver.switchTraffic("green", 100);
    await driver.prepareSlot("blue", "demo:v3", 1, () => {});
    expect(log).toEqual([
      "create demo-blue-g1 x2",
      "provision demo:v1 on demo-blue-g1 (2)",
      "lb blue=[demo-blue-g1-1,demo-blue-g1-2] green=[]",
      "lb activate blue drain=100",
      "create demo-green-g2 x2",
      "provision demo:v2 on demo-green-g2 (2)",
      "lb blue=[demo-blue-g1-1,demo-blue-g1-2] green=[demo-green-g2-1,demo-green-g2-2]",
      "lb activate green drain=100",
      "lb blue=[] green=[demo-green-g2-1,demo-green-g2-2]",
      "destroy demo-blue-g1",
      "create demo-blue-g3 x1",
      "provision demo:v3 on demo-blue-g3 (1)",
      "lb blue=[demo-blue-g3-1] green=[demo-green-g2-1,demo-green-g2-2]",
    ]);
    const s = await driver.status();
    expect(s.live).toBe("green");
    expect(s.slots.blue).toEqual({ image: "demo:v3", hosts: [{ name: "demo-blue-g3-1", address: "10.213.47.14", image: "demo:v3" }] });
  });

  it("removes the machines it created when provisioning fails, and records nothing", async () => {
    const { driver, log } = setup("b", { failProvision: true });
    await expect(driver.prepareSlot("blue", "demo:v1", 1, () => {})).rejects.toThrow("engine.install failed");
    expect(log).toEqual(["create demo-blue-g1 x1", "provision demo:v1 on demo-blue-g1 (1)", "lb blue=[] green=[]", "destroy demo-blue-g1"]);
    expect((await driver.status()).slots.blue).toEqual({ image: null, hosts: [] });
  });

  it("refuses to replace or retire the live slot", async () => {
    const { driver } = setup("c");
    await driver.prepareSlot("blue", "demo:v1", 1, () => {});
    await driver.switchTraffic("blue", 0);
    await expect(driver.prepareSlot("blue", "demo:v2", 1, () => {})).rejects.toThrow("refusing to replace the live slot (blue)");
    await expect(driver.retireSlot("blue", () => {})).rejects.toThrow("refusing to retire the live slot (blue)");
    await expect(driver.switchTraffic("green", 0)).rejects.toThrow("the green slot has no hosts to send traffic to");
  });
});
