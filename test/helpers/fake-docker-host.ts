/**
 * A scripted Debian host for unit tests of whole provisioning runs: FakeTransport rules that answer
 * the facts probe and each engine/app step's commands from a small state (installed, running,
 * the drop-ins systemd loaded and the config record its recorder writes at each start, images, the
 * container's inspect line, the audit log). It proves nothing about
 * real hosts, docker or apt: it only lets tests observe what ran, in which order, and how often.
 */
import { engineConfigDigestOf } from "../../provisioner/steps/engine-configure";
import { FakeTransport, newHostState, type FakeHostState, type FakeRule } from "./fake-transport";

/** The simulated host's state. */
export interface DockerHostState {
  base: FakeHostState;
  verifiedBundles: Set<string>;
  installed: boolean;
  active: boolean;
  /** /var/lib/longshore/engine/running-config as systemd's recorder writes it (lines), or null. */
  record: string[] | null;
  /** The daemon.json the running dockerd read (null: none, or not running). */
  runningDaemonJson: string | null;
  /** The docker.service drop-ins (path -> content) systemd loaded at the last daemon-reload. */
  loadedDropIns: Map<string, string>;
  images: Set<string>;
  /** The blob store's blobs (hex), as the layered delivery fills it. */
  blobs: Set<string>;
  /** The `docker inspect` line of the app's container, or null when there is none. */
  container: string | null;
  /** Every time a container was (re)created. */
  containerRuns: number;
  engineRestarts: number;
  audit: string[];
  healthy: boolean;
  /** What engine.install's script writes to stderr (e.g. a progress line). */
  installProgress?: string;
  /** The facts probe's os-release, architecture and systemd answers. */
  facts: { codename: string; dpkgArch: string; systemd: boolean };
}

export function newDockerHost(): DockerHostState {
  return {
    base: newHostState(),
    verifiedBundles: new Set(),
    installed: false,
    active: false,
    record: null,
    runningDaemonJson: null,
    loadedDropIns: new Map(),
    images: new Set(),
    blobs: new Set(),
    container: null,
    containerRuns: 0,
    engineRestarts: 0,
    audit: [],
    healthy: true,
    facts: { codename: "bookworm", dpkgArch: "amd64", systemd: true },
  };
}

function factsOutput(h: DockerHostState): string {
  const s = (name: string, body: string) => `\n@@longshore-facts:${name}@@\n${body}`;
  return [
    s("os-release", `ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=${h.facts.codename}\n`),
    s("uname-m", "x86_64\n"),
    s("uname-r", "6.1.0\n"),
    s("cgroup", "tmpfs\n"),
    s("init", h.facts.systemd ? "systemd\n" : "sh\n"),
    s("systemd", h.facts.systemd ? "yes\n" : "no\n"),
    s("dpkg-arch", `${h.facts.dpkgArch}\n`),
    s("engine-package", h.installed ? "docker.io ii 20.10.24+dfsg1-1+deb12u1+b6\n" : ""),
    s("df", "Avail\n1000000000\n"),
    s("meminfo", "MemTotal: 2000 kB\nMemAvailable: 1000 kB\n"),
    s("docker", h.installed ? "cli\n20.10.24+dfsg1\n" : "absent\n"),
    s("end", ""),
  ].join("");
}

const ok = { exitCode: 0 };
const no = { exitCode: 1 };

/** The last shell-quoted word of a command text, unquoted. */
function lastWord(text: string): string {
  const m = /(?:'((?:[^']|'\\'')*)'|(\S+))$/.exec(text);
  return m ? (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!) : "";
}

const DROP_IN_DIR = "/etc/systemd/system/docker.service.d/";

/** The docker.service drop-ins on the host's disk. */
function dropIns(h: DockerHostState): Array<[string, string]> {
  return [...h.base.files].filter(([p]) => p.startsWith(DROP_IN_DIR)).map(([p, b]) => [p, b.toString()]);
}

/** systemd's NeedDaemonReload: the drop-ins on disk are not the ones loaded. */
function needDaemonReload(h: DockerHostState): boolean {
  const disk = dropIns(h);
  return disk.length !== h.loadedDropIns.size || disk.some(([p, c]) => h.loadedDropIns.get(p) !== c);
}

/**
 * `systemctl restart docker` as systemd does it, whoever asks (longshore's restart script or an
 * operator by hand): the loaded recorder drop-in's ExecStartPre records the digest of the config
 * files on disk, then dockerd reads daemon.json.
 */
export function systemctlRestartDocker(h: DockerHostState): void {
  const file = (p: string) => h.base.files.get(p) ?? null;
  if (h.loadedDropIns.has(`${DROP_IN_DIR}longshore-record.conf`)) {
    h.record = [`start ${engineConfigDigestOf(file("/etc/docker/daemon.json"), file(`${DROP_IN_DIR}longshore-hosts.conf`))}`];
  }
  h.runningDaemonJson = file("/etc/docker/daemon.json")?.toString() ?? null;
  h.engineRestarts++;
  h.active = true;
}

