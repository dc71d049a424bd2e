// Does not prove the Pulumi engine stores the private key encrypted (that is the engine's job, asked for with additionalSecretOutputs); the provider is called directly.
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { sshKeyProvider, type SshKeyState } from "../../../modules/host-key";
import { fingerprintOfPublicKey } from "../../../modules/ssh-key";

const requireFromString = require("require-from-string") as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

describe("the SSH key provider", () => {
  it("creates a fresh ed25519 key whose id is its fingerprint", async () => {
    const p = sshKeyProvider();
    const a = await p.create({ comment: "root@prod-blue-0", keepers: { image: "shop:1" } });
    const b = await p.create({ comment: "root@prod-blue-0", keepers: { image: "shop:1" } });
    const outs = a.outs as SshKeyState;
    expect(a.id).toBe(outs.fingerprint);
    expect(fingerprintOfPublicKey(outs.publicKey)).toBe(outs.fingerprint);
    expect(outs.publicKey).toMatch(/^ssh-ed25519 \S+ root@prod-blue-0$/);
    expect(outs.privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----\n")).toBe(true);
    expect([outs.comment, outs.keepers]).toEqual(["root@prod-blue-0", { image: "shop:1" }]);
    expect(b.id).not.toBe(a.id);
  });

  it.each<[string, { comment: string; keepers?: Record<string, string> }, string[]]>([
    ["nothing changed", { comment: "c", keepers: { image: "shop:1" } }, []],
    ["a new comment", { comment: "d", keepers: { image: "shop:1" } }, ["comment"]],
    ["a new image in the keepers", { comment: "c", keepers: { image: "shop:2" } }, ["keepers"]],
    ["a keeper removed", { comment: "c" }, ["keepers"]],
  ])("diff: %s -> replaces %j", async (_what, news, replaces) => {
    const olds = { comment: "c", keepers: { image: "shop:1" }, publicKey: "", privateKey: "", fingerprint: "" };
    expect(await sshKeyProvider().diff!("id", olds, news)).toEqual({ changes: replaces.length > 0, replaces, deleteBeforeReplace: false });
  });

  it("read keeps the stored key (nothing remote to look at)", async () => {
    const props = { comment: "c", keepers: {}, publicKey: "p", privateKey: "k", fingerprint: "f" };
    expect(await sshKeyProvider().read!("f", props)).toEqual({ id: "f", props });
  });

  it("serialises into a closure that generates keys once deserialised", async () => {
    const provider = sshKeyProvider();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("serializeFunction did not finish within 20 s")), 20_000);
    });
    const sf = await Promise.race([pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }), timeout]).finally(() => clearTimeout(timer));
    expect(sf.text).toContain("openssh-key-v1");
    expect(sf.text.length).toBeLessThan(20_000);
    const created = await requireFromString(sf.text).handler().create({ comment: "root@x" });
    const outs = created.outs as SshKeyState;
    expect(fingerprintOfPublicKey(outs.publicKey)).toBe(outs.fingerprint);
  });
});
