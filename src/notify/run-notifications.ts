/**
 * Which run events are chat events, and what their message says; pure. A preview deployed
 * (`facts.preview`), an environment deployed (`facts.environment`), a preview removed
 * (`facts.previewRemoved`) and a failed run are told; everything else is not.
 */
import { reportUrl, stageLogUrl } from "../domain/report-links.js";
import type { PullRecord, RunRecord, StageRecord } from "../domain/records.js";
import type { RepoConfig } from "../domain/repo-config.js";
import type { RunEvent } from "../pipeline/run-events.js";
import { MAX_FAILING_TESTS, type ChatMessage, type NotifyEvent } from "./channel.js";

/** The chat event a run event is, if any. */
export function notifyEventOf(event: RunEvent): NotifyEvent | undefined {
  if (event.type === "stage-finished" && event.ok) {
    if (event.facts.environment) return "environment-deployed";
    if (event.facts.preview) return "preview-ready";
    if (event.facts.previewRemoved) return "preview-removed";
    return undefined;
  }
  if (event.type === "run-finished" && event.status === "failed") return "failed";
  return undefined;
}

/** Channels of `config` that hear of `event`, each once. */
export function channelsFor(config: RepoConfig | undefined, event: NotifyEvent): string[] {
  return [...new Set((config?.notify ?? []).filter((rule) => rule.on.includes(event)).map((rule) => rule.channel))];
}

/** What the message may draw on besides the event: the PR as berth keeps it, the run's stages (for a failure), the report links' base. */
export interface MessageContext {
  pull?: PullRecord;
  stages?: StageRecord[];
  reportBaseUrl: string;
}

const RUN_NOUN: Record<RunRecord["kind"], string> = { pipeline: "Pipeline", delete: "Preview removal", release: "Release" };

/** The message of chat event `kind` from run event `event`. */
export function messageOf(kind: NotifyEvent, event: RunEvent, context: MessageContext): ChatMessage {
  const run = event.run;
  const pull = context.pull;
  const message: ChatMessage = {
    event: kind,
    repo: `${run.repo.owner}/${run.repo.name}`,
    repoUrl: run.repo.htmlUrl,
    sha: run.sha,
    headline: "",
    failingTests: [],
  };
  if (run.prNumber > 0) {
    message.pr = {
      number: run.prNumber,
      url: pull?.url ?? `${run.repo.htmlUrl}/pull/${run.prNumber}`,
      ...(pull?.title ? { title: pull.title } : {}),
      ...(pull?.headRef ? { branch: pull.headRef } : {}),
    };
  }
  if (event.type === "stage-finished") {
    const facts = event.facts;
    if (kind === "environment-deployed" && facts.environment) {
      message.headline = `Deployed to ${facts.environment.environment}`;
      message.environment = { name: facts.environment.environment, tag: facts.environment.tag, url: facts.environment.url };
    } else if (kind === "preview-ready" && facts.preview) {
      message.headline = "Preview ready";
      message.previewUrl = facts.preview.url;
    } else {
      message.headline = "Preview removed";
      if (event.detail.reason) message.reason = event.detail.reason;
    }
    if (event.detail.logId) message.logUrl = stageLogUrl(context.reportBaseUrl, event.detail.logId);
    return message;
  }
  const failed = context.stages?.find((s) => s.state === "failed");
  const noun = RUN_NOUN[run.kind];
  message.headline = failed ? `${noun} failed at ${failed.name}` : `${noun} failed`;
  const reason = failed?.detail.reason ?? (failed?.detail.failingStep ? `at step ${failed.detail.failingStep}` : undefined) ?? (event.type === "run-finished" ? event.reason : undefined);
  if (reason) message.reason = reason;
  if (run.release) message.environment = { name: run.release.environment, tag: run.release.tag, url: "" };
  const tests = (context.stages ?? []).find((s) => s.detail.tests)?.detail.tests;
  if (tests) {
    message.tests = { passed: tests.passed, failed: tests.failed, skipped: tests.skipped };
    message.reportUrl = reportUrl(context.reportBaseUrl, tests.reportId);
    message.failingTests = tests.firstFailures.slice(0, MAX_FAILING_TESTS).map((f) => ({ name: f.name, message: f.message }));
  }
  if (failed?.detail.logId) message.logUrl = stageLogUrl(context.reportBaseUrl, failed.detail.logId);
  const preview = pull?.preview;
  if (preview && preview.sha === run.sha) message.previewUrl = preview.url;
  return message;
}
