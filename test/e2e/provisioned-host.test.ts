// Does not prove: AWS (an instance booting with cloud-init's host key, the deploy user's sudo, a bastion that is the only route to a private host: here the controller also reaches the machine directly, so the tunnel is shown by the bastion's log), nor that the Pulumi engine calls create/diff/read/update in this order (they are called directly, on the provider as Pulumi deserialises it).
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as Errors from "../../core/errors";
import { buildDemoImage } from "../../drivers/local/demo-app";
import { downMachineGroup, upMachineGroup } from "../../drivers/local/machine-group";
import type { EnvState, MachineRecord } from "../../drivers/local/state";
import type * as ProvisionedHostModule from "../../modules/provisioned-host";
import type { ProvisionedHostInputs, ProvisionedHostOutputs } from "../../modules/provisioned-host";
import type { ApplyHostEntry, HostPlanInput } from "../../provisioner/apply-host-contract";
import { compileTree, type CompiledTree } from "../helpers/compiled-tree";
import { startSshd } from "../helpers/sshd";
import { httpGet, ssh, testPaths } from "./local-support";

const requireFromString = require("require-from-string") as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

const paths = testPaths("ls-e2e-provhost");
const ENV = "e2e-provhost";
const SECRET = "e2e-demo-token-5c1f";
const savedCacheDir = process.env["LONGSHORE_CACHE_DIR"];

let tree: CompiledTree | undefined;
let state: EnvState;
let machine: MachineRecord;
let privateKey: string;
let archive: string;
let entry: ApplyHostEntry;
let errors: typeof Errors;
let provider: pulumi.dynamic.ResourceProvider;

/** Serialises a provider the way `pulumi.dynamic.Resource` does, failing (not hanging) after 30 s. */
async function serialise(p: pulumi.dynamic.ResourceProvider): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("serializeFunction did not finish within 30 s")), 30_000);
  });
  try {
    return (await Promise.race([pulumi.runtime.serializeFunction(() => p, { allowSecrets: true }), timeout])).text;
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  // What Pulumi loads: the built entry module, required by path by the provider.
  tree = compileTree(["provisioner/apply-host.ts", "modules/provisioned-host.ts"], "ls-e2e-provhost-build");
  entry = tree.load<ApplyHostEntry>("provisioner/apply-host");
  errors = tree.load<typeof Errors>("core/errors");
  // The provider exactly as the stack declares it (no options: the default entry, required by the
  // package's name at call time), serialised and loaded back the way Pulumi's dynamic provider host does.
  const built = tree.load<typeof ProvisionedHostModule>("modules/provisioned-host");
  provider = requireFromString(await serialise(built.provisionedHostProvider())).handler();
  // The engine bundle is built once per computer into the local driver's cache; the provider finds it there.
  process.env["LONGSHORE_CACHE_DIR"] = paths.cacheDir;
  archive = buildDemoImage("v1", { cacheDir: paths.cacheDir }).file;
  state = (await upMachineGroup({ env: ENV, machines: 1, paths, progress: (l) => process.stderr.write(`  ${l}\n`) })).state;
  machine = state.machines[0]!;
  privateKey = fs.readFileSync(state.clientKey!.privatePath, "utf8");
});

afterAll(async () => {
  await downMachineGroup({ env: ENV, paths }).catch((e: unknown) => console.error(e));
  fs.rmSync(paths.stateRoot, { recursive: true, force: true });
  tree?.remove();
  if (savedCacheDir === undefined) delete process.env["LONGSHORE_CACHE_DIR"];
  else process.env["LONGSHORE_CACHE_DIR"] = savedCacheDir;
});

const app: HostPlanInput["app"] = {
  name: "demo",
  image: "longshore-demo:v1",
  port: 8080,
  hostPort: 8080,
  env: { GREETING: "hello" },
  secrets: { DEMO_TOKEN: SECRET },
  health: { path: "/healthz", intervalSeconds: 0.5 },
};

