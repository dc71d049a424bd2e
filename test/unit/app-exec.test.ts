// Unit: `longshore app exec` — the remote commands exactly (and their quoting through a real sh),
// the container lookup, the checks of the command line, the streamed output and its per-host
// summary and exit code, --json, and the -i session's wiring (raw mode entered and restored on every
// path, size and resizes, exit code passed through) with scripted transports and terminal. Does not
// prove SSH, a pty or docker (the integration test and test/e2e/app-exec.test.ts do).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import { Command as Program, CommanderError } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { appExecPlan, containerQuery, register, sessionExitCode, type AppExecFlags } from "../../cli/app";
import type { CliDeps, VerbDeps } from "../../cli/deps";
import type { HostOutcome } from "../../cli/each-host";
import { EXIT, exitCodeFor, passThroughExitCode, type ExitCode } from "../../cli/exit-codes";
import { exitSummary, PrefixedLines, settleHostExits } from "../../cli/host-output";
import { printError } from "../../cli/output";
import type { Terminal } from "../../cli/terminal";
import { AggregateHostError, ConfigError, TransportError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import { demoEnvironmentText, loadEnvironment } from "../../model/environment-file";
import type { SshTarget } from "../../model/ssh-target";
import { renderCommand } from "../../provisioner/command";
import { containerExecCommand, findContainerCommand, parseFoundContainer } from "../../provisioner/steps/app-exec";
import type { InteractiveOptions, InteractiveResult, TerminalSize } from "../../provisioner/transport/transport";
import type { EnvironmentHost, SlotDriver } from "../../rollout/driver";
import { FakeTransport, type FakeRule, type FakeTransportOptions } from "../helpers/fake-transport";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-app-exec-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SECRET = "s3cret-db-password";
const ID = "0123456789ab";

describe("the remote commands", () => {
  it("finds a single-container app's container by its io.longshore.app label, running ones only, newest first", () => {
    const c = findContainerCommand({ kind: "app", app: "demo" });
    expect(renderCommand(c, { mode: "exec", useSudo: false })).toBe("docker ps --filter label=io.longshore.app=demo --filter status=running --format '{{.ID}} {{.Names}}'");
    expect(renderCommand(c, { mode: "exec", useSudo: true })).toBe("sudo -n -- docker ps --filter label=io.longshore.app=demo --filter status=running --format '{{.ID}} {{.Names}}'");
  });

  it("finds a Compose service's container by Compose's project and service labels, leaving one-off (compose run) containers out", () => {
    const c = findContainerCommand({ kind: "compose", project: "shop", service: "worker" });
    expect(c.argv).toEqual([
      "docker", "ps",
      "--filter", "label=com.docker.compose.project=shop",
      "--filter", "label=com.docker.compose.service=worker",
      "--filter", "label=com.docker.compose.oneoff=False",
      "--filter", "status=running",
      "--format", "{{.ID}} {{.Names}}",
    ]);
  });

  it("reads the lookup: the newest container, how many matched, or why there is none", () => {
    const q = { kind: "app", app: "demo" } as const;
    expect(parseFoundContainer(`${ID} demo-v2\nfedcba987654 demo-v1\n`, q)).toEqual({ ok: true, value: { id: ID, name: "demo-v2", matches: 2 } });
    expect(parseFoundContainer("\n", q)).toEqual({ ok: false, message: "no running container labelled io.longshore.app=demo" });
    expect(parseFoundContainer("", { kind: "compose", project: "shop", service: "web" })).toEqual({ ok: false, message: "no running container of service web of Compose project shop" });
    expect(parseFoundContainer("Cannot connect\n", q)).toEqual({ ok: false, message: 'the engine listed no container ID for the container labelled io.longshore.app=demo ("Cannot connect")' });
  });

  const NASTY = ["sh", "-c", "echo \"$HOME\"; echo 'it''s'; exit 3", "two words", "$(reboot)", "a;b", "", "*"];

  it("docker exec keeps each word of CMD one argument: spaces, quotes, $ and ; included (exact text)", () => {
    expect(renderCommand(containerExecCommand(ID, NASTY, { interactive: false }), { mode: "exec", useSudo: false })).toBe(
      `docker exec ${ID} sh -c 'echo "$HOME"; echo '\\''it'\\'''\\''s'\\''; exit 3' 'two words' '$(reboot)' 'a;b' '' '*'`,
    );
    expect(containerExecCommand(ID, ["sh"], { interactive: true }).argv).toEqual(["docker", "exec", "-i", "-t", ID, "sh"]);
  });

  it("a real sh given the rendered text hands docker exactly those words", () => {
    const text = renderCommand(containerExecCommand(ID, NASTY, { interactive: true }), { mode: "exec", useSudo: false });
    // `docker` is a shell function here that prints each argument it gets on its own line.
    const out = execFileSync("sh", ["-c", `docker() { printf '<%s>\\n' "$@"; }; ${text}`], { encoding: "utf8" });
    expect(out).toBe(["exec", "-i", "-t", ID, ...NASTY].map((w) => `<${w}>\n`).join(""));
  });
});

/** The demo environment with one secret (what output is redacted of), in its own directory. */
async function demoEnv(name: string, extra = "") {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "longshore.yaml"),
    demoEnvironmentText("longshore-demo:v1").replace("    GREETING: hello\n", `    GREETING: hello\n  secrets:\n    DB_PASSWORD: { env: TEST_DB_PASSWORD }\n${extra}`),
  );
  return { dir, loaded: await loadEnvironment("longshore.yaml", { cwd: dir }) };
}

