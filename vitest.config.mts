import { defineConfig } from "vitest/config";

/**
 * Three projects, cheapest first. `forks` (the default pool) is kept on purpose: Pulumi's closure
 * serialisation, which the dynamic provider depends on, breaks under the `threads` pool.
 */
export default defineConfig({
  test: {
    pool: "forks",
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          // e2e files share the bridge, HAProxy and the template cache: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
