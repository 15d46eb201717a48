/**
 * The transitions of a run's recorded state that several modules make: stopping a run for a
 * reason, and putting an interrupted run back in the queue. One place, so the scheduler, the
 * executor and the engine's start-up recovery cannot drift apart.
 */
import type { StageState } from "../domain/types.js";
import type { PullRecord, RunRecord } from "../domain/records.js";
import type { Scheduler } from "./scheduler.js";
import type { RunFence, Store } from "./store.js";

/** Why a running run was told to stop. */
export interface StopReason {
  /** `lost`: this replica no longer holds the run (another one took it over, or it was stopped under it); write nothing. */
  kind: "superseded" | "cancelled" | "shutdown" | "lost";
  text: string;
}

/**
 * Mark a run (as `status`) and its unfinished stages (as superseded or cancelled, per the reason)
 * stopped for `reason`.
 */
export async function markStopped(store: Store, run: RunRecord, reason: StopReason, now: number, status: "superseded" | "cancelled" | "failed" = reason.kind === "superseded" ? "superseded" : "cancelled", fence?: RunFence): Promise<void> {
  const stageState: StageState = reason.kind === "superseded" ? "superseded" : "cancelled";
  for (const stage of await store.stagesOf(run.id)) {
    if (stage.state === "queued" || stage.state === "running") {
      await store.updateStage(run.id, stage.name, {
        state: stageState,
        finishedAt: stage.state === "running" ? now : null,
        detail: { ...stage.detail, reason: reason.text },
      }, fence);
    }
  }
  await store.updateRun(run.id, { status, reason: reason.text, finishedAt: now }, fence);
}

/** Put an interrupted run back in the queue: it runs again from its first stage. */
export async function requeueRun(store: Store, run: RunRecord, fence?: RunFence): Promise<void> {
  for (const stage of await store.stagesOf(run.id)) {
    await store.updateStage(run.id, stage.name, { state: "queued", startedAt: null, finishedAt: null, detail: {} }, fence);
  }
  await store.updateRun(run.id, { status: "queued", startedAt: undefined }, fence);
}

/**
 * Queue a delete run of a PR that no webhook asked for (`trigger`: `close` when the reconciler
 * finds the PR closed, `expired` when its preview expired); the PR's older runs are cancelled
 * with `reason`. The scheduler is not kicked: the caller does, once it has queued what it found.
 */
export async function queueDeleteRun(
  store: Pick<Store, "insertRun">,
  scheduler: Pick<Scheduler, "stopActive">,
  pull: Pick<PullRecord, "prKey" | "repo" | "prNumber" | "headSha">,
  run: { id: string; trigger: string; now: number; reason: string },
): Promise<RunRecord> {
  const record: RunRecord = {
    id: run.id,
    prKey: pull.prKey,
    repo: pull.repo,
    prNumber: pull.prNumber,
    sha: pull.headSha,
    kind: "delete",
    plan: ["delete"],
    trigger: run.trigger,
    status: "queued",
    reuseImage: false,
    attempts: 0,
    createdAt: run.now,
  };
  await store.insertRun(record);
  await scheduler.stopActive(pull.prKey, { kind: "cancelled", text: run.reason }, record.id);
  return record;
}
