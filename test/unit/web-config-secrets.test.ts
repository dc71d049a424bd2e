// Does not run the Automation API (no Pulumi CLI here): it checks the decision automationWorkspace makes from the config map `stack.getAllConfig()` returns.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnvironment } from "../../model/environment-file";
import { plainSecretIssues, pulumiSecretSources, qualifiedConfigKey } from "../../stacks/web/config-secrets";

/** The documented example with its commented secrets and registry switched on. */
function exampleWithSecrets() {
  const text = readFileSync(path.join(__dirname, "..", "..", "stacks", "web", "longshore.example.yaml"), "utf8")
    .replace("  # secrets:", "  secrets:")
    .replace("  #   DB_PASSWORD: { pulumi: dbPassword }", "    DB_PASSWORD: { pulumi: dbPassword }\n    API_TOKEN: { pulumi: 'shared:apiToken' }")
    .replace(/^# (registry:|  server:|  username:|  password:)/gm, "$1");
  const r = parseEnvironment(text, "longshore.yaml");
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

describe("stack config secrets set without --secret", () => {
  const env = exampleWithSecrets();

  it("lists the environment's pulumi secrets in file order, keys qualified as `pulumi config` shows them", () => {
    expect(pulumiSecretSources(env)).toEqual([
      { path: "app.secrets.DB_PASSWORD", key: "dbPassword" },
      { path: "app.secrets.API_TOKEN", key: "shared:apiToken" },
      { path: "registry.password", key: "registryPassword" },
    ]);
    expect(qualifiedConfigKey("dbPassword", "web")).toBe("web:dbPassword");
    expect(qualifiedConfigKey("shared:apiToken", "web")).toBe("shared:apiToken");
  });

  it("refuses each value stored in clear, with its path; encrypted and missing ones pass (the program names missing ones)", () => {
    const config = {
      "web:environmentFile": { value: "/x/longshore.yaml", secret: false },
      "web:dbPassword": { value: "[secret]", secret: true },
      "shared:apiToken": { value: "tok", secret: false },
      "web:registryPassword": { value: "pw" },
    };
    expect(plainSecretIssues(env, "longshore.yaml", config)).toEqual([
      {
        path: "longshore.yaml: app.secrets.API_TOKEN",
        message: "the stack's config shared:apiToken is stored in clear in Pulumi.<stack>.yaml: set it again with `pulumi config set --secret shared:apiToken <value>`",
      },
      {
        path: "longshore.yaml: registry.password",
        message: "the stack's config web:registryPassword is stored in clear in Pulumi.<stack>.yaml: set it again with `pulumi config set --secret registryPassword <value>`",
      },
    ]);
    expect(plainSecretIssues(env, "longshore.yaml", { "web:dbPassword": { secret: true } })).toEqual([]);
  });

  it("never puts a value into an issue", () => {
    const issues = plainSecretIssues(env, "f", { "web:dbPassword": { value: "hunter2-marker", secret: false } });
    expect(issues).toHaveLength(1);
    expect(JSON.stringify(issues)).not.toContain("hunter2-marker");
  });
});
