// The CLI with injected fakes (connect, files, streams): does NOT prove the real ssh2 wiring or the demo sshd (see the integration tests).
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CommanderError } from "commander";
import {
  AggregateHostError,
  BundleError,
  CommandFailedError,
  ConfigError,
  HealthCheckError,
  HostKeyError,
  LockHeldError,
  MissingToolError,
  PreconditionError,
  RegistryError,
  RolloutError,
  TransportError,
} from "../../core/errors";
import { main } from "../../cli/main";
import type { CliDeps } from "../../cli/deps";
import type { DemoSshd } from "../../cli/demo-sshd";
import { EXIT, exitCodeFor } from "../../cli/exit-codes";
import { createProgress, formatBytes, table } from "../../cli/output";
import { targetsFromFlags } from "../../cli/targets";
import type { SshTarget } from "../../model/ssh-target";
import type { Transport } from "../../provisioner/transport/transport";
import { FakeTransport, InFlight, type FakeRule } from "../helpers/fake-transport";
import { FULL_FACTS, FULL_FACTS_OUTPUT } from "../helpers/facts-fixture";

const FP = "SHA256:ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs";
const FACTS_RULE: FakeRule = { match: /^sh -c /, result: { stdout: FULL_FACTS_OUTPUT } };
/** What FULL_FACTS_OUTPUT parses to: an output without an nproc section says nothing about CPUs (unless the fixture does). */
const FACTS = { cpus: null, ...FULL_FACTS };

class Buf {
  text = "";
  constructor(readonly isTTY = false) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

interface Harness {
  deps: CliDeps;
  stdout: Buf;
  stderr: Buf;
  connected: SshTarget[];
  fakes: Map<string, FakeTransport>;
}

/** Fake dependencies; `hosts` answers each connect by target name (a transport factory or an error). */
function harness(
  hosts: Record<string, (() => FakeTransport) | Error>,
  extra: Partial<CliDeps> = {},
): Harness {
  const stdout = new Buf();
  const stderr = new Buf();
  const connected: SshTarget[] = [];
  const fakes = new Map<string, FakeTransport>();
  const deps: CliDeps = {
    connect: async (target): Promise<Transport> => {
      connected.push(target);
      const h = hosts[target.name];
      if (h === undefined) throw new Error(`test: unexpected host ${target.name}`);
      if (h instanceof Error) throw h;
      const f = h();
      fakes.set(target.name, f);
      return f;
    },
    stdout,
    stderr,
    env: {},
    cwd: "/work/proj",
    homeDir: "/home/me",
    // The one file there is: the key that `target` names (`--identity keys/id`).
    readFile: async (p) => {
      if (p === "/work/proj/keys/id") return "-----BEGIN OPENSSH PRIVATE KEY-----\n";
      throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: "ENOENT" });
    },
    secretReader: {
      env: {},
      readFile: async () => {
        throw new Error("test: no secret files");
      },
      run: async () => {
        throw new Error("test: no secret commands");
      },
    },
    startDemoSshd: async () => {
      throw new Error("test: no demo");
    },
    environmentDriver: async () => {
      throw new Error("test: no environments");
    },
    destroyEnvironment: async () => {
      throw new Error("test: no environments");
    },
    operationLockDir: () => "/nonexistent",
    gitUserEmail: async () => null,
    userAtHost: () => "me@laptop",
    ...extra,
  };
  return { deps, stdout, stderr, connected, fakes };
}

const target = ["--identity", "keys/id", "--host-key", FP];

