/**
 * The aws rollout driver: the same {@link SlotDriver} as the local one, carried out by changing the
 * `web` stack's config and running `pulumi up` through the Automation API. Desired state stays in
 * the stack config (reviewed in git); the stack's own HealthGate keeps the listener from switching
 * to an unhealthy slot even if this driver is bypassed.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { MissingToolError } from "../../core/errors";
import type * as automation from "@pulumi/pulumi/automation";
import type { EnvironmentStatus, HostStatus, ProbeResult, ProgressFn, SlotDriver, SlotName } from "../../rollout/driver";

/** The few stack operations the driver needs; the Automation API implements it, tests fake it. */
export interface StackWorkspace {
  /** Sets one config value at a path (`slots.green.image`), as `pulumi config set --path` does. */
  setConfig(key: string, value: string): Promise<void>;
  getConfig(key: string): Promise<string | undefined>;
  /** `pulumi up`, streaming its output lines. */
  up(onOutput: (line: string) => void): Promise<void>;
  /** The stack's outputs (plain values; secrets stay secret). */
  outputs(): Promise<Record<string, unknown>>;
}

/** The stack outputs this driver reads (see stacks/web/index.ts). */
interface WebOutputs {
  loadBalancerDnsName?: string;
  liveSlot?: SlotName;
  hostAddresses?: Partial<Record<SlotName, string[]>>;
}

/** Options for {@link AwsSlotDriver}. */
export interface AwsDriverOptions {
  workspace: StackWorkspace;
  /** Health-checks hosts (over SSH on the host, since the app port is open only to the ALB). */
  probeHosts: (slot: SlotName, hosts: HostStatus[]) => Promise<ProbeResult[]>;
  /** Called with each line of `pulumi up` output. */
  log?: (line: string) => void;
}

/** Drives the `web` stack. Every change is one config edit followed by one `pulumi up`. */
export class AwsSlotDriver implements SlotDriver {
  constructor(private readonly options: AwsDriverOptions) {}

  async status(): Promise<EnvironmentStatus> {
    const out = (await this.options.workspace.outputs()) as WebOutputs;
    const slot = async (s: SlotName) => {
      const image = (await this.options.workspace.getConfig(`slots.${s}.image`)) ?? null;
      const hosts = (out.hostAddresses?.[s] ?? []).map((address, i) => ({ name: `${s}-${i}`, address, image: image ?? "" }));
      return { image: hosts.length ? image : null, hosts };
    };
    return {
      live: out.liveSlot ?? null,
      slots: { blue: await slot("blue"), green: await slot("green") },
      url: out.loadBalancerDnsName ? `http://${out.loadBalancerDnsName}/` : null,
    };
  }

  async prepareSlot(slot: SlotName, image: string, size: number, progress: ProgressFn): Promise<HostStatus[]> {
    // A new image replaces the slot's instances (the stack marks user data replace-on-change).
    await this.options.workspace.setConfig(`slots.${slot}.image`, image);
    await this.options.workspace.setConfig(`slots.${slot}.size`, String(size));
    progress(`pulumi up: ${slot} slot -> ${image} x${size}`);
    await this.up();
    return (await this.status()).slots[slot].hosts;
  }

  async probe(slot: SlotName): Promise<ProbeResult[]> {
    return this.options.probeHosts(slot, (await this.status()).slots[slot].hosts);
  }

  async switchTraffic(slot: SlotName, _drainMs: number): Promise<void> {
    // Draining is the target groups' deregistration delay: the stack sets it from the same policy.
    await this.options.workspace.setConfig("liveSlot", slot);
    await this.up();
  }

  async retireSlot(slot: SlotName, progress: ProgressFn): Promise<void> {
    await this.options.workspace.setConfig(`slots.${slot}.size`, "0");
    progress(`pulumi up: retiring the ${slot} slot`);
    await this.up();
  }

  private async up(): Promise<void> {
    await this.options.workspace.up(this.options.log ?? (() => {}));
  }
}

/** Finds the Pulumi CLI on PATH, or explains how to get it. */
export function requirePulumiCli(env: NodeJS.ProcessEnv = process.env): string {
  const found = spawnSync("sh", ["-c", "command -v pulumi"], { env, encoding: "utf8" });
  const bin = found.status === 0 ? found.stdout.trim() : "";
  if (!bin) {
    throw new MissingToolError("the aws driver needs the Pulumi CLI, and `pulumi` is not on PATH", {
      suggestion: "Install it (https://www.pulumi.com/docs/install/), log in with `pulumi login`, then run this again. The local driver needs no Pulumi CLI.",
    });
  }
  return bin;
}

/** The `web` stack's project directory (the one with Pulumi.yaml), from the source or the build. */
export function webStackDir(): string {
  // Compiled, this file is dist/stacks/web/aws-driver.js; the project lives in the source tree.
  const candidates = [__dirname, path.resolve(__dirname, "../../../stacks/web")];
  return candidates.find((d) => existsSync(path.join(d, "Pulumi.yaml"))) ?? candidates[0]!;
}

/**
 * The real workspace: the Automation API over the `web` stack program in `workDir`. Checks for the
 * CLI first, so its absence is one clear error instead of a stack trace from deep inside.
 */
export async function automationWorkspace(stackName: string, workDir = webStackDir()): Promise<StackWorkspace> {
  requirePulumiCli();
  // Loaded only here: the Automation API is heavy and unused by the local driver.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { LocalWorkspace } = require("@pulumi/pulumi/automation") as typeof automation;
  const stack = await LocalWorkspace.createOrSelectStack({ stackName, workDir });
  return {
    setConfig: (key, value) => stack.setConfig(key, { value }, true),
    getConfig: async (key) => {
      try {
        return (await stack.getConfig(key, true)).value;
      } catch {
        return undefined;
      }
    },
    up: async (onOutput) => {
      await stack.up({ onOutput: (text: string) => text.split("\n").filter(Boolean).forEach(onOutput) });
    },
    outputs: async () => Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, (v as automation.OutputValue).value])),
  };
}
