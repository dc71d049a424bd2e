// Unit: live progress on a terminal (lines cut to its width, redraws after a resize), colour by status, and the
// global flags main.ts reads first. Asserts the bytes written; does not prove how a particular terminal renders them.
import { describe, expect, it } from "vitest";
import { colorWanted, displayWidth, fitToWidth, paintStatus, stripAnsi } from "../../cli/color";
import { globalFlags } from "../../cli/global-flags";
import { createProgress, progressFrame } from "../../cli/output";
import { progressLine } from "../../cli/provision-common";

class Term {
  text = "";
  readonly isTTY = true;
  constructor(
    public columns: number | undefined,
    readonly color = false,
  ) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe("fitToWidth", () => {
  it("cuts a line to the columns, ending in …; a line that fits is left alone", () => {
    expect(fitToWidth("web-1  engine.install (1/3)", 40)).toBe("web-1  engine.install (1/3)");
    expect(fitToWidth("web-1  engine.install (1/3)", 12)).toBe("web-1  engi…");
    expect(displayWidth(fitToWidth("web-1  engine.install (1/3)", 12))).toBe(12);
    expect(fitToWidth("abc", 3)).toBe("abc");
    expect(fitToWidth("abcd", 1)).toBe("…");
    expect(fitToWidth("abcd", 0)).toBe("");
  });

  it("counts wide characters as two columns and escape codes as none; a colour cut off is reset", () => {
    expect(displayWidth("日本語")).toBe(6);
    expect(fitToWidth("h  日本語です", 8)).toBe("h  日本…");
    const green = "\x1b[32mdone and more\x1b[0m";
    expect(displayWidth(green)).toBe(13);
    expect(fitToWidth(`h  ${green}`, 20)).toBe(`h  ${green}`);
    expect(fitToWidth(`h  ${green}`, 8)).toBe("h  \x1b[32mdone…\x1b[0m");
    expect(stripAnsi(fitToWidth(`h  ${green}`, 8))).toBe("h  done…");
  });

  it("turns line breaks and tabs inside a status into spaces: one row stays one row", () => {
    expect(fitToWidth("a: line one\nline two\r\tend", 80)).toBe("a: line one line two  end");
  });
});

describe("progressFrame", () => {
  it("backs up over the lines drawn before; each row cleared and cut to the width less one column", () => {
    expect(progressFrame(["web-1  connecting", "web-22  waiting"], null, 12)).toBe("\x1b[2Kweb-1  con…\n\x1b[2Kweb-22  wa…\n");
    expect(progressFrame(["a  done"], { lines: 2, columns: 12 }, 12)).toBe("\x1b[2A\x1b[2Ka  done\n");
    // Wider than before: the old rows still take one line each.
    expect(progressFrame(["a  done"], { lines: 2, columns: 12 }, 100)).toBe("\x1b[2A\x1b[2Ka  done\n");
  });

  it("after the terminal got narrower starts a new block below (the old rows may have been re-wrapped onto more lines)", () => {
    expect(progressFrame(["a  done"], { lines: 2, columns: 80 }, 40)).toBe("\x1b[2Ka  done\n");
  });
});

describe("createProgress on a terminal", () => {
  it("never writes a row wider than the terminal, and follows its width as it changes", () => {
    const t = new Term(20);
    const p = createProgress(t, "tty", ["web-1", "web-2"]);
    p.status("web-1", "engine.install: waiting for dpkg's lock (held by unattended-upgrades)");
    t.columns = 30;
    p.status("web-2", "app.run (4/5)");
    t.columns = 10;
    p.status("web-2", "done");
    expect(t.text).toBe(
      "\x1b[2Kweb-1  engine.inst…\n\x1b[2Kweb-2  waiting\n" +
        "\x1b[2A\x1b[2Kweb-1  engine.install: waiti…\n\x1b[2Kweb-2  app.run (4/5)\n" +
        // Narrower: a new block, not a cursor-up into lines the terminal may have re-wrapped.
        "\x1b[2Kweb-1  e…\n\x1b[2Kweb-2  d…\n",
    );
    for (const row of stripAnsi(t.text).split("\n")) expect(displayWidth(row)).toBeLessThan(30);
  });

  it("a terminal that does not say its width is taken as 80 columns", () => {
    const t = new Term(undefined);
    createProgress(t, "tty", ["h"]).status("h", "x".repeat(100));
    expect(t.text).toBe(`\x1b[2Kh  ${"x".repeat(75)}…\n`);
  });

  it("colours done and FAILED when the stream takes colour, and nothing else", () => {
    const t = new Term(80, true);
    const p = createProgress(t, "tty", ["a", "b"]);
    p.onRunEvent({ type: "host-done", host: "a", status: "ok", durationMs: 1 });
    p.onRunEvent({ type: "host-done", host: "b", status: "failed", durationMs: 1 });
    expect(t.text.split("\x1b[2A").at(-1)).toBe("\x1b[2Ka  \x1b[32mdone\x1b[0m\n\x1b[2Kb  \x1b[1;31mFAILED\x1b[0m\n");
    const plain = new Term(80, false);
    createProgress(plain, "tty", ["a"]).onRunEvent({ type: "host-done", host: "a", status: "failed", durationMs: 1 });
    expect(plain.text).not.toContain("\x1b[1;31m");
  });

  it("provision's progress lines colour step statuses, padded as without colour", () => {
    const e = { type: "step-done", host: "web-1", stepId: "engine.install", status: "changed", durationMs: 4100 } as const;
    expect(progressLine(e, 6)).toBe("web-1   engine.install    changed       4.1 s");
    expect(progressLine(e, 6, { color: true })).toBe("web-1   engine.install    \x1b[33mchanged\x1b[0m       4.1 s");
    expect(stripAnsi(progressLine({ ...e, status: "unchanged" }, 6, { color: true })!)).toBe(progressLine({ ...e, status: "unchanged" }, 6));
    expect(["ok", "unchanged", "would-change", "failed", "not-run"].map((s) => paintStatus({ color: true }, s))).toEqual([
      "\x1b[32mok\x1b[0m",
      "\x1b[32munchanged\x1b[0m",
      "\x1b[33mwould-change\x1b[0m",
      "\x1b[1;31mfailed\x1b[0m",
      "not-run",
    ]);
  });
});

describe("colorWanted and globalFlags", () => {
  it("colour on a terminal only; never with NO_COLOR (any non-empty value), TERM=dumb or --no-color", () => {
    expect(colorWanted({ isTTY: true }, {}, false)).toBe(true);
    expect(colorWanted({ isTTY: false }, {}, false)).toBe(false);
    expect(colorWanted({}, {}, false)).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: "1" }, false)).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: "false" }, false)).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: "" }, false)).toBe(true);
    expect(colorWanted({ isTTY: true }, { TERM: "dumb" }, false)).toBe(false);
    expect(colorWanted({ isTTY: true }, {}, true)).toBe(false);
  });

  it("takes --no-color from anywhere before --, and makes a leading --version the version verb", () => {
    expect(globalFlags(["rollout", "--no-color", "app:v2"])).toEqual({ argv: ["rollout", "app:v2"], noColor: true });
    expect(globalFlags(["exec", "--host", "h", "--", "ls", "--no-color"])).toEqual({ argv: ["exec", "--host", "h", "--", "ls", "--no-color"], noColor: false });
    expect(globalFlags(["--no-color", "--version"])).toEqual({ argv: ["version"], noColor: true });
    expect(globalFlags(["-V", "-f", "x.yaml"])).toEqual({ argv: ["version", "-f", "x.yaml"], noColor: false });
    expect(globalFlags(["local", "image", "--version", "v2"])).toEqual({ argv: ["local", "image", "--version", "v2"], noColor: false });
  });
});
