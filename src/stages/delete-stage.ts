/**
 * delete: remove the PR's preview from the targets and forget it; when the PR is closed, its
 * images go too (registry tags and the build engine's local tags).
 */
import { imageOwnerLabels, imageRepositoryOf } from "./build-stage.js";
import type { StageDeps, StageOutcome } from "./stage-context.js";
import { previewKeyOf } from "../domain/preview-key.js";
import type { Notice, RunRecord } from "../domain/records.js";

/** What a delete run did, for the status comment. */
export interface DeleteOutcome {
  /** Preview objects removed (containers, services, namespaces …). */
  removed: number;
  /** One line on the PR's images, when they were cleaned up. */
  images?: string;
  /** Clean-up steps that failed (the preview itself is gone). */
  problems: string[];
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "failed";
}

/**
 * Remove every preview object of the run's PR from every enabled target (the config may have
 * changed target between deploys, and removal is idempotent: not found is success). A closed PR
 * (not `/delete`, after which `/deploy` may reuse the image) also loses its images, unless the
 * repo keeps them (`cleanup.registry: false`).
 */
export async function deletePreview(run: RunRecord, deps: StageDeps): Promise<DeleteOutcome> {
  const key = previewKeyOf(run.repo, run.prNumber);
  let removed = 0;
  // Every target is tried even when one fails (an engine down, a namespace that is not the repo's),
  // so one refusal never leaves the other targets' objects running.
  const failures: string[] = [];
  for (const target of Object.values(deps.targets)) {
    if (!target) continue;
    try {
      removed += (await target.remove(key)).removed;
    } catch (err) {
      failures.push(`${target.kind}: ${deps.redact(message(err))}`);
    }
  }
  if (failures.length) throw new Error(`the preview could not be removed from ${failures.join("; ")}`);
  const outcome: DeleteOutcome = { removed, problems: [] };
  // The PR is still open: its images stay for a `/deploy` without a rebuild.
  if (run.trigger === "/delete" || run.trigger === "expired") return outcome;

  const config = await deps.lookup.latestConfig(run.prKey);
  if (config?.cleanup.registry === false) return outcome;
  const repository = imageRepositoryOf(deps, run.repo);
  const parts: string[] = [];
  if (deps.registry && deps.registryCleaner) {
    try {
      const result = await deps.registryCleaner.cleanupPullRequest(repository, run.prNumber);
      deps.log.info({ prKey: run.prKey, ...result }, "registry tags of the PR removed");
      parts.push(`${result.removedTags} registry tag(s) removed`);
      if (result.keptTags.length) parts.push(`${result.keptTags.length} kept (the registry cannot untag an image other tags share)`);
    } catch (err) {
      outcome.problems.push(`registry clean-up failed: ${deps.redact(message(err))}`);
    }
  }
  try {
    const local = await deps.builder.removePullRequestImages(repository, run.prNumber, imageOwnerLabels(deps, run.repo));
    parts.push(`${local.removed.length} local image tag(s) removed`);
    if (local.kept.length) parts.push(`${local.kept.length} kept because a container still uses them`);
    if (local.foreign.length) parts.push(`${local.foreign.length} left because another repository or berth built them`);
  } catch (err) {
    outcome.problems.push(`local image clean-up failed: ${deps.redact(message(err))}`);
  }
  if (parts.length) outcome.images = parts.join(", ");
  return outcome;
}

/**
 * The stage of a delete run: remove the preview (see {@link deletePreview}); the journal forgets it
 * and the comment says what went. When a target refuses, the preview record stays (it still runs
 * there) and the comment says why.
 */
export async function deleteStage(ctx: { run: RunRecord; deps: StageDeps }): Promise<StageOutcome> {
  const { run, deps } = ctx;
  try {
    const { removed, images, problems } = await deletePreview(run, deps);
    const lines = [
      run.trigger === "/delete"
        ? "The preview was deleted by `/delete`. Comment `/deploy` to start it again."
        : run.trigger === "expired"
          ? "The preview expired (`preview.expiresAfter` after the last push) and was removed. Comment `/deploy` to start it again; `/keep` keeps a preview 7 more days."
          : "The PR is closed: its preview is gone.",
    ];
    if (images) lines.push(`Images: ${images}.`);
    lines.push(...problems.map((problem) => `Clean-up incomplete: ${problem}`));
    const notice: Notice = { kind: "deleted", text: lines.join("\n") };
    deps.log.info({ runId: run.id, prKey: run.prKey, removed, images, problems }, "preview deleted");
    return { ok: true, detail: { reason: `${removed} preview object(s) removed` }, facts: { previewRemoved: true, notice } };
  } catch (err) {
    const reason = deps.redact(err instanceof Error ? err.message : String(err));
    deps.log.error({ runId: run.id, err: reason }, "preview deletion failed");
    return { ok: false, detail: { reason }, facts: { notice: { kind: "deleted", text: `Removing the preview failed: ${reason.split("\n")[0]}` } } };
  }
}
