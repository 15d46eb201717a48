/**
 * Where berth serves what it stores (see `web/routes.ts`): links for comments and commit statuses.
 * `base` is `$BERTH_PUBLIC_URL/reports`.
 */

/** The HTML page of a test report. */
export function reportUrl(base: string, reportId: string): string {
  return `${base}/${reportId}`;
}

/** The plain-text output of one stage. */
export function stageLogUrl(base: string, logId: string): string {
  return `${base}/logs/${logId}`;
}
