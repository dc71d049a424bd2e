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
import { bundleLockOf } from "../provisioner/provision-inputs";
import { recordImage } from "../model/lock-file";
import type { GroupProvisioner } from "../drivers/local/slot-driver";
import { AwsSlotDriver } from "../drivers/aws/aws-driver";
import { automationWorkspace } from "../stacks/web/workspace";
import type { CliDeps, DriverTarget } from "./deps";

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
export async function environmentDriver(target: DriverTarget, progress: (line: string) => void, connect: CliDeps["connect"]): Promise<SlotDriver> {
  const { env } = target;
  if (env.driver === "aws") {
    return new AwsSlotDriver({ env, file: target.file, workspace: await automationWorkspace(env, target.file), log: progress });
  }
  const paths = defaultPaths();
  const secrets = target.secrets ? [...Object.values(target.secrets.app), ...(target.secrets.registryPassword ? [target.secrets.registryPassword] : [])] : [];
  const provisioner = target.secrets
    ? localGroupProvisioner(env, target.secrets, paths, target.bundle, {
        ...(target.dockerHost !== undefined ? { dockerHost: target.dockerHost } : {}),
        imageFromNamedBy: target.imageFromNamedBy ?? { source: target.displayName ?? target.file, key: "app.imageFrom" },
        ...(target.lock ? { lock: bundleLockOf(target.lock), recordImage: (ref: string, id: string) => recordImage(target.lock!.file, ref, id) } : {}),
      })
    : NO_PROVISIONING;
  return createLocalDriver(env, provisioner, paths, { secrets, connect });
}

/** Removes an environment's hosts and load balancer. */
export async function destroyEnvironment(env: Environment, progress: (line: string) => void): Promise<string[]> {
  if (env.driver === "aws") {
    throw new ConfigError("environment", [{ path: "driver", message: "destroy an aws environment with `pulumi destroy` in stacks/web" }]);
  }
  return destroyLocalEnvironment(env.name, progress);
}

/** Operation locks live with the machine's state, never in the git checkout. */
export function operationLockDir(env: Environment): string {
  return env.driver === "local" ? defaultPaths().stateRoot : path.join(os.homedir(), ".longshore", "locks");
}
