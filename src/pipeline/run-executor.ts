/**
 * Executes one run: its stages in order, each persisted before and after, the comment redrawn and
 * a commit status enqueued (pending when a stage starts, its result when it ends). No stage awaits a
 * code-host status write: the status outbox writes them in the background. Reacts to the abort
 * signal of the scheduler.
 */
import { reportUrl, stageLogUrl } from "../domain/report-links.js";
import type { CommitStatus, LogSink } from "../domain/ports.js";
import type { StageName } from "../domain/types.js";
import { buildStage } from "../stages/build-stage.js";
import { deletePreview } from "../stages/delete-stage.js";
import { deployStage } from "../stages/deploy-stage.js";
import type { StageContext, StageDeps, StageOutcome } from "../stages/stage-context.js";
import { testStage } from "../stages/test-stage.js";
import { releaseBuildStage, releaseDeployStage, type ReleaseContext } from "../stages/release-stages.js";
import { repoKeyOf } from "./records.js";
import { RunFencedError, type RunFence } from "./store.js";
import type { Notice, PrKey, RunRecord, StageDetail } from "./records.js";
import { markStopped, requeueRun, type StopReason } from "./run-state.js";
import { StageLog } from "./stage-log.js";

const STAGE_FUNCTIONS: Record<StageName, (ctx: StageContext) => Promise<StageOutcome>> = {
  build: buildStage,
  deploy: deployStage,
  test: testStage,
};

export interface ExecutorDeps extends StageDeps {
  /** Redraw the PR's status comment soon. */
  publish: (prKey: PrKey) => void;
  /** Base URL of report links (commit status target URLs). */
  reportBaseUrl: string;
  /** Want a commit status on the run's commit: recorded at once, written in the background (status outbox). */
  enqueueStatus: (run: RunRecord, status: CommitStatus) => Promise<void>;
}

function stopReasonOf(signal: AbortSignal): StopReason {
  const reason = signal.reason as Partial<StopReason> | undefined;
  if (reason && (reason.kind === "superseded" || reason.kind === "cancelled" || reason.kind === "shutdown" || reason.kind === "lost")) {
    return { kind: reason.kind, text: reason.text ?? reason.kind };
  }
  return { kind: "cancelled", text: "cancelled" };
}

function commitStatusOf(name: StageName, ok: boolean, detail: StageDetail, deps: ExecutorDeps): CommitStatus {
  const status: CommitStatus = {
    context: `berth/${name}`,
    state: ok ? "success" : "failure",
    description: (detail.reason ?? (ok ? `${name} passed` : `${name} failed`)).slice(0, 140),
  };
  if (name === "deploy" && detail.preview) status.targetUrl = detail.preview.url;
  else if (name === "test" && detail.tests) status.targetUrl = reportUrl(deps.reportBaseUrl, detail.tests.reportId);
  else if (detail.logId) status.targetUrl = stageLogUrl(deps.reportBaseUrl, detail.logId);
  return status;
}

/** Run one stage with its whole output collected (redacted); the stored log's id goes into the detail. */
async function withStageLog(run: RunRecord, name: StageName, deps: ExecutorDeps, stage: (onLog: LogSink) => Promise<StageOutcome>): Promise<StageOutcome> {
  const output = new StageLog();
  const outcome = await stage((line) => output.push(deps.redact(line)));
  if (!output.empty) {
    const id = deps.newId();
    await deps.store.saveLog({ id, runId: run.id, stage: name, createdAt: deps.now(), text: output.text() });
    outcome.detail.logId = id;
  }
  return outcome;
}

/** Want a stage status shown; returns at once (the outbox writes it, and logs its failures). */
async function reportStatus(run: RunRecord, status: CommitStatus, deps: ExecutorDeps): Promise<void> {
  await deps.enqueueStatus(run, { ...status, description: status.description.slice(0, 140) });
}

/** The status of a stage that has just started. */
function runningStatus(context: string, name: string): CommitStatus {
  return { context, state: "pending", description: `${name} running…` };
}

/**
 * A stage started and then stopped by a supersede or a cancel: its `pending` must not stay on the
 * commit. Only where statuses live on the commit; on the PR (Gitee) the next run's states follow.
 */
async function reportStopped(run: RunRecord, context: string, signal: AbortSignal, deps: ExecutorDeps): Promise<void> {
  const reason = stopReasonOf(signal);
  if (reason.kind === "shutdown" || reason.kind === "lost" || deps.host.statusScope !== "commit") return;
  await reportStatus(run, { context, state: "error", description: reason.text }, deps);
}

/**
 * Run a claimed run (status running, held by `fence.owner`) to its end. Never throws for stage
 * failures; they are recorded. Every write of the run and its stages is fenced: when this replica
 * lost the run, the write is refused and the run ends here without touching what the new owner wrote.
 */
