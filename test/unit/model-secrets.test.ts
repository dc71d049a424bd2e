// Unit: reading secrets from their sources (model/secret-resolve.ts with the real reader of
// core/secret-reader.ts): real files with real modes, real commands, a given environment. Does not
// prove what happens to the values on hosts (the e2e tests compare them inside the container).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { systemSecretReader } from "../../core/secret-reader";
import { environmentSchema } from "../../model/environment";
import { resolveEnvironmentSecrets, resolveSecretSource } from "../../model/secret-resolve";
import type { SecretSource } from "../../model/secret";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-secrets-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file in the temp dir with exact bytes and mode. */
function file(name: string, content: string | Buffer, mode = 0o600): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
  return `./${name}`;
}

const SECRET = "s3cr3t value with spaces, 'quotes', $dollars and ünïcödé";

async function read(source: SecretSource, env: Record<string, string> = {}) {
  const r = await resolveSecretSource("KEY", source, { baseDir: dir, reader: systemSecretReader(env) });
  return r.ok ? { ok: true, value: r.value.reveal() } : r;
}

describe("each source", () => {
  it("env: the variable's exact value", async () => {
    expect(await read({ env: "SHOP_DB" }, { SHOP_DB: SECRET })).toEqual({ ok: true, value: SECRET });
  });

  it("file: the exact bytes, one trailing newline dropped (LF or CRLF), 0600 and 0400 accepted", async () => {
    expect(await read({ file: file("a", `${SECRET}\n`) })).toEqual({ ok: true, value: SECRET });
    expect(await read({ file: file("b", `${SECRET}\r\n`, 0o400) })).toEqual({ ok: true, value: SECRET });
    expect(await read({ file: file("c", `  ${SECRET}  `) })).toEqual({ ok: true, value: `  ${SECRET}  ` });
  });

  it("command: its stdout, run without a shell in the environment file's directory", async () => {
    file("d", SECRET);
    expect(await read({ command: ["cat", "d"] })).toEqual({ ok: true, value: SECRET });
    // No shell: a ; is an argument, not a separator.
    expect(await read({ command: ["printf", "%s", "a;b"] })).toEqual({ ok: true, value: "a;b" });
  });
});

describe("every problem is an input error naming the source, never the value", () => {
  it.each<[string, () => SecretSource, Record<string, string>, string]>([
    ["an unset variable", () => ({ env: "MISSING" }), {}, "the environment variable MISSING is not set"],
    ["an empty variable", () => ({ env: "EMPTY" }), { EMPTY: "" }, "the environment variable EMPTY gave an empty value"],
    ["a value with a newline", () => ({ env: "NL" }), { NL: `${SECRET}\nmore` }, "the value from the environment variable NL must not contain a newline or NUL (the engine's env file holds one variable per line)"],
    ["a missing file", () => ({ file: "./nope" }), {}, `the file ./nope (${path.join(dir, "nope")}) does not exist`],
    ["a directory", () => ({ file: "." }), {}, `the file . (${dir}) is not a regular file`],
    ["a file others may read", () => ({ file: file("open", SECRET, 0o644) }), {}, `the file ./open (${path.join(dir, "open")}) may be read by others (mode 0644): run chmod 600 ${path.join(dir, "open")}`],
    ["a group-readable file", () => ({ file: file("group", SECRET, 0o640) }), {}, `the file ./group (${path.join(dir, "group")}) may be read by others (mode 0640): run chmod 600 ${path.join(dir, "group")}`],
    ["an empty file", () => ({ file: file("empty", "") }), {}, "the file ./empty gave an empty value"],
    ["a file of two lines", () => ({ file: file("two", `${SECRET}\n${SECRET}\n`) }), {}, "the value from the file ./two must not contain a newline or NUL (the engine's env file holds one variable per line)"],
    ["a file over 32 KiB", () => ({ file: file("big", "x".repeat(40_000)) }), {}, "the file ./big gave 32769 bytes; a secret may have at most 32768"],
    ["bytes that are not text", () => ({ file: file("bin", Buffer.from([0xff, 0xfe, 0x00])) }), {}, "the file ./bin gave bytes that are not UTF-8 text"],
    ["a command that fails", () => ({ command: ["sh", "-c", "echo nope: no such entry >&2; exit 3"] }), {}, "the command sh exited 3: nope: no such entry"],
    ["a command that does not exist", () => ({ command: ["no-such-longshore-tool"] }), {}, "the command no-such-longshore-tool could not be started (ENOENT)"],
    ["a command printing nothing", () => ({ command: ["true"] }), {}, "the command true gave an empty value"],
  ])("%s", async (_name, source, env, message) => {
    const r = await read(source(), env);
    expect(r).toEqual({ ok: false, message });
    expect(JSON.stringify(r)).not.toContain("s3cr3t");
  });

  it("a failing command that printed anything has neither its output nor its stderr shown", async () => {
    const r = await read({ command: ["sh", "-c", `printf '%s' '${SECRET.replace(/'/g, "'\\''")}'; echo "got ${"s3cr3t value"} oops" >&2; exit 1`] });
    expect(r).toEqual({ ok: false, message: "the command sh exited 1 (its output is not shown: it may hold the secret)" });
  });
});

