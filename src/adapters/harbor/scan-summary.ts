/**
 * Harbor's vulnerability scan overview, reduced to what berth shows and gates on.
 *
 * Harbor keys the overview by the MIME type of the report (`scan_overview[<mime>]`) and nests the
 * counts one level deeper than one would guess: `scan_overview[<mime>].summary.summary.Critical`.
 * While a scan is pending or running the `summary` object is absent or `null`.
 */
import { z } from "zod";

/** Report MIME types berth asks for, preferred first (Harbor ≥ 2.4 answers with the first). */
export const VULNERABILITY_MIME_TYPES = [
  "application/vnd.security.vulnerability.report; version=1.1",
  "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
] as const;

/**
 * Where a scan stands. `Success`, `Error` and `Stopped` are final; `NotScanned` means Harbor has
 * no report for the artifact; `Unknown` is any status word this code does not know.
 */
export type ScanStatus = "NotScanned" | "Pending" | "Scheduled" | "Running" | "Success" | "Error" | "Stopped" | "Unknown";

/** Severity counts of one scan report, as shown in the status comment and used by the gate. */
export interface ScanSummary {
  status: ScanStatus;
  /** MIME type of the report the counts come from; empty when not scanned. */
  mimeType: string;
  reportId: string | undefined;
  /** Overall severity Harbor computed (`Critical`, `High`, ..., `None`), when reported. */
  severity: string | undefined;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  /** All findings, including severities without a field here (`Negligible`, `None`). */
  total: number;
  fixable: number;
  /** 0..100 while running, when Harbor reports it. */
  completePercent: number | undefined;
}

/** zod schema of one `NativeReportSummary` (only the fields berth reads). */
export const nativeReportSummarySchema = z.object({
  report_id: z.string().optional(),
  scan_status: z.string().optional(),
  severity: z.string().optional(),
  complete_percent: z.number().int().optional(),
  summary: z
    .object({
      total: z.number().int().nonnegative().nullish(),
      fixable: z.number().int().nonnegative().nullish(),
      summary: z.record(z.string(), z.number().int().nonnegative()).nullish(),
    })
    .nullish(),
});

/** zod schema of `scan_overview` (MIME type → report summary). */
export const scanOverviewSchema = z.record(z.string(), nativeReportSummarySchema);

const KNOWN_STATUSES: ReadonlyMap<string, ScanStatus> = new Map([
  ["pending", "Pending"],
  ["scheduled", "Scheduled"],
  ["running", "Running"],
  ["success", "Success"],
  ["error", "Error"],
  ["stopped", "Stopped"],
  ["not scanned", "NotScanned"],
]);

/** True when the scan will not change any more. */
export function isFinalScanStatus(status: ScanStatus): boolean {
  return status === "Success" || status === "Error" || status === "Stopped";
}

/** A summary for an artifact Harbor has no report for. */
export function notScanned(): ScanSummary {
  return {
    status: "NotScanned",
    mimeType: "",
    reportId: undefined,
    severity: undefined,
    critical: 0,
    high: 0,
    medium: 0,
    low: 0,
    unknown: 0,
    total: 0,
    fixable: 0,
    completePercent: undefined,
  };
}

/**
 * Pick the report of a scan overview (preferred MIME type first, else the first one present) and
 * read its counts. `null`/`undefined`/`{}` mean "not scanned".
 */
export function parseScanOverview(overview: z.output<typeof scanOverviewSchema> | null | undefined): ScanSummary {
  if (!overview) return notScanned();
  const mimeType = VULNERABILITY_MIME_TYPES.find((mime) => overview[mime] !== undefined) ?? Object.keys(overview)[0];
  const report = mimeType === undefined ? undefined : overview[mimeType];
  if (mimeType === undefined || report === undefined) return notScanned();

  const counts = new Map<string, number>();
  for (const [severity, count] of Object.entries(report.summary?.summary ?? {})) {
    counts.set(severity.toLowerCase(), (counts.get(severity.toLowerCase()) ?? 0) + count);
  }
  const count = (severity: string): number => counts.get(severity) ?? 0;
  const summed = [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    status: KNOWN_STATUSES.get((report.scan_status ?? "").toLowerCase()) ?? "Unknown",
    mimeType,
    reportId: report.report_id,
    severity: report.severity,
    critical: count("critical"),
    high: count("high"),
    medium: count("medium"),
    low: count("low"),
    unknown: count("unknown"),
    total: report.summary?.total ?? summed,
    fixable: report.summary?.fixable ?? 0,
    completePercent: report.complete_percent,
  };
}
