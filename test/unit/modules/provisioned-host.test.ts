// Does not prove the real provisioner entry (provisioner/apply-host) works, nor that the Pulumi engine calls the provider this way; the provider is called directly.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { applyHostSchema } from "../../../model/host-plan";
import type { ApplyHostEntry, ApplyHostInput } from "../../../provisioner/apply-host-contract";
import {
  DEFAULT_APPLY_HOST_ENTRY,
  driftOf,
  provisionChanges,
  provisionedHostProvider,
  type ProvisionedHostInputs,
  type ProvisionedHostOutputs,
} from "../../../modules/provisioned-host";

const requireFromString = require("require-from-string") as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

function inputs(overrides: Partial<ProvisionedHostInputs> = {}): ProvisionedHostInputs {
  return {
    connection: {
      name: "prod-blue-0",
      address: "198.51.100.10",
      port: 22,
      user: "admin",
      privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n",
      hostKeyFingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    },
    slot: "blue",
    // The app in the model's input form, as the web stack passes it (secrets in clear: the provider gets them unwrapped).
    app: { name: "shop", image: "shop:1.0", port: 8080, env: { LOG_LEVEL: "info" }, secrets: { DB_PASSWORD: "pw-1234" }, health: { path: "/healthz" } },
    engine: { channel: "bundle" },
    healthDeadlineSeconds: 300,
    planHash: "p1",
    ...overrides,
  };
}

/** A scripted entry that records its calls. */
function fakeEntry(inspect: () => Promise<{ engineVersion: string | null; daemonJsonSha256: string | null }> = async () => ({ engineVersion: "20.10.24", daemonJsonSha256: "d1" })) {
  const calls: Array<[string, ApplyHostInput]> = [];
  const entry: ApplyHostEntry = {
    planHostHash: () => "unused",
    applyHost: async (input) => {
      calls.push(["apply", input]);
      return { planHash: `host-${input.planHash}`, engineVersion: "20.10.24", daemonJsonSha256: "d1" };
    },
    inspectHost: async (input) => {
      calls.push(["inspect", input]);
      return inspect();
    },
  };
  return { entry, calls };
}

const applied = (i: ProvisionedHostInputs): ProvisionedHostOutputs => ({
  ...i,
  appliedPlanHash: `host-${i.planHash}`,
  engineVersion: "20.10.24",
  daemonJsonSha256: "d1",
  drift: [],
});

/** What the entry gets for {@link inputs}. */
const applyInput = (extra: Partial<ApplyHostInput> = {}): ApplyHostInput => ({
  connection: inputs().connection,
  slot: "blue",
  app: inputs().app,
  engine: { channel: "bundle" },
  healthDeadlineSeconds: 300,
  planHash: "p1",
  ...extra,
});

