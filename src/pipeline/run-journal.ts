/**
 * The run journal: the one writer of run, stage and pull state, and the one thing that asks for a
 * PR's status comment to be redrawn. Stages never touch the store: they return facts (the images
 * they recorded, the preview they started or removed, their test report, the environment they
 * deployed) and the journal writes them. Every write of an executing run carries its fence, so a
 * replica that lost the run cannot overwrite what the new owner wrote.
 */
import type { RepoConfig } from "../config/repo-config.js";
import type { RunStageName } from "../domain/types.js";
import type { TestSuiteReport } from "../reports/junit.js";
import { repoKeyOf, type EnvironmentRecord, type ImageRecord, type Notice, type PrKey, type PreviewRecord, type PullRecord, type RunRecord, type StageDetail } from "../domain/records.js";
import { markStopped, requeueRun, type StopReason } from "./run-state.js";
import type { RunEnd, RunEvents } from "./run-events.js";
import { RunFencedError, type RunFence, type Store, type StoredLog } from "./store.js";

/** What a stage learned that outlives it. Written by the journal, never by the stage. */
export interface StageFacts {
  /** Images now in the registry (or on the engine) for the run's commit, in the order recorded. */
  images?: ImageRecord[];
  /** The PR's newest image (a `/deploy` may reuse it). */
  pullImage?: ImageRecord;
  /** The PR's preview now runs this. */
  preview?: Pick<PreviewRecord, "target" | "url" | "internalUrl" | "upstream" | "access">;
  /** The PR's preview is gone from every target. */
  previewRemoved?: true;
  /** The notice the status comment shows above the stages (delete runs say what went). */
  notice?: Notice;
  /** The test report, stored under `reportId` in the stage's detail. */
  report?: { id: string; report: TestSuiteReport };
  /** What an environment runs now (tag flow). */
  environment?: Omit<EnvironmentRecord, "deployedAt">;
}

/** Read-only look-ups stages may make (they write nothing). */
export interface StageLookup {
  /** Images recorded for a commit, newest first. */
  imagesOf(repoKey: string, sha: string): Promise<ImageRecord[]>;
  /** The repo config of the PR's newest pipeline run (what the preview was deployed with). */
  latestConfig(prKey: PrKey): Promise<RepoConfig | undefined>;
}

export class RunJournal implements StageLookup {
  /** When each running stage started (for the duration in `stage-finished`). */
  private readonly stageStarts = new Map<string, number>();

  constructor(
    private readonly store: Store,
    /** Redraw a PR's status comment soon. */
    private readonly publish: (prKey: PrKey) => void,
    private readonly now: () => number,
    /** Told of every recorded change (metrics, dashboard, notifications). */
    readonly events: RunEvents,
  ) {}

  // ---- look-ups for stages ----

  imagesOf(repoKey: string, sha: string): Promise<ImageRecord[]> {
    return this.store.imagesOf(repoKey, sha);
  }

  async latestConfig(prKey: PrKey): Promise<RepoConfig | undefined> {
    return (await this.store.latestPipelineRuns(prKey, 1))[0]?.config;
  }

  /** The PR as berth knows it now (preview, last image); undefined when it has no record. */
  pullOf(prKey: PrKey): Promise<PullRecord | undefined> {
    return this.store.getPull(prKey);
  }

  // ---- an executing run ----

  /** A claimed run begins: its comment shows it running. */
  runStarted(run: RunRecord): void {
    this.changed(run);
    this.events.emit({ type: "run-started", run, at: this.now() });
  }

  async stageStarted(run: RunRecord, name: RunStageName, fence: RunFence): Promise<void> {
    const at = this.now();
    await this.store.updateStage(run.id, name, { state: "running", startedAt: at, finishedAt: null }, fence);
    this.stageStarts.set(`${run.id}:${name}`, at);
    this.changed(run);
    this.events.emit({ type: "stage-started", run, stage: name, at });
  }

  /** A line of a running stage's output (already redacted). */
  stageLogLine(run: RunRecord, name: RunStageName, line: string): void {
    this.events.emit({ type: "log-line", run, stage: name, line, at: this.now() });
  }

