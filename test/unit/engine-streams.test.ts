// Unit: what `logs` and `events` run on a host (exact argv), the follow script run through a real
// `sh` with a fake `docker` (a closed stdin ends it), and the parsers of log lines and events
// (times to the nanosecond, streams, redaction, control characters). Does not prove the real
// engine's output format (the e2e test reads it).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { containerLogsCommand, engineEventsCommand, formatEvent, parseEventLine, parseLogLine } from "../../provisioner/engine-streams";

const S = 1_000_000_000n;
const NOW = 1_796_400_000n * S;
const TIE = "exec 3<&0; (cat <&3 >/dev/null 2>&1; kill $$ 2>/dev/null) >/dev/null 2>&1 &";
const FIND =
  'c=$(docker ps -aq --filter "label=$1" | head -n 1); if [ -z "$c" ]; then echo "no container labelled $1" >&2; exit 3; fi; shift; ';

/** A stdin source that gives a stream which has not ended (the transport would otherwise send EOF at once, and the watcher end the command). */
function expectOpenStdin(stdin: unknown): void {
  expect(typeof stdin).toBe("function");
  const stream = (stdin as () => Readable)();
  expect(stream.readableEnded).toBe(false);
  stream.destroy();
}

describe("containerLogsCommand", () => {
  it("reads the newest container by its label, with the engine's own flags", () => {
    expect(containerLogsCommand({ label: "io.longshore.app", value: "demo" }, {})).toEqual({
      argv: ["sh", "-c", `${FIND}exec docker logs "$@" "$c"`, "sh", "io.longshore.app=demo", "--timestamps"],
      sudo: true,
    });
    expect(containerLogsCommand({ label: "io.longshore.service", value: "worker" }, { since: NOW - 600n * S, until: NOW + 1n, tail: 20 })).toEqual({
      argv: ["sh", "-c", `${FIND}exec docker logs "$@" "$c"`, "sh", "io.longshore.service=worker", "--timestamps", "--since", "1796399400.000000000", "--until", "1796400000.000000001", "--tail", "20"],
      sudo: true,
    });
  });

  it("following, ties the command to the channel's stdin, which it keeps open", () => {
    const c = containerLogsCommand({ label: "io.longshore.app", value: "demo" }, { follow: true, tail: 0 });
    expect(c).toEqual({
      argv: ["sh", "-c", `${FIND}${TIE} exec docker logs "$@" "$c" 3<&-`, "sh", "io.longshore.app=demo", "--timestamps", "--tail", "0", "--follow"],
      sudo: true,
      stdin: expect.any(Function),
    });
    expectOpenStdin(c.stdin);
  });
});

describe("engineEventsCommand", () => {
  it("asks for JSON lines, the range and the filters", () => {
    expect(engineEventsCommand({ since: NOW - 3_600n * S, until: NOW, filters: ["type=container", "event=start"] })).toEqual({
      argv: ["docker", "system", "events", "--format", "{{json .}}", "--since", "1796396400.000000000", "--until", "1796400000.000000000", "--filter", "type=container", "--filter", "event=start"],
      sudo: true,
    });
  });

  it("following, ties the command to the channel's stdin, which it keeps open", () => {
    const c = engineEventsCommand({ follow: true });
    expect(c).toEqual({
      argv: ["sh", "-c", `${TIE} exec "$@" 3<&-`, "sh", "docker", "system", "events", "--format", "{{json .}}"],
      sudo: true,
      stdin: expect.any(Function),
    });
    expectOpenStdin(c.stdin);
  });
});

describe("the follow script on a real sh with a fake docker", () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "ls-fake-docker-"));
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!/bin/sh
case "$1" in
  ps) [ "$4" = "label=io.longshore.app=demo" ] && echo c0ffee ;;
  logs) echo "logs $*"; exec sleep 30 ;;
