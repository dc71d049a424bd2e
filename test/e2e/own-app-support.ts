/**
 * Shared by the e2e tests that run a user's own app on local machines: the test app's two images
 * (built with the controller's engine, test/helpers/app-image.ts) pushed to a password-protected
 * registry on the bridge, a one-machine group that keeps the bridge up from the start, and the real
 * CLI run in-process with a given environment.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { main, realDeps } from "../../cli/main";
import { systemSecretReader } from "../../core/secret-reader";
import { Sensitive } from "../../core/sensitive";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { LocalPaths } from "../../drivers/local/paths";
import { pushDockerArchive } from "../../provisioner/registry-push";
import { buildTestAppImages } from "../helpers/app-image";
import { Sink } from "../helpers/cli-harness";
import { startRegistry, type TestRegistry } from "../helpers/docker-registry";

/** The bridge's gateway: this computer, as the machines see it. */
export const GATEWAY = "10.213.47.1";

/** A registry with the test app's versions 1 and 2 in it, behind a password. */
export interface AppRegistry {
  registry: TestRegistry;
  refs: { v1: string; v2: string };
  /** What hosts pull: each version pinned to its manifest digest (`<registry>/team/shop@sha256:...`). */
  pinned: { v1: string; v2: string };
  password: string;
  stop(): Promise<void>;
}

/** Builds (or reuses) the test app's images, keeps the bridge up with `anchor`, starts the registry, pushes both versions. */
export async function appRegistry(anchor: string, paths: LocalPaths, password: string): Promise<AppRegistry> {
  const images = await buildTestAppImages();
  await upMachineGroup({ env: anchor, machines: 1, paths });
  const registry = await startRegistry(GATEWAY, { user: "ci", password });
  const push = (archive: string, tag: string) =>
    pushDockerArchive({ archive, registryUrl: registry.url, repository: "team/shop", tag, auth: { username: "ci", password: new Sensitive(password) } });
  const [v1, v2] = [await push(images.v1.archive, "1"), await push(images.v2.archive, "2")];
  const refs = { v1: v1.ref, v2: v2.ref };
  const pinned = { v1: `${registry.hostPort}/team/shop@${v1.manifestDigest}`, v2: `${registry.hostPort}/team/shop@${v2.manifestDigest}` };
  return {
    registry,
    refs,
    pinned,
    password,
    async stop() {
      await registry.stop().catch((e: unknown) => console.error(e));
      await downMachineGroup({ env: anchor, paths }).catch((e: unknown) => console.error(e));
    },
  };
}

/** Runs the real CLI (cli/main.ts with the real dependencies) in `dir`, with `env` added to its environment. */
export async function runCli(dir: string, env: Record<string, string>, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const all = { ...process.env, ...env };
  const code = await main(argv, { ...realDeps(), stdout, stderr, cwd: dir, env: all, secretReader: systemSecretReader(all) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The slot state the local driver keeps (which group serves which slot). */
export function slotGroups(paths: LocalPaths, env: string): { live: string | null; slots: Record<string, { group: string | null; image: string | null }> } {
  return JSON.parse(fs.readFileSync(path.join(paths.stateRoot, env, "slots.json"), "utf8"));
}
