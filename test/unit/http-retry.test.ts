import nock from "nock";
import { z } from "zod";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRetryableStatus, retryAfterMs } from "../../src/adapters/http-retry.js";
import { GiteeClient } from "../../src/hosts/gitee/gitee-client.js";
import { captureLogger } from "../helpers/capture-log.js";

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

describe("Retry-After", () => {
  it("reads seconds and HTTP dates, caps long waits and ignores nonsense", () => {
    const now = Date.parse("2026-11-26T00:00:00Z");
    expect(retryAfterMs("7", now)).toBe(7000);
    expect(retryAfterMs("Thu, 26 Nov 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Wed, 25 Nov 2026 23:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("3600", now)).toBe(60_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });

  it("retries rate limits and server errors, never other client errors", () => {
    expect([429, 500, 502, 503].map(isRetryableStatus)).toEqual([true, true, true, true]);
    expect([400, 401, 403, 404, 409, 422].map(isRetryableStatus)).toEqual([false, false, false, false, false, false]);
  });

  it("makes the Gitee client wait as long as a 429 asks, then try again", async () => {
    const waits: number[] = [];
    const client = new GiteeClient({ token: "tok-123456", baseUrl: "https://gitee.example.com/api/v5", log: captureLogger().log, backoffMs: 10, sleep: async (ms) => void waits.push(ms) });
    nock("https://gitee.example.com").get("/api/v5/user").query(true).reply(429, { message: "Too Many Requests" }, { "Retry-After": "3" });
    nock("https://gitee.example.com").get("/api/v5/user").query(true).reply(200, { login: "berth-bot" });
    const user = await client.request({ method: "GET", path: "/user", schema: z.object({ login: z.string() }) });
    expect(user).toEqual({ login: "berth-bot" });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBe(3000);
  });
});