esac
`,
    { mode: 0o755 },
  );
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  function start(argv: readonly string[]) {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}` }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, exit, out: () => stdout };
  }

  it("runs docker logs on the found container until stdin closes, then ends it", async () => {
    const p = start(containerLogsCommand({ label: "io.longshore.app", value: "demo" }, { follow: true }).argv as string[]);
    for (let i = 0; i < 100 && !p.out().includes("logs"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(p.out()).toBe("logs logs --timestamps --follow c0ffee\n");
    const t0 = Date.now();
    p.child.stdin.end();
    const r = await p.exit;
    expect(r.signal ?? r.code).toBe("SIGTERM");
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it("says so when no container carries the label (exit 3)", async () => {
    const p = start(containerLogsCommand({ label: "io.longshore.app", value: "other" }, {}).argv as string[]);
    p.child.stdin.end();
    expect(await p.exit).toEqual({ code: 3, signal: null, stdout: "", stderr: "no container labelled io.longshore.app=other\n" });
  });
});

describe("parseLogLine", () => {
  const secret = new Sensitive("hunter2-secret");

  it("reads the time to the nanosecond and keeps the stream", () => {
    expect(parseLogLine("2026-12-04T16:00:00.000000001Z hello world", "stdout")).toEqual({ ns: NOW + 1n, stream: "stdout", line: "hello world" });
    expect(parseLogLine("2026-12-04T16:00:00.5Z  two spaces", "stderr")).toEqual({ ns: NOW + 500_000_000n, stream: "stderr", line: " two spaces" });
    expect(parseLogLine("2026-12-04T16:00:00.000000000Z", "stdout")).toEqual({ ns: NOW, stream: "stdout", line: "" });
  });

  it("redacts secrets and drops control characters (a terminal would act on them), keeping tabs", () => {
    expect(parseLogLine("2026-12-04T16:00:00.000000000Z login with hunter2-secret\r", "stdout", [secret])!.line).toBe("login with [redacted]");
    expect(parseLogLine("2026-12-04T16:00:00.000000000Z \x1b[31mred\x1b[0m\tok\x07", "stdout")!.line).toBe("[31mred[0m\tok");
  });

  it("is null for what is no timestamped line (the engine's own messages)", () => {
    expect(parseLogLine("Error response from daemon: No such container: abc", "stderr")).toBeNull();
    expect(parseLogLine("", "stdout")).toBeNull();
  });
});

describe("parseEventLine", () => {
  const line =
    '{"status":"start","id":"3f2a","from":"longshore-demo:v1","Type":"container","Action":"start","Actor":{"ID":"3f2a","Attributes":{"name":"demo-r1","image":"longshore-demo:v1","io.longshore.app":"demo"}},"scope":"local","time":1796400000,"timeNano":1796400000123456789}';

  it("reads timeNano as text (a double would round it), the type, action, actor and sorted attributes", () => {
    expect(parseEventLine(line)).toEqual({
      ns: NOW + 123_456_789n,
      type: "container",
      action: "start",
      id: "3f2a",
      attributes: { image: "longshore-demo:v1", "io.longshore.app": "demo", name: "demo-r1" },
    });
    expect(formatEvent(parseEventLine(line)!)).toBe("2026-12-04T16:00:00.123456789Z container start 3f2a (image=longshore-demo:v1, io.longshore.app=demo, name=demo-r1)");
  });

  it("redacts secrets in the action and attributes", () => {
    const exec = '{"Type":"container","Action":"exec_start: sh -c echo s3cr3t-value","Actor":{"ID":"c1","Attributes":{"execID":"e1","note":"s3cr3t-value"}},"time":1796400000}';
    expect(parseEventLine(exec, [new Sensitive("s3cr3t-value")])).toEqual({
      ns: NOW,
      type: "container",
      action: "exec_start: sh -c echo [redacted]",
      id: "c1",
      attributes: { execID: "e1", note: "[redacted]" },
    });
  });

  it("is null for what is not an event", () => {
    expect(parseEventLine("Error response from daemon: bad filter")).toBeNull();
    expect(parseEventLine('"just a string"')).toBeNull();
    expect(parseEventLine('{"Type":"container"}')).toBeNull();
  });
});
