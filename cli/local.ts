/**
 * `longshore local up|down|ls|image`: machines on this computer that behave like freshly booted
 * cloud VMs, and the demo application image. `register` adds the verbs to the main program;
 * running this file directly (`node dist/cli/local.js local up`) works too, until cli/main.ts
 * registers it.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import * as path from "node:path";
import { ConfigError } from "../core/errors";
import { buildDemoImage, DEMO_VERSIONS, type DemoVersion } from "../drivers/local/demo-app";
import { downMachineGroup, listMachineGroups, machineStatuses, readMachineGroup, upMachineGroup } from "../drivers/local/machine-group";
import { defaultPaths, type LocalPaths } from "../drivers/local/paths";
import { templateRecipeFor } from "../drivers/local/template-recipe";
import { HOST_OS, type HostOs } from "../model/environment";
import { exitCodeFor } from "./exit-codes";
import { printError } from "./output";

/** What the verbs need from the outside world (tests pass their own). */
export interface LocalCliDeps {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  paths?: LocalPaths;
}

const DEFAULT_ENV = "default";

function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError("must be a whole number");
  return n;
}

function stamp(deps: LocalCliDeps) {
  const t0 = Date.now();
  return (line: string) => deps.stderr(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
}

/** Adds `local` (up, down, ls, image) to `program`. */
export function register(program: Command, deps: LocalCliDeps): Command {
  const paths = () => deps.paths ?? defaultPaths();
  const local = program
    .command("local")
    .description("machines on this computer (systemd-nspawn) that behave like fresh cloud VMs, on the bridge longshore0");

  local
    .command("up")
    .description("create (or complete) an environment of machines reachable over SSH with pinned host keys")
    .option("--env <name>", "environment name", DEFAULT_ENV)
    .option("--machines <n>", "how many machines", intOption, 3)
    .option("--subnet <cidr>", "the bridge's private subnet", "10.213.47.0/24")
    .option("--boot-timeout <seconds>", "how long each machine may take until sshd answers", intOption, 90)
    .addOption(new Option("--os <os>", "the machines' operating system (an environment file's hosts.os)").choices(Object.keys(HOST_OS)).default("debian-12"))
    .action(async (o: { env: string; machines: number; subnet: string; bootTimeout: number; os: HostOs }) => {
      const r = await upMachineGroup({
        env: o.env,
        machines: o.machines,
        subnet: o.subnet,
        paths: paths(),
        recipe: templateRecipeFor(o.os),
        progress: stamp(deps),
        bootTimeoutMs: o.bootTimeout * 1000,
      });
      deps.stdout(renderTable(machineStatuses(r.state)));
      deps.stdout(`\ninventory:   ${r.inventoryFile}\nknown_hosts: ${r.knownHostsFile}\n`);
      const first = r.state.machines[0];
      if (first && r.state.clientKey) {
        deps.stdout(
          `ssh:         ssh -i ${r.state.clientKey.privatePath} -o UserKnownHostsFile=${r.knownHostsFile} -o StrictHostKeyChecking=yes root@${first.address}\n`,
        );
      }
    });

  local
    .command("ls")
    .description("list an environment's machines: name, address, state, host key")
    .option("--env <name>", "environment name (default: every environment)")
    .option("--json", "machine-readable output")
    .action((o: { env?: string; json?: boolean }) => {
      const envs = o.env ? [o.env] : listMachineGroups(paths());
      const out: Record<string, ReturnType<typeof machineStatuses>> = {};
      for (const env of envs) {
        const state = readMachineGroup(env, paths());
        if (!state) {
          if (o.env) throw new ConfigError("local ls", [{ path: "--env", message: `no local environment named ${env}` }]);
          continue;
        }
        out[env] = machineStatuses(state);
      }
      if (o.json) {
        deps.stdout(JSON.stringify(o.env ? (out[o.env] ?? []) : out, null, 2) + "\n");
        return;
      }
      if (!Object.keys(out).length) deps.stdout("no local environments\n");
      for (const [env, machines] of Object.entries(out)) deps.stdout(`environment ${env}\n${renderTable(machines)}\n`);
    });

  local
    .command("down")
    .description("remove an environment: machines, mounts, cgroups, links, firewall rules, HAProxy (only what longshore created)")
    .option("--env <name>", "environment name", DEFAULT_ENV)
    .action(async (o: { env: string }) => {
      const r = await downMachineGroup({ env: o.env, paths: paths(), progress: stamp(deps) });
      deps.stdout(r.removed ? `environment ${o.env}: removed ${r.machines} machine(s)\n` : `environment ${o.env}: nothing to remove\n`);
    });

  local
    .command("image")
    .description("write the demo application's image (docker save format, built without docker) and print its ID")
    // The root program's own --version counts only before the command (cli/main.ts), so this one is the demo's.
    .option("--version <v>", `which demo version: one of ${DEMO_VERSIONS.join(", ")}`, "v1")
    .option("--out <file>", "where to write the archive (default: the cache)")
    .action((o: { version: string; out?: string }) => {
      if (!(DEMO_VERSIONS as readonly string[]).includes(o.version)) {
        throw new ConfigError("local image", [{ path: "--version", message: `must be one of ${DEMO_VERSIONS.join(", ")} (got ${o.version})` }]);
      }
      const img = buildDemoImage(o.version as DemoVersion, { cacheDir: paths().cacheDir, ...(o.out ? { out: path.resolve(o.out) } : {}) });
      deps.stdout(`${img.file}\n${img.imageId} ${img.repoTag}\n`);
    });
  return local;
}

function renderTable(machines: ReturnType<typeof machineStatuses>): string {
  const rows = [["NAME", "ADDRESS", "STATE", "MEMORY", "HOST KEY"]];
  for (const m of machines) {
    rows.push([m.name, m.address, m.state, m.memoryBytes === null ? "-" : `${Math.round(m.memoryBytes / 2 ** 20)} MiB`, m.hostKey ?? "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

if (require.main === module) {
  const program = new Command("longshore").exitOverride();
  register(program, { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) });
  program.parseAsync(process.argv).catch((e: unknown) => {
    if (e && typeof e === "object" && "code" in e && String((e as { code: unknown }).code).startsWith("commander.")) {
      // Help and version exit 0; a bad flag is bad input, like a ConfigError.
      process.exitCode = (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
      return;
    }
    printError(e, process.stderr, process.env["LONGSHORE_DEBUG"] === "1");
    process.exitCode = exitCodeFor(e);
  });
}
