/**
 * Reading vendors' answers, pure: the HTTP status first (5xx and 429 are worth another try, with
 * `Retry-After`), then the vendor's own JSON code, which may say failure under HTTP 200.
 */
import { retryAfterMs } from "../adapters/http-retry.js";
import { oneLine } from "../adapters/http-transport.js";
import type { DeliveryResult, VendorAnswer } from "./channel.js";

/** Longest Retry-After a vendor may ask for before berth tries again anyway. */
const RETRY_AFTER_CAP_MS = 15 * 60_000;

/** What the HTTP status alone says: undefined for a 2xx (the body decides). */
export function statusResult(answer: VendorAnswer, now: number = Date.now()): DeliveryResult | undefined {
  const { status } = answer;
  if (status >= 200 && status < 300) return undefined;
  const summary = `HTTP ${status}${answer.text.trim() ? `: ${oneLine(answer.text, 200)}` : ""}`;
  const wait = retryAfterMs(answer.header("retry-after"), now, RETRY_AFTER_CAP_MS);
  if (status === 429) return { ok: false, transient: true, rateLimited: true, summary, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  if (status >= 500 || status === 408) return { ok: false, transient: true, summary, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  return { ok: false, transient: false, summary };
}

/** The answer's JSON object, or undefined when it is none. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An `{errcode, errmsg}` answer (DingTalk, WeCom): 0 is success; `rateLimited` and `busy` codes
 * are tried again later, any other code is a refusal.
 */
export function errcodeResult(answer: VendorAnswer, codes: { rateLimited: ReadonlySet<number>; busy: ReadonlySet<number> }): DeliveryResult {
  const byStatus = statusResult(answer);
  if (byStatus) return byStatus;
  const body = jsonObject(answer.text);
  const code = body?.errcode;
  if (typeof code !== "number") return { ok: false, transient: false, summary: `HTTP ${answer.status} without an errcode: ${oneLine(answer.text, 200)}` };
  if (code === 0) return { ok: true };
  const summary = `errcode ${code}: ${oneLine(typeof body?.errmsg === "string" ? body.errmsg : "", 200)}`;
  if (codes.rateLimited.has(code)) return { ok: false, transient: true, rateLimited: true, summary };
  return { ok: false, transient: codes.busy.has(code), summary };
}
