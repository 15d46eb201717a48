/**
 * The HTTP plumbing every webhook route shares (GitHub, Gitee, Gitea): header reading, JSON
 * answers, and reading the body under the shared `BodyGate` with one answer per refusal.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { BotEvent, RepoRef } from "../domain/types.js";
import { BodyRefusedError, refusalStatus, type BodyGate } from "../web/bounded-body.js";

/** A request header's first value. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Answer with a JSON body; returns true (the request was handled). */
export function sendJson(res: ServerResponse, status: number, body: Record<string, unknown>, extra: Record<string, string> = {}): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...extra });
  res.end(text);
  return true;
}

/**
 * The body, read under `gate` and `limit`; null when it was refused and already answered (413 too
 * large, 503 busy with `retry-after`, 400 unreadable), the connection then closing instead of
 * reading the rest of a huge body.
 */
export async function readWebhookBody(req: IncomingMessage, res: ServerResponse, options: { gate: BodyGate; limit: number; log: Pick<Logger, "warn">; route: string }): Promise<Buffer | null> {
  try {
    return await options.gate.read(req, options.limit);
  } catch (error) {
    const reason = error instanceof BodyRefusedError ? error.reason : "unreadable";
    options.log.warn({ reason, limit: options.limit, declared: header(req, "content-length") }, `${options.route} webhook body refused`);
    const status = refusalStatus(reason);
    res.shouldKeepAlive = false;
    sendJson(res, status, { error: reason === "too-large" ? `payload over ${options.limit} bytes` : reason === "busy" ? "busy, retry later" : "unreadable body" }, status === 503 ? { "retry-after": "1" } : {});
    return null;
  }
}

/** The repository an event is about. */
export function eventRepoOf(event: BotEvent): RepoRef {
  return event.kind === "pr-comment" || event.kind === "tag-pushed" ? event.repo : event.pr.repo;
}

/** Same owner and name, case-insensitive (as the hosts treat them). */
export function sameRepo(a: { owner: string; name: string }, b: { owner: string; name: string }): boolean {
  return a.owner.toLowerCase() === b.owner.toLowerCase() && a.name.toLowerCase() === b.name.toLowerCase();
}
