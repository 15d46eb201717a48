import { describe, expect, it } from "vitest";
import type { TestCaseResult, TestSuiteReport } from "../../src/reports/junit.js";
import { renderReportPage } from "../../src/render/report-page.js";

function cases(status: TestCaseResult["status"], n: number): TestCaseResult[] {
  return Array.from({ length: n }, (_, i) => ({ suite: "s", name: `${status}-${i}`, status, ...(status === "failed" ? { message: "m", details: `trace ${i}` } : {}) }));
}
const rowCount = (html: string) => html.match(/<tr class=/g)?.length ?? 0;

describe("renderReportPage limits", () => {
  it("renders at most 200 failing and 500 other rows, failing first, and says how many are left out", () => {
    const report: TestSuiteReport = { cases: [...cases("passed", 3000), ...cases("skipped", 10), ...cases("failed", 250)], files: ["a.xml"], parseErrors: [] };
    const html = renderReportPage({ title: "T", sha: "abcdef0", createdAt: 0, report });
    expect(rowCount(html)).toBe(700);
    expect(html).toContain("<strong>3000</strong> passed · <strong>250</strong> failed · <strong>10</strong> skipped · 3260 total");
    expect(html).toContain("failed-199");
    expect(html).not.toContain("failed-200<");
    expect(html).toContain("skipped-9");
    expect(html).toContain("passed-489<");
    expect(html).not.toContain("passed-490<");
    expect(html).toContain('<p class="note">50 failing, 2510 passed not shown: this page lists at most 200 failing and 500 other tests.</p>');
    expect(html.indexOf("failed-0")).toBeLessThan(html.indexOf("skipped-0"));
    expect(html.indexOf("skipped-0")).toBeLessThan(html.indexOf("passed-0"));
  });

  it("shows everything and no note for a small report", () => {
    const report: TestSuiteReport = { cases: [...cases("passed", 3), ...cases("failed", 1)], files: ["a.xml"], parseErrors: [] };
    const html = renderReportPage({ title: "T", sha: "abcdef0", createdAt: 0, report });
    expect(rowCount(html)).toBe(4);
    expect(html).not.toContain('class="note"');
  });

  it("says when the report itself kept only part of the cases", () => {
    const report: TestSuiteReport = { cases: cases("failed", 2), files: ["a.xml"], parseErrors: [], omitted: { passed: 7, failed: 3, error: 0, skipped: 0 } };
    const html = renderReportPage({ title: "T", sha: "abcdef0", createdAt: 0, report });
    expect(html).toContain("<strong>7</strong> passed · <strong>5</strong> failed · <strong>0</strong> skipped · 12 total");
    expect(html).toContain("10 more tests (3 failing) counted in the summary but not kept: berth keeps a bounded number of test cases per run.");
  });
});