describe("the ProvisionedHost provider, with an injected entry", () => {
  it("takes inputs the provisioner's contract parses", () => {
    expect(applyHostSchema.safeParse(inputs()).success).toBe(true);
    const registry = { server: "registry.example.com", username: "deploy", password: "hunter2-long" };
    expect(applyHostSchema.safeParse(inputs({ registry, imageArchive: "/var/cache/longshore/images/shop-1.0.tar" })).success).toBe(true);
  });

  it("create applies the plan once, with exactly the inputs, and records what the host reported", async () => {
    const { entry, calls } = fakeEntry();
    const p = provisionedHostProvider({ entry });
    const r = await p.create(inputs());
    expect(calls).toEqual([["apply", applyInput()]]);
    expect(r).toEqual({ id: "prod-blue-0", outs: applied(inputs()) });
  });

  it("passes registry credentials on when set, and leaves out every optional key that is not", async () => {
    const registry = { server: "registry.example.com", username: "deploy", password: "hunter2-long" };
    const withRegistry = fakeEntry();
    await provisionedHostProvider({ entry: withRegistry.entry }).create(inputs({ registry }));
    expect(withRegistry.calls).toEqual([["apply", applyInput({ registry })]]);
    const bare = fakeEntry();
    const { engine: _engine, healthDeadlineSeconds: _deadline, ...minimal } = inputs();
    await provisionedHostProvider({ entry: bare.entry }).create(minimal);
    // The entry's schema fills in the defaults (engine channel bundle, a 120 s deadline).
    expect(Object.keys(bare.calls[0]![1]).sort()).toEqual(["app", "connection", "planHash", "slot"]);
  });

  it("passes an image archive on to the entry when one is set", async () => {
    const { entry, calls } = fakeEntry();
    const withArchive = inputs({ imageArchive: "/var/cache/longshore/images/shop-1.0.tar" });
    const r = await provisionedHostProvider({ entry }).create(withArchive);
    expect(calls).toEqual([["apply", applyInput({ imageArchive: "/var/cache/longshore/images/shop-1.0.tar" })]]);
    expect(r.outs).toEqual(applied(withArchive));
    // Without one, the entry gets no imageArchive key at all (the host pulls app.image).
    const plain = fakeEntry();
    await provisionedHostProvider({ entry: plain.entry }).create(inputs());
    expect(Object.keys(plain.calls[0]![1]).sort()).toEqual(["app", "connection", "engine", "healthDeadlineSeconds", "planHash", "slot"]);
  });

  it("passes engineOnly and a bundle pin on to the entry when set (a host image's builder)", async () => {
    const { entry, calls } = fakeEntry();
    const bundlePin = { arch: "amd64" as const, recipe: "debian-bookworm-amd64", id: "a".repeat(64), packages: { "docker.io": "20.10.24+dfsg1-1+deb12u1+b6" } };
    const builder = inputs({ engineOnly: true, bundlePin });
    const r = await provisionedHostProvider({ entry }).create(builder);
    expect(calls).toEqual([["apply", applyInput({ engineOnly: true, bundlePin })]]);
    expect(applyHostSchema.safeParse(calls[0]![1]).success).toBe(true);
    expect(r.outs).toEqual(applied(builder));
  });

  it("create fails with the entry's error, unchanged", async () => {
    const boom = new Error("prod-blue-0: engine.install (apply): `apt-get install` exited 100");
    const p = provisionedHostProvider({ entry: { ...fakeEntry().entry, applyHost: async () => Promise.reject(boom) } });
    await expect(p.create(inputs())).rejects.toBe(boom);
  });

  it("update re-applies with the new inputs", async () => {
    const { entry, calls } = fakeEntry();
    const p = provisionedHostProvider({ entry });
    const r = await p.update!("prod-blue-0", applied(inputs()), inputs({ planHash: "p2" }));
    expect(calls.map(([verb, i]) => [verb, i.planHash])).toEqual([["apply", "p2"]]);
    expect(r).toEqual({ outs: applied(inputs({ planHash: "p2" })) });
  });

  it.each<[string, ProvisionedHostInputs, boolean]>([
    ["the same plan on the same host", inputs(), false],
    ["a new plan hash", inputs({ planHash: "p2" }), true],
    ["a new address (a replaced instance)", inputs({ connection: { ...inputs().connection, address: "198.51.100.11" } }), true],
    ["a new host key", inputs({ connection: { ...inputs().connection, hostKeyFingerprint: "SHA256:B" } }), true],
    ["a new login key", inputs({ connection: { ...inputs().connection, privateKey: "other" } }), true],
  ])("diff: %s -> changes %s, never a replacement", async (_what, news, changes) => {
    const p = provisionedHostProvider({ entry: fakeEntry().entry });
    expect(await p.diff!("prod-blue-0", applied(inputs()), news)).toEqual({ changes, replaces: [], deleteBeforeReplace: false });
  });

  it("diff re-applies after a refresh found drift", async () => {
    const p = provisionedHostProvider({ entry: fakeEntry().entry });
    expect((await p.diff!("prod-blue-0", { ...applied(inputs()), drift: ["daemon.json: ..."] }, inputs())).changes).toBe(true);
    expect(provisionChanges({ ...applied(inputs()), drift: ["x"] }, inputs({ planHash: "p2" }))).toEqual(["planHash", "drift"]);
  });

  it("diff re-applies when the bastion in front of the host changes (added, another address or key), not for the same one", async () => {
    const bastion = { name: "prod-bastion", address: "203.0.113.5", port: 22, user: "admin", privateKey: inputs().connection.privateKey, hostKeyFingerprint: "SHA256:" + "J".repeat(43) };
    const via = (jump?: typeof bastion) => inputs({ connection: { ...inputs().connection, ...(jump ? { jump } : {}) } });
    expect(provisionChanges(applied(via(bastion)), via(bastion))).toEqual([]);
    expect(provisionChanges(applied(inputs()), via(bastion))).toEqual(["connection.jump"]);
    expect(provisionChanges(applied(via(bastion)), via({ ...bastion, address: "203.0.113.6" }))).toEqual(["connection.jump"]);
    expect(provisionChanges(applied(via(bastion)), via({ ...bastion, hostKeyFingerprint: "SHA256:" + "K".repeat(43) }))).toEqual(["connection.jump"]);
  });

  it("read reports no drift when the host matches, and exact drift when it does not", async () => {
    const same = provisionedHostProvider({ entry: fakeEntry().entry });
    expect(await same.read!("prod-blue-0", applied(inputs()))).toEqual({ id: "prod-blue-0", props: applied(inputs()) });
    const edited = provisionedHostProvider({ entry: fakeEntry(async () => ({ engineVersion: "24.0.5", daemonJsonSha256: null })).entry });
    const r = await edited.read!("prod-blue-0", applied(inputs()));
    expect(r.props!.drift).toEqual(["engine version: applied 20.10.24, found 24.0.5", "daemon.json: applied sha256 d1, found no file"]);
  });

  it("read turns an unreachable host into drift instead of failing the refresh", async () => {
    const p = provisionedHostProvider({ entry: fakeEntry(async () => Promise.reject(new Error("198.51.100.10: connection refused"))).entry });
    const r = await p.read!("prod-blue-0", applied(inputs()));
    expect(r.props!.drift).toEqual(["unreachable: 198.51.100.10: connection refused"]);
  });

  it("delete touches nothing", async () => {
    const { entry, calls } = fakeEntry();
    await provisionedHostProvider({ entry }).delete!("prod-blue-0", applied(inputs()));
    expect(calls).toEqual([]);
  });

  it("driftOf is empty for equal values", () => {
    expect(driftOf({ engineVersion: "1", daemonJsonSha256: "a" }, { engineVersion: "1", daemonJsonSha256: "a" })).toEqual([]);
  });
});

