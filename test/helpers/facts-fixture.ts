/** Fixture output of the facts script (as a Debian 12 host with systemd and docker would print it). */

/** Builds facts-script output from sections. */
export function factsOutput(sections: Record<string, string>): string {
  return Object.entries(sections)
    .map(([k, v]) => `\n@@longshore-facts:${k}@@\n${v}`)
    .join("");
}

export const DEBIAN_OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`;

export const MEMINFO = `MemTotal:       24684084 kB
MemAvailable:   24207884 kB
`;

/** A complete output: Debian 12, amd64, cgroup v2, systemd, docker 24.0.7. */
export const FULL_FACTS_OUTPUT = factsOutput({
  "os-release": DEBIAN_OS_RELEASE,
  "uname-m": "x86_64\n",
  "uname-r": "6.1.0-18-amd64\n",
  cgroup: "cgroup2fs\n",
  init: "systemd\n",
  systemd: "yes\n",
  "dpkg-arch": "amd64\n",
  "engine-package": "docker.io ii 20.10.24+dfsg1-1+deb12u1+b6\ndocker-ce un \n",
  df: "       Avail\n84649213952\n",
  meminfo: MEMINFO,
  docker: "cli\n24.0.7\n",
  end: "",
});

/** The HostFacts that FULL_FACTS_OUTPUT parses to. */
export const FULL_FACTS = {
  os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)", codename: "bookworm" },
  arch: "amd64",
  machine: "x86_64",
  dpkgArch: "amd64",
  kernel: "6.1.0-18-amd64",
  cgroup: "v2",
  init: "systemd",
  initProcess: "systemd",
  systemdBooted: true,
  diskFreeBytes: 84649213952,
  memory: { totalBytes: 25276502016, availableBytes: 24788873216 },
  engine: { name: "docker", version: "24.0.7" },
  enginePackage: { name: "docker.io", version: "20.10.24+dfsg1-1+deb12u1+b6" },
} as const;
