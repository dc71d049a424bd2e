/**
 * One host made to match its provisioning plan, as a Pulumi resource: a dynamic resource whose
 * provider runs the provisioner over SSH (engine, config, app) and whose diff is the plan hash the
 * program computed from the desired state. Same hash, same host: nothing runs.
 *
 * The provider is serialised by Pulumi into the stack's state, so it stays a few lines long: it
 * `require()`s the provisioner's one entry module (`longshore/provisioner/apply-host`, see
 * provisioner/apply-host-contract.ts) inside each method, at call time, by the package's name and
 * export, so the state names no directory of the computer that ran `pulumi up`. It never captures
 * the provisioner, zod schemas or an ssh2 client.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ApplyHostEntry, ApplyHostInput, HostPlanInput, InspectHostResult } from "../provisioner/apply-host-contract";
import { DEFAULT_APPLY_HOST_ENTRY, loadApplyHostEntry } from "./apply-host-entry";

export { DEFAULT_APPLY_HOST_ENTRY };

/** The connection details the resource takes (the private key comes separately, as a secret). */
export interface HostConnectionArgs {
  name: string;
  address: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** `SHA256:...`: the host key the connection must see. */
  hostKeyFingerprint: string;
  /**
   * A bastion the host is reached through (its own pinned host key; it is logged into with the
   * same private key). @default none: the host is dialled directly
   */
  jump?: Omit<HostConnectionArgs, "jump">;
}

/** The dynamic resource's inputs, as stored in state: the host plan, how to reach the host, the plan hash. */
export interface ProvisionedHostInputs extends HostPlanInput {
  connection: ApplyHostInput["connection"];
  planHash: string;
  /**
   * A keyed digest of the secret values (see {@link ProvisionedHostArgs.secretsDigest}): the plan
   * hash holds secrets as placeholders, so this is what makes a rotated secret re-provision.
   */
  secretsDigest?: string;
}

/** The dynamic resource's outputs: its inputs plus what the host reported. */
export interface ProvisionedHostOutputs extends ProvisionedHostInputs {
  /** The plan hash the provisioner computed on the host (facts included). */
  appliedPlanHash: string;
  engineVersion: string;
  daemonJsonSha256: string;
  /** What `pulumi refresh` found different from what was applied; non-empty => the next `up` re-applies. */
  drift: string[];
}

/** Options of {@link provisionedHostProvider}. */
export interface ProvisionedHostProviderOptions {
  /**
   * The entry module as `require` takes it: a package specifier, or an absolute path (stored in the
   * state as it is, so only for tests). Default {@link DEFAULT_APPLY_HOST_ENTRY}.
   */
  entryPath?: string;
  /** Use this implementation instead of requiring the entry module (tests; not serialisable in general). */
  entry?: ApplyHostEntry;
}

function toApplyInput(p: ProvisionedHostInputs): ApplyHostInput {
  return {
    connection: p.connection,
    slot: p.slot,
    app: p.app,
    ...(p.registry !== undefined ? { registry: p.registry } : {}),
    ...(p.engine !== undefined ? { engine: p.engine } : {}),
    ...(p.healthDeadlineSeconds !== undefined ? { healthDeadlineSeconds: p.healthDeadlineSeconds } : {}),
    planHash: p.planHash,
    ...(p.imageArchive !== undefined ? { imageArchive: p.imageArchive } : {}),
    ...(p.engineOnly !== undefined ? { engineOnly: p.engineOnly } : {}),
    ...(p.bundlePin !== undefined ? { bundlePin: p.bundlePin } : {}),
  };
}

/** What drifted between what was applied and what the host reports now. Pure. */
export function driftOf(applied: Pick<ProvisionedHostOutputs, "engineVersion" | "daemonJsonSha256">, now: InspectHostResult): string[] {
  const drift: string[] = [];
  if (now.engineVersion !== applied.engineVersion) drift.push(`engine version: applied ${applied.engineVersion}, found ${now.engineVersion ?? "none"}`);
  if (now.daemonJsonSha256 !== applied.daemonJsonSha256) {
    drift.push(`daemon.json: applied sha256 ${applied.daemonJsonSha256}, found ${now.daemonJsonSha256 ?? "no file"}`);
  }
  return drift;
}

