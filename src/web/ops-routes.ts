/**
 * Operations routes: `GET /healthz` (the process answers: 200 `ok`), `GET /readyz` (200 only when
 * every readiness check passes; the JSON body names each check and why one failed, 503 otherwise)
 * and `GET /metrics` (Prometheus text; with `BERTH_METRICS_TOKEN` set, only for
 * `Authorization: Bearer <token>`).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Redactor } from "../domain/redact.js";
import type { BerthMetrics } from "../metrics/berth-metrics.js";
import { checkReadiness, type ReadinessCheck } from "./readiness.js";
import type { RouteHandler } from "./routes.js";

export interface OpsRoutesOptions {
  /** Served at `/metrics`; without it the route does not exist. */
  metrics?: Pick<BerthMetrics, "render" | "contentType">;
  /** When set, `/metrics` answers only `Authorization: Bearer <token>` (BERTH_METRICS_TOKEN). */
  metricsToken?: string;
  readiness: readonly ReadinessCheck[];
  /** Deadline of each readiness check (ms). */
  readinessTimeoutMs?: number;
  redact?: Redactor;
  log?: Pick<Logger, "warn">;
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): true {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff", ...extra });
  res.end(body);
  return true;
}

/** Constant-time comparison of digests (lengths of the raw values do not leak either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function bearerOf(req: IncomingMessage): string | undefined {
  const value = req.headers.authorization;
  const match = typeof value === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return match?.[1];
}

export function createOpsRoutes(options: OpsRoutesOptions): RouteHandler {
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const pathname = new URL(req.url ?? "/", "http://berth.local").pathname;
    if (pathname === "/healthz") return send(res, 200, "text/plain; charset=utf-8", "ok\n");
    if (pathname === "/readyz") {
      const readiness = await checkReadiness(options.readiness, { ...(options.readinessTimeoutMs !== undefined ? { timeoutMs: options.readinessTimeoutMs } : {}), ...(options.redact ? { redact: options.redact } : {}) });
      if (!readiness.ready) {
        const failed = Object.entries(readiness.checks).filter(([, r]) => !r.ok).map(([name]) => name);
        options.log?.warn({ failed }, "not ready");
      }
      return send(res, readiness.ready ? 200 : 503, "application/json; charset=utf-8", `${JSON.stringify({ status: readiness.ready ? "ready" : "not ready", checks: readiness.checks })}\n`);
    }
    if (pathname === "/metrics" && options.metrics) {
      if (options.metricsToken) {
        const given = bearerOf(req);
        if (given === undefined || !sameSecret(given, options.metricsToken)) {
          return send(res, 401, "text/plain; charset=utf-8", "metrics need Authorization: Bearer <BERTH_METRICS_TOKEN>\n", { "www-authenticate": 'Bearer realm="berth metrics"' });
        }
      }
      return send(res, 200, options.metrics.contentType, await options.metrics.render());
    }
    return false;
  };
}