/** A Compose environment (services web and worker). */
async function composeEnv() {
  const dir = path.join(root, "compose");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "longshore.yaml"), `name: shop\nhosts: { os: debian-13 }\napp: { name: shop, image: "shop:1", compose: ./compose.yaml, service: web, port: 8080 }\n`);
  writeFileSync(path.join(dir, "compose.yaml"), "services:\n  web:\n    image: shop:1\n  worker:\n    image: shop:1\n    command: [work]\n");
  return { dir, loaded: await loadEnvironment("longshore.yaml", { cwd: dir }) };
}

describe("the command line, checked against the environment", () => {
  it("needs a command without -i; -i defaults to sh", async () => {
    const { loaded } = await demoEnv("plan");
    expect(appExecPlan(["ls", "-la"], {}, loaded)).toEqual({ argv: ["ls", "-la"], interactive: false, query: { kind: "app", app: "demo" } });
    expect(appExecPlan([], { interactive: true }, loaded)).toEqual({ argv: ["sh"], interactive: true, query: { kind: "app", app: "demo" } });
    expect(appExecPlan(["true"], { timeout: "2.5" }, loaded).timeoutMs).toBe(2500);
  });

  it("reports every problem at once, each at its flag", async () => {
    const { loaded } = await demoEnv("plan-bad");
    const problems = (argv: string[], flags: AppExecFlags) => {
      try {
        appExecPlan(argv, flags, loaded);
        return [];
      } catch (e) {
        return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    expect(problems([], { slot: "red", service: "web", timeout: "0" })).toEqual([
      '--slot: must be blue or green; got "red"',
      "CMD: name the command after --: longshore app exec -- CMD ARGS... (or -i for a shell)",
      "--timeout: must be a number of seconds greater than 0",
      "--service: is for Compose apps (app.compose); demo is one container",
    ]);
    expect(problems(["sh"], { interactive: true, host: ["a", "b"], json: true, timeout: "5" })).toEqual([
      "--host: -i runs on one host; got 2 (a, b)",
      "--json: is for runs without -i (a terminal session prints no document)",
      "--timeout: is for runs without -i (a session lasts until its command ends)",
    ]);
  });

  it("a Compose app runs in app.service's container unless --service names another of its services", async () => {
    const { loaded } = await composeEnv();
    expect(containerQuery(loaded, undefined)).toEqual({ ok: true, value: { kind: "compose", project: "shop", service: "web" } });
    expect(containerQuery(loaded, "worker")).toEqual({ ok: true, value: { kind: "compose", project: "shop", service: "worker" } });
    expect(containerQuery(loaded, "db")).toEqual({ ok: false, issue: { path: "--service", message: '"db" is not a service of compose.yaml (it has web, worker)' } });
  });
});

describe("exit codes and the summary", () => {
  it("a session's exit code is the remote one, or 128 + the signal's number", () => {
    expect([
      sessionExitCode({ exitCode: 0, signal: null }),
      sessionExitCode({ exitCode: 7, signal: null }),
      sessionExitCode({ exitCode: null, signal: "INT" }),
      sessionExitCode({ exitCode: null, signal: "KILL" }),
      sessionExitCode({ exitCode: null, signal: "NOSUCH" }),
      sessionExitCode({ exitCode: null, signal: null }),
    ]).toEqual([0, 7, 130, 137, 255, 255]);
    expect([passThroughExitCode(7), passThroughExitCode(300), passThroughExitCode(-1), passThroughExitCode(1.5)]).toEqual([7, 255, 255, 255]);
  });

  const ok = (host: string, exitCode: number | null, signal: string | null = null): HostOutcome<{ exitCode: number | null; signal: string | null }> => ({ host, ok: true, value: { exitCode, signal } });
  const failed = (host: string, error: Error): HostOutcome<{ exitCode: number | null; signal: string | null }> => ({ host, ok: false, error });

  it("one line per host: exit code, signal, interrupted, or not run", () => {
    expect(
      exitSummary([ok("web-1", 0), ok("web-22", 3), ok("web-3", null, "KILL"), failed("web-4", new TransportError("refused", "web-4", "refused")), failed("web-5", new TransportError("aborted", "web-5", "aborted"))]),
    ).toBe("web-1 : exit 0\nweb-22: exit 3\nweb-3 : killed by signal KILL\nweb-4 : not run (see error below)\nweb-5 : interrupted\n");
  });

  it("exit 0 only when every host exited 0; 4 when one did not; an unreachable host is an error", () => {
    const codes: ExitCode[] = [];
    const deps = { setExitCode: (c: ExitCode) => void codes.push(c) };
    settleHostExits([ok("a", 0), ok("b", 0)], deps);
    expect(codes).toEqual([]);
    settleHostExits([ok("a", 0), ok("b", 3)], deps);
    expect(codes).toEqual([EXIT.commandFailed]);
    expect(() => settleHostExits([ok("a", 0), failed("b", new TransportError("refused", "b", "connection refused"))], deps)).toThrow(AggregateHostError);
  });
});

describe("streamed output", () => {
  it("prefixes whole lines as they come, holds only an unfinished line, joins characters split between chunks, redacts", () => {
    const out: string[] = [];
    const lines = new PrefixedLines("web-1 | ", { write: (s: string) => out.push(s) }, (l) => l.replace(SECRET, "[redacted]"));
    const euro = Buffer.from("€");
    lines.push(Buffer.from("one\ntw"));
    lines.push(Buffer.concat([Buffer.from("o "), euro.subarray(0, 1)]));
    lines.push(Buffer.concat([euro.subarray(1), Buffer.from(`\n${SECRET}\nlast`)]));
    expect(out).toEqual(["web-1 | one\n", "web-1 | two €\nweb-1 | [redacted]\n"]);
    lines.end();
    expect(out.at(-1)).toBe("web-1 | last\n");
  });

  it("cuts a line that never ends into pieces instead of holding it", () => {
    const out: string[] = [];
    const lines = new PrefixedLines("h | ", { write: (s: string) => out.push(s) }, undefined, 4);
    lines.push(Buffer.from("abcdefghij"));
    expect(out).toEqual(["h | abcd\nh | efgh\n"]);
    lines.end();
    expect(out).toEqual(["h | abcd\nh | efgh\n", "h | ij\n"]);
  });
});

class Buf {
  text = "";
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** A transport with a scripted interactive session. */
class PtyFake extends FakeTransport {
  sessions: Array<{ text: string; options: InteractiveOptions }> = [];
  constructor(host: string, options: FakeTransportOptions, private readonly session: (o: InteractiveOptions) => Promise<InteractiveResult>) {
    super(host, options);
  }
  async interactive(command: Parameters<FakeTransport["exec"]>[0], options: InteractiveOptions): Promise<InteractiveResult> {
    this.sessions.push({ text: renderCommand(command, { mode: "exec", useSudo: this.needsSudo }), options });
    return this.session(options);
  }
}

/** A terminal that records raw mode and lets the test resize it. */
function fakeTerminal(isTTY = true) {
  const log: string[] = [];
  const listeners = new Set<(s: TerminalSize) => void>();
  const term: Terminal = {
    isTTY,
    input: new PassThrough(),
    output: new PassThrough(),
    term: "screen-256color",
    size: () => ({ rows: 30, cols: 100 }),
    onResize: (l) => {
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    enterRawMode: () => {
      log.push("raw");
      return () => void log.push("restored");
    },
  };
  return { term, log, resize: (s: TerminalSize) => listeners.forEach((l) => l(s)), listeners };
}

const target = (name: string): SshTarget => ({ name, address: "10.213.47.9", port: 22, user: "root", auth: { privateKeyFile: "/k" }, hostKey: { fingerprints: ["SHA256:x"] } });
const LOOKUP: FakeRule = { match: /^docker ps /, result: { stdout: `${ID} demo-v1\n` } };

/** Runs `app exec` as main.ts would (errors printed, exit code from the error's class), with fakes. */
async function harness(name: string, transports: Record<string, () => FakeTransport>, terminal = fakeTerminal(), signal?: AbortSignal) {
  const { dir } = await demoEnv(name);
  const stdout = new Buf();
  const stderr = new Buf();
  const fakes = new Map<string, FakeTransport>();
  const connected: string[] = [];
  let code: ExitCode = EXIT.ok;
  const deps: VerbDeps = {
    connect: async (t: SshTarget) => {
      connected.push(t.name);
      const f = transports[t.name]!();
      fakes.set(t.name, f);
      return f;
    },
    stdout,
    stderr,
    env: {},
    cwd: dir,
    homeDir: root,
    readFile: (p: string) => readFile(p, "utf8"),
    secretReader: systemSecretReader({ TEST_DB_PASSWORD: SECRET }),
    environmentDriver: async () => driver,
    ...(signal ? { signal } : {}),
    setExitCode: (c: ExitCode) => void (code = c),
  } as Partial<CliDeps> as VerbDeps;
  // Both slots have the same machines here; blue is live.
  const driver = {
    status: async () => ({ live: "blue", url: null, slots: { blue: { image: "longshore-demo:v1", hosts: [] }, green: { image: "longshore-demo:v1", hosts: [] } } }),
    sshHosts: async () => (["blue", "green"] as const).flatMap((role) => Object.keys(transports).map((n): EnvironmentHost => ({ name: n, role, target: target(n) }))),
  } as Partial<SlotDriver> as SlotDriver;
  const run = async (...argv: string[]): Promise<number> => {
    code = EXIT.ok;
    const program = new Program("longshore").enablePositionalOptions().exitOverride().configureOutput({ writeOut: (s) => void stdout.write(s), writeErr: (s) => void stderr.write(s) });
    register(program, deps, () => terminal.term);
    try {
      await program.parseAsync(argv, { from: "user" });
      return code;
    } catch (e) {
      if (!(e instanceof CommanderError)) printError(e, stderr, false);
      return exitCodeFor(e);
    }
  };
  return { run, stdout, stderr, fakes, connected, terminal };
}

describe("longshore app exec, without -i", () => {
  const hosts = {
    "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1", { rules: [LOOKUP, { match: /^docker exec /, result: { stdout: `demo-blue-g1-1\npassword=${SECRET}\n`, stderr: "warn\n", exitCode: 3, durationMs: 5 } }] }),
    "demo-blue-g1-22": () => new FakeTransport("demo-blue-g1-22", { rules: [LOOKUP, { match: /^docker exec /, result: { stdout: "demo-blue-g1-22", exitCode: 0, durationMs: 7 } }] }),
  };

  it("runs on every host of the slot: output line by line after the host's name (redacted), a summary, exit 4 when a host exited non-zero", async () => {
    const h = await harness("two", hosts);
    expect(await h.run("app", "exec", "--", "sh", "-c", "hostname; exit 3")).toBe(EXIT.commandFailed);
    expect(h.stdout.text).toBe("demo-blue-g1-1  | demo-blue-g1-1\ndemo-blue-g1-1  | password=[redacted]\ndemo-blue-g1-22 | demo-blue-g1-22\n");
    expect(h.stderr.text).toBe("demo-blue-g1-1  | warn\ndemo-blue-g1-1 : exit 3\ndemo-blue-g1-22: exit 0\n");
    for (const f of h.fakes.values()) {
      expect(f.log).toEqual([
        "exec: docker ps --filter label=io.longshore.app=demo --filter status=running --format '{{.ID}} {{.Names}}'",
        `exec: docker exec ${ID} sh -c 'hostname; exit 3'`,
        "close",
      ]);
    }
    // Streamed: the transport keeps no copy of the output.
    expect([...h.fakes.values()].map((f) => f.calls.find((c) => c.kind === "exec" && c.text.startsWith("docker exec")))).toEqual([
      expect.objectContaining({ options: expect.objectContaining({ maxOutputBytes: 0 }) }),
      expect.objectContaining({ options: expect.objectContaining({ maxOutputBytes: 0 }) }),
    ]);
  });

  it("exits 0 when every host exited 0; --host picks hosts of the slot by name", async () => {
    const h = await harness("one", hosts);
    expect(await h.run("app", "exec", "--host", "demo-blue-g1-22", "--", "hostname")).toBe(0);
    expect(h.connected).toEqual(["demo-blue-g1-22"]);
    expect(await h.run("app", "exec", "--host", "nope", "--", "hostname")).toBe(EXIT.badInput);
    expect(h.stderr.text).toContain('--host: "nope" is not a host of the blue slot (it has demo-blue-g1-1, demo-blue-g1-22)');
  });

  it("--json: each host's exit code, signal and output (redacted, bounded), the container, nothing else printed", async () => {
    const h = await harness("json", hosts);
    expect(await h.run("app", "exec", "--json", "--timeout", "9", "--", "hostname")).toBe(EXIT.commandFailed);
    expect(h.stderr.text).toBe("");
    expect(JSON.parse(h.stdout.text)).toEqual({
      environment: "demo",
      slot: "blue",
      command: ["hostname"],
      hosts: [
        { host: "demo-blue-g1-1", ok: false, exitCode: 3, signal: null, stdout: "demo-blue-g1-1\npassword=[redacted]\n", stderr: "warn\n", durationMs: 5, container: { id: ID, name: "demo-v1" }, stdoutBytes: 43, stderrBytes: 5, truncated: false },
        { host: "demo-blue-g1-22", ok: true, exitCode: 0, signal: null, stdout: "demo-blue-g1-22", stderr: "", durationMs: 7, container: { id: ID, name: "demo-v1" }, stdoutBytes: 15, stderrBytes: 0, truncated: false },
      ],
    });
    const exec = h.fakes.get("demo-blue-g1-1")!.calls.find((c) => c.kind === "exec" && c.text.startsWith("docker exec"));
    expect(exec).toMatchObject({ options: { maxOutputBytes: 1024 * 1024, timeoutMs: 9000 } });
  });

  it("a host without the container is an error naming it (exit 4); the others still run", async () => {
    const h = await harness("missing", {
      "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1", { rules: [{ match: /^docker ps /, result: { stdout: "" } }] }),
      "demo-blue-g1-2": hosts["demo-blue-g1-22"],
    });
    expect(await h.run("app", "exec", "--", "hostname")).toBe(EXIT.commandFailed);
    expect(h.stderr.text).toBe(
      "demo-blue-g1-1: not run (see error below)\ndemo-blue-g1-2: exit 0\nerror: 1 of 2 hosts failed:\n    demo-blue-g1-1: no running container labelled io.longshore.app=demo\n" +
        "hint: `longshore status` shows each host's health, `longshore logs` why a container stopped; the next rollout gives the slot fresh hosts.\n",
    );
    expect(h.fakes.get("demo-blue-g1-1")!.execs).toHaveLength(1);
  });

  it("a lookup the engine fails is a failed command with its stderr", async () => {
    const h = await harness("engine-down", { "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1", { rules: [{ match: /^docker ps /, result: { exitCode: 1, stderr: "Cannot connect to the Docker daemon\n" } }] }) });
    expect(await h.run("app", "exec", "--", "true")).toBe(EXIT.commandFailed);
    expect(h.stderr.text).toContain("demo-blue-g1-1: app.exec (find container): `docker ps --filter label=io.longshore.app=demo --filter status=running --format '{{.ID}} {{.Names}}'` exited 1\n        Cannot connect to the Docker daemon\n");
  });

  it("Ctrl-C: the hosts it stopped say `interrupted`, exit 130", async () => {
    const abort = new AbortController();
    const h = await harness(
      "interrupted",
      {
        "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1", { rules: [LOOKUP, { match: /^docker exec /, result: { stdout: "done\n" } }] }),
        "demo-blue-g1-2": () =>
          new FakeTransport("demo-blue-g1-2", {
            rules: [
              LOOKUP,
              {
                match: /^docker exec /,
                error: () => {
                  abort.abort();
                  return new TransportError("aborted", "demo-blue-g1-2", "`docker exec` was aborted");
                },
              },
            ],
          }),
      },
      undefined,
      abort.signal,
    );
    expect(await h.run("app", "exec", "--", "sleep", "100")).toBe(EXIT.interrupted);
    expect(h.stderr.text).toBe("demo-blue-g1-1: exit 0\ndemo-blue-g1-2: interrupted\n");
  });

  it("refuses the aws driver before any host", async () => {
    const h = await harness("aws", hosts);
    writeFileSync(path.join(root, "aws", "longshore.yaml"), "name: web\ndriver: aws\napp: { name: web, image: 'registry.example/web:1', port: 8080 }\naws: { region: eu-west-1, sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMbaf9+3CIh2DR6vmmCNlmT4ckB5RZUBpy0QqZ2OvYqH me@laptop', adminCidrs: [203.0.113.7/32] }\n");
    const code = await h.run("app", "exec", "--", "true");
    expect(h.stderr.text).toBe("error: longshore.yaml is invalid (1 problem):\n  driver: `longshore app exec` is not supported by the aws driver yet (local environments only)\n");
    expect(code).toBe(EXIT.badInput);
    expect(h.connected).toEqual([]);
  });
});

