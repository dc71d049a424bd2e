// Does not prove a registry or the engine accepts these references: only longshore's own validation and that secrets never print.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { parseAppSpec, parseImageReference } from "../../config/app";

const VALID = { name: "web", image: "web:1.0", version: "1.0", containerPort: 8080, hostPort: 80 };

function problems(input: unknown): string[] {
  try {
    parseAppSpec(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error("expected a ConfigError");
}

describe("image references", () => {
  const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
  it.each<[string, { registry: string | null; repository: string; tag: string | null; digest: string | null }]>([
    ["busybox", { registry: null, repository: "busybox", tag: null, digest: null }],
    ["library/busybox:1.36", { registry: null, repository: "library/busybox", tag: "1.36", digest: null }],
    ["10.213.47.1:5000/team/web:v2.0.1-rc_1", { registry: "10.213.47.1:5000", repository: "team/web", tag: "v2.0.1-rc_1", digest: null }],
    ["localhost/web", { registry: "localhost", repository: "web", tag: null, digest: null }],
    [`registry.example/web@${digest}`, { registry: "registry.example", repository: "web", tag: null, digest }],
    [`web:1.0@${digest}`, { registry: null, repository: "web", tag: "1.0", digest }],
    ["my-app__x/a.b-c:Latest", { registry: null, repository: "my-app__x/a.b-c", tag: "Latest", digest: null }],
  ])("parses %s", (ref, parts) => {
    expect(parseImageReference(ref)).toEqual({ ok: true, value: parts });
  });

  it.each<[string, string]>([
    ["", "must not be empty"],
    ["Web:1.0", "repository name must be lower-case"],
    ["team/Web", "repository name must be lower-case"],
    ["Registry.example/web", "registry host must be lower-case"],
    ["registry.example:0/web", "registry port must be 1-65535"],
    ["registry.example:65536/web", "registry port must be 1-65535"],
    ["web@sha256:abc", "digest must be sha256: followed by 64 lower-case hex digits"],
    [`web@sha256:${"A".repeat(64)}`, "digest must be sha256: followed by 64 lower-case hex digits"],
    ["web:.hidden", "tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"],
    [`web:${"x".repeat(129)}`, "tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"],
    ["web app", "must not contain whitespace"],
    ["a//b", "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]"],
    ["-web", "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]"],
    ["web..x", "must be an image reference like [registry[:port]/]repository[:tag][@sha256:<64 hex digits>]"],
  ])("refuses %j: %s", (ref, message) => {
    expect(parseImageReference(ref)).toEqual({ ok: false, message });
  });
});

describe("app spec", () => {
  it("fills defaults", () => {
    const app = parseAppSpec(VALID);
    expect(app).toEqual({
      ...VALID,
      env: {},
      secrets: {},
      restart: "unless-stopped",
      health: { path: "/healthz", expectStatus: 200, timeoutMs: 2000, deadlineMs: 60000, intervalMs: 1000 },
      init: false,
    });
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ["an invalid image reference", { image: "Web:1" }, ["image: repository name must be lower-case"]],
    ["a port out of range", { hostPort: 70000 }, ["hostPort: must be an integer from 1 to 65535"]],
    ["port zero", { containerPort: 0 }, ["containerPort: must be an integer from 1 to 65535"]],
    ["a fractional port", { containerPort: 80.5 }, ["containerPort: must be an integer from 1 to 65535"]],
    ["a port given as text", { hostPort: "80" }, ["hostPort: must be an integer from 1 to 65535"]],
    ["a name that is not a DNS label", { name: "Web_1" }, ["name: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)"]],
    ["a version with a slash", { version: "1/2" }, ["version: must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"]],
    ["a bad env name", { env: { "1X": "a" } }, ["env.1X: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"]],
    ["an env value with a newline", { env: { A: "x\ny" } }, ["env.A: must not contain a newline (docker --env-file reads one variable per line)"]],
    ["a health path without /", { health: { path: "healthz" } }, ["health.path: must start with / and contain no spaces or control characters"]],
    ["an unknown restart policy", { restart: "sometimes" }, ['restart: must be one of "no", "always", "unless-stopped", "on-failure"']],
    ["an unknown key", { replicas: 3 }, ["replicas: unknown key"]],
    ["a registry with a scheme", { registry: { server: "https://r.example", username: "u", password: "p" } }, ["registry.server: must be a registry host[:port], lower-case, no scheme"]],
  ])("refuses %s, naming the path", (_what, patch, expected) => {
    expect(problems({ ...VALID, ...patch })).toEqual(expected);
  });

  it("coerces numbers and booleans in env to text", () => {
    expect(parseAppSpec({ ...VALID, env: { WORKERS: 4, DEBUG: false } }).env).toEqual({ WORKERS: "4", DEBUG: "false" });
  });

  it("refuses a key set both as env and as a secret", () => {
    expect(problems({ ...VALID, env: { TOKEN: "a" }, secrets: { TOKEN: "b-secret" } })).toEqual(["secrets.TOKEN: is also set in env"]);
  });

  it("keeps secrets Sensitive: they print as [redacted] in JSON, inspect and templates", () => {
    const app = parseAppSpec({ ...VALID, secrets: { DB_PASSWORD: "hunter2-db" }, registry: { server: "registry.local:5000", username: "ci", password: "reg-pass-42" } });
    expect(app.secrets["DB_PASSWORD"]).toBeInstanceOf(Sensitive);
    expect(app.secrets["DB_PASSWORD"]!.reveal()).toBe("hunter2-db");
    const shown = [JSON.stringify(app), inspect(app, { depth: 5 }), `${app.secrets["DB_PASSWORD"]}`, String(app.registry?.password)].join("\n");
    expect(shown).not.toContain("hunter2-db");
    expect(shown).not.toContain("reg-pass-42");
    expect(shown).toContain("[redacted]");
  });

  it("never echoes a bad secret's value in the error", () => {
    let message = "";
    try {
      parseAppSpec({ ...VALID, secrets: { API_KEY: "line-one-secret\nline-two-secret" } });
    } catch (e) {
      message = (e as Error).message + JSON.stringify((e as ConfigError).toJSON());
    }
    expect(message).toContain("secrets.API_KEY: must not contain a newline");
    expect(message).not.toContain("line-one-secret");
  });
});
