/**
 * Pure renderer of the HTML test report page served at `/reports/<id>`.
 */
import { formatDuration } from "../domain/duration.js";
import type { CaseStatus, TestSuiteReport } from "../reports/junit.js";
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

const ORDER: Record<CaseStatus, number> = { failed: 0, error: 1, skipped: 2, passed: 3 };

/** A self-contained HTML page (no scripts, inline CSS). */
export function renderReportPage(input: ReportPageInput): string {
  const summary = summarize(input.report);
  const cases = [...input.report.cases].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const rows = cases
    .map((c) => {
      const details = c.details ? `<details><summary>${escapeHtml(c.message ?? "details")}</summary><pre>${escapeHtml(c.details)}</pre></details>` : escapeHtml(c.message ?? "");
      return `<tr class="${c.status}"><td>${c.status}</td><td>${escapeHtml(c.suite)}</td><td>${escapeHtml(c.name)}</td><td>${c.durationMs === undefined ? "" : formatDuration(c.durationMs)}</td><td>${details}</td></tr>`;
    })
    .join("\n");
  const errors = input.report.parseErrors.map((e) => `<li>${escapeHtml(e)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}tr.failed td:first-child,tr.error td:first-child{color:#b00}tr.passed td:first-child{color:#070}tr.skipped td:first-child{color:#777}pre{white-space:pre-wrap}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>Commit <code>${escapeHtml(input.sha.slice(0, 7))}</code>${input.prUrl ? ` · <a href="${escapeHtml(input.prUrl)}">pull request</a>` : ""}${input.logUrl ? ` · <a href="${escapeHtml(input.logUrl)}">full test output</a>` : ""} · ${escapeHtml(new Date(input.createdAt).toISOString())}</p>
<p class="summary"><strong>${summary.passed}</strong> passed · <strong>${summary.failed}</strong> failed · <strong>${summary.skipped}</strong> skipped · ${summary.total} total</p>
${errors ? `<p>Unreadable report files:</p><ul>${errors}</ul>` : ""}
<table><thead><tr><th>Status</th><th>Suite</th><th>Test</th><th>Time</th><th>Message</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
