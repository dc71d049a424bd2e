/**
 * An environment's desired state, as reviewed in git: which image each slot runs, how many hosts,
 * which slot is live, and how rollouts behave. One YAML file per environment (`longshore.yaml` by
 * default). For the aws driver the same desired state lives in the Pulumi stack config instead.
 */
import { z } from "zod";
import { dnsLabelSchema, imageReferenceSchema } from "./app";

const slotSpec = z.strictObject({
  /** The image this slot runs; null when the slot has no hosts. */
  image: imageReferenceSchema.nullable().default(null),
  /** Hosts in the slot (1-50 on the local driver). */
  size: z.number().int().min(1).max(50).default(2),
});

/** Schema of an environment file. Strict: an unknown key is an error, not ignored. */
export const environmentSchema = z
  .strictObject({
    name: z
      .string()
      // Machine groups are named <name>-<slot>-g<N> and local names stop at 24 characters.
      .regex(/^[a-z][a-z0-9-]{0,11}$/, "must be a lower-case name of 1-12 letters, digits or '-', starting with a letter"),
    driver: z.enum(["local", "aws"]).default("local"),
    app: z.strictObject({
      name: dnsLabelSchema,
      /** The port the application listens on inside its container (and on the host). */
      port: z.number().int().min(1).max(65535).default(8080),
      healthPath: z.string().startsWith("/", "must start with /").default("/healthz"),
    }),
    slots: z.strictObject({ blue: slotSpec.default({ image: null, size: 2 }), green: slotSpec.default({ image: null, size: 2 }) }),
    /** The slot that receives traffic; null before the first rollout. */
    live: z.enum(["blue", "green"]).nullable().default(null),
    rollout: z
      .strictObject({
        healthDeadlineSeconds: z.number().positive().max(3600).default(120),
        soakSeconds: z.number().min(0).max(86_400).default(30),
        drainSeconds: z.number().min(0).max(3600).default(5),
        /** Keep the old slot's hosts after a rollout for an instant rollback. */
        keepPrevious: z.boolean().default(true),
      })
      .default({ healthDeadlineSeconds: 120, soakSeconds: 30, drainSeconds: 5, keepPrevious: true }),
    local: z
      .strictObject({
        /** Where HAProxy listens: loopback only by default. */
        listen: z
          .string()
          .regex(/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|0\.0\.0\.0):\d{1,5}$/, "must be ADDRESS:PORT, e.g. 127.0.0.1:8080")
          .default("127.0.0.1:8080"),
      })
      .default({ listen: "127.0.0.1:8080" }),
  })
  .superRefine((env, ctx) => {
    if (env.live !== null && env.slots[env.live].image === null) {
      ctx.addIssue({ code: "custom", path: ["live"], message: `the live slot (${env.live}) has no image` });
    }
  });

/** A parsed, defaulted environment. */
export type Environment = z.infer<typeof environmentSchema>;
