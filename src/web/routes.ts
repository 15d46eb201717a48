/**
 * berth's own HTTP routes, mounted on Probot's server: report pages and stage logs (health, readiness
 * and metrics are in `ops-routes.ts`).
 */
import { stageLogUrl } from "../domain/report-links.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import { renderReportPage } from "../render/report-page.js";
import type { Store } from "../pipeline/store.js";

/** A Node handler that answers the requests it owns and returns false for the rest. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/** How much of a stored stage log one response carries; `?page=` walks the rest. */
export const LOG_PAGE_LIMITS = { lines: 2000, chars: 256 * 1024 } as const;

/**
 * Offsets where each page of `text` starts: a page ends after `limits.lines` lines or before it
 * would pass `limits.chars` characters (a longer line is cut). One pass of `indexOf`.
 */
function pageStarts(text: string, limits: { lines: number; chars: number }): number[] {
  const starts = [0];
  let start = 0;
  let lines = 0;
  let at = 0;
  while (at < text.length) {
    const newline = text.indexOf("\n", at);
    const end = newline === -1 ? text.length : newline + 1;
    if (end - start > limits.chars) {
      // This line would overflow the page: start a new page before it, or cut it if it alone is too long.
      const cut = at > start ? at : start + limits.chars;
      starts.push(cut);
      start = at = cut;
      lines = 0;
      continue;
    }
    at = end;
    if (++lines >= limits.lines && at < text.length) {
      starts.push(at);
      start = at;
      lines = 0;
    }
  }
  return starts;
}

function send(res: ServerResponse, status: number, type: string, body: string): true {
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "x-content-type-options": "nosniff", "cache-control": "no-store" });
  res.end(body);
  return true;
}

/**
 * `GET /reports/<id>` → the HTML report; `GET /reports/logs/<id>[?page=n]` → one page of a stage's
 * log (the last by default).
 */
export function createWebRoutes(store: Store, reportBaseUrl: string, logPageLimits: { lines: number; chars: number } = LOG_PAGE_LIMITS): RouteHandler {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://berth.local");
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const logMatch = /^\/reports\/logs\/([0-9a-f]{8,64})\/?$/.exec(url.pathname);
    if (logMatch?.[1]) {
      const stored = await store.getLog(logMatch[1]);
      if (!stored) return send(res, 404, "text/plain", "log not found: it never existed, or it is older than the server keeps logs (BERTH_RETENTION_DAYS)\n");
      const run = await store.getRun(stored.runId);
      const what = run ? `${run.repo.owner}/${run.repo.name}${run.prNumber > 0 ? `#${run.prNumber}` : ""} · commit ${run.sha.slice(0, 7)}` : `run ${stored.runId}`;
      const header = `berth · ${stored.stage} log · ${what} · ${new Date(stored.createdAt).toISOString()}`;
      const starts = pageStarts(stored.text, logPageLimits);
      const pages = starts.length;
      const asked = url.searchParams.get("page");
      // Without ?page= the newest output (the last page) is shown: that is where a failure is.
      const page = asked === null ? pages : /^[1-9][0-9]{0,8}$/.test(asked) ? Number(asked) : NaN;
      if (!(page >= 1 && page <= pages)) return send(res, 404, "text/plain", `no such page of this log: it has ${pages} page(s), ?page=1 to ?page=${pages}\n`);
      const body = stored.text.slice(starts[page - 1], starts[page] ?? stored.text.length);
      if (pages === 1) return send(res, 200, "text/plain", `${header}\n\n${body}`);
      const links = [page > 1 ? `earlier: ?page=${page - 1}` : "", page < pages ? `later: ?page=${page + 1}` : "", `first: ?page=1`, `last: ?page=${pages}`].filter(Boolean).join(" · ");
      return send(res, 200, "text/plain", `${header} · page ${page} of ${pages} (${links})\n\n${body}`);
    }
    const match = /^\/reports\/([0-9a-f]{8,64})\/?$/.exec(url.pathname);
    if (!match?.[1]) return false;
    const stored = await store.getReport(match[1]);
    if (!stored) return send(res, 404, "text/plain", "report not found: it never existed, or it is older than the server keeps reports (BERTH_RETENTION_DAYS)\n");
    const run = await store.getRun(stored.runId);
    const pull = await store.getPull(stored.prKey);
    const title = pull ? `Tests of ${pull.repo.owner}/${pull.repo.name}#${pull.prNumber}` : "Test report";
    // The test stage that made this report may have kept its whole output.
    const logId = run ? (await store.stagesOf(run.id)).find((s) => s.detail.tests?.reportId === stored.id)?.detail.logId : undefined;
    const html = renderReportPage({
      title,
      prUrl: pull?.url,
      sha: run?.sha ?? "",
      createdAt: stored.createdAt,
      report: stored.report,
      ...(logId ? { logUrl: stageLogUrl(reportBaseUrl, logId) } : {}),
    });
    return send(res, 200, "text/html", html);
  };
}
