import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BotEvent } from "../../src/domain/types.js";
import { signGiteeTimestamp } from "../../src/ingress/gitee-signature.js";
import { createGiteeWebhookHandler } from "../../src/ingress/gitee-webhook.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { giteeFixtureText } from "../fixtures/gitee/gitee-fixtures.js";

const SECRET = "webhook-secret-5f1c0e";
const NOW = 1_700_000_000_000;

let server: Server;
let base: string;
let received: BotEvent[];
let failQueue: boolean;
let capture: CapturedLog;

beforeEach(async () => {
  received = [];
  failQueue = false;
  capture = captureLogger();
  const handler = createGiteeWebhookHandler({
    secret: SECRET,
    now: () => NOW,
    log: capture.log,
    maxBodyBytes: 64 * 1024,
    onEvent: async (event) => {
      if (failQueue) throw new Error("database is locked");
      received.push(event);
    },
  });
  server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end("next handler");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function signed(timestamp = String(NOW)): Record<string, string> {
  return { "X-Gitee-Token": signGiteeTimestamp(SECRET, timestamp), "X-Gitee-Timestamp": timestamp };
}

async function post(event: string, body: string, headers: Record<string, string>, path = "/api/gitee/webhooks") {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Gitee-Event": event, ...headers },
    body,
  });
  return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

describe("POST /api/gitee/webhooks", () => {
  it("accepts a signed PR open, queues one event and answers with its delivery id", async () => {
    const res = await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed());
    expect(res.status).toBe(200);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ kind: "pr-updated", action: "opened", pr: { number: 9 } });
    expect(res.json).toEqual({ ok: true, deliveryId: received[0]?.deliveryId, kind: "pr-updated" });
  });

  it("accepts the URL-encoded signature and password mode", async () => {
    const headers = signed();
    headers["X-Gitee-Token"] = encodeURIComponent(headers["X-Gitee-Token"] ?? "");
    expect((await post("Note Hook", giteeFixtureText("note_hook_pr_comment.json"), headers)).status).toBe(200);
    expect((await post("Note Hook", giteeFixtureText("note_hook_pr_comment.json"), { "X-Gitee-Token": SECRET })).status).toBe(200);
    expect(received.map((e) => e.kind)).toEqual(["pr-comment", "pr-comment"]);
  });

  it("refuses a forged signature with 401 and queues nothing", async () => {
    const forged = { "X-Gitee-Token": signGiteeTimestamp("guessed-secret", String(NOW)), "X-Gitee-Timestamp": String(NOW) };
    const res = await post("Merge Request Hook", giteeFixtureText("pr_open.json"), forged);
    expect(res.status).toBe(401);
    expect(received).toEqual([]);
  });

  it("refuses a correctly signed but stale delivery (replay) with 401", async () => {
    const old = String(NOW - 2 * 60 * 60 * 1000);
    const res = await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(old));
    expect(res.status).toBe(401);
    expect(received).toEqual([]);
  });

  it("refuses a delivery without a token with 401", async () => {
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), {})).status).toBe(401);
    expect(received).toEqual([]);
  });

  it("answers 400 to a signed body that is not JSON", async () => {
    const res = await post("Merge Request Hook", "{not json", signed());
    expect(res.status).toBe(400);
    expect(received).toEqual([]);
  });

  it("acknowledges ignored events with 200 and the reason", async () => {
    const res = await post("Push Hook", giteeFixtureText("push.json"), signed());
    expect(res).toEqual({ status: 200, json: { ok: true, ignored: "event 'Push Hook' is not handled" } });
    expect(received).toEqual([]);
  });

  it("answers 413 to a body over the cap", async () => {
    const res = await post("Merge Request Hook", JSON.stringify({ pad: "x".repeat(70 * 1024) }), signed());
    expect(res.status).toBe(413);
    expect(received).toEqual([]);
  });

  it("answers 500 when the event cannot be queued, so Gitee may retry", async () => {
    failQueue = true;
    const res = await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed());
    expect(res.status).toBe(500);
  });

  it("serves its path with a query string, and leaves other paths and methods to the next handler", async () => {
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(), "/api/gitee/webhooks?x=1")).status).toBe(200);
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(), "/api/github/webhooks")).status).toBe(404);
    const get = await fetch(`${base}/api/gitee/webhooks`);
    expect(get.status).toBe(404);
    expect(await get.text()).toBe("next handler");
    expect(received).toHaveLength(1);
  });

  it("never logs the secret", async () => {
    await post("Merge Request Hook", giteeFixtureText("pr_open.json"), { "X-Gitee-Token": SECRET });
    await post("Merge Request Hook", giteeFixtureText("pr_open.json"), { "X-Gitee-Token": `${SECRET}x` });
    expect(capture.lines.length).toBeGreaterThan(0);
    expect(capture.text()).not.toContain(SECRET);
  });
});
