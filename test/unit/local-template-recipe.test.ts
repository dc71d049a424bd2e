// Does not prove: that debootstrap builds a booting system from this recipe (the e2e machines test does).
import { describe, expect, it } from "vitest";
import { customisation, DEFAULT_RECIPE, mirrorFromSources, mirrorFromSourcesList, recipeHash, recipePackages } from "../../drivers/local/template-recipe";

describe("template recipe", () => {
  it("has a stable hash that changes with packages or suite, not with package order", () => {
    const h = recipeHash(DEFAULT_RECIPE);
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(recipeHash({ ...DEFAULT_RECIPE })).toBe(h);
    expect(recipeHash({ ...DEFAULT_RECIPE, extraPackages: ["curl"] })).not.toBe(h);
    expect(recipeHash({ ...DEFAULT_RECIPE, suite: "trixie" })).not.toBe(h);
    expect(recipeHash({ ...DEFAULT_RECIPE, extraPackages: ["b-pkg", "a-pkg"] })).toBe(recipeHash({ ...DEFAULT_RECIPE, extraPackages: ["a-pkg", "b-pkg"] }));
    expect(recipePackages({ ...DEFAULT_RECIPE, extraPackages: ["sudo", "curl"] })).toEqual([
      "ca-certificates", "curl", "dbus", "iproute2", "iptables", "kmod", "openssh-server", "procps", "sudo", "systemd", "systemd-sysv",
    ]);
  });

  it("makes sshd key-only, removes the template's host keys, empties machine-id, enables networkd and the cgroup remount", () => {
    const c = customisation();
    const sshd = c.files.find((f) => f.path === "/etc/ssh/sshd_config.d/10-longshore.conf")!.content;
    expect(sshd).toContain("PasswordAuthentication no\n");
    expect(sshd).toContain("PermitRootLogin prohibit-password\n");
    expect(c.remove).toContain("/etc/ssh/ssh_host_ed25519_key");
    expect(c.remove).toContain("/etc/ssh/ssh_host_rsa_key");
    expect(c.truncate).toEqual(["/etc/machine-id"]);
    expect(c.enable).toEqual(["systemd-networkd.service", "longshore-cgroup-remount.service"]);
    const unit = c.files.find((f) => f.path.endsWith("longshore-cgroup-remount.service"))!.content;
    expect(unit).toMatch(/^Before=containerd\.service docker\.service/m);
    expect(unit).toContain("mount -o remount,bind,rw");
  });
});

describe("mirror discovery", () => {
  const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`;
  it("reads the main archive of the suite from deb822 and from sources.list", () => {
    expect(mirrorFromSources(DEB822, "bookworm")).toBe("http://deb.debian.org/debian");
    expect(mirrorFromSources(DEB822, "bookworm-security")).toBe("http://deb.debian.org/debian-security");
    // Another Debian release: the same mirror (a Debian 12 computer builds Debian 13 machines).
    expect(mirrorFromSources(DEB822, "trixie")).toBe("http://deb.debian.org/debian");
    expect(mirrorFromSources(DEB822, "noble")).toBeNull();
    expect(mirrorFromSourcesList("# x\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n", "bookworm")).toBe("http://mirror.example/debian");
  });
});
