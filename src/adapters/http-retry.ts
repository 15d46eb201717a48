/**
 * What counts as transient: network errors, 5xx and 429 answers, and how long a `Retry-After` asks
 * to wait. Used by the shared HTTP transport of the Gitee, Harbor and registry clients
 * (`http-transport.ts`) and by the inbox's error classification (`pipeline/transient-error.ts`).
 */

/** Network errors worth another attempt. */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EPIPE", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH"]);

/**
 * Network errors of Node's own fetch (undici) worth another attempt: the connection failed, was
 * closed under the request, or the server stopped answering. Not the undici codes for bad input.
 */
export const TRANSIENT_UNDICI_CODES: ReadonlySet<string> = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

/** Whether a network error code (`err.code`, or the `cause.code` of a failed fetch) is worth another attempt. */
export function isTransientNetworkCode(code: unknown): boolean {
  return typeof code === "string" && (TRANSIENT_NETWORK_CODES.has(code) || TRANSIENT_UNDICI_CODES.has(code));
}

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
