/**
 * Front door: a PR whose berth.yml asks for chat notifications, through `probot.receive` (GitHub
 * mocked with nock, fake builder and target), with the real webhook sender posting to the local
 * vendor fakes. The pipeline's events become the right messages on the right channels; a channel
 * that names nothing the server defines is a config error on the PR; a chat that is down never
 * holds the pipeline or its status comment.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChatChannel } from "../../src/notify/channel.js";
import { WebhookChatSender } from "../../src/notify/webhook-sender.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { FakeChatVendors } from "../fakes/chat-vendors.js";
import { mockGitHub, type GitHubMock } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const SHA1 = "1".repeat(40);

const CONFIG = `
preview:
  port: 8080
test:
  command: ["sh", "-c", "run-tests"]
notify:
  - channel: ops
    on: [failed, preview-ready]
  - channel: lark
    on: [preview-ready]
`;

let harness: Harness | undefined;
let fake: FakeChatVendors;

beforeEach(async () => {
  // The vendor fakes listen on 127.0.0.1; everything else (GitHub) goes to nock.
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  fake = new FakeChatVendors();
  await fake.start();
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await fake.stop();
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

function channels(): ChatChannel[] {
  return [
    { name: "ops", vendor: "dingtalk", url: fake.dingtalkUrl("ops-token-0123456789", "SECops-secret"), secret: "SECops-secret" },
    { name: "lark", vendor: "feishu", url: fake.feishuUrl("lark-hook-0123456789", "lark-secret"), secret: "lark-secret" },
  ];
}

async function start(retry = { baseMs: 5, maxMs: 20, maxAgeMs: 60_000 }): Promise<Harness> {
  harness = await createHarness({
    builder: new FakeBuilder(),
    target: new FakeTarget(),
    engine: { notify: { channels: channels(), sender: new WebhookChatSender({ log: { debug: () => undefined, warn: () => undefined } }), retry } },
  });
  return harness;
}

function lastComment(github: GitHubMock): string {
  const bodies = github.commentBodies();
  return bodies[bodies.length - 1] ?? "";
}

describe("chat notifications through the front door", () => {
  it("says the preview and the failed tests on the channels berth.yml names, signed", async () => {
    const github = mockGitHub({ config: CONFIG });
    const h = await start();
    const payload = pullRequestPayload({ action: "opened", headSha: SHA1 });
    await h.deliver("pull_request", payload);
    await h.engine.notifications!.idle();

    const title = String(payload.pull_request.title);
    expect(lastComment(github)).toContain("| test | ❌ failed |");
    const ding = fake.said.dingtalk.map((b) => (b as { markdown: { title: string; text: string } }).markdown);
    expect(ding.map((m) => m.title)).toEqual(["Preview ready · Codertocat/Hello-World", "Pipeline failed at test · Codertocat/Hello-World"]);
    expect(ding[0]!.text).toContain("[Preview](http://127.0.0.1:41000/)");
    expect(ding[1]!.text).toContain(`**#2 ${title}**`);
    expect(ding[1]!.text).toContain("Tests: 1 passed, 1 failed, 1 skipped");
    expect(ding[1]!.text).toMatch(/\[Test report\]\(https:\/\/berth\.example\.com\/reports\/[0-9a-f]{16}\)/);
    expect(ding[1]!.text).toContain("- smoke › login: expected 200, got 500");
    expect(ding[1]!.text).toContain(`branch ${String(payload.pull_request.head.ref)}`);
    // Feishu hears of the preview only.
    const lark = fake.said.feishu as Array<{ card: { header: { title: { content: string } } } }>;
    expect(lark.map((b) => b.card.header.title.content)).toEqual(["Preview ready"]);
    expect(h.engine.notifications!.stats()).toEqual([
      { channel: "ops", vendor: "dingtalk", sent: 2, failed: 0, givenUp: 0 },
      { channel: "lark", vendor: "feishu", sent: 1, failed: 0, givenUp: 0 },
    ]);
  });

  it("shows a channel the server does not define as a config error on the PR, and runs nothing", async () => {
    const github = mockGitHub({ config: "notify:\n  - channel: nobody\n    on: [failed]\n", endpoints: ["token", "config", "listComments", "createComment"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    const body = lastComment(github);
    expect(body).toContain("`notify.0.channel`: 'nobody' is not a chat channel of this berth server (defined: ops, lark)");
    expect(body).toContain("so nothing runs");
    expect(fake.requests).toEqual([]);
  });

  it("a chat that is down holds neither the pipeline nor its comment; the message waits in the outbox", async () => {
    fake.trouble("dingtalk", "drop", 1000);
    fake.trouble("feishu", "server-error", 1000);
    const github = mockGitHub({ config: CONFIG });
    // Retries a minute apart: what is left waits for its backoff, and the engine counts as idle.
    const h = await start({ baseMs: 60_000, maxMs: 60_000, maxAgeMs: 3_600_000 });
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    expect(lastComment(github)).toContain("| test | ❌ failed |");
    expect((await h.store.runsWithStatus(["failed"])).length).toBe(1);
    expect(fake.said.dingtalk).toEqual([]);
    expect((await h.store.pendingNotifications()).map((n) => n.key.split(":").slice(1).join(":"))).toEqual(["preview-ready:ops", "preview-ready:lark", "failed:ops"]);
    expect(h.engine.notifications!.stats().every((s) => s.failed >= 1 && s.sent === 0)).toBe(true);
  });
});
