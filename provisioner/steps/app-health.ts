/**
 * `app.health`: the app answers its health path on this host. Runs on the host with what a
 * minimal Debian host has (bash's /dev/tcp, coreutils' timeout/head/date): no curl. The check is
 * one attempt (a healthy app is left alone and `plan` reports nothing to do); the apply retries
 * every `intervalMs` until `deadlineMs`, and on failure prints the last status line and the start
 * of the body to stderr, which the runner puts in the step's error.
 */
import type { AppSpec } from "../../config/app";
import type { Command } from "../command";
import type { Step } from "../step";
import { renderTemplate } from "../../templates/render";
import type { ProvisionContext } from "./engine-context";

/** Seconds with millisecond precision, as `timeout` and `sleep` take them (`1.5`). */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, "");
}

/** The bash script that probes `http://<host>:<hostPort><path>` until `deadlineMs`. */
export function healthCheckScript(app: Pick<AppSpec, "hostPort" | "health">, options: { host?: string; deadlineMs?: number } = {}): string {
  const h = app.health;
  return renderTemplate("app/health-check.sh", {
    host: options.host ?? "127.0.0.1",
    port: app.hostPort,
    path: h.path,
    expectStatus: h.expectStatus,
    timeoutSeconds: seconds(h.timeoutMs),
    intervalSeconds: seconds(h.intervalMs),
    deadlineMs: options.deadlineMs ?? h.deadlineMs,
  });
}

/** `app.health`: one probe as the check, probes until the deadline as the apply. */
export const appHealthStep: Step<ProvisionContext> = {
  id: "app.health",
  title: "Wait for the app to be healthy",
  plan(ctx) {
    const h = ctx.app.health;
    const once: Command = { argv: ["bash", "-c", healthCheckScript(ctx.app, { deadlineMs: 0 })] };
    const untilDeadline: Command = {
      argv: ["bash", "-c", healthCheckScript(ctx.app)],
      // The script stops itself at the deadline; the margin covers one attempt and a pause.
      timeoutMs: h.deadlineMs + h.timeoutMs + h.intervalMs + 10_000,
    };
    return { check: [once], apply: [untilDeadline], timeoutMs: h.deadlineMs + h.timeoutMs + h.intervalMs + 20_000 };
  },
};
