/**
 * The packed longshore package for integration tests: `npm pack` of a copy of this checkout (so its
 * build does not touch this checkout's dist/), and projects with that tarball unpacked into
 * node_modules/longshore the way npm lays it out, every other package linked from this checkout's
 * node_modules (no network).
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

/** A project with the packed longshore in node_modules and every other package linked from this checkout's. */
export function installInto(project: string, tarball: string): void {
  const modules = path.join(project, "node_modules");
  fs.mkdirSync(path.join(modules, "longshore"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", path.join(modules, "longshore"), "--strip-components=1"]);
  for (const name of fs.readdirSync(MODULES)) {
    if (name !== "longshore" && !fs.existsSync(path.join(modules, name))) fs.symlinkSync(path.join(MODULES, name), path.join(modules, name));
  }
}