  /** Record a stage's end: its facts first (the detail links the report), then its row. */
  async stageFinished(run: RunRecord, name: RunStageName, outcome: { ok: boolean; detail: StageDetail; facts?: StageFacts }, fence: RunFence): Promise<void> {
    await this.assertHeld(run, fence);
    const at = this.now();
    const facts = outcome.facts ?? {};
    if (facts.report) await this.store.saveReport({ id: facts.report.id, runId: run.id, prKey: run.prKey, createdAt: at, report: facts.report.report });
    for (const image of facts.images ?? []) await this.store.recordImage(repoKeyOf(run.repo), run.sha, image, at);
    if (facts.environment) await this.store.saveEnvironment({ ...facts.environment, deployedAt: at }, repoKeyOf(run.repo));
    await this.store.updateStage(run.id, name, { state: outcome.ok ? "passed" : "failed", finishedAt: at, detail: outcome.detail }, fence);
    const { pullImage, preview, previewRemoved, notice } = facts;
    if (pullImage || preview || previewRemoved || notice) {
      await this.store.patchPull(run.prKey, (p) => {
        const next = { ...p };
        if (pullImage) next.image = { ...pullImage, sha: run.sha };
        if (preview) {
          next.preview = { ...preview, sha: run.sha, runId: run.id, deployedAt: at };
          // A new preview ends the "preview is gone" notice.
          if (next.notice?.kind === "deleted") delete next.notice;
        }
        if (previewRemoved) delete next.preview;
        if (notice) next.notice = notice;
        return next;
      });
    }
    this.changed(run);
    const startedAt = this.stageStarts.get(`${run.id}:${name}`);
    this.stageStarts.delete(`${run.id}:${name}`);
    this.events.emit({ type: "stage-finished", run, stage: name, ok: outcome.ok, detail: outcome.detail, facts, ...(startedAt !== undefined ? { startedAt } : {}), at });
    if (facts.environment) {
      // Open PRs whose head is this commit show the environment in their status comment.
      for (const pull of await this.store.openPullsAt(repoKeyOf(run.repo), run.sha)) this.publish(pull.prKey);
    }
  }

  /** Every stage passed (a release may pass with a refusal to deploy as its reason). */
  async runPassed(run: RunRecord, fence: RunFence, reason?: string): Promise<void> {
    await this.store.updateRun(run.id, { status: "passed", finishedAt: this.now(), ...(reason ? { reason } : {}) }, fence);
    this.changed(run);
    this.finished(run, "passed", reason);
  }

  /** A stage failed: the later ones are marked not run, the run failed with `reason`. */
  async stageFailed(run: RunRecord, name: RunStageName, fence: RunFence): Promise<void> {
    await markStopped(this.store, run, { kind: "cancelled", text: `not run: ${name} failed` }, this.now(), "failed", fence);
    await this.store.updateRun(run.id, { reason: `${name} failed` }, fence);
    this.changed(run);
    this.finished(run, "failed", `${name} failed`);
  }

  /** The run cannot start (no config, no tag): failed with `reason`. */
  async unrunnable(run: RunRecord, reason: string, fence: RunFence): Promise<void> {
    await markStopped(this.store, run, { kind: "cancelled", text: reason }, this.now(), "failed", fence);
    this.changed(run);
    this.finished(run, "failed", reason);
  }

  /** Stopped (superseded or cancelled): unfinished stages say why. */
  async stopped(run: RunRecord, reason: StopReason, fence: RunFence): Promise<void> {
    await markStopped(this.store, run, reason, this.now(), undefined, fence);
    this.changed(run);
    this.finished(run, reason.kind === "superseded" ? "superseded" : "cancelled", reason.text);
  }

  /** Interrupted by a shutdown: back in the queue, from its first stage. */
  async requeued(run: RunRecord, fence: RunFence): Promise<void> {
    await requeueRun(this.store, run, fence);
    this.changed(run);
    this.forgetStages(run);
    this.events.emit({ type: "run-requeued", run, at: this.now() });
  }

  async saveLog(log: StoredLog): Promise<void> {
    await this.store.saveLog(log);
  }

  // ---- after a stage ----

  /**
   * A scan followed in the background finished: its summary goes into the run's build row, once
   * the row no longer runs and only while it still shows `ref` (a re-queued run is left alone).
   * Returns whether it was recorded.
   */
  async scanFinished(runId: string, ref: string, scan: NonNullable<StageDetail["scan"]>, settleMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + settleMs;
    for (;;) {
      const row = (await this.store.stagesOf(runId)).find((s) => s.name === "build");
      if (!row || row.state === "queued") return false;
      if (row.state !== "running") {
        if (row.detail.image?.ref !== ref) return false;
        await this.store.updateStage(runId, "build", { state: row.state, detail: { ...row.detail, scan } });
        const run = await this.store.getRun(runId);
        if (run) this.changed(run);
        return true;
      }
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private finished(run: RunRecord, status: RunEnd, reason?: string): void {
    this.forgetStages(run);
    this.events.emit({ type: "run-finished", run, status, ...(reason ? { reason } : {}), at: this.now() });
  }

  private forgetStages(run: RunRecord): void {
    for (const key of this.stageStarts.keys()) if (key.startsWith(`${run.id}:`)) this.stageStarts.delete(key);
  }

  private changed(run: RunRecord): void {
    // A release run has no status comment of its own (its environment shows on PRs at its commit).
    if (run.kind !== "release") this.publish(run.prKey);
  }

  /** Writes of facts are not fenced row by row: check the run is still ours first. */
  private async assertHeld(run: RunRecord, fence: RunFence): Promise<void> {
    const lease = await this.store.runLease(run.id);
    if (lease?.owner !== fence.owner) throw new RunFencedError(run.id, fence.owner);
  }
}
