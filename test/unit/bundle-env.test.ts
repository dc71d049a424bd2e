// Does not run a build: it checks how cli/ turns LONGSHORE_BUNDLE_RESOLVER and LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL into build options.
import { describe, expect, it } from "vitest";
import { bundleOptionsFromEnv, withBundleEnv } from "../../cli/bundle-env";
import { ConfigError } from "../../core/errors";
import type { BuildBundleOptions } from "../../provisioner/bundle/build";

describe("bundle options from the environment", () => {
  it.each([
    [{}, {}],
    [{ LONGSHORE_BUNDLE_RESOLVER: "native" }, { resolver: "native" }],
    [{ LONGSHORE_BUNDLE_RESOLVER: "apt", LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL: "false" }, { resolver: "apt", checkValidUntil: false }],
    [{ LONGSHORE_BUNDLE_RESOLVER: "", LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL: "true" }, {}],
  ])("%j -> %j", (env, options) => {
    expect(bundleOptionsFromEnv(env)).toEqual(options);
  });

  it("refuses other values, naming each variable", () => {
    let e: unknown;
    try {
      bundleOptionsFromEnv({ LONGSHORE_BUNDLE_RESOLVER: "dpkg", LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL: "no" });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toBe(
      'the environment is invalid (2 problems):\n  LONGSHORE_BUNDLE_RESOLVER: must be apt or native, not "dpkg"\n  LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL: must be true or false, not "no"',
    );
  });

  it("adds them to a build's options; the caller's own options win", async () => {
    const seen: BuildBundleOptions[] = [];
    const build = withBundleEnv(async (o: BuildBundleOptions) => (seen.push(o), 1), { LONGSHORE_BUNDLE_RESOLVER: "native", LONGSHORE_ARCHIVE_CHECK_VALID_UNTIL: "false" });
    const base = { recipe: {} as BuildBundleOptions["recipe"], cacheDir: "/c", createdBy: "t" };
    await build(base);
    await build({ ...base, resolver: "apt" });
    expect(seen.map((o) => [o.resolver, o.checkValidUntil])).toEqual([
      ["native", false],
      ["apt", false],
    ]);
  });
});
