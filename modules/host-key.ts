/**
 * SSH key pairs that longshore generates inside the Pulumi program, as dynamic resources so each
 * is made once and then kept in the stack's state (encrypted: the private key is a secret output)
 * and stays the same across updates:
 * - {@link HostKey}: a host's own ed25519 identity. cloud-init installs it as the host's SSH host
 *   key, so the provisioner's first connection is verified against a fingerprint known before the
 *   host booted; nothing is ever trusted on first use.
 * - {@link DeployKey}: the client key the provisioner logs in with (authorized on every host), so
 *   no one has to put a personal private key into the stack config.
 *
 * A key is replaced (a new one generated) only when its `comment` or `keepers` change; a host
 * fleet puts the slot's image into `keepers`, so a new image means new hosts with new keys.
 */
import * as pulumi from "@pulumi/pulumi";
import { generateOpenSshEd25519 } from "./ssh-key";

/** Inputs of an SSH key resource. */
export interface SshKeyArgs {
  /** Stored in the key (`root@web-blue-0`); changing it generates a new key. */
  comment: pulumi.Input<string>;
  /** Arbitrary strings; when any changes, a new key is generated (the old one is deleted after). */
  keepers?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** What the provider stores; `privateKey` is a secret output. */
export interface SshKeyState {
  comment: string;
  keepers: Record<string, string>;
  publicKey: string;
  privateKey: string;
  fingerprint: string;
}

/**
 * The dynamic provider behind both key resources. Pure except for `create`, which draws 32 bytes
 * from the CSPRNG. `read` reports the stored state (there is nothing remote to look at).
 */
export function sshKeyProvider(): pulumi.dynamic.ResourceProvider {
  return {
    async create(inputs: { comment: string; keepers?: Record<string, string> }) {
      const pair = generateOpenSshEd25519(inputs.comment);
      return { id: pair.fingerprint, outs: { comment: inputs.comment, keepers: inputs.keepers ?? {}, ...pair } };
    },
    async diff(_id: string, olds: SshKeyState, news: { comment: string; keepers?: Record<string, string> }) {
      const replaces: string[] = [];
      if (olds.comment !== news.comment) replaces.push("comment");
      const a = olds.keepers ?? {};
      const b = news.keepers ?? {};
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      if ([...keys].some((k) => a[k] !== b[k])) replaces.push("keepers");
      return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    async read(id: string, props: SshKeyState) {
      return { id, props };
    },
    async delete() {
      // Nothing outside the state: forgetting the key is deleting it.
    },
  };
}

/** One provider object for every key: Pulumi serialises a provider once per object. */
const SSH_KEY_PROVIDER = sshKeyProvider();

/** Output properties shared by both key resources. */
abstract class SshKeyResource extends pulumi.dynamic.Resource {
  /** `ssh-ed25519 AAAA... comment`. */
  declare readonly publicKey: pulumi.Output<string>;
  /** OpenSSH private key text. A secret: never exported in clear. */
  declare readonly privateKey: pulumi.Output<string>;
  /** `SHA256:...`, as `ssh-keygen -lf` prints it. */
  declare readonly fingerprint: pulumi.Output<string>;

  protected constructor(type: string, name: string, args: SshKeyArgs, opts: pulumi.CustomResourceOptions) {
    super(
      SSH_KEY_PROVIDER,
      name,
      { comment: args.comment, keepers: args.keepers ?? {}, publicKey: undefined, privateKey: undefined, fingerprint: undefined },
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "privateKey"] },
      "longshore",
      type,
    );
  }
}

/** A host's ed25519 SSH host key, generated once and kept in state. */
export class HostKey extends SshKeyResource {
  constructor(name: string, args: SshKeyArgs, opts: pulumi.CustomResourceOptions = {}) {
    super("HostKey", name, args, opts);
  }
}

/** The ed25519 client key the provisioner logs in with, generated once and kept in state. */
export class DeployKey extends SshKeyResource {
  constructor(name: string, args: SshKeyArgs, opts: pulumi.CustomResourceOptions = {}) {
    super("DeployKey", name, args, opts);
  }
}
