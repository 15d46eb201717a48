/**
 * HTTP front door for Gitee webhooks, mounted next to Probot's GitHub route through `addHandler`.
 * It verifies, translates, hands the event to `onEvent` (which records and enqueues, nothing more)
 * and answers; no stage runs before the answer is sent.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { BotEvent } from "../domain/types.js";
import { parseGiteeEvent } from "./gitee-event.js";
import { verifyGiteeSignature } from "./gitee-signature.js";

/** Default route of the Gitee webhook. */
export const GITEE_WEBHOOK_PATH = "/api/gitee/webhooks";

/** Largest accepted body; Gitee's payloads are tens of kilobytes. */
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Settings of the Gitee webhook route. */
export interface GiteeWebhookOptions {
  /** `GITEE_WEBHOOK_SECRET`: password or signing key configured on the Gitee webhook. */
  secret: string;
  /** Route served; requests to other paths are left to the next handler. */
  path?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  log: Logger;
  /** Login of berth's Gitee account, so its own comments are not read as commands. */
  botLogin?: string;
  maxBodyBytes?: number;
  /** Record the delivery and enqueue the work; must be quick (the answer waits for it). */
  onEvent: (event: BotEvent) => Promise<void>;
}

/** A Node request handler that returns false for requests that are not its own (Probot `addHandler`). */
export type GiteeWebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

class BodyTooLargeError extends Error {}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLargeError());
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (error) => {
      if (!failed) reject(error);
    });
  });
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Build the Gitee webhook handler. */
export function createGiteeWebhookHandler(options: GiteeWebhookOptions): GiteeWebhookHandler {
  const route = options.path ?? GITEE_WEBHOOK_PATH;
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = options.now ?? Date.now;
  const { log } = options;

  return async (req, res) => {
    const pathname = (req.url ?? "").split("?")[0];
    if (pathname !== route || req.method !== "POST") return false;

    let raw: Buffer;
    try {
      raw = await readBody(req, limit);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        log.warn({ limit }, "gitee webhook body too large");
        send(res, 413, { error: "payload too large" });
      } else {
        log.warn({ err: error instanceof Error ? error.message : String(error) }, "gitee webhook body unreadable");
        send(res, 400, { error: "unreadable body" });
      }
      return true;
    }

    const verdict = verifyGiteeSignature({
      secret: options.secret,
      token: header(req, "x-gitee-token"),
      timestamp: header(req, "x-gitee-timestamp"),
      now: now(),
    });
    if (!verdict.ok) {
      log.warn({ reason: verdict.reason, event: header(req, "x-gitee-event") }, "gitee webhook refused");
      send(res, 401, { error: "invalid token" });
      return true;
    }

    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      log.warn({ bytes: raw.length }, "gitee webhook body is not JSON");
      send(res, 400, { error: "body is not valid JSON" });
      return true;
    }

    const result = parseGiteeEvent(header(req, "x-gitee-event"), body, { botLogin: options.botLogin });
    if (result.type === "ignore") {
      log.debug({ reason: result.reason }, "gitee webhook ignored");
      send(res, 200, { ok: true, ignored: result.reason });
      return true;
    }

    const { event } = result;
    try {
      await options.onEvent(event);
    } catch (error) {
      log.error({ deliveryId: event.deliveryId, kind: event.kind, err: error instanceof Error ? error.message : String(error) }, "gitee webhook not queued");
      send(res, 500, { error: "event could not be queued" });
      return true;
    }
    log.info({ deliveryId: event.deliveryId, kind: event.kind, mode: verdict.mode }, "gitee webhook accepted");
    send(res, 200, { ok: true, deliveryId: event.deliveryId, kind: event.kind });
    return true;
  };
}
