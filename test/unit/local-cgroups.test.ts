// Does not prove: that the kernel lets a process join these cgroups (the e2e machines test does).
import { describe, expect, it } from "vitest";
import { machineCgroupDirs, parseCgroupHierarchies } from "../../drivers/local/cgroups";

const MOUNTINFO = `25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 31 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
35 31 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
36 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
40 31 0:27 / /mnt/cpu\\040again rw,relatime - cgroup cgroup rw,cpu
`;
const PROC_SELF_CGROUP = `4:memory:/process_api/abc
3:cpuset:/
2:name=systemd:/
1:cpu:/
0::/
`;

describe("parseCgroupHierarchies", () => {
  it("lists each hierarchy once with the caller's own path in it", () => {
    expect(parseCgroupHierarchies(MOUNTINFO, PROC_SELF_CGROUP)).toEqual([
      { controllers: "cpu", mountPoint: "/sys/fs/cgroup/cpu", ownPath: "/" },
      { controllers: "memory", mountPoint: "/sys/fs/cgroup/memory", ownPath: "/process_api/abc" },
      { controllers: "name=systemd", mountPoint: "/sys/fs/cgroup/systemd", ownPath: "/" },
      { controllers: "", mountPoint: "/sys/fs/cgroup/unified", ownPath: "/" },
      { controllers: "cpuset", mountPoint: "/sys/fs/cgroup/cpuset", ownPath: "/" },
    ]);
  });

  it("puts each machine under the caller's cgroup, in longshore/<env>/<machine>", () => {
    const h = parseCgroupHierarchies(MOUNTINFO, PROC_SELF_CGROUP);
    expect(machineCgroupDirs(h, "demo", "ls-47-10")).toEqual([
      "/sys/fs/cgroup/cpu/longshore/demo/ls-47-10",
      "/sys/fs/cgroup/memory/process_api/abc/longshore/demo/ls-47-10",
      "/sys/fs/cgroup/systemd/longshore/demo/ls-47-10",
      "/sys/fs/cgroup/unified/longshore/demo/ls-47-10",
      "/sys/fs/cgroup/cpuset/longshore/demo/ls-47-10",
    ]);
  });
});