/** Rules answering the steps' commands from `h`; `docker load` loads `imageId`. */
export function dockerHostRules(h: DockerHostState, imageId: string): FakeRule[] {
  let lastInspect = "";
  return [
    { match: /@@longshore-facts/, result: () => ({ stdout: factsOutput(h) }) },
    { match: /^sh -c '# longshore engine\.facts/, result: ok },
    {
      match: /^test -f \/var\/lib\/longshore\/bundle\/([0-9a-f]+)\/\.verified$/,
      result: ({ text }) => (h.verifiedBundles.has(text.split("/")[5]!) ? ok : no),
    },
    {
      match: /sha256sum --check --strict --quiet SHA256SUMS/,
      result: ({ text }) => {
        h.verifiedBundles.add(lastWord(text).split("/").pop()!);
        return ok;
      },
    },
    { match: /dpkg-query -W -f/, result: () => (h.installed ? ok : no) },
    {
      match: /^sh -c '# longshore engine\.install/,
      result: () => {
        h.installed = true;
        return h.installProgress ? { exitCode: 0, stderr: h.installProgress } : ok;
      },
    },
    { match: /^\/usr\/sbin\/dockerd --version$/, result: () => (h.installed ? { exitCode: 0, stdout: "Docker version 20.10.24+dfsg1\n" } : no) },
    { match: /^test '!' -e /, result: ok },
    { match: /^mkdir -p -- /, result: ok },
    { match: /^rm -f \/etc\/systemd\/system\/docker\.service\.d\/longshore-hosts\.conf$/, result: ok },
    // engine.start's check: ACTIVE_SCRIPT (waits while docker is activating).
    { match: (t) => t.includes("systemctl show -p ActiveState --value docker.service"), result: () => (h.active ? ok : { exitCode: 3 }) },
    { match: /^sh -c '\[ "\$\(systemctl show -p NeedDaemonReload --value docker\.service\)" = no \]'$/, result: () => (needDaemonReload(h) ? no : ok) },
    {
      match: /^sh -c 'f=\$1; d=\$2; \[ "\$\(head -n 1 /,
      result: ({ text }) => {
        const d = lastWord(text);
        const r = h.record;
        return r !== null && r[0] === `start ${d}` && r.every((l) => l === `start ${d}` || l === `reload ${d}`) ? ok : no;
      },
    },
    {
      match: /^systemctl daemon-reload$/,
      result: () => {
        h.loadedDropIns = new Map(dropIns(h));
        return ok;
      },
    },
    { match: /^systemctl enable/, result: ok },
    {
      match: /^sh -c '# longshore engine\.start: restart dockerd/,
      result: () => {
        systemctlRestartDocker(h);
        return ok;
      },
    },
    { match: /^docker version --format/, result: () => (h.active ? { exitCode: 0, stdout: "20.10.24+dfsg1\n" } : no) },
    { match: /^sh -c '# longshore engine\.verify/, result: ok },
    { match: /^docker image inspect --format '\{\{\.Id\}\}' (sha256:[0-9a-f]+)$/, result: ({ text }) => (h.images.has(lastWord(text)) ? ok : no) },
    // Layered delivery (provisioner/layers/): the probe, a blob from the controller, the load from the store, the prune.
    {
      match: /^sh -c 'store=\$1; ids=\$2/,
      result: ({ command }) => ({
        exitCode: 0,
        stdout: [...(String(command.argv.at(-1)).split(" ").every((id) => h.images.has(id)) ? ["present"] : []), ...[...h.blobs].map((b) => `blob ${b}`)].map((l) => `${l}\n`).join(""),
      }),
    },
    {
      match: /^sh -c 'set -u\nstore=\$1; hex=\$2; peer=\$3/,
      result: ({ command }) => {
        h.blobs.add(String(command.argv[5]));
        return ok;
      },
    },
    {
      match: /^sh -c 'set -eu\nstore=\$1; manifest=\$2; configs=\$3/,
      result: () => {
        h.images.add(imageId);
        return ok;
      },
    },
    { match: /^sh -c 'set -eu\nstore=\$1; list=\$\(mktemp\)/, result: ok },
    {
      match: /^docker load --quiet$/,
      result: () => {
        h.images.add(imageId);
        return ok;
      },
    },
    {
      match: /^sh -c '\[ "\$\(docker inspect --type container/,
      result: ({ text }) => {
        lastInspect = text;
        return h.container === text ? ok : no;
      },
    },
    { match: /^sh -c 'ids=\$\(/, result: ok },
    {
      match: /^docker run --detach/,
      result: () => {
        h.container = lastInspect;
        h.containerRuns++;
        return { exitCode: 0, stdout: "c0ffee\n" };
      },
    },
    {
      match: /^bash -c '# longshore app\.health/,
      result: () => (h.healthy ? ok : { exitCode: 1, stderr: "app.health: GET http://127.0.0.1:8080/healthz: HTTP/1.0 404 Not Found\nlongshore demo broken: unhealthy\n" }),
    },
    { match: /^grep -qF -- /, result: ({ command }) => (h.audit.some((l) => l.startsWith(String(command.argv[3]))) ? ok : no) },
    {
      match: /cat >> "\$1"' sh \/var\/log\/longshore\/audit\.log$/,
      result: ({ command }) => {
        h.audit.push(String(command.stdin));
        return ok;
      },
    },
    { match: /^cat -- /, result: ({ text, fake }) => ({ exitCode: 0, stdout: fake.state.files.get(lastWord(text))?.toString() ?? "" }) },
  ];
}

/** A fake transport to the simulated host; `docker load` loads `imageId`. */
export function dockerHostTransport(name: string, h: DockerHostState, imageId: string): FakeTransport {
  return new FakeTransport(name, { state: h.base, rules: dockerHostRules(h, imageId), unmatched: "error" });
}
