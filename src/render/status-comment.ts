/**
 * Pure renderer: the state of a PR's preview → the markdown of its one status comment.
 */
import { reportUrl, stageLogUrl } from "../domain/report-links.js";
import { formatDuration } from "../domain/duration.js";
import { sha7 } from "../domain/naming.js";
import { STAGES, type RunStatus, type StageName, type StageState } from "../domain/types.js";
import type { Notice, StageDetail } from "../domain/records.js";
import type { AcceptanceRecord } from "../domain/acceptance.js";
import { clip, codeBlock, htmlText, inlineCode, MAX_LOG_LINE, plainText, quotedMarkdown, safeUrl } from "./markdown.js";

/** Hidden marker by which berth finds its comment again. */
export const STATUS_MARKER = "<!-- berth:status -->";

/**
 * Longest comment berth posts, in UTF-16 code units (JavaScript's `length`). GitHub refuses bodies
 * over 65,536 characters; the margin covers any difference in how it counts.
 */
export const COMMENT_MAX_CHARS = 60_000;

/** Environments listed at most (tag flow); more are counted. */
const MAX_ENVIRONMENTS = 10;

/** Log-tail lines and failing tests a comment shows at most, even when they would fit (the log and the report have them all). */
const MAX_LOG_LINES = 200;
const MAX_FAILURES = 50;

/** How much of the long parts one rendering shows. */
interface Limits {
  /** Newest lines of each failing stage's log tail. */
  logLines: number;
  /** First failing tests listed. */
  failures: number;
}

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
  preview?: {
    url: string;
    sha: string;
    sleepingSince?: number;
    expiresAt?: number;
    /** Only signed-in readers of the repository, or holders of the signed link, get in. */
    private?: boolean;
    signedLink?: { url: string; expiresAt: number };
  };
  /** Base of report links, e.g. `https://berth.example.com/reports`. */
  reportBaseUrl: string;
  /** Tag-flow environments running the head commit. */
  environments?: Array<{ name: string; tag: string; url: string }>;
  /** The run before the shown one, when a newer commit superseded it. */
  superseded?: { sha: string; reason: string };
  /** Test stage configured in the repo (otherwise the row says so). */
  testsConfigured: boolean;
  /** Testers' verdict on the head commit, when the repo uses acceptance. */
  acceptance?: AcceptanceRecord;
}

