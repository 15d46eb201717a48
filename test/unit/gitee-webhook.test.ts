import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BotEvent } from "../../src/domain/types.js";
import { signGiteeTimestamp } from "../../src/ingress/gitee-signature.js";
import { createGiteeWebhookHandler, GITEE_MAX_BODY_BYTES, type GiteeWebhookSecrets } from "../../src/ingress/gitee-webhook.js";
import { BodyGate } from "../../src/web/bounded-body.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { giteeFixtureText, loadGiteeFixture } from "../fixtures/gitee/gitee-fixtures.js";

const SECRET = "webhook-secret-5f1c0e";
const NOW = 1_700_000_000_000;
/** The recorded payloads' repository is kit101/drone-yml-test. */
const OTHER_SECRET = "secret-of-acme-shop-91d2";

let server: Server;
let base: string;
let received: BotEvent[];
let failQueue: boolean;
/** What onEvent answers: false says "seen before". */
let seenBefore: boolean;
let results: Array<[string | undefined, string]>;
let capture: CapturedLog;
let gate: BodyGate;

async function serve(secrets: GiteeWebhookSecrets = { fallback: SECRET, byScope: {} }, options: { gateSize?: number; maxBodyBytes?: number } = {}): Promise<void> {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  gate = new BodyGate(options.gateSize ?? 4);
  const handler = createGiteeWebhookHandler({
    secrets,
    gate,
    now: () => NOW,
    log: capture.log,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    onEvent: async (event) => {
      if (failQueue) throw new Error("database is locked");
      received.push(event);
      return !seenBefore;
    },
    onResult: (event, result) => results.push([event, result]),
  });
  server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end("next handler");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeEach(async () => {
  received = [];
  results = [];
  failQueue = false;
  seenBefore = false;
  capture = captureLogger();
  await serve();
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function signed(timestamp = String(NOW), secret = SECRET): Record<string, string> {
  return { "X-Gitee-Token": signGiteeTimestamp(secret, timestamp), "X-Gitee-Timestamp": timestamp };
}

/** A recorded payload moved to another repository (as a sender with that repository's secret would send it). */
function inRepo(name: string, owner: string, repo: string): string {
  const body = loadGiteeFixture(name);
  body.repository.namespace = owner;
  body.repository.path = repo;
  body.repository.full_name = `${owner}/${repo}`;
  body.repository.html_url = `https://gitee.com/${owner}/${repo}`;
  return JSON.stringify(body);
}

/** A POST whose body is written by `write` (raw chunks, declared length): returns the status. */
function rawPost(headers: Record<string, string | number>, write: (req: ReturnType<typeof request>) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${base}/api/gitee/webhooks`);
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-type": "application/json", "X-Gitee-Event": "Merge Request Hook", ...signed(), ...headers } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      // The server may close the socket after answering a refused body.
      if (error.code !== "ECONNRESET" && error.code !== "EPIPE") reject(error);
    });
    write(req);
  });
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
  it("reports what became of each delivery: accepted, ignored (seen before, signature reused), refused, error", async () => {
    const body = giteeFixtureText("pr_open.json");
    expect((await post("Merge Request Hook", body, signed(String(NOW)))).status).toBe(200);
    expect((await post("Merge Request Hook", body, signed(String(NOW)))).status).toBe(200);
    seenBefore = true;
    expect((await post("Merge Request Hook", body, signed(String(NOW - 1000)))).status).toBe(200);
    seenBefore = false;
    expect((await post("Merge Request Hook", body, signed(String(NOW - 2000), "not-the-secret"))).status).toBe(401);
    failQueue = true;
    expect((await post("Merge Request Hook", body, signed(String(NOW - 3000)))).status).toBe(500);
    expect(results).toEqual([
      ["Merge Request Hook", "accepted"],
      ["Merge Request Hook", "ignored"],
      ["Merge Request Hook", "ignored"],
      ["Merge Request Hook", "refused"],
      ["Merge Request Hook", "error"],
    ]);
  });

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

  it("keeps Gitee's 1 MiB limit by default", () => {
    expect(GITEE_MAX_BODY_BYTES).toBe(1024 * 1024);
  });

  it("answers 413 from the declared content-length before the body arrives", async () => {
    // 2 MiB announced, 10 bytes sent, the request never ended: only the header can refuse it.
    const status = await rawPost({ "content-length": 2 * 1024 * 1024 }, (req) => req.write("{\"pad\": \"x"));
    expect(status).toBe(413);
    expect(received).toEqual([]);
  });

  it("answers 413 while streaming a chunked body that grows past the limit, without waiting for its end", async () => {
    const status = await rawPost({ "transfer-encoding": "chunked" }, (req) => {
      for (let i = 0; i < 80; i++) req.write("x".repeat(1024));
      // not ended: the refusal must come from the bytes counted so far
    });
    expect(status).toBe(413);
    expect(gate.active).toBe(0);
    expect(received).toEqual([]);
  });

  it("answers 503 when too many bodies are being read at once, and reads again once they are done", async () => {
    await serve(undefined, { gateSize: 1 });
    let slow: ReturnType<typeof request> | undefined;
    const slowStatus = rawPost({ "transfer-encoding": "chunked" }, (req) => {
      slow = req;
      req.write(giteeFixtureText("pr_open.json").slice(0, 100));
    });
    await expect.poll(() => gate.active).toBe(1);
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(String(NOW + 1)))).status).toBe(503);
    slow?.end(giteeFixtureText("pr_open.json").slice(100));
    expect(await slowStatus).toBe(200);
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(String(NOW + 2)))).status).toBe(200);
    expect(received).toHaveLength(2);
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

describe("secrets per repository and owner", () => {
  it("verifies with the repository's own secret, then its owner's, then the fallback", async () => {
    await serve({ fallback: SECRET, byScope: { "kit101/drone-yml-test": OTHER_SECRET, acme: "acme-org-secret" } });
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(String(NOW), OTHER_SECRET))).status).toBe(200);
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(String(NOW + 1), SECRET))).status).toBe(401);
    expect((await post("Merge Request Hook", inRepo("pr_open.json", "ACME", "shop"), signed(String(NOW + 2), "acme-org-secret"))).status).toBe(200);
    expect((await post("Merge Request Hook", inRepo("pr_open.json", "acme", "shop"), signed(String(NOW + 3), OTHER_SECRET))).status).toBe(401);
    expect((await post("Merge Request Hook", inRepo("pr_open.json", "someone", "else"), signed(String(NOW + 4), SECRET))).status).toBe(200);
    expect(received.map((e) => (e.kind === "pr-updated" ? `${e.pr.repo.owner}/${e.pr.repo.name}` : e.kind))).toEqual([
      "kit101/drone-yml-test",
      "ACME/shop",
      "someone/else",
    ]);
  });

  it("refuses an event for repository B signed with repository A's secret", async () => {
    await serve({ byScope: { "acme/shop": OTHER_SECRET, "kit101/drone-yml-test": SECRET } });
    const forged = inRepo("note_hook_pr_comment.json", "kit101", "drone-yml-test");
    expect((await post("Note Hook", forged, signed(String(NOW), OTHER_SECRET))).status).toBe(401);
    expect((await post("Note Hook", forged, { "X-Gitee-Token": OTHER_SECRET })).status).toBe(401);
    expect(received).toEqual([]);
  });

  it("answers 401 to a repository that has no secret, when there is no fallback", async () => {
    await serve({ byScope: { "acme/shop": OTHER_SECRET } });
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), signed(String(NOW), OTHER_SECRET))).status).toBe(401);
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), { "X-Gitee-Token": OTHER_SECRET })).status).toBe(401);
    expect(received).toEqual([]);
  });
});

describe("replays", () => {
  it("refuses the same signed timestamp and signature carrying another payload", async () => {
    const headers = signed();
    expect((await post("Merge Request Hook", giteeFixtureText("pr_open.json"), headers)).status).toBe(200);
    const forged = loadGiteeFixture("note_hook_pr_comment.json");
    forged.comment.body = "/deploy";
    const replay = await post("Note Hook", JSON.stringify(forged), headers);
    expect(replay).toEqual({ status: 200, json: { ok: true, ignored: "signature already used" } });
    // URL-encoding the same signature does not make it new.
    const encoded = { ...headers, "X-Gitee-Token": encodeURIComponent(headers["X-Gitee-Token"] ?? "") };
    expect((await post("Note Hook", JSON.stringify(forged), encoded)).json).toMatchObject({ ignored: "signature already used" });
    expect(received.map((e) => e.kind)).toEqual(["pr-updated"]);
  });

  it("also refuses a signature first seen on a delivery berth ignored", async () => {
    const headers = signed();
    expect((await post("Push Hook", giteeFixtureText("push.json"), headers)).json).toMatchObject({ ignored: "event 'Push Hook' is not handled" });
    expect((await post("Note Hook", giteeFixtureText("note_hook_pr_comment.json"), headers)).json).toMatchObject({ ignored: "signature already used" });
    expect(received).toEqual([]);
  });

  it("gives events the signed timestamp and signature as replay key, equal for any payload under them (so the store refuses it after a restart)", async () => {
    const headers = signed();
    await post("Merge Request Hook", giteeFixtureText("pr_open.json"), headers);
    await serve(); // a restarted berth remembers nothing in memory
    const other = loadGiteeFixture("pr_open.json");
    other.pull_request.updated_at = "2030-01-01T00:00:00+08:00";
    await post("Merge Request Hook", JSON.stringify(other), headers);
    expect(received).toHaveLength(2);
    expect(received[0]?.deliveryId).not.toBe(received[1]?.deliveryId);
    expect(received[0]?.replayKey).toBe(`gitee-sign:${NOW}:${headers["X-Gitee-Token"] ?? ""}`);
    expect(received[1]?.replayKey).toBe(received[0]?.replayKey);
  });

  it("in password mode, where nothing is signed, keys replays on the payload's delivery id", async () => {
    await post("Merge Request Hook", giteeFixtureText("pr_open.json"), { "X-Gitee-Token": SECRET });
    expect(received[0]?.replayKey).toBe(`gitee-payload:${received[0]?.deliveryId ?? ""}`);
  });
});
