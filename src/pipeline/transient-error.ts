/**
 * Whether an error from processing an inbox event is worth another attempt: the code host or the
 * network was briefly unavailable (network errors, timeouts, 5xx, 429, GitHub's rate limits), as
 * opposed to an answer that will be the same next time (404, 422, a bug). Pure.
 */
import { isRetryableStatus, isTransientNetworkCode, retryAfterMs } from "../adapters/http-retry.js";

/** What an error means for the event that met it. */
export interface ErrorClass {
  transient: boolean;
  /** How long the server asked to wait before the next attempt (Retry-After, rate-limit reset). */
  retryAfterMs?: number;
  /** One short line for logs and the PR's notice: `HTTP 502`, `ECONNRESET`, the message. */
  summary: string;
  /** The host throttled the caller (429, or a 403 rate limit): its other writes should wait too. */
  rateLimited?: boolean;
}

/** Processing one event took longer than its deadline (a hanging call); worth another attempt. */
export class EventDeadlineError extends Error {
  constructor(readonly deadlineMs: number) {
    super(`processing took longer than ${deadlineMs >= 1000 ? `${Math.round(deadlineMs / 1000)} s` : `${deadlineMs} ms`}`);
    this.name = "EventDeadlineError";
  }
}

/** DNS failures the shared HTTP-client set leaves out; during an outage they pass like the rest. */
const EXTRA_TRANSIENT_CODES: ReadonlySet<string> = new Set(["ENOTFOUND", "ESOCKETTIMEDOUT"]);

/** Error names of deadlines: AbortSignal.timeout, aborted fetches, our own event deadline. */
const TIMEOUT_NAMES: ReadonlySet<string> = new Set(["TimeoutError", "AbortError", "EventDeadlineError", "EngineTimeoutError"]);

/** Longest wait a server's Retry-After may ask for before berth tries again anyway. */
const RETRY_AFTER_CAP_MS = 15 * 60_000;

/**
 * Classify an error: Octokit's `RequestError` (`.status`, `.response.headers`), axios and Node
 * errors (`.code`, or `.cause.code` under fetch's "fetch failed"), Gitee/Harbor client errors
 * (`.status` / `.code`), timeouts (`name` TimeoutError/AbortError). Causes are followed a few deep.
 */
export function classifyError(err: unknown, now: number = Date.now()): ErrorClass {
  const chain = causeChain(err);
  for (const item of chain) {
    const status = numberField(item, "status");
    if (status !== undefined && status >= 400) {
      const headers = headersOf(item);
      const wait = waitFromHeaders(headers, now);
      const summary = `HTTP ${status}${firstLine(messageOf(item), `HTTP ${status}`)}`;
      if (status === 429) return withWait({ transient: true, summary, rateLimited: true }, wait);
      if (isRetryableStatus(status) || status === 408) return withWait({ transient: true, summary }, wait);
      if (status === 403 && (wait !== undefined || headers["x-ratelimit-remaining"] === "0" || /rate limit|abuse/i.test(messageOf(item)))) {
        return withWait({ transient: true, summary, rateLimited: true }, wait);
      }
      return { transient: false, summary };
    }
    const code = stringField(item, "code");
    if (code && (isTransientNetworkCode(code) || EXTRA_TRANSIENT_CODES.has(code))) return { transient: true, summary: code };
    const name = stringField(item, "name");
    if (name && TIMEOUT_NAMES.has(name)) return { transient: true, summary: shortMessage(item) || "timed out" };
  }
  return { transient: false, summary: shortMessage(err) || "unknown error" };
}

function withWait(result: ErrorClass, wait: number | undefined): ErrorClass {
  return wait === undefined ? result : { ...result, retryAfterMs: wait };
}

/** The error and its causes, at most five deep (no cycles). */
function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 5 && !chain.includes(current)) {
    chain.push(current);
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function numberField(value: unknown, key: string): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const field = (value as Record<string, unknown>)[key];
  return typeof field === "number" && Number.isFinite(field) ? field : undefined;
}

function stringField(value: unknown, key: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const field = (value as Record<string, unknown>)[key];
  return typeof field === "string" ? field : undefined;
}

function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return stringField(value, "message") ?? String(value);
}

/** The first line of the message, at most 200 characters. */
function shortMessage(value: unknown): string {
  return messageOf(value).split("\n")[0]?.trim().slice(0, 200) ?? "";
}

/** `: <first line of the message>` unless the message says nothing beyond `same`. */
function firstLine(message: string, same: string): string {
  const line = message.split("\n")[0]?.trim().slice(0, 200) ?? "";
  return line && line !== same ? `: ${line}` : "";
}

/** Response headers (lower-case names) of Octokit (`response.headers`), axios (`response.headers`) or a bare `headers`. */
function headersOf(value: unknown): Record<string, string> {
  const raw = (value as { response?: { headers?: unknown }; headers?: unknown }).response?.headers ?? (value as { headers?: unknown }).headers;
  const headers: Record<string, string> = {};
  if (typeof raw !== "object" || raw === null) return headers;
  const entries = typeof (raw as { entries?: unknown }).entries === "function" && !Array.isArray(raw) ? [...(raw as Headers).entries()] : Object.entries(raw);
  for (const [name, v] of entries) {
    if (typeof v === "string" || typeof v === "number") headers[name.toLowerCase()] = String(v);
  }
  return headers;
}

/** Wait asked by `retry-after`, or by GitHub's `x-ratelimit-reset` (epoch seconds) when no request is left. */
function waitFromHeaders(headers: Record<string, string>, now: number): number | undefined {
  const asked = retryAfterMs(headers["retry-after"], now, RETRY_AFTER_CAP_MS);
  if (asked !== undefined) return asked;
  const reset = headers["x-ratelimit-reset"];
  if (headers["x-ratelimit-remaining"] === "0" && reset && /^\d+$/.test(reset)) {
    return Math.min(Math.max(Number(reset) * 1000 - now, 0), RETRY_AFTER_CAP_MS);
  }
  return undefined;
}
