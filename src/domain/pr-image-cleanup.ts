/**
 * Which image tags belong to a pull request, and — from what a registry holds — which tags go and
 * which artifacts may be deleted when the PR closes. Pure; the Harbor and plain-registry clean-ups
 * and the local image clean-up all decide with these.
 */

/** An artifact (manifest) of a repository with the tags pointing at it. */
export interface CleanupArtifact {
  digest: string;
  tags: readonly string[];
}

/** One artifact carrying PR tags. */
export interface CleanupStep {
  digest: string;
  /** The PR's tags on it, removed one by one. */
  prTags: string[];
  /** Tags that are not the PR's; they keep the artifact. */
  otherTags: string[];
  /** True when only PR tags point at the artifact. */
  deleteArtifact: boolean;
}

/** The clean-up of one PR in one repository. */
export interface CleanupPlan {
  prNumber: number;
  steps: CleanupStep[];
}

export function checkPrNumber(prNumber: number): void {
  if (!Number.isSafeInteger(prNumber) || prNumber <= 0) throw new Error(`invalid pull request number ${String(prNumber)}`);
}

/** True for the PR's image tags: `pr-<n>-<anything>` (so `pr-1-…` never matches PR 12's `pr-12-…`). */
export function isPrTag(tag: string, prNumber: number): boolean {
  checkPrNumber(prNumber);
  const prefix = `pr-${prNumber}-`;
  return tag.startsWith(prefix) && tag.length > prefix.length;
}

/** From the artifacts of a repository, which tags go and which artifacts may be deleted. */
export function planPrCleanup(artifacts: readonly CleanupArtifact[], prNumber: number): CleanupPlan {
  checkPrNumber(prNumber);
  const steps: CleanupStep[] = [];
  for (const artifact of artifacts) {
    const prTags = artifact.tags.filter((tag) => isPrTag(tag, prNumber));
    if (prTags.length === 0) continue;
    const otherTags = artifact.tags.filter((tag) => !isPrTag(tag, prNumber));
    steps.push({ digest: artifact.digest, prTags, otherTags, deleteArtifact: otherTags.length === 0 });
  }
  return { prNumber, steps };
}

/** Group `tag → digest` pairs into artifacts (plain registries list tags, not artifacts). */
export function artifactsFromTags(digestOfTag: ReadonlyMap<string, string>): CleanupArtifact[] {
  const tagsOf = new Map<string, string[]>();
  for (const [tag, digest] of digestOfTag) {
    const tags = tagsOf.get(digest) ?? [];
    tags.push(tag);
    tagsOf.set(digest, tags);
  }
  return [...tagsOf].map(([digest, tags]) => ({ digest, tags }));
}
