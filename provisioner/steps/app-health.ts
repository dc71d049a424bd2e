/**
 * `app.health`: the app answers its health path on this host. Runs on the host with what a
 * minimal Debian host has (bash's /dev/tcp, coreutils' timeout/head/date): no curl. The check is
 * one attempt (a healthy app is left alone and `plan` reports nothing to do); the apply retries
 * every `app.health.intervalSeconds` until the deadline (`rollout.healthDeadlineSeconds`), and on
 * failure prints the last status line and the start of the body to stderr, which the runner puts
 * in the step's error.
 */
import { hostPortOf, type ResolvedApp } from "../../model/app";
import type { Command } from "../command";
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import type { ProvisionContext } from "./engine-context";

/** Seconds with millisecond precision, as `timeout` and `sleep` take them (`1.5`). */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, "");
}

/** The bash script that probes `http://<host>:<hostPort><path>` until `deadlineMs` (0: once). */
export function healthCheckScript(app: Pick<ResolvedApp, "port" | "hostPort" | "health">, options: { host?: string; deadlineMs: number }): string {
  const h = app.health;
  return renderTemplate("app/health-check.sh", {
    host: options.host ?? "127.0.0.1",
    port: hostPortOf(app),
    path: h.path,
    expectStatus: h.status,
    timeoutSeconds: seconds(h.timeoutSeconds * 1000),
    intervalSeconds: seconds(h.intervalSeconds * 1000),
    deadlineMs: options.deadlineMs,
  });
}

/** `app.health`: one probe as the check, probes until the deadline as the apply. */
export const appHealthStep: Step<ProvisionContext> = {
  id: "app.health",
  title: "Wait for the app to be healthy",
  plan(ctx) {
    const h = ctx.app.health;
    const margin = (h.timeoutSeconds + h.intervalSeconds) * 1000;
    const once: Command = { argv: ["bash", "-c", healthCheckScript(ctx.app, { deadlineMs: 0 })] };
    const untilDeadline: Command = {
      argv: ["bash", "-c", healthCheckScript(ctx.app, { deadlineMs: ctx.healthDeadlineMs })],
      // The script stops itself at the deadline; the margin covers one attempt and a pause.
      timeoutMs: ctx.healthDeadlineMs + margin + 10_000,
    };
    return { check: [once], apply: [untilDeadline], timeoutMs: ctx.healthDeadlineMs + margin + 20_000 };
  },
};
