/**
 * Bundle recipes: which apt sources and packages an engine bundle is built from. The Debian recipe
 * takes its mirror from the controller's own apt configuration (`/etc/apt/sources.list.d/
 * debian.sources`), or, on a controller that is not Debian, from Debian's own CDN
 * ({@link DEBIAN_DEFAULT_SOURCES}); other recipes take the URI from the user. All functions here
 * are pure except {@link readSourcesFile}, the one read.
 */
import { PreconditionError } from "../../core/errors";
import { bundleRecipeSchema, type AptSource, type BundleRecipe } from "../../model/engine";
import { parseOrThrow } from "../../model/zod-issues";
import { parseStanzas } from "./deb822";

/** Where Debian keeps its deb822 sources on the controller. */
export const HOST_DEBIAN_SOURCES = "/etc/apt/sources.list.d/debian.sources";

/** Debian's archive keyring as Debian installs it (the `debian-archive-keyring` package). */
export const DEBIAN_ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * The sources a controller without {@link HOST_DEBIAN_SOURCES} (macOS, Windows, an Ubuntu CI
 * runner) resolves Debian bundles from: Debian's own CDN, as a fresh Debian 12 writes it. The
 * bundle id does not include the mirror (only what the packages are), so a bundle resolved here
 * and one resolved through a Debian controller's mirror pin the same id.
 */
export const DEBIAN_DEFAULT_SOURCES: readonly Deb822Source[] = Object.freeze([
  { types: ["deb"], uris: ["http://deb.debian.org/debian"], suites: ["bookworm", "bookworm-updates"], components: ["main"], signedBy: [DEBIAN_ARCHIVE_KEYRING], enabled: true },
  { types: ["deb"], uris: ["http://deb.debian.org/debian-security"], suites: ["bookworm-security"], components: ["main"], signedBy: [DEBIAN_ARCHIVE_KEYRING], enabled: true },
]);

/** What the Debian recipe takes its mirror from: the controller's file, or Debian's defaults where it has none. */
export interface ControllerSources {
  sources: readonly Deb822Source[];
  /** Named in errors and progress: the file, or where the defaults come from. */
  origin: string;
}

/**
 * The controller's Debian sources from the text of `file` (null: the file does not exist). Only
 * the default file may be missing (the controller is not Debian); a file the user named must exist.
 */
export function controllerSources(text: string | null, file: string = HOST_DEBIAN_SOURCES): ControllerSources {
  if (text !== null) return { sources: parseDeb822Sources(text), origin: file };
  if (file !== HOST_DEBIAN_SOURCES) throw new PreconditionError(`${file} does not exist`, { suggestion: "Name a deb822 .sources file, or leave --sources-file out to use this computer's or Debian's own mirror." });
  return { sources: DEBIAN_DEFAULT_SOURCES, origin: `deb.debian.org (this computer has no ${HOST_DEBIAN_SOURCES})` };
}

