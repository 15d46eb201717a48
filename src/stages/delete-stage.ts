/**
 * delete: remove the PR's preview from the targets and forget it.
 */
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
  return { removed };
}
