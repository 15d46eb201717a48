/**
 * build: fetch the exact head commit, build the image, push it, record the digest.
 */
import { imageRepository, prImageTag } from "../domain/naming.js";
import type { ArtifactInfo, ArtifactRegistry, BuildOutcome } from "../domain/ports.js";
import { repoPathOf } from "../domain/preview-key.js";
import type { Redactor } from "../domain/redact.js";
import type { RepoRef } from "../domain/types.js";
import type { ImageRecord, StageDetail } from "../domain/records.js";
import { composeBuildStage } from "./compose-stages.js";
import { failureFrom, tailLines, type StageContext, type StageDeps, type StageOutcome } from "./stage-context.js";

/** Where images live when no registry is configured: the local engine only. */
const LOCAL_PREFIX = "berth-local";

/**
 * Image repository of a repo: its slug hashes the instance, code host and full name, so mirrors
 * on two hosts, look-alike names (`x-app`, `x.app`) and two berths on one registry never share one.
 */
export function imageRepositoryOf(deps: Pick<StageDeps, "registry" | "instance">, repo: Pick<RepoRef, "host" | "owner" | "name">): string {
  return imageRepository(deps.registry ?? LOCAL_PREFIX, repo, deps.instance);
}

/** Labels that say which repository and berth installation built an image; clean-up touches only those. */
export function imageOwnerLabels(deps: Pick<StageDeps, "instance">, repo: Pick<RepoRef, "host" | "owner" | "name">): Record<string, string> {
  return {
    "dev.berth.repository": repoPathOf(repo),
    "dev.berth.host": repo.host,
    "dev.berth.instance": deps.instance,
  };
}

/** Image reference of a PR commit. */
export function prImageRef(deps: Pick<StageDeps, "registry" | "instance">, repo: Pick<RepoRef, "host" | "owner" | "name">, prNumber: number, sha: string): string {
  return `${imageRepositoryOf(deps, repo)}:${prImageTag(prNumber, sha)}`;
}

/** Download the run's commit and build it as `ref` with the OCI labels plus `labels`. */
export async function buildCommit(ctx: Pick<StageContext, "run" | "config" | "deps" | "signal" | "onLog">, ref: string, labels: Record<string, string>): Promise<BuildOutcome> {
  const { run, config, deps, signal } = ctx;
  ctx.onLog?.(`fetching the source of ${run.sha}`);
  const source = await deps.host.downloadSource(run.repo, run.sha);
  return deps.builder.build({
    source,
    context: config.build.context,
    dockerfile: config.build.dockerfile,
    buildArgs: config.build.args,
    labels: {
      "org.opencontainers.image.source": run.repo.htmlUrl,
      "org.opencontainers.image.revision": run.sha,
      ...imageOwnerLabels(deps, run.repo),
      ...labels,
    },
    tag: ref,
    signal,
    ...(ctx.onLog ? { onLog: ctx.onLog } : {}),
  });
}

/** The stage outcome of a failed build: the error, the failing step, the last log lines (redacted). */
export function failedBuild(outcome: Extract<BuildOutcome, { ok: false }>, redact: Redactor): StageOutcome {
  const detail: StageOutcome["detail"] = { reason: redact(outcome.error), logTail: outcome.logTail.map(redact) };
  if (outcome.failingStep) detail.failingStep = redact(outcome.failingStep);
  return { ok: false, detail };
}

/**
 * A vulnerability gate configured on a server without a scanner fails closed: nothing was
 * scanned, so nothing may pass as if it had been.
 */
export function unscannedGateFailure(ctx: Pick<StageContext, "config" | "deps">): string | undefined {
  const failOn = ctx.config.build.scan.failOn;
  if (!failOn || ctx.deps.artifacts) return undefined;
  return `vulnerability gate: \`build.scan.failOn: ${failOn}\` is set, but this berth server has no scanner (Harbor, BERTH_HARBOR_URL), so the image was not scanned and is not deployed`;
}

/** A pushed image with what the registry said of it. */
export interface PublishedImage {
  image: ImageRecord;
  scan?: StageDetail["scan"];
  /** Why the vulnerability gate stops the deploy, when it does. */
  gateFailure?: string;
}

/** Scan statuses that will still change: the scan is waited for in the background. */
const UNFINISHED_SCAN = new Set(["NotScanned", "Pending", "Scheduled", "Running"]);

/**
 * Whether a scan read without waiting is still to come. `NotScanned` counts: the registry (or berth,
 * after a grace) starts one.
 */