describe("exitCodeFor", () => {
  const cmdErr = new CommandFailedError({ host: "h", stepId: "s.x", phase: "apply", command: "x", exitCode: 1, signal: null, stderrTail: "" });
  const refused = new TransportError("refused", "h", "refused");
  it.each([
    ["ConfigError", new ConfigError("f", []), EXIT.badInput],
    ["BundleError", new BundleError("/b", [{ file: "manifest.json", message: "missing" }]), EXIT.badInput],
    ["TransportError", refused, EXIT.unreachable],
    ["HostKeyError", new HostKeyError("h", [FP], "SHA256:x"), EXIT.unreachable],
    ["CommandFailedError", cmdErr, EXIT.commandFailed],
    ["PreconditionError", new PreconditionError("no root"), EXIT.precondition],
    ["MissingToolError", new MissingToolError("no pulumi"), EXIT.precondition],
    ["RolloutError", new RolloutError("rolled back"), EXIT.rolloutFailed],
    ["LockHeldError", new LockHeldError("locked"), EXIT.rolloutFailed],
    ["HealthCheckError", new HealthCheckError("unhealthy"), EXIT.rolloutFailed],
    ["RegistryError auth", new RegistryError("auth", "r:5000", "refused"), EXIT.badInput],
    ["RegistryError not-found", new RegistryError("not-found", "r:5000", "no tag"), EXIT.badInput],
    ["RegistryError unreachable", new RegistryError("unreachable", "r:5000", "refused"), EXIT.unreachable],
    ["RegistryError protocol", new RegistryError("protocol", "r:5000", "odd answer"), EXIT.failure],
    ["plain Error", new Error("bug"), EXIT.failure],
    ["a string", "weird", EXIT.failure],
    ["usage error", new CommanderError(1, "commander.unknownOption", "x"), EXIT.badInput],
    ["help", new CommanderError(0, "commander.helpDisplayed", "x"), EXIT.ok],
    ["hosts: command only", new AggregateHostError([{ host: "a", error: cmdErr }], 2), EXIT.commandFailed],
    ["hosts: command + unreachable", new AggregateHostError([{ host: "a", error: cmdErr }, { host: "b", error: refused }], 2), EXIT.unreachable],
    ["hosts: bug + command", new AggregateHostError([{ host: "a", error: new Error("bug") }, { host: "b", error: cmdErr }], 2), EXIT.commandFailed],
  ])("%s => %i", (_name, err, code) => {
    expect(exitCodeFor(err)).toBe(code);
  });

  it("uses the documented numbers", () => {
    expect(EXIT).toEqual({ ok: 0, failure: 1, badInput: 2, unreachable: 3, commandFailed: 4, precondition: 5, rolloutFailed: 6, interrupted: 130 });
  });
});

describe("plan --detailed-exitcode", () => {
  it("every error is exit 1 (bad input and usage errors too), so that 2 only ever means changes; help is 0", async () => {
    const h = harness({});
    expect(await main(["plan", "--detailed-exitcode", "-f", "nosuch.yaml", "--local-env", "e2e"], h.deps)).toBe(1);
    expect(h.stderr.text).toBe(
      "error: nosuch.yaml is invalid (1 problem):\n  nosuch.yaml: the file does not exist\nhint: Run `longshore up` with no arguments to create the local demo environment, or pass -f FILE.\n",
    );
    expect(await main(["plan", "--bogus", "--detailed-exitcode"], harness({}).deps)).toBe(1);
    expect(await main(["plan", "--detailed-exitcode", "--help"], harness({}).deps)).toBe(0);
    // Without the flag the same mistakes are bad input, as on every verb.
    expect(await main(["plan", "-f", "nosuch.yaml", "--local-env", "e2e"], harness({}).deps)).toBe(EXIT.badInput);
    expect(await main(["plan", "--bogus"], harness({}).deps)).toBe(EXIT.badInput);
  });

  it("--help documents it", async () => {
    const h = harness({});
    expect(await main(["plan", "--help"], h.deps)).toBe(0);
    expect(h.stdout.text.replace(/\s+/g, " ")).toContain("--detailed-exitcode exit 0 when nothing would change, 2 when something would, 1 on any error (bad input too)");
  });
});

