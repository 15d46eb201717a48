/**
 * HTTP front door for Gitea, Forgejo and Gogs webhooks: one route (`/api/gitea/webhooks`) for
 * every configured server. It reads the body under the shared `BodyGate`, picks the server whose
 * web URL the payload's repository lives under, verifies the body's HMAC-SHA256 with that server's
 * secret, translates, hands the event to `onEvent` (which records and enqueues, nothing more) and
 * answers. The body is signed, so a digest of it is the event's `replayKey`: the same signed body
 * under a new delivery id is not processed twice.
 *
 * Headers: Forgejo sends `X-Forgejo-*` (and Gitea's), Gitea `X-Gitea-*` (and Gogs'), Gogs only
 * `X-Gogs-*`. A delivery with only Gogs headers carries Gogs-shaped payloads; it must come from a
 * server configured as `gogs`, and a Gitea/Forgejo delivery from one that is not.
 */
import type { WebhookResult } from "../metrics/berth-metrics.js";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { GiteaFlavor } from "../config/gitea-servers.js";
import type { GiteaHostKind } from "../domain/host-kind.js";
import type { BotEvent } from "../domain/types.js";
import type { BodyGate } from "../web/bounded-body.js";
import { bodySignatureMatches } from "./body-signature.js";
import { giteaHookRepository, parseGiteaEvent, type GiteaPayloadFlavor } from "./gitea-event.js";
import { eventRepoOf, header, readWebhookBody, sameRepo, sendJson } from "./webhook-http.js";

/** Route of the Gitea-family webhooks. */
export const GITEA_WEBHOOK_PATH = "/api/gitea/webhooks";

/** Largest accepted body; Gitea's payloads are tens of kilobytes (a push lists at most 20 commits by default). */
export const GITEA_MAX_BODY_BYTES = 2 * 1024 * 1024;

/** One configured server, as the route needs it. */
export interface GiteaWebhookServer {
  host: GiteaHostKind;
  /** Web base URL without trailing slash. */
  url: string;
  secret: string;
  flavor: GiteaFlavor;
}

export interface GiteaWebhookOptions {
  servers: readonly GiteaWebhookServer[];
  gate: BodyGate;
  log: Logger;
  path?: string;
  maxBodyBytes?: number;
  /** Record the delivery and enqueue the work; must be quick (the answer waits for it). False: seen before, nothing to do. */
  onEvent: (event: BotEvent) => Promise<void | boolean>;
  /** Told what became of each delivery to this route (metrics); `event` is the sender's event header. */
  onResult?: (event: string | undefined, result: WebhookResult) => void;
}

/** Header prefixes in the order read: Forgejo's, Gitea's, then Gogs'. */
const PREFIXES = ["x-forgejo-", "x-gitea-", "x-gogs-"] as const;

