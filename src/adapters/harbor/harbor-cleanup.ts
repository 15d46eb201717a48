/**
 * Registry clean-up when a pull request closes: remove the PR's tags (`pr-<n>-*`) one by one and
 * delete an artifact only when no other tag points at it (a PR image promoted with a release tag,
 * or shared by digest with another branch's tag, must survive).
 *
 * Planning is pure (`planPrCleanup` in the domain); execution (`executePrCleanup`) goes through a small port
 * that `HarborClient` satisfies, and re-reads an artifact right before deleting it, so a tag added
 * since the listing (a promotion racing the clean-up) keeps it alive.
 */
import type { Logger } from "pino";
import { checkPrNumber, planPrCleanup, type CleanupArtifact, type CleanupPlan } from "../../domain/pr-image-cleanup.js";
import { HarborApiError } from "./harbor-client.js";

/** What clean-up needs from Harbor (`HarborClient` has it). */
export interface HarborCleanupPort {
  listArtifacts(project: string, repository: string, options: { q?: string }): Promise<CleanupArtifact[]>;
  findArtifact(project: string, repository: string, reference: string): Promise<CleanupArtifact | null>;
  /** False when the tag was already gone. */
  deleteTag(project: string, repository: string, reference: string, tag: string): Promise<boolean>;
  /** False when the artifact was already gone. */
  deleteArtifact(project: string, repository: string, reference: string): Promise<boolean>;
}

/** What clean-up did. */
export interface CleanupResult {
  removedTags: Array<{ digest: string; tag: string }>;
  deletedArtifacts: string[];
  /** Artifacts left in place, with the tags that keep them. */
  keptArtifacts: Array<{ digest: string; tags: string[] }>;
  /** Steps that failed; the rest still ran. Messages come from `HarborApiError` (no credentials). */
  failures: Array<{ digest: string; tag?: string; error: string }>;
}

/** Where to clean. */
export interface CleanupTarget {
  project: string;
  repository: string;
}

/** Harbor artifact query narrowing a listing to the PR's images (a substring match; filter again). */
export function prTagQuery(prNumber: number): string {
  checkPrNumber(prNumber);
  return `tags=~pr-${prNumber}-`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Carry out a plan: tags one by one, then each artifact only if it is still untagged. */
export async function executePrCleanup(port: HarborCleanupPort, target: CleanupTarget, plan: CleanupPlan, log: Logger): Promise<CleanupResult> {
  const { project, repository } = target;
  const result: CleanupResult = { removedTags: [], deletedArtifacts: [], keptArtifacts: [], failures: [] };
  for (const step of plan.steps) {
    let tagsGone = true;
    for (const tag of step.prTags) {
      try {
        await port.deleteTag(project, repository, step.digest, tag);
        result.removedTags.push({ digest: step.digest, tag });
      } catch (error: unknown) {
        tagsGone = false;
        result.failures.push({ digest: step.digest, tag, error: message(error) });
        log.warn({ project, repository, digest: step.digest, tag, error: message(error) }, "harbor clean-up could not remove a tag");
      }
    }
    if (!step.deleteArtifact || !tagsGone) {
      if (step.otherTags.length > 0) result.keptArtifacts.push({ digest: step.digest, tags: [...step.otherTags] });
      continue;
    }
    try {
      // Re-read: a tag added since the listing (promotion) must keep the artifact.
      const current = await port.findArtifact(project, repository, step.digest);
      if (current === null) continue;
      if (current.tags.length > 0) {
        result.keptArtifacts.push({ digest: step.digest, tags: [...current.tags] });
        continue;
      }
      await port.deleteArtifact(project, repository, step.digest);
      result.deletedArtifacts.push(step.digest);
    } catch (error: unknown) {
      result.failures.push({ digest: step.digest, error: message(error) });
      log.warn({ project, repository, digest: step.digest, error: message(error) }, "harbor clean-up could not delete an artifact");
    }
  }
  log.info(
    {
      project,
      repository,
      prNumber: plan.prNumber,
      removedTags: result.removedTags.length,
      deletedArtifacts: result.deletedArtifacts.length,
      keptArtifacts: result.keptArtifacts.length,
      failures: result.failures.length,
    },
    "harbor clean-up done",
  );
  return result;
}

/** List the PR's artifacts, plan and execute. A missing repository or project means nothing to do. */
export async function cleanUpPullRequest(port: HarborCleanupPort, target: CleanupTarget, prNumber: number, log: Logger): Promise<CleanupResult> {
  let artifacts: CleanupArtifact[];
  try {
    artifacts = await port.listArtifacts(target.project, target.repository, { q: prTagQuery(prNumber) });
  } catch (error: unknown) {
    if (error instanceof HarborApiError && error.status === 404) {
      log.info({ ...target, prNumber }, "harbor clean-up found no repository");
      return { removedTags: [], deletedArtifacts: [], keptArtifacts: [], failures: [] };
    }
    throw error;
  }
  return executePrCleanup(port, target, planPrCleanup(artifacts, prNumber), log);
}
