import { describe, expect, it } from "vitest";
import { parseJUnit, summarize } from "../../src/reports/junit.js";
import { renderReportPage } from "../../src/render/report-page.js";

const XML = `<?xml version="1.0"?>
<testsuites>
  <testsuite name="api" tests="3">
    <testcase classname="api.auth" name="login" time="0.25"/>
    <testcase name="logout &amp; back"><failure message="expected 200">trace line 1
trace line 2</failure></testcase>
    <testcase name="later"><skipped message="not today"/></testcase>
  </testsuite>
  <testsuite name="ui"><testcase name="renders"><error message="TypeError: x is undefined"/></testcase></testsuite>
</testsuites>`;

describe("parseJUnit", () => {
  it("reads suites, cases and outcomes", () => {
    const report = parseJUnit([{ path: "/reports/a.xml", content: XML }]);
    expect(report.parseErrors).toEqual([]);
    expect(report.cases.map((c) => `${c.suite}/${c.name}=${c.status}`)).toEqual(["api/login=passed", "api/logout & back=failed", "api/later=skipped", "ui/renders=error"]);
    expect(report.cases[0]?.durationMs).toBe(250);
    expect(report.cases[1]?.details).toBe("trace line 1\ntrace line 2");
    expect(summarize(report)).toEqual({
      total: 4,
      passed: 1,
      failed: 2,
      skipped: 1,
      firstFailures: [
        { name: "api › logout & back", message: "expected 200" },
        { name: "ui › renders", message: "TypeError: x is undefined" },
      ],
    });
  });

  it("reports broken files instead of throwing", () => {
    const report = parseJUnit([
      { path: "bad.xml", content: "<testsuite><testcase></testsuite>" },
      { path: "other.xml", content: "<html/>" },
    ]);
    expect(report.cases).toEqual([]);
    expect(report.parseErrors).toHaveLength(2);
    expect(report.parseErrors[1]).toContain("not a JUnit report");
  });

  it("renders an escaped report page", () => {
    const report = parseJUnit([{ path: "x.xml", content: `<testsuite name="&lt;script&gt;"><testcase name="a"/></testsuite>` }]);
    const html = renderReportPage({ title: "Tests", sha: "abcdef0123", createdAt: 0, report });
    expect(html).toContain("&lt;script&gt;");
    expect(html).not.toContain("<script>");
    expect(html).toContain("<strong>1</strong> passed");
  });
});
