/**
 * Executes one claimed run: one stage loop for PR pipelines, tag releases and deletes. Each stage
 * is recorded by the run journal when it starts and when it ends (with the facts it returned), a
 * commit status is enqueued (pending when a stage starts, its result when it ends) and nothing on
 * the way waits for a code-host write: the status outbox and the comment publisher write in the
 * background. Reacts to the abort signal of the scheduler.
 */
import type { Logger } from "pino";
import { reportUrl, stageLogUrl } from "../domain/report-links.js";
import { withRunLogContext } from "../logging/run-log-context.js";
import type { CommitStatus, LogSink } from "../domain/ports.js";
import type { RunStageName, StageName } from "../domain/types.js";
import { buildStage } from "../stages/build-stage.js";
import { deleteStage } from "../stages/delete-stage.js";
import { deployStage } from "../stages/deploy-stage.js";
import type { StageContext, StageDeps, StageOutcome } from "../stages/stage-context.js";
import { testStage } from "../stages/test-stage.js";
import { releaseBuildStage, releaseDeployStage, type ReleaseContext } from "../stages/release-stages.js";
import type { PullRecord, RunRecord, StageDetail } from "../domain/records.js";
import type { RunJournal } from "./run-journal.js";
import type { StopReason } from "./run-state.js";
import { StageLog } from "./stage-log.js";
import { RunFencedError, type RunFence } from "./store.js";

const PIPELINE_STAGES: Record<StageName, (ctx: StageContext) => Promise<StageOutcome>> = {
  build: buildStage,
  deploy: deployStage,
  test: testStage,
};

export interface ExecutorDeps extends Omit<StageDeps, "lookup" | "scanFinished"> {
  /** The one writer of run, stage and pull state. */
  journal: RunJournal;
  /** Base URL of report links (commit status target URLs). */
  reportBaseUrl: string;
  /** Want a commit status on the run's commit: recorded at once, written in the background (status outbox). */
  enqueueStatus: (run: RunRecord, status: CommitStatus) => Promise<void>;
}

/** How one kind of run goes through the stage loop. */
interface RunShape {
  /** The commit-status context of a stage, or undefined when this run reports none for it. */
  context(name: RunStageName): string | undefined;
  /** Run one stage; `log` is the stage's logger (its lines carry `runId`, `prKey` and `stage`). */
  stage(name: RunStageName, earlier: StageContext["earlier"], onLog: LogSink, log: Logger): Promise<StageOutcome>;
  /** The commit status of a finished stage. */
  resultStatus(name: RunStageName, outcome: StageOutcome): CommitStatus;
  /** Before the first stage. */
  begin?(): Promise<void>;
  /** Whether the loop ends before this stage (the PR is gone). */
  shouldEnd?(): Promise<boolean>;
  /** Around a stage: just started, and ended (`undefined` when it was stopped). */
  stageStarted?(name: RunStageName): void;
  stageEnded?(name: RunStageName, outcome: StageOutcome | undefined, signal: AbortSignal): void;
  /** After a stage failed, before the run is marked failed. */
  onFailure?(name: RunStageName): Promise<void>;
  /** After every stage passed, before the run is marked passed (with `passReason`). */
  onPass?(): Promise<void>;
  passReason?: string;
}

function stopReasonOf(signal: AbortSignal): StopReason {
  const reason = signal.reason as Partial<StopReason> | undefined;
  if (reason && (reason.kind === "superseded" || reason.kind === "cancelled" || reason.kind === "shutdown" || reason.kind === "lost")) {
    return { kind: reason.kind, text: reason.text ?? reason.kind };
  }
  return { kind: "cancelled", text: "cancelled" };
}

function commitStatusOf(name: RunStageName, ok: boolean, detail: StageDetail, deps: ExecutorDeps): CommitStatus {
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
async function withStageLog(run: RunRecord, name: RunStageName, deps: ExecutorDeps, stage: (onLog: LogSink) => Promise<StageOutcome>): Promise<StageOutcome> {
  const output = new StageLog();
  const outcome = await stage((line) => {
    const redacted = deps.redact(line);
    output.push(redacted);
    deps.journal.stageLogLine(run, name, redacted);
  });
  if (!output.empty) {
    const id = deps.newId();
    await deps.journal.saveLog({ id, runId: run.id, stage: name, createdAt: deps.now(), text: output.text() });
    outcome.detail.logId = id;
  }
  return outcome;
}

/** Want a stage status shown; returns once it is in the outbox (which writes it and logs its failures). */
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
  if (reason.kind === "shutdown" || reason.kind === "lost" || deps.host.capabilities.statusScope !== "commit") return;
  await reportStatus(run, { context, state: "error", description: reason.text }, deps);
}

