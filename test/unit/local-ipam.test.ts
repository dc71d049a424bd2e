// Does not prove: that two processes serialise on the shared lock (the lock test and e2e runs do).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { addUser, allocateAddresses, dropVanishedUsers, emptySharedState, machineCount, planBridge, planLeave, releaseAddresses, removeUser, type SharedState } from "../../drivers/local/ipam";

const CIDR = "10.213.47.0/24";

describe("allocateAddresses", () => {
  it("hands out the lowest free addresses and keeps them on a re-run", () => {
    let s = addUser(emptySharedState(), "/a/state.json", "a", "t");
    const first = allocateAddresses(s, CIDR, "/a/state.json", ["a-1", "a-2"]);
    expect(first.addresses).toEqual({ "a-1": "10.213.47.10", "a-2": "10.213.47.11" });
    s = first.state;
    const again = allocateAddresses(s, CIDR, "/a/state.json", ["a-1", "a-2", "a-3"]);
    expect(again.addresses).toEqual({ "a-1": "10.213.47.10", "a-2": "10.213.47.11", "a-3": "10.213.47.12" });
    const other = allocateAddresses(again.state, CIDR, "/b/state.json", ["a-1"]);
    expect(other.addresses).toEqual({ "a-1": "10.213.47.13" });
    expect(machineCount(other.state)).toBe(4);
  });

  it("reuses a freed address and refuses when the pool is exhausted", () => {
    const small = "10.1.2.0/28"; // .10 .. .14: 5 addresses
    let s = allocateAddresses(emptySharedState(), small, "u", ["m1", "m2", "m3"]).state;
    s = releaseAddresses(s, "u", ["m2"]);
    expect(allocateAddresses(s, small, "v", ["x"]).addresses).toEqual({ x: "10.1.2.11" });
    expect(() => allocateAddresses(s, small, "v", ["x", "y", "z", "w"])).toThrow(ConfigError);
    expect(() => allocateAddresses(s, small, "v", ["x", "y", "z", "w"])).toThrow(
      "4 more machine(s) asked for but only 3 address(es) are free in 10.1.2.0/28",
    );
  });

  it("never gives one address to two machines (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("u1", "u2", "u3"), fc.integer({ min: 1, max: 6 }), fc.boolean()), { maxLength: 30 }), (ops) => {
        let s = emptySharedState();
        for (const [user, n, release] of ops) {
          if (release) s = removeUser(s, user);
          else s = allocateAddresses(addUser(s, user, user, "t"), CIDR, user, Array.from({ length: n }, (_, i) => `m${i}`)).state;
        }
        const owners = Object.values(s.allocations).map((o) => `${o.user}/${o.machine}`);
        expect(new Set(owners).size).toBe(owners.length);
      }),
    );
  });
});

describe("users", () => {
  it("removing a user frees its addresses; vanished state files are forgotten", () => {
    let s = addUser(emptySharedState(), "/a", "a", "t");
    s = addUser(s, "/b", "b", "t");
    s = allocateAddresses(s, CIDR, "/a", ["a-1"]).state;
    s = allocateAddresses(s, CIDR, "/b", ["b-1"]).state;
    expect(Object.keys(removeUser(s, "/a").allocations)).toEqual(["10.213.47.11"]);
    const gc = dropVanishedUsers(s, (f) => f === "/b");
    expect(Object.keys(gc.users)).toEqual(["/b"]);
    expect(gc.allocations).toEqual({ "10.213.47.11": { user: "/b", machine: "b-1" } });
  });
});

describe("planBridge / planLeave", () => {
  const want = { name: "longshore0", cidr: CIDR, gateway: "10.213.47.1", prefix: 24 };
  it("creates a missing bridge, adopts a matching foreign one, refuses a foreign one with other addresses", () => {
    expect(planBridge(emptySharedState(), null, want)).toEqual({ action: "create", bridge: { name: "longshore0", cidr: CIDR, gateway: "10.213.47.1", createdByLongshore: true } });
    expect(planBridge(emptySharedState(), ["10.213.47.1/24"], want)).toEqual({ action: "adopt", bridge: { name: "longshore0", cidr: CIDR, gateway: "10.213.47.1", createdByLongshore: false } });
    expect(planBridge(emptySharedState(), ["192.168.9.1/24"], want)).toEqual({
      action: "refuse",
      path: "--bridge",
      message: "a link named longshore0 exists with addresses [192.168.9.1/24], not 10.213.47.1/24; longshore will not change it",
    });
    const shared = { ...emptySharedState(), bridge: { name: "longshore0", cidr: CIDR, gateway: "10.213.47.1", createdByLongshore: true } };
    expect(planBridge(shared, ["10.213.47.1/24"], want)).toEqual({ action: "use" });
    expect(planBridge(shared, ["10.213.47.1/24"], { ...want, cidr: "10.213.48.0/24" })).toEqual({
      action: "refuse",
      path: "--subnet",
      message: "the local bridge longshore0 already serves 10.213.47.0/24 for other environments",
    });
  });

  it("the last environment out removes only a bridge longshore created, and restores sysctls", () => {
    const sysctl = { key: "fs.inotify.max_user_instances", previous: "128", value: "1024" };
    let s: SharedState = { ...emptySharedState(), bridge: { name: "longshore0", cidr: CIDR, gateway: "10.213.47.1", createdByLongshore: true }, sysctls: [sysctl] };
    s = allocateAddresses(addUser(addUser(s, "/a", "a", "t"), "/b", "b", "t"), CIDR, "/a", ["a-1"]).state;
    s = allocateAddresses(s, CIDR, "/b", ["b-1"]).state;
    const first = planLeave(s, "/a", () => true);
    expect([first.removeBridge, first.restoreSysctls, Object.keys(first.state.users)]).toEqual([null, [], ["/b"]]);
    const last = planLeave(first.state, "/b", () => true);
    expect([last.removeBridge, last.restoreSysctls, last.state]).toEqual(["longshore0", [sysctl], emptySharedState()]);
    const foreign = { ...first.state, bridge: { ...first.state.bridge!, createdByLongshore: false } };
    expect(planLeave(foreign, "/b", () => true).removeBridge).toBeNull();
  });
});
