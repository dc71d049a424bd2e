// Unit: the before-switch hook's commands as exact argv (provisioner/steps/app-hook.ts) and its
// output as lines (rollout/hook-output.ts): split, redacted, cut, kept. Does not prove that an
// engine runs them as intended (the e2e hook test does).
import { describe, expect, it } from "vitest";
import { Sensitive } from "../../core/sensitive";
import { parseResolvedApp } from "../../model/app";
import { renderCommand } from "../../provisioner/command";
import { appContainerCommand, hookContainerName, hookRemoveCommand, hookRunCommand, parseAppContainer } from "../../provisioner/steps/app-hook";
import { HOOK_LINE_MAX_CHARS, HOOK_OUTPUT_TAIL_LINES, HookOutput } from "../../rollout/hook-output";

const ID = `sha256:${"ab".repeat(32)}`;
const app = parseResolvedApp({
  name: "shop",
  image: "registry.example.com/team/shop:1.4.2",
  command: ["node", "server.js"],
  entrypoint: ["/docker-entrypoint.sh"],
  port: 8080,
  hostPort: 80,
  volumes: ["/srv/shop/uploads:/app/uploads", "cache:/app/cache:ro"],
  user: "1000:1000",
  init: true,
  restart: "always",
  resources: { memory: "512m", cpus: 1.5 },
  logging: { driver: "local", options: { "max-size": "10m" } },
  secrets: { DB_PASSWORD: "s3cret-value" },
});

describe("the hook's commands", () => {
  it("runs the hook's argv in a --rm container like the app's: its image ID, env file, init, user, volumes and extra hosts; no port, restart policy, limits or log options", () => {
    const command = hookRunCommand({ app, release: "1.4.2", imageId: ID, extraHosts: ["db:10.213.47.9"] }, { command: ["bin/rails", "db:migrate", "--trace"] });
    expect(command).toEqual({
      argv: [
        "docker", "run", "--rm",
        "--name", "shop-1.4.2-hook",
        "--pull", "never",
        "--env-file", "/etc/longshore/apps/shop/shop-1.4.2.env",
        "--init",
        "--user", "1000:1000",
        "--volume", "/srv/shop/uploads:/app/uploads",
        "--volume", "cache:/app/cache:ro",
        "--add-host", "db:10.213.47.9",
        "--label", "io.longshore.hook=before-switch",
        "--entrypoint", "bin/rails",
        ID, "db:migrate", "--trace",
      ],
      sudo: true,
    });
    // The secret stays in the env file on the host: never in the command.
    expect(renderCommand(command, { mode: "exec" })).not.toContain("s3cret");
  });

  it("a plain app: only what it has", () => {
    const plain = parseResolvedApp({ name: "demo", image: "longshore-demo:v2" });
    expect(hookRunCommand({ app: plain, release: "v2", imageId: ID }, { command: ["sh"] }).argv).toEqual([
      "docker", "run", "--rm", "--name", "demo-v2-hook", "--pull", "never", "--env-file", "/etc/longshore/apps/demo/demo-v2.env",
      "--label", "io.longshore.hook=before-switch", "--entrypoint", "sh", ID,
    ]);
  });

  it("asks the app's container for its image ID and extra hosts, and removes the hook's container by name", () => {
    expect(appContainerCommand(app, "1.4.2")).toEqual({
      argv: ["docker", "inspect", "--type", "container", "--format", "{{.Image}}{{range .HostConfig.ExtraHosts}} {{.}}{{end}}", "shop-1.4.2"],
      sudo: true,
    });
    expect(hookRemoveCommand(app, "1.4.2")).toEqual({ argv: ["docker", "rm", "--force", "shop-1.4.2-hook"], sudo: true, okExitCodes: [0, 1] });
    expect(hookContainerName({ name: "shop" }, "tag-0123456789ab")).toBe("shop-tag-0123456789ab-hook");
  });

  it("reads the app container's line", () => {
    expect(parseAppContainer(`${ID}\n`)).toEqual({ ok: true, imageId: ID, extraHosts: [] });
    expect(parseAppContainer(`${ID} db:10.213.47.9 cache:10.213.47.10\n`)).toEqual({ ok: true, imageId: ID, extraHosts: ["db:10.213.47.9", "cache:10.213.47.10"] });
    expect(parseAppContainer("\n")).toEqual({ ok: false, message: 'the engine gave no image ID for the app\'s container ("")' });
  });
});

describe("the hook's output", () => {
  const secret = new Sensitive("p4ss-w0rd-123");

  it("cuts chunks into lines (also a line or a UTF-8 character split across chunks), stdout and stderr apart, each line as it completes", () => {
    const shown: string[] = [];
    const out = new HookOutput([], (l) => shown.push(l));
    const euro = Buffer.from("€");
    out.push("stdout", "migrating users");
    out.push("stderr", Buffer.from("warn: slow\n"));
    out.push("stdout", " ... done\nprice: ");
    out.push("stdout", euro.subarray(0, 2));
    out.push("stdout", Buffer.concat([euro.subarray(2), Buffer.from("5\r\n\n   \nlast without newline")]));
    expect(shown).toEqual(["warn: slow", "migrating users ... done", "price: €5"]);
    expect(out.end()).toEqual(["warn: slow", "migrating users ... done", "price: €5", "last without newline"]);
  });

  it("replaces the app's secret values by [redacted] before a line is shown or kept, also when the value came in two chunks", () => {
    const shown: string[] = [];
    const out = new HookOutput([secret], (l) => shown.push(l));
    out.push("stdout", "connecting with p4ss-w");
    out.push("stdout", "0rd-123 to db\n");
    out.push("stderr", "DB_PASSWORD=p4ss-w0rd-123\n");
    expect(out.end()).toEqual(["connecting with [redacted] to db", "DB_PASSWORD=[redacted]"]);
    expect(shown.join("\n")).not.toContain("p4ss");
  });

  it("shows a redrawn line as last drawn, drops control characters, cuts long lines after redacting, and keeps the newest lines", () => {
    const out = new HookOutput([secret], () => undefined, 3);
    out.push("stdout", "10%\r50%\r100%\n\x1b[1mbold\x1b[0m\x07\n");
    out.push("stdout", `${"x".repeat(HOOK_LINE_MAX_CHARS - 5)}p4ss-w0rd-123\n`);
    const tail = out.end();
    expect(tail[0]).toBe("100%");
    expect(tail[1]).toBe("[1mbold[0m");
    expect(tail[2]).toBe(`${"x".repeat(HOOK_LINE_MAX_CHARS - 5)}[reda…`);
    const many = new HookOutput([]);
    for (let i = 1; i <= HOOK_OUTPUT_TAIL_LINES + 5; i++) many.push("stdout", `line ${i}\n`);
    const kept = many.end();
    expect([kept.length, kept[0], kept.at(-1)]).toEqual([HOOK_OUTPUT_TAIL_LINES, "line 6", `line ${HOOK_OUTPUT_TAIL_LINES + 5}`]);
  });

  it("takes 64 KiB without a newline as a line, holding back enough that a secret is never cut in two", () => {
    const out = new HookOutput([secret]);
    out.push("stdout", "y".repeat(64 * 1024 + 20) + "p4ss-w0rd-");
    out.push("stdout", "123 end\n");
    const lines = out.end();
    expect(lines.join("\n")).not.toContain("p4ss");
    expect([lines.length, lines[0], lines[1]]).toEqual([2, `${"y".repeat(HOOK_LINE_MAX_CHARS)}…`, "yyy[redacted] end"]);
  });
});