/**
 * Why a host must be provisioned again, or nothing. Pure. A changed plan hash, a different host
 * (a replaced instance has a new address and host key) or drift found by a refresh all re-apply;
 * nothing is ever replaced (the instance is what gets replaced, and it brings a new address).
 */
export function provisionChanges(olds: ProvisionedHostOutputs, news: ProvisionedHostInputs): string[] {
  const changed: string[] = [];
  if (olds.planHash !== news.planHash) changed.push("planHash");
  if ((olds.secretsDigest ?? null) !== (news.secretsDigest ?? null)) changed.push("secretsDigest");
  const a = olds.connection;
  const b = news.connection;
  if (a.address !== b.address || a.port !== b.port || a.user !== b.user) changed.push("connection");
  if (a.hostKeyFingerprint !== b.hostKeyFingerprint) changed.push("connection.hostKeyFingerprint");
  // Another bastion (or none) is another way in: provision again through it, so it is proven.
  const via = (j: ProvisionedHostInputs["connection"]["jump"]) => (j ? [j.address, j.port, j.user, j.hostKeyFingerprint].join(" ") : null);
  if (via(a.jump) !== via(b.jump)) changed.push("connection.jump");
  if (a.privateKey !== b.privateKey) changed.push("connection.privateKey");
  if ((olds.drift ?? []).length > 0) changed.push("drift");
  return changed;
}

/**
 * The provider. With no options it loads the real entry module at call time; tests pass `entry`.
 */
export function provisionedHostProvider(options: ProvisionedHostProviderOptions = {}): pulumi.dynamic.ResourceProvider {
  const entryPath = options.entryPath ?? DEFAULT_APPLY_HOST_ENTRY;
  const injected = options.entry;
  const load = (): ApplyHostEntry => injected ?? loadApplyHostEntry(entryPath);
  const apply = async (inputs: ProvisionedHostInputs): Promise<ProvisionedHostOutputs> => {
    const r = await load().applyHost(toApplyInput(inputs));
    return { ...inputs, appliedPlanHash: r.planHash, engineVersion: r.engineVersion, daemonJsonSha256: r.daemonJsonSha256, drift: [] };
  };
  return {
    async create(inputs: ProvisionedHostInputs) {
      return { id: inputs.connection.name, outs: await apply(inputs) };
    },
    async diff(_id: string, olds: ProvisionedHostOutputs, news: ProvisionedHostInputs) {
      const changed = provisionChanges(olds, news);
      return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: ProvisionedHostOutputs, news: ProvisionedHostInputs) {
      return { outs: await apply(news) };
    },
    async read(id: string, props: ProvisionedHostOutputs) {
      let drift: string[];
      try {
        drift = driftOf(props, await load().inspectHost(toApplyInput(props)));
      } catch (e) {
        // An unreachable host is drift too: the next `up` tries to apply and fails loudly if it must.
        drift = [`unreachable: ${e instanceof Error ? e.message : String(e)}`];
      }
      return { id, props: { ...props, drift } };
    },
    async delete() {
      // The host goes away with its instance; dropping only the provisioning leaves the host as it is.
    },
  };
}

/** One provider object for every host: Pulumi serialises a provider once per object. */
const DEFAULT_PROVIDER = provisionedHostProvider();

/** Output properties of {@link ProvisionedHostResource}. */
class ProvisionedHostResource extends pulumi.dynamic.Resource {
  declare readonly appliedPlanHash: pulumi.Output<string>;
  declare readonly engineVersion: pulumi.Output<string>;
  declare readonly daemonJsonSha256: pulumi.Output<string>;
  declare readonly drift: pulumi.Output<string[]>;

  constructor(name: string, props: pulumi.Inputs, provider: pulumi.dynamic.ResourceProvider, opts: pulumi.CustomResourceOptions) {
    super(provider, name, props, opts, "longshore", "ProvisionedHost");
  }
}

