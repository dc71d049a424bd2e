/**
 * `audit.append`: one JSON line per applied plan in `/var/log/longshore/audit.log` on the host:
 * which app, version and slot, the plan hash, the image, when and who. The time and the user come
 * from the context (plans never read the clock). The check looks for a line with the same app,
 * version, slot and plan, so a re-run of the same plan adds nothing and `plan` shows nothing to do.
 */
import type { Step } from "../step";
import { HOST_PATHS, type ProvisionContext } from "./engine-context";

/** The audit line (without newline) and the prefix that identifies its plan. */
export function auditLine(ctx: ProvisionContext): { line: string; key: string } {
  // Key order is fixed by construction: identity first, so the prefix identifies the plan.
  const identity = { app: ctx.app.name, version: ctx.release, slot: ctx.slot, plan: ctx.planHash ?? null };
  const image = ctx.image.source === "registry" ? ctx.image.ref : ctx.image.imageId;
  const line = JSON.stringify({ ...identity, image, when: ctx.now, who: ctx.auditUser });
  const key = JSON.stringify(identity).slice(0, -1) + ",";
  return { line, key };
}

/** `audit.append`: record this plan on the host, once. */
export const auditAppendStep: Step<ProvisionContext> = {
  id: "audit.append",
  title: "Record the deployment in the host's audit log",
  plan(ctx) {
    const { line, key } = auditLine(ctx);
    const has = { argv: ["grep", "-qF", "--", key, HOST_PATHS.auditLog], sudo: true };
    return {
      check: [has],
      apply: [
        {
          argv: ["sh", "-c", 'umask 027 && mkdir -p "$(dirname "$1")" && cat >> "$1"', "sh", HOST_PATHS.auditLog],
          sudo: true,
          stdin: `${line}\n`,
        },
      ],
      verify: [has],
      timeoutMs: 30_000,
    };
  },
};
