/**
 * A Compose application (`app.compose`): the user's Compose file, read and checked here before any
 * host, then run on every host by Compose itself (`docker compose up`), never re-implemented. What
 * longshore adds (the images it delivered, its labels, the env file, the secrets, the served port)
 * goes into a second Compose file that Compose merges over the user's (provisioner/steps/app-compose.ts).
 *
 * The checks are what would fail on a host, or quietly do something else there, found on this
 * computer with the file's own key paths (`compose.yaml: services.web.build: ...`):
 * - the file parses and every key is one Compose knows (the version on Debian 13's hosts, 2.26);
 * - every service has an `image` and none has `build` (images are built before longshore);
 * - nothing names a file of this computer (`env_file`, relative bind mounts, `include`, file
 *   secrets and configs): only the Compose file is sent to the hosts;
 * - no `${VARIABLE}`: Compose would interpolate it on the host, where it is unset;
 * - no published host port that clashes with the app's own (which longshore publishes) or the
 *   ports longshore uses on its hosts;
 * - every secret a service names is one of `app.secrets` (longshore writes it, 0600).
 * Pure: text in, project or problems out.
 */
import type { ConfigIssue } from "../core/errors";
import { hostPortOf } from "./app";
import { parseImageReference } from "./image-reference";
import { RESERVED_HOST_PORTS } from "./net";
import { parseYamlText } from "./yaml-text";
import { formatPath } from "./zod-issues";


/** Top-level keys of the Compose file format. */
const TOP_LEVEL_KEYS = new Set(["version", "name", "services", "networks", "volumes", "configs", "secrets", "include"]);

/** Service keys Compose 2.26 (Debian 13's `docker-compose`) knows. */
const SERVICE_KEYS = new Set([
  "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command", "configs",
  "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares",
  "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt",
  "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts",
  "group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address",
  "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
  "oom_score_adj", "pid", "pids_limit", "platform", "ports", "privileged", "profiles", "pull_policy", "read_only", "restart",
  "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
  "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
]);

/** A service as longshore needs to know it. */
export interface ComposeService {
  /** The `image` the file gives it. */
  image: string;
  /** Runs the app's image: the served service, and every service whose image is of the same repository. */
  runsAppImage: boolean;
  /** Started by `docker compose up` without `--profile` (it has no `profiles`). */
  startsByDefault: boolean;
  /** Secrets it names (each a key of `app.secrets`). */
  secrets: string[];
  /** It sets `restart` itself. */
  setsRestart: boolean;
  /** It sets `stop_grace_period` itself. */
  setsStopGracePeriod: boolean;
}

/** A checked Compose file. */
export interface ComposeProject {
  /** The file's exact text: what the hosts get, byte for byte. */
  text: string;
  /** Services by name, in the file's order. */
  services: Record<string, ComposeService>;
}

/** What the checks need from the app. */
export interface ComposeAppView {
  /** `app.service`: the service that receives traffic. */
  service: string;
  /** `app.image`: the image of the served service (rollouts move it). */
  image: string;
  /** The host port the load balancer sends traffic to (`app.hostPort`, else `app.port`). */
  hostPort: number;
  /** The keys of `app.secrets`. */
  secretKeys: readonly string[];
}

/** What the checks need, from an app (as the file writes it, or resolved) that has `service`. */
export function composeAppView(app: { service?: string | undefined; image: string; port: number; hostPort?: number | undefined; secrets: Record<string, unknown> }): ComposeAppView {
  if (app.service === undefined) throw new Error("a Compose app without app.service (the model requires it)");
  return { service: app.service, image: app.image, hostPort: hostPortOf(app), secretKeys: Object.keys(app.secrets) };
}

/** Repository of a reference (`registry/ns/name`, no tag or digest), or null when it does not parse. */
function repositoryOf(ref: string): string | null {
  const r = parseImageReference(ref);
  if (!r.ok) return null;
  return r.value.registry ? `${r.value.registry}/${r.value.repository}` : r.value.repository;
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** `$VAR` or `${VAR...}` not escaped as `$$`: what Compose would interpolate. */
function variableIn(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "$") continue;
    const next = text[i + 1];
    if (next === "$") {
      i++;
      continue;
    }
    if (next === "{") return text.slice(i, text.indexOf("}", i) + 1 || undefined);
    if (next !== undefined && /[A-Za-z_]/.test(next)) return `$${/^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))![0]}`;
  }
  return null;
}

