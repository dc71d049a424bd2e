// Does not prove: a real Debian mirror or the internet (machines have no route out; the controller serves the bundle's .debs under their archive paths on the bridge), AWS, HTTPS mirrors, or a proxy from the hosts' apt.conf.d.
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandFailedError } from "../../core/errors";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import { sshTargets } from "../../drivers/local/inventory";
import type { EnvState } from "../../drivers/local/state";
import { parseEngineOptions } from "../../model/engine";
import { DEBS_DIR } from "../../provisioner/bundle/manifest";
import { provisionHosts, type ProvisionEvent } from "../../provisioner/provision-hosts";
import { remoteBundleDir } from "../../provisioner/steps/engine-bundle";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import { startArchiveMirror } from "../helpers/archive-mirror";
import { testPaths } from "./local-support";
import { demoApp, demoSource, engineBundle, inputFor, openMachine, stepStatuses } from "./provision-support";

const paths = testPaths("ls-e2e-fetch");
const ENV = "e2efetch";
let state: EnvState;
let bundle: BundleRef;

async function sh(i: number, script: string): Promise<string> {
  const t = await openMachine(state, i);
  try {
    const r = await t.exec({ argv: ["sh", "-c", script] });
    return `${r.exitCode} ${r.stdout.trim()}`;
  } finally {
    await t.close();
  }
}

const STEPS = ["engine.facts", "engine.bundle", "engine.install", "engine.configure", "engine.start", "engine.verify", "image.load", "app.run", "app.health", "audit.append"];
const all = (word: string) => STEPS.map((id) => `${id} ${word}`);

beforeAll(async () => {
  bundle = await engineBundle();
  state = (await upMachineGroup({ env: ENV, machines: 3, paths })).state;
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
});

