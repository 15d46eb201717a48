import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRedactor } from "../../src/domain/redact.js";
import type { BotEvent, RepoRef } from "../../src/domain/types.js";
import { InboxWorker, type EventFailure, type InboxWorkerOptions } from "../../src/pipeline/inbox-worker.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { InboxItem, Store } from "../../src/pipeline/store.js";
import { deferred } from "../fakes/fake-adapters.js";

const REPO: RepoRef = { host: "github", owner: "acme", name: "app", defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };

function comment(deliveryId: string, prNumber: number): BotEvent {
  return { kind: "pr-comment", deliveryId, repo: REPO, prNumber, commentId: deliveryId, author: "octocat", body: "/status" };
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

async function until(condition: () => boolean | Promise<boolean> | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let dir: string;
let store: Store;
const workers: InboxWorker[] = [];
const givenUp: Array<{ item: InboxItem; failure: EventFailure }> = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-inbox-"));
  store = SqliteStore.open(dir);
  givenUp.length = 0;
});
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function worker(process: InboxWorkerOptions["process"], options: Partial<InboxWorkerOptions> = {}): InboxWorker {
  const created = new InboxWorker({
    store,
    concurrency: 8,
    process,
    onGiveUp: (item, failure) => void givenUp.push({ item, failure }),
    policy: { firstDelayMs: 20, maxDelayMs: 40, deadlineMs: 60_000 },
    attemptTimeoutMs: 5_000,
    owner: "test-replica",
    claimMs: 35_000,
    redact: createRedactor([]),
    log: pino({ level: "silent" }),
    now: Date.now,
    random: () => 1,
    ...options,
  });
  workers.push(created);
  return created;
}

async function accept(...events: BotEvent[]): Promise<void> {
  for (const event of events) await store.recordDelivery(event, Date.now());
}