describe("an environment's secrets", () => {
  const env = (secrets: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    environmentSchema.parse({ name: "shop", app: { name: "shop", image: "r.example/shop:1", secrets, env: { PLAIN: "1" } }, ...extra });

  it("reads app secrets and the registry password, all of them", async () => {
    const e = env({ A: { env: "A_SRC" }, B: { file: file("bb", "b-value\n") } }, { registry: { server: "r.example", username: "u", password: { command: ["printf", "pw-123"] } } });
    const r = await resolveEnvironmentSecrets(e, { baseDir: dir, reader: systemSecretReader({ A_SRC: "a-value" }), file: "longshore.yaml" });
    expect(Object.fromEntries(Object.entries(r.app).map(([k, v]) => [k, v.reveal()]))).toEqual({ A: "a-value", B: "b-value" });
    expect(r.registryPassword?.reveal()).toBe("pw-123");
    expect(r.deferred).toEqual([]);
    // Sensitive everywhere it could be printed.
    expect(JSON.stringify(r)).not.toMatch(/a-value|b-value|pw-123/);
  });

  it("reports every problem at once with its key path, and no value", async () => {
    const e = env({ A: { env: "UNSET" }, B: { file: file("loose", "x-secret-x", 0o604) }, C: { env: "OK" } }, { registry: { server: "r.example", username: "u", password: { env: "ALSO_UNSET" } } });
    const err = await resolveEnvironmentSecrets(e, { baseDir: dir, reader: systemSecretReader({ OK: "fine-value" }), file: "longshore.yaml" }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([
      { path: "longshore.yaml: app.secrets.A", message: "the environment variable UNSET is not set (source: env UNSET)" },
      {
        path: "longshore.yaml: app.secrets.B",
        message: `the file ./loose (${path.join(dir, "loose")}) may be read by others (mode 0604): run chmod 600 ${path.join(dir, "loose")} (source: file ./loose)`,
      },
      { path: "longshore.yaml: registry.password", message: "the environment variable ALSO_UNSET is not set (source: env ALSO_UNSET)" },
    ]);
    expect((err as Error).message).not.toMatch(/x-secret-x|fine-value/);
  });

  it("refuses env and secrets that together would not fit an env file", async () => {
    const big = "y".repeat(30_000);
    const sources = Object.fromEntries(Array.from({ length: 18 }, (_, i) => [`S${i}`, { env: "BIG" }]));
    const err = await resolveEnvironmentSecrets(env(sources), { baseDir: dir, reader: systemSecretReader({ BIG: big }), file: "longshore.yaml" }).catch((x: unknown) => x);
    expect((err as ConfigError).issues).toEqual([{ path: "longshore.yaml: app.secrets", message: "env and secrets take 540088 bytes as an env file; the limit is 524288 bytes (512 KiB)" }]);
  });

  it("leaves { pulumi } sources to the web program when asked to", async () => {
    const e = environmentSchema.parse({
      name: "shop",
      driver: "aws",
      app: { name: "shop", image: "shop:1", secrets: { A: { pulumi: "dbPassword" }, B: { env: "B" } } },
      aws: { sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea me", adminCidrs: ["203.0.113.7/32"] },
    });
    const r = await resolveEnvironmentSecrets(e, { baseDir: dir, reader: systemSecretReader({ B: "bee" }), file: "f", deferPulumi: true });
    expect([Object.keys(r.app), r.deferred]).toEqual([["B"], ["app.secrets.A"]]);
    const err = await resolveEnvironmentSecrets(e, { baseDir: dir, reader: systemSecretReader({ B: "bee" }), file: "f" }).catch((x: unknown) => x);
    expect((err as ConfigError).issues).toEqual([{ path: "f: app.secrets.A", message: "a { pulumi: dbPassword } secret is read by the web Pulumi program only (source: pulumi dbPassword)" }]);
  });
});
