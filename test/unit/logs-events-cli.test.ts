// Unit: `logs` and `events` as the CLI runs them, on scripted transports: lines of two hosts merged
// in time order with their padded names, --json, --grep, --timestamps, redaction, the exact command
// each host gets, a host that cannot be reached or drops while following (reported once, the other
// goes on), Ctrl-C (exit 130, every transport closed), and every flag problem with its path. Does
// not prove SSH or the engine (the e2e test runs both on real machines).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, CommanderError } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { register as registerEvents, eventsOptions } from "../../cli/events";
import type { VerbDeps } from "../../cli/deps";
import { exitCodeFor, type ExitCode } from "../../cli/exit-codes";
import { register as registerLogs, logsSelector } from "../../cli/logs";
import { printError } from "../../cli/output";
import { TransportError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import { environmentSchema } from "../../model/environment";
import { demoEnvironmentText } from "../../model/environment-file";
import type { SshTarget } from "../../model/ssh-target";
import type { EnvironmentHost, SlotDriver } from "../../rollout/driver";
import { renderCommand, type Command as HostCommand } from "../../provisioner/command";
import type { ExecOptions, ExecResult, Transport } from "../../provisioner/transport/transport";
import { Sink } from "../helpers/cli-harness";

const SECRET = "tok-0123456789";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-logs-cli-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(
  path.join(dir, "longshore.yaml"),
  demoEnvironmentText("longshore-demo:v1").replace("    GREETING: hello\n", "    GREETING: hello\n  secrets:\n    TOKEN: { env: UNIT_LOGS_TOKEN }\n"),
);
fs.writeFileSync(path.join(dir, "aws.yaml"), "name: web\ndriver: aws\napp: { name: web, image: nginx:1 }\naws: { region: eu-west-1, sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFrZWtleWZvcnRlc3RzMDEyMzQ1Njc4OWFiY2RlZmdo you@laptop', adminCidrs: [203.0.113.7/32] }\n");

const target = (name: string): SshTarget => ({ name, address: "10.0.0.1", port: 22, user: "root", auth: {}, hostKey: { fingerprints: ["SHA256:x"] } });

/** What a scripted host does with the one command it gets. */
interface HostScript {
  /** Chunks written to stdout / stderr, in order (`[stream, text]`). */
  out?: Array<["stdout" | "stderr", string | Buffer]>;
  exitCode?: number;
  /** Keep the command running after the output until aborted (following). */
  follow?: boolean;
  /** Reject with a dropped connection after the output. */
  drop?: string;
  /** Fail the connection itself. */
  unreachable?: string;
  /** Connect only once this settles (a slow host). */
  connectAfter?: Promise<void>;
}

interface Run {
  code: ExitCode;
  stdout: string;
  stderr: string;
  commands: Record<string, string>;
  options: Record<string, ExecOptions>;
  closed: string[];
}

async function run(argv: string[], hosts: Record<string, HostScript>, extra: { signal?: AbortSignal; onExec?: (host: string) => void; stdout?: Sink } = {}): Promise<Run> {
  const stdout = extra.stdout ?? new Sink();
  const stderr = new Sink();
  const commands: Record<string, string> = {};
  const options: Record<string, ExecOptions> = {};
  const closed: string[] = [];
  let code: ExitCode = 0;
  const connect = async (t: SshTarget): Promise<Transport> => {
    const script = hosts[t.name]!;
    await script.connectAfter;
    if (script.unreachable) throw new TransportError("refused", t.name, script.unreachable);
    return {
      host: t.name,
      needsSudo: false,
      async exec(command: HostCommand, o: ExecOptions = {}): Promise<ExecResult> {
        commands[t.name] = renderCommand(command, { mode: "exec", useSudo: false });
        options[t.name] = o;
        extra.onExec?.(t.name);
        for (const [stream, text] of script.out ?? []) (stream === "stdout" ? o.onStdout : o.onStderr)?.(typeof text === "string" ? Buffer.from(text) : text);
        if (script.drop) throw new TransportError("disconnected", t.name, `connection lost while running x: ${script.drop}`, { cause: new Error(script.drop) });
        if (script.follow) {
          await new Promise<void>((resolve) => (o.signal?.aborted ? resolve() : o.signal?.addEventListener("abort", () => resolve(), { once: true })));
          throw new TransportError("aborted", t.name, "`x` was aborted");
        }
        return { exitCode: script.exitCode ?? 0, signal: null, stdout: "", stderr: "", durationMs: 1 };
      },
      upload: async () => ({ uploaded: false, bytes: 0, sha256: "" }),
      sha256: async () => null,
      close: async () => void closed.push(t.name),
    };
  };
  const env = { UNIT_LOGS_TOKEN: SECRET };
  const deps = {
    connect,
    stdout,
    stderr,
    env,
    cwd: dir,
    homeDir: dir,
    readFile: (p: string) => fs.promises.readFile(p, "utf8"),
    secretReader: systemSecretReader(env),
    setExitCode: (c: ExitCode) => void (code = c),
    ...(extra.signal ? { signal: extra.signal } : {}),
  } as unknown as VerbDeps;
  // The live slot (blue) has the scripted hosts; a rollout is preparing green-1, and an accessory runs on db-1: neither is read.
  const sshHosts: EnvironmentHost[] = [
    ...Object.keys(hosts).map((name): EnvironmentHost => ({ name, role: "blue", target: target(name) })),
    { name: "green-1", role: "green", prepared: true, target: target("green-1") },
    { name: "db-1", role: "accessory", target: target("db-1") },
  ];
  const driver = { status: async () => ({ live: "blue", url: null, slots: {} }), sshHosts: async () => sshHosts } as unknown as SlotDriver;
  (deps as { environmentDriver: unknown }).environmentDriver = async () => driver;
  const program = new Command("longshore").exitOverride().configureOutput({ writeOut: (s) => void stdout.write(s), writeErr: (s) => void stderr.write(s) });
  registerLogs(program, deps);
  registerEvents(program, deps);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (!(e instanceof CommanderError)) printError(e, stderr, false);
    code = exitCodeFor(e);
  }
  return { code, stdout: stdout.text, stderr: stderr.text, commands, options, closed };
}

