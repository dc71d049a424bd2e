// The transport's interactive sessions against a real OpenSSH sshd on 127.0.0.1: a pty is
// allocated, its size arrives at start and on a resize (as SIGWINCH), Ctrl-C typed as \x03
// interrupts the remote command, exit codes and signals come back, output of any size arrives.
// Does not prove a real local terminal in raw mode (the e2e test drives one under tmux), nor
// docker exec inside the session.
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransportError } from "../../core/errors";
import type { Command } from "../../provisioner/command";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { InteractiveOptions, InteractiveResult, TerminalSize, Transport } from "../../provisioner/transport/transport";
import { startSshd, type Sshd, pinnedTarget } from "../helpers/sshd";

let sshd: Sshd;
let transport: Transport;

beforeAll(async () => {
  sshd = await startSshd();
  transport = await connectSsh(pinnedTarget(sshd, "pty-host"));
});

afterAll(async () => {
  await sshd?.stop();
  await transport?.close();
});

/** A session with a scripted keyboard: what it printed so far, a way to type and to resize. */
function session(command: Command, size: TerminalSize = { rows: 24, cols: 80 }, extra: Partial<InteractiveOptions> = {}) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let output = "";
  stdout.on("data", (c: Buffer) => void (output += c.toString("utf8")));
  const resizeListeners = new Set<(s: TerminalSize) => void>();
  let unsubscribed = 0;
  const done: Promise<InteractiveResult> = transport.interactive!(command, {
    stdin,
    stdout,
    size,
    onResize: (l) => {
      resizeListeners.add(l);
      return () => {
        unsubscribed++;
        resizeListeners.delete(l);
      };
    },
    ...extra,
  });
  return {
    done,
    output: () => output,
    type: (text: string) => void stdin.write(text),
    resize: (s: TerminalSize) => resizeListeners.forEach((l) => l(s)),
    unsubscribed: () => unsubscribed,
    /** Resolves once the output matches `re` (fails after 10 s with what came). */
    async waitFor(re: RegExp): Promise<RegExpMatchArray> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const m = re.exec(output);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`no ${re} in ${JSON.stringify(output)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe("interactive sessions over a real sshd", () => {
  it("runs the command on a pty (`tty` names /dev/pts/N) and returns its exit code", async () => {
    const s = session({ argv: ["sh", "-c", "tty; exit 7"] });
    const r = await s.done;
    expect(s.output()).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    expect(r).toMatchObject({ exitCode: 7, signal: null });
    expect(s.unsubscribed()).toBe(1);
  });

  it("passes the initial size on (`stty size` prints rows and columns)", async () => {
    const s = session({ argv: ["stty", "size"] }, { rows: 33, cols: 101 });
    expect(await s.done).toMatchObject({ exitCode: 0 });
    expect(s.output()).toBe("33 101\r\n");
  });

  it("passes a resize on: the remote process gets SIGWINCH and the new size", async () => {
    const s = session({ argv: ["sh", "-c", 'trap "stty size; exit 0" WINCH; stty size; echo ready; while :; do sleep 0.05; done'] }, { rows: 24, cols: 80 });
    await s.waitFor(/ready\r\n/);
    s.resize({ rows: 50, cols: 132 });
    expect(await s.done).toMatchObject({ exitCode: 0 });
    expect(s.output()).toBe("24 80\r\nready\r\n50 132\r\n");
  });

  it("Ctrl-C typed as \\x03 interrupts a remote `sleep 100`: killed by INT, at once", async () => {
    const started = Date.now();
    const s = session({ argv: ["sh", "-c", "echo ready; exec sleep 100"] });
    await s.waitFor(/ready\r\n/);
    s.type("\x03");
    const r = await s.done;
    expect(r).toMatchObject({ exitCode: null, signal: "INT" });
    expect(Date.now() - started).toBeLessThan(10_000);
    // The pty echoes the interrupt as ^C.
    expect(s.output()).toBe("ready\r\n^C");
  });

  it("Ctrl-C reaches a shell that traps it: the sleep stops, the shell's own exit code comes back", async () => {
    const s = session({ argv: ["sh", "-c", 'trap "echo interrupted; exit 130" INT; echo ready; sleep 100; echo not-reached'] });
    await s.waitFor(/ready\r\n/);
    s.type("\x03");
    expect(await s.done).toMatchObject({ exitCode: 130, signal: null });
    expect(s.output()).toBe("ready\r\n^Cinterrupted\r\n");
  });

  it("typed lines reach the command and its answers come back (a tiny REPL)", async () => {
    const s = session({ argv: ["sh", "-c", 'while read -r line; do [ "$line" = quit ] && exit 3; echo "got<$line>"; done'] });
    s.type("hello 'world' $HOME;\r");
    await s.waitFor(/got<hello 'world' \$HOME;>\r\n/);
    s.type("quit\r");
    expect(await s.done).toMatchObject({ exitCode: 3 });
  });

  it("streams 8 MiB of output whole (no cap on a session)", async () => {
    const size = 8 * 1024 * 1024;
    // -opost: the pty passes bytes on untouched (no \n -> \r\n), so the count is exact.
    const s = session({ argv: ["sh", "-c", `stty -opost; head -c ${size} /dev/zero | tr '\\0' x`] });
    expect(await s.done).toMatchObject({ exitCode: 0 });
    expect(s.output().length).toBe(size);
    expect(/^x+$/.test(s.output())).toBe(true);
  });

  it("an abort closes the session with a TransportError", async () => {
    const abort = new AbortController();
    const s = session({ argv: ["sh", "-c", "echo ready; exec sleep 100"] }, undefined, { signal: abort.signal });
    await s.waitFor(/ready\r\n/);
    abort.abort();
    await expect(s.done).rejects.toThrow(TransportError);
    await expect(s.done).rejects.toThrow("pty-host: `sh -c 'echo ready; exec sleep 100'` was aborted");
    // The connection is still usable afterwards.
    expect((await transport.exec({ argv: ["true"] })).exitCode).toBe(0);
  });
});