/** The resource's inputs as the stack would give them, its plan hash from the built entry. */
function inputs(engine: NonNullable<HostPlanInput["engine"]>, hostKeyFingerprint = machine.hostKey!.fingerprint): ProvisionedHostInputs {
  const plan: HostPlanInput = { slot: "blue", app, engine, healthDeadlineSeconds: 60, imageArchive: archive };
  return {
    connection: { name: machine.name, address: machine.address, port: 22, user: "root", privateKey, hostKeyFingerprint },
    ...plan,
    planHash: entry.planHostHash(plan),
  };
}

/** Runs a command on the machine with OpenSSH (pinned known_hosts) and returns its trimmed stdout. */
async function onHost(command: string): Promise<string> {
  const r = await ssh(state, machine, command);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

const daemonJsonSha = () => onHost("sha256sum /etc/docker/daemon.json | cut -d' ' -f1");
const engineVersion = () => onHost("docker version --format '{{.Server.Version}}'");
const CHANGED_ENGINE = { daemon: { "log-opts": { "max-file": "5" } } };

describe("the ProvisionedHost provider on a real local machine", () => {
  let created: { id: string; outs: ProvisionedHostOutputs };
  let updated: ProvisionedHostOutputs;

  it("refuses a host whose key is not the pinned one, naming both fingerprints, and touches nothing", async () => {
    // A real key, just not this host's: the environment's client key.
    const wrong = state.clientKey!.fingerprint;
    expect(wrong).not.toBe(machine.hostKey!.fingerprint);
    const err = await provider.create(inputs({}, wrong)).catch((e: unknown) => e);
    // The provider loads its entry by package name ("longshore/provisioner/apply-host", from this
    // checkout's dist/), not this test's compiled tree, so the class is that module's: compare what
    // identifies the error, not the class object.
    expect([(err as Error).name, (err as { code?: string }).code]).toEqual([errors.HostKeyError.name, "HOST_KEY_MISMATCH"]);
    expect((err as Error).message).toBe(`${machine.name}: host key verification failed: expected ${wrong}, presented ${machine.hostKey!.fingerprint}`);
    expect(`${(err as Error).message} ${JSON.stringify(err)}`).not.toMatch(new RegExp(`${SECRET}|PRIVATE KEY`));
    expect(await onHost("command -v docker dockerd; ls -d /etc/docker /etc/longshore /var/lib/longshore /var/log/longshore 2>/dev/null; true")).toBe("");
  });

  it("create provisions the machine and stores what the host reports, read back independently over SSH", async () => {
    const first = inputs({});
    created = (await provider.create(first)) as typeof created;
    const version = await engineVersion();
    expect(version).toBe("20.10.24+dfsg1");
    expect(created).toEqual({
      id: machine.name,
      outs: { ...first, appliedPlanHash: expect.stringMatching(/^[0-9a-f]{64}$/), engineVersion: version, daemonJsonSha256: await daemonJsonSha(), drift: [] },
    });
    const page = await httpGet(`http://${machine.address}:8080/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("<h1>longshore demo v1</h1>");
    // The secret is on the host only in a file no other user can read.
    expect(await onHost(`grep -rlF -- ${SECRET} /etc/longshore/apps | xargs stat -c '%a %U'`)).toBe("600 root");
  });

  it("diff: identical inputs change nothing; a changed engine option re-applies, never replaces", async () => {
    expect(await provider.diff!(machine.name, created.outs, inputs({}))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    const changed = inputs(CHANGED_ENGINE);
    expect(changed.planHash).not.toBe(created.outs.planHash);
    expect(await provider.diff!(machine.name, created.outs, changed)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("update applies the changed option; read then finds no drift", async () => {
    const changed = inputs(CHANGED_ENGINE);
    updated = (await provider.update!(machine.name, created.outs, changed)).outs as ProvisionedHostOutputs;
    const sha = await daemonJsonSha();
    expect(updated).toEqual({ ...changed, appliedPlanHash: expect.stringMatching(/^[0-9a-f]{64}$/), engineVersion: await engineVersion(), daemonJsonSha256: sha, drift: [] });
    expect(sha).not.toBe(created.outs.daemonJsonSha256);
    expect(updated.appliedPlanHash).not.toBe(created.outs.appliedPlanHash);
    expect((JSON.parse(await onHost("cat /etc/docker/daemon.json")) as { "log-opts": Record<string, string> })["log-opts"]["max-file"]).toBe("5");
    expect((await httpGet(`http://${machine.address}:8080/`)).body).toContain("<h1>longshore demo v1</h1>");
    expect(await provider.read!(machine.name, updated)).toEqual({ id: machine.name, props: updated });
  });

  it("read reports daemon.json edited by hand; the next diff re-applies and update restores it", async () => {
    await onHost(`sed -i 's/"max-file": "5"/"max-file": "9"/' /etc/docker/daemon.json`);
    const edited = await daemonJsonSha();
    expect(edited).not.toBe(updated.daemonJsonSha256);
    const refreshed = (await provider.read!(machine.name, updated)).props as ProvisionedHostOutputs;
    expect(refreshed).toEqual({ ...updated, drift: [`daemon.json: applied sha256 ${updated.daemonJsonSha256}, found ${edited}`] });
    const changed = inputs(CHANGED_ENGINE);
    expect(await provider.diff!(machine.name, refreshed, changed)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    const restored = (await provider.update!(machine.name, refreshed, changed)).outs as ProvisionedHostOutputs;
    expect(restored).toEqual(updated);
    expect(await daemonJsonSha()).toBe(updated.daemonJsonSha256);
  });

  it("through a bastion (aws.bastion's connection.jump): diff names it, a wrong bastion key is refused, and the whole update goes through the bastion's tunnel", async () => {
    // A real sshd on 127.0.0.1 as the bastion; it admits the same deploy key as the host, as on AWS,
    // and forwards to this machine's SSH port only (DEBUG1 logs each direct-tcpip it opens).
    const bastion = await startSshd({ extraConfig: ["AllowTcpForwarding yes", `PermitOpen ${machine.address}:22`], logLevel: "DEBUG1" });
    try {
      fs.appendFileSync(path.join(bastion.dir, "authorized_keys"), fs.readFileSync(state.clientKey!.publicPath));
      const via = { name: "bastion", address: bastion.address, port: bastion.port, user: "root", privateKey, hostKeyFingerprint: bastion.hostKeyFingerprint };
      const next = inputs({ daemon: { "log-opts": { "max-file": "7" } } });
      const jumped: ProvisionedHostInputs = { ...next, connection: { ...next.connection, jump: via } };
      const tunnel = `server_request_direct_tcpip: originator 127.0.0.1 port 0, target ${machine.address} port 22`;
      const count = () => bastion.log().split(tunnel).length - 1;

      const diff = await provider.diff!(machine.name, updated, jumped);
      expect(diff).toMatchObject({ changes: true, replaces: [] });

      const wrong = { ...jumped, connection: { ...jumped.connection, jump: { ...via, hostKeyFingerprint: machine.hostKey!.fingerprint } } };
      const err = await provider.update!(machine.name, updated, wrong).catch((e: unknown) => e);
      expect([(err as Error).name, (err as { code?: string }).code]).toEqual([errors.HostKeyError.name, "HOST_KEY_MISMATCH"]);
      expect(count()).toBe(0);
      expect(await daemonJsonSha()).toBe(updated.daemonJsonSha256);

      const outs = (await provider.update!(machine.name, updated, jumped)).outs as ProvisionedHostOutputs;
      expect(count()).toBe(1); // one SSH connection for the whole update, as for a host reached directly
      expect((JSON.parse(await onHost("cat /etc/docker/daemon.json")) as { "log-opts": Record<string, string> })["log-opts"]["max-file"]).toBe("7");
      expect(outs).toEqual({ ...jumped, appliedPlanHash: expect.stringMatching(/^[0-9a-f]{64}$/), engineVersion: await engineVersion(), daemonJsonSha256: await daemonJsonSha(), drift: [] });
      expect((await httpGet(`http://${machine.address}:8080/`)).body).toContain("<h1>longshore demo v1</h1>");
      // read (pulumi refresh) goes through it too, and finds nothing changed.
      const before = count();
      expect(await provider.read!(machine.name, outs)).toEqual({ id: machine.name, props: outs });
      expect(count()).toBe(before + 1);
      expect(bastion.log()).not.toContain(SECRET);
    } finally {
      await bastion.stop();
    }
  });
});
