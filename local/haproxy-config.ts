/**
 * Renders the local load balancer's HAProxy 2.6 configuration. Pure: same input, same bytes.
 *
 * Traffic switching without a reload: the frontend picks its backend through a map file
 * (`use_backend %[str(live),map(FILE,blue)]`); the runtime API's `set map FILE live green` switches
 * every new request at once, while requests already in flight finish on the old slot. Server
 * states (ready/drain/maint) and weights are runtime API commands too; a reload (only when the
 * server list changes) carries them over through the server-state file.
 */
import { z } from "zod";

/** The two slots of a blue/green deployment. */
export const SLOTS = ["blue", "green"] as const;

/** One of {@link SLOTS}. */
export type Slot = (typeof SLOTS)[number];

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** One backend server. */
export const HaproxyServerSchema = z.object({
  /** Server name inside its backend (the machine name). */
  name: z.string().regex(NAME, "letters, digits, '_', '.', '-'"),
  address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, "an IPv4 address"),
  port: z.number().int().min(1).max(65535),
  /** Initial weight 0..256 (default 100). */
  weight: z.number().int().min(0).max(256).default(100),
  /** Start in maintenance (`disabled`): no traffic, no checks, until set ready. */
  maintenance: z.boolean().default(false),
});

/** See {@link HaproxyServerSchema}. */
export type HaproxyServer = z.input<typeof HaproxyServerSchema>;

/** Everything the configuration depends on. */
export const HaproxyConfigSchema = z.object({
  /** Shown in the file's header. */
  env: z.string(),
  bind: z.object({
    address: z.string().regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, "a loopback address (the local load balancer listens on 127.0.0.0/8 only)"),
    port: z.number().int().min(1).max(65535),
  }),
  statsSocket: z.string().startsWith("/"),
  mapFile: z.string().startsWith("/"),
  serverStateFile: z.string().startsWith("/"),
  slots: z.object({ blue: z.array(HaproxyServerSchema), green: z.array(HaproxyServerSchema) }),
  health: z
    .object({
      path: z.string().startsWith("/").regex(/^[\x21-\x7e]+$/, "no spaces or control characters").default("/healthz"),
      expectStatus: z.number().int().min(100).max(599).default(200),
      intervalMs: z.number().int().min(100).default(1000),
      fall: z.number().int().min(1).default(2),
      rise: z.number().int().min(1).default(2),
    })
    .default({ path: "/healthz", expectStatus: 200, intervalMs: 1000, fall: 2, rise: 2 }),
  /** Drop root after binding, when the `haproxy` user exists. */
  runAs: z.object({ user: z.string(), group: z.string() }).optional(),
  maxconn: z.number().int().min(1).default(2000),
});

/** See {@link HaproxyConfigSchema}. */
export type HaproxyConfigInput = z.input<typeof HaproxyConfigSchema>;

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

/** Renders haproxy.cfg. Throws a zod error on invalid input (callers validate first). */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  const c = HaproxyConfigSchema.parse(input);
  for (const slot of SLOTS) {
    const names = c.slots[slot].map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`backend ${slot}: server name ${dup} appears twice`);
  }
  const h = c.health;
  const lines: string[] = [
    `# HAProxy configuration for longshore environment "${c.env}".`,
    "# Written by longshore; edits are overwritten. Traffic is switched at runtime through the map file.",
    "global",
    `    maxconn ${c.maxconn}`,
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
      `    option httpchk GET ${h.path}`,
      `    http-check expect status ${h.expectStatus}`,
      `    default-server inter ${h.intervalMs}ms fastinter ${Math.max(100, Math.floor(h.intervalMs / 2))}ms downinter ${h.intervalMs}ms fall ${h.fall} rise ${h.rise}`,
    );
    for (const s of c.slots[slot]) {
      lines.push(`    server ${s.name} ${s.address}:${s.port} check weight ${s.weight}${s.maintenance ? " disabled" : ""}`);
    }
  }
  return lines.join("\n") + "\n";
}
