/**
 * The provisioner's entry points:
 *
 * - {@link planHostHash}, {@link applyHost}, {@link inspectHost}: ONE host from plain JSON inputs,
 *   for the Pulumi ProvisionedHost dynamic provider. Exactly `ApplyHostEntry` of
 *   apply-host-contract.ts; the work is done in single-host.ts.
 * - {@link provisionHosts}: many hosts, for the CLI (`longshore provision` / `longshore plan`) and
 *   the local driver. See provision-hosts.ts.
 *
 * The dynamic provider `require()`s this file by path at call time (Pulumi serialises the
 * provider, not this module), and the web stack requires it to compute plan hashes while it
 * declares resources. So its top-level imports are types only: zod, the runner and ssh2 load on
 * the first call. The contract's functions load single-host with `require`, because
 * `planHostHash` must stay synchronous; they are therefore meant for Node's own loader (the built
 * `dist/`), and tests under vitest call single-host.ts, or build this file (test/helpers/
 * compiled-tree.ts). `provisionHosts` keeps `import()`, which also resolves under vitest, where
 * the CLI's and local driver's tests run it from source.
 */
import type { ApplyHostEntry, ApplyHostInput, ApplyHostResult, HostPlanInput, HttpGetThroughInput, HttpGetThroughResult, InspectHostResult } from "./apply-host-contract";
import type { ProvisionHostsInput, ProvisionResult } from "./provision-hosts";
import type * as SingleHost from "./single-host";

export type { ConnectFn, FileChange, HostOutcome, ProvisionEvent, ProvisionHostsInput, ProvisionResult } from "./provision-hosts";

/** Provisions (or, in check mode, inspects) many hosts. See provision-hosts.ts. */
export async function provisionHosts(input: ProvisionHostsInput): Promise<ProvisionResult> {
  const m = await import("./provision-hosts.js");
  return m.provisionHosts(input);
}

function singleHost(): typeof SingleHost {
  return require("./single-host") as typeof SingleHost;
}

/** The hash Pulumi diffs on; throws a ConfigError for a plan the provisioner would refuse. Pure, synchronous. */
export function planHostHash(input: HostPlanInput): string {
  return singleHost().planHostHash(input);
}

/** Makes the host match its plan over one pinned SSH connection, every step including app.health. */
export async function applyHost(input: ApplyHostInput): Promise<ApplyHostResult> {
  return singleHost().applyHost(input);
}

/** Reads the engine's version and daemon.json's sha256 on the host; changes nothing. */
export async function inspectHost(input: ApplyHostInput): Promise<InspectHostResult> {
  return singleHost().inspectHost(input);
}

/** One HTTP GET made from a bastion, for the health gates with `aws.bastion`. */
export async function httpGetThrough(input: HttpGetThroughInput): Promise<HttpGetThroughResult> {
  return singleHost().httpGetThrough(input);
}

/** Checked by the compiler: this module is exactly the contract's entry (plus provisionHosts). */
const _isEntry: Required<ApplyHostEntry> = { planHostHash, applyHost, inspectHost, httpGetThrough };
void _isEntry;