/** The delivery's event, signature and delivery id, and which payload shape its headers announce. */
export function giteaDeliveryHeaders(req: IncomingMessage): { event?: string; signature?: string; delivery?: string; flavor: GiteaPayloadFlavor } {
  const first = (suffix: string): string | undefined => {
    for (const prefix of PREFIXES) {
      const value = header(req, `${prefix}${suffix}`);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const giteaShaped = header(req, "x-gitea-event") !== undefined || header(req, "x-forgejo-event") !== undefined;
  return { event: first("event"), signature: first("signature"), delivery: first("delivery"), flavor: giteaShaped ? "gitea" : "gogs" };
}

/**
 * The server a repository's web URL lives under (the longest matching base URL wins, so two
 * servers under one host name with different paths are told apart); undefined when none.
 */
export function giteaServerFor<S extends Pick<GiteaWebhookServer, "url">>(servers: readonly S[], htmlUrl: string): S | undefined {
  const url = htmlUrl.toLowerCase();
  let best: S | undefined;
  for (const server of servers) {
    const base = `${server.url.toLowerCase()}/`;
    if (url.startsWith(base) && (!best || server.url.length > best.url.length)) best = server;
  }
  return best;
}

/** What was signed: the server, the event name and a digest of the body. */
export function giteaReplayKey(host: GiteaHostKind, event: string, body: Buffer): string {
  return `${host}:${event}:${createHash("sha256").update(body).digest("hex")}`;
}

export function createGiteaWebhookHandler(options: GiteaWebhookOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const route = options.path ?? GITEA_WEBHOOK_PATH;
  const limit = options.maxBodyBytes ?? GITEA_MAX_BODY_BYTES;
  const { log } = options;
  return async (req, res) => {
    const pathname = (req.url ?? "").split("?")[0]?.replace(/\/+$/, "");
    if (pathname !== route) return false;
    let ignored = false;
    await handle(req, res, () => (ignored = true));
    const result: WebhookResult = res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "refused" : ignored ? "ignored" : "accepted";
    options.onResult?.(giteaDeliveryHeaders(req).event, result);
    return true;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, ignore: () => void): Promise<boolean> {
    if (req.method !== "POST") return sendJson(res, 405, { error: "only POST" }, { allow: "POST" });
    const delivery = giteaDeliveryHeaders(req);
    if (!delivery.event || !delivery.signature || !delivery.delivery) {
      req.resume();
      return sendJson(res, 400, { error: "Required headers missing: X-Gitea-Event, X-Gitea-Signature, X-Gitea-Delivery (or Forgejo's, or Gogs')" });
    }
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(delivery.delivery)) {
      req.resume();
      return sendJson(res, 400, { error: "invalid delivery id" });
    }
    const raw = await readWebhookBody(req, res, { gate: options.gate, limit, log, route: "gitea" });
    if (!raw) return true;

    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      log.warn({ bytes: raw.length }, "gitea webhook body is not JSON");
      return sendJson(res, 400, { error: "body is not valid JSON" });
    }
    // The repository's URL only says whose secret must verify; the signature decides.
    const repository = giteaHookRepository(body);
    const server = repository ? giteaServerFor(options.servers, repository.html_url) : undefined;
    if (!server || !bodySignatureMatches(server.secret, raw, delivery.signature)) {
      log.warn({ deliveryId: delivery.delivery, event: delivery.event.slice(0, 64), server: server?.host, known: Boolean(server) }, "gitea webhook refused: no configured server signed it");
      return sendJson(res, 401, { error: "signature does not match a configured server" });
    }
    if ((server.flavor === "gogs") !== (delivery.flavor === "gogs")) {
      log.warn({ deliveryId: delivery.delivery, server: server.host, configured: server.flavor, headers: delivery.flavor }, "gitea webhook refused: headers do not match the server's flavor");
      return sendJson(res, 400, { error: `headers are ${delivery.flavor === "gogs" ? "Gogs'" : "Gitea's"}, the server is configured as ${server.flavor}` });
    }

    const result = parseGiteaEvent(delivery.event, body, { host: server.host, flavor: delivery.flavor, deliveryId: `${server.host}:${delivery.delivery}` });
    if (result.type === "ignore") {
      log.debug({ server: server.host, reason: result.reason }, "gitea webhook ignored");
      ignore();
      return sendJson(res, 200, { ok: true, ignored: result.reason });
    }
    // Every event is built from `repository`, the one under the server whose secret verified.
    const repo = eventRepoOf(result.event);
    if (repo.host !== server.host || !repository || !sameRepo(repo, { owner: repo.owner, name: repository.name })) {
      log.warn({ server: server.host, kind: result.event.kind }, "gitea webhook event names another repository");
      return sendJson(res, 401, { error: "signature does not match a configured server" });
    }
    const event: BotEvent = { ...result.event, replayKey: giteaReplayKey(server.host, delivery.event, raw) };
    try {
      if ((await options.onEvent(event)) === false) ignore();
    } catch (error) {
      log.error({ deliveryId: event.deliveryId, kind: event.kind, err: error instanceof Error ? error.message : String(error) }, "gitea webhook not queued");
      return sendJson(res, 500, { error: "event could not be queued" });
    }
    log.info({ deliveryId: event.deliveryId, kind: event.kind, server: server.host }, "gitea webhook accepted");
    return sendJson(res, 200, { ok: true, deliveryId: event.deliveryId, kind: event.kind });
  }
}