/** Arguments of {@link ProvisionedHost}. */
export interface ProvisionedHostArgs {
  connection: pulumi.Input<HostConnectionArgs>;
  /** The private key the provisioner logs in with. Stored as a secret. */
  privateKey: pulumi.Input<string>;
  slot: HostPlanInput["slot"];
  /** The app, its image the slot's (secrets in clear: the whole app is stored as a secret). */
  app: pulumi.Input<HostPlanInput["app"]>;
  /** Credentials for pulling the app's image (stored as a secret). @default none */
  registry?: pulumi.Input<NonNullable<HostPlanInput["registry"]>>;
  /** Engine options (the environment file's `engine:`). @default the model's defaults */
  engine?: pulumi.Input<NonNullable<HostPlanInput["engine"]>>;
  /** How long the app may take to become healthy on the host. @default 120 */
  healthDeadlineSeconds?: number;
  /** From the entry module's `planHostHash`: what would run. A new hash re-provisions. */
  planHash: pulumi.Input<string>;
  /**
   * A digest of the secret values, keyed with something only the stack knows (the web program uses
   * HMAC-SHA256 keyed by the deploy private key), so it can be compared without revealing a short
   * secret. A new digest re-provisions: a rotated secret reaches the hosts. @default none (secret
   * changes then need a plan change to reach hosts)
   */
  secretsDigest?: pulumi.Input<string>;
  /**
   * A `docker save` archive on the computer running Pulumi, streamed to the host instead of
   * pulling `app.image` (hosts without a registry). Default: none, the host pulls. Pass the same
   * value to `planHostHash`.
   */
  imageArchive?: pulumi.Input<string>;
  /**
   * Engine steps only (a host image's builder): `app` is a placeholder the provisioner does not
   * use, and no image, container or secret is left on the host. Pass the same to `planHostHash`.
   * @default false
   */
  engineOnly?: boolean;
  /**
   * The engine bundle the host must get, as longshore.lock pins it; any other is refused. Pass the
   * same to `planHostHash`. @default none (the recipe's bundle as built or reused now)
   */
  bundlePin?: NonNullable<HostPlanInput["bundlePin"]>;
  /** Another provider (tests). Default: the real one. */
  provider?: pulumi.dynamic.ResourceProvider;
}

/**
 * A host provisioned by longshore. Child: `${name}` (the dynamic resource). Depends on whatever
 * its inputs come from (the instance, its host key), so it runs once the host exists.
 */
export class ProvisionedHost extends pulumi.ComponentResource {
  readonly resource: pulumi.dynamic.Resource;
  readonly appliedPlanHash: pulumi.Output<string>;
  readonly engineVersion: pulumi.Output<string>;
  readonly drift: pulumi.Output<string[]>;

  constructor(name: string, args: ProvisionedHostArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("longshore:provision:ProvisionedHost", name, {}, opts);
    const connection = pulumi
      .all([args.connection, pulumi.secret(args.privateKey)])
      .apply(([c, privateKey]) => {
        const { jump, ...host } = c;
        return { ...host, port: c.port ?? 22, privateKey, ...(jump ? { jump: { ...jump, port: jump.port ?? 22, privateKey } } : {}) };
      });
    const res = new ProvisionedHostResource(
      name,
      {
        connection: pulumi.secret(connection),
        slot: args.slot,
        app: pulumi.secret(args.app),
        ...(args.registry !== undefined ? { registry: pulumi.secret(args.registry) } : {}),
        ...(args.engine !== undefined ? { engine: args.engine } : {}),
        ...(args.healthDeadlineSeconds !== undefined ? { healthDeadlineSeconds: args.healthDeadlineSeconds } : {}),
        planHash: args.planHash,
        ...(args.secretsDigest !== undefined ? { secretsDigest: args.secretsDigest } : {}),
        ...(args.imageArchive !== undefined ? { imageArchive: args.imageArchive } : {}),
        ...(args.engineOnly !== undefined ? { engineOnly: args.engineOnly } : {}),
        ...(args.bundlePin !== undefined ? { bundlePin: args.bundlePin } : {}),
        appliedPlanHash: undefined,
        engineVersion: undefined,
        daemonJsonSha256: undefined,
        drift: undefined,
      },
      args.provider ?? DEFAULT_PROVIDER,
      {
        parent: this,
        additionalSecretOutputs: ["connection", "app", ...(args.registry !== undefined ? ["registry"] : [])],
        // A component's dependsOn does not hold back its children: pass it on.
        ...(opts.dependsOn !== undefined ? { dependsOn: opts.dependsOn } : {}),
      },
    );
    this.resource = res;
    this.appliedPlanHash = res.appliedPlanHash;
    this.engineVersion = res.engineVersion;
    this.drift = res.drift;
    this.registerOutputs({ appliedPlanHash: res.appliedPlanHash, engineVersion: res.engineVersion, drift: res.drift });
  }
}
