/**
 * The tag flow's stages: build (or promote) the image of a tagged commit, and deploy it to the
 * tag's environment.
 */
import type { EnvironmentConfig, PreviewConfig } from "../config/repo-config.js";
import { environmentPreviewKeyOf } from "../domain/preview-key.js";
import { imageTagOfGitTag } from "../domain/tag-rules.js";
import { repoKeyOf, type ImageRecord, type ReleaseSpec } from "../domain/records.js";
import type { StageFacts } from "../pipeline/run-journal.js";
import { buildCommit, failedBuild, imageRepositoryOf, inspectArtifact, publishImage, unscannedGateFailure } from "./build-stage.js";
import { failureFrom, previewAddress, tailLines, type StageContext, type StageOutcome } from "./stage-context.js";

/** What release stages get: a stage context without a pull request. */
export type ReleaseContext = Omit<StageContext, "pull"> & { release: ReleaseSpec };

function repositoryOf(ctx: ReleaseContext): string {
  return imageRepositoryOf(ctx.deps, ctx.run.repo);
}

/** The image reference a release tag gets. */
export function releaseImageRef(ctx: ReleaseContext): string {
  return `${repositoryOf(ctx)}:${imageTagOfGitTag(ctx.release.tag)}`;
}

/** Push a promoted tag (no scan: the artifact was scanned when it was built). */
async function pushTag(ctx: ReleaseContext, ref: string, fallbackDigest: string): Promise<ImageRecord> {
  if (!ctx.deps.registry) return { ref, digest: fallbackDigest, pushed: false };
  const { digest } = await ctx.deps.builder.push(ref, ctx.signal, ctx.onLog);
  return { ref, digest, pushed: true };
}

/**
 * Build the tagged commit, or — when an image of exactly this commit exists — promote it by adding
 * the tag (no rebuild). The image is also tagged `sha-<commit>`.
 */
export async function releaseBuildStage(ctx: ReleaseContext): Promise<StageOutcome> {
  const { run, deps } = ctx;
  const repoKey = repoKeyOf(run.repo);
  const ref = releaseImageRef(ctx);
  const shaRef = `${repositoryOf(ctx)}:sha-${run.sha}`;
  try {
    for (const existing of await deps.lookup.imagesOf(repoKey, run.sha)) {
      // Harbor adds the tag server-side; otherwise the local image is tagged and pushed (same digest).
      if (existing.pushed && deps.artifacts && (await deps.artifacts.promote(existing.ref, ref))) {
        // Tag the local copy too, so a deploy on this engine needs no pull.
        if (await deps.builder.hasImage(existing.ref)) await deps.builder.tag(existing.ref, ref);
        const image: ImageRecord = { ref, digest: existing.digest, pushed: true };
        const facts: StageFacts = { images: [image] };
        // The promoted artifact meets the gate again: a gated alpha never slips into production.
        const { info, scan } = await inspectArtifact(ctx, deps.artifacts, ref);
        if (!info.gate.pass) return { ok: false, detail: { image, ...(scan ? { scan } : {}), reason: `vulnerability gate: ${info.gate.reason}` }, facts };
        return { ok: true, detail: { image, ...(scan ? { scan } : {}), reused: true, reason: `promoted from ${existing.ref} in the registry without a rebuild` }, facts };
      }
      if (!(await deps.builder.hasImage(existing.ref))) continue;
      try {
        await deps.builder.tag(existing.ref, ref);
      } catch (err) {
        // The PR's clean-up may have removed the image since: build instead.
        if (!(await deps.builder.hasImage(existing.ref))) continue;
        throw err;
      }
      const image = await pushTag(ctx, ref, existing.digest);
      const facts: StageFacts = { images: [image] };
      const unscanned = unscannedGateFailure(ctx);
      if (unscanned) return { ok: false, detail: { image, reason: unscanned }, facts };
      return { ok: true, detail: { image, reused: true, reason: `promoted from ${existing.ref} without a rebuild` }, facts };
    }
    const outcome = await buildCommit(ctx, ref, { "org.opencontainers.image.version": ctx.release.tag });
    if (!outcome.ok) return failedBuild(outcome, deps.redact);
    const published = await publishImage(ctx, ref, outcome.imageId);
    const { image, scan } = published;
    await deps.builder.tag(ref, shaRef);
    const shaImage = await pushTag(ctx, shaRef, outcome.imageId);
    const facts: StageFacts = { images: [shaImage, image] };
    if (published.gateFailure) return { ok: false, detail: { image, ...(scan ? { scan } : {}), reason: published.gateFailure }, facts };
    return { ok: true, detail: { image, ...(scan ? { scan } : {}), logTail: tailLines(outcome.logTail.join("\n"), 10, deps.redact) }, facts };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}

/** Preview settings with an environment's overrides applied. */
export function environmentPreview(preview: PreviewConfig, env: EnvironmentConfig | undefined): PreviewConfig {
  if (!env) return preview;
  return {
    ...preview,
    target: env.target ?? preview.target,
    port: env.port ?? preview.port,
    healthPath: env.healthPath ?? preview.healthPath,
    env: { ...preview.env, ...env.env },
    values: { ...preview.values, ...env.values },
  };
}

/** Deploy the release image to its environment and record what runs there. */
export async function releaseDeployStage(ctx: ReleaseContext): Promise<StageOutcome> {
  const { run, config, deps, signal, release } = ctx;
  const image = ctx.earlier.build?.image;
  if (!image) return { ok: false, detail: { reason: "no image was built for this tag" } };
  const envConfig = config.environments[release.environment];
  const preview = environmentPreview(config.preview, envConfig);
  const target = deps.targets[preview.target];
  if (!target) return { ok: false, detail: { reason: `preview target '${preview.target}' is not enabled on this berth server` } };
  const key = environmentPreviewKeyOf(run.repo, release.environment, envConfig?.namespace);
  try {
    const result = await target.deploy({ key, sha: run.sha, runId: run.id, image: image.ref, preview, signal, ...(ctx.onLog ? { onLog: ctx.onLog } : {}) });
    const { url, upstream } = previewAddress(deps, target, key, result);
    return {
      ok: true,
      detail: { preview: { url, internalUrl: result.internalUrl } },
      facts: { environment: { key: run.prKey, repo: run.repo, environment: release.environment, tag: release.tag, sha: run.sha, image, url, ...(upstream ? { upstream } : {}), target: target.kind } },
    };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}
