/**
 * PR image clean-up on a plain OCI registry (CNCF distribution, zot, GitLab, ECR-compatible …),
 * where there is no artifact API: list the repository's tags, resolve each to its manifest digest,
 * and
 * - delete a manifest only when every tag pointing at it is one of the PR's (`pr-<n>-*`);
 * - for a manifest another tag also uses (a PR image promoted to `release-1.0.0`), delete only the
 *   PR's tags — where the registry can (OCI distribution 1.1); distribution 2.x cannot, and the
 *   tags stay with the artifact (logged).
 * Right before deleting, the tags are listed again so a tag added meanwhile keeps its manifest.
 * Blobs are freed by the registry's own garbage collection (`registry garbage-collect`).
 */
import type { Logger } from "pino";
import { artifactsFromTags, isPrTag, planPrCleanup } from "../../domain/pr-image-cleanup.js";
import type { RegistryCleaner, RegistryCleanupResult } from "../../domain/ports.js";
import type { DistributionClient } from "./distribution-client.js";

export interface DistributionCleanerOptions {
  client: DistributionClient;
  log: Pick<Logger, "info" | "warn">;
  /** HEAD requests in flight at once while resolving tags. Default 8. */
  concurrency?: number;
}

/** `host/path/name` → the registry host and the repository path, checked against the client's host. */
function repositoryPathOf(repositoryRef: string, host: string): string {
  const prefix = `${host}/`;
  if (!repositoryRef.startsWith(prefix)) throw new Error(`image repository ${repositoryRef} is not on registry ${host}`);
  return repositoryRef.slice(prefix.length);
}

/** Map over items with at most `limit` calls in flight. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export class DistributionCleaner implements RegistryCleaner {
  private readonly concurrency: number;

  constructor(private readonly options: DistributionCleanerOptions) {
    this.concurrency = options.concurrency ?? 8;
  }

  async cleanupPullRequest(repositoryRef: string, prNumber: number): Promise<RegistryCleanupResult> {
    const { client, log } = this.options;
    const repository = repositoryPathOf(repositoryRef, client.host);
    const result: RegistryCleanupResult = { removedTags: 0, deletedArtifacts: 0, keptTags: [] };
    const tags = await client.listTags(repository);
    if (!tags.some((tag) => isPrTag(tag, prNumber))) return result;

    const digests = await this.resolve(repository, tags);
    const plan = planPrCleanup(artifactsFromTags(digests), prNumber);
    // A tag pushed since the listing (a promotion racing the close) must keep its manifest.
    const latest = await client.listTags(repository);
    const added = latest.filter((tag) => !digests.has(tag));
    const addedDigests = new Set((await this.resolve(repository, added)).values());

    let tagDeletesUnsupported = false;
    for (const step of plan.steps) {
      if (step.deleteArtifact && !addedDigests.has(step.digest)) {
        if (await client.deleteManifest(repository, step.digest)) result.deletedArtifacts++;
        result.removedTags += step.prTags.length;
        continue;
      }
      for (const tag of step.prTags) {
        const outcome = tagDeletesUnsupported ? "unsupported" : await client.deleteTag(repository, tag);
        if (outcome === "unsupported") {
          tagDeletesUnsupported = true;
          result.keptTags.push(tag);
        } else {
          result.removedTags++;
        }
      }
    }
    if (result.keptTags.length) {
      log.warn(
        { repository: repositoryRef, prNumber, keptTags: result.keptTags },
        "the registry cannot delete a tag without its manifest; PR tags sharing an image with other tags stay",
      );
    }
    log.info({ repository: repositoryRef, prNumber, removedTags: result.removedTags, deletedArtifacts: result.deletedArtifacts }, "registry clean-up done");
    return result;
  }

  /** `tag → digest` for the tags that still exist. */
  private async resolve(repository: string, tags: readonly string[]): Promise<Map<string, string>> {
    const digests = await mapLimited(tags, this.concurrency, (tag) => this.options.client.digestOf(repository, tag));
    const byTag = new Map<string, string>();
    tags.forEach((tag, i) => {
      const digest = digests[i];
      if (digest) byTag.set(tag, digest);
    });
    return byTag;
  }
}
