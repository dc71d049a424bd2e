// Unit: who the audit log names, resolved in cli/ (order of the sources, and git's user.email read
// by the real git from a repository made here). Does not prove anything about a CI system's variables.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gitUserEmail, operatorOf, userAtHost } from "../../cli/operator";

const root = mkdtempSync(path.join(os.tmpdir(), "longshore-operator-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("operatorOf", () => {
  const deps = (env: Record<string, string>, email: string | null) => ({ env, gitUserEmail: async () => email, userAtHost: () => "me@laptop" });

  it("is $LONGSHORE_OPERATOR, else git's user.email, else user@host; blank values do not count", async () => {
    expect(await operatorOf(deps({ LONGSHORE_OPERATOR: "ci-job-42" }, "alice@example.com"), root)).toBe("ci-job-42");
    expect(await operatorOf(deps({}, "alice@example.com"), root)).toBe("alice@example.com");
    expect(await operatorOf(deps({ LONGSHORE_OPERATOR: "  " }, " "), root)).toBe("me@laptop");
    expect(await operatorOf(deps({}, null), root)).toBe("me@laptop");
  });

  it("userAtHost is this computer's login and host name", () => {
    expect(userAtHost()).toBe(`${os.userInfo().username}@${os.hostname()}`);
  });
});

describe("gitUserEmail (real git)", () => {
  it("reads the repository's user.email from any directory inside it", async () => {
    const repo = path.join(root, "repo");
    execFileSync("git", ["init", "-q", repo]);
    execFileSync("git", ["-C", repo, "config", "user.email", "alice@example.com"]);
    execFileSync("mkdir", ["-p", path.join(repo, "envs")]);
    expect(await gitUserEmail(path.join(repo, "envs"))).toBe("alice@example.com");
  });

  it("is null when git cannot run there", async () => {
    expect(await gitUserEmail(path.join(root, "does-not-exist"))).toBeNull();
  });
});