export async function executeRun(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  try {
    await executeClaimed(run, signal, deps, fence);
  } catch (err) {
    if (!(err instanceof RunFencedError)) throw err;
    deps.log.warn({ runId: run.id, owner: fence.owner }, "run lost to another replica; stopped here without further writes");
  }
}

async function executeClaimed(current: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  const { store, now, log } = deps;
  deps.publish(current.prKey);

  if (current.kind === "delete") {
    await executeDelete(current, deps, fence);
    return;
  }
  if (current.kind === "release") {
    await executeRelease(current, signal, deps, fence);
    return;
  }

  const config = current.config;
  if (!config) {
    await markStopped(store, current, { kind: "cancelled", text: "run has no config" }, now(), "failed", fence);
    return;
  }
  const earlier: StageContext["earlier"] = {};
  if (deps.host.statusScope === "pull-request") {
    // Statuses on the PR still show the previous commit's results: reset the planned stages.
    for (const name of current.plan) await reportStatus(current, { context: `berth/${name}`, state: "pending", description: `${name} queued for ${current.sha.slice(0, 7)}` }, deps);
  }
  for (const name of current.plan) {
    if (signal.aborted) break;
    const pull = await store.getPull(current.prKey);
    if (!pull) break;
    await store.updateStage(current.id, name, { state: "running", startedAt: now(), finishedAt: null }, fence);
    await reportStatus(current, runningStatus(`berth/${name}`, name), deps);
    deps.publish(current.prKey);
    const outcome = await withStageLog(current, name, deps, (onLog) => STAGE_FUNCTIONS[name]({ run: current, config, pull, earlier, signal, deps, onLog }));
    if (signal.aborted) {
      await reportStopped(current, `berth/${name}`, signal, deps);
      break;
    }
    earlier[name] = outcome.detail;
    await store.updateStage(current.id, name, { state: outcome.ok ? "passed" : "failed", finishedAt: now(), detail: outcome.detail }, fence);
    deps.publish(current.prKey);
    log.info({ runId: current.id, prKey: current.prKey, stage: name, ok: outcome.ok }, "stage finished");
    await reportStatus(current, commitStatusOf(name, outcome.ok, outcome.detail, deps), deps);
    if (!outcome.ok) {
      if (deps.host.statusScope === "pull-request") {
        for (const later of current.plan.slice(current.plan.indexOf(name) + 1)) {
          await reportStatus(current, { context: `berth/${later}`, state: "error", description: `not run: ${name} failed` }, deps);
        }
      }
      await markStopped(store, current, { kind: "cancelled", text: `not run: ${name} failed` }, now(), "failed", fence);
      await store.updateRun(current.id, { reason: `${name} failed` }, fence);
      return;
    }
  }

  if (signal.aborted) {
    const reason = stopReasonOf(signal);
    if (reason.kind === "lost") return;
    if (reason.kind === "shutdown") {
      await requeueRun(deps.store, current, fence);
      log.info({ runId: current.id }, "run interrupted by shutdown; re-queued");
    } else {
      await markStopped(store, current, reason, now(), undefined, fence);
    }
    return;
  }
  await store.updateRun(current.id, { status: "passed", finishedAt: now() }, fence);
}

async function executeDelete(run: RunRecord, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  const { store, now, log } = deps;
  try {
    const { removed, images, problems } = await deletePreview(run, deps);
    const lines = [run.trigger === "/delete" ? "The preview was deleted by `/delete`. Comment `/deploy` to start it again." : "The PR is closed: its preview is gone."];
    if (images) lines.push(`Images: ${images}.`);
    lines.push(...problems.map((problem) => `Clean-up incomplete: ${problem}`));
    const notice: Notice = { kind: "deleted", text: lines.join("\n") };
    await store.patchPull(run.prKey, (p) => ({ ...p, notice }));
    await store.updateRun(run.id, { status: "passed", finishedAt: now() }, fence);
    log.info({ runId: run.id, prKey: run.prKey, removed, images, problems }, "preview deleted");
  } catch (err) {
    const reason = deps.redact(err instanceof Error ? err.message : String(err));
    await store.patchPull(run.prKey, (p) => ({ ...p, notice: { kind: "deleted", text: `Removing the preview failed: ${reason.split("\n")[0]}` } }));
    await store.updateRun(run.id, { status: "failed", reason, finishedAt: now() }, fence);
    log.error({ runId: run.id, err: reason }, "preview deletion failed");
  } finally {
    deps.publish(run.prKey);
  }
}

