import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BotEvent } from "../../src/domain/types.js";
import { bodySignatureMatches } from "../../src/ingress/body-signature.js";
import { createGiteaWebhookHandler, GITEA_WEBHOOK_PATH, giteaServerFor, type GiteaWebhookServer } from "../../src/ingress/gitea-webhook.js";
import { BodyGate } from "../../src/web/bounded-body.js";
import { GITEA_FIXTURE_BASE, giteaFixtureText, GOGS_FIXTURE_BASE } from "../fixtures/gitea/gitea-fixtures.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";

const SERVERS: GiteaWebhookServer[] = [
  { host: "gitea-main", url: GITEA_FIXTURE_BASE, secret: "main-secret-81c2", flavor: "gitea" },
  { host: "gitea-forge", url: "https://forge.example.org", secret: "forge-secret-0d4e", flavor: "forgejo" },
  { host: "gitea-old", url: GOGS_FIXTURE_BASE, secret: "gogs-secret-5a7b", flavor: "gogs" },
];

let server: Server;
let base: string;
let received: BotEvent[];
let results: string[];
let capture: CapturedLog;

beforeEach(async () => {
  received = [];
  results = [];
  capture = captureLogger();
  const handler = createGiteaWebhookHandler({
    servers: SERVERS,
    gate: new BodyGate(4),
    log: capture.log,
    maxBodyBytes: 64 * 1024,
    // A replayed body is "seen before" (the store says so through onEvent).
    onEvent: async (event) => (received.push(event), !received.slice(0, -1).some((e) => e.replayKey === event.replayKey)),
    onResult: (event, result) => void results.push(`${event ?? "-"}:${result}`),
  });
  server = createServer((req, res) => void handler(req, res).then((handled) => (handled ? undefined : res.writeHead(404).end("next handler"))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of SERVERS) expect(capture.text()).not.toContain(s.secret);
});

const sign = (secret: string, body: string): string => createHmac("sha256", secret).update(body).digest("hex");

/** Headers as each server sends them: Forgejo adds its own to Gitea's, Gitea adds Gogs', Gogs sends only its own. */
function headers(flavor: "gitea" | "forgejo" | "gogs", event: string, signature: string, delivery = "5f0c2a1e-7b3d-4c9e-a1f0-2b3c4d5e6f70"): Record<string, string> {
  const gogs = { "X-Gogs-Event": event, "X-Gogs-Signature": signature, "X-Gogs-Delivery": delivery };
  const gitea = { "X-Gitea-Event": event, "X-Gitea-Signature": signature, "X-Gitea-Delivery": delivery, ...gogs };
  if (flavor === "gogs") return gogs;
  if (flavor === "gitea") return gitea;
  return { "X-Forgejo-Event": event, "X-Forgejo-Signature": signature, "X-Forgejo-Delivery": delivery, ...gitea };
}

async function post(body: string, extra: Record<string, string>, path = GITEA_WEBHOOK_PATH): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...extra }, body });
  const text = await res.text();
  return { status: res.status, json: text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

describe("Gitea webhook route", () => {
  it("accepts a signed Gitea delivery, picks the server by the repository URL, and keys replays by the body", async () => {
    const body = giteaFixtureText("pull_request_opened.json");
    const res = await post(body, headers("gitea", "pull_request", sign("main-secret-81c2", body)));
    expect(res).toEqual({ status: 200, json: { ok: true, deliveryId: "gitea-main:5f0c2a1e-7b3d-4c9e-a1f0-2b3c4d5e6f70", kind: "pr-updated" } });
    expect(received).toHaveLength(1);
    const event = received[0]!;
    expect(event.kind === "pr-updated" && event.pr.repo.host).toBe("gitea-main");
    expect(event.replayKey).toMatch(/^gitea-main:pull_request:[0-9a-f]{64}$/);
    // The same signed body under a new delivery id carries the same replay key (the store refuses it).
    await post(body, headers("gitea", "pull_request", sign("main-secret-81c2", body), "another-delivery"));
    expect(received[1]?.replayKey).toBe(event.replayKey);
    // What became of each delivery, for /metrics.
    expect(results).toEqual(["pull_request:accepted", "pull_request:ignored"]);
  });

  it("reads Forgejo's headers and Gogs' headers", async () => {
    const forgejoBody = giteaFixtureText("push_tag.json", "https://forge.example.org");
    expect((await post(forgejoBody, headers("forgejo", "push", sign("forge-secret-0d4e", forgejoBody)))).json).toMatchObject({ kind: "tag-pushed" });
    const gogsBody = giteaFixtureText("gogs_pull_request_opened.json");
    expect((await post(gogsBody, headers("gogs", "pull_request", sign("gogs-secret-5a7b", gogsBody)))).json).toMatchObject({ kind: "pr-updated" });
    expect(received.map((e) => (e.kind === "tag-pushed" ? e.repo.host : e.kind === "pr-updated" ? e.pr.repo.host : ""))).toEqual(["gitea-forge", "gitea-old"]);
  });

  it("refuses a body signed with another server's secret, a forged signature, and a repository on no configured server", async () => {
    const body = giteaFixtureText("pull_request_opened.json");
    for (const signature of [sign("forge-secret-0d4e", body), sign("main-secret-81c2", `${body} `), "00"]) {
      expect((await post(body, headers("gitea", "pull_request", signature))).status).toBe(401);
    }
    const elsewhere = giteaFixtureText("pull_request_opened.json", "https://evil.example.com");
    expect((await post(elsewhere, headers("gitea", "pull_request", sign("main-secret-81c2", elsewhere)))).status).toBe(401);
    // A look-alike host: git.example.com.evil.example is not under https://git.example.com/.
    const lookalike = giteaFixtureText("pull_request_opened.json", "https://git.example.com.evil.example");
    expect((await post(lookalike, headers("gitea", "pull_request", sign("main-secret-81c2", lookalike)))).status).toBe(401);
    expect(received).toEqual([]);
  });

  it("refuses Gogs headers for a Gitea server and the other way round", async () => {
    const body = giteaFixtureText("pull_request_opened.json");
    expect((await post(body, headers("gogs", "pull_request", sign("main-secret-81c2", body)))).status).toBe(400);
    const gogsBody = giteaFixtureText("gogs_pull_request_opened.json");
    expect((await post(gogsBody, headers("gitea", "pull_request", sign("gogs-secret-5a7b", gogsBody)))).status).toBe(400);
    expect(received).toEqual([]);
  });

  it("answers ignored events, missing headers, bad JSON, wrong methods, large bodies; leaves other paths", async () => {
    const edited = giteaFixtureText("pull_request_edited.json");
    expect((await post(edited, headers("gitea", "pull_request", sign("main-secret-81c2", edited)))).json).toEqual({ ok: true, ignored: "pull_request action 'edited' is not handled" });
    expect((await post("{}", {})).status).toBe(400);
    expect((await post("{", headers("gitea", "push", sign("main-secret-81c2", "{")))).status).toBe(400);
    expect((await post("{}", headers("gitea", "push", "x", "bad id!"))).status).toBe(400);
    expect((await fetch(`${base}${GITEA_WEBHOOK_PATH}`)).status).toBe(405);
    expect((await post("x".repeat(70 * 1024), headers("gitea", "push", "x"))).status).toBe(413);
    expect((await post("{}", {}, "/api/other")).json).toEqual({ text: "next handler" });
    expect(received).toEqual([]);
    expect(results).toEqual(["pull_request:ignored", "-:refused", "push:refused", "push:refused", "-:refused", "push:refused"]);
  });
});

describe("signatures and server choice", () => {
  it("compares the hex HMAC of the raw body", () => {
    const body = Buffer.from('{"a":1}');
    expect(bodySignatureMatches("s", body, sign("s", '{"a":1}'))).toBe(true);
    expect(bodySignatureMatches("s", body, sign("s", '{"a":1}').toUpperCase())).toBe(true);
    expect(bodySignatureMatches("s", body, sign("t", '{"a":1}'))).toBe(false);
    expect(bodySignatureMatches("s", body, "")).toBe(false);
  });

  it("the longest matching base URL wins", () => {
    const servers = [{ url: "https://example.com" }, { url: "https://example.com/gitea" }];
    expect(giteaServerFor(servers, "https://example.com/gitea/acme/shop")).toBe(servers[1]);
    expect(giteaServerFor(servers, "https://example.com/acme/shop")).toBe(servers[0]);
    expect(giteaServerFor(servers, "https://example.community/acme/shop")).toBeUndefined();
  });
});
