import { RequestError } from "@octokit/request-error";
import { describe, expect, it } from "vitest";
import { GiteeApiError } from "../../src/hosts/gitee/gitee-client.js";
import { classifyError, EventDeadlineError } from "../../src/pipeline/transient-error.js";

const NOW = Date.parse("2026-11-26T00:00:00Z");

function octokitError(status: number, message: string, headers: Record<string, string> = {}): RequestError {
  return new RequestError(message, status, {
    request: { method: "GET", url: "https://api.github.com/repos/acme/app/pulls/1", headers: {} },
    response: { status, url: "https://api.github.com/repos/acme/app/pulls/1", headers, data: {} },
  });
}

describe("classifyError", () => {
  it("retries GitHub's server errors and 429, and waits as long as Retry-After asks", () => {
    expect(classifyError(octokitError(502, "Bad Gateway"), NOW)).toEqual({ transient: true, summary: "HTTP 502: Bad Gateway" });
    expect(classifyError(octokitError(503, "Service Unavailable"), NOW).transient).toBe(true);
    expect(classifyError(octokitError(429, "Too Many Requests", { "retry-after": "30" }), NOW)).toEqual({ transient: true, retryAfterMs: 30_000, summary: "HTTP 429: Too Many Requests", rateLimited: true });
  });

  it("retries GitHub's rate-limit 403s (secondary limit with retry-after, primary limit at zero remaining) and no other 403", () => {
    const secondary = octokitError(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", { "retry-after": "60" });
    expect(classifyError(secondary, NOW)).toMatchObject({ transient: true, retryAfterMs: 60_000 });
    const secondaryNoHeader = octokitError(403, "You have exceeded a secondary rate limit.");
    expect(classifyError(secondaryNoHeader, NOW).transient).toBe(true);
    // A rate limit (unlike a 5xx) says the caller's other writes should wait too.
    expect(classifyError(secondaryNoHeader, NOW).rateLimited).toBe(true);
    expect(classifyError(octokitError(502, "Bad Gateway"), NOW).rateLimited).toBeUndefined();
    const primary = octokitError(403, "API rate limit exceeded for installation ID 1.", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(NOW / 1000 + 90) });
    expect(classifyError(primary, NOW)).toMatchObject({ transient: true, retryAfterMs: 90_000 });
    expect(classifyError(octokitError(403, "Resource not accessible by integration"), NOW)).toEqual({ transient: false, summary: "HTTP 403: Resource not accessible by integration" });
  });

  it("gives up at once on answers that will not change: 404, 422, 401", () => {
    for (const status of [400, 401, 404, 422]) expect(classifyError(octokitError(status, "nope"), NOW).transient).toBe(false);
  });

  it("retries network errors from axios, Node and fetch (the code under `cause`), including undici's", () => {
    expect(classifyError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), NOW)).toEqual({ transient: true, summary: "ECONNRESET" });
    expect(classifyError(Object.assign(new Error("timeout of 10000ms exceeded"), { code: "ECONNABORTED" }), NOW).transient).toBe(true);
    expect(classifyError(Object.assign(new Error("getaddrinfo EAI_AGAIN api.github.com"), { code: "EAI_AGAIN" }), NOW).transient).toBe(true);
    const fetchFailed = new TypeError("fetch failed", { cause: Object.assign(new Error("Connect Timeout Error"), { code: "UND_ERR_CONNECT_TIMEOUT" }) });
    expect(classifyError(fetchFailed, NOW)).toEqual({ transient: true, summary: "UND_ERR_CONNECT_TIMEOUT" });
    const socket = new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) });
    expect(classifyError(socket, NOW).transient).toBe(true);
    // Octokit wraps a failed fetch as a RequestError with status 500.
    expect(classifyError(octokitError(500, "fetch failed"), NOW).transient).toBe(true);
  });

  it("retries timeouts: AbortSignal.timeout, an aborted request, the event's own deadline", () => {
    expect(classifyError(new DOMException("The operation was aborted due to timeout", "TimeoutError"), NOW).transient).toBe(true);
    expect(classifyError(new DOMException("This operation was aborted", "AbortError"), NOW).transient).toBe(true);
    expect(classifyError(new EventDeadlineError(60_000), NOW)).toEqual({ transient: true, summary: "processing took longer than 60 s" });
  });

  it("reads Gitee client errors by status or network code", () => {
    expect(classifyError(new GiteeApiError("gitee: GET /repos/a/b/pulls/1 answered 502", { method: "GET", path: "/repos/a/b/pulls/1", status: 502 }), NOW).transient).toBe(true);
    expect(classifyError(new GiteeApiError("gitee: GET failed: ETIMEDOUT", { method: "GET", path: "/x", code: "ETIMEDOUT" }), NOW).transient).toBe(true);
    expect(classifyError(new GiteeApiError("gitee: GET answered 404", { method: "GET", path: "/x", status: 404 }), NOW).transient).toBe(false);
  });

  it("treats programming errors and unknown codes as permanent, with the message's first line", () => {
    expect(classifyError(new TypeError("Cannot read properties of undefined (reading 'sha')\n    at x"), NOW)).toEqual({ transient: false, summary: "Cannot read properties of undefined (reading 'sha')" });
    expect(classifyError(Object.assign(new Error("invalid argument"), { code: "ERR_INVALID_ARG_TYPE" }), NOW).transient).toBe(false);
    expect(classifyError("just a string", NOW)).toEqual({ transient: false, summary: "just a string" });
  });
});
