/**
 * Renders the local load balancer's HAProxy 2.6 configuration. Pure: same input, same bytes.
 *
 * Traffic switching without a reload: the frontend picks its backend through a map file
 * (`use_backend %[str(live),map(FILE,blue)]`); the runtime API's `set map FILE live green` switches
 * every new request at once, while requests already in flight finish on the old slot. Server
 * states (ready/drain/maint) and weights are runtime API commands too; a reload (only when the
 * server list changes) carries them over through the server-state file.
 */
import type { HealthSpec } from "../../model/health";
import { SLOTS, type SlotName } from "../../model/names";
import type { ListenAddress } from "../../model/net";

/** A slot of the blue/green pair (the model's). */
export type Slot = SlotName;
export { SLOTS };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** One backend server. */
export interface HaproxyServer {
  /** Server name inside its backend (the machine name). */
  name: string;
  /** IPv4 address. */
  address: string;
  port: number;
  /** Initial weight 0..256. @default 100 */
  weight?: number;
  /** Start in maintenance (`disabled`): no traffic, no checks, until set ready. @default false */
  maintenance?: boolean;
}

/** Everything the configuration depends on. Values come from the validated model. */
export interface HaproxyConfigInput {
  /** Shown in the file's header. */
  env: string;
  bind: ListenAddress;
  statsSocket: string;
  mapFile: string;
  serverStateFile: string;
  slots: Record<SlotName, HaproxyServer[]>;
  /** The app's health check (`app.health`): HAProxy checks each server with it (`rise` = healthyRounds). */
  health: HealthSpec;
  /** Consecutive failed checks that take a server out. @default 2 */
  fall?: number;
  /** Drop root after binding, when the `haproxy` user exists. @default stay root */
  runAs?: { user: string; group: string };
  /** @default 2000 */
  maxconn?: number;
}

/** The map key the frontend looks up to choose the live slot. */
export const LIVE_KEY = "live";

/** The backend name of a slot. */
export function backendName(slot: Slot): string {
  return slot;
}

/** The map file's content: which slot receives new requests. */
export function renderSlotMap(live: Slot): string {
  return `${LIVE_KEY} ${backendName(live)}\n`;
}

/**
 * One argument of a configuration line, as HAProxy reads it back. Outside quotes HAProxy takes `#`
 * as the start of a comment (a health path `/healthz#x` would silently be checked as `/healthz`),
 * and `'`, `"` and `\` as quoting (`/it's` makes the whole file invalid): such a value is written
 * in double quotes, where only `\`, `"` and `$` (environment expansion) need escaping. Pure.
 */
export function haproxyArg(value: string): string {
  return /^[^\s#'"\\$]+$/.test(value) ? value : `"${value.replace(/[\\"$]/g, "\\$&")}"`;
}

/** Renders haproxy.cfg. Throws on a server name HAProxy would refuse or that appears twice (a bug of the caller). */
export function renderHaproxyConfig(c: HaproxyConfigInput): string {
  for (const slot of SLOTS) {
    const names = c.slots[slot].map((s) => s.name);
    const bad = names.find((n) => !NAME.test(n));
    if (bad !== undefined) throw new Error(`backend ${slot}: server name ${JSON.stringify(bad)} is not valid for HAProxy`);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`backend ${slot}: server name ${dup} appears twice`);
  }
  const h = c.health;
  const interMs = Math.round(h.intervalSeconds * 1000);
  const lines: string[] = [
    `# HAProxy configuration for longshore environment "${c.env}".`,
    "# Written by longshore; edits are overwritten. Traffic is switched at runtime through the map file.",
    "global",
    `    maxconn ${c.maxconn ?? 2000}`,
    `    stats socket ${c.statsSocket} mode 600 level admin expose-fd listeners`,
    "    stats timeout 10s",
    `    server-state-file ${c.serverStateFile}`,
    ...(c.runAs ? [`    user ${c.runAs.user}`, `    group ${c.runAs.group}`] : []),
    "",
    "defaults",
    "    mode http",
    "    log global",
    "    option dontlognull",
    "    timeout connect 2s",
    "    timeout client 30s",
    "    timeout server 30s",
    "    timeout http-request 10s",
    "    timeout http-keep-alive 5s",
    // A server that refuses a connection (stopping, not yet marked down) is retried on another one.
    "    retries 3",
    "    option redispatch 1",
    "    load-server-state-from-file global",
    "",
    "frontend web",
    `    bind ${c.bind.address}:${c.bind.port}`,
    `    use_backend %[str(${LIVE_KEY}),map(${c.mapFile},${backendName("blue")})]`,
    `    default_backend ${backendName("blue")}`,
  ];
  for (const slot of SLOTS) {
    lines.push(
      "",
      `backend ${backendName(slot)}`,
      "    balance roundrobin",
      `    option httpchk GET ${haproxyArg(h.path)}`,
      `    http-check expect status ${h.status}`,
      `    timeout check ${Math.round(h.timeoutSeconds * 1000)}ms`,
      `    default-server inter ${interMs}ms fastinter ${Math.max(100, Math.floor(interMs / 2))}ms downinter ${interMs}ms fall ${c.fall ?? 2} rise ${h.healthyRounds}`,
    );
    for (const s of c.slots[slot]) {
      lines.push(`    server ${s.name} ${s.address}:${s.port} check weight ${s.weight ?? 100}${s.maintenance ? " disabled" : ""}`);
    }
  }
  return lines.join("\n") + "\n";
}
