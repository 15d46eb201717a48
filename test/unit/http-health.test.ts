import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitUntilHealthy } from "../../src/adapters/http-health.js";
import { CancelledError } from "../../src/domain/ports.js";

const servers: Array<{ close: (cb: () => void) => void }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** A local server answering with `statuses` in turn (the last one repeats). */
async function serve(statuses: number[]): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    const status = statuses[Math.min(hits, statuses.length - 1)] ?? 200;
    hits++;
    res.writeHead(status, status >= 300 && status < 400 ? { location: "/elsewhere" } : {});
    res.end("body");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push({ close: (cb) => server.close(cb) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, hits: () => hits };
}

/** A port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("waitUntilHealthy", () => {
  it("keeps polling through 5xx and returns the first answer below 500", async () => {
    const server = await serve([503, 500, 404]);
    const result = await waitUntilHealthy(server.url, { timeoutMs: 5000, intervalMs: 10 });
    expect(result).toMatchObject({ healthy: true, status: 404, attempts: 3 });
  });

  it("counts a redirect as healthy without following it", async () => {
    const server = await serve([302]);
    await expect(waitUntilHealthy(server.url, { timeoutMs: 2000, intervalMs: 10 })).resolves.toMatchObject({ healthy: true, status: 302 });
    expect(server.hits()).toBe(1);
  });

  it("gives up after the timeout with the last status", async () => {
    const server = await serve([500]);
    const result = await waitUntilHealthy(server.url, { timeoutMs: 300, intervalMs: 50 });
    expect(result).toMatchObject({ healthy: false, lastStatus: 500 });
    expect(result.healthy === false && result.lastError).toBeUndefined();
    expect(result.attempts).toBeGreaterThan(1);
  });

  it("gives up after the timeout with the last transport error", async () => {
    const port = await closedPort();
    const result = await waitUntilHealthy(`http://127.0.0.1:${port}/`, { timeoutMs: 300, intervalMs: 50 });
    expect(result).toMatchObject({ healthy: false, lastError: expect.stringContaining("ECONNREFUSED") });
  });

  it("times out a request that never answers", async () => {
    // Accepts and reads (so it notices the probe hanging up) but never speaks HTTP.
    const server = createTcpServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push({ close: (cb) => { server.close(cb); } });
    const { port } = server.address() as AddressInfo;
    const started = Date.now();
    const result = await waitUntilHealthy(`http://127.0.0.1:${port}/`, { timeoutMs: 1000, intervalMs: 10, requestTimeoutMs: 200 });
    expect(result).toMatchObject({ healthy: false, lastError: "request timed out" });
    expect(result.attempts).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it("stops early when giveUpIf names a reason", async () => {
    const server = await serve([500]);
    let calls = 0;
    const result = await waitUntilHealthy(server.url, {
      timeoutMs: 10_000,
      intervalMs: 10,
      giveUpIf: async () => (++calls >= 3 ? "container exited (code 1)" : undefined),
    });
    expect(result).toMatchObject({ healthy: false, gaveUp: "container exited (code 1)", attempts: 2, lastStatus: 500 });
  });

  it("throws CancelledError when the signal aborts", async () => {
    const server = await serve([500]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(waitUntilHealthy(server.url, { timeoutMs: 10_000, intervalMs: 20, signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
  });
});
