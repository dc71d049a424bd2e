/**
 * A client for HAProxy's runtime API over its UNIX stats socket (`level admin`): server states,
 * weights, the slot map and status, without reloading. One connection per command (the socket's
 * non-interactive mode answers and closes).
 */
import * as net from "node:net";
import { LongshoreError } from "../../core/errors";
import { backendName, LIVE_KEY, type Slot } from "./haproxy-config";

/** The runtime API refused a command or could not be reached. */
export class HaproxyRuntimeError extends LongshoreError {
  readonly code = "HAPROXY_RUNTIME_FAILED";
}

/** Server administrative states the runtime API sets. */
export type ServerAdminState = "ready" | "drain" | "maint";

/** One server as `show stat` reports it. */
export interface ServerStatus {
  backend: string;
  server: string;
  /** `UP`, `DOWN`, `MAINT`, `DRAIN`, `UP 1/2`, `no check`... */
  status: string;
  weight: number;
  /** Current sessions on the server. */
  sessions: number;
  /** Requests/connections sent to it in total. */
  total: number;
}

/** Sends one command; resolves with HAProxy's answer. */
export function runtimeCommand(socketPath: string, command: string, timeoutMs = 5_000): Promise<string> {
  if (/[\n;]/.test(command)) return Promise.reject(new HaproxyRuntimeError(`refusing a runtime command with a newline or ';': ${command}`));
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new HaproxyRuntimeError(`HAProxy runtime API at ${socketPath} did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on("connect", () => sock.write(`${command}\n`));
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(new HaproxyRuntimeError(`HAProxy runtime API at ${socketPath}: ${e.message}`, { cause: e }));
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** A command whose success is an empty answer (most `set` commands); anything else is the error. */
async function expectEmpty(socketPath: string, command: string): Promise<void> {
  const answer = (await runtimeCommand(socketPath, command)).trim();
  if (answer !== "") throw new HaproxyRuntimeError(`HAProxy refused "${command}": ${answer}`);
}

/** Parses `show stat` CSV into per-server rows (frontends and backend totals are left out). */
export function parseShowStat(csv: string): ServerStatus[] {
  const lines = csv.split("\n").filter((l) => l.trim() !== "");
  const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
  const col = (name: string) => header.indexOf(name);
  const out: ServerStatus[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const sv = f[col("svname")] ?? "";
    if (sv === "FRONTEND" || sv === "BACKEND") continue;
    out.push({
      backend: f[col("pxname")] ?? "",
      server: sv,
      status: f[col("status")] ?? "",
      weight: Number(f[col("weight")] ?? 0),
      sessions: Number(f[col("scur")] ?? 0),
      total: Number(f[col("stot")] ?? 0),
    });
  }
  return out;
}

/** The runtime API of one HAProxy instance. */
export class HaproxyRuntime {
  constructor(
    readonly socketPath: string,
    readonly mapFile: string,
  ) {}

  /** Sets a server's administrative state: ready (takes traffic), drain (no new traffic), maint (none, no checks). */
  setServerState(slot: Slot, server: string, state: ServerAdminState): Promise<void> {
    return expectEmpty(this.socketPath, `set server ${backendName(slot)}/${server} state ${state}`);
  }

  /** Sets a server's weight (0..256; 0 = no new traffic). */
  async setWeight(slot: Slot, server: string, weight: number): Promise<void> {
    if (!Number.isInteger(weight) || weight < 0 || weight > 256) throw new HaproxyRuntimeError(`weight must be 0..256 (got ${weight})`);
    await expectEmpty(this.socketPath, `set weight ${backendName(slot)}/${server} ${weight}`);
  }

  /**
   * Sends every new request to `slot`. Requests already in flight on the other slot complete there
   * (HAProxy never cuts them), which is the drain.
   */
  switchTo(slot: Slot): Promise<void> {
    return expectEmpty(this.socketPath, `set map ${this.mapFile} ${LIVE_KEY} ${backendName(slot)}`);
  }

  /** The slot new requests go to, as the running HAProxy sees it. */
  async liveSlot(): Promise<Slot> {
    const answer = await runtimeCommand(this.socketPath, `get map ${this.mapFile} ${LIVE_KEY}`);
    const m = /value="([^"]*)"/.exec(answer);
    if (!m || (m[1] !== "blue" && m[1] !== "green")) throw new HaproxyRuntimeError(`unexpected answer to get map: ${answer.trim()}`);
    return m[1];
  }

  /** Every server's status, weight and sessions. */
  async servers(): Promise<ServerStatus[]> {
    return parseShowStat(await runtimeCommand(this.socketPath, "show stat"));
  }

  /** `show servers state` (the format of the server-state file), for carrying state over a reload. */
  serversState(): Promise<string> {
    return runtimeCommand(this.socketPath, "show servers state");
  }

  /**
   * Waits until every named server of `slot` reports exactly the status `want` (e.g. `UP`,
   * `DOWN`), or throws after `timeoutMs`.
   */
  async waitForStatus(slot: Slot, servers: readonly string[], want: string, timeoutMs: number): Promise<ServerStatus[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = (await this.servers()).filter((s) => s.backend === backendName(slot) && servers.includes(s.server));
      if (all.length === servers.length && all.every((s) => s.status === want)) return all;
      if (Date.now() > deadline) {
        throw new HaproxyRuntimeError(
          `servers of ${slot} did not become ${want} within ${timeoutMs} ms: ${all.map((s) => `${s.server}=${s.status}`).join(", ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
