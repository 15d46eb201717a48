/**
 * What the HTTP clients (Gitee, Harbor, registry) treat as transient: network errors, 5xx and 429
 * answers, and how long a `Retry-After` asks them to wait.
 */

/** Network errors worth another attempt. */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EPIPE", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH"]);

/** Answers worth another attempt: the server is overloaded, limiting or briefly broken. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Milliseconds the server asked to wait, capped at `capMs`; undefined when it asked nothing usable. */
export function retryAfterMs(header: unknown, now: number = Date.now(), capMs = 60_000): number | undefined {
  if (typeof header !== "string" || header.trim() === "") return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), capMs);
}
