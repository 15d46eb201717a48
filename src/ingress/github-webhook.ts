/**
 * HTTP front door for GitHub webhooks. Probot's own middleware buffers a body of any size before
 * its signature is checked; this route reads at most GitHub's payload maximum (from
 * `content-length` and while streaming), and only as many bodies at once as the shared gate
 * allows, then hands the raw body to `verifyAndReceive` (signature check, then Probot's handlers).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { WebhookResult } from "../metrics/berth-metrics.js";
import { WEBHOOK_MAX_BODY_BYTES, type BodyGate } from "../web/bounded-body.js";
import { header, readWebhookBody, sendJson } from "./webhook-http.js";
import { bodySignatureMatches } from "./body-signature.js";

/** The route GitHub Apps post to (Probot's default). */
export const GITHUB_WEBHOOK_PATH = "/api/github/webhooks";

/**
 * What the route needs of `@octokit/webhooks` (Probot's `app.webhooks`). It may say whether berth
 * took the event on (`accepted`) or had nothing to do with it (`ignored`); nothing said is `accepted`.
 */
export interface WebhookReceiver {
  verifyAndReceive(options: { id: string; name: string; payload: string; signature: string }): Promise<void | "accepted" | "ignored">;
}

export interface GitHubWebhookRouteOptions {
  webhooks: WebhookReceiver;
  /**
   * The App's webhook secret. When given, a body whose signature does not match is refused here,
   * before Probot sees it (Probot logs a refused event with its whole payload: up to 25 MB per
   * forged request would go to the log).
   */
  secret?: string;
  gate: BodyGate;
  log: Pick<Logger, "warn" | "info" | "debug">;
  path?: string;
  maxBodyBytes?: number;
  /** Told what became of each delivery to this route (metrics); `event` is the sender's `X-GitHub-Event`. */
  onResult?: (event: string | undefined, result: WebhookResult) => void;
}

const JSON_TYPE = /^\s*application\/json\s*(?:;|$)/i;
const REQUIRED_HEADERS = ["x-github-event", "x-hub-signature-256", "x-github-delivery"] as const;


/** Errors `verifyAndReceive` rejects with carry a status (400 for a bad signature) inside an AggregateError. */
function statusOf(error: unknown): { status: number; message: string } {
  const inner = error instanceof AggregateError ? (error.errors[0] as unknown) : error;
  const status = typeof (inner as { status?: unknown })?.status === "number" ? (inner as { status: number }).status : 500;
  const message = inner instanceof Error ? inner.message : String(inner);
  return { status, message };
}

/** `sha256=<hex HMAC of the body>`, compared in constant time. */
export function signatureMatches(secret: string, body: Buffer, signature: string): boolean {
  return bodySignatureMatches(secret, body, signature, "sha256=");
}

/** A Probot `addHandler` route for GitHub webhooks with bounded bodies. */
export function createGitHubWebhookRoute(options: GitHubWebhookRouteOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const path = options.path ?? GITHUB_WEBHOOK_PATH;
  const limit = options.maxBodyBytes ?? WEBHOOK_MAX_BODY_BYTES;
  const { log } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<WebhookResult> => {
    const refuse = (status: number, body: Record<string, unknown>, extra: Record<string, string> = {}): WebhookResult => {
      sendJson(res, status, body, extra);
      return status >= 500 ? "error" : "refused";
    };
    if (req.method !== "POST") return refuse(404, { error: `Unknown route: ${req.method} ${path}` });
    if (!JSON_TYPE.test(header(req, "content-type") ?? "")) {
      req.resume();
      return refuse(415, { error: 'Unsupported "Content-Type" header value. Must be "application/json"' });
    }
    const missing = REQUIRED_HEADERS.filter((name) => header(req, name) === undefined);
    if (missing.length) {
      req.resume();
      return refuse(400, { error: `Required headers missing: ${missing.join(", ")}` });
    }
    const body = await readWebhookBody(req, res, { gate: options.gate, limit, log, route: "github" });
    if (!body) return res.statusCode >= 500 ? "error" : "refused";
    const id = header(req, "x-github-delivery") ?? "";
    const signature = header(req, "x-hub-signature-256") ?? "";
    if (options.secret !== undefined && !signatureMatches(options.secret, body, signature)) {
      log.warn({ deliveryId: id, bytes: body.length }, "github webhook refused: signature does not match");
      return refuse(400, { error: "signature does not match event payload and secret" });
    }
    let verdict: void | "accepted" | "ignored";
    try {
      verdict = await options.webhooks.verifyAndReceive({
        id,
        name: header(req, "x-github-event") ?? "",
        payload: body.toString("utf8"),
        signature,
      });
    } catch (error) {
      const { status, message } = statusOf(error);
      log.warn({ deliveryId: id, status, error: message }, "github webhook refused");
      return refuse(status, { error: message });
    }
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return verdict ?? "accepted";
  };
  return async (req, res) => {
    const pathname = (req.url ?? "").split("?")[0]?.replace(/\/+$/, "");
    if (pathname !== path) return false;
    const result = await handle(req, res);
    options.onResult?.(header(req, "x-github-event"), result);
    return true;
  };
}
