// Does not prove: registries over TLS, token (bearer) auth, or pulls from public registries (Debian's docker-registry on the bridge, plain HTTP, htpasswd basic auth).
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandFailedError } from "../../core/errors";
import { Sensitive } from "../../core/sensitive";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import { resolvedRegistrySchema } from "../../model/registry";
import type { EnvState } from "../../drivers/local/state";
import { provisionHosts, type ProvisionEvent } from "../../provisioner/provision-hosts";
import { pushDockerArchive, type PushResult } from "../../provisioner/registry-push";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import { startRegistry, type TestRegistry } from "../helpers/docker-registry";
import { httpGet, testPaths } from "./local-support";
import { containerIdentity, demoApp, demoSource, engineBundle, engineWith, inputFor, openMachine, stepStatuses } from "./provision-support";

const paths = testPaths("ls-e2e-provreg");
const ENV = "e2e-provreg";
/** The bridge's gateway: this computer, as the machines see it. */
const GATEWAY = "10.213.47.1";
const PASSWORD = `reg-${process.pid}-${Date.now()}-secret`;
let state: EnvState;
let bundle: BundleRef;
let registry: TestRegistry | undefined;
let pushed: PushResult;

beforeAll(async () => {
  bundle = await engineBundle();
  // The bridge (and so the gateway address the registry listens on) exists once an environment is up.
  state = (await upMachineGroup({ env: ENV, machines: 1, paths })).state;
  registry = await startRegistry(GATEWAY, { user: "ci", password: PASSWORD });
  const v1 = demoSource("v1", paths);
  pushed = await pushDockerArchive({
    archive: v1.localPath,
    registryUrl: registry.url,
    repository: "longshore-demo",
    tag: "v1",
    auth: { username: "ci", password: new Sensitive(PASSWORD) },
  });
});

afterAll(async () => {
  await registry?.stop().catch((e: unknown) => console.error(e));
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

function input(ref: string, withCredentials: boolean, events?: ProvisionEvent[]) {
  return inputFor(state, {
    engine: engineWith("3", { "insecure-registries": [registry!.hostPort] }),
    app: demoApp("v1", { image: ref }),
    registry: withCredentials ? resolvedRegistrySchema.parse({ server: registry!.hostPort, username: "ci", password: PASSWORD }) : null,
    image: { source: "registry" as const, ref, imageId: pushed.imageId },
    bundle,
    ...(events ? { onEvent: (e: ProvisionEvent) => void events.push(e) } : {}),
  });
}

async function sh(script: string) {
  const t = await openMachine(state);
  try {
    return await t.exec({ argv: ["sh", "-c", script] });
  } finally {
    await t.close();
  }
}

describe("provisioning from a registry (docker-registry on the bridge, pushed without a docker daemon)", () => {
  it("the push stored a schema 2 manifest the registry serves, naming the archive's image ID as its config", async () => {
    expect(pushed).toMatchObject({ ref: `${registry!.hostPort}/longshore-demo:v1`, imageId: demoSource("v1", paths).imageId, uploaded: 2, skipped: 0 });
    const auth = `Basic ${Buffer.from(`ci:${PASSWORD}`).toString("base64")}`;
    const r = await fetch(`${registry!.url}/v2/longshore-demo/manifests/v1`, { headers: { authorization: auth, accept: "application/vnd.docker.distribution.manifest.v2+json" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("docker-content-digest")).toBe(pushed.manifestDigest);
    expect(((await r.json()) as { config: { digest: string } }).config.digest).toBe(pushed.imageId);
    expect((await fetch(`${registry!.url}/v2/`)).status).toBe(401);
  });

  it("installs the engine with the registry as insecure, logs in with the password on stdin, pulls, runs v1; no credential left behind", async () => {
    const events: ProvisionEvent[] = [];
    const r = await provisionHosts(input(pushed.ref, true, events));
    expect(r.error).toBeUndefined();
    const statuses = stepStatuses(r.report);
    expect(statuses.filter((s) => !s.startsWith("app.health"))).toEqual([
      "engine.facts unchanged",
      "engine.bundle changed",
      "engine.install changed",
      "engine.configure changed",
      "engine.start changed",
      "engine.verify unchanged",
      "image.pull changed",
      "app.run changed",
      "audit.append changed",
    ]);
    expect((await sh("docker image inspect --format '{{.Id}}' " + pushed.ref)).stdout.trim()).toBe(pushed.imageId);
    expect((await sh("docker inspect --format '{{.Image}} {{.Config.Image}}' demo-v1")).stdout.trim()).toBe(`${pushed.imageId} ${pushed.ref}`);
    expect((await httpGet(`http://${state.machines[0]!.address}:8080/`)).body).toContain("<h1>longshore demo v1</h1>");
    // docker logout ran: no auth for the registry in root's docker config.
    const config = await sh("cat /root/.docker/config.json 2>/dev/null || echo '(none)'");
    expect(config.stdout).not.toContain(registry!.hostPort + '": {"auth');
    expect(config.stdout).not.toMatch(/"auth"\s*:/);
    // The password is nowhere in what longshore reports.
    expect(JSON.stringify(r.report) + JSON.stringify(events) + JSON.stringify(r.hosts)).not.toContain(PASSWORD);
    expect((await sh("cat /etc/docker/daemon.json")).stdout).toContain(`"insecure-registries": [\n    "${registry!.hostPort}"\n  ]`);
  });

  it("a second run skips the pull (the image ID is there) and keeps the container", async () => {
    const before = await (async () => {
      const t = await openMachine(state);
      try {
        return await containerIdentity(t, "demo-v1");
      } finally {
        await t.close();
      }
    })();
    const r = await provisionHosts(input(pushed.ref, true));
    expect(r.error).toBeUndefined();
    expect(r.report.counts).toEqual({ unchanged: 10, changed: 0, "would-change": 0, failed: 0, "not-run": 0 });
    const t = await openMachine(state);
    try {
      expect(await containerIdentity(t, "demo-v1")).toEqual(before);
    } finally {
      await t.close();
    }
  });

  it("without credentials the pull of a new tag is refused by the registry: image.pull fails after its retries, naming the refusal", async () => {
    const other = await pushDockerArchive({
      archive: demoSource("v1", paths).localPath,
      registryUrl: registry!.url,
      repository: "longshore-demo",
      tag: "other",
      auth: { username: "ci", password: new Sensitive(PASSWORD) },
    });
    expect(other).toMatchObject({ uploaded: 0, skipped: 2 });
    const ref = `${registry!.hostPort}/longshore-demo:other`;
    const r = await provisionHosts({ ...input(ref, false), image: { source: "registry", ref } });
    expect(stepStatuses(r.report).slice(6)).toEqual(["image.pull failed", "app.run not-run", "app.health not-run", "audit.append not-run"]);
    const step = r.report.hosts[0]!.steps[6]!;
    expect(step.attempts).toBe(3);
    const err = r.error!.failures[0]!.error as CommandFailedError;
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.command).toBe(`docker pull --quiet ${ref}`);
    expect(err.stderrTail).toMatch(/no basic auth credentials|unauthorized/);
  });
});
