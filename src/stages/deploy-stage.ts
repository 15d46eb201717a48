/**
 * deploy: start the preview of the run's commit on its target and record its URL.
 */
import type { ComposeDeploy, SourceCheckout } from "../domain/ports.js";
import { composeDeployOf, loadCompose } from "./compose-stages.js";
import { previewKeyOf } from "../domain/preview-key.js";
import { failureFrom, previewAddress, targetFor, type StageContext, type StageOutcome } from "./stage-context.js";

export async function deployStage(ctx: StageContext): Promise<StageOutcome> {
  const { run, config, deps, signal } = ctx;
  const image = ctx.earlier.build?.image ?? ctx.pull.image;
  if (!image && !config.preview.compose) return { ok: false, detail: { reason: "no image was built for this commit" } };
  // A chart or values files in the repository need the commit's source on disk.
  const needsSource = config.preview.chart !== undefined || config.preview.valuesFiles.length > 0;
  let checkout: SourceCheckout | undefined;
  try {
    const target = targetFor(ctx);
    const key = previewKeyOf(run.repo, run.prNumber);
    let compose: ComposeDeploy | undefined;
    if (config.preview.compose) {
      const loaded = await loadCompose(ctx);
      if (!loaded.ok) return { ok: false, detail: { reason: loaded.reason } };
      compose = await composeDeployOf(ctx, loaded.plan);
    }
    if (needsSource) checkout = await deps.checkoutSource(await deps.host.downloadSource(run.repo, run.sha));
    const result = await target.deploy({
      key,
      sha: run.sha,
      runId: run.id,
      image: image?.ref ?? compose!.images[config.preview.service!]!,
      ...(compose ? { compose } : {}),
      preview: config.preview,
      signal,
      prUrl: ctx.pull.url,
      ...(checkout ? { sourceDir: checkout.dir } : {}),
      ...(ctx.onLog ? { onLog: ctx.onLog } : {}),
    });
    const { url, upstream, access } = previewAddress(deps, target, key, result, config.preview.access);
    return {
      ok: true,
      detail: { preview: { url, internalUrl: result.internalUrl } },
      facts: { preview: { target: target.kind, url, internalUrl: result.internalUrl, ...(upstream ? { upstream } : {}), ...(access ? { access } : {}) } },
    };
  } catch (err) {
    return failureFrom(err, deps.redact);
  } finally {
    await checkout?.dispose();
  }
}