const T = (s: number, frac = "000000000") => `2026-12-04T16:00:${String(s).padStart(2, "0")}.${frac}Z`;

describe("logs", () => {
  const euro = Buffer.from("€");
  const twoHosts: Record<string, HostScript> = {
    "web-1": { out: [["stdout", `${T(1)} one\n${T(3)} three\n`], ["stderr", `${T(4)} four (stderr) ${SECRET}\n`]] },
    "web-10": {
      // A line split across chunks, inside a UTF-8 character too.
      out: [["stdout", `${T(2)} tw`], ["stdout", Buffer.concat([Buffer.from("o "), euro.subarray(0, 1)])], ["stdout", Buffer.concat([euro.subarray(1), Buffer.from(`\n${T(3)} three on 10\n`)])], ["stderr", "Error: something the engine said\n"]],
    },
  };

  it("merges both hosts' lines in time order after their padded names, stdout and stderr, the secret redacted", async () => {
    const r = await run(["logs"], twoHosts);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      ["web-1  | one", "web-10 | two €", "web-1  | three", "web-10 | three on 10", "web-1  | four (stderr) [redacted]", ""].join("\n"),
    );
    expect(r.stderr).toBe("web-10: Error: something the engine said\n");
    expect(r.closed.sort()).toEqual(["web-1", "web-10"]);
  });

  it("--json: one object per line with time, host, stream and line; --grep after redaction; --timestamps", async () => {
    const j = await run(["logs", "--json", "--grep", "three|redacted"], twoHosts);
    expect(j.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { time: T(3), host: "web-1", stream: "stdout", line: "three" },
      { time: T(3), host: "web-10", stream: "stdout", line: "three on 10" },
      { time: T(4), host: "web-1", stream: "stderr", line: `four (stderr) [redacted]` },
    ]);
    const t = await run(["logs", "--timestamps", "--grep", "^one$"], twoHosts);
    expect(t.stdout).toBe(`web-1  | ${T(1)} one\n`);
  });

  it("sends each host the exact command: the label, --timestamps, the range and --tail; no timeout only when following", async () => {
    const r = await run(["logs", "--since", "2026-12-04T15:00:00Z", "--until", "1796400000", "--tail", "5"], { "web-1": {} });
    expect(r.commands["web-1"]).toBe(
      `sh -c 'c=$(docker ps -aq --filter "label=$1" | head -n 1); if [ -z "$c" ]; then echo "no container labelled $1" >&2; exit 3; fi; shift; exec docker logs "$@" "$c"' sh io.longshore.app=demo --timestamps --since 1796396400.000000000 --until 1796400000.000000000 --tail 5`,
    );
    expect(r.options["web-1"]!.timeoutMs).toBeUndefined();
    expect(r.options["web-1"]!.maxOutputBytes).toBe(0);
  });

  it("a host that cannot be reached is said once; the other's lines still come; exit 3", async () => {
    const r = await run(["logs"], { "web-1": twoHosts["web-1"]!, "web-2": { unreachable: "connection refused" } });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("web-1 | one\nweb-1 | three\nweb-1 | four (stderr) [redacted]\n");
    expect(r.stderr).toBe("web-2: cannot connect (connection refused)\n");
  });

  it("a host without the container says so (exit 4); another exit code is named", async () => {
    const r = await run(["logs"], { "web-1": { out: [["stderr", "no container labelled io.longshore.app=demo\n"]], exitCode: 3 }, "web-2": { exitCode: 1 } });
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("web-1: no container labelled io.longshore.app=demo\nweb-2: docker logs exited 1\n");
  });

  it("--follow: streams until Ctrl-C, then exit 130 with every transport closed; a dropped host is said once and the other goes on", async () => {
    const abort = new AbortController();
    const started = new Set<string>();
    const r = run(
      ["logs", "--follow", "--tail", "0"],
      {
        "web-1": { out: [["stdout", `${T(1)} one\n`]], follow: true },
        "web-2": { out: [["stdout", `${T(2)} two\n`]], drop: "keepalive timeout" },
      },
      { signal: abort.signal, onExec: (h) => started.add(h) },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(started).toEqual(new Set(["web-1", "web-2"]));
    abort.abort();
    const done = await r;
    expect(done.code).toBe(130);
    expect(done.stdout).toBe("web-1 | one\nweb-2 | two\n");
    expect(done.stderr).toBe("web-2: connection lost (keepalive timeout)\n");
    expect(done.closed.sort()).toEqual(["web-1", "web-2"]);
    expect(done.options["web-1"]!.timeoutMs).toBe(Infinity);
    expect(done.commands["web-1"]).toContain("--tail 0 --follow");
  });

  it("--follow holds a backlog that came first for the one of a host that connected later", async () => {
    const abort = new AbortController();
    const stdout = new Sink();
    const late = { wait: new Promise<void>((resolve) => setTimeout(resolve, 600)) };
    const r = run(
      ["logs", "--follow", "--tail", "10"],
      { "web-1": { out: [["stdout", `${T(2)} two\n`]], follow: true }, "web-2": { out: [["stdout", `${T(1)} one\n`]], follow: true, connectAfter: late.wait } },
      { signal: abort.signal, stdout },
    );
    while (!stdout.text.includes("two")) await new Promise((resolve) => setTimeout(resolve, 10));
    abort.abort();
    expect((await r).stdout).toBe("web-2 | one\nweb-1 | two\n");
  });

  it("--follow prints a line of one host after the hold-back, while the other host is quiet", async () => {
    const abort = new AbortController();
    const stdout = new Sink();
    const t0 = Date.now();
    const r = run(["logs", "--follow"], { "web-1": { out: [["stdout", `${T(1)} one\n`]], follow: true }, "web-2": { follow: true } }, { signal: abort.signal, stdout });
    while (stdout.text === "" && Date.now() - t0 < 5_000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stdout.text).toBe("web-1 | one\n");
    // Held for the hold-back (300 ms), not for the quiet host.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(2_000);
    abort.abort();
    expect((await r).code).toBe(130);
  });

  it("refuses bad flags, every problem at once with its flag, before any host is contacted", async () => {
    const r = await run(["logs", "--since", "soon", "--tail", "ten", "--grep", "(", "--slot", "purple"], { "web-1": {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      [
        "error: command line is invalid (4 problems):",
        '  --slot: must be blue or green; got "purple"',
        '  --since: must be a duration before now (10m, 1h30m, 45s, 2d), an RFC 3339 time (2026-12-04T15:00:00Z) or a Unix time (1764860400); got "soon"',
        '  --tail: must be a number of lines or all; got "ten"',
        "  --grep: is not a regular expression: Invalid regular expression: /(/: Unterminated group",
        "",
      ].join("\n"),
    );
    expect(r.commands).toEqual({});
  });

  it("refuses --service for a single-container app, an unknown --host, and the aws driver", async () => {
    expect((await run(["logs", "--service", "web"], { "web-1": {} })).stderr).toBe("error: command line is invalid (1 problem):\n  --service: is for Compose apps (app.compose); demo is one container\n");
    expect((await run(["logs", "--host", "web-9"], { "web-1": {}, "web-2": {} })).stderr).toBe(
      'error: command line is invalid (1 problem):\n  --host: "web-9" is not a host of the blue slot (it has web-1, web-2)\n',
    );
    const aws = await run(["logs", "-f", "aws.yaml"], { "web-1": {} });
    expect(aws.code).toBe(2);
    expect(aws.stderr).toBe("error: aws.yaml is invalid (1 problem):\n  driver: `longshore logs` is not supported by the aws driver yet (local environments only)\n");
  });

  it("reads the committed hosts of a slot only: --slot green has none yet (its one host is still being prepared)", async () => {
    const r = await run(["logs", "--slot", "green"], { "web-1": {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: command line is invalid (1 problem):\n  --slot: the green slot of environment demo has no hosts (live: blue)\n");
    expect(r.commands).toEqual({});
  });

  it("--host reads only the hosts named", async () => {
    const r = await run(["logs", "--host", "web-10"], twoHosts);
    expect(Object.keys(r.commands)).toEqual(["web-10"]);
    expect(r.stdout).toBe("web-10 | two €\nweb-10 | three on 10\n");
  });
});

describe("logsSelector", () => {
  const env = environmentSchema.parse({ name: "shop", hosts: { os: "debian-13" }, app: { name: "shop", image: "shop:1", compose: "./compose.yaml", service: "web" } });
  const compose = { file: "compose.yaml", text: "services:\n  web:\n    image: shop:1\n  worker:\n    image: shop:1\n" };

  it("picks a Compose service by io.longshore.service (default app.service), a single container by io.longshore.app", () => {
    expect(logsSelector({ env, compose }, undefined)).toEqual({ label: "io.longshore.service", value: "web" });
    expect(logsSelector({ env, compose }, "worker")).toEqual({ label: "io.longshore.service", value: "worker" });
    const single = environmentSchema.parse({ name: "shop", app: { name: "shop", image: "shop:1" } });
    expect(logsSelector({ env: single, compose: null }, undefined)).toEqual({ label: "io.longshore.app", value: "shop" });
  });

  it("refuses a service the Compose file does not have, naming the ones it has", () => {
    expect(() => logsSelector({ env, compose }, "db")).toThrow('--service: "db" is not a service of compose.yaml (it has web, worker)');
  });
});

describe("events", () => {
  const ev = (ns: string, action: string, id: string) =>
    `{"Type":"container","Action":"${action}","Actor":{"ID":"${id}","Attributes":{"name":"n-${id}"}},"time":${ns.slice(0, 10)},"timeNano":${ns}}\n`;

  it("merges both engines' events in time order; without --follow the read ends now (--until)", async () => {
    const r = await run(["events", "--since", "1h", "--filter", "type=container"], {
      "web-1": { out: [["stdout", ev("1796400001000000000", "create", "a1") + ev("1796400003000000000", "start", "a1")]] },
      "web-2": { out: [["stdout", ev("1796400002000000000", "create", "b1")], ["stderr", "Error: something\n"]] },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        "web-1 | 2026-12-04T16:00:01.000000000Z container create a1 (name=n-a1)",
        "web-2 | 2026-12-04T16:00:02.000000000Z container create b1 (name=n-b1)",
        "web-1 | 2026-12-04T16:00:03.000000000Z container start a1 (name=n-a1)",
        "",
      ].join("\n"),
    );
    expect(r.stderr).toBe("web-2: Error: something\n");
    expect(r.commands["web-1"]).toMatch(/^docker system events --format '\{\{json \.\}\}' --since \d+\.\d{9} --until \d+\.\d{9} --filter type=container$/);
  });

  it("--follow: no --until, the command tied to its channel, no timeout; Ctrl-C is exit 130", async () => {
    const abort = new AbortController();
    const stdout = new Sink();
    const r = run(["events", "--follow"], { "web-1": { out: [["stdout", ev("1796400001000000000", "start", "a1")]], follow: true } }, { signal: abort.signal, stdout });
    while (stdout.text === "") await new Promise((resolve) => setTimeout(resolve, 10));
    abort.abort();
    const done = await r;
    expect(done.code).toBe(130);
    expect(done.stdout).toBe("web-1 | 2026-12-04T16:00:01.000000000Z container start a1 (name=n-a1)\n");
    expect(done.commands["web-1"]).toBe(
      `sh -c 'exec 3<&0; (cat <&3 >/dev/null 2>&1; kill $$ 2>/dev/null) >/dev/null 2>&1 & exec "$@" 3<&-' sh docker system events --format '{{json .}}'`,
    );
    expect(done.options["web-1"]!.timeoutMs).toBe(Infinity);
    expect(done.closed).toEqual(["web-1"]);
  });

  it("--json gives time, host, type, action, id and attributes", async () => {
    const r = await run(["events", "--json"], { "web-1": { out: [["stdout", ev("1796400001000000000", "start", "a1")]] } });
    expect(JSON.parse(r.stdout)).toEqual({ time: "2026-12-04T16:00:01.000000000Z", host: "web-1", type: "container", action: "start", id: "a1", attributes: { name: "n-a1" } });
  });

  it("eventsOptions: until is now without --follow, none with it (unless given); filters are checked", () => {
    const now = 1_796_400_000_000_000_000n;
    expect(eventsOptions({}, now)).toEqual({ follow: false, since: null, until: now, filters: [] });
    expect(eventsOptions({ follow: true }, now)).toEqual({ follow: true, since: null, until: null, filters: [] });
    expect(eventsOptions({ follow: true, until: "1796400060" }, now).until).toBe(now + 60_000_000_000n);
    expect(() => eventsOptions({ filter: ["type=container", "colour=red", "event"] }, now)).toThrow(
      /--filter: "colour=red" must be KEY=VALUE with KEY one of config, container, .*\n.*--filter: "event" must be KEY=VALUE/,
    );
  });
});
