/**
 * build: fetch the exact head commit, build the image, push it, record the digest.
 */
import { imageRepository, prImageTag } from "../domain/naming.js";
import type { RepoRef } from "../domain/types.js";
import { repoKeyOf, type ImageRecord } from "../pipeline/records.js";
import { failureFrom, tailLines, type StageContext, type StageOutcome } from "./stage-context.js";

/** Where images live when no registry is configured: the local engine only. */
const LOCAL_PREFIX = "berth-local";

/** Image repository of a repo. Hosts other than GitHub prefix the owner, so mirrors never collide. */
export function imageRepositoryOf(registry: string | undefined, repo: Pick<RepoRef, "host" | "owner" | "name">): string {
  const owner = repo.host === "github" ? repo.owner : `${repo.host}-${repo.owner}`;
  return imageRepository(registry ?? LOCAL_PREFIX, owner, repo.name);
}

/** Image reference of a PR commit. */
export function prImageRef(registry: string | undefined, repo: Pick<RepoRef, "host" | "owner" | "name">, prNumber: number, sha: string): string {
  return `${imageRepositoryOf(registry, repo)}:${prImageTag(prNumber, sha)}`;
}

export async function buildStage(ctx: StageContext): Promise<StageOutcome> {
  const { run, config, deps, signal, pull } = ctx;
  const ref = prImageRef(deps.registry, run.repo, run.prNumber, run.sha);

  if (run.reuseImage && pull.image?.sha === run.sha && pull.image.ref === ref && (await deps.builder.hasImage(ref))) {
    return { ok: true, detail: { image: { ref, digest: pull.image.digest, pushed: pull.image.pushed }, reused: true } };
  }

  try {
    const source = await deps.host.downloadSource(run.repo, run.sha);
    const outcome = await deps.builder.build({
      source,
      context: config.build.context,
      dockerfile: config.build.dockerfile,
      buildArgs: config.build.args,
      labels: {
        "org.opencontainers.image.source": run.repo.htmlUrl,
        "org.opencontainers.image.revision": run.sha,
        "dev.berth.pull-request": String(run.prNumber),
        "dev.berth.repository": `${run.repo.owner}/${run.repo.name}`,
      },
      tag: ref,
      signal,
    });
    if (!outcome.ok) {
      const detail = { reason: deps.redact(outcome.error), logTail: outcome.logTail.map(deps.redact) } as StageOutcome["detail"];
      if (outcome.failingStep) detail.failingStep = deps.redact(outcome.failingStep);
      return { ok: false, detail };
    }
    let image: ImageRecord;
    let scan: StageOutcome["detail"]["scan"];
    if (deps.registry) {
      await deps.artifacts?.prepare(ref);
      const { digest } = await deps.builder.push(ref, signal);
      image = { ref, digest, pushed: true };
      if (deps.artifacts) {
        const info = await deps.artifacts.inspect(ref, { signal, ...(config.build.scan.failOn ? { failOn: config.build.scan.failOn } : {}) });
        image.digest = info.digest;
        if (info.scan) scan = { ...info.scan, ...(info.uiUrl ? { url: info.uiUrl } : {}) };
        if (!info.gate.pass) {
          deps.store.recordImage(repoKeyOf(run.repo), run.sha, image, deps.now());
          return { ok: false, detail: { image, ...(scan ? { scan } : {}), reason: `vulnerability gate: ${info.gate.reason}` } };
        }
      }
    } else {
      image = { ref, digest: outcome.imageId, pushed: false };
    }
    deps.store.patchPull(run.prKey, (p) => ({ ...p, image: { ...image, sha: run.sha } }));
    deps.store.recordImage(repoKeyOf(run.repo), run.sha, image, deps.now());
    return { ok: true, detail: { image, ...(scan ? { scan } : {}), logTail: tailLines(outcome.logTail.join("\n"), 10, deps.redact) } };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}
