/**
 * The notification outbox against the local vendor fakes, through the real webhook sender and a
 * SQLite store: chat events of runs are said once per channel, signed; 5xx, dropped connections
 * and vendor rate limits are retried until sent; refusals and endless failures are given up and
 * logged (without the webhook's secrets); what one process queued, the next one says.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it as test } from "vitest";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { PullRecord, RunRecord } from "../../src/domain/records.js";
import type { ChatChannel } from "../../src/notify/channel.js";
import { channelSecrets, WebhookChatSender } from "../../src/notify/webhook-sender.js";
import { NotificationOutbox, type NotifyRetryPolicy } from "../../src/pipeline/notification-outbox.js";
import type { RunEvent } from "../../src/pipeline/run-events.js";
import type { Store } from "../../src/pipeline/store.js";
import { FakeChatVendors } from "../fakes/chat-vendors.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { cleanupStoreBackends, storeBackends } from "../helpers/store-backends.js";

const REPO = { host: "github" as const, owner: "acme", name: "shop", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/shop" };
const SHA = "1234567890abcdef1234567890abcdef12345678";
const FAST: Partial<NotifyRetryPolicy> = { baseMs: 5, maxMs: 20, rateLimitPauseMs: 10, maxRefusals: 3, maxAgeMs: 60_000 };

let fake: FakeChatVendors;
let store: Store;
let captured: CapturedLog;
const outboxes: NotificationOutbox[] = [];

afterAll(async () => {
  await cleanupStoreBackends();
});

function config(yaml: string) {
  const parsed = parseRepoConfig(yaml);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

const ALL = config(`
notify:
  - channel: ding
    on: [failed, preview-ready]
  - channel: lark
    on: [failed]
  - channel: wework
    on: [failed]
  - channel: team
    on: [failed, preview-removed]
`);

function channels(): ChatChannel[] {
  return [
    { name: "ding", vendor: "dingtalk", url: fake.dingtalkUrl("dtoken-1234567890", "SECding-secret"), secret: "SECding-secret" },
    { name: "lark", vendor: "feishu", url: fake.feishuUrl("8d1c2b6e-hook-id", "lark-secret"), secret: "lark-secret" },
    { name: "wework", vendor: "wecom", url: fake.wecomUrl("693a91f6-7xxx-key") },
    { name: "team", vendor: "slack", url: fake.slackUrl("XXXXslacktokenXXXX") },
  ];
}

function outbox(chans: ChatChannel[], retry: Partial<NotifyRetryPolicy> = FAST): NotificationOutbox {
  const box = new NotificationOutbox({
    store,
    channels: chans,
    sender: new WebhookChatSender({ log: captured.log }),
    reportBaseUrl: "https://berth.example.com/reports",
    log: captured.log,
    redact: createRedactor(chans.flatMap(channelSecrets)),
    random: () => 0.5,
    retry,
    failureLogMs: 0,
  });
  outboxes.push(box);
  return box;
}

async function failedRun(id = "run-1", repoConfig = ALL): Promise<RunRecord> {
  const run: RunRecord = { id, prKey: "github:acme/shop#12", repo: REPO, prNumber: 12, sha: SHA, kind: "pipeline", plan: ["build", "deploy", "test"], trigger: "push", status: "running", config: repoConfig, reuseImage: false, attempts: 0, createdAt: 1 };
  await store.insertRun(run);
  const pull: PullRecord = { prKey: run.prKey, repo: REPO, prNumber: 12, headSha: SHA, state: "open", fromFork: false, url: "https://github.com/acme/shop/pull/12", title: "Add <cart> *now*", headRef: "feature/cart" };
  await store.savePull(pull);
  await store.updateStage(id, "test", {
    state: "failed",
    finishedAt: 5,
    detail: { tests: { total: 2, passed: 1, failed: 1, skipped: 0, firstFailures: [{ name: "cart › adds", message: "expected 2, got 1" }], reportId: "rep1", exitCode: 1, timedOut: false }, logId: "log1" },
  });
  return run;
}

function finished(run: RunRecord): RunEvent {
  return { type: "run-finished", run, status: "failed", reason: "test failed", at: 10 };
}

/** Wait until nothing is left to say (retries included). */
async function drained(box: NotificationOutbox): Promise<void> {
  for (let i = 0; i < 500 && (await box.pending()); i++) {
    await box.idle();
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(await box.pending()).toBe(false);
}

describe.each(storeBackends)("notification outbox on $name", (backend) => {
  const it = test.skipIf(backend.skip !== undefined);

  beforeEach(async () => {
    if (backend.skip) return;
    fake = new FakeChatVendors();
    await fake.start();
    store = await backend.open();
    captured = captureLogger();
  });

  afterEach(async () => {
    if (backend.skip) return;
    for (const outbox of outboxes.splice(0)) await outbox.stop();
    await store.close();
    await fake.stop();
  });

  it("says a failed run once on every channel its berth.yml names for it, signed, with title, links and failing tests", async () => {
    const box = outbox(channels());
    await box.start();
    const run = await failedRun();
    box.listener(finished(run));
    box.listener(finished(run));
    await drained(box);

    expect(fake.said.dingtalk).toHaveLength(1);
    expect(fake.said.feishu).toHaveLength(1);
    expect(fake.said.wecom).toHaveLength(1);
    expect(fake.said.slack).toHaveLength(1);
    const ding = fake.said.dingtalk[0] as { markdown: { text: string } };
    expect(ding.markdown.text).toContain("### Pipeline failed at test · acme/shop");
    expect(ding.markdown.text).toContain("**#12 Add \\<cart\\> \\*now\\***");
    expect(ding.markdown.text).toContain("[Test report](https://berth.example.com/reports/rep1)");
    expect(ding.markdown.text).toContain("[Log](https://berth.example.com/reports/logs/log1)");
    expect(ding.markdown.text).toContain("- cart › adds: expected 2, got 1");
    const slack = fake.said.slack[0] as { text: string };
    expect(slack.text).toBe("Pipeline failed at test · acme/shop #12 Add &lt;cart&gt; *now*");
    expect(box.stats()).toEqual([
      { channel: "ding", vendor: "dingtalk", sent: 1, failed: 0, givenUp: 0 },
      { channel: "lark", vendor: "feishu", sent: 1, failed: 0, givenUp: 0 },
      { channel: "wework", vendor: "wecom", sent: 1, failed: 0, givenUp: 0 },
      { channel: "team", vendor: "slack", sent: 1, failed: 0, givenUp: 0 },
    ]);
  });

  it("does not say an event the rule does not list, nor on channels the server does not define", async () => {
    const box = outbox(channels().filter((c) => c.name !== "team"));
    await box.start();
    const run = await failedRun();
    box.listener({ type: "stage-finished", run, stage: "delete", ok: true, detail: {}, facts: { previewRemoved: true }, at: 3 });
    await drained(box);
    expect(fake.requests).toEqual([]);
  });

  it("retries a 502, a dropped connection and each vendor's rate limit, then sends", async () => {
    fake.trouble("dingtalk", "server-error");
    fake.trouble("dingtalk", "rate-limit");
    fake.trouble("feishu", "rate-limit");
    fake.trouble("wecom", "rate-limit");
    fake.trouble("slack", "drop");
    fake.trouble("slack", "rate-limit");
    const box = outbox(channels());
    await box.start();
    box.listener(finished(await failedRun()));
    await drained(box);
    expect(box.stats().map((s) => [s.channel, s.sent, s.failed, s.givenUp])).toEqual([
      ["ding", 1, 2, 0],
      ["lark", 1, 1, 0],
      ["wework", 1, 1, 0],
      ["team", 1, 2, 0],
    ]);
    expect(captured.text()).toContain("notification not sent; will try again");
  });

  it("gives up on a refusal (DingTalk sign not match) after maxRefusals tries, logged without the webhook's secrets", async () => {
    const wrong: ChatChannel = { name: "ding", vendor: "dingtalk", url: fake.dingtalkUrl("dtoken-1234567890", "SECthe-real-secret"), secret: "SECa-wrong-secret" };
    const deliveries: string[] = [];
    const box = new NotificationOutbox({
      store,
      channels: [wrong],
      sender: new WebhookChatSender({ log: captured.log }),
      reportBaseUrl: "https://berth.example.com/reports",
      log: captured.log,
      redact: createRedactor(channelSecrets(wrong)),
      random: () => 0.5,
      retry: FAST,
      onDelivery: (channel, vendor, outcome) => deliveries.push(`${channel}/${vendor}/${outcome}`),
    });
    outboxes.push(box);
    await box.start();
    box.listener(finished(await failedRun()));
    await drained(box);
    expect(fake.said.dingtalk).toEqual([]);
    expect(fake.requests).toHaveLength(3);
    expect(deliveries).toEqual(["ding/dingtalk/failed", "ding/dingtalk/failed", "ding/dingtalk/failed", "ding/dingtalk/given-up"]);
    const text = captured.text();
    expect(text).toContain("notification given up: the chat refused it");
    expect(text).toContain("errcode 310000: sign not match");
    expect(text).not.toContain("dtoken-1234567890");
    expect(text).not.toContain("SECa-wrong-secret");
  });

  it("is refused (Feishu 19021) when the signing clock is more than an hour off, like a bad signature", async () => {
    fake.now = () => Date.now() + 2 * 3_600_000;
    const box = outbox(channels().filter((c) => c.name === "lark"));
    await box.start();
    box.listener(finished(await failedRun()));
    await drained(box);
    expect(fake.said.feishu).toEqual([]);
    expect(box.stats()[0]).toMatchObject({ sent: 0, failed: 3, givenUp: 1 });
    expect(captured.text()).toContain("code 19021: sign match fail or timestamp is not within one hour from current time");
  });

  it("gives up on a channel that keeps failing after maxAgeMs", async () => {
    fake.trouble("wecom", "server-error", 1000);
    const box = outbox(channels().filter((c) => c.name === "wework"), { ...FAST, maxAgeMs: 50 });
    await box.start();
    box.listener(finished(await failedRun()));
    await drained(box);
    const [stats] = box.stats();
    expect(stats).toMatchObject({ sent: 0, givenUp: 1 });
    expect(stats!.failed).toBeGreaterThanOrEqual(1);
    expect(captured.text()).toContain("notification given up: the chat kept failing");
  });

  it("says after a restart what the previous process queued and could not send", async () => {
    fake.trouble("slack", "server-error");
    const first = outbox(channels().filter((c) => c.name === "team"), { ...FAST, baseMs: 60_000, maxMs: 60_000 });
    await first.start();
    first.listener(finished(await failedRun()));
    await first.idle();
    expect(fake.requests).toHaveLength(1);
    expect(await first.pending()).toBe(true);
    await first.stop();

    // The next process: the row waits for its backoff (a minute); shown due by clearing it.
    const [row] = await store.pendingNotifications();
    await store.deferNotification(row!.key, { attempts: row!.attempts, nextAttemptAt: 0, error: row!.lastError ?? "" });
    const second = outbox(channels().filter((c) => c.name === "team"));
    await second.start();
    await drained(second);
    expect(fake.said.slack).toHaveLength(1);
    // Said once: the event coming again (a replica re-running the stage) is not said twice.
    second.listener(finished((await store.getRun("run-1"))!));
    await drained(second);
    expect(fake.said.slack).toHaveLength(1);
  });
});
