/**
 * How the engine bundle is resolved, from the process environment (read here, in cli/, only):
 *
 * - `LONGSHORE_BUNDLE_RESOLVER=apt|native`: who resolves and downloads; unset: apt where
 *   `apt-get` runs, else longshore's own (native) resolver.
 * - `LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL=false`: the native resolver accepts an InRelease past its
 *   Valid-Until (a dated snapshot mirror); unset or `true`: refused.
 */
import { ConfigError } from "../core/errors";
import type { BuildBundleOptions } from "../provisioner/bundle/build";

/** The environment variables read here. */
export const BUNDLE_RESOLVER_ENV = "LONGSHORE_BUNDLE_RESOLVER";
export const CHECK_VALID_UNTIL_ENV = "LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL";

/** The build options the environment sets; an unknown value is a ConfigError naming the variable. */
export function bundleOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Pick<BuildBundleOptions, "resolver" | "checkValidUntil"> {
  const issues: Array<{ path: string; message: string }> = [];
  const resolver = env[BUNDLE_RESOLVER_ENV];
  const valid = env[CHECK_VALID_UNTIL_ENV];
  if (resolver !== undefined && resolver !== "" && resolver !== "apt" && resolver !== "native") {
    issues.push({ path: BUNDLE_RESOLVER_ENV, message: `must be apt or native, not ${JSON.stringify(resolver)}` });
  }
  if (valid !== undefined && valid !== "" && valid !== "true" && valid !== "false") {
    issues.push({ path: CHECK_VALID_UNTIL_ENV, message: `must be true or false, not ${JSON.stringify(valid)}` });
  }
  if (issues.length > 0) throw new ConfigError("the environment", issues);
  return {
    ...(resolver === "apt" || resolver === "native" ? { resolver } : {}),
    ...(valid === "false" ? { checkValidUntil: false } : {}),
  };
}

/** `build` with the environment's options added (the caller's own options win). */
export function withBundleEnv<R>(
  build: (options: BuildBundleOptions) => Promise<R>,
  env: Readonly<Record<string, string | undefined>>,
): (options: BuildBundleOptions) => Promise<R> {
  return (options) => build({ ...bundleOptionsFromEnv(env), ...options });
}
