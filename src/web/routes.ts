/**
 * berth's own HTTP routes, mounted on Probot's server: report pages and a health check.
 */
import { stageLogUrl } from "../domain/report-links.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import { renderReportPage } from "../render/report-page.js";
import type { Store } from "../pipeline/store.js";

/** A Node handler that answers the requests it owns and returns false for the rest. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

function send(res: ServerResponse, status: number, type: string, body: string): true {
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "x-content-type-options": "nosniff", "cache-control": "no-store" });
  res.end(body);
  return true;
}

/** `GET /reports/<id>` → the HTML report; `GET /reports/logs/<id>` → a stage's log; `GET /healthz` → 200. */
export function createWebRoutes(store: Store, reportBaseUrl: string): RouteHandler {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://berth.local");
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (url.pathname === "/healthz") return send(res, 200, "application/json", JSON.stringify({ ok: true }));
    const logMatch = /^\/reports\/logs\/([0-9a-f]{8,64})\/?$/.exec(url.pathname);
    if (logMatch?.[1]) {
      const stored = store.getLog(logMatch[1]);
      if (!stored) return send(res, 404, "text/plain", "log not found: it never existed, or it is older than the server keeps logs (BERTH_RETENTION_DAYS)\n");
      const run = store.getRun(stored.runId);
      const what = run ? `${run.repo.owner}/${run.repo.name}${run.prNumber > 0 ? `#${run.prNumber}` : ""} · commit ${run.sha.slice(0, 7)}` : `run ${stored.runId}`;
      return send(res, 200, "text/plain", `berth · ${stored.stage} log · ${what} · ${new Date(stored.createdAt).toISOString()}\n\n${stored.text}`);
    }
    const match = /^\/reports\/([0-9a-f]{8,64})\/?$/.exec(url.pathname);
    if (!match?.[1]) return false;
    const stored = store.getReport(match[1]);
    if (!stored) return send(res, 404, "text/plain", "report not found: it never existed, or it is older than the server keeps reports (BERTH_RETENTION_DAYS)\n");
    const run = store.getRun(stored.runId);
    const pull = store.getPull(stored.prKey);
    const title = pull ? `Tests of ${pull.repo.owner}/${pull.repo.name}#${pull.prNumber}` : "Test report";
    // The test stage that made this report may have kept its whole output.
    const logId = run ? store.stagesOf(run.id).find((s) => s.detail.tests?.reportId === stored.id)?.detail.logId : undefined;
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