describe("longshore app exec -i", () => {
  const session = (result: InteractiveResult, output = "") => async (o: InteractiveOptions) => {
    o.stdout.write(output);
    return result;
  };

  it("opens one session on the slot's first host: docker exec -i -t on a pty of the terminal's size, raw mode around it, the remote exit code is longshore's", async () => {
    let resized: TerminalSize[] = [];
    const term = fakeTerminal();
    const h = await harness(
      "session",
      {
        "demo-blue-g1-1": () =>
          new PtyFake("demo-blue-g1-1", { rules: [LOOKUP] }, async (o) => {
            expect(term.log).toEqual(["raw"]);
            // A resize during the session reaches the transport's listener.
            const off = o.onResize!((s) => resized.push(s));
            term.resize({ rows: 50, cols: 132 });
            off();
            return { exitCode: 7, signal: null, durationMs: 1 };
          }),
        "demo-blue-g1-2": () => new FakeTransport("demo-blue-g1-2"),
      },
      term,
    );
    expect(await h.run("app", "exec", "-i", "--", "sh", "-c", "exit 7")).toBe(7);
    expect(h.connected).toEqual(["demo-blue-g1-1"]);
    const f = h.fakes.get("demo-blue-g1-1") as PtyFake;
    expect(f.sessions).toHaveLength(1);
    expect(f.sessions[0]!.text).toBe(`docker exec -i -t ${ID} sh -c 'exit 7'`);
    expect(f.sessions[0]!.options).toMatchObject({ size: { rows: 30, cols: 100 }, term: "screen-256color", stdin: term.term.input, stdout: term.term.output });
    expect(resized).toEqual([{ rows: 50, cols: 132 }]);
    expect(term.log).toEqual(["raw", "restored"]);
    expect(term.listeners.size).toBe(0);
    expect(h.stderr.text).toBe("demo-blue-g1-1: demo-v1: sh -c 'exit 7'\n");
    expect(f.log.at(-1)).toBe("close");
    resized = [];
  });

  it("defaults to sh, honours --host and --slot, and maps a signal to 128 + its number", async () => {
    const h = await harness("session-host", {
      "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1"),
      "demo-blue-g1-2": () => new PtyFake("demo-blue-g1-2", { rules: [LOOKUP] }, session({ exitCode: null, signal: "INT", durationMs: 1 })),
    });
    expect(await h.run("app", "exec", "-i", "--slot", "green", "--host", "demo-blue-g1-2")).toBe(130);
    expect((h.fakes.get("demo-blue-g1-2") as PtyFake).sessions[0]!.text).toBe(`docker exec -i -t ${ID} sh`);
  });

  it("restores the terminal when the session fails, and reports the failure as unreachable (3)", async () => {
    const term = fakeTerminal();
    const h = await harness(
      "session-lost",
      { "demo-blue-g1-1": () => new PtyFake("demo-blue-g1-1", { rules: [LOOKUP] }, async () => Promise.reject(new TransportError("disconnected", "demo-blue-g1-1", "connection lost during `docker exec`"))) },
      term,
    );
    expect(await h.run("app", "exec", "-i")).toBe(EXIT.unreachable);
    expect(term.log).toEqual(["raw", "restored"]);
    expect(h.stderr.text).toContain("error: demo-blue-g1-1: connection lost during `docker exec`\n");
  });

  it("never enters raw mode when the container is not there (exit 4)", async () => {
    const term = fakeTerminal();
    const h = await harness("session-missing", { "demo-blue-g1-1": () => new PtyFake("demo-blue-g1-1", {}, session({ exitCode: 0, signal: null, durationMs: 1 })) }, term);
    expect(await h.run("app", "exec", "-i")).toBe(EXIT.commandFailed);
    expect(term.log).toEqual([]);
    expect((h.fakes.get("demo-blue-g1-1") as PtyFake).sessions).toEqual([]);
  });

  it("refuses a stdin that is not a terminal, and several --host, before any host", async () => {
    const h = await harness("session-notty", { "demo-blue-g1-1": () => new FakeTransport("demo-blue-g1-1") }, fakeTerminal(false));
    expect(await h.run("app", "exec", "-i", "--", "sh")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe(
      "error: command line is invalid (1 problem):\n  --interactive: needs a terminal: stdin is not a TTY (without -i the command runs with its output collected, on every host)\n",
    );
    h.stderr.text = "";
    expect(await h.run("app", "exec", "-i", "--host", "a", "--host", "b")).toBe(EXIT.badInput);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --host: -i runs on one host; got 2 (a, b)\n");
    expect(h.connected).toEqual([]);
  });
});