/** Build (or promote) a tagged commit and deploy it to its environment, reporting on the commit. */
async function executeRelease(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  const { store, now, log } = deps;
  const release = run.release;
  const config = run.config;
  if (!release || !config) {
    await markStopped(store, run, { kind: "cancelled", text: "release run without tag or config" }, now(), "failed", fence);
    return;
  }
  const env = release.environment;
  // Commit statuses of a release live on the commit; hosts that keep statuses on PRs have none here.
  const onCommit = deps.host.statusScope === "commit";
  const report = async (stage: string, ok: boolean, description: string, targetUrl?: string): Promise<void> => {
    if (!onCommit) return;
    const status: CommitStatus = { context: `berth/${env}/${stage}`, state: ok ? "success" : "failure", description };
    if (targetUrl) status.targetUrl = targetUrl;
    await reportStatus(run, status, deps);
  };
  const earlier: ReleaseContext["earlier"] = {};
  const stages = { build: releaseBuildStage, deploy: releaseDeployStage } as const;
  // The GitHub Deployment is recorded beside the stage, never on its path: start and finish are
  // background writes, the finish waiting for the start's id.
  let deployment: Promise<string | undefined> | undefined;
  const finishDeployment = (result: { state: "success" | "failure" | "error"; environmentUrl?: string; description: string }): void => {
    const started = deployment;
    const finish = deps.host.finishDeployment?.bind(deps.host);
    if (!started || !finish) return;
    deps.background("deployment status", async () => {
      const id = await started;
      if (id) await finish(run.repo, id, result).catch((err: unknown) => log.warn({ runId: run.id, err: deps.redact(String(err)) }, "deployment status not recorded"));
    });
  };
  for (const name of run.plan) {
    if (signal.aborted || (name !== "build" && name !== "deploy")) break;
    await store.updateStage(run.id, name, { state: "running", startedAt: now(), finishedAt: null }, fence);
    if (onCommit) await reportStatus(run, runningStatus(`berth/${env}/${name}`, name), deps);
    const start = deps.host.startDeployment?.bind(deps.host);
    if (name === "deploy" && start) {
      let resolveId: (id: string | undefined) => void = () => undefined;
      deployment = new Promise((resolve) => (resolveId = resolve));
      deps.background("deployment start", async () => {
        try {
          resolveId((await start(run.repo, { environment: env, sha: run.sha, tag: release.tag, production: env === "production" })).id);
        } catch (err) {
          resolveId(undefined);
          log.warn({ runId: run.id, err: deps.redact(String(err)) }, "deployment not recorded on the code host");
        }
      });
    }
    const outcome = await withStageLog(run, name, deps, (onLog) => stages[name]({ run, config, earlier, signal, deps, release, onLog }));
    if (signal.aborted) {
      if (onCommit) await reportStopped(run, `berth/${env}/${name}`, signal, deps);
      // A deployment left in progress would show as running on GitHub forever.
      if (name === "deploy") finishDeployment({ state: "error", description: `stopped: ${stopReasonOf(signal).text}`.slice(0, 140) });
      break;
    }
    earlier[name] = outcome.detail;
    await store.updateStage(run.id, name, { state: outcome.ok ? "passed" : "failed", finishedAt: now(), detail: outcome.detail }, fence);
    log.info({ runId: run.id, environment: env, tag: release.tag, stage: name, ok: outcome.ok }, "release stage finished");
    const url = name === "deploy" ? outcome.detail.preview?.url : undefined;
    const description = outcome.detail.reason ?? `${name} ${outcome.ok ? "passed" : "failed"} for ${release.tag}`;
    await report(name, outcome.ok, description, url ?? (outcome.detail.logId ? stageLogUrl(deps.reportBaseUrl, outcome.detail.logId) : undefined));
    if (name === "deploy") finishDeployment({ state: outcome.ok ? "success" : "failure", description: description.slice(0, 140), ...(url ? { environmentUrl: url } : {}) });
    if (!outcome.ok) {
      await markStopped(store, run, { kind: "cancelled", text: `not run: ${name} failed` }, now(), "failed", fence);
      return;
    }
  }
  if (signal.aborted) {
    const reason = stopReasonOf(signal);
    if (reason.kind === "lost") return;
    if (reason.kind === "shutdown") await requeueRun(deps.store, run, fence);
    else await markStopped(store, run, reason, now(), undefined, fence);
    return;
  }
  if (release.refusal) await report("deploy", false, release.refusal);
  await store.updateRun(run.id, { status: "passed", finishedAt: now(), ...(release.refusal ? { reason: release.refusal } : {}) }, fence);
  // Open PRs whose head is this commit show the environment in their status comment.
  for (const pull of await store.openPullsAt(repoKeyOf(run.repo), run.sha)) deps.publish(pull.prKey);
}
