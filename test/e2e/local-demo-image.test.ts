// Does not prove: longshore's own engine bundle or provisioner (the engine is installed here by hand, offline, from Debian's .debs).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoImage } from "../../drivers/local/demo-app";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState } from "../../drivers/local/state";
import { httpGet, ssh, testPaths } from "./local-support";

const paths = testPaths("ls-e2e-image");
const ENV = "e2e-image";
let state: EnvState;

/** Debian 12's docker.io and what it needs beyond the machines' minbase template. */
const ENGINE_DEBS = ["docker.io", "containerd", "runc", "tini", "libdevmapper1.02.1", "dmsetup", "adduser"];

/** The .deb files, from apt's cache or downloaded once (with apt itself) into the test cache. */
function engineDebs(): string[] {
  const dir = path.join(paths.cacheDir, "test-debs");
  fs.mkdirSync(dir, { recursive: true });
  return ENGINE_DEBS.map((pkg) => {
    for (const d of ["/var/cache/apt/archives", dir]) {
      const hit = fs.readdirSync(d).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
      if (hit) return path.join(d, hit);
    }
    execFileSync("apt-get", ["download", pkg], { cwd: dir, stdio: "ignore" });
    return path.join(dir, fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`))!);
  });
}

async function inspectHealth(name: string): Promise<string> {
  return (await ssh(state, state.machines[0]!, `docker inspect -f '{{.State.Health.Status}}' ${name}`)).stdout.trim();
}

async function waitHealth(name: string, want: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  let seen = "";
  while (Date.now() < deadline) {
    seen = await inspectHealth(name);
    if (seen === want) return seen;
    await new Promise((r) => setTimeout(r, 500));
  }
  return seen;
}

beforeAll(async () => {
  state = (await upMachineGroup({ env: ENV, machines: 1, paths })).state;
  const debs = engineDebs();
  // Ship the files (they live in two directories) as one tar stream: -C per file.
  const stream = execFileSync("tar", ["-cf", "-", ...debs.flatMap((d) => ["-C", path.dirname(d), path.basename(d)])], { maxBuffer: 256 * 2 ** 20 });
  const install = await ssh(
    state,
    state.machines[0]!,
    "mkdir -p /root/debs && tar -C /root/debs -xf - && apt-get install -y -q --no-install-recommends /root/debs/*.deb -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null && systemctl is-active docker",
    { stdin: stream },
  );
  expect(install.code, install.stderr).toBe(0);
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

describe("demo image (written without docker) in Debian's docker.io on a local machine", () => {
  it("loads with the image ID longshore computed, on overlay2 (the bound /var/lib/docker)", async () => {
    for (const v of ["v1", "broken"] as const) {
      const img = demoImage(v);
      const r = await ssh(state, state.machines[0]!, "docker load", { stdin: img.archive });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`Loaded image: longshore-demo:${v}`);
      const id = await ssh(state, state.machines[0]!, `docker image inspect -f '{{.Id}}' longshore-demo:${v}`);
      expect(id.stdout.trim()).toBe(img.imageId);
    }
    const driver = await ssh(state, state.machines[0]!, "docker info -f '{{.Driver}}'");
    expect(driver.stdout.trim()).toBe("overlay2");
  });

  it("v1 serves its page and becomes healthy; broken fails /healthz with a recognisable body", async () => {
    const m = state.machines[0]!;
    const run = await ssh(state, m, "docker run -d --name v1 -p 8080:8080 longshore-demo:v1 && docker run -d --name broken -p 8090:8080 longshore-demo:broken");
    expect(run.code, run.stderr).toBe(0);
    expect(await waitHealth("v1", "healthy")).toBe("healthy");
    expect(await waitHealth("broken", "unhealthy")).toBe("unhealthy");
    const page = await httpGet(`http://${m.address}:8080/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<h1>longshore demo v1</h1>");
    expect(await httpGet(`http://${m.address}:8080/healthz`)).toEqual({ status: 200, body: "ok\n" });
    expect(await httpGet(`http://${m.address}:8090/healthz`)).toEqual({ status: 404, body: "longshore demo broken: unhealthy\n" });
  });

  it("stops on SIGTERM (PID 1 forwards it), so docker stop does not need its kill timeout", async () => {
    const r = await ssh(state, state.machines[0]!, "docker stop -t 30 v1 >/dev/null && docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' v1");
    expect(r.code, r.stderr).toBe(0);
    // Killed after the timeout would be 137; a forwarded SIGTERM ends httpd and the script with 143.
    expect(r.stdout.trim()).toBe("143 false");
  });
});
