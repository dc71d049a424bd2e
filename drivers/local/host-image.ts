/**
 * Host images for local machines: the base template plus the installed, configured and verified
 * engine, made once per (template, engine bundle, engine options) and shared read-only by every
 * machine that needs the same, so a rollout's fresh machines boot with the engine ready.
 *
 * Made by booting one machine from the template, running the provisioner's engine steps on it
 * (exactly what any host gets), stopping the engine, and keeping the machine's overlay upper
 * directory, scrubbed of that machine's identity (machine-id, SSH host keys, hostname, network file,
 * journal, the engine's runtime record), as a cached layer. Machines then mount it between the
 * template and their own upper directory and get their own identity before boot, as from the bare
 * template. The engine steps still run on them: every check passes and nothing is sent, so a host
 * without the image still works and drift is still found.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../../core/atomic-write";
import { PreconditionError } from "../../core/errors";
import { parseResolvedApp } from "../../model/app";
import type { EngineOptions } from "../../model/engine";
import { provisionHosts } from "../../provisioner/provision-hosts";
import type { BundleRef } from "../../provisioner/steps/engine-context";
import { APP_STEP_IDS } from "../../provisioner/steps/index";
import { runLocal } from "./exec";
import { downMachineGroup, machineGroupSshTargets, upMachineGroup } from "./machine-group";
import type { LocalPaths } from "./paths";
import { ensureTemplate, type Progress } from "./template";
import { DEFAULT_RECIPE, type TemplateRecipe } from "./template-recipe";

/** Bump when what goes into a host image changes in a way its inputs do not show. */
export const HOST_IMAGE_VERSION = 2;

/** A host image: its id (a hash of its inputs) and the read-only layer machines mount. */
export interface HostImage {
  id: string;
  layer: string;
}

/** What a host image is made of. */
export interface HostImageInputs {
  /** The template's recipe hash. */
  templateHash: string;
  /** The engine bundle's manifest id. */
  bundleId: string;
  /** The engine options (daemon.json and channel): the image's engine is configured with them. */
  engine: EngineOptions;
}

