/**
 * The app's HTTP health check: one shape read by every checker. The rollout's health gate and
 * soak probe each host with it, HAProxy checks servers with it, `longshore provision` waits on it
 * on the host, and the AWS target groups are derived from it (within the limits AWS allows).
 */
import { z } from "zod";

/** Schema of `app.health`. */
export const healthSchema = z.strictObject({
  /** The path probed with GET. @default "/healthz" */
  path: z
    .string()
    .regex(/^\/[\x21-\x7e]*$/, "must start with / and contain no spaces or control characters")
    .refine((p) => !p.includes("#"), "must not contain # (a fragment is never sent to the app)")
    .max(1024)
    .default("/healthz"),
  /** The status a healthy app answers. @default 200 */
  status: z.number().int().min(100).max(599).default(200),
  /** Seconds between two probes of a host. @default 1 */
  intervalSeconds: z.number().min(0.2).max(300).default(1),
  /** Seconds one probe may take (connect and response). @default 2 */
  timeoutSeconds: z.number().min(0.1).max(120).default(2),
  /** Consecutive healthy probes that make a host healthy (the gate's rounds, HAProxy's `rise`). @default 2 */
  healthyRounds: z.number().int().min(1).max(10).default(2),
});

/** A validated health check, defaults filled in. */
export type HealthSpec = z.output<typeof healthSchema>;

/** The defaults, as the schema fills them in. */
export const DEFAULT_HEALTH: HealthSpec = healthSchema.parse({});

/**
 * The same check within the limits of an AWS target group: interval 5-300 s, timeout 2-120 s and
 * below the interval, thresholds 2-10. Pure.
 */
export function targetGroupHealth(h: HealthSpec): { intervalSeconds: number; timeoutSeconds: number; healthyThreshold: number; matcher: string } {
  const intervalSeconds = Math.min(300, Math.max(5, Math.ceil(h.intervalSeconds)));
  const timeoutSeconds = Math.min(intervalSeconds - 1, Math.min(120, Math.max(2, Math.ceil(h.timeoutSeconds))));
  return { intervalSeconds, timeoutSeconds, healthyThreshold: Math.min(10, Math.max(2, h.healthyRounds)), matcher: String(h.status) };
}
