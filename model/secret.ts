/**
 * Secrets. The environment file never holds a secret's value: it names where the value comes
 * from (a {@link SecretSource}), and the value is read on the controller when an operation starts,
 * held as {@link Sensitive} from then on, and written to hosts only in 0600 files.
 *
 * Two schemas of one concept: {@link secretSourceSchema} is what a user writes; {@link
 * secretValueSchema} is a resolved value (what the provisioner and the Pulumi provider take), with
 * the limits the engine's `--env-file` imposes.
 */
import { z } from "zod";
import { Sensitive } from "../core/sensitive";
import { envVarNameSchema } from "./names";

/** Where a secret's value comes from. Exactly one key. */
export type SecretSource =
  | {
      /** A variable of the operator's environment (the process running longshore or `pulumi up`). */
      env: string;
    }
  | {
      /** A file, relative to the environment file; refused unless only its owner may read it (0600/0400). */
      file: string;
    }
  | {
      /** A command run without a shell (`[pass, show, shop/db]`); its standard output is the value. */
      command: string[];
    }
  | {
      /** A secret of the Pulumi stack's config (`pulumi config set --secret KEY`); read by the `web` program only. */
      pulumi: string;
    };

/** The keys of a secret source, in the order messages list them. */
export const SECRET_SOURCE_KINDS = ["env", "file", "command", "pulumi"] as const;

const NOT_A_VALUE =
  "must be a secret source ({ env: NAME }, { file: PATH } or { command: [PROGRAM, ARGS...] }), never the secret itself";

const sourceObject = z
  .strictObject({
    env: envVarNameSchema.optional(),
    file: z.string().min(1).regex(/^[^\0\n\r]*$/, "must be a path").optional(),
    command: z
      .array(z.string().regex(/^[^\0]*$/, "must not contain a NUL character"))
      .min(1, "must name a program: [PROGRAM, ARGS...]")
      .refine((a) => a[0] !== "", "must name a program: [PROGRAM, ARGS...]")
      .optional(),
    pulumi: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_.:-]*$/, "must be a Pulumi config key such as dbPassword or web:dbPassword")
      .optional(),
  })
  .superRefine((s, ctx) => {
    const set = SECRET_SOURCE_KINDS.filter((k) => s[k] !== undefined);
    if (set.length === 0) ctx.addIssue({ code: "custom", message: NOT_A_VALUE });
    if (set.length > 1) ctx.addIssue({ code: "custom", message: `must have exactly one of env, file, command or pulumi (has ${set.join(" and ")})` });
  });

/**
 * A secret source as the environment file writes it. A plain value (`DB_PASSWORD: hunter2`) is
 * refused without repeating it: secrets live in the operator's environment, a 0600 file, a
 * password manager or Pulumi's encrypted config, never in a file in git.
 */
export const secretSourceSchema = z.preprocess((value, ctx) => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: NOT_A_VALUE, input: undefined });
    return z.NEVER;
  }
  return value;
}, sourceObject) as unknown as z.ZodType<SecretSource, unknown>;

/** Describes a source without its value, for `check` and reports: `env SHOP_DB_PASSWORD`. */
export function describeSecretSource(source: SecretSource): string {
  if ("env" in source) return `env ${source.env}`;
  if ("file" in source) return `file ${source.file}`;
  if ("command" in source) return `command ${source.command[0]}`;
  return `pulumi ${source.pulumi}`;
}

/**
 * The longest `KEY=value` line the engine's `--env-file` reader takes safely. Docker reads env files
 * with a line scanner whose buffer is 64 KiB (`bufio.Scanner: token too long` above it); longshore
 * stays well under it.
 */
export const MAX_ENV_LINE_BYTES = 32 * 1024;
/** The largest env file (plain env and secrets together): a process's environment must fit in ARG_MAX (2 MiB) with room to spare. */
export const MAX_ENV_FILE_BYTES = 512 * 1024;

/**
 * The problem with env and secrets together as one env file (`KEY=value` lines), or null: the
 * one place the total is counted, for the app's schema and for secrets read from their sources.
 */
export function envFileSizeProblem(lines: Iterable<readonly [string, string]>): string | null {
  let total = 0;
  for (const [key, value] of lines) total += Buffer.byteLength(`${key}=${value}\n`);
  return total > MAX_ENV_FILE_BYTES ? `env and secrets take ${total} bytes as an env file; the limit is ${MAX_ENV_FILE_BYTES} bytes (512 KiB)` : null;
}

/** Problems with one env value (plain or secret), without ever repeating it. */
export function envValueProblem(key: string, value: string): string | null {
  if (/[\r\n\0]/.test(value)) return "must not contain a newline or NUL (the engine's env file holds one variable per line)";
  const line = Buffer.byteLength(`${key}=${value}\n`);
  if (line > MAX_ENV_LINE_BYTES) return `is ${line} bytes as an env file line; the limit is ${MAX_ENV_LINE_BYTES} bytes (32 KiB)`;
  return null;
}

/**
 * A resolved secret value: kept as {@link Sensitive}, with the same limits as plain env values.
 * Messages never show it. (Clear strings are accepted for the Pulumi provider's input, which
 * Pulumi hands over unwrapped; they are wrapped at once.)
 */
export const secretValueSchema = z
  .union([z.string(), z.instanceof(Sensitive)], "must be a string")
  .transform((v) => (v instanceof Sensitive ? v : new Sensitive(v)))
  .superRefine((v, ctx) => {
    if (v.reveal() === "") ctx.addIssue({ code: "custom", message: "is empty" });
    // The key is not known here: the line length is checked with the key by the app schema.
    if (/[\r\n\0]/.test(v.reveal())) ctx.addIssue({ code: "custom", message: "must not contain a newline or NUL (the engine's env file holds one variable per line)" });
  });
