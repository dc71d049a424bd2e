/**
 * Text files and shell scripts written to hosts come from handlebars templates in this folder
 * (`templates/<area>/<file>.hbs`), compiled in strict mode: a variable the data lacks is an error,
 * never an empty string that would silently produce a broken unit or script. Output is not HTML, so
 * nothing is HTML-escaped; anything interpolated into shell goes through `{{shq value}}`, which calls
 * the project's one quoting function. JSON files are never templated: see `json.ts`.
 */
import { readFileSync, existsSync } from "node:fs";
import * as path from "node:path";
import Handlebars from "handlebars";
import { quoteArg } from "../core/quote";
import { isSensitive } from "../core/sensitive";

/** Thrown when a template is missing or its data does not fit it (a programming error, not user input). */
export class TemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`template ${template}: ${message}`, options);
    this.name = "TemplateError";
  }
}

const hbs = Handlebars.create();

/**
 * `{{shq value}}`: one shell word. Refuses secrets (a template is the wrong place for one: secrets
 * travel on stdin or in 0600 files) and anything that is not a string or a number, so `[object
 * Object]` or `[redacted]` can never end up in a script.
 */
hbs.registerHelper("shq", (value: unknown, options: unknown) => {
  if (options === undefined) throw new Error("shq needs exactly one argument");
  if (isSensitive(value)) throw new Error("shq refuses a Sensitive value: pass secrets on stdin or in a 0600 file");
  if (typeof value === "number" && Number.isFinite(value)) return quoteArg(String(value));
  // Strict mode checks plain {{lookups}}, not a helper's arguments: catch the missing one here.
  if (value === undefined) throw new Error("shq got undefined: the variable it was given is missing from the data");
  if (typeof value !== "string") throw new Error(`shq needs a string or a number, got ${value === null ? "null" : typeof value}`);
  return quoteArg(value);
});

/** `{{#each (shqAll list)}}` is awkward; `{{shqJoin list}}` quotes each word and joins with spaces. */
hbs.registerHelper("shqJoin", (list: unknown) => {
  if (!Array.isArray(list)) throw new Error("shqJoin needs an array");
  return list
    .map((v) => {
      if (typeof v !== "string") throw new Error(`shqJoin needs strings, got ${typeof v}`);
      return quoteArg(v);
    })
    .join(" ");
});

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/**
 * Where the `.hbs` files are: next to this module when run from source (vitest, ts-node), or the
 * source tree's `templates/` when run from `dist/templates/render.js` (tsc does not copy them).
 */
function templatesDir(name: string): string {
  const candidates = [__dirname, path.resolve(__dirname, "..", "..", "templates")];
  for (const dir of candidates) if (existsSync(path.join(dir, `${name}.hbs`))) return dir;
  throw new TemplateError(name, `no file ${name}.hbs in ${candidates.join(" or ")}`);
}

function load(name: string): HandlebarsTemplateDelegate {
  const hit = compiled.get(name);
  if (hit) return hit;
  if (!/^[a-z0-9-]+(\/[a-z0-9.-]+)*$/.test(name)) throw new TemplateError(name, "invalid template name");
  const file = path.join(templatesDir(name), `${name}.hbs`);
  const fn = hbs.compile(readFileSync(file, "utf8"), { strict: true, noEscape: true });
  compiled.set(name, fn);
  return fn;
}

/**
 * Renders template text (same helpers, same strict mode) under a name used in errors. For
 * templates that are not files, and for tests of the helpers.
 */
export function renderTemplateText(source: string, data: Record<string, unknown>, name = "(inline)"): string {
  let fn: HandlebarsTemplateDelegate;
  try {
    fn = hbs.compile(source, { strict: true, noEscape: true });
  } catch (e) {
    throw new TemplateError(name, e instanceof Error ? e.message : String(e), { cause: e });
  }
  return run(name, fn, data);
}

function run(name: string, fn: HandlebarsTemplateDelegate, data: Record<string, unknown>): string {
  try {
    return fn(data);
  } catch (e) {
    throw new TemplateError(name, e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/**
 * Renders `templates/<name>.hbs` with `data`. Throws {@link TemplateError} naming the template when
 * a variable is missing (strict mode) or a helper refuses a value.
 *
 * @example renderTemplate("engine/docker-hosts.conf", { dockerd: "/usr/sbin/dockerd" })
 */
export function renderTemplate(name: string, data: Record<string, unknown>): string {
  return run(name, load(name), data);
}