/** Serialises a provider the way `pulumi.dynamic.Resource` does, failing (not hanging) after 20 s. */
async function serialise(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("serializeFunction did not finish within 20 s")), 20_000);
  });
  try {
    const sf = await Promise.race([pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }), timeout]);
    return sf.text;
  } finally {
    clearTimeout(timer);
  }
}

describe("the serialised ProvisionedHost provider", () => {
  const fixture = path.join(__dirname, "fixtures", "fake-apply-host.js");

  it("is a small closure that requires the entry module by path at call time", async () => {
    const text = await serialise(provisionedHostProvider({ entryPath: fixture }));
    expect(text).toContain("require(entryPath)");
    expect(text).toContain(JSON.stringify(fixture));
    expect(text).not.toMatch(/zod|ssh2/);
    expect(text.length).toBeLessThan(12_000);
  });

  it("works once deserialised the way Pulumi's dynamic provider host loads it", async () => {
    const handler = requireFromString(await serialise(provisionedHostProvider({ entryPath: fixture }))).handler();
    const created = await handler.create(inputs());
    expect(created).toEqual({
      id: "prod-blue-0",
      outs: { ...inputs(), appliedPlanHash: "applied:p1", engineVersion: "20.10.24+dfsg1", daemonJsonSha256: "sha-for-prod-blue-0", drift: [] },
    });
    const drifted = inputs({ connection: { ...inputs().connection, name: "prod-blue-drifted" } });
    const read = await handler.read!("prod-blue-drifted", { ...created.outs, ...drifted, daemonJsonSha256: "sha-for-prod-blue-drifted" });
    expect(read.props!.drift).toEqual(["daemon.json: applied sha256 sha-for-prod-blue-drifted, found edited-by-hand"]);
  });

  it("says what to do when the entry module is not built", async () => {
    const missing = path.join(__dirname, "fixtures", "no-such-entry");
    const handler = requireFromString(await serialise(provisionedHostProvider({ entryPath: missing }))).handler();
    await expect(handler.create(inputs())).rejects.toThrow(
      `longshore's provisioner entry module was not found at ${missing}: install longshore in the Pulumi program's directory (npm install longshore), or build it (npm run build) and run pulumi from that checkout`,
    );
  });

  it("by default requires the entry by the package's export: the serialised text names no directory of this computer", async () => {
    expect(DEFAULT_APPLY_HOST_ENTRY).toBe("longshore/provisioner/apply-host");
    const text = await serialise(provisionedHostProvider());
    expect(text).toContain("require(entryPath)");
    expect(text).toContain(JSON.stringify("longshore/provisioner/apply-host"));
    const root = path.resolve(__dirname, "..", "..", "..");
    for (const p of [root, path.resolve(root, "modules"), path.resolve(root, "provisioner"), __dirname, "/work/", os.homedir() + "/", os.tmpdir() + "/"]) {
      expect(text).not.toContain(p);
    }
    expect(text).not.toMatch(/__dirname|__filename/);
  });

  it("finds the built entry of the longshore checkout above the working directory when the package is not installed there", async () => {
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-checkout-"));
    const cwd = process.cwd();
    try {
      fs.writeFileSync(path.join(checkout, "package.json"), JSON.stringify({ name: "longshore" }));
      fs.mkdirSync(path.join(checkout, "dist", "provisioner"), { recursive: true });
      fs.mkdirSync(path.join(checkout, "stacks", "web"), { recursive: true });
      fs.copyFileSync(path.join(__dirname, "fixtures", "fake-apply-host.js"), path.join(checkout, "dist", "provisioner", "apply-host.js"));
      // Where `pulumi up` runs this repository's program; Pulumi's provider host resolves from there.
      process.chdir(path.join(checkout, "stacks", "web"));
      const handler = requireFromString(await serialise(provisionedHostProvider())).handler();
      expect(await handler.create(inputs())).toMatchObject({ id: "prod-blue-0", outs: { appliedPlanHash: "applied:p1" } });
      // A directory with no longshore above it: the message says what to do.
      process.chdir(os.tmpdir());
      const elsewhere = requireFromString(await serialise(provisionedHostProvider())).handler();
      await expect(elsewhere.create(inputs())).rejects.toThrow(
        "longshore's provisioner entry module was not found at longshore/provisioner/apply-host: install longshore in the Pulumi program's directory (npm install longshore), or build it (npm run build) and run pulumi from that checkout",
      );
    } finally {
      process.chdir(cwd);
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });
});
