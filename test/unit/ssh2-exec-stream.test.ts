// Unit: runOnChannel for a stream that runs until aborted (`logs --follow`): `timeoutMs: Infinity`
// sets no timer (Node would fire an Infinity timeout after 1 ms), and the abort signal closes the
// channel and rejects as `aborted`. A fake channel: does not prove sshd's side (the e2e test shows
// no `docker logs` left on the hosts after the abort).
import { EventEmitter } from "node:events";
import type { ClientChannel } from "ssh2";
import { describe, expect, it } from "vitest";
import { runOnChannel, type RunSpec } from "../../provisioner/transport/ssh2-exec";

function fakeChannel(): ClientChannel & EventEmitter & { closeCalls: number } {
  const ch = new EventEmitter() as unknown as ClientChannel & EventEmitter & { closeCalls: number };
  Object.assign(ch, { closeCalls: 0, stderr: new EventEmitter(), end: () => undefined, signal: () => undefined });
  ch.close = () => void ch.closeCalls++;
  return ch;
}

const spec = (over: Partial<RunSpec>): RunSpec => ({
  host: "web-1",
  display: "docker logs --follow c0ffee",
  stdin: undefined,
  timeoutMs: Infinity,
  maxOutputBytes: 0,
  signal: undefined,
  onStdout: undefined,
  onStderr: undefined,
  connectionLost: () => null,
  startedAt: 0,
  ...over,
});

describe("runOnChannel: a stream without a timeout", () => {
  it("streams with timeoutMs Infinity, keeps no copy with maxOutputBytes 0, and ends on the abort", async () => {
    const ch = fakeChannel();
    const abort = new AbortController();
    const seen: string[] = [];
    let settled = false;
    const run = runOnChannel(ch, spec({ signal: abort.signal, onStdout: (c) => seen.push(c.toString()) }));
    void run.then(
      () => (settled = true),
      () => (settled = true),
    );
    ch.emit("data", Buffer.from("line 1\n"));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    expect(seen).toEqual(["line 1\n"]);
    abort.abort();
    await expect(run).rejects.toMatchObject({ kind: "aborted", message: "web-1: `docker logs --follow c0ffee` was aborted" });
    expect(ch.closeCalls).toBe(1);
  });

  it("still ends with the command's exit status when it ends by itself", async () => {
    const ch = fakeChannel();
    const run = runOnChannel(ch, spec({}));
    ch.emit("data", Buffer.from("kept nothing\n"));
    ch.emit("exit", 0);
    ch.emit("close", 0);
    await expect(run).resolves.toMatchObject({ exitCode: 0, stdout: "" });
  });
});
