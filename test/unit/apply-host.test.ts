// applyHost/inspectHost on a scripted fake host with a real bundle directory and demo archive: does NOT prove SSH or a real engine (the e2e tests do), nor Pulumi serialisation of a provider using it.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors";
import { demoImage } from "../../local/demo-app";
import { applyHost, inspectHost, type HostProvisionInput } from "../../provisioner/apply-host";
import { createManifest, DEBS_DIR, MANIFEST_FILE, renderManifest, type BundlePackage } from "../../provisioner/bundle/manifest";
import type { SshTarget } from "../../provisioner/transport/ssh-target";
import { dockerHostTransport, newDockerHost } from "../helpers/fake-docker-host";
import { RECIPE } from "./fixtures/engine-context";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ls-apply-host-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bundleDir = path.join(dir, "bundle");
fs.mkdirSync(path.join(bundleDir, DEBS_DIR), { recursive: true });
const pkgs: BundlePackage[] = ["docker.io", "containerd", "runc", "tini"].map((name) => {
  const filename = `${name}_1.0_amd64.deb`;
  const body = `deb of ${name}`;
  fs.writeFileSync(path.join(bundleDir, DEBS_DIR, filename), body);
  return { name, version: "1.0", arch: "amd64", filename, size: body.length, sha256: createHash("sha256").update(body).digest("hex") };
});
fs.writeFileSync(path.join(bundleDir, MANIFEST_FILE), renderManifest(createManifest(RECIPE, pkgs, "longshore/test")));

const v1 = demoImage("v1");
const archive = path.join(dir, "v1.tar");
fs.writeFileSync(archive, v1.archive);

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n";
const host = newDockerHost();
const seen: SshTarget[] = [];

function hostInput(overrides: Partial<HostProvisionInput> = {}): HostProvisionInput {
  return {
    name: "web-1",
    address: "10.213.47.10",
    privateKey: KEY,
    hostKey: `SHA256:${"A".repeat(43)}`,
    engine: { daemon: { "log-opts": { "max-file": "3" } } },
    app: { name: "demo", version: "v1", containerPort: 8080, hostPort: 8080 },
    image: { archive },
    bundleDir,
    connect: async (t) => {
      seen.push(t);
      return dockerHostTransport(t.name, host, v1.imageId);
    },
    ...overrides,
  };
}

describe("applyHost / inspectHost", () => {
  it("applies, returns the outputs Pulumi diffs on, and inspect then says in sync with the same hash", async () => {
    const state = await applyHost(hostInput());
    expect(state.planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(state.engineVersion).toBe("20.10.24+dfsg1");
    expect(state.daemonJsonSha256).toBe(createHash("sha256").update(host.base.files.get("/etc/docker/daemon.json")!).digest("hex"));
    expect(host.images).toEqual(new Set([v1.imageId]));
    // The key reached the transport only as a Sensitive, and the host key was pinned.
    expect(seen[0]!.auth.privateKey!.reveal()).toBe(KEY);
    expect(JSON.stringify(seen[0])).not.toContain("PRIVATE KEY");
    expect(seen[0]!.hostKey).toEqual({ fingerprints: [`SHA256:${"A".repeat(43)}`] });
    expect(seen[0]).toMatchObject({ address: "10.213.47.10", port: 22, user: "root" });

    const same = await inspectHost(hostInput());
    expect(same).toEqual({ ...state, plannedHash: state.planHash, inSync: true, wouldChange: [] });
  });

  it("inspect reports drift from a changed engine option without changing the host", async () => {
    const before = host.engineRestarts;
    const drift = await inspectHost(hostInput({ engine: { daemon: { "log-opts": { "max-file": "4" } } } }));
    expect(drift.inSync).toBe(false);
    expect(drift.planHash).toBeNull();
    expect(drift.wouldChange).toEqual(["engine.configure", "engine.start"]);
    expect(host.engineRestarts).toBe(before);
  });

  it("refuses bad input with every problem and its path, never echoing the private key", async () => {
    const err = await applyHost(hostInput({ app: { name: "Demo", version: "v1", containerPort: 0, hostPort: 8080, image: "x" } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "app.name: must be a lower-case DNS label (1-63 letters, digits or '-', starting with a letter)",
      "app.containerPort: must be an integer from 1 to 65535",
      "app.image: set the image under the top-level image: (archive: or pull:), not in app",
    ]);
    const badKey = await applyHost(hostInput({ hostKey: "md5:aa", port: 0 })).catch((e: unknown) => e);
    expect((badKey as ConfigError).issues).toEqual([
      { path: "hostKey", message: "must be an OpenSSH fingerprint: SHA256: followed by 43 base64 characters" },
      { path: "port", message: "must be between 1 and 65535" },
    ]);
    expect(JSON.stringify(badKey) + String((badKey as Error).stack)).not.toContain("c2VjcmV0");
  });

  it("keeps its top-level imports to types, so requiring it inside a dynamic provider loads nothing heavy", () => {
    const src = fs.readFileSync(path.join(__dirname, "../../provisioner/apply-host.ts"), "utf8");
    const imports = src.split("\n").filter((l) => /^import /.test(l));
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.every((l) => l.startsWith("import type "))).toBe(true);
  });
});