/** Reads `file` for {@link controllerSources}: its text, or null when it does not exist. Other errors propagate. */
export async function readSourcesFile(read: (f: string) => Promise<string>, file: string = HOST_DEBIAN_SOURCES): Promise<string | null> {
  try {
    return await read(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** One stanza of a deb822 `.sources` file. */
export interface Deb822Source {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  /** Keyring file paths (an inline key block is not supported here). */
  signedBy: string[];
  enabled: boolean;
}

/**
 * Parses a deb822 `.sources` file (sources.list(5)): stanzas separated by blank lines, `#`
 * comments, continuation lines starting with whitespace, field names case-insensitive.
 */
export function parseDeb822Sources(text: string): Deb822Source[] {
  const stanzas = parseStanzas(text);
  const words = (v: string | undefined) => (v ?? "").split(/\s+/).filter((w) => w !== "");
  return stanzas.map((s) => ({
    types: words(s.get("types")),
    uris: words(s.get("uris")),
    suites: words(s.get("suites")),
    components: words(s.get("components")),
    signedBy: (s.get("signed-by") ?? "").includes("BEGIN PGP") ? [] : words(s.get("signed-by")),
    enabled: (s.get("enabled") ?? "yes").toLowerCase() !== "no",
  }));
}

/** Debian's releases by codename, oldest first: what a mirror of one serves for the others. */
export const DEBIAN_RELEASES: Readonly<Record<string, string>> = { bullseye: "11", bookworm: "12", trixie: "13" };

/**
 * The stanzas for `suite` when the file names only another Debian release: the same mirrors,
 * components and keyrings, each suite renamed (`bookworm-security` -> `trixie-security`). A
 * Debian mirror serves every release under the same paths, and Debian's archive keyring holds
 * the next release's keys (Debian 12's holds 13's), so a bookworm controller resolves a trixie
 * bundle from its own sources file. Stanzas with no Debian codename are left out.
 */
export function deriveSuiteSources(stanzas: readonly Deb822Source[], suite: string): Deb822Source[] {
  if (!(suite in DEBIAN_RELEASES)) return [];
  const rename = (su: string) => {
    const m = /^([a-z]+)(-updates|-security|-backports)?$/.exec(su);
    return m && m[1]! in DEBIAN_RELEASES ? `${suite}${m[2] ?? ""}` : null;
  };
  return stanzas.flatMap((st) => {
    const suites = st.suites.map(rename).filter((x): x is string => x !== null);
    return suites.length ? [{ ...st, suites }] : [];
  });
}

/**
 * The apt sources for `suite` (and its `-updates` and `-security` suites) found in a deb822
 * file, restricted to `components`; when the file names another Debian release only, the same
 * mirrors for `suite` ({@link deriveSuiteSources}). Throws a PreconditionError when there is
 * no source for the suite itself or a source has no keyring.
 */
export function sourcesForSuite(
  given: readonly Deb822Source[],
  suite: string,
  components: readonly string[],
  fileName: string,
): AptSource[] {
  const wanted = [suite, `${suite}-updates`, `${suite}-security`];
  const names = (list: readonly Deb822Source[]) => list.some((s) => s.enabled && s.types.includes("deb") && s.suites.includes(suite));
  const stanzas = names(given) ? given : deriveSuiteSources(given, suite);
  const out: AptSource[] = [];
  for (const s of stanzas) {
    if (!s.enabled || !s.types.includes("deb")) continue;
    const comps = components.filter((c) => s.components.includes(c));
    if (comps.length === 0) continue;
    for (const uri of s.uris) {
      for (const su of s.suites.filter((x) => wanted.includes(x))) {
        const signedBy = s.signedBy[0];
        if (!signedBy) {
          throw new PreconditionError(`${fileName}: the source ${uri} ${su} has no Signed-By keyring file`, {
            suggestion: "Add Signed-By: /usr/share/keyrings/<archive>-keyring.gpg to that stanza; longshore never trusts an unsigned archive.",
          });
        }
        out.push({ uri, suite: su, components: comps, signedBy });
      }
    }
  }
  if (!out.some((s) => s.suite === suite)) {
    throw new PreconditionError(`${fileName} has no enabled "deb" source for ${suite} with component ${components.join(" or ")}`, {
      suggestion: `Add a stanza with Suites: ${suite} (or pass --uri).`,
    });
  }
  // Stable order: as the file lists them, suites in wanted-order within one URI.
  return out.sort((a, b) => wanted.indexOf(a.suite) - wanted.indexOf(b.suite));
}

/**
 * The packages each source of the engine ships it as. `busybox-static` (about 1 MiB, no dependencies; Debian 12's dynamic busybox's wget crashes) is the
 * hosts' blob server and client for image deliveries between peers (provisioner/layers/); a host
 * without it gets every blob from the controller.
 */
/**
 * Packages a Debian release adds to the engine. Trixie split the `docker` CLI out of `docker.io`
 * into `docker-cli` (only recommended, and bundles install no recommends), and its
 * `docker-compose` is the real Compose v2 (Go, 2.26); bookworm only has the Python Compose 1.29,
 * which longshore does not ship.
 */
export const RELEASE_EXTRA_PACKAGES: Readonly<Record<string, readonly string[]>> = { trixie: ["docker-cli", "docker-compose"] };

export const ENGINE_PACKAGES = {
  debian: { packages: ["docker.io", "containerd", "runc", "tini", "busybox-static"], enginePackage: "docker.io" },
  ubuntu: { packages: ["docker.io", "containerd", "runc", "tini", "busybox-static"], enginePackage: "docker.io" },
  docker: { packages: ["docker-ce", "docker-ce-cli", "containerd.io"], enginePackage: "docker-ce" },
} as const;

/** What every recipe needs. */
export interface RecipeTarget {
  suite: string;
  arch: BundleRecipe["arch"];
  baseline?: BundleRecipe["baseline"];
}

/** Docker from Debian's archive (`docker.io`), with the mirror taken from the controller's sources. */
export function debianRecipe(target: RecipeTarget & { hostSources: readonly Deb822Source[]; sourcesFile?: string }): BundleRecipe {
  const e = ENGINE_PACKAGES.debian;
  return parseOrThrow(bundleRecipeSchema, {
    source: "debian",
    distribution: "debian",
    suite: target.suite,
    arch: target.arch,
    sources: sourcesForSuite(target.hostSources, target.suite, ["main"], target.sourcesFile ?? HOST_DEBIAN_SOURCES),
    packages: [...e.packages, ...(RELEASE_EXTRA_PACKAGES[target.suite] ?? [])],
    enginePackage: e.enginePackage,
    baseline: target.baseline ?? "minbase",
  }, "bundle recipe");
}

/** Docker from Ubuntu's archive (`docker.io` is in universe); the user gives the mirror and keyring. */
export function ubuntuRecipe(target: RecipeTarget & { uri: string; signedBy: string; securityUri?: string }): BundleRecipe {
  const e = ENGINE_PACKAGES.ubuntu;
  const comps = ["main", "universe"];
  const sources: AptSource[] = [
    { uri: target.uri, suite: target.suite, components: comps, signedBy: target.signedBy },
    { uri: target.uri, suite: `${target.suite}-updates`, components: comps, signedBy: target.signedBy },
    { uri: target.securityUri ?? target.uri, suite: `${target.suite}-security`, components: comps, signedBy: target.signedBy },
  ];
  return parseOrThrow(bundleRecipeSchema, {
    source: "ubuntu",
    distribution: "ubuntu",
    suite: target.suite,
    arch: target.arch,
    sources,
    packages: [...e.packages],
    enginePackage: e.enginePackage,
    baseline: target.baseline ?? "minbase",
  }, "bundle recipe");
}

/**
 * Docker CE from Docker's own repository (`<uri> <suite> stable`), with the Debian sources for
 * its dependencies (libc6, iptables...). The user gives Docker's URI and keyring.
 */
export function dockerRecipe(
  target: RecipeTarget & { uri: string; signedBy: string; hostSources: readonly Deb822Source[]; sourcesFile?: string },
): BundleRecipe {
  const e = ENGINE_PACKAGES.docker;
  return parseOrThrow(bundleRecipeSchema, {
    source: "docker",
    distribution: "debian",
    suite: target.suite,
    arch: target.arch,
    sources: [
      { uri: target.uri, suite: target.suite, components: ["stable"], signedBy: target.signedBy },
      ...sourcesForSuite(target.hostSources, target.suite, ["main"], target.sourcesFile ?? HOST_DEBIAN_SOURCES),
    ],
    packages: [...e.packages],
    enginePackage: e.enginePackage,
    baseline: target.baseline ?? "minbase",
  }, "bundle recipe");
}

/**
 * The recipe's sources as a one-line-format `sources.list`, pinned to the target architecture and
 * to the recipe's keyrings. Refuses a keyring path with whitespace (the format cannot carry it).
 */
export function renderSourcesList(recipe: Pick<BundleRecipe, "sources" | "arch">): string {
  return recipe.sources
    .map((s) => {
      if (/\s/.test(s.signedBy)) throw new PreconditionError(`keyring path ${JSON.stringify(s.signedBy)} contains whitespace`);
      return `deb [arch=${recipe.arch} signed-by=${s.signedBy}] ${s.uri} ${s.suite} ${s.components.join(" ")}\n`;
    })
    .join("");
}