describe("engine.fetch: archive (hosts download the pinned .debs from a mirror the controller serves on the bridge)", () => {
  it("the cached bundle records each package's archive path and source (same id as before)", () => {
    expect(bundle.manifest.packages.length).toBeGreaterThan(10);
    for (const p of bundle.manifest.packages) {
      expect(p.archivePath).toMatch(new RegExp(`^pool/main/[a-z0-9]+/[^/]+/${p.name.replace(/[.+]/g, "\\$&")}_[^/]+\\.deb$`));
      expect(p.archiveUri).toMatch(/^http:\/\/\S+\/debian$/);
    }
  });

  it("two hosts fetch every .deb exactly once each, Docker runs; a second provision fetches nothing", async () => {
    const mirror = await startArchiveMirror(state.gateway, bundle);
    try {
      const engine = parseEngineOptions({ fetch: "archive", archiveMirror: mirror.url });
      const targets = sshTargets(state).slice(0, 2);
      const events: ProvisionEvent[] = [];
      const first = await provisionHosts({ ...inputFor(state, { engine, app: demoApp("v1"), image: demoSource("v1", paths), bundle, onEvent: (e) => events.push(e) }), targets });
      expect(first.error).toBeUndefined();
      // facts, verify and health only check: "unchanged" is their success.
      const firstRun = STEPS.map((id) => `${id} ${["engine.facts", "engine.verify", "app.health"].includes(id) ? "unchanged" : "changed"}`);
      expect([stepStatuses(first.report, 0), stepStatuses(first.report, 1)]).toEqual([firstRun, firstRun]);
      // Only the manifest and SHA256SUMS went over SSH.
      const dir = remoteBundleDir(bundle.manifest.id);
      expect(first.report.hosts[0]!.steps[1]!.uploaded.map((u) => u.path).sort()).toEqual([`${dir}/SHA256SUMS`, `${dir}/manifest.json`]);

      const want = bundle.manifest.packages.map((p) => `/debian/${p.archivePath}`).sort();
      for (const m of state.machines.slice(0, 2)) {
        expect(mirror.log.filter((r) => r.from === m.address).map((r) => `${r.status} ${r.path}`).sort()).toEqual(want.map((p) => `200 ${p}`));
      }
      expect(mirror.log).toHaveLength(2 * want.length);
      // Progress per host: one line per fetched file, then the count.
      for (const t of targets) {
        const progress = events.flatMap((e) => (e.type === "step-progress" && e.host === t.name && e.stepId === "engine.bundle" ? [e.message] : []));
        expect(progress).toHaveLength(want.length + 1);
        expect(progress.at(-1)).toBe(`fetched ${want.length} of ${want.length} files from the archive`);
      }
      for (const i of [0, 1]) {
        expect(await sh(i, `test -f ${dir}/.verified && ls ${dir}/${DEBS_DIR} | wc -l && test ! -e ${dir}/partial && echo clean`)).toBe(`0 ${want.length}\nclean`);
        expect(await sh(i, "docker inspect --format '{{.State.Running}}' demo-v1")).toBe("0 true");
        expect(await sh(i, "dpkg-query -W -f '${Version}' docker.io")).toBe(`0 ${bundle.manifest.enginePackage.version}`);
      }

      const second = await provisionHosts({ ...inputFor(state, { engine, app: demoApp("v1"), image: demoSource("v1", paths), bundle }), targets });
      expect(second.error).toBeUndefined();
      expect([stepStatuses(second.report, 0), stepStatuses(second.report, 1)]).toEqual([all("unchanged"), all("unchanged")]);
      expect(mirror.log).toHaveLength(2 * want.length);
      console.log(
        `bundle-fetch: engine.bundle from the local mirror took ${first.report.hosts.map((h) => h.steps[1]!.durationMs).join(" and ")} ms on 2 hosts in parallel (${(bundle.manifest.totalSize / 1048576).toFixed(1)} MiB each)`,
      );
    } finally {
      await mirror.stop();
    }
  });

  it("a .deb with one byte changed fails the host's step naming the hash mismatch and its URI: no .verified, no engine", async () => {
    const docker = bundle.manifest.packages.find((p) => p.name === bundle.manifest.enginePackage.name)!;
    const tamperedPath = `/debian/${docker.archivePath}`;
    const mirror = await startArchiveMirror(state.gateway, bundle, new Set([tamperedPath]));
    try {
      const engine = parseEngineOptions({ fetch: "archive", archiveMirror: mirror.url });
      const r = await provisionHosts({ ...inputFor(state, { engine, app: demoApp("v1"), image: demoSource("v1", paths), bundle }), targets: sshTargets(state).slice(2) });
      expect(stepStatuses(r.report)).toEqual(["engine.facts unchanged", "engine.bundle failed", ...STEPS.slice(2).map((id) => `${id} not-run`)]);
      const err = r.error!.failures[0]!.error as CommandFailedError;
      expect(err).toBeInstanceOf(CommandFailedError);
      expect(err.stepId).toBe("engine.bundle");
      const uri = `${mirror.url}/${docker.archivePath!.split("/").map((s) => encodeURIComponent(s).replace(/~/g, "%7E")).join("/")}`;
      expect(err.stderrTail).toContain(`longshore: ${uri}: hash mismatch: it is not the .deb the lock pins (sha256 ${docker.sha256}); check engine.archiveMirror, or set engine.fetch: upload`);
      expect(err.stderrTail).toContain("Hash Sum mismatch");
      const dir = remoteBundleDir(bundle.manifest.id);
      expect(await sh(2, `test -e ${dir}/.verified; echo marker=$?; test -e ${dir}/${DEBS_DIR}/${docker.filename}; echo deb=$?; ls ${dir}/partial | wc -l`)).toBe("0 marker=1\ndeb=1\n0");
      expect(await sh(2, "dpkg-query -W -f '${Status}' docker.io 2>/dev/null; command -v dockerd || echo no-dockerd")).toMatch(/no-dockerd$/);
      expect(mirror.log.filter((x) => x.path === tamperedPath)).toHaveLength(1);
    } finally {
      await mirror.stop();
    }
  });

  it("a mirror the host cannot reach fails the step naming the URI and suggesting engine.fetch: upload", async () => {
    // A port on the bridge that nothing listens on any more: the host's connection is refused.
    const gone = await startArchiveMirror(state.gateway, bundle);
    await gone.stop();
    const engine = parseEngineOptions({ fetch: "archive", archiveMirror: gone.url });
    const r = await provisionHosts({ ...inputFor(state, { engine, app: demoApp("v1"), image: demoSource("v1", paths), bundle }), targets: sshTargets(state).slice(2) });
    expect(stepStatuses(r.report).slice(0, 3)).toEqual(["engine.facts unchanged", "engine.bundle failed", "engine.install not-run"]);
    const err = r.error!.failures[0]!.error as CommandFailedError;
    // The files fetched before the tampered one are kept (right sha256): the first to fetch is the engine's.
    const docker = bundle.manifest.packages.find((p) => p.name === bundle.manifest.enginePackage.name)!;
    const uri = `${gone.url}/${docker.archivePath!.split("/").map((s) => encodeURIComponent(s).replace(/~/g, "%7E")).join("/")}`;
    expect(err.stderrTail).toContain(
      `longshore: could not fetch ${uri}: check that the host can reach the archive (or engine.archiveMirror), or set engine.fetch: upload to send the bundle over SSH`,
    );
    expect(err.stderrTail).toContain("Connection refused");
    const dir = remoteBundleDir(bundle.manifest.id);
    expect(await sh(2, `test -e ${dir}/.verified; echo marker=$?`)).toBe("0 marker=1");
  });
});
