/**
 * Builds part of longshore with the project's own compiler settings into a temporary directory, the
 * way `npm run build` lays out `dist/` (CommonJS, one .js per .ts, the handlebars templates next to
 * templates/render.js), so tests can load what Pulumi loads: modules required by path with Node's
 * own loader, which cannot load the .ts sources vitest runs.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

/** A built tree: `file("provisioner/apply-host")` is the built module's path (no extension, as require takes it). */
export interface CompiledTree {
  /** The directory that mirrors the repository (`<out>/provisioner/apply-host.js`...). */
  outDir: string;
  file(relative: string): string;
  /** Node's require of a built module. */
  load<T>(relative: string): T;
  remove(): void;
}

/**
 * Compiles `entries` (repository-relative .ts files) and everything they import, statically or by
 * `import()` or `import type`, with tsconfig.json's options. Takes a few seconds.
 */
export function compileTree(entries: readonly string[], prefix = "ls-build"): CompiledTree {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const outDir = path.join(dir, "out");
  try {
    // Built modules resolve their packages (zod, ssh2, @pulumi/pulumi) through this link.
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: path.join(ROOT, "tsconfig.json"),
        compilerOptions: { rootDir: ROOT, outDir, sourceMap: false, noEmit: false },
        files: entries.map((e) => path.join(ROOT, e)),
        include: [],
      }),
    );
    execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(dir, "tsconfig.json")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    // tsc does not copy the templates; templates/render.js looks for them next to itself.
    fs.cpSync(path.join(ROOT, "templates"), path.join(outDir, "templates"), {
      recursive: true,
      filter: (src) => fs.statSync(src).isDirectory() || src.endsWith(".hbs"),
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    const err = e as { stdout?: Buffer; message: string };
    throw new Error(`compiling ${entries.join(", ")} failed: ${err.stdout?.toString() || err.message}`);
  }
  return {
    outDir,
    file: (relative) => path.join(outDir, relative),
    load: <T>(relative: string) => require(path.join(outDir, relative)) as T,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
