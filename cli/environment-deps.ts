/**
 * The real dependencies of the environment verbs: which driver an environment uses and how its
 * hosts are provisioned. Only main.ts's realDeps() uses this; tests inject fakes instead.
 */
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError } from "../core/errors";
import type { Environment } from "../model/environment";
import type { SlotDriver } from "../rollout/driver";
import { createLocalDriver, destroyLocalEnvironment } from "../drivers/local/local-driver";
import { defaultPaths } from "../drivers/local/paths";
import { localGroupProvisioner } from "../drivers/local/group-provisioner";
import { bundleLockOf, type BundleLock } from "../provisioner/provision-inputs";
import { recordImage, type LoadedLock } from "../model/lock-file";
import type { GroupProvisioner } from "../drivers/local/slot-driver";
import { AwsSlotDriver } from "../drivers/aws/aws-driver";
import { s3LockClient } from "../drivers/aws/s3-lock-client";
import { automationWorkspace } from "../stacks/web/workspace";
import type { CliDeps, DestroyOptions, DriverTarget } from "./deps";
import { destroyAccessories, ensureAccessories, withAccessories, type AccessoryContext } from "../drivers/local/accessories";
import { accessoryDataDirs } from "../drivers/local/accessory-layout";
import type { LocalPaths } from "../drivers/local/paths";
import type { ResolvedSecrets } from "../model/secret-resolve";

/** For verbs that create no host (status, rollback): provisioning is a bug there, said so. */
const NO_PROVISIONING: GroupProvisioner = {
  prepare: async () => {
    throw new Error("this command creates no hosts (no secrets were read)");
  },
  provision: async () => {
    throw new Error("this command creates no hosts (no secrets were read)");
  },
};

/** The driver of an environment; `connect` opens the SSH connections that check host keys (CliDeps.connect). */
export async function environmentDriver(
  target: DriverTarget,
  progress: (line: string) => void,
  connect: CliDeps["connect"],
  /** The operator's ssh-agent ($SSH_AUTH_SOCK): the aws driver probes hosts over SSH with the key `aws.sshPublicKey` authorizes. */
  sshAuthSock?: string,
): Promise<SlotDriver> {
  const { env } = target;
  if (env.driver === "aws") {
    const workspace = await automationWorkspace(env, target.file);
    return new AwsSlotDriver({
      env,
      file: target.file,
      workspace,
      // The lock across operators, on S3 with the SDK's default credentials (loaded on first use).
      lockClient: s3LockClient({ region: async () => workspace.region?.() }),
      log: progress,
      ...(sshAuthSock ? { ssh: { connect, auth: { agent: sshAuthSock } } } : {}),
    });
  }
  const paths = defaultPaths();
  const secrets = target.secrets ? [...Object.values(target.secrets.app), ...(target.secrets.registryPassword ? [target.secrets.registryPassword] : [])] : [];
  const provisioner = target.secrets
    ? localGroupProvisioner(env, target.secrets, paths, target.bundle, {
        ...(target.dockerHost !== undefined ? { dockerHost: target.dockerHost } : {}),
        imageFromNamedBy: target.imageFromNamedBy ?? { source: target.displayName ?? target.file, key: "app.imageFrom" },
        ...(target.compose ? { compose: target.compose } : {}),
        // The accessories' provisioning reads the same lock: a bundle the app's pins is their cache hit (no second apt-get).
        ...(target.lock ? { lock: sharedBundleLock(target.lock), recordImage: (ref: string, id: string) => recordImage(target.lock!.file, ref, id) } : {}),
      })
    : NO_PROVISIONING;
  // Accessories run before any slot is prepared (made when missing, never touched when running).
  const withAcc = target.secrets ? withAccessories(provisioner, accessoryContextOf(target, target.secrets, paths)) : provisioner;
  return createLocalDriver(env, withAcc, paths, { secrets, connect });
}

/** What the accessory operations of the local driver need, from a driver target whose secrets were read. */
export function accessoryContextOf(target: DriverTarget, secrets: ResolvedSecrets, paths: LocalPaths = defaultPaths()): AccessoryContext {
  return {
    env: target.env,
    secrets,
    paths,
    ...(target.bundle ? { verified: target.bundle } : {}),
    ...(target.dockerHost !== undefined ? { dockerHost: target.dockerHost } : {}),
    imageFromNamedBy: target.imageFromNamedBy ?? { source: target.displayName ?? target.file, key: "app.imageFrom" },
    ...(target.lock ? { bundleOptions: { lock: sharedBundleLock(target.lock) }, recordImage: (ref: string, id: string) => recordImage(target.lock!.file, ref, id) } : {}),
  };
}

/**
 * The lock's bundle pins as the provisioners see them: a pin recorded (written to the file) also
 * goes into `loaded`'s own map, so every reader of the same `loaded` sees it from then on.
 */
function sharedBundleLock(loaded: LoadedLock): BundleLock {
  const lock = bundleLockOf(loaded);
  return {
    ...lock,
    record: async (arch, pin) => {
      await lock.record(arch, pin);
      loaded.lock.engine[arch] = pin;
    },
  };
}

/** `up`: makes sure the environment's accessories run (local driver; secrets read). */
export async function ensureEnvironmentAccessories(target: DriverTarget, progress: (line: string) => void): Promise<void> {
  if (target.env.driver !== "local" || target.secrets === null || Object.keys(target.env.accessories).length === 0) return;
  await ensureAccessories(accessoryContextOf(target, target.secrets), progress);
}

/** The accessory data directories of an environment on this computer (what `destroy` asks about). */
export function environmentAccessoryData(env: Environment): string[] {
  return env.driver === "local" ? accessoryDataDirs(defaultPaths(), env.name) : [];
}

/** Removes an environment's hosts and load balancer, then its accessories' machines (their data as `options.data` says). */
export async function destroyEnvironment(env: Environment, progress: (line: string) => void, options: DestroyOptions = {}): Promise<string[]> {
  if (env.driver === "aws") {
    throw new ConfigError("environment", [{ path: "driver", message: "destroy an aws environment with `pulumi destroy` in stacks/web" }]);
  }
  const slots = await destroyLocalEnvironment(env.name, progress);
  const accessories = await destroyAccessories(env.name, defaultPaths(), options.data ?? "none", progress);
  return [...slots, ...accessories.groups];
}

/**
 * Operation locks live with the machine's state, never in the git checkout. On the local driver in
 * `<stateRoot>/.locks`: `<stateRoot>/<name>.lock` is the lock of the environment's own machine
 * group (its load balancer's state), which `destroy` takes while it holds the operation lock.
 */
export function operationLockDir(env: Environment): string {
  return env.driver === "local" ? path.join(defaultPaths().stateRoot, ".locks") : path.join(os.homedir(), ".longshore", "locks");
}
