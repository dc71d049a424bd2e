/**
 * The packed longshore package for integration tests: `npm pack` of a copy of this checkout (so its
 * build does not touch this checkout's dist/), and projects that install that tarball with npm, as a
 * user's would (the registry, with npm's cache first).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "..", "..");
export const MODULES = path.join(ROOT, "node_modules");

/** A copy of the checkout's files (tracked and new, not ignored), its node_modules linked. */
export function copyCheckout(to: string): void {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
  for (const rel of listed.split("\0")) {
    if (!rel || rel === "node_modules" || rel.startsWith("node_modules/")) continue;
    const from = path.join(ROOT, rel);
    if (!fs.existsSync(from)) continue; // deleted in the work tree, not yet in the index
    if (!fs.lstatSync(from).isFile()) continue; // a link to a directory (a local state link): not part of the package
    fs.mkdirSync(path.dirname(path.join(to, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(to, rel));
  }
  fs.symlinkSync(MODULES, path.join(to, "node_modules"));
}

/** Packs a copy of the checkout (in `dir`/src, the tarball in `dir`/out): its path and the files it holds. */
export function packCheckout(dir: string): { tarball: string; files: string[] } {
  const src = path.join(dir, "src");
  copyCheckout(src);
  const out = path.join(dir, "out");
  fs.mkdirSync(out);
  // prepack builds dist/ with tsconfig.build.json first.
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", out], { cwd: src, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  return { tarball: path.join(out, packed[0]!.filename), files: packed[0]!.files.map((f) => f.path) };
}

/** The version of `name` this checkout installed (its package-lock's). */
export function installedVersion(name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(MODULES, name, "package.json"), "utf8")) as { version: string }).version;
}

/** The peers and tools a user's project installs next to longshore: pinned to this checkout's versions so runs repeat. */
export const PINNED = ["@pulumi/pulumi", "@pulumi/aws", "typescript", "@types/node"] as const;

/** `npm install` in `project`, as a user runs it (registry, cache first; install scripts as npm's default: not run unless approved). */
function npmInstall(project: string, specs: readonly string[]): void {
  execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...specs], {
    cwd: project,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 300_000,
  });
}

/**
 * What the README says a user runs, in `project` (a package.json is written if it has none):
 * `npm install longshore @pulumi/pulumi @pulumi/aws`, from the tarball, plus TypeScript and @types/node.
 */
export function installInto(project: string, tarball: string): void {
  const manifest = path.join(project, "package.json");
  if (!fs.existsSync(manifest)) fs.writeFileSync(manifest, JSON.stringify({ name: path.basename(project), private: true, type: "commonjs" }));
  npmInstall(project, [tarball, ...PINNED.map((n) => `${n}@${installedVersion(n)}`)]);
}

/**
 * `npm install` of a project whose package.json already names longshore (the example, the template):
 * longshore is pointed at `tarball` and the pinned packages at this checkout's versions first.
 */
export function installProject(project: string, tarball: string): void {
  const file = path.join(project, "package.json");
  const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  if (!manifest.dependencies?.longshore) throw new Error(`${file} does not depend on longshore`);
  manifest.dependencies.longshore = `file:${tarball}`;
  for (const group of [manifest.dependencies, manifest.devDependencies ?? {}]) {
    for (const n of PINNED) if (group[n]) group[n] = installedVersion(n);
  }
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2));
  npmInstall(project, []);
}
