import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
    // In-process gateways log as JSON to stderr; tests that read logs capture them (configureLogging).
    // Child processes get their own level (test/helpers/child-gateway.ts).
    env: { KT_LOG_LEVEL: "error" },
  },
});
