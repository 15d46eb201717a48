import { describe, expect, it } from "vitest";
import { evaluateScanGate } from "../../src/adapters/harbor/scan-gate.js";
import { notScanned, parseScanOverview, type ScanSummary } from "../../src/adapters/harbor/scan-summary.js";

function summary(counts: Partial<Pick<ScanSummary, "critical" | "high" | "medium" | "low" | "unknown">>, status: ScanSummary["status"] = "Success"): ScanSummary {
  return { ...notScanned(), status, mimeType: "application/vnd.security.vulnerability.report; version=1.1", ...counts };
}

describe("evaluateScanGate", () => {
  it("passes everything when no gate is configured, even an unscanned image", () => {
    expect(evaluateScanGate(undefined, undefined)).toEqual({ pass: true, reason: "No vulnerability gate is configured." });
    expect(evaluateScanGate(undefined, summary({ critical: 9 }))).toEqual({ pass: true, reason: "No vulnerability gate is configured." });
  });

  it("failOn critical: fails on a critical finding only", () => {
    expect(evaluateScanGate("critical", summary({ critical: 1, high: 3 }))).toEqual({
      pass: false,
      reason: "Found 1 critical vulnerability; the gate fails on critical vulnerabilities.",
    });
    expect(evaluateScanGate("critical", summary({ high: 3, medium: 7, low: 20 }))).toEqual({ pass: true, reason: "No critical vulnerabilities found." });
  });

  it("failOn high: fails on high or critical, names each count", () => {
    expect(evaluateScanGate("high", summary({ critical: 2, high: 1, medium: 4 }))).toEqual({
      pass: false,
      reason: "Found 2 critical vulnerabilities and 1 high vulnerability; the gate fails on high or critical vulnerabilities.",
    });
    expect(evaluateScanGate("high", summary({ high: 5 }))).toEqual({
      pass: false,
      reason: "Found 5 high vulnerabilities; the gate fails on high or critical vulnerabilities.",
    });
    expect(evaluateScanGate("high", summary({ medium: 4, low: 1, unknown: 2 }))).toEqual({ pass: true, reason: "No high or critical vulnerabilities found." });
  });

  it("failOn medium: fails on medium and above, ignores low and unknown", () => {
    expect(evaluateScanGate("medium", summary({ critical: 1, high: 2, medium: 3 }))).toEqual({
      pass: false,
      reason: "Found 1 critical vulnerability, 2 high vulnerabilities and 3 medium vulnerabilities; the gate fails on medium, high or critical vulnerabilities.",
    });
    expect(evaluateScanGate("medium", summary({ low: 40, unknown: 3 }))).toEqual({ pass: true, reason: "No medium, high or critical vulnerabilities found." });
  });

  it("fails closed when the scan did not end in Success", () => {
    expect(evaluateScanGate("critical", undefined)).toEqual({
      pass: false,
      reason: "The gate fails on critical vulnerabilities, but the image has not been scanned, so it cannot pass.",
    });
    expect(evaluateScanGate("high", summary({}, "Running"))).toEqual({
      pass: false,
      reason: "The gate fails on high or critical vulnerabilities, but the image's scan is still Running, so it cannot pass.",
    });
    expect(evaluateScanGate("medium", summary({}, "Error"))).toEqual({
      pass: false,
      reason: "The gate fails on medium, high or critical vulnerabilities, but the image's scan ended as Error, so it cannot pass.",
    });
    expect(evaluateScanGate("high", summary({}, "Unknown")).pass).toBe(false);
  });
});

describe("parseScanOverview", () => {
  it("reads the counts at scan_overview[<mime>].summary.summary, preferring the v1.1 report", () => {
    const parsed = parseScanOverview({
      "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0": { scan_status: "Success", summary: { total: 1, fixable: 0, summary: { Low: 1 } } },
      "application/vnd.security.vulnerability.report; version=1.1": {
        report_id: "r1",
        scan_status: "Success",
        severity: "Critical",
        summary: { total: 12, fixable: 4, summary: { Critical: 1, High: 2, Medium: 3, Low: 4, Unknown: 1, Negligible: 1 } },
      },
    });
    expect(parsed).toEqual({
      status: "Success",
      mimeType: "application/vnd.security.vulnerability.report; version=1.1",
      reportId: "r1",
      severity: "Critical",
      critical: 1,
      high: 2,
      medium: 3,
      low: 4,
      unknown: 1,
      total: 12,
      fixable: 4,
      completePercent: undefined,
    });
  });

  it("treats a missing, null or empty summary as zero and a missing overview as not scanned", () => {
    expect(parseScanOverview({ "x/other": { scan_status: "Running", summary: null, complete_percent: 40 } })).toMatchObject({
      status: "Running",
      mimeType: "x/other",
      critical: 0,
      total: 0,
      completePercent: 40,
    });
    expect(parseScanOverview({ "x/other": { scan_status: "Success", summary: { total: 0, fixable: 0, summary: null } } })).toMatchObject({ status: "Success", total: 0 });
    expect(parseScanOverview(undefined).status).toBe("NotScanned");
    expect(parseScanOverview({}).status).toBe("NotScanned");
    expect(parseScanOverview({ "x/other": { scan_status: "Exploded" } }).status).toBe("Unknown");
  });
});
