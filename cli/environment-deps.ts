/**
 * The real dependencies of the environment verbs: which driver an environment uses and how its
 * hosts are provisioned. Only main.ts's realDeps() uses this; tests inject fakes instead.
 */
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError } from "../core/errors";
import type { Environment } from "../config/environment";
import type { SlotDriver } from "../rollout/driver";
import { probeHttp } from "../rollout/http-probe";
import { createLocalDriver, destroyLocalEnvironment } from "../local/rollout-wiring";
import { defaultPaths } from "../local/paths";
import { localGroupProvisioner } from "../local/group-provisioner";
import { AwsSlotDriver, automationWorkspace } from "../stacks/web/aws-driver";

/** The driver of an environment. */
export async function environmentDriver(env: Environment, progress: (line: string) => void): Promise<SlotDriver> {
  if (env.driver === "aws") {
    return new AwsSlotDriver({
      workspace: await automationWorkspace(env.name),
      // Probes the hosts directly: run rollouts from where the hosts' app port is reachable (a
      // bastion or CI runner inside the VPC); the stack's own HealthGate gates the listener anyway.
      probeHosts: async (_slot, hosts) =>
        Promise.all(hosts.map((h) => probeHttp(h.name, `http://${h.address}:${env.app.port}${env.app.healthPath}`))),
      log: progress,
    });
  }
  const paths = defaultPaths();
  return createLocalDriver(env, localGroupProvisioner(env, paths), paths);
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
