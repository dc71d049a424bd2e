/**
 * A scripted Debian host for unit tests of whole provisioning runs: FakeTransport rules that answer
 * the facts probe and each engine/app step's commands from a small state (installed, running,
 * started-with digest, images, the container's inspect line, the audit log). It proves nothing about
 * real hosts, docker or apt: it only lets tests observe what ran, in which order, and how often.
 */
import { FakeTransport, newHostState, type FakeHostState, type FakeRule } from "./fake-transport";

/** The simulated host's state. */
export interface DockerHostState {
  base: FakeHostState;
  verifiedBundles: Set<string>;
  installed: boolean;
  active: boolean;
  startedWith: string | null;
  images: Set<string>;
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
    startedWith: null,
    images: new Set(),
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
    { match: /^systemctl is-active --quiet docker\.service$/, result: () => (h.active ? ok : { exitCode: 3 }) },
    { match: /^sh -c '\[ "\$\(cat "\$1" 2>\/dev\/null\)" = "\$2" \]' sh \/var\/lib\/longshore\/engine/, result: ({ text }) => (h.startedWith === lastWord(text) ? ok : no) },
    { match: /^systemctl (daemon-reload|enable)/, result: ok },
    {
      match: /^sh -c '# longshore engine\.start: restart dockerd/,
      result: () => {
        h.engineRestarts++;
        h.active = true;
        return ok;
      },
    },
    {
      match: /printf "%s\\n" "\$2" > "\$1"' sh \/var\/lib\/longshore\/engine/,
      result: ({ text }) => {
        h.startedWith = lastWord(text);
        return ok;
      },
    },
    { match: /^docker version --format/, result: () => (h.active ? { exitCode: 0, stdout: "20.10.24+dfsg1\n" } : no) },
    { match: /^sh -c '# longshore engine\.verify/, result: ok },
    { match: /^docker image inspect --format '\{\{\.Id\}\}' (sha256:[0-9a-f]+)$/, result: ({ text }) => (h.images.has(lastWord(text)) ? ok : no) },
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
