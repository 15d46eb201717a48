/**
 * The GitHub webhook route before authentication (real HTTP): a body over GitHub's 25 MB maximum
 * is refused from its content-length and while streaming, only so many bodies are read at once,
 * and the same signed body under a new delivery id is not processed twice.
 */
import { createHmac } from "node:crypto";
import { request } from "node:http";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BodyGate, WEBHOOK_MAX_BODY_BYTES } from "../../src/web/bounded-body.js";
import { FakeBuilder } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { startHttpBerth, type HttpBerth } from "../helpers/http-berth.js";

const SECRET = "webhook-secret-for-limit-tests";
const GATE = 3;
const PATH = "/api/github/webhooks";
const builder = new FakeBuilder();
const gate = new BodyGate(GATE);
let berth: HttpBerth;
let port = 0;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  berth = await startHttpBerth(SECRET, { builder, bodyGate: gate, webhookSecret: SECRET });
  port = berth.port;
});

afterAll(async () => {
  await berth.close();
  nock.cleanAll();
  nock.enableNetConnect();
});

const HEADERS = { "content-type": "application/json", "x-github-event": "pull_request", "x-hub-signature-256": `sha256=${"0".repeat(64)}` };

/** Send headers and `chunks` of body (then end, unless `hold`), resolving with the status once answered. */
function send(options: { id: string; contentLength?: number; chunks: Buffer[]; hold?: boolean }): { status: Promise<number>; abort: () => void } {
  const headers: Record<string, string | number> = { ...HEADERS, "x-github-delivery": options.id };
  if (options.contentLength !== undefined) headers["content-length"] = options.contentLength;
  const req = request({ host: "127.0.0.1", port, path: PATH, method: "POST", headers });
  const status = new Promise<number>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (error) => (req.destroyed ? resolve(-1) : reject(error)));
  });
  for (const chunk of options.chunks) req.write(chunk);
  if (!options.hold) req.end();
  return { status, abort: () => req.destroy() };
}

it("refuses a body declared over 25 MB before reading it", async () => {
  const { status } = send({ id: "huge-declared", contentLength: WEBHOOK_MAX_BODY_BYTES + 1, chunks: [Buffer.alloc(64 * 1024)], hold: true });
  expect(await status).toBe(413);
  expect(gate.active).toBe(0);
});

it("refuses a streamed body as soon as it grows past 25 MB, without keeping it", async () => {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const heapBefore = process.memoryUsage().heapUsed;
  const { status } = send({ id: "huge-streamed", chunks: Array.from({ length: 27 }, () => chunk) });
  expect(await status).toBe(413);
  expect(gate.active).toBe(0);
  // Nothing of the 27 MB stays referenced (generous bound: the test's own chunk array is ~1 MB).
  globalThis.gc?.();
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(20 * 1024 * 1024);
  expect(await berth.store.pendingInbox()).toEqual([]);
});

it("reads only a bounded number of bodies at once; one more is refused with 503", async () => {
  const slow = Array.from({ length: GATE }, (_, i) => send({ id: `slow-${i}`, contentLength: 1000, chunks: [Buffer.from("{")], hold: true }));
  await expect.poll(() => gate.active).toBe(GATE);
  const extra = send({ id: "one-too-many", contentLength: 2, chunks: [Buffer.from("{}")] });
  expect(await extra.status).toBe(503);
  for (const s of slow) s.abort();
  await expect.poll(() => gate.active).toBe(0);
});

it("processes a signed body once, even when it is posted again under a new delivery id", async () => {
  const github = mockGitHub({ config: "test:\n  command: [x]\n" });
  const body = JSON.stringify(pullRequestPayload({ action: "opened", headSha: "9".repeat(40) }));
  const signature = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
  const post = async (id: string): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${port}${PATH}`, { method: "POST", headers: { ...HEADERS, "x-github-delivery": id, "x-hub-signature-256": signature }, body });
    await res.text();
    return res.status;
  };
  expect(await post("first")).toBe(200);
  expect(await post("replayed-under-a-new-id")).toBe(200);
  await berth.engine.idle();
  expect(builder.builds).toHaveLength(1);
  // One pipeline: one build result (after at most one `pending` of its start).
  expect(github.statuses().filter((s) => s.context === "berth/build" && s.state !== "pending")).toHaveLength(1);
  expect(github.statuses().filter((s) => s.context === "berth/build" && s.state === "pending").length).toBeLessThanOrEqual(1);
});

it("refuses a forged body before Probot sees it (Probot would log the whole payload)", async () => {
  const body = JSON.stringify({ zen: "x".repeat(1024 * 1024) });
  const res = await fetch(`http://127.0.0.1:${port}${PATH}`, { method: "POST", headers: { ...HEADERS, "x-github-delivery": "forged-big" }, body });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({ error: "signature does not match event payload and secret" });
});
