/**
 * The local driver, wired to real parts: each slot generation is a machine group (so `local ls`
 * shows it and `local down` can remove it), provisioned by the group provisioner, behind the
 * environment's HAProxy (balancer.ts).
 */
import * as fs from "node:fs";
import type { Sensitive } from "../../core/sensitive";
import { machineGroupAppStates } from "./app-states";
import { localBalancer } from "./balancer";
import { downMachineGroup, listMachineGroups, machineGroupSshTargets, readMachineGroup, upMachineGroup } from "./machine-group";
import { accessoryOfGroup } from "./accessory-layout";
import { localEngineStates } from "./engine-states";
import type { EnvironmentHost } from "../../rollout/driver";
import { defaultPaths, envDir, type LocalPaths } from "./paths";
import { LocalSlotDriver, type FleetHost, type GroupProvisioner, type LocalFleet } from "./slot-driver";
import type { Environment } from "../../model/environment";
import { hostPortOf } from "../../model/app";
import { connectSsh } from "../../provisioner/transport/ssh2-transport";
import { localHostKeys, type Connect } from "./host-keys";
import { localHookRunner } from "./hook-runner";
import { DEFAULT_RECIPE, templateRecipeFor, type TemplateRecipe } from "./template-recipe";

/** Machine groups as the slot driver's fleet: one group per slot generation. */
export function localFleet(paths: LocalPaths, hostImage: () => { id: string; layer: string } | null = () => null, recipe: TemplateRecipe = DEFAULT_RECIPE): LocalFleet {
  return {
    async create(group, size, progress) {
      const image = hostImage();
      const up = await upMachineGroup({ env: group, machines: size, paths, progress, recipe, ...(image ? { hostImage: image } : {}) });
      return up.machines.map((m): FleetHost => ({ name: m.name, address: m.address, ...(image ? { hostImage: image.id } : {}) }));
    },
    async destroy(group, progress) {
      await downMachineGroup({ env: group, paths, progress });
    },
  };
}

/**
 * The local driver for an environment, with real machines and HAProxy. `secrets` are the values
 * the app's log lines and a hook's output are redacted of; `connect` opens the SSH connections
 * that check host keys and run the before-switch hook (the ssh2 transport; the CLI passes its own).
 */
export function createLocalDriver(
  env: Environment,
  provisioner: GroupProvisioner,
  paths: LocalPaths = defaultPaths(),
  options: { secrets?: Iterable<Sensitive>; connect?: Connect } = {},
): LocalSlotDriver {
  const secretList = [...(options.secrets ?? [])];
  const listen = env.local.listen;
  const hostPort = hostPortOf(env.app);
  const connect = options.connect ?? connectSsh;
  return new LocalSlotDriver({
    name: "the local driver",
    runHook: localHookRunner(paths, env.app, secretList, connect),
    env: env.name,
    stateDir: envDir(paths, env.name),
    hostPort,
    health: env.app.health,
    url: `http://${listen.address}:${listen.port}/`,
    fleet: localFleet(paths, () => provisioner.hostImage?.() ?? null, templateRecipeFor(env.hosts.os)),
    provisioner,
    balancer: localBalancer({ env: env.name, paths, listen, hostPort, health: env.app.health }),
    appStates: (group) => machineGroupAppStates(group, env.app.name, paths, secretList),
    hostKeys: localHostKeys(paths, connect),
    engineStates: localEngineStates(paths, connect),
    ssh: { targets: (group) => machineGroupSshTargets(group, paths), otherHosts: () => accessoryHosts(env.name, paths) },
  });
}

/** The machines of an environment's accessories (one group each), with their pinned SSH targets. */
export function accessoryHosts(envName: string, paths: LocalPaths): EnvironmentHost[] {
  return listMachineGroups(paths)
    .filter((g) => accessoryOfGroup(envName, g) !== null)
    .sort()
    .flatMap((g) => machineGroupSshTargets(g, paths).map((target): EnvironmentHost => ({ name: target.name, role: "accessory", target })));
}

/**
 * Removes everything of an environment: every machine group it created (also ones a crash left
 * behind, found by name), then its load balancer.
 */
export async function destroyLocalEnvironment(envName: string, progress: (line: string) => void, paths: LocalPaths = defaultPaths()): Promise<string[]> {
  const groups = listMachineGroups(paths).filter((g) => new RegExp(`^${envName}-(blue|green)-g\\d+$`).test(g));
  for (const g of groups) await downMachineGroup({ env: g, paths, progress });
  if (readMachineGroup(envName, paths)) await downMachineGroup({ env: envName, paths, progress });
  // What is left of the environment's own directory (its slots.json) goes too: nothing stays behind.
  fs.rmSync(envDir(paths, envName), { recursive: true, force: true });
  return groups;
}
