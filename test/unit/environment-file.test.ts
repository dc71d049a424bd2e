// Unit: environment file parsing and updating. Does not prove that a driver honours every field
// (the e2e tests do, for the local driver).
import { describe, expect, it } from "vitest";
import { demoEnvironmentText, parseEnvironment, updateEnvironmentText } from "../../config/environment-file";

describe("environment file", () => {
  it("the demo environment parses with its defaults", () => {
    const r = parseEnvironment(demoEnvironmentText("longshore-demo:v1"), "longshore.yaml");
    expect(r.ok && r.value).toEqual({
      name: "demo",
      driver: "local",
      app: { name: "demo", port: 8080, healthPath: "/healthz" },
      slots: { blue: { image: "longshore-demo:v1", size: 2 }, green: { image: null, size: 2 } },
      live: null,
      rollout: { healthDeadlineSeconds: 120, soakSeconds: 10, drainSeconds: 2, keepPrevious: true },
      local: { listen: "127.0.0.1:8080" },
    });
  });

  it("reports every problem with its path", () => {
    const text = [
      "name: Demo",
      "app: { name: demo, port: 70000, helthPath: /h }",
      "slots:",
      "  blue: { image: 'Bad Image', size: 0 }",
      "live: green",
    ].join("\n");
    const r = parseEnvironment(text, "web.yaml");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues).toEqual([
      { path: "web.yaml: name", message: "must be a lower-case name of 1-12 letters, digits or '-', starting with a letter" },
      { path: "web.yaml: app.port", message: "must be at most 65535" },
      { path: "web.yaml: app.helthPath", message: "unknown key" },
      { path: "web.yaml: slots.blue.image", message: "must not contain whitespace" },
      { path: "web.yaml: slots.blue.size", message: "must be at least 1" },
      { path: "web.yaml: live", message: "the live slot (green) has no image" },
    ]);
  });

  it("refuses a live slot with no image", () => {
    const r = parseEnvironment("name: a\napp: { name: a }\nslots: { blue: { image: a:v1 } }\nlive: green\n", "e.yaml");
    expect(!r.ok && r.issues).toEqual([{ path: "e.yaml: live", message: "the live slot (green) has no image" }]);
  });

  it("reports YAML syntax errors with line and column", () => {
    const r = parseEnvironment("name: a\n  app: [\n", "e.yaml");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.issues[0]?.path).toMatch(/^e\.yaml: line \d+, column \d+$/);
  });

  it("records a rollout's new desired state and keeps the comments", () => {
    const before = demoEnvironmentText("longshore-demo:v1");
    const after = updateEnvironmentText(before, { live: "green", images: { green: "longshore-demo:v2" } });
    const r = parseEnvironment(after);
    expect(r.ok && [r.value.live, r.value.slots.green.image, r.value.slots.blue.image]).toEqual(["green", "longshore-demo:v2", "longshore-demo:v1"]);
    expect(after).toContain("# keep the old slot for an instant `longshore rollback`");
    expect(after.split("\n")[0]).toBe("# A longshore environment: the desired state of one application, reviewed in git.");
  });
});