/** Host ports a `ports` entry publishes (short or long syntax), or a message when it cannot be read. */
export function publishedHostPorts(entry: unknown): { ports: number[] } | { problem: string } {
  const range = (text: string): number[] | null => {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo) return null;
    return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  };
  if (typeof entry === "number") return { ports: [] };
  if (typeof entry === "string") {
    const parts = entry.replace(/\/(tcp|udp|sctp)$/, "").split(":");
    parts.pop();
    const host = parts.pop();
    if (host === undefined || host === "") return { ports: [] };
    const ports = range(host);
    return ports ? { ports } : { problem: `cannot read the host port of ${JSON.stringify(entry)}` };
  }
  if (isMapping(entry)) {
    const published = entry["published"];
    if (published === undefined || published === null || published === "") return { ports: [] };
    const ports = range(String(published));
    return ports ? { ports } : { problem: `cannot read published: ${JSON.stringify(published)}` };
  }
  return { problem: "must be a string such as \"8080:80\" or a mapping with target and published" };
}

/**
 * Checks a Compose file's text for `app`; `file` (the name the user knows it by) prefixes every
 * problem's path. Pure.
 */
export function parseComposeFile(text: string, app: ComposeAppView, file: string): { ok: true; value: ComposeProject } | { ok: false; issues: ConfigIssue[] } {
  const y = parseYamlText(text, file);
  if (!y.ok) return y;
  const issues: ConfigIssue[] = [];
  const at = (path: PropertyKey[], message: string) => issues.push({ path: path.length ? `${file}: ${formatPath(path)}` : file, message });
  const data = y.data;
  if (!isMapping(data)) {
    at([], "must be a Compose file: a mapping with services:");
    return { ok: false, issues };
  }
  // Interpolation first: every string in the file, keys included.
  const walk = (v: unknown, path: PropertyKey[]): void => {
    if (typeof v === "string") {
      const variable = variableIn(v);
      if (variable) at(path, `uses ${variable}: Compose would read it from the environment of \`docker compose\` on the host, where it is unset; put the value in the file or in app.env, or write $$ for a literal $`);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (isMapping(v)) {
      for (const [k, x] of Object.entries(v)) {
        const variable = variableIn(k);
        if (variable) at([...path, k], `uses ${variable} in a key: Compose would interpolate it on the host, where it is unset`);
        walk(x, [...path, k]);
      }
    }
  };
  walk(data, []);
  for (const key of Object.keys(data)) {
    if (key.startsWith("x-")) continue;
    if (!TOP_LEVEL_KEYS.has(key)) at([key], "is not a top-level key of a Compose file (version, name, services, networks, volumes, configs, secrets, x-*)");
  }
  if (data["include"] !== undefined) at(["include"], "names other files: only this Compose file is sent to the hosts; put everything in it");
  if (data["secrets"] !== undefined) at(["secrets"], "is written by longshore: every secret a service names must be a key of app.secrets (its value never enters this file)");
  const configs = data["configs"];
  if (isMapping(configs)) {
    for (const [name, config] of Object.entries(configs)) {
      if (isMapping(config) && (config["file"] !== undefined || config["environment"] !== undefined)) {
        at(["configs", name], "must give its content inline (content:): a file or variable of this computer does not reach the hosts");
      }
    }
  }
  const servicesRaw = data["services"];
  if (!isMapping(servicesRaw) || Object.keys(servicesRaw).length === 0) {
    at(["services"], "must be a mapping of at least one service");
    return { ok: false, issues };
  }
  const appRepo = repositoryOf(app.image);
  const services: Record<string, ComposeService> = {};
  for (const [name, svc] of Object.entries(servicesRaw)) {
    const p = ["services", name];
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) at(p, "must be a Compose service name (letters, digits, '_', '.', '-')");
    if (!isMapping(svc)) {
      at(p, "must be a mapping (image:, command:, ...)");
      continue;
    }
    for (const key of Object.keys(svc)) {
      if (!key.startsWith("x-") && !SERVICE_KEYS.has(key)) at([...p, key], "is not a key of a Compose service (as Compose 2.26 on Debian 13 knows them)");
    }
    if (svc["build"] !== undefined) at([...p, "build"], "is not run by longshore: build and tag the image before, and give it as image:");
    const image = svc["image"];
    if (typeof image !== "string") at([...p, "image"], image === undefined ? "is required: every service runs an image longshore delivers" : "must be an image reference");
    else {
      const r = parseImageReference(image);
      if (!r.ok) at([...p, "image"], r.message);
    }
    if (svc["env_file"] !== undefined) at([...p, "env_file"], "names a file of this computer, which does not reach the hosts: put the values in app.env or app.secrets (longshore writes them to an env file on each host, 0600)");
    if (isMapping(svc["extends"]) && svc["extends"]["file"] !== undefined) at([...p, "extends", "file"], "names another file: only this Compose file is sent to the hosts");
    const volumes = svc["volumes"];
    if (Array.isArray(volumes)) {
      volumes.forEach((v, i) => {
        const source = typeof v === "string" ? (v.split(":").length > 1 ? v.split(":")[0] : undefined) : isMapping(v) && v["type"] === "bind" ? v["source"] : undefined;
        if (typeof source === "string" && (source.startsWith(".") || source.startsWith("~"))) {
          at([...p, "volumes", i], `mounts ${source}, a path of this computer: use a named volume, or an absolute path on the hosts`);
        }
      });
    }
    const ports = svc["ports"];
    if (ports !== undefined && !Array.isArray(ports)) at([...p, "ports"], "must be a list");
    if (Array.isArray(ports)) {
      ports.forEach((entry, i) => {
        const r = publishedHostPorts(entry);
        if ("problem" in r) return at([...p, "ports", i], r.problem);
        for (const port of r.ports) {
          if (port === app.hostPort) {
            at([...p, "ports", i], `publishes host port ${port}, the app's own (app.hostPort, else app.port): longshore publishes it for app.service ${app.service}; leave it out here`);
          } else if (RESERVED_HOST_PORTS[port]) at([...p, "ports", i], `publishes host port ${port}, used by ${RESERVED_HOST_PORTS[port]}`);
        }
      });
    }
    const named: string[] = [];
    const secrets = svc["secrets"];
    if (secrets !== undefined && !Array.isArray(secrets)) at([...p, "secrets"], "must be a list of secret names");
    if (Array.isArray(secrets)) {
      secrets.forEach((s, i) => {
        const source = typeof s === "string" ? s : isMapping(s) ? s["source"] : undefined;
        if (typeof source !== "string") return at([...p, "secrets", i], "must be a secret name, or a mapping with source:");
        if (!app.secretKeys.includes(source)) {
          return at([...p, "secrets", i], `names ${source}, which is not a key of app.secrets${app.secretKeys.length ? ` (${app.secretKeys.join(", ")})` : " (it has none)"}`);
        }
        named.push(source);
      });
    }
    const runsAppImage = name === app.service || (typeof image === "string" && appRepo !== null && repositoryOf(image) === appRepo);
    services[name] = {
      image: typeof image === "string" ? image : "",
      runsAppImage,
      startsByDefault: svc["profiles"] === undefined,
      secrets: [...new Set(named)],
      setsRestart: svc["restart"] !== undefined,
      setsStopGracePeriod: svc["stop_grace_period"] !== undefined,
    };
  }
  const served = servicesRaw[app.service];
  if (served === undefined) at(["services"], `has no service ${app.service} (app.service): it has ${Object.keys(servicesRaw).join(", ")}`);
  else if (isMapping(served)) {
    const sp = ["services", app.service];
    if (typeof served["image"] === "string" && repositoryOf(served["image"]) !== appRepo) {
      at([...sp, "image"], `is ${served["image"]}, but app.image is ${app.image}: the served service runs the app's image (rollouts move its tag), so both must name the same repository`);
    }
    if (served["network_mode"] !== undefined) at([...sp, "network_mode"], "cannot be set on the served service: longshore publishes its port (app.port) on the host");
    if (served["profiles"] !== undefined) at([...sp, "profiles"], "cannot be set on the served service: it must start with the project");
    const replicas = isMapping(served["deploy"]) ? served["deploy"]["replicas"] : undefined;
    if ((typeof served["scale"] === "number" && served["scale"] > 1) || (typeof replicas === "number" && replicas > 1)) {
      at([...sp], "must run one container per host (no scale or deploy.replicas above 1): its port is published on the host, and rollouts add hosts, not containers");
    }
  }
  return issues.length ? { ok: false, issues } : { ok: true, value: { text, services } };
}
