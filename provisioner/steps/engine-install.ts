/**
 * `engine.install`: installs the engine packages, without starting them (engine.configure writes
 * daemon.json first). From the bundle: `apt-get install ./debs` with every source list switched
 * off (plain `dpkg -i` fails on the pre-dependency order; with sources apt would wait on the
 * network). From the distro channel: `apt-get update && apt-get install` from the host's sources.
 * An apt or dpkg still running from an earlier, dropped connection holds dpkg's lock: the script
 * waits for it (up to 2 min) and says so, `waiting for dpkg lock held by PID N (apt-get)`.
 */
import type { Command } from "../command";
import { STEP_PROGRESS_PREFIX, type Step } from "../step";
import { renderTemplate } from "../../templates/render";
import { ENGINE_PACKAGES } from "../bundle/recipe";
import { remoteDebPaths } from "./engine-bundle";
import { dockerdPath } from "./engine-configure";
import { requireBundle, type ProvisionContext } from "./engine-context";

/** What the distro channel installs from the host's own apt sources. */
export const DISTRO_PACKAGES = [...ENGINE_PACKAGES.debian.packages];

/** dpkg's locks: apt's frontend lock and dpkg's own; whoever holds one makes the install wait. */
export const DPKG_LOCKS = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"];

/** How long engine.install waits for another apt or dpkg to let go of dpkg's lock. */
export const DPKG_LOCK_WAIT_SECONDS = 120;

/** Debian's hook asked before any package starts a service (exit 101: do not). */
export const POLICY_RC_D = "/usr/sbin/policy-rc.d";

/** dpkg-query's format: `name=version=ii ;` per package, sorted by name (dpkg's own order). */
const QUERY_FORMAT = "${Package}=${Version}=${db:Status-Abbrev};";

/**
 * What `dpkg-query -W -f QUERY_FORMAT <packages>` prints when exactly these versions are installed.
 * With a null version only the installed state is compared.
 */
export function expectedDpkgState(packages: ReadonlyArray<{ name: string; version: string | null }>): string {
  return [...packages]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => (p.version === null ? "ii ;" : `${p.name}=${p.version}=ii ;`))
    .join("");
}

/** A command that exits 0 only when dpkg reports exactly `expected` for `names`. */
export function dpkgStateCheck(names: readonly string[], expected: string, withVersions: boolean): Command {
  const format = withVersions ? QUERY_FORMAT : "${db:Status-Abbrev};";
  return {
    argv: ["sh", "-c", 'f=$1; e=$2; shift 2; [ "$(dpkg-query -W -f "$f" "$@" 2>/dev/null)" = "$e" ]', "sh", format, expected, ...[...names].sort()],
  };
}

/**
 * The install script (templates/engine/install.sh.hbs): waits for dpkg's lock saying who holds it
 * (a `step-progress` line per holder), then installs `packages`. `dpkgLocks` and `policyPath` are
 * only moved by tests, which run the script against a lock they hold.
 */
export function installScript(o: { offline: boolean; packages: readonly string[]; dpkgLocks?: readonly string[]; policyPath?: string; lockWaitSeconds?: number }): string {
  return renderTemplate("engine/install.sh", {
    offline: o.offline,
    policyPath: o.policyPath ?? POLICY_RC_D,
    packages: [...o.packages],
    progressPrefix: STEP_PROGRESS_PREFIX,
    dpkgLocks: [...(o.dpkgLocks ?? DPKG_LOCKS)],
    lockWaitSeconds: o.lockWaitSeconds ?? DPKG_LOCK_WAIT_SECONDS,
  });
}

/** The packages the check compares: the recipe's requested packages at the bundle's versions. */
function requestedVersions(ctx: ProvisionContext): Array<{ name: string; version: string | null }> {
  if (ctx.engine.channel === "distro") return DISTRO_PACKAGES.map((name) => ({ name, version: null }));
  const { manifest } = requireBundle(ctx);
  return manifest.recipe.packages.map((name) => {
    const p = manifest.packages.find((x) => x.name === name);
    if (!p) throw new Error(`bundle ${manifest.id} lacks its requested package ${name}`);
    return { name, version: p.version };
  });
}

/** `engine.install`: the engine packages at the bundle's versions (or the distro's). */
export const engineInstallStep: Step<ProvisionContext> = {
  id: "engine.install",
  title: "Install the container engine",
  plan(ctx) {
    const wanted = requestedVersions(ctx);
    const offline = ctx.engine.channel === "bundle";
    const check = dpkgStateCheck(
      wanted.map((w) => w.name),
      expectedDpkgState(wanted),
      offline,
    );
    const script = installScript({ offline, packages: offline ? remoteDebPaths(ctx) : DISTRO_PACKAGES });
    return {
      check: [check],
      apply: [{ argv: ["sh", "-c", script], sudo: true, timeoutMs: 10 * 60_000 }],
      verify: [check, { argv: [dockerdPath(ctx), "--version"] }],
      timeoutMs: 12 * 60_000,
    };
  },
};
