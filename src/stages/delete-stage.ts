/**
 * delete: remove the PR's preview from the targets and forget it.
 */
import { imageRepositoryOf } from "./build-stage.js";
import { previewKeyOf } from "./deploy-stage.js";
import type { StageDeps } from "./stage-context.js";
import type { RunRecord } from "../pipeline/records.js";

/**
 * Remove every preview object of the run's PR from every enabled target (the config may have
 * changed target between deploys, and removal is idempotent: not found is success).
 */
export async function deletePreview(run: RunRecord, deps: StageDeps): Promise<{ removed: number }> {
  const key = previewKeyOf(run);
  let removed = 0;
  for (const target of Object.values(deps.targets)) {
    if (target) removed += (await target.remove(key)).removed;
  }
  deps.store.patchPull(run.prKey, (p) => ({ ...p, preview: undefined }));
  // The PR's image tags go too, unless the repo keeps them (cleanup.registry: false).
  const config = deps.store.latestPipelineRuns(run.prKey, 1)[0]?.config;
  if (deps.artifacts && deps.registry && config?.cleanup.registry !== false) {
    const result = await deps.artifacts.cleanupPullRequest(imageRepositoryOf(deps.registry, run.repo), run.prNumber);
    deps.log.info({ prKey: run.prKey, ...result }, "registry tags of the PR removed");
  }
  return { removed };
}