/** What stages get: the executor's ports, with the journal's look-ups and scan recording. */
function stageDepsOf(deps: ExecutorDeps): StageDeps {
  return { ...deps, lookup: deps.journal, scanFinished: (runId, ref, scan) => deps.journal.scanFinished(runId, ref, scan) };
}

/**
 * Run a claimed run (status running, held by `fence.owner`) to its end. Never throws for stage
 * failures; they are recorded. Every write of the run and its stages is fenced: when this replica
 * lost the run, the write is refused and the run ends here without touching what the new owner wrote.
 * `deps.log` is the run's logger; every line logged meanwhile, by any logger, carries `runId` and
 * `prKey`, and `stage` while a stage runs.
 */
export function executeRun(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  return withRunLogContext({ runId: run.id, prKey: run.prKey }, () => executeInContext(run, signal, deps, fence));
}

async function executeInContext(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  try {
    deps.journal.runStarted(run);
    const shape = await shapeOf(run, signal, deps, fence);
    if (shape) await runStages(run, shape, signal, deps, fence);
  } catch (err) {
    if (!(err instanceof RunFencedError)) throw err;
    deps.log.warn({ owner: fence.owner }, "run lost to another replica; stopped here without further writes");
  }
}

/** The one stage loop. */
async function runStages(run: RunRecord, shape: RunShape, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<void> {
  const { journal, log } = deps;
  await shape.begin?.();
  const earlier: StageContext["earlier"] = {};
  for (const name of run.plan) {
    if (signal.aborted) break;
    if (await shape.shouldEnd?.()) break;
    await journal.stageStarted(run, name, fence);
    const context = shape.context(name);
    if (context) await reportStatus(run, runningStatus(context, name), deps);
    const stageLog = log.child({ stage: name });
    const outcome = await withRunLogContext({ runId: run.id, prKey: run.prKey, stage: name }, () => {
      shape.stageStarted?.(name);
      return withStageLog(run, name, deps, (onLog) => shape.stage(name, earlier, onLog, stageLog));
    });
    if (signal.aborted) {
      if (context) await reportStopped(run, context, signal, deps);
      shape.stageEnded?.(name, undefined, signal);
      break;
    }
    if (name !== "delete") earlier[name] = outcome.detail;
    await journal.stageFinished(run, name, outcome, fence);
    stageLog.info({ ok: outcome.ok }, "stage finished");
    if (context) await reportStatus(run, shape.resultStatus(name, outcome), deps);
    shape.stageEnded?.(name, outcome, signal);
    if (!outcome.ok) {
      await shape.onFailure?.(name);
      await journal.stageFailed(run, name, fence);
      return;
    }
  }
  if (signal.aborted) {
    const reason = stopReasonOf(signal);
    if (reason.kind === "lost") return;
    if (reason.kind === "shutdown") {
      await journal.requeued(run, fence);
      log.info("run interrupted by shutdown; re-queued");
    } else {
      await journal.stopped(run, reason, fence);
    }
    return;
  }
  await shape.onPass?.();
  await journal.runPassed(run, fence, shape.passReason);
}

/** The shape of a run's kind; undefined (and the run failed) when it cannot run. */
async function shapeOf(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps, fence: RunFence): Promise<RunShape | undefined> {
  if (run.kind === "delete") return deleteShape(run, deps);
  if (run.kind === "release") {
    if (!run.release || !run.config) {
      await deps.journal.unrunnable(run, "release run without tag or config", fence);
      return undefined;
    }
    return releaseShape(run, signal, deps);
  }
  if (!run.config) {
    await deps.journal.unrunnable(run, "run has no config", fence);
    return undefined;
  }
  return pipelineShape(run, signal, deps);
}

/** A PR pipeline: build, deploy, test against the PR's preview, each with a `berth/<stage>` status. */
function pipelineShape(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps): RunShape {
  const config = run.config!;
  const stageDeps = stageDepsOf(deps);
  const onPullRequest = deps.host.capabilities.statusScope === "pull-request";
  let pull: PullRecord | undefined;
  return {
    context: (name) => `berth/${name}`,
    resultStatus: (name, outcome) => commitStatusOf(name, outcome.ok, outcome.detail, deps),
    async begin() {
      // Statuses on the PR still show the previous commit's results: reset the planned stages.
      if (!onPullRequest) return;
      for (const name of run.plan) await reportStatus(run, { context: `berth/${name}`, state: "pending", description: `${name} queued for ${run.sha.slice(0, 7)}` }, deps);
    },
    // The PR as berth knows it before each stage (read once per stage; its preview and image change).
    async shouldEnd() {
      pull = await deps.journal.pullOf(run.prKey);
      return pull === undefined;
    },
    async stage(name, earlier, onLog, log) {
      if (!pull) return { ok: false, detail: { reason: "berth no longer knows this PR" } };
      if (name === "delete") return { ok: false, detail: { reason: "delete is not a pipeline stage" } };
      return PIPELINE_STAGES[name]({ run, config, pull, earlier, signal, deps: { ...stageDeps, log }, onLog });
    },
    async onFailure(name) {
      if (!onPullRequest) return;
      for (const later of run.plan.slice(run.plan.indexOf(name) + 1)) {
        await reportStatus(run, { context: `berth/${later}`, state: "error", description: `not run: ${name} failed` }, deps);
      }
    },
  };
}

/** A delete run: one `delete` stage, no commit statuses (the comment says what went). */
function deleteShape(run: RunRecord, deps: ExecutorDeps): RunShape {
  const stageDeps = stageDepsOf(deps);
  return {
    context: () => undefined,
    resultStatus: (name, outcome) => commitStatusOf(name, outcome.ok, outcome.detail, deps),
    stage: (_name, _earlier, _onLog, log) => deleteStage({ run, deps: { ...stageDeps, log } }),
  };
}

/**
 * A tag release: build (or promote), then deploy to the tag's environment, with `berth/<env>/<stage>`
 * statuses where statuses live on the commit. The GitHub Deployment is recorded beside the deploy
 * stage, never on its path: start and finish are background writes, the finish waiting for the
 * start's id.
 */
function releaseShape(run: RunRecord, signal: AbortSignal, deps: ExecutorDeps): RunShape {
  const release = run.release!;
  const config = run.config!;
  const env = release.environment;
  const stageDeps = stageDepsOf(deps);
  const onCommit = deps.host.capabilities.statusScope === "commit";
  const stages = { build: releaseBuildStage, deploy: releaseDeployStage } as const;
  const { log } = deps;
  let deployment: Promise<string | undefined> | undefined;
  const finishDeployment = (result: { state: "success" | "failure" | "error"; environmentUrl?: string; description: string }): void => {
    const started = deployment;
    const finish = deps.host.capabilities.deployments?.finish;
    if (!started || !finish) return;
    deps.background("deployment status", async () => {
      const id = await started;
      if (id) await finish(run.repo, id, result).catch((err: unknown) => log.warn({ err: deps.redact(String(err)) }, "deployment status not recorded"));
    });
  };
  const describe = (name: RunStageName, outcome: StageOutcome): string => outcome.detail.reason ?? `${name} ${outcome.ok ? "passed" : "failed"} for ${release.tag}`;
  const urlOf = (name: RunStageName, outcome: StageOutcome): string | undefined => {
    const preview = name === "deploy" ? outcome.detail.preview?.url : undefined;
    return preview ?? (outcome.detail.logId ? stageLogUrl(deps.reportBaseUrl, outcome.detail.logId) : undefined);
  };
  const shape: RunShape = {
    context: (name) => (onCommit ? `berth/${env}/${name}` : undefined),
    resultStatus(name, outcome) {
      const status: CommitStatus = { context: `berth/${env}/${name}`, state: outcome.ok ? "success" : "failure", description: describe(name, outcome) };
      const url = urlOf(name, outcome);
      if (url) status.targetUrl = url;
      return status;
    },
    stage(name, earlier, onLog, stageLog) {
      if (name !== "build" && name !== "deploy") return Promise.resolve({ ok: false, detail: { reason: `${name} is not a release stage` } });
      const ctx: ReleaseContext = { run, config, earlier, signal, deps: { ...stageDeps, log: stageLog }, release, onLog };
      return stages[name](ctx);
    },
    stageStarted(name) {
      const start = deps.host.capabilities.deployments?.start;
      if (name !== "deploy" || !start) return;
      let resolveId: (id: string | undefined) => void = () => undefined;
      deployment = new Promise((resolve) => (resolveId = resolve));
      deps.background("deployment start", async () => {
        try {
          resolveId((await start(run.repo, { environment: env, sha: run.sha, tag: release.tag, production: env === "production" })).id);
        } catch (err) {
          resolveId(undefined);
          log.warn({ err: deps.redact(String(err)) }, "deployment not recorded on the code host");
        }
      });
    },
    stageEnded(name, outcome, stopSignal) {
      if (name !== "deploy") return;
      // A deployment left in progress would show as running on GitHub forever.
      if (!outcome) {
        finishDeployment({ state: "error", description: `stopped: ${stopReasonOf(stopSignal).text}`.slice(0, 140) });
        return;
      }
      const url = outcome.detail.preview?.url;
      finishDeployment({ state: outcome.ok ? "success" : "failure", description: describe(name, outcome).slice(0, 140), ...(url ? { environmentUrl: url } : {}) });
    },
    async onPass() {
      if (release.refusal && onCommit) await reportStatus(run, { context: `berth/${env}/deploy`, state: "failure", description: release.refusal }, deps);
    },
  };
  if (release.refusal) shape.passReason = release.refusal;
  return shape;
}
