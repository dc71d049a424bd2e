// Unit: reading the app container's state on a local machine (drivers/local/app-states.ts): the
// exact command, the parsing, and secret values taken out of log lines. Does not prove a real
// engine answers this way (the rollout-safety e2e does, with a container that exits).
import { describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { appStateScript, parseAppState } from "../../drivers/local/app-states";
import { stoppedApps } from "../../rollout/rollout";

describe("app states", () => {
  it("asks for the app's newest container by label, its status line, then its last 10 log lines", () => {
    expect(appStateScript("shop")).toEqual([
      "sh",
      "-c",
      `c=$(docker ps -aq --filter "label=io.longshore.app=$1" | head -n 1); if [ -z "$c" ]; then echo missing; exit 0; fi; ` +
        `docker inspect --format '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$c" && docker logs --tail 10 "$c" 2>&1`,
      "sh",
      "shop",
    ]);
  });

  it.each<[string, string, ReturnType<typeof parseAppState>]>([
    ["an exited container with its logs", "exited 3 0\nstarting\nboom\n", { host: "h", status: "exited", exitCode: 3, restartCount: 0, logTail: ["starting", "boom"] }],
    ["a restarting one", "restarting 1 5\npanic\n", { host: "h", status: "restarting", exitCode: 1, restartCount: 5, logTail: ["panic"] }],
    ["a running one with no logs", "running 0 0\n", { host: "h", status: "running", exitCode: 0, restartCount: 0, logTail: [] }],
    ["no container at all", "missing\n", { host: "h", status: "missing", exitCode: null, restartCount: 0, logTail: [] }],
  ])("parses %s", (_name, stdout, expected) => {
    expect(parseAppState("h", stdout)).toEqual(expected);
  });

  it("keeps only the last 10 lines, drops control characters, and redacts secret values the app printed", () => {
    const lines = Array.from({ length: 14 }, (_, i) => `line ${i}`);
    const s = parseAppState("h", `exited 1 0\n${lines.join("\n")}\nDB=hunter2-secret\x1b[31m red\x07\n`, [new Sensitive("hunter2-secret")]);
    expect(s.logTail).toEqual([...lines.slice(5), "DB=[redacted][31m red"]);
  });

  it("a running container that was never restarted is not 'stopped'; exited, restarting, restarted or missing ones are", () => {
    const base = { exitCode: 0, logTail: [] };
    expect(
      stoppedApps([
        { host: "a", status: "running", restartCount: 0, ...base },
        { host: "b", status: "running", restartCount: 2, ...base },
        { host: "c", status: "exited", restartCount: 0, ...base },
        { host: "d", status: "missing", restartCount: 0, ...base },
        { host: "e", status: "unknown", restartCount: 0, ...base },
        { host: "f", status: "created", restartCount: 0, ...base },
      ]).map((s) => s.host),
    ).toEqual(["b", "c", "d"]);
  });
});
