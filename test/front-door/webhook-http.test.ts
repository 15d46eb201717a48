/**
 * The webhook over real HTTP: a signed delivery is answered before any stage runs (the build is held
 * until after the answer), a forged signature is refused with nothing recorded, and a redelivery of
 * the same id runs nothing twice.
 */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { createNodeMiddleware, Probot, ProbotOctokit } from "probot";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createRedactor } from "../../src/domain/redact.js";
import { createBerth } from "../../src/index.js";
import type { Engine } from "../../src/pipeline/engine.js";
import { Store } from "../../src/pipeline/store.js";
import { deferred, FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";

const SECRET = "webhook-secret-for-tests";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
const dataDir = mkdtempSync(join(tmpdir(), "berth-http-"));
const store = Store.open(dataDir);
const builder = new FakeBuilder();
const gate = deferred();
builder.gate = gate.promise;
let server: Server;
let url = "";
let engine: Engine;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const log = pino({ level: "silent" });
  const probot = new Probot({
    appId: 1,
    privateKey,
    secret: SECRET,
    log,
    Octokit: ProbotOctokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false }, throttle: { enabled: false } })),
  });
  const berth = createBerth({ store, builder, targets: { docker: new FakeTarget() }, publicUrl: "https://berth.example.com", concurrency: 1, commentIntervalMs: 0, redact: createRedactor([]), log });
  engine = berth.engine;
  const middleware = await createNodeMiddleware(berth.app, { probot });
  server = createServer((req, res) => void middleware(req, res, () => res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/github/webhooks`;
});

afterAll(async () => {
  gate.release();
  await engine.stop();
  server.close();
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
  nock.cleanAll();
  nock.enableNetConnect();
});

async function post(body: string, signature: string, id: string): Promise<number> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "pull_request", "x-github-delivery": id, "x-hub-signature-256": signature },
    body,
  });
  await res.text();
  return res.status;
}

it("answers a signed delivery before any stage runs, refuses a forged one, and ignores a redelivery", async () => {
  const github = mockGitHub({ config: "test:\n  command: [x]\n" });
  const body = JSON.stringify(pullRequestPayload({ action: "opened", headSha: "7".repeat(40) }));
  const signature = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;

  expect(await post(body, "sha256=" + "0".repeat(64), "forged")).toBe(400);
  expect(store.pendingInbox()).toEqual([]);

  const started = Date.now();
  expect(await post(body, signature, "real-1")).toBe(200);
  const answeredMs = Date.now() - started;
  // Answered while the build is still held: the stage had not finished (or even begun) when the answer left.
  expect(builder.builds.length).toBeLessThanOrEqual(1);
  expect(store.latestPipelineRuns("github:Codertocat/Hello-World#2", 1)[0]?.status).not.toBe("passed");
  console.info(`webhook answered in ${answeredMs} ms`);

  expect(await post(body, signature, "real-1")).toBe(200);
  gate.release();
  await engine.idle();
  expect(builder.builds).toHaveLength(1);
  expect(github.statuses().map((s) => s.context)).toEqual(["berth/build", "berth/deploy", "berth/test"]);
});
