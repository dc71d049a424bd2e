// Does not prove: `local up`/`down` against real machines through the CLI (the e2e tests call the same functions).
import { Command } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { register } from "../../cli/local";
import { exitCodeFor } from "../../cli/exit-codes";
import { printError } from "../../cli/output";

function program(dir: string) {
  const out: string[] = [];
  const err: string[] = [];
  const p = new Command("longshore").exitOverride();
  register(p, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    paths: { cacheDir: path.join(dir, "cache"), libDir: path.join(dir, "lib"), sharedDir: path.join(dir, "shared"), stateRoot: path.join(dir, "state") },
  });
  return { p, out, err };
}

describe("longshore local (CLI wiring)", () => {
  it("registers up, ls, down and image", () => {
    const { p } = program("/nonexistent");
    const local = p.commands.find((c) => c.name() === "local")!;
    expect(local.commands.map((c) => c.name())).toEqual(["up", "ls", "down", "image"]);
  });

  it("writes the demo image and prints its path and ID", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-cli-"));
    const { p, out } = program(dir);
    await p.parseAsync(["node", "longshore", "local", "image", "--version", "v2", "--out", path.join(dir, "v2.tar")]);
    const [file, id] = out.join("").trim().split("\n");
    expect(file).toBe(path.join(dir, "v2.tar"));
    expect(id).toMatch(/^sha256:[0-9a-f]{64} longshore-demo:v2$/);
    expect(fs.statSync(path.join(dir, "v2.tar")).size).toBeGreaterThan(1_000_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("rejects an unknown version and reports no environments in an empty state dir", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-cli-"));
    const { p, out } = program(dir);
    const e = await p.parseAsync(["node", "longshore", "local", "image", "--version", "v9"]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect(exitCodeFor(e)).toBe(2);
    const printed: string[] = [];
    printError(e, { write: (c: string) => printed.push(c) }, false);
    expect(printed.join("")).toBe("error: local image is invalid (1 problem):\n  --version: must be one of v1, v2, broken (got v9)\n");
    await p.parseAsync(["node", "longshore", "local", "ls"]);
    expect(out.join("")).toBe("no local environments\n");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
