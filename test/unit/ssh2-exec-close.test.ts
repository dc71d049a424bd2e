// runOnChannel with a fake ssh2 channel that replays the event order seen on local machines: does NOT prove when ssh2 or sshd produce that order (e2e provisioning runs hit it about once in 100 fast commands).
import { EventEmitter } from "node:events";
import type { ClientChannel } from "ssh2";
import { describe, expect, it } from "vitest";
import { runOnChannel, type RunSpec } from "../../provisioner/transport/ssh2-exec";

/** Enough of a ClientChannel for runOnChannel. */
function fakeChannel(): ClientChannel & EventEmitter {
  const ch = new EventEmitter() as unknown as ClientChannel & EventEmitter;
  Object.assign(ch, { stderr: new EventEmitter(), end: () => undefined, close: () => undefined, signal: () => undefined });
  return ch;
}

const spec: RunSpec = {
  host: "web-1",
  display: "test -f /etc/hostname",
  stdin: undefined,
  timeoutMs: 5_000,
  maxOutputBytes: 1024,
  signal: undefined,
  onStdout: undefined,
  onStderr: undefined,
  connectionLost: () => null,
  startedAt: 0,
};

describe("runOnChannel: the exit status when the exit event came before the listeners", () => {
  it("takes the exit code from ssh2's close event", async () => {
    const ch = fakeChannel();
    const run = runOnChannel(ch, spec);
    ch.emit("close", 1);
    await expect(run).resolves.toMatchObject({ exitCode: 1, signal: null });
  });

  it("takes a signal from ssh2's close event", async () => {
    const ch = fakeChannel();
    const run = runOnChannel(ch, spec);
    ch.emit("close", null, "SIGKILL", false, "");
    await expect(run).resolves.toMatchObject({ exitCode: null, signal: "KILL" });
  });

  it("still fails a close that carries no exit status at all", async () => {
    const ch = fakeChannel();
    const run = runOnChannel(ch, spec);
    ch.emit("close");
    await expect(run).rejects.toThrow("web-1: `test -f /etc/hostname`: channel closed without an exit status");
  });

  it("prefers the exit event when it was seen", async () => {
    const ch = fakeChannel();
    const run = runOnChannel(ch, spec);
    ch.emit("exit", 3);
    ch.emit("close", 3);
    await expect(run).resolves.toMatchObject({ exitCode: 3 });
  });
});