export function scanStillPending(scan: StageDetail["scan"] | undefined): boolean {
  return scan !== undefined && UNFINISHED_SCAN.has(scan.status);
}

/** The scan of an artifact as the build row shows it, linked to the registry's UI. */
function scanDetail(info: ArtifactInfo): StageDetail["scan"] {
  return info.scan ? { ...info.scan, ...(info.uiUrl ? { url: info.uiUrl } : {}) } : undefined;
}

/**
 * Read a pushed artifact. With a gate (`build.scan.failOn`) the scan is waited for and decides;
 * without one the artifact is read once and a scan still to come is followed in the background
 * ({@link followScan}), so the deploy does not wait for it.
 */
export async function inspectArtifact(
  ctx: Pick<StageContext, "run" | "config" | "deps" | "signal">,
  artifacts: ArtifactRegistry,
  ref: string,
): Promise<{ info: ArtifactInfo; scan: StageDetail["scan"] }> {
  const failOn = ctx.config.build.scan.failOn;
  if (failOn) {
    const info = await artifacts.inspect(ref, { signal: ctx.signal, failOn });
    return { info, scan: scanDetail(info) };
  }
  const info = await artifacts.inspect(ref, { signal: ctx.signal, wait: false });
  let scan = scanDetail(info);
  if (scan && scanStillPending(scan)) {
    // berth waits for it (and asks for one if none starts): shown as pending until then.
    scan = { ...scan, status: "Pending" };
    followScan(ctx, artifacts, ref);
  }
  return { info, scan };
}

/**
 * Wait for a scan in the background; the journal puts its summary into the run's build row once
 * the stage has ended (only `detail.scan` changes, and only while the row still shows this image).
 */
export function followScan(ctx: Pick<StageContext, "run" | "deps">, artifacts: ArtifactRegistry, ref: string): void {
  const { run, deps } = ctx;
  deps.background(`scan of ${ref}`, async () => {
    const info = await artifacts.awaitScan(ref);
    const scan = scanDetail(info);
    if (!scan) return;
    if (await deps.scanFinished(run.id, ref, scan)) deps.log.info({ runId: run.id, ref, status: scan.status }, "scan summary added to the build stage");
  });
}

/**
 * Push a built image when a registry is configured; with Harbor, also read its scan and apply the
 * repo's gate (see {@link inspectArtifact}). Without a registry the image stays local (its id stands in for the digest).
 */
export async function publishImage(ctx: Pick<StageContext, "run" | "config" | "deps" | "signal" | "onLog">, ref: string, localId: string): Promise<PublishedImage> {
  const { deps, signal } = ctx;
  const unscanned = unscannedGateFailure(ctx);
  if (!deps.registry) return { image: { ref, digest: localId, pushed: false }, ...(unscanned ? { gateFailure: unscanned } : {}) };
  await deps.artifacts?.prepare(ref);
  const { digest } = await deps.builder.push(ref, signal, ctx.onLog);
  const published: PublishedImage = { image: { ref, digest, pushed: true } };
  if (unscanned) published.gateFailure = unscanned;
  if (!deps.artifacts) return published;
  const { info, scan } = await inspectArtifact(ctx, deps.artifacts, ref);
  published.image.digest = info.digest;
  if (scan) published.scan = scan;
  if (!info.gate.pass) published.gateFailure = `vulnerability gate: ${info.gate.reason}`;
  return published;
}

export async function buildStage(ctx: StageContext): Promise<StageOutcome> {
  const { run, deps, pull } = ctx;
  if (ctx.config.preview.compose) return composeBuildStage(ctx);
  const ref = prImageRef(deps, run.repo, run.prNumber, run.sha);

  if (run.reuseImage && pull.image?.sha === run.sha && pull.image.ref === ref && (await deps.builder.hasImage(ref))) {
    return { ok: true, detail: { image: { ref, digest: pull.image.digest, pushed: pull.image.pushed }, reused: true } };
  }

  try {
    const outcome = await buildCommit(ctx, ref, { "dev.berth.pull-request": String(run.prNumber) });
    if (!outcome.ok) return failedBuild(outcome, deps.redact);
    const published = await publishImage(ctx, ref, outcome.imageId);
    const { image, scan } = published;
    if (published.gateFailure) return { ok: false, detail: { image, ...(scan ? { scan } : {}), reason: published.gateFailure }, facts: { images: [image] } };
    return {
      ok: true,
      detail: { image, ...(scan ? { scan } : {}), logTail: tailLines(outcome.logTail.join("\n"), 10, deps.redact) },
      facts: { images: [image], pullImage: image },
    };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}
