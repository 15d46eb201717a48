import { defineConfig } from "vitest/config";

/** Files that drive the real helm CLI: they run once with Helm 3 and once more with Helm 4. */
const HELM_FILES = ["test/integration/helm-chart.test.ts", "test/integration/kubernetes-target.test.ts", "test/integration/kubernetes-pipeline.test.ts", "test/integration/berth-chart.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 120_000,
    // Integration tests share one Docker engine and registry; files run one at a time there.
    fileParallelism: false,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "berth", include: ["test/**/*.test.ts"], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "helm4", include: HELM_FILES, env: { BERTH_TEST_HELM_MAJOR: "4" }, sequence: { groupOrder: 1 } } },
    ],
  },
});
