/**
 * Pure renderer of the HTML test report page served at `/reports/<id>`.
 */
import { formatDuration } from "../domain/duration.js";
import type { CaseStatus, TestCaseResult, TestSuiteReport } from "../reports/junit.js";
import { summarize } from "../reports/junit.js";

export interface ReportPageInput {
  title: string;
  /** Link back to the pull request. */
  prUrl?: string;
  sha: string;
  createdAt: number;
  report: TestSuiteReport;
  /** The test stage's whole output. */
  logUrl?: string;
}

/** Escape text for HTML element and attribute content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

const ORDER: readonly CaseStatus[] = ["failed", "error", "skipped", "passed"];

/** Rows the page renders at most; the summary line always counts every case. */
export const REPORT_PAGE_LIMITS = {
  /** Failing (failed or error) cases shown, with their details. */
  failingRows: 200,
  /** Other (skipped, then passed) cases shown. */
  otherRows: 500,
} as const;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** A self-contained HTML page (no scripts, inline CSS). */
export function renderReportPage(input: ReportPageInput, limits: { failingRows: number; otherRows: number } = REPORT_PAGE_LIMITS): string {
  const summary = summarize(input.report);
  const shown: TestCaseResult[] = [];
  const hidden: Record<CaseStatus, number> = { failed: 0, error: 0, skipped: 0, passed: 0 };
  let failing = 0;
  let other = 0;
  for (const status of ORDER) {
    const isFailing = status === "failed" || status === "error";
    for (const c of input.report.cases) {
      if (c.status !== status) continue;
      if (isFailing ? failing++ < limits.failingRows : other++ < limits.otherRows) shown.push(c);
      else hidden[status]++;
    }
  }
  const rows = shown
    .map((c) => {
      const details = c.details ? `<details><summary>${escapeHtml(c.message ?? "details")}</summary><pre>${escapeHtml(c.details)}</pre></details>` : escapeHtml(c.message ?? "");
      return `<tr class="${c.status}"><td>${c.status}</td><td>${escapeHtml(c.suite)}</td><td>${escapeHtml(c.name)}</td><td>${c.durationMs === undefined ? "" : formatDuration(c.durationMs)}</td><td>${details}</td></tr>`;
    })
    .join("\n");
  const notes: string[] = [];
  const hiddenFailing = hidden.failed + hidden.error;
  const hiddenOther = hidden.skipped + hidden.passed;
  if (hiddenFailing + hiddenOther > 0) {
    const parts = [hiddenFailing && `${hiddenFailing} failing`, hidden.skipped && `${hidden.skipped} skipped`, hidden.passed && `${hidden.passed} passed`].filter(Boolean);
    notes.push(`${parts.join(", ")} not shown: this page lists at most ${limits.failingRows} failing and ${limits.otherRows} other tests.`);
  }
  const omitted = input.report.omitted;
  const omittedCount = omitted ? omitted.failed + omitted.error + omitted.skipped + omitted.passed : 0;
  if (omitted && omittedCount > 0) {
    notes.push(`${plural(omittedCount, "more test")} (${omitted.failed + omitted.error} failing) counted in the summary but not kept: berth keeps a bounded number of test cases per run.`);
  }
  const note = notes.length ? `<p class="note">${notes.map(escapeHtml).join("<br>")}</p>\n` : "";
  const errors = input.report.parseErrors.map((e) => `<li>${escapeHtml(e)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}tr.failed td:first-child,tr.error td:first-child{color:#b00}tr.passed td:first-child{color:#070}tr.skipped td:first-child{color:#777}pre{white-space:pre-wrap}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>Commit <code>${escapeHtml(input.sha.slice(0, 7))}</code>${input.prUrl ? ` · <a href="${escapeHtml(input.prUrl)}">pull request</a>` : ""}${input.logUrl ? ` · <a href="${escapeHtml(input.logUrl)}">full test output</a>` : ""} · ${escapeHtml(new Date(input.createdAt).toISOString())}</p>
<p class="summary"><strong>${summary.passed}</strong> passed · <strong>${summary.failed}</strong> failed · <strong>${summary.skipped}</strong> skipped · ${summary.total} total</p>
${errors ? `<p>Unreadable report files:</p><ul>${errors}</ul>` : ""}
${note}<table><thead><tr><th>Status</th><th>Suite</th><th>Test</th><th>Time</th><th>Message</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
