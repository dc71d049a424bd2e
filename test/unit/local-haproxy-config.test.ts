// Does not prove: that HAProxy balances or switches as configured (test/e2e/local-haproxy.test.ts does);
// the golden text is also checked by `haproxy -c` below when haproxy is installed.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { haproxyArg, renderHaproxyConfig, renderSlotMap, type HaproxyConfigInput } from "../../drivers/local/haproxy-config";
import { HaproxyRuntime, HaproxyRuntimeError, parseShowStat } from "../../drivers/local/haproxy-runtime";
import { DEFAULT_HEALTH } from "../../model/health";

const INPUT: HaproxyConfigInput = {
  env: "demo",
  bind: { address: "127.0.0.1", port: 8080 },
  statsSocket: "/var/lib/longshore/local/demo/haproxy/admin.sock",
  mapFile: "/var/lib/longshore/local/demo/haproxy/slot.map",
  serverStateFile: "/var/lib/longshore/local/demo/haproxy/server-state",
  slots: {
    blue: [
      { name: "demo-1", address: "10.213.47.10", port: 8080 },
      { name: "demo-2", address: "10.213.47.11", port: 8080, weight: 50 },
    ],
    green: [{ name: "demo-3", address: "10.213.47.12", port: 8080, maintenance: true }],
  },
  health: DEFAULT_HEALTH,
  runAs: { user: "haproxy", group: "haproxy" },
};

const GOLDEN = `# HAProxy configuration for longshore environment "demo".
# Written by longshore; edits are overwritten. Traffic is switched at runtime through the map file.
global
    maxconn 2000
    stats socket /var/lib/longshore/local/demo/haproxy/admin.sock mode 600 level admin expose-fd listeners
    stats timeout 10s
    server-state-file /var/lib/longshore/local/demo/haproxy/server-state
    user haproxy
    group haproxy

defaults
    mode http
    log global
    option dontlognull
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 5s
    retries 3
    option redispatch 1
    load-server-state-from-file global

frontend web
    bind 127.0.0.1:8080
    use_backend %[str(live),map(/var/lib/longshore/local/demo/haproxy/slot.map,blue)]
    default_backend blue

backend blue
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    timeout check 2000ms
    default-server inter 1000ms fastinter 500ms downinter 1000ms fall 2 rise 2
    server demo-1 10.213.47.10:8080 check weight 100
    server demo-2 10.213.47.11:8080 check weight 50

backend green
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    timeout check 2000ms
    default-server inter 1000ms fastinter 500ms downinter 1000ms fall 2 rise 2
    server demo-3 10.213.47.12:8080 check weight 100 disabled
`;

