/**
 * HTTP front door for Gitee webhooks, mounted next to Probot's GitHub route through `addHandler`.
 * It reads the body under the shared `BodyGate`, verifies, translates, hands the event to `onEvent`
 * (which records and enqueues, nothing more) and answers; no stage runs before the answer is sent.
 *
 * Gitee signs a timestamp with the secret, never the body. So the payload's repository only chooses
 * which secret must verify (its own, its owner's, or the fallback), the event must name that same
 * repository, and everything else in the payload is re-read from the API by `GiteeHost.confirmEvent`
 * before berth acts. A signature is good for one delivery: its timestamp and value become the
 * event's `replayKey` (refused by the store when seen again) and are remembered here for as long as
 * the timestamp is accepted, so not even an ignored delivery's signature can carry a second body.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { BotEvent } from "../domain/types.js";
import type { WebhookResult } from "../metrics/berth-metrics.js";
import type { BodyGate } from "../web/bounded-body.js";
import { eventRepoOf, header, readWebhookBody, sameRepo, sendJson } from "./webhook-http.js";
import { giteeHookRepository, parseGiteeEvent } from "./gitee-event.js";
import { GITEE_MAX_CLOCK_SKEW_MS, verifyGiteeSignature } from "./gitee-signature.js";

/** Default route of the Gitee webhook. */
export const GITEE_WEBHOOK_PATH = "/api/gitee/webhooks";

/** Largest accepted body; Gitee's payloads are tens of kilobytes. */
export const GITEE_MAX_BODY_BYTES = 1024 * 1024;

/** Most signatures remembered at once; Gitee sends far fewer within the accepted clock window. */
const MAX_REMEMBERED_SIGNATURES = 100_000;

/** Webhook secrets: per repository or owner (`GITEE_WEBHOOK_SECRETS`) and a fallback (`GITEE_WEBHOOK_SECRET`). */
export interface GiteeWebhookSecrets {
  /** Secret of repositories that have none of their own. */
  fallback?: string;
  /** Secrets by lower-cased `owner/repo` or `owner`; the most specific wins. */
  byScope: Readonly<Record<string, string>>;
}

/** Settings of the Gitee webhook route. */
export interface GiteeWebhookOptions {
  secrets: GiteeWebhookSecrets;
  /** Bounds how many bodies are read at once; shared with the GitHub route. */
  gate: BodyGate;
  /** Route served; requests to other paths are left to the next handler. */
  path?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  log: Logger;
  /** Login of berth's Gitee account, so its own comments are not read as commands. */
  botLogin?: string;
  /** Largest accepted body; default 1 MiB. */
  maxBodyBytes?: number;
  /** Record the delivery and enqueue the work; must be quick (the answer waits for it). False: seen before, nothing to do. */
  onEvent: (event: BotEvent) => Promise<void | boolean>;
  /** Told what became of each delivery to this route (metrics); `event` is the sender's `X-Gitee-Event`. */
  onResult?: (event: string | undefined, result: WebhookResult) => void;
}

/** A Node request handler that returns false for requests that are not its own (Probot `addHandler`). */
export type GiteeWebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** The secret that must verify a delivery for `owner/name`: the repository's, its owner's, then the fallback. */
export function giteeSecretFor(secrets: GiteeWebhookSecrets, repo: { owner: string; name: string }): string | undefined {
  const owner = repo.owner.toLowerCase();
  const scoped = secrets.byScope[`${owner}/${repo.name.toLowerCase()}`] ?? secrets.byScope[owner];
  return scoped ?? secrets.fallback;
}

/** Signatures seen within the accepted clock window (older ones are refused as stale anyway). */
class SeenSignatures {
  private readonly seen = new Map<string, number>();

  /** Remember `key`; false when it was seen before. */
  add(key: string, now: number): boolean {
    for (const [old, at] of this.seen) {
      if (now - at <= 2 * GITEE_MAX_CLOCK_SKEW_MS && this.seen.size < MAX_REMEMBERED_SIGNATURES) break;
      this.seen.delete(old);
    }
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    return true;
  }
}

