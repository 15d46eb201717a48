/**
 * Pure renderer: the state of a PR's preview → the markdown of its one status comment.
 */
import { reportUrl, stageLogUrl } from "../domain/report-links.js";
import { formatDuration } from "../domain/duration.js";
import { sha7 } from "../domain/naming.js";
import { STAGES, type RunStatus, type StageName, type StageState } from "../domain/types.js";
import type { Notice, StageDetail } from "../pipeline/records.js";
import { codeBlock, inlineCode, plainText } from "./markdown.js";

/** Hidden marker by which berth finds its comment again. */
export const STATUS_MARKER = "<!-- berth:status -->";

export interface StageView {
  name: StageName;
  /** "pending" = not part of this run. */
  state: StageState;
  durationMs?: number;
  detail: StageDetail;
}

export interface RunView {
  id: string;
  sha: string;
  trigger: string;
  status: RunStatus;
  reason?: string;
  /** 1-based place in the queue while queued. */
  queuePosition?: number;
  stages: StageView[];
}

export interface StatusView {
  headSha: string;
  notice?: Notice;
  run?: RunView;
  preview?: { url: string; sha: string };
  /** Base of report links, e.g. `https://berth.example.com/reports`. */
  reportBaseUrl: string;
  /** Tag-flow environments running the head commit. */
  environments?: Array<{ name: string; tag: string; url: string }>;
  /** The run before the shown one, when a newer commit superseded it. */
  superseded?: { sha: string; reason: string };
  /** Test stage configured in the repo (otherwise the row says so). */
  testsConfigured: boolean;
}

const STATE_LABEL: Record<StageState, string> = {
  pending: "—",
  queued: "⏳ queued",
  running: "🔄 running",
  passed: "✅ passed",
  failed: "❌ failed",
  superseded: "⏭️ superseded",
  cancelled: "🚫 cancelled",
};

function stageDetails(stage: StageView, view: StatusView): string {
  const d = stage.detail;
  const parts: string[] = [];
  if (stage.name === "build" && d.image) {
    parts.push(inlineCode(d.image.ref));
    parts.push(inlineCode(d.image.digest.length > 19 ? `${d.image.digest.slice(0, 19)}…` : d.image.digest));
    if (d.reused) parts.push("reused");
    if (!d.image.pushed) parts.push("local only");
  }
  if (stage.name === "build" && d.scan) {
    const s = d.scan;
    const counts = `🛡️ ${s.critical} critical, ${s.high} high, ${s.medium} medium, ${s.low} low (${s.fixable} fixable)`;
    const text = s.status === "Success" ? counts : `🛡️ scan ${plainText(s.status, 20)}`;
    parts.push(s.url ? `[${text}](${s.url})` : text);
  }
  if (stage.name === "deploy" && d.preview) parts.push(d.preview.url);
  if (stage.name === "test" && d.tests) {
    const t = d.tests;
    parts.push(`${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
    parts.push(`[report](${reportUrl(view.reportBaseUrl, t.reportId)})`);
    if (t.timedOut) parts.push("timed out");
    else if (t.exitCode !== null && t.exitCode !== 0) parts.push(`exit code ${t.exitCode}`);
  }
  if (stage.name === "test" && stage.state === "pending" && !view.testsConfigured) parts.push("no `test` section in berth.yml");
  if (d.reason) parts.push(plainText(d.reason, 200));
  if (d.logId) parts.push(`[log](${stageLogUrl(view.reportBaseUrl, d.logId)})`);
  return parts.join(" · ");
}

function stageRow(stage: StageView, view: StatusView): string {
  let status = STATE_LABEL[stage.state];
  if (stage.state === "queued" && view.run?.queuePosition && stage === view.run.stages.find((s) => s.state === "queued")) {
    status += ` (position ${view.run.queuePosition})`;
  }
  const time = stage.durationMs !== undefined ? formatDuration(stage.durationMs) : "";
  return `| ${stage.name} | ${status} | ${time} | ${stageDetails(stage, view)} |`;
}

function failureSection(stage: StageView): string[] {
  const d = stage.detail;
  if (stage.state !== "failed" || !d.logTail?.length) return [];
  const summary = d.failingStep ? `${stage.name} failed at ${inlineCode(d.failingStep)}: last log lines` : `${stage.name}: last log lines`;
  return ["", `<details><summary>${summary}</summary>`, "", codeBlock(d.logTail.join("\n")), "", "</details>"];
}

function testsSection(view: StatusView): string[] {
  const test = view.run?.stages.find((s) => s.name === "test");
  const failures = test?.detail.tests?.firstFailures ?? [];
  if (!failures.length) return [];
  return ["", "**Failing tests**", ...failures.map((f) => `- ${inlineCode(f.name)}: ${plainText(f.message, 200)}`)];
}

/** Render the status comment (marker included). Equal input gives equal output: no clocks here. */
export function renderStatusComment(view: StatusView): string {
  const lines: string[] = [STATUS_MARKER, `### berth · preview of ${inlineCode(sha7(view.headSha))}`];
  if (view.notice) lines.push("", `> ${view.notice.kind === "config-error" ? "⚠️ " : "ℹ️ "}${view.notice.text.split("\n").join("\n> ")}`);
  const run = view.run;
  if (run) {
    lines.push("", "| Stage | Status | Time | Details |", "| --- | --- | --- | --- |");
    for (const name of STAGES) {
      const stage = run.stages.find((s) => s.name === name) ?? { name, state: "pending" as const, detail: {} };
      lines.push(stageRow(stage, view));
    }
    if (run.sha !== view.headSha) lines.push("", `These stages ran for commit ${inlineCode(sha7(run.sha))}, not the head commit.`);
    if (run.reason && (run.status === "superseded" || run.status === "cancelled")) lines.push("", `Run ${run.status}: ${plainText(run.reason)}`);
  }
  if (view.superseded) lines.push("", `⏭️ The run for commit ${inlineCode(sha7(view.superseded.sha))} was stopped: ${plainText(view.superseded.reason)}.`);
  lines.push("");
  if (view.preview) {
    lines.push(`**Preview:** ${view.preview.url} (commit ${inlineCode(sha7(view.preview.sha))})`);
  } else {
    lines.push("**Preview:** none running");
  }
  if (view.environments?.length) {
    lines.push("", `**Environments** running this commit: ${view.environments.map((e) => `${plainText(e.name, 40)} (${inlineCode(e.tag)}) ${e.url}`).join(" · ")}`);
  }
  lines.push(...testsSection(view));
  for (const stage of run?.stages ?? []) lines.push(...failureSection(stage));
  if (run) lines.push("", `<sub>berth run ${inlineCode(run.id)} · trigger ${inlineCode(run.trigger)} · comment \`/help\` for commands</sub>`);
  else lines.push("", "<sub>comment `/help` for commands</sub>");
  return lines.join("\n");
}
