/**
 * The aws rollout driver: the same {@link SlotDriver} as the local one, carried out on the one
 * source of truth, the environment file. Every change is an edit of that file (a slot's image and
 * size, the live slot) followed by one `pulumi up` of the `web` program, which reads the same file.
 * The stack's own HealthGate keeps the listener from switching to an unhealthy slot even if this
 * driver is bypassed.
 */
import { readFile } from "node:fs/promises";
import { hostPortOf } from "../../model/app";
import type { Environment } from "../../model/environment";
import { parseEnvironment, updateEnvironmentText, writeEnvironmentText, type DesiredStateChange } from "../../model/environment-file";
import type { EnvironmentStatus, HostKeyResult, HostStatus, ProbeResult, ProgressFn, SlotDriver, SlotName } from "../../rollout/driver";
import { probeHttp } from "../../rollout/http-probe";

/** The stack operations the driver needs; the Automation API implements it (stacks/web/workspace.ts), tests fake it. */
export interface StackWorkspace {
  /** `pulumi up`, streaming its output lines. */
  up(onOutput: (line: string) => void): Promise<void>;
  /** The stack's outputs (plain values; secrets stay secret). */
  outputs(): Promise<Record<string, unknown>>;
}

/** The stack outputs this driver reads (see stacks/web/index.ts). */
interface WebOutputs {
  url?: string;
  liveSlot?: SlotName | null;
  hostNames?: Partial<Record<SlotName, string[]>>;
  hostAddresses?: Partial<Record<SlotName, string[]>>;
}

/** Options for {@link AwsSlotDriver}. */
export interface AwsDriverOptions {
  /** The environment as loaded (its health check and policy). */
  env: Environment;
  /** The environment file the `web` program reads; this driver edits it before each `pulumi up`. */
  file: string;
  workspace: StackWorkspace;
  /** Health-checks hosts; default: a direct HTTP probe of each host's app port with `app.health`. */
  probeHosts?: (slot: SlotName, hosts: HostStatus[]) => Promise<ProbeResult[]>;
  /** Called with each line of `pulumi up` output. */
  log?: (line: string) => void;
}

/** Drives the `web` stack through the environment file. */
export class AwsSlotDriver implements SlotDriver {
  readonly name = "the aws driver";

  constructor(private readonly options: AwsDriverOptions) {}

  /** The file's slot images as they are now (this driver edits them during an operation). */
  private async fileImages(): Promise<Record<SlotName, string | null>> {
    const text = await readFile(this.options.file, "utf8");
    const r = parseEnvironment(text, this.options.file);
    const env = r.ok ? r.value : this.options.env;
    return { blue: env.slots.blue.image, green: env.slots.green.image };
  }

  private async edit(change: DesiredStateChange): Promise<void> {
    const text = await readFile(this.options.file, "utf8");
    await writeEnvironmentText(this.options.file, updateEnvironmentText(text, change));
  }

  async status(): Promise<EnvironmentStatus> {
    const out = (await this.options.workspace.outputs()) as WebOutputs;
    const images = await this.fileImages();
    const slot = (s: SlotName) => {
      const names = out.hostNames?.[s] ?? [];
      const hosts = (out.hostAddresses?.[s] ?? []).map((address, i) => ({ name: names[i] ?? `${s}-${i}`, address, image: images[s] ?? "" }));
      return { image: hosts.length ? images[s] : null, hosts };
    };
    return { live: out.liveSlot ?? null, slots: { blue: slot("blue"), green: slot("green") }, url: out.url ?? null };
  }

  async prepareSlot(slot: SlotName, image: string, size: number, progress: ProgressFn): Promise<HostStatus[]> {
    // A new image replaces the slot's instances (the stack marks user data replace-on-change): on
    // AWS the version the slot kept does not survive the update, and the output says so.
    const kept = (await this.fileImages())[slot];
    if (kept !== null && kept !== image) progress(`the ${slot} slot's ${kept} hosts are replaced by this update: no instant rollback to it from here on`);
    await this.edit({ images: { [slot]: image }, sizes: { [slot]: size } });
    progress(`pulumi up: ${slot} slot -> ${image} x${size}`);
    try {
      await this.up();
    } catch (e) {
      // Whatever the failed update created goes again, and the file never names hosts that are not there.
      progress(`pulumi up failed; removing the ${slot} slot's hosts again`);
      await this.edit({ images: { [slot]: null } });
      await this.up().catch((again: unknown) => progress(`removing them failed too: ${(again as Error).message}`));
      throw e;
    }
    return (await this.status()).slots[slot].hosts;
  }

  /**
   * Not checked yet: the hosts' keys are pinned by the stack (modules/host-key.ts), but reaching
   * them needs the stack's SSH key and a route into the VPC, which this driver does not have.
   */
  async checkHostKeys(slot: SlotName): Promise<HostKeyResult[]> {
    const hosts = (await this.status()).slots[slot].hosts;
    return hosts.map((h) => ({ host: h.name, state: "unknown", detail: "the aws driver does not check host keys yet" }));
  }

  async probe(slot: SlotName): Promise<ProbeResult[]> {
    const hosts = (await this.status()).slots[slot].hosts;
    if (this.options.probeHosts) return this.options.probeHosts(slot, hosts);
    const { health } = this.options.env.app;
    const port = hostPortOf(this.options.env.app);
    // Direct probes: run rollouts from where the hosts' app port is reachable (inside the VPC).
    return Promise.all(
      hosts.map((h) => probeHttp(h.name, `http://${h.address}:${port}${health.path}`, { timeoutMs: health.timeoutSeconds * 1000, expectStatus: health.status })),
    );
  }

  async commitSlot(): Promise<void> {
    // The update in prepareSlot already made the new instances the slot's.
  }

  async discardPrepared(slot: SlotName, progress: ProgressFn): Promise<void> {
    // The slot's previous instances were replaced in prepareSlot: what failed goes, the slot is empty.
    await this.retireSlot(slot, progress);
  }

  async switchTraffic(slot: SlotName, _drainMs: number): Promise<void> {
    // Draining is the target groups' deregistration delay, which the stack sets from rollout.drainSeconds.
    await this.edit({ live: slot });
    await this.up();
  }

  async retireSlot(slot: SlotName, progress: ProgressFn): Promise<void> {
    await this.edit({ images: { [slot]: null } });
    progress(`pulumi up: retiring the ${slot} slot`);
    await this.up();
  }

  private async up(): Promise<void> {
    await this.options.workspace.up(this.options.log ?? (() => {}));
  }
}
