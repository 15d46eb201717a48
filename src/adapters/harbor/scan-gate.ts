/**
 * The vulnerability gate of `build.scan.failOn`: pure, from a scan summary to pass/fail and one
 * sentence saying why. The gate fails closed: when it is configured and the scan did not finish
 * successfully, the image is not known to be clean, so it does not pass.
 */
import type { ScanSummary } from "./scan-summary.js";

/** Lowest severity that stops the deploy (`high` = High or Critical). */
export type ScanFailOn = "critical" | "high" | "medium";

/** What the gate decided. */
export interface ScanGateResult {
  pass: boolean;
  /** One sentence for the status comment. */
  reason: string;
}

const LEVELS = [
  { key: "critical", label: "critical" },
  { key: "high", label: "high" },
  { key: "medium", label: "medium" },
] as const;

const THRESHOLD_WORDS: Record<ScanFailOn, string> = {
  critical: "critical",
  high: "high or critical",
  medium: "medium, high or critical",
};

function plural(count: number, word: string): string {
  return `${count} ${word} ${count === 1 ? "vulnerability" : "vulnerabilities"}`;
}

function joinWords(parts: string[]): string {
  if (parts.length <= 1) return parts.join("");
  return `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1] ?? ""}`;
}

function unfinished(scan: ScanSummary | undefined): string {
  const status = scan?.status ?? "NotScanned";
  switch (status) {
    case "NotScanned":
      return "the image has not been scanned";
    case "Error":
    case "Stopped":
      return `the image's scan ended as ${status}`;
    case "Unknown":
      return "the image's scan status is unknown";
    default:
      return `the image's scan is still ${status}`;
  }
}

/**
 * Decide the gate. Without `failOn` everything passes. With it, the scan must have ended in
 * `Success` and have no finding at or above the threshold.
 */
export function evaluateScanGate(failOn: ScanFailOn | undefined, scan: ScanSummary | undefined): ScanGateResult {
  if (failOn === undefined) return { pass: true, reason: "No vulnerability gate is configured." };
  const threshold = THRESHOLD_WORDS[failOn];
  if (scan === undefined || scan.status !== "Success") {
    return { pass: false, reason: `The gate fails on ${threshold} vulnerabilities, but ${unfinished(scan)}, so it cannot pass.` };
  }
  const upTo = LEVELS.findIndex((level) => level.key === failOn);
  const found = LEVELS.slice(0, upTo + 1)
    .filter((level) => scan[level.key] > 0)
    .map((level) => plural(scan[level.key], level.label));
  if (found.length > 0) {
    return { pass: false, reason: `Found ${joinWords(found)}; the gate fails on ${threshold} vulnerabilities.` };
  }
  return { pass: true, reason: `No ${threshold} vulnerabilities found.` };
}
