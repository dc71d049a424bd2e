// Unit: the local driver's slot bookkeeping with fake fleet, provisioner and balancer. Does not
// prove anything about real machines or HAProxy (the e2e rollout test does).
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalSlotDriver, machineNames, type FleetHost } from "../../local/slot-driver";

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
      async create(names) {
        log.push(`create ${names.join(",")}`);
        return names.map((n): FleetHost => ({ name: n, address: `10.213.47.${ip++}` }));
      },
      async destroy(names) {
        log.push(`destroy ${names.join(",")}`);
      },
    },
    provision: async (hosts, image) => {
      log.push(`provision ${image} on ${hosts.length}`);
      if (opts.failProvision) throw new Error("engine.install failed");
    },
    balancer: {
      async setSlotServers(slot, servers) {
        log.push(`lb ${slot}=[${servers.map((s) => s.name).join(",")}]`);
      },
      async activate(slot, drainMs) {
        log.push(`lb activate ${slot} drain=${drainMs}`);
      },
    },
  });
  return { driver, log };
}

describe("LocalSlotDriver", () => {
  it("names machines by env, slot and generation", () => {
    expect(machineNames("demo", "green", 3, 2)).toEqual(["demo-green-g3-1", "demo-green-g3-2"]);
  });

  it("prepares, switches and replaces the kept slot on the next rollout", async () => {
    const { driver, log } = setup("a");
    await driver.prepareSlot("blue", "demo:v1", 2, () => {});
    await driver.switchTraffic("blue", 100);
    await driver.prepareSlot("green", "demo:v2", 2, () => {});
    await driver.switchTraffic("green", 100);
    await driver.prepareSlot("blue", "demo:v3", 1, () => {});
    expect(log).toEqual([
      "create demo-blue-g1-1,demo-blue-g1-2",
      "provision demo:v1 on 2",
      "lb blue=[demo-blue-g1-1,demo-blue-g1-2]",
      "lb activate blue drain=100",
      "create demo-green-g2-1,demo-green-g2-2",
      "provision demo:v2 on 2",
      "lb green=[demo-green-g2-1,demo-green-g2-2]",
      "lb activate green drain=100",
      "lb blue=[]",
      "destroy demo-blue-g1-1,demo-blue-g1-2",
      "create demo-blue-g3-1",
      "provision demo:v3 on 1",
      "lb blue=[demo-blue-g3-1]",
    ]);
    const s = await driver.status();
    expect(s.live).toBe("green");
    expect(s.slots.blue).toEqual({ image: "demo:v3", hosts: [{ name: "demo-blue-g3-1", address: "10.213.47.14", image: "demo:v3" }] });
  });

  it("removes the machines it created when provisioning fails, and records nothing", async () => {
    const { driver, log } = setup("b", { failProvision: true });
    await expect(driver.prepareSlot("blue", "demo:v1", 1, () => {})).rejects.toThrow("engine.install failed");
    expect(log).toEqual(["create demo-blue-g1-1", "provision demo:v1 on 1", "lb blue=[]", "destroy demo-blue-g1-1"]);
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
