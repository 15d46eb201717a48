import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTimeoutFetch } from "../../src/hosts/github/timeout-fetch.js";

const server = createServer((req, res) => {
  if (req.url === "/slow") return; // never answers
  res.end("ok");
});
let base = "";
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

it("aborts a request that takes longer than the deadline", async () => {
  const timed = createTimeoutFetch(200);
  const started = Date.now();
  await expect(timed(`${base}/slow`)).rejects.toThrow();
  expect(Date.now() - started).toBeLessThan(2000);
});

it("lets fast requests and the caller's own signal through", async () => {
  const timed = createTimeoutFetch(2000);
  expect(await (await timed(`${base}/fast`)).text()).toBe("ok");
  const controller = new AbortController();
  const pending = timed(`${base}/slow`, { signal: controller.signal });
  controller.abort();
  await expect(pending).rejects.toThrow();
});