/** The id that names a host image: a hash of its inputs. Pure. */
export function hostImageId(inputs: HostImageInputs): string {
  const text = JSON.stringify({ v: HOST_IMAGE_VERSION, template: inputs.templateHash, bundle: inputs.bundleId, engine: inputs.engine });
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Where a host image lives in the cache. */
export function hostImageDirs(paths: LocalPaths, id: string) {
  const root = path.join(paths.cacheDir, "host-images", id);
  return { root, layer: path.join(root, "layer"), ready: path.join(root, "ready.json") };
}

/**
 * What is removed from the build machine's upper directory: its identity and runtime state. Each
 * new machine writes its own hostname, hosts, network file, authorized_keys, SSH host key and
 * machine-id before it boots; the engine writes its runtime record at each start.
 */
export const SCRUBBED = [
  "etc/ssh/ssh_host_ed25519_key",
  "etc/ssh/ssh_host_ed25519_key.pub",
  "etc/ssh/ssh_host_rsa_key",
  "etc/ssh/ssh_host_rsa_key.pub",
  "etc/ssh/ssh_host_ecdsa_key",
  "etc/ssh/ssh_host_ecdsa_key.pub",
  "etc/hostname",
  "etc/hosts",
  "etc/systemd/network/10-host0.network",
  "root/.ssh",
  "var/log/journal",
  "var/lib/systemd/random-seed",
  "var/lib/systemd/credential.secret",
  "var/lib/docker",
  "var/lib/longshore/engine/running-config",
  "var/lib/longshore/engine/running-facts",
  "tmp",
  "var/tmp",
] as const;


/** The host image for `inputs` when the cache has it complete, else null. */
export function cachedHostImage(paths: LocalPaths, id: string): HostImage | null {
  const dirs = hostImageDirs(paths, id);
  return fs.existsSync(dirs.ready) && fs.existsSync(dirs.layer) ? { id, layer: dirs.layer } : null;
}

/** Options of {@link ensureHostImage}. */
export interface EnsureHostImageOptions {
  paths: LocalPaths;
  engine: EngineOptions;
  bundle: BundleRef;
  recipe?: TemplateRecipe;
  progress?: Progress;
}

/**
 * The host image for this engine and bundle: from the cache, or made now (about as long as one
 * machine's first provisioning). A failure leaves nothing behind: the build machine is removed.
 */
export async function ensureHostImage(o: EnsureHostImageOptions): Promise<HostImage> {
  const progress = o.progress ?? (() => undefined);
  const recipe = o.recipe ?? DEFAULT_RECIPE;
  const template = await ensureTemplate(o.paths, recipe, progress);
  const id = hostImageId({ templateHash: template.hash, bundleId: o.bundle.manifest.id, engine: o.engine });
  const hit = cachedHostImage(o.paths, id);
  if (hit) return hit;
  const dirs = hostImageDirs(o.paths, id);
  const t0 = Date.now();
  progress(`host image ${id}: not in the cache; making it from one machine (engine ${o.bundle.manifest.version})`);
  const group = `hostimg-${id.slice(0, 8)}-${randomBytes(2).toString("hex")}`;
  fs.mkdirSync(dirs.root, { recursive: true });
  const tmp = path.join(dirs.root, `.layer-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const up = await upMachineGroup({ env: group, machines: 1, paths: o.paths, recipe, progress });
    const machine = up.state.machines[0]!;
    const result = await provisionHosts({
      targets: machineGroupSshTargets(group, o.paths),
      engine: o.engine,
      app: parseResolvedApp({ name: "hostimage", image: "longshore-host-image:none" }),
      image: { source: "registry", ref: "longshore-host-image:none" },
      bundle: o.bundle,
      slot: "blue",
      mode: "apply",
      omitSteps: APP_STEP_IDS, // a host image holds the engine only
      auditUser: "longshore@host-image",
    });
    if (result.error) throw new PreconditionError(`host image ${id}: provisioning its engine failed: ${result.error.message}`, { cause: result.error });
    // The engine stopped, so its files are at rest when the layer is copied.
    const t = machineGroupSshTargets(group, o.paths)[0]!;
    const { connectSsh } = await import("../../provisioner/transport/ssh2-transport.js");
    const transport = await connectSsh(t);
    try {
      const r = await transport.exec({ argv: ["sh", "-c", "systemctl stop docker.socket docker.service containerd.service && sync"], sudo: true }, { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new PreconditionError(`host image ${id}: stopping the engine failed: ${r.stderr.trim()}`);
    } finally {
      await transport.close();
    }
    // cp -a keeps owners, modes, links, device nodes (overlay whiteouts) and xattrs (opaque dirs).
    await runLocal("cp", ["-a", machine.upperDir, tmp], { stepId: "local.host-image" });
    scrub(tmp);
    fs.renameSync(tmp, dirs.layer);
    writeFileAtomic(dirs.ready, JSON.stringify({ id, template: template.hash, bundle: o.bundle.manifest.id, engine: o.engine, madeIn: `${Date.now() - t0} ms`, at: new Date().toISOString() }, null, 2) + "\n");
    progress(`host image ${id}: made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { id, layer: dirs.layer };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await downMachineGroup({ env: group, paths: o.paths, progress }).catch((e: unknown) => progress(`host image ${id}: removing its build machine failed: ${(e as Error).message}`));
  }
}

/** Removes the build machine's identity from its copied upper directory; an empty machine-id makes each machine its own. */
export function scrub(layer: string): void {
  for (const rel of SCRUBBED) fs.rmSync(path.join(layer, rel), { recursive: true, force: true });
  const id = path.join(layer, "etc", "machine-id");
  if (fs.existsSync(path.dirname(id))) {
    fs.rmSync(id, { force: true });
    fs.writeFileSync(id, "", { mode: 0o444 });
  }
}
