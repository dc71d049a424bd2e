/**
 * Finding longshore's provisioner entry module at call time, inside a serialised dynamic provider
 * (the ProvisionedHost's, and the HealthGate's with a bastion): only `require` and a specifier
 * string, so the stack's state names no directory of the computer that ran `pulumi up`.
 */
import type { ApplyHostEntry } from "../provisioner/apply-host-contract";

/**
 * The entry module, by the package's export (`dist/provisioner/apply-host.js` of the installed
 * longshore package). Pulumi's dynamic provider host resolves it from the program's directory.
 */
export const DEFAULT_APPLY_HOST_ENTRY = "longshore/provisioner/apply-host";

/**
 * Loads the provisioner's entry module. Runs inside the serialised provider: only `require` and
 * the specifier string. When `longshore/...` is not installed where Pulumi runs the provider, which
 * is the case for this repository's own `stacks/web` program, it takes the built module of the
 * longshore checkout above the working directory: found at call time, so no path is in the state.
 */
export function loadApplyHostEntry(entryPath: string): ApplyHostEntry {
  try {
    return require(entryPath) as ApplyHostEntry;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code !== "MODULE_NOT_FOUND" || !String(err.message).includes(entryPath)) throw e;
    const prefix = "longshore/";
    if (entryPath.startsWith(prefix)) {
      const fs = require("node:fs") as typeof import("node:fs");
      const path = require("node:path") as typeof import("node:path");
      for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
        let name: unknown;
        try {
          name = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown }).name;
        } catch {
          name = undefined;
        }
        if (name === "longshore") {
          const built = path.join(dir, "dist", `${entryPath.slice(prefix.length)}.js`);
          if (fs.existsSync(built)) return require(built) as ApplyHostEntry;
          break;
        }
        if (path.dirname(dir) === dir) break;
      }
    }
    throw new Error(
      `longshore's provisioner entry module was not found at ${entryPath}: install longshore in the Pulumi program's directory (npm install longshore), or build it (npm run build) and run pulumi from that checkout`,
    );
  }
}