describe("renderHaproxyConfig", () => {
  it("matches the golden configuration", () => {
    expect(renderHaproxyConfig(INPUT)).toBe(GOLDEN);
    expect(renderSlotMap("green")).toBe("live green\n");
  });

  it("is accepted by haproxy -c, also with a health path that needs quoting", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-hacfg-"));
    try {
      for (const health of [DEFAULT_HEALTH, { ...DEFAULT_HEALTH, path: `/it's/"odd"\\$HOME#x` }]) {
        const cfg = renderHaproxyConfig({
          ...INPUT,
          health,
          statsSocket: path.join(dir, "admin.sock"),
          mapFile: path.join(dir, "slot.map"),
          serverStateFile: path.join(dir, "server-state"),
        });
        fs.writeFileSync(path.join(dir, "slot.map"), renderSlotMap("blue"));
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
        const out = execFileSync("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")], { encoding: "utf8", stdio: "pipe" });
        expect(out).toContain("Configuration file is valid");
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checks servers with app.health: path, status, timeout, interval and rise = healthyRounds", () => {
    const health = { path: "/ready?deep=1", status: 204, intervalSeconds: 0.25, timeoutSeconds: 0.5, healthyRounds: 3 };
    const backend = (text: string, slot: string) => text.split("\n\n").find((b) => b.startsWith(`backend ${slot}\n`));
    expect(backend(renderHaproxyConfig({ ...INPUT, health, fall: 4 }), "green")).toBe(
      [
        "backend green",
        "    balance roundrobin",
        "    option httpchk GET /ready?deep=1",
        "    http-check expect status 204",
        "    timeout check 500ms",
        "    default-server inter 250ms fastinter 125ms downinter 250ms fall 4 rise 3",
        "    server demo-3 10.213.47.12:8080 check weight 100 disabled",
        "",
      ].join("\n"),
    );
    // fastinter never goes below 100 ms.
    expect(renderHaproxyConfig({ ...INPUT, health: { ...health, intervalSeconds: 0.2 } })).toContain(
      "    default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 3\n",
    );
  });

  it("quotes a health path HAProxy would otherwise cut at # or refuse", () => {
    expect(haproxyArg("/healthz")).toBe("/healthz");
    expect(haproxyArg("/a?b=1&c=%20")).toBe("/a?b=1&c=%20");
    expect(haproxyArg("/healthz#x")).toBe('"/healthz#x"');
    expect(haproxyArg(`/it's`)).toBe(`"/it's"`);
    expect(haproxyArg(`/a"b\\c$HOME`)).toBe(`"/a\\"b\\\\c\\$HOME"`);
    expect(renderHaproxyConfig({ ...INPUT, health: { ...DEFAULT_HEALTH, path: "/healthz#x" } })).toContain('    option httpchk GET "/healthz#x"\n');
  });

  it("binds where local.listen says", () => {
    expect(renderHaproxyConfig({ ...INPUT, bind: { address: "0.0.0.0", port: 80 } })).toContain("frontend web\n    bind 0.0.0.0:80\n");
  });

  it("refuses a server name HAProxy would refuse and duplicate servers", () => {
    const bad = { ...INPUT, slots: { blue: [{ ...INPUT.slots.blue[0]!, name: "demo 1" }], green: [] } };
    expect(() => renderHaproxyConfig(bad)).toThrow('backend blue: server name "demo 1" is not valid for HAProxy');
    const dup = { ...INPUT, slots: { blue: [], green: [INPUT.slots.green[0]!, INPUT.slots.green[0]!] } };
    expect(() => renderHaproxyConfig(dup)).toThrow("backend green: server name demo-3 appears twice");
  });
});

describe("runtime API client", () => {
  it("parses show stat rows for servers only", () => {
    const csv = [
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight",
      "web,FRONTEND,,,0,1,2000,5,0,0,0,0,0,,,,,OPEN,",
      "blue,demo-1,0,0,1,1,,7,0,0,,0,,0,0,0,0,UP,100",
      "blue,demo-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,50",
      "blue,BACKEND,0,0,1,1,200,7,0,0,0,0,,0,0,0,0,UP,150",
    ].join("\n");
    expect(parseShowStat(csv)).toEqual([
      { backend: "blue", server: "demo-1", status: "UP", weight: 100, sessions: 1, total: 7 },
      { backend: "blue", server: "demo-2", status: "DOWN", weight: 50, sessions: 0, total: 0 },
    ]);
  });

  it("sends one line per command and turns a non-empty answer to a set into an error", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-sock-"));
    const sock = path.join(dir, "admin.sock");
    const seen: string[] = [];
    const server = net.createServer((c) => {
      c.once("data", (d) => {
        const line = d.toString();
        seen.push(line);
        c.end(line.includes("nosuch") ? "No such server.\n" : line.startsWith("get map") ? 'key="live" value="green"\n' : "\n");
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const rt = new HaproxyRuntime(sock, "/x/slot.map");
    await rt.setServerState("blue", "demo-1", "drain");
    await rt.switchTo("green");
    expect(await rt.liveSlot()).toBe("green");
    await expect(rt.setServerState("blue", "nosuch", "maint")).rejects.toThrow('HAProxy refused "set server blue/nosuch state maint": No such server.');
    await expect(rt.setWeight("blue", "demo-1", 300)).rejects.toBeInstanceOf(HaproxyRuntimeError);
    expect(seen).toEqual([
      "set server blue/demo-1 state drain\n",
      "set map /x/slot.map live green\n",
      "get map /x/slot.map live\n",
      "set server blue/nosuch state maint\n",
    ]);
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