describe("longshore facts", () => {
  it("--json prints one document with each host's facts, connects once per host with the exact target, shows no progress", async () => {
    const h = harness({ "10.0.0.5": () => new FakeTransport("10.0.0.5", { rules: [FACTS_RULE] }), "web.example": () => new FakeTransport("web.example", { rules: [FACTS_RULE] }) });
    const code = await main(["facts", "--host", "10.0.0.5", "--host", "web.example", ...target, "--json"], h.deps);
    expect(code).toBe(0);
    expect(JSON.parse(h.stdout.text)).toEqual({
      hosts: [
        { host: "10.0.0.5", ok: true, facts: FACTS },
        { host: "web.example", ok: true, facts: FACTS },
      ],
    });
    expect(h.stderr.text).toBe("");
    expect(h.connected).toEqual(
      ["10.0.0.5", "web.example"].map((a) => ({
        name: a,
        address: a,
        port: 22,
        user: "root",
        auth: { privateKeyFile: "/work/proj/keys/id" },
        hostKey: { fingerprints: [FP] },
        sudo: false,
      })),
    );
    expect([...h.fakes.values()].map((f) => [f.execs.length, f.closeCount])).toEqual([
      [1, 1],
      [1, 1],
    ]);
  });

  it("prints a table and plain progress lines when stderr is not a terminal", async () => {
    const h = harness({ "10.0.0.5": () => new FakeTransport("10.0.0.5", { rules: [FACTS_RULE] }) });
    expect(await main(["facts", "--host", "10.0.0.5", ...target], h.deps)).toBe(0);
    expect(h.stdout.text).toBe(
      table([
        ["HOST", "OS", "ARCH", "KERNEL", "CGROUP", "INIT", "DISK FREE", "MEMORY AVAIL/TOTAL", "ENGINE"],
        ["10.0.0.5", "Debian GNU/Linux 12 (bookworm)", "amd64", "6.1.0-18-amd64", "v2", "systemd", "78.8 GiB", "23.1 GiB / 23.5 GiB", "docker 24.0.7"],
      ]),
    );
    expect(h.stderr.text).toBe("10.0.0.5: connecting\n10.0.0.5: gathering facts\n10.0.0.5: done\n");
  });

  it("reports an unreachable host with exit 3 while the other host's facts are still printed", async () => {
    const h = harness({
      a: () => new FakeTransport("a", { rules: [FACTS_RULE] }),
      b: new HostKeyError("b", [FP], "SHA256:other"),
    });
    const code = await main(["facts", "--host", "a", "--host", "b", ...target, "--json"], h.deps);
    expect(code).toBe(3);
    const doc = JSON.parse(h.stdout.text);
    expect(doc.hosts[0]).toEqual({ host: "a", ok: true, facts: FACTS });
    expect(doc.hosts[1]).toEqual({
      host: "b",
      ok: false,
      error: {
        code: "HOST_KEY_MISMATCH",
        message: `b: host key verification failed: expected ${FP}, presented SHA256:other`,
        suggestion: "If the host was legitimately rebuilt, update its pinned key; otherwise treat this as an attack.",
        context: { host: "b", expected: [FP], presented: "SHA256:other" },
      },
    });
    expect(h.stderr.text).toBe(
      "error: 1 of 2 hosts failed:\n" +
        `    b: host key verification failed: expected ${FP}, presented SHA256:other\n` +
        "hint: If the host was legitimately rebuilt, update its pinned key; otherwise treat this as an attack.\n",
    );
  });

  it("reads an inventory through the injected file reader, relative to the working directory", async () => {
    const files: Record<string, string> = {
      "/work/proj/inv/hosts.yaml": `hosts:\n  web-1:\n    address: 10.0.0.5\n    port: 2222\n    identity: id_web\n    hostKey: ${FP}\n`,
      "/work/proj/inv/id_web": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    };
    const h = harness({ "web-1": () => new FakeTransport("web-1", { rules: [FACTS_RULE] }) }, { readFile: async (p) => files[p]! });
    expect(await main(["facts", "-i", "inv/hosts.yaml", "--json"], h.deps)).toBe(0);
    expect(h.connected.map((t) => [t.name, t.address, t.port, t.auth.privateKeyFile])).toEqual([["web-1", "10.0.0.5", 2222, "/work/proj/inv/id_web"]]);
  });

  it("refuses a bad inventory with exit 2 before contacting any host, listing every problem", async () => {
    const h = harness({}, { readFile: async () => `hosts:\n  web-1:\n    address: 10.0.0.5\n    port: 0\n    colour: red\n` });
    expect(await main(["facts", "--inventory", "inv.yaml"], h.deps)).toBe(2);
    expect(h.connected).toEqual([]);
    expect(h.stdout.text).toBe("");
    expect(h.stderr.text).toBe(
      "error: /work/proj/inv.yaml is invalid (4 problems):\n" +
        "  /work/proj/inv.yaml: hosts.web-1: no way to log in: set identity (a private key file) or agent: true\n" +
        "  /work/proj/inv.yaml: hosts.web-1: no way to verify the host key: set hostKey, hostKeys, knownHosts or trustOnFirstUse: true\n" +
        "  /work/proj/inv.yaml: hosts.web-1.port: must be a whole number from 1 to 65535\n" +
        "  /work/proj/inv.yaml: hosts.web-1.colour: unknown key\n" +
        "hint: Fix the listed problems; docs/inventory.md describes the format.\n",
    );
  });

  it("honours --concurrency", async () => {
    const inFlight = new InFlight();
    const hosts = Object.fromEntries(["a", "b", "c", "d"].map((n) => [n, () => new FakeTransport(n, { rules: [FACTS_RULE], delayMs: 5, inFlight })]));
    const h = harness(hosts);
    expect(await main(["facts", ...["a", "b", "c", "d"].flatMap((n) => ["--host", n]), ...target, "--json", "--concurrency", "2"], h.deps)).toBe(0);
    expect(inFlight.max).toBe(2);
  });

  it("--demo starts the throwaway sshd, uses its pinned key, and stops it also when facts fail", async () => {
    for (const outcome of ["ok", "fail"] as const) {
      let stops = 0;
      const demoTarget: SshTarget = {
        name: "demo-sshd",
        address: "127.0.0.1",
        port: 40022,
        user: "root",
        auth: { privateKeyFile: "/tmp/x/client" },
        hostKey: { fingerprints: [FP] },
      };
      const demo: DemoSshd = { pid: 4242, target: demoTarget, stop: async () => void stops++ };
      const h = harness(
        { "demo-sshd": outcome === "ok" ? () => new FakeTransport("demo-sshd", { rules: [FACTS_RULE] }) : new TransportError("refused", "demo-sshd", "refused") },
        { startDemoSshd: async () => demo },
      );
      const code = await main(["facts", "--demo"], h.deps);
      expect([outcome, code, stops]).toEqual([outcome, outcome === "ok" ? 0 : 3, 1]);
      expect(h.connected).toEqual([demoTarget]);
      expect(h.stderr.text.split("\n")[0]).toBe(`demo sshd: root@127.0.0.1:40022 (pid 4242), host key ${FP}`);
    }
  });

  it("--demo refuses target flags", async () => {
    const h = harness({});
    expect(await main(["facts", "--demo", "--host", "x"], h.deps)).toBe(2);
    expect(h.stderr.text).toBe("error: command line is invalid (1 problem):\n  --demo: starts its own sshd: drop --inventory/--host and their flags\n");
  });
});

