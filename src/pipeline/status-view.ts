/**
 * Gather what the status comment shows for one PR from the store.
 */
import type { StatusView, StageView } from "../render/status-comment.js";
import { repoKeyOf, type PrKey, type PullRecord } from "../domain/records.js";
import { acceptanceOf } from "../domain/acceptance.js";
import { expiresAt } from "./preview-lifecycle.js";
import type { Store } from "./store.js";

/** A private preview's signed link (and until when it works), or undefined when it has none. */
export type PreviewLinkSigner = (pull: PullRecord) => { url: string; expiresAt: number } | undefined;

/** The view of a PR's status, or undefined when berth does not know the PR. */
export async function buildStatusView(store: Store, prKey: PrKey, reportBaseUrl: string, previewLink?: PreviewLinkSigner): Promise<StatusView | undefined> {
  const pull = await store.getPull(prKey);
  if (!pull) return undefined;
  const view: StatusView = { headSha: pull.headSha, reportBaseUrl, testsConfigured: true };
  if (pull.notice) view.notice = pull.notice;
  if (pull.preview) {
    view.preview = { url: pull.preview.url, sha: pull.preview.sha };
    if (pull.preview.sleeping) view.preview.sleepingSince = pull.preview.sleeping.since;
    if (pull.preview.access === "private") {
      view.preview.private = true;
      const link = previewLink?.(pull);
      if (link) view.preview.signedLink = link;
    }
    const config = (await store.getRun(pull.preview.runId))?.config?.preview;
    const expiry = config ? expiresAt(pull, config) : undefined;
    if (expiry !== undefined) view.preview.expiresAt = expiry;
  }
  const acceptance = acceptanceOf(pull.acceptance, pull.headSha);
  if (acceptance) view.acceptance = acceptance;
  const environments = await store.environmentsAt(repoKeyOf(pull.repo), pull.headSha);
  if (environments.length) view.environments = environments.map((e) => ({ name: e.environment, tag: e.tag, url: e.url }));
  const [run, previous] = await store.latestPipelineRuns(prKey, 2);
  if (previous?.status === "superseded") view.superseded = { sha: previous.sha, reason: previous.reason ?? "superseded" };
  if (run) {
    view.testsConfigured = run.config?.test !== undefined;
    const stages: StageView[] = [];
    for (const s of await store.stagesOf(run.id)) {
      if (s.name === "delete") continue;
      const stage: StageView = { name: s.name, state: s.state, detail: s.detail };
      if (s.startedAt !== undefined && s.finishedAt !== undefined) stage.durationMs = s.finishedAt - s.startedAt;
      stages.push(stage);
    }
    view.run = { id: run.id, sha: run.sha, trigger: run.trigger, status: run.status, stages };
    if (run.reason) view.run.reason = run.reason;
    if (run.status === "queued") {
      const position = (await store.runsWithStatus(["queued"])).findIndex((r) => r.id === run.id);
      if (position >= 0) view.run.queuePosition = position + 1;
    }
  }
  return view;
}
