// Parses provisioning files from text: does NOT prove the archive, bundle or registry they name exist or work.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { ARCHIVE_IMAGE_PLACEHOLDER, loadProvisionConfig, parseProvisionConfig } from "../../config/provision";

const BASE = { file: "provision.yaml", baseDir: "/srv/deploy" };

const VALID = `# the demo
engine:
  daemon:
    log-opts: { max-file: "4" }
app:
  name: web
  version: v1
  containerPort: 8080
  hostPort: 8080
  secrets: { TOKEN: "t0ken-value" }
image:
  archive: images/web-v1.tar
bundle: ./bundles/engine-debian-bookworm-amd64-20.10.24-0123456789ab
slot: green
`;

function problems(text: string): string[] {
  const r = parseProvisionConfig(text, BASE);
  if (r.ok) throw new Error("expected problems");
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe("provision.yaml", () => {
  it("parses a full file: engine defaults filled, paths made absolute, app.image from image:", () => {
    const r = parseProvisionConfig(VALID, BASE);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const c = r.value;
    expect(c.engine.daemon["log-opts"]).toEqual({ "max-size": "10m", "max-file": "4" });
    expect(c.engine.channel).toBe("bundle");
    expect(c.image).toEqual({ archive: "/srv/deploy/images/web-v1.tar" });
    expect(c.bundle).toEqual({ dir: "/srv/deploy/bundles/engine-debian-bookworm-amd64-20.10.24-0123456789ab" });
    expect(c.slot).toBe("green");
    expect(c.app.image).toBe(ARCHIVE_IMAGE_PLACEHOLDER);
    expect(c.app.secrets["TOKEN"]!.reveal()).toBe("t0ken-value");
    expect(JSON.stringify(c)).not.toContain("t0ken-value");
  });

  it("takes a registry image with its expected ID, a recipe name, and the default slot", () => {
    const r = parseProvisionConfig(
      `app: {name: web, version: v2, containerPort: 8080, hostPort: 80}
image: {pull: "10.213.47.1:5000/longshore-demo:v1", id: "sha256:${"a".repeat(64)}"}
bundle: debian-bookworm-amd64
`,
      BASE,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.value.image).toEqual({ pull: "10.213.47.1:5000/longshore-demo:v1", id: `sha256:${"a".repeat(64)}` });
    expect(r.value.app.image).toBe("10.213.47.1:5000/longshore-demo:v1");
    expect(r.value.bundle).toEqual({ recipe: { name: "debian-bookworm-amd64", source: "debian", suite: "bookworm", arch: "amd64" } });
    expect(r.value.slot).toBe("blue");
  });

  it("needs no bundle for the distro channel (and ignores none given)", () => {
    const r = parseProvisionConfig(`engine: {channel: distro}\napp: {name: web, version: v1, containerPort: 1, hostPort: 2}\nimage: {pull: web:v1}\n`, BASE);
    expect(r.ok && r.value.bundle).toBeNull();
  });

  it("reports every problem at once, with its path, in file order", () => {
    expect(
      problems(`engine:
  channel: bundle
  daemon: { mtu: 10, bogus: 1, hosts: ["fd://", "tcp://0.0.0.0:2375"] }
app:
  name: Web
  image: web:v1
  version: v1
  containerPort: 0
  hostPort: 8080
  replicas: 3
image: {pull: "Web:1"}
slot: Blue
extra: 1
`),
    ).toEqual([
      "provision.yaml: engine.daemon.mtu: must be at least 68",
      "provision.yaml: engine.daemon.bogus: unknown key",
      "provision.yaml: engine.daemon.hosts[1]: tcp://0.0.0.0:2375 would expose the engine on the network without TLS: set tlsverify: true with tlscacert, tlscert and tlskey, or use a unix socket",
      "provision.yaml: app.name: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "provision.yaml: app.image: set the image under the top-level image: (archive: or pull:), not in app",
      "provision.yaml: app.containerPort: must be an integer from 1 to 65535",
      "provision.yaml: app.replicas: unknown key",
      "provision.yaml: image.pull: repository name must be lower-case",
      "provision.yaml: slot: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "provision.yaml: extra: unknown key",
      "provision.yaml: bundle: is required with engine.channel: bundle (a bundle directory, or a recipe name such as debian-bookworm-amd64)",
    ]);
  });

  it.each<[string, string, string[]]>([
    ["no image", "", ["provision.yaml: image: is required"]],
    ["an empty image", "image: {}\n", ["provision.yaml: image: set archive: PATH or pull: REFERENCE"]],
    ["both archive and pull", "image: {archive: a.tar, pull: web:v1}\n", ["provision.yaml: image.pull: set archive or pull, not both"]],
    ["an id with an archive", `image: {archive: a.tar, id: "sha256:${"b".repeat(64)}"}\n`, ["provision.yaml: image.id: goes with pull (an archive carries its own image ID)"]],
    ["a short image id", "image: {pull: web:v1, id: sha256:abc}\n", ["provision.yaml: image.id: must be sha256: followed by 64 lower-case hex digits"]],
    ["an unknown image key", "image: {pull: web:v1, tag: x}\n", ["provision.yaml: image.tag: unknown key"]],
  ])("refuses %s", (_what, image, expected) => {
    const head = "app: {name: web, version: v1, containerPort: 1, hostPort: 2}\nbundle: debian-bookworm-amd64\n";
    expect(problems(head + image)).toEqual(expected);
  });

  it("requires a bundle for the bundle channel and refuses a bundle that is neither a path nor a recipe", () => {
    const head = "app: {name: web, version: v1, containerPort: 1, hostPort: 2}\nimage: {pull: web:v1}\n";
    expect(problems(head)).toEqual([
      "provision.yaml: bundle: is required with engine.channel: bundle (a bundle directory, or a recipe name such as debian-bookworm-amd64)",
    ]);
    expect(problems(head + "bundle: ubuntu-noble-amd64\n")).toEqual([
      "provision.yaml: bundle: must be a bundle directory (a path with a /) or a recipe name debian-<suite>-<arch> such as debian-bookworm-amd64 (arch one of amd64, arm64, armhf, i386, ppc64el, s390x, riscv64)",
    ]);
  });

  it("reports YAML syntax errors with line and column, and an empty file", () => {
    expect(problems("app: [\n")[0]).toMatch(/^provision\.yaml: line \d+, column \d+: YAML: /);
    expect(problems("")).toEqual(["provision.yaml: expected a mapping with engine:, app:, image:, bundle: and slot:"]);
  });

  it("never echoes a secret in an error", () => {
    const text = `app: {name: web, version: v1, containerPort: 1, hostPort: 2, secrets: {TOKEN: "line-one-secret\\nline-two"}}\nimage: {pull: web:v1}\nbundle: debian-bookworm-amd64\n`;
    const all = problems(text).join("\n");
    expect(all).toBe("provision.yaml: app.secrets.TOKEN: must not contain a newline (docker --env-file reads one variable per line)");
  });

  it("loadProvisionConfig throws one ConfigError naming the file, or a readable one for a missing file", async () => {
    const bad = await loadProvisionConfig("/x/provision.yaml", async () => "slot: 1\n").catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).message.split("\n")[0]).toBe("/x/provision.yaml is invalid (3 problems):");
    expect((bad as ConfigError).issues.map((i) => i.path)).toEqual(["/x/provision.yaml: slot", "/x/provision.yaml: app", "/x/provision.yaml: image"]);
    const missing = await loadProvisionConfig("/nope/provision.yaml", async () => {
      throw new Error("ENOENT: no such file or directory");
    }).catch((e: unknown) => e);
    expect((missing as ConfigError).issues).toEqual([{ path: "/nope/provision.yaml", message: "cannot read the file (ENOENT: no such file or directory)" }]);
  });
});