/** Build the Gitee webhook handler. */
export function createGiteeWebhookHandler(options: GiteeWebhookOptions): GiteeWebhookHandler {
  const route = options.path ?? GITEE_WEBHOOK_PATH;
  const limit = options.maxBodyBytes ?? GITEE_MAX_BODY_BYTES;
  const now = options.now ?? Date.now;
  const seen = new SeenSignatures();
  const { log } = options;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<WebhookResult> => {

    const raw = await readWebhookBody(req, res, { gate: options.gate, limit, log, route: "gitee" });
    if (!raw) return res.statusCode >= 500 ? "error" : "refused";

    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      log.warn({ bytes: raw.length }, "gitee webhook body is not JSON");
      sendJson(res, 400, { error: "body is not valid JSON" });
      return "refused";
    }

    // The body is not signed: its repository only says which secret must verify the delivery.
    const repository = giteeHookRepository(body);
    const secret = repository ? giteeSecretFor(options.secrets, repository) : options.secrets.fallback;
    const scope = repository ? `${repository.owner}/${repository.name}` : undefined;
    const verdict = secret
      ? verifyGiteeSignature({ secret, token: header(req, "x-gitee-token"), timestamp: header(req, "x-gitee-timestamp"), now: now() })
      : ({ ok: false, reason: "missing secret" } as const);
    if (!verdict.ok) {
      log.warn({ reason: verdict.reason, repo: scope, event: header(req, "x-gitee-event") }, "gitee webhook refused");
      sendJson(res, 401, { error: "invalid token" });
      return "refused";
    }

    // Signature mode: what was signed identifies the delivery. Password mode signs nothing, so the
    // payload's own identity (the delivery id) is all there is; confirmEvent re-reads the rest.
    const signedKey = verdict.mode === "signature" ? `gitee-sign:${verdict.timestamp}:${verdict.signature}` : undefined;
    if (signedKey && !seen.add(signedKey, now())) {
      log.warn({ repo: scope, event: header(req, "x-gitee-event") }, "gitee webhook signature used before");
      sendJson(res, 200, { ok: true, ignored: "signature already used" });
      return "ignored";
    }

    const result = parseGiteeEvent(header(req, "x-gitee-event"), body, { botLogin: options.botLogin });
    if (result.type === "ignore") {
      log.debug({ reason: result.reason }, "gitee webhook ignored");
      sendJson(res, 200, { ok: true, ignored: result.reason });
      return "ignored";
    }

    // Every event is built from `repository`, the one whose secret verified; keep it that way.
    if (!repository || !sameRepo(eventRepoOf(result.event), repository)) {
      log.warn({ repo: scope, kind: result.event.kind }, "gitee webhook event names another repository than its secret");
      sendJson(res, 401, { error: "invalid token" });
      return "refused";
    }
    const event: BotEvent = { ...result.event, replayKey: signedKey ?? `gitee-payload:${result.event.deliveryId}` };
    let fresh: void | boolean;
    try {
      fresh = await options.onEvent(event);
    } catch (error) {
      log.error({ deliveryId: event.deliveryId, kind: event.kind, err: error instanceof Error ? error.message : String(error) }, "gitee webhook not queued");
      sendJson(res, 500, { error: "event could not be queued" });
      return "error";
    }
    log.info({ deliveryId: event.deliveryId, kind: event.kind, mode: verdict.mode }, "gitee webhook accepted");
    sendJson(res, 200, { ok: true, deliveryId: event.deliveryId, kind: event.kind });
    return fresh === false ? "ignored" : "accepted";
  };

  return async (req, res) => {
    const pathname = (req.url ?? "").split("?")[0];
    if (pathname !== route || req.method !== "POST") return false;
    const result = await handle(req, res);
    options.onResult?.(header(req, "x-gitee-event"), result);
    return true;
  };
}