describe("InboxWorker", () => {
  it("processes events of different PRs at once and the events of one PR in the order received", async () => {
    const held = deferred();
    const started: string[] = [];
    const inbox = worker(async (event) => {
      started.push(event.deliveryId);
      if (event.deliveryId === "pr1-a") await held.promise;
    });
    await accept(comment("pr1-a", 1), comment("pr1-b", 1), comment("pr2-a", 2));
    inbox.kick();
    await until(async () => (await store.getDelivery("pr2-a"))?.processedAt !== undefined);
    // PR 2 did not wait for PR 1's slow event; PR 1's second event did.
    expect(started).toEqual(["pr1-a", "pr2-a"]);
    expect((await store.getDelivery("pr1-b"))?.processedAt).toBeUndefined();
    held.release();
    await inbox.idle();
    expect(started).toEqual(["pr1-a", "pr2-a", "pr1-b"]);
    expect(await store.pendingInbox()).toEqual([]);
  });

  it("runs at most `concurrency` events at once", async () => {
    const held = deferred();
    let running = 0;
    let most = 0;
    const inbox = worker(async () => {
      running++;
      most = Math.max(most, running);
      await held.promise;
      running--;
    }, { concurrency: 3 });
    await accept(...[1, 2, 3, 4, 5, 6].map((pr) => comment(`d${pr}`, pr)));
    inbox.kick();
    await until(() => running === 3);
    await new Promise((r) => setTimeout(r, 30));
    expect(most).toBe(3);
    held.release();
    await inbox.idle();
    expect(await store.pendingInbox()).toEqual([]);
  });

  it("keeps an event that failed transiently with its attempt count and next attempt, retries it, and holds back only its own PR", async () => {
    const calls: string[] = [];
    let failures = 2;
    const inbox = worker(async (event) => {
      calls.push(event.deliveryId);
      if (event.deliveryId === "pr1-a" && failures-- > 0) throw networkError("ECONNRESET");
    }, { policy: { firstDelayMs: 200, maxDelayMs: 200, deadlineMs: 60_000 } });
    await accept(comment("pr1-a", 1), comment("pr1-b", 1), comment("pr2-a", 2));
    const before = Date.now();
    inbox.kick();
    await until(async () => (await store.getDelivery("pr1-a"))?.attempts === 1);
    const waiting = await store.getDelivery("pr1-a");
    expect(waiting?.processedAt).toBeUndefined();
    expect(waiting?.lastError).toBe("ECONNRESET");
    expect(waiting?.nextAttemptAt).toBeGreaterThanOrEqual(before + 200);
    await until(async () => (await store.getDelivery("pr2-a"))?.processedAt !== undefined);
    expect((await store.getDelivery("pr1-b"))?.processedAt).toBeUndefined();
    // Waiting for a retry is not work to wait for.
    expect(await inbox.busy()).toBe(false);
    await until(async () => (await store.getDelivery("pr1-b"))?.processedAt !== undefined);
    expect(calls).toEqual(["pr1-a", "pr2-a", "pr1-a", "pr1-a", "pr1-b"]);
    expect(await store.getDelivery("pr1-a")).toMatchObject({ attempts: 2, lastError: "ECONNRESET" });
    expect((await store.getDelivery("pr1-a"))?.processedAt).toBeDefined();
    expect(givenUp).toEqual([]);
  });

  it("gives up on a transient failure after the deadline and on a permanent one at once, recording the error", async () => {
    const inbox = worker(async (event) => {
      if (event.deliveryId === "outage") throw Object.assign(new Error("Bad Gateway"), { status: 502 });
      throw Object.assign(new Error("Not Found"), { status: 404 });
    }, { policy: { firstDelayMs: 20, maxDelayMs: 20, deadlineMs: 150 } });
    await accept(comment("outage", 1), comment("gone", 2));
    inbox.kick();
    await until(() => givenUp.length === 2);
    const byId = Object.fromEntries(givenUp.map((g) => [g.item.deliveryId, g.failure]));
    expect(byId.gone).toEqual({ error: { transient: false, summary: "HTTP 404: Not Found" }, why: "permanent", attempts: 1 });
    expect(byId.outage).toMatchObject({ error: { transient: true, summary: "HTTP 502: Bad Gateway" }, why: "deadline" });
    expect(byId.outage?.attempts).toBeGreaterThan(2);
    expect(await store.getDelivery("outage")).toMatchObject({ lastError: "HTTP 502: Bad Gateway" });
    expect((await store.getDelivery("outage"))?.processedAt).toBeDefined();
    expect(await store.getDelivery("gone")).toMatchObject({ lastError: "HTTP 404: Not Found", attempts: 0 });
  });

  it("counts an attempt that hangs past its deadline as a transient failure and tries again", async () => {
    let call = 0;
    const inbox = worker(async () => {
      if (++call === 1) await new Promise(() => undefined);
    }, { attemptTimeoutMs: 50 });
    await accept(comment("hangs", 1));
    const started = Date.now();
    inbox.kick();
    await until(async () => (await store.getDelivery("hangs"))?.processedAt !== undefined);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(call).toBe(2);
    expect(await store.getDelivery("hangs")).toMatchObject({ attempts: 1, lastError: "processing took longer than 50 ms" });
  });

  it("keeps the retry state over a restart: the event waits for its next attempt, then runs", async () => {
    const first = worker(async () => {
      throw networkError("ETIMEDOUT");
    }, { policy: { firstDelayMs: 60_000, maxDelayMs: 60_000, deadlineMs: 30 * 60_000 } });
    await accept(comment("retry", 1));
    first.kick();
    await until(async () => (await store.getDelivery("retry"))?.attempts === 1);
    await first.stop();
    await store.close();

    store = SqliteStore.open(dir);
    const calls: number[] = [];
    let clock = Date.now();
    const second = worker(async () => void calls.push(clock), { now: () => clock });
    second.kick();
    await second.idle();
    expect(calls).toEqual([]); // not due yet: the restart did not reset the backoff
    expect((await store.pendingInbox())[0]).toMatchObject({ deliveryId: "retry", attempts: 1, lastError: "ETIMEDOUT" });
    clock += 61_000;
    second.kick();
    await second.idle();
    expect(calls).toHaveLength(1);
    expect((await store.getDelivery("retry"))?.processedAt).toBeDefined();
  });

  it("at stop, aborts an event in flight and leaves it in the inbox without counting an attempt", async () => {
    let signalSeen: AbortSignal | undefined;
    const inbox = worker(async (_event, signal) => {
      signalSeen = signal;
      await new Promise(() => undefined);
    });
    await accept(comment("in-flight", 1));
    inbox.kick();
    await until(() => signalSeen !== undefined);
    await inbox.stop();
    expect(signalSeen?.aborted).toBe(true);
    expect(await store.pendingInbox()).toMatchObject([{ deliveryId: "in-flight", attempts: 0 }]);
  });
});