describe("longshore exec", () => {
  const rules: Record<string, FakeRule[]> = {
    "web-1": [{ match: "uname -a", result: { stdout: "Linux web-1 6.1.0\nsecond line\n", durationMs: 12.4 } }],
    "web-2": [{ match: "uname -a", result: { exitCode: 2, stderr: "uname: oops\n", durationMs: 3 } }],
  };
  const two = () =>
    harness({ "web-1": () => new FakeTransport("web-1", { rules: rules["web-1"]! }), "web-2": () => new FakeTransport("web-2", { rules: rules["web-2"]! }) });

  it("--json gives each host's exit code and output, and exits 4 when a command exited non-zero", async () => {
    const h = two();
    const code = await main(["exec", "--host", "web-1", "--host", "web-2", ...target, "--json", "--", "uname", "-a"], h.deps);
    expect(code).toBe(4);
    expect(JSON.parse(h.stdout.text)).toEqual({
      command: "uname -a",
      sudo: false,
      hosts: [
        { host: "web-1", ok: true, exitCode: 0, signal: null, stdout: "Linux web-1 6.1.0\nsecond line\n", stderr: "", durationMs: 12 },
        { host: "web-2", ok: false, exitCode: 2, signal: null, stdout: "", stderr: "uname: oops\n", durationMs: 3 },
      ],
    });
    expect(h.stderr.text).toBe("");
    expect([...h.fakes.values()].map((f) => f.execs)).toEqual([["uname -a"], ["uname -a"]]);
  });

  it("prefixes each host's output with its name and prints an exit-code summary", async () => {
    const h = two();
    expect(await main(["exec", "--host", "web-1", "--host", "web-2", ...target, "--", "uname", "-a"], h.deps)).toBe(4);
    expect(h.stdout.text).toBe("web-1 | Linux web-1 6.1.0\nweb-1 | second line\n");
    expect(h.stderr.text).toBe(
      [
        "web-1: connecting",
        "web-2: connecting",
        "web-1: running",
        "web-2: running",
        "web-1: done",
        "web-2: done",
        "web-2 | uname: oops",
        "web-1: exit 0",
        "web-2: exit 2",
        "",
      ].join("\n"),
    );
  });

  it("exits 0 when every host's command exited 0", async () => {
    const h = harness({ "web-1": () => new FakeTransport("web-1", { rules: rules["web-1"]! }) });
    expect(await main(["exec", "--host", "web-1", ...target, "--json", "--", "uname", "-a"], h.deps)).toBe(0);
  });

  it("quotes arguments through the one quoting function, honours --sudo and --timeout", async () => {
    const h = harness({ "web-1": () => new FakeTransport("web-1", { needsSudo: true }) });
    const code = await main(["exec", "--host", "web-1", "--user", "deploy", ...target, "--sudo", "--timeout", "2.5", "--json", "--", "sh", "-c", "echo 'hi' $HOME"], h.deps);
    expect(code).toBe(0);
    const f = h.fakes.get("web-1")!;
    expect(f.calls).toEqual([
      { kind: "exec", text: `sudo -n -- sh -c 'echo '\\''hi'\\'' $HOME'`, display: `sudo -n -- sh -c 'echo '\\''hi'\\'' $HOME'`, options: { timeoutMs: 2500 } },
      { kind: "close" },
    ]);
    expect(JSON.parse(h.stdout.text).sudo).toBe(true);
    expect(h.connected[0]!.sudo).toBe(true);
  });

  it("reports a dropped connection as unreachable (3) even when another host's command failed", async () => {
    const h = harness({
      "web-2": () => new FakeTransport("web-2", { rules: rules["web-2"]! }),
      "web-3": () => new FakeTransport("web-3", { rules: [{ match: "uname -a", error: new TransportError("disconnected", "web-3", "connection lost") }] }),
    });
    expect(await main(["exec", "--host", "web-2", "--host", "web-3", ...target, "--", "uname", "-a"], h.deps)).toBe(3);
    expect(h.stderr.text).toContain("web-3: not run (see error below)\nerror: 1 of 2 hosts failed:\n    web-3: connection lost\n");
    expect(h.fakes.get("web-3")!.closeCount).toBe(1);
  });
});

