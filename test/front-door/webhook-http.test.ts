/**
 * The webhook over real HTTP: a signed delivery is answered before any stage runs (the build is held
 * until after the answer), a forged signature is refused with nothing recorded, and a redelivery of
 * the same id runs nothing twice.
 */
import { createHmac } from "node:crypto";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { deferred, FakeBuilder } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { startHttpBerth, type HttpBerth } from "../helpers/http-berth.js";

const SECRET = "webhook-secret-for-tests";
const builder = new FakeBuilder();
const gate = deferred();
builder.gate = gate.promise;
let berth: HttpBerth;
let url = "";

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  berth = await startHttpBerth(SECRET, { builder });
  url = `${berth.origin}/api/github/webhooks`;
});

afterAll(async () => {
  gate.release();
  await berth.close();
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
  expect(await berth.store.pendingInbox()).toEqual([]);

  const started = Date.now();
  expect(await post(body, signature, "real-1")).toBe(200);
  const answeredMs = Date.now() - started;
  // Answered while the build is still held: the stage had not finished (or even begun) when the answer left.
  expect(builder.builds.length).toBeLessThanOrEqual(1);
  expect((await berth.store.latestPipelineRuns("github:Codertocat/Hello-World#2", 1))[0]?.status).not.toBe("passed");
  console.info(`webhook answered in ${answeredMs} ms`);

  expect(await post(body, signature, "real-1")).toBe(200);
  gate.release();
  await berth.engine.idle();
  expect(builder.builds).toHaveLength(1);
  expect(github.statuses()[0]).toMatchObject({ context: "berth/build", state: "pending" });
  expect(finalStatuses(github.statuses()).map((s) => s.split("=")[0])).toEqual(["berth/build", "berth/deploy", "berth/test"]);
});

/**
 * The last state written per status context, in the order the contexts first appear. Statuses are
 * written from an outbox that coalesces: a context may show `pending` (its stage started) before its
 * final state, never anything else, and never a state after its final one.
 */
function finalStatuses(statuses: Array<{ context: string; state: string }>): string[] {
  const byContext = new Map<string, string[]>();
  for (const s of statuses) byContext.set(s.context, [...(byContext.get(s.context) ?? []), s.state]);
  for (const [context, states] of byContext) expect(states.slice(0, -1), context).toEqual(states.length > 1 ? ["pending"] : []);
  return [...byContext].map(([context, states]) => `${context}=${states.at(-1)}`);
}
