// Does not prove: that iptables accepts these rules or that the kernel forwards with them (the e2e machine-to-machine test does).
import { describe, expect, it } from "vitest";
import { bridgeForwardRules, inotifyNeeded } from "../../drivers/local/network";
import { networkdFile } from "../../drivers/local/machine";

describe("host network decisions", () => {
  it("accepts forwarding on the bridge, tagged with the environment so exactly these rules are removed", () => {
    expect(bridgeForwardRules("longshore0", "demo")).toEqual([
      { table: "filter", chain: "FORWARD", spec: ["-i", "longshore0", "-o", "longshore0", "-m", "comment", "--comment", "longshore:demo", "-j", "ACCEPT"], phase: "intent" },
    ]);
  });

  it("raises the inotify instance limit only when many machines run", () => {
    expect(inotifyNeeded(3, 128)).toBeNull();
    expect(inotifyNeeded(8, 128)).toBe(1024);
    expect(inotifyNeeded(100, 128)).toBe(1600);
    expect(inotifyNeeded(8, 8192)).toBeNull();
  });

  it("gives host0 its static address through systemd-networkd", () => {
    expect(networkdFile("10.213.47.10", 24, "10.213.47.1")).toBe(
      "# Written by longshore.\n[Match]\nName=host0\n\n[Network]\nAddress=10.213.47.10/24\nGateway=10.213.47.1\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
    );
  });
});
