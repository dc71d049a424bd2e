/**
 * Who runs longshore, for the audit log: `$LONGSHORE_OPERATOR` (a CI job sets it), else git's
 * `user.email` as seen from the environment file's directory (the audit log is committed next to
 * it), else user@host. Resolved here, in cli/, and passed down: nothing below cli/ reads the
 * process environment or guesses an identity.
 */
import { execFile } from "node:child_process";
import * as os from "node:os";
import type { CliDeps } from "./deps";

/** The variable that names the operator outright. */
export const OPERATOR_VARIABLE = "LONGSHORE_OPERATOR";

/** The operator's name for an environment whose file is in `dir`. */
export async function operatorOf(deps: Pick<CliDeps, "env" | "gitUserEmail" | "userAtHost">, dir: string): Promise<string> {
  const named = deps.env[OPERATOR_VARIABLE]?.trim();
  if (named) return named;
  const email = (await deps.gitUserEmail(dir))?.trim();
  if (email) return email;
  return deps.userAtHost();
}

/**
 * `git config --get user.email` run in `dir` (the repository's setting, else the global one), or
 * null when git is missing, the setting is unset, or git takes longer than 5 s.
 */
export function gitUserEmail(dir: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("git", ["config", "--get", "user.email"], { cwd: dir, timeout: 5_000, encoding: "utf8" }, (err, stdout) => {
      const email = stdout?.trim();
      resolve(err || !email ? null : email);
    });
  });
}

/** This computer's login and host name, `user@host`: the operator of last resort. */
export function userAtHost(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}
