// Does not prove either resolver's result (the integration tests compare them on Debian's archive): which one runs when none is named, from whether apt runs and whether the sources' keyrings are here. Sources point at a closed port on 127.0.0.1, so nothing leaves this computer.
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { PreconditionError } from "../../core/errors";
import { resolveRecipe, type RunFn } from "../../provisioner/bundle/build";
import { DEBIAN_ARCHIVE_KEYRING, debianRecipe } from "../../provisioner/bundle/recipe";

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "longshore-pick-"));
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

/** A recipe whose one source is a closed port here, signed by `keyring`. */
const recipe = (keyring: string) =>
  debianRecipe({
    suite: "bookworm",
    arch: "amd64",
    hostSources: [{ types: ["deb"], uris: ["http://127.0.0.1:1/debian"], suites: ["bookworm"], components: ["main"], signedBy: [keyring], enabled: true }],
  });

/** A RunFn that records each program and fails as a program that ran and failed would (apt-get exists). */
function recordingRun(calls: string[]): RunFn {
  return async (argv) => {
    calls.push(argv.slice(0, 2).join(" "));
    throw new Error(`${argv[0]} stopped here by the test`);
  };
}

describe("which resolver runs by default", () => {
  it("a keyring that is not on this computer (an Ubuntu CI runner has apt but not Debian's keyring): native, apt never asked", async () => {
    const calls: string[] = [];
    const missing = path.join(cacheDir, "no-such-dir", path.basename(DEBIAN_ARCHIVE_KEYRING));
    const err = await resolveRecipe({ recipe: recipe(missing), cacheDir, run: recordingRun(calls) }).catch((e: unknown) => e);
    expect(calls).toEqual([]);
    // The native resolver's own first step: InRelease over HTTP, checked with longshore's shipped keyring.
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as Error).message).toMatch(/^could not fetch http:\/\/127\.0\.0\.1:1\/debian\/dists\/bookworm\/InRelease: /);
  });

  it("the keyrings here and apt runs: apt is asked first", async () => {
    const keyring = path.join(cacheDir, "present.gpg"); // only its existence is looked at before apt runs
    fs.writeFileSync(keyring, "");
    const calls: string[] = [];
    const ran: RunFn = async (argv) => {
      calls.push(argv.slice(0, 2).join(" "));
      if (argv[1] === "--version") return "apt 2.6.1 (amd64)\n";
      throw new Error("stopped here by the test");
    };
    await resolveRecipe({ recipe: recipe(keyring), cacheDir, run: ran }).catch(() => undefined);
    expect(calls[0]).toBe("apt-get --version");
    expect(calls.length).toBeGreaterThan(1);
  });
});