/** `2026-12-02 17:04 UTC`. */
function utcMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function acceptanceLine(record: AcceptanceRecord): string {
  const commit = `commit ${inlineCode(sha7(record.sha))}`;
  switch (record.state) {
    case "pending":
      return `**Acceptance:** ⏳ waiting for ${commit}: testers comment \`/accept\` or \`/reject <reason>\``;
    case "accepted":
      return `**Acceptance:** ✅ accepted by ${plainText(record.by, 100)} (${commit}, ${utcMinute(record.at)})`;
    case "rejected":
      return `**Acceptance:** ❌ rejected by ${plainText(record.by, 100)} (${commit}, ${utcMinute(record.at)}): ${plainText(record.reason, 500)}`;
  }
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

/** Scan statuses shown as "pending": the scan is still to finish (berth follows it in the background). */
const SCAN_UNDERWAY: ReadonlySet<string> = new Set(["Pending", "Scheduled", "Running"]);

function stageDetails(stage: StageView, view: StatusView): string {
  const d = stage.detail;
  const parts: string[] = [];
  if (stage.name === "build" && d.image) {
    parts.push(inlineCode(d.image.ref, { table: true }));
    parts.push(inlineCode(d.image.digest.length > 19 ? `${d.image.digest.slice(0, 19)}…` : d.image.digest, { table: true }));
    if (d.reused) parts.push("reused");
    if (!d.image.pushed) parts.push("local only");
  }
  if (stage.name === "build" && d.scan) {
    const s = d.scan;
    const counts = `🛡️ ${s.critical} critical, ${s.high} high, ${s.medium} medium, ${s.low} low (${s.fixable} fixable)`;
    const text = s.status === "Success" ? counts : SCAN_UNDERWAY.has(s.status) ? "🛡️ scan pending…" : `🛡️ scan ${plainText(s.status, 20)}`;
    parts.push(s.url ? `[${text}](${safeUrl(clip(s.url, 500))})` : text);
  }
  if (stage.name === "deploy" && d.preview) parts.push(safeUrl(clip(d.preview.url, 500)));
  if (stage.name === "test" && d.tests) {
    const t = d.tests;
    parts.push(`${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
    parts.push(`[report](${reportUrl(view.reportBaseUrl, t.reportId)})`);
    if (t.timedOut) parts.push("timed out");
    else if (t.exitCode !== null && t.exitCode !== 0) parts.push(`exit code ${t.exitCode}`);
  }
  if (stage.name === "test" && stage.state === "pending" && !view.testsConfigured) parts.push("no `test` section in berth.yml");
  if (d.reason) parts.push(quotedMarkdown(d.reason, { max: 200, table: true }));
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

function failureSection(stage: StageView, view: StatusView, limits: Limits): string[] {
  const d = stage.detail;
  if (stage.state !== "failed" || !d.logTail?.length) return [];
  // The summary line is raw HTML (markdown is not parsed there): escaped as HTML, the backticks only look like code.
  const summary = d.failingStep ? `${stage.name} failed at \`${htmlText(d.failingStep, 200)}\`: last log lines` : `${stage.name}: last log lines`;
  const shown = d.logTail.slice(Math.max(0, d.logTail.length - limits.logLines)).map((line) => clip(line, MAX_LOG_LINE));
  const hidden = d.logTail.length - shown.length;
  const where = d.logId ? `the [log](${stageLogUrl(view.reportBaseUrl, d.logId)})` : "the stage log";
  const note = hidden > 0 ? ["", `… ${hidden} more lines, see ${where}`] : [];
  const block = shown.length ? ["", codeBlock(shown.join("\n"))] : [];
  return ["", `<details><summary>${summary}</summary>`, ...note, ...block, "", "</details>"];
}

function testsSection(view: StatusView, limits: Limits): string[] {
  const test = view.run?.stages.find((s) => s.name === "test");
  const tests = test?.detail.tests;
  const failures = tests?.firstFailures ?? [];
  if (!failures.length) return [];
  const shown = failures.slice(0, limits.failures);
  const lines = shown.map((f) => `- ${inlineCode(f.name, { max: 200 })}: ${plainText(f.message, 200)}`);
  const hidden = failures.length - shown.length;
  if (hidden > 0) lines.push(`- … ${hidden} more failing tests, see the [report](${reportUrl(view.reportBaseUrl, tests!.reportId)})`);
  return ["", "**Failing tests**", ...lines];
}

/**
 * Render the status comment (marker included). Equal input gives equal output: no clocks here.
 * Every repository- or build-derived string is escaped for where it lands (see `markdown.ts`), and
 * the result is at most {@link COMMENT_MAX_CHARS}: log tails, then failing tests, are shortened first.
 */
export function renderStatusComment(view: StatusView): string {
  const tails = (view.run?.stages ?? []).map((s) => s.detail.logTail?.length ?? 0);
  const failures = view.run?.stages.find((s) => s.name === "test")?.detail.tests?.firstFailures.length ?? 0;
  const limits: Limits = { logLines: Math.min(MAX_LOG_LINES, Math.max(0, ...tails)), failures: Math.min(MAX_FAILURES, failures) };
  for (;;) {
    const text = render(view, limits);
    if (text.length <= COMMENT_MAX_CHARS) return text;
    if (limits.logLines > 5) limits.logLines = Math.floor(limits.logLines / 2);
    else if (limits.failures > 3) limits.failures = Math.floor(limits.failures / 2);
    else if (limits.logLines > 0) limits.logLines = 0;
    else if (limits.failures > 0) limits.failures = 0;
    // Every other part is bounded field by field; this only guards against a mistake in those bounds.
    else return `${clip(text, COMMENT_MAX_CHARS - 200)}\n\n… the comment was cut to stay within GitHub's limit`;
  }
}

function render(view: StatusView, limits: Limits): string {
  const lines: string[] = [STATUS_MARKER, `### berth · preview of ${inlineCode(sha7(view.headSha))}`];
  if (view.notice) lines.push("", `> ${view.notice.kind === "config-error" ? "⚠️ " : "ℹ️ "}${quotedMarkdown(view.notice.text).split("\n").join("\n> ")}`);
  const run = view.run;
  if (run) {
    lines.push("", "| Stage | Status | Time | Details |", "| --- | --- | --- | --- |");
    for (const name of STAGES) {
      const stage = run.stages.find((s) => s.name === name) ?? { name, state: "pending" as const, detail: {} };
      lines.push(stageRow(stage, view));
    }
    if (run.sha !== view.headSha) lines.push("", `These stages ran for commit ${inlineCode(sha7(run.sha))}, not the head commit.`);
    if (run.reason && (run.status === "superseded" || run.status === "cancelled")) lines.push("", `Run ${run.status}: ${quotedMarkdown(run.reason, { max: 300, table: true })}`);
  }
  if (view.superseded) lines.push("", `⏭️ The run for commit ${inlineCode(sha7(view.superseded.sha))} was stopped: ${quotedMarkdown(view.superseded.reason, { max: 300, table: true })}.`);
  lines.push("");
  if (view.preview) {
    lines.push(`**Preview:** ${safeUrl(clip(view.preview.url, 500))} (commit ${inlineCode(sha7(view.preview.sha))})`);
    if (view.preview.private) {
      const link = view.preview.signedLink;
      lines.push("", link
        ? `🔒 Private preview: sign in with the code host to open it, or share the [signed link](${safeUrl(clip(link.url, 2000))}) (works until ${utcMinute(link.expiresAt)}, for anyone who has it).`
        : "🔒 Private preview: sign in with the code host to open it.");
    }
    if (view.preview.sleepingSince !== undefined) lines.push("", `💤 Asleep since ${utcMinute(view.preview.sleepingSince)} for lack of visits: opening it wakes it up, or comment \`/wake\`.`);
    if (view.preview.expiresAt !== undefined) lines.push("", `<sub>The preview is removed at ${utcMinute(view.preview.expiresAt)} unless a new commit is pushed; \`/keep\` keeps it 7 more days.</sub>`);
  } else {
    lines.push("**Preview:** none running");
  }
  if (view.acceptance) lines.push("", acceptanceLine(view.acceptance));
  const environments = view.environments ?? [];
  if (environments.length) {
    const shown = environments.slice(0, MAX_ENVIRONMENTS).map((e) => `${plainText(e.name, 40)} (${inlineCode(e.tag, { max: 100 })}) ${safeUrl(clip(e.url, 300))}`);
    if (environments.length > shown.length) shown.push(`… ${environments.length - shown.length} more`);
    lines.push("", `**Environments** running this commit: ${shown.join(" · ")}`);
  }
  lines.push(...testsSection(view, limits));
  for (const stage of run?.stages ?? []) lines.push(...failureSection(stage, view, limits));
  if (run) lines.push("", `<sub>berth run ${inlineCode(run.id, { max: 64 })} · trigger ${inlineCode(run.trigger, { max: 100 })} · comment \`/help\` for commands</sub>`);
  else lines.push("", "<sub>comment `/help` for commands</sub>");
  return lines.join("\n");
}