describe("usage and input errors", () => {
  it.each([
    [["facts", "--bogus"], "error: unknown option '--bogus'\n(run with --help for usage)\n"],
    [["exec", "--host", "a", ...target], "error: missing required argument 'command'\n(run with --help for usage)\n"],
    [["frobnicate"], "error: unknown command 'frobnicate'\n(run with --help for usage)\n"],
    [["facts"], "error: command line is invalid (1 problem):\n  --host: no target: pass --inventory FILE or --host ADDRESS\nhint: Run with --help for the flags; docs/inventory.md explains each setting.\n"],
    [
      ["facts", "--inventory", "x.yaml", "--port", "22", "--host", "h"],
      "error: command line is invalid (2 problems):\n  --host: cannot be combined with --inventory (set it in the inventory file)\n  --port: cannot be combined with --inventory (set it in the inventory file)\n",
    ],
    [["facts", "--host", "h", ...target, "--concurrency", "0"], "error: command line is invalid (1 problem):\n  --concurrency: must be a whole number of at least 1\n"],
    [["exec", "--host", "h", ...target, "--timeout", "-1", "--", "true"], "error: command line is invalid (1 problem):\n  --timeout: must be a number of seconds greater than 0\n"],
    [["provision"], "error: command line is invalid (1 problem):\n  --inventory: name the hosts: -i/--inventory FILE or --env NAME\n"],
    [
      ["plan", "-i", "hosts.yaml", "--slot", "red"],
      'error: command line is invalid (1 problem):\n  --slot: must be one of "blue", "green"\n',
    ],
    [
      ["check"],
      "error: longshore.yaml is invalid (1 problem):\n  longshore.yaml: the file does not exist\nhint: Run `longshore up` with no arguments to create the local demo environment, or pass -f FILE.\n",
    ],
    [["rollout", "app:v2", "--break-lock"], "error: unknown option '--break-lock'\n(run with --help for usage)\n"],
  ])("%j exits 2 without contacting a host", async (argv, stderr) => {
    const h = harness({});
    expect(await main(argv, h.deps)).toBe(2);
    expect(h.stderr.text).toBe(stderr);
    expect(h.connected).toEqual([]);
  });

  it("--help exits 0 and prints usage on stdout", async () => {
    const h = harness({});
    expect(await main(["--help"], h.deps)).toBe(0);
    expect(h.stdout.text).toMatch(/^Usage: longshore \[options\] \[command\]\n/);
    expect(h.stdout.text).toContain("facts [options]");
    expect(h.stdout.text).toContain("exec [options] <command...>");
    const verbs = [...h.stdout.text.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(verbs).toEqual(["check", "up", "rollout", "rollback", "status", "destroy", "accessory", "audit", "lock", "logs", "events", "prune", "provision", "plan", "facts", "exec", "app", "local", "engine", "version", "help"]);
    expect(h.stdout.text).toContain("rollout [options] [image]");
  });

  it("the environment verbs and provision/plan take -f (default ./longshore.yaml); no verb has --break-lock", async () => {
    for (const verb of ["check", "up", "rollout", "rollback", "status", "destroy", "provision", "plan"]) {
      const h = harness({});
      expect(await main([verb, "--help"], h.deps)).toBe(0);
      // Commander wraps help to the terminal's width: compare with the spaces folded.
      expect(h.stdout.text.replace(/\s+/g, " ")).toMatch(/ -f, --file <file> (environment file|the environment file: app, registry, engine) \(default \.\/longshore\.yaml[);]/);
      expect(h.stdout.text).not.toContain("break-lock");
    }
  });

  it("local image --version v2 --out FILE writes the v2 image; only `longshore --version` prints longshore's version", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ls-cli-version-"));
    try {
      const out = path.join(dir, "v2.tar");
      const h = harness({}, { env: { LONGSHORE_CACHE_DIR: path.join(dir, "cache") } });
      expect(await main(["local", "image", "--version", "v2", "--out", out], h.deps)).toBe(0);
      expect(h.stdout.text).toMatch(new RegExp(`^${out}\nsha256:[0-9a-f]{64} longshore-demo:v2\n$`));
      expect(statSync(out).size).toBeGreaterThan(1_000_000);

      const root = harness({});
      expect(await main(["--version"], root.deps)).toBe(0);
      expect(root.stdout.text).toBe("longshore 0.1.0\nengine bundle: none pinned (no longshore.lock)\n");
      const late = harness({});
      expect(await main(["check", "--version"], late.deps)).toBe(2);
      expect(late.stdout.text).toBe("");
      expect(late.stderr.text).toBe("error: unknown option '--version'\n(run with --help for usage)\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints a stack trace only when LONGSHORE_DEBUG=1", async () => {
    for (const debug of [false, true]) {
      const h = harness({ a: new Error("boom") }, { env: debug ? { LONGSHORE_DEBUG: "1" } : {} });
      expect(await main(["facts", "--host", "a", ...target, "--json"], h.deps)).toBe(1);
      expect(h.stderr.text.startsWith("error: 1 of 1 host failed:\n    boom\n")).toBe(true);
      expect([debug, /\n\s+at /.test(h.stderr.text)]).toEqual([debug, debug]);
    }
  });
});

describe("identity files are input", () => {
  it("a missing, directory or empty --identity is exit 2 naming the flag and the file, before any host", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ls-cli-identity-"));
    try {
      writeFileSync(path.join(dir, "empty"), "");
      const cases: Array<[string, string]> = [
        ["nokey", `${dir}/nokey does not exist`],
        [".", `${dir} is a directory`],
        ["empty", `${dir}/empty is empty`],
      ];
      for (const [identity, message] of cases) {
        const h = harness({ "10.0.0.5": () => new FakeTransport("10.0.0.5", { rules: [FACTS_RULE] }) }, { cwd: dir, readFile: (p) => readFile(p, "utf8") });
        expect(await main(["facts", "--host", "10.0.0.5", "--identity", identity, "--host-key", FP], h.deps)).toBe(2);
        expect(h.stderr.text).toBe(
          `error: command line is invalid (1 problem):\n  --identity: ${message}\nhint: Run with --help for the flags; docs/inventory.md explains each setting.\n`,
        );
        expect(h.connected).toEqual([]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("targetsFromFlags", () => {
  const env = { cwd: "/w", homeDir: "/home/me" };

  it("refuses a --host or --jump that is not a host name or an IP address, quoting it (shortened), all at once", () => {
    const r = targetsFromFlags({ host: ["10.0.0.5", "web\u0007", "wéb", "x".repeat(1_000_000)], identity: "/k", hostKey: [FP], jump: "ops@bästion", jumpHostKey: [FP] }, env);
    const message = "must be a host name (letters, digits, '-' and '.') or an IPv4 or IPv6 address";
    expect(r).toEqual({
      ok: false,
      issues: [
        { path: "--host", message: `${message} (got "web\\u0007")` },
        { path: "--host", message: `${message} (got "wéb")` },
        { path: "--host", message: `${message} (got "${"x".repeat(40)}"... 1,000,000 characters)` },
        { path: "--jump", message },
      ],
    });
  });

  it("builds a jump host from --jump with its own pinned key, sharing identity", () => {
    const r = targetsFromFlags({ host: ["10.0.0.5"], identity: "/k", hostKey: [FP], jump: "ops@bastion.example:2222", jumpHostKey: [FP] }, env);
    expect(r).toEqual({
      ok: true,
      value: [
        {
          name: "10.0.0.5",
          address: "10.0.0.5",
          port: 22,
          user: "root",
          auth: { privateKeyFile: "/k" },
          hostKey: { fingerprints: [FP] },
          sudo: false,
          jump: {
            name: "10.0.0.5.jump",
            address: "bastion.example",
            port: 2222,
            user: "ops",
            auth: { privateKeyFile: "/k" },
            hostKey: { fingerprints: [FP] },
            sudo: true,
          },
        },
      ],
    });
  });

  it.each([
    [{ jump: "a@b@c" }, [{ path: "--jump", message: "must be [user@]host[:port]" }]],
    [{ jump: "bastion:99999", jumpHostKey: [FP] }, [{ path: "--jump", message: "must be a whole number from 1 to 65535" }]],
    [
      { jump: "bastion" },
      [{ path: "--jump", message: "no way to verify the host key: pass --jump-host-key SHA256:..., --known-hosts FILE or --trust-on-first-use" }],
    ],
    [{ jumpHostKey: ["SHA256:bad"] }, [{ path: "--jump-host-key", message: "only applies with --jump" }]],
    [{ port: "ssh" }, [{ path: "--port", message: "must be a number (got a string)" }]],
    [{ hostKey: ["md5"] }, [{ path: "--host-key", message: "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters (see ssh-keygen -lf)" }]],
    [{ user: "bad user" }, [{ path: "--user", message: "must be a user name (letters, digits, '_', '.', '-')" }]],
    [{ identity: undefined, agent: true }, [{ path: "--agent", message: "SSH_AUTH_SOCK is not set: start ssh-agent or use identity instead" }]],
  ])("maps %j problems to flags", (flags, issues) => {
    const r = targetsFromFlags({ host: ["h1", "h2"], identity: "/k", hostKey: [FP], ...flags }, env);
    expect(r).toEqual({ ok: false, issues });
  });
});

describe("output helpers", () => {
  it("redraws one line per host in place on a terminal", () => {
    const out = new Buf(true);
    const p = createProgress(out, "tty", ["a", "bb"]);
    p.status("a", "connecting");
    p.onRunEvent({ type: "step-start", host: "bb", stepId: "engine.install", title: "t", index: 0, total: 3 });
    p.finish();
    p.status("a", "ignored after finish");
    expect(out.text).toBe(
      "\x1b[2Ka   connecting\n\x1b[2Kbb  waiting\n" + "\x1b[2A\x1b[2Ka   connecting\n\x1b[2Kbb  engine.install (1/3)\n",
    );
  });

  it("prints nothing when progress is off, plain lines otherwise", () => {
    const off = new Buf();
    createProgress(off, "off").status("a", "x");
    expect(off.text).toBe("");
    const plain = new Buf();
    const p = createProgress(plain, "plain");
    p.onRunEvent({ type: "host-start", host: "a" });
    p.onRunEvent({ type: "step-done", host: "a", stepId: "s.x", status: "unchanged", durationMs: 1 });
    p.onRunEvent({ type: "host-done", host: "a", status: "failed", durationMs: 2 });
    expect(plain.text).toBe("a: connecting\na: s.x unchanged\na: FAILED\n");
  });

  it("formats bytes in binary units", () => {
    expect([0, 1023, 1024, 1536, 84649213952, 25276502016].map(formatBytes)).toEqual(["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "78.8 GiB", "23.5 GiB"]);
  });
});
