/**
 * Shared parts of the provisioning e2e tests (and the provisioning benchmark): the real engine
 * bundle (built once with the bundle builder into .longshore/cache), the demo images, input for
 * provisionHosts, SSH transports to local machines, and reading a container's identity.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseResolvedApp, type ResolvedApp } from "../../model/app";
import { parseEngineOptions, type EngineOptions } from "../../model/engine";
import { buildDemoImage, type DemoVersion } from "../../drivers/local/demo-app";
import type { LocalPaths } from "../../drivers/local/paths";
import { sshTargets } from "../../drivers/local/inventory";
import type { EnvState } from "../../drivers/local/state";
import { buildBundle } from "../../provisioner/bundle/build";
import { debianRecipe, HOST_DEBIAN_SOURCES, parseDeb822Sources } from "../../provisioner/bundle/recipe";
import { verifyBundle } from "../../provisioner/bundle/verify";
import type { ProvisionHostsInput } from "../../provisioner/provision-hosts";
import type { BundleRef, ImageSource } from "../../provisioner/steps/engine-context";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import type { Transport } from "../../provisioner/transport/transport";

/** longshore's cache for tests: the bundle is built once and reused across runs. */
export const CACHE = process.env["LONGSHORE_CACHE_DIR"] ?? path.resolve(__dirname, "..", "..", ".longshore", "cache");

/** The Debian bookworm amd64 engine bundle, built (or reused) with the bundle builder, then verified. */
export async function engineBundle(): Promise<BundleRef> {
  const recipe = debianRecipe({ suite: "bookworm", arch: "amd64", hostSources: parseDeb822Sources(readFileSync(HOST_DEBIAN_SOURCES, "utf8")) });
  const built = await buildBundle({ recipe, cacheDir: CACHE, createdBy: "longshore/e2e" });
  return verifyBundle(built.dir);
}

/** A demo image as an archive source (written once into the test's cache). */
export function demoSource(version: DemoVersion, paths: LocalPaths): ImageSource & { source: "archive" } {
  const img = buildDemoImage(version, { cacheDir: paths.cacheDir });
  return { source: "archive", localPath: img.file, imageId: img.imageId };
}

/** How long app.health waits in these tests: short, for the broken image's sake. */
export const E2E_HEALTH_DEADLINE_MS = 20_000;

/** The demo app (`longshore-demo:<version>`, so its release and container name is `demo-<version>`), probed every half second. */
export function demoApp(version: string, overrides: Record<string, unknown> = {}): ResolvedApp {
  return parseResolvedApp({
    name: "demo",
    image: `longshore-demo:${version}`,
    port: 8080,
    hostPort: 8080,
    env: { GREETING: "hello" },
    health: { intervalSeconds: 0.5 },
    ...overrides,
  });
}

/** Engine options with a given log-opts max-file (the option the tests change). */
export function engineWith(maxFile: string, extra: Record<string, unknown> = {}): EngineOptions {
  return parseEngineOptions({ daemon: { "log-opts": { "max-file": maxFile }, ...extra } });
}

/** provisionHosts input for every machine of `state` (slot blue, apply, app.health waiting {@link E2E_HEALTH_DEADLINE_MS}). */
export function inputFor(state: EnvState, rest: Omit<ProvisionHostsInput, "targets" | "slot" | "mode"> & Partial<Pick<ProvisionHostsInput, "slot" | "mode">>): ProvisionHostsInput {
  return { targets: sshTargets(state), slot: "blue", mode: "apply", auditUser: "e2e@controller", healthDeadlineMs: E2E_HEALTH_DEADLINE_MS, ...rest };
}

/** One SSH transport to machine `i` of `state` (pinned host key). */
export function openMachine(state: EnvState, i = 0): Promise<Transport> {
  return connectSsh(sshTargets(state)[i]!);
}

/** `docker inspect` of a container as `<id> <StartedAt> <image id>`, or null when there is none. */
export async function containerIdentity(t: Transport, name: string): Promise<{ id: string; startedAt: string; image: string } | null> {
  const r = await t.exec({ argv: ["docker", "inspect", "--type", "container", "--format", "{{.Id}} {{.State.StartedAt}} {{.Image}}", name] });
  if (r.exitCode !== 0) return null;
  const [id, startedAt, image] = r.stdout.trim().split(" ");
  return { id: id!, startedAt: startedAt!, image: image! };
}

/** Step id and status of each step of host `i` of a report, as `id status` strings. */
export function stepStatuses(report: { hosts: ReadonlyArray<{ steps: ReadonlyArray<{ id: string; status: string }> }> }, i = 0): string[] {
  return report.hosts[i]!.steps.map((s) => `${s.id} ${s.status}`);
}
