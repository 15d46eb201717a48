import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 120_000,
    // Integration tests share one Docker engine and registry; files run one at a time there.
    fileParallelism: false,
    pool: "forks",
  },
});
