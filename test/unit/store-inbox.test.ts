import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BotEvent, PullRef } from "../../src/domain/types.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const PR: PullRef = { repo: REPO, number: 3, headSha: "a".repeat(40), headRef: "f", baseRef: "main", fromFork: false, url: "https://github.com/acme/app/pull/3", author: "octocat", state: "open" };
const DAY = 86_400_000;

function opened(deliveryId: string, replayKey?: string): BotEvent {
  const event: BotEvent = { kind: "pr-updated", deliveryId, pr: PR, action: "opened", sender: "octocat" };
  if (replayKey !== undefined) event.replayKey = replayKey;
  return event;
}

let dir: string;
let store: Store | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-store-inbox-"));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe("replayed payloads", () => {
  it("refuses the same signed payload under a new delivery id, and still refuses a redelivery", async () => {
    store = SqliteStore.open(dir);
    expect(await store.recordDelivery(opened("d1", "sha256:abc"), 1)).toBe(true);
    expect(await store.recordDelivery(opened("d2", "sha256:abc"), 2)).toBe(false);
    expect(await store.recordDelivery(opened("d1", "sha256:abc"), 3)).toBe(false);
    expect(await store.recordDelivery(opened("d3", "sha256:other"), 4)).toBe(true);
    // Events without a replay key (ingresses that set none) are told apart by delivery id only.
    expect(await store.recordDelivery(opened("d4"), 5)).toBe(true);
    expect(await store.recordDelivery(opened("d5"), 6)).toBe(true);
    expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["d1", "d3", "d4", "d5"]);
  });

  it("keeps a replay key as long as its delivery: refused while kept, accepted once pruned", async () => {
    store = SqliteStore.open(dir);
    expect(await store.recordDelivery(opened("d1", "k"), 1 * DAY)).toBe(true);
    await store.markProcessed("d1", 1 * DAY);
    await store.prune(5 * DAY - 1);
    expect(await store.recordDelivery(opened("d2", "k"), 20 * DAY)).toBe(true);
    await store.markProcessed("d2", 20 * DAY);
    await store.prune(10 * DAY);
    expect(await store.recordDelivery(opened("d3", "k"), 21 * DAY)).toBe(false);
  });

  it("survives a reopen: replay keys are in the database", async () => {
    store = SqliteStore.open(dir);
    await store.recordDelivery(opened("d1", "k"), 1);
    await store.close();
    store = SqliteStore.open(dir);
    expect(await store.recordDelivery(opened("d2", "k"), 2)).toBe(false);
  });
});

describe("retry state of inbox events", () => {
  it("keeps attempts, next attempt and last error across a reopen, and the error of an event given up on", async () => {
    store = SqliteStore.open(dir);
    await store.recordDelivery(opened("d1"), 100);
    await store.recordDelivery(opened("d2"), 101);
    await store.deferDelivery("d1", { attempts: 3, nextAttemptAt: 5_000, error: "HTTP 502" });
    await store.markProcessed("d2", 200, "HTTP 404: Not Found");
    await store.close();
    store = SqliteStore.open(dir);
    expect(await store.pendingInbox()).toEqual([{ deliveryId: "d1", event: opened("d1"), receivedAt: 100, attempts: 3, nextAttemptAt: 5_000, lastError: "HTTP 502" }]);
    expect(await store.getDelivery("d2")).toMatchObject({ processedAt: 200, attempts: 0, lastError: "HTTP 404: Not Found" });
    await store.markProcessed("d1", 6_000);
    expect(await store.getDelivery("d1")).toMatchObject({ processedAt: 6_000, attempts: 3 });
    expect((await store.getDelivery("d1"))?.nextAttemptAt).toBeUndefined();
  });
});

describe("migration of a database written by an older berth", () => {
  it("adds the inbox's new columns, keeps pending deliveries and refuses replays from then on", async () => {
    // The inbox as berth created it before retries and replay keys.
    const old = new Database(join(dir, "berth.sqlite"));
    old.exec(`CREATE TABLE inbox (delivery_id TEXT PRIMARY KEY, event_json TEXT NOT NULL, received_at INTEGER NOT NULL, processed_at INTEGER);
      CREATE INDEX inbox_pending ON inbox (processed_at, received_at);`);
    old.prepare("INSERT INTO inbox (delivery_id, event_json, received_at) VALUES (?, ?, ?)").run("old-1", JSON.stringify(opened("old-1")), 10);
    old.prepare("INSERT INTO inbox (delivery_id, event_json, received_at, processed_at) VALUES (?, ?, ?, ?)").run("old-2", JSON.stringify(opened("old-2")), 11, 12);
    old.close();

    store = SqliteStore.open(dir);
    expect(await store.pendingInbox()).toEqual([{ deliveryId: "old-1", event: opened("old-1"), receivedAt: 10, attempts: 0 }]);
    expect(await store.recordDelivery(opened("old-2"), 13)).toBe(false);
    expect(await store.recordDelivery(opened("new-1", "k"), 14)).toBe(true);
    expect(await store.recordDelivery(opened("new-2", "k"), 15)).toBe(false);
    await store.deferDelivery("old-1", { attempts: 1, nextAttemptAt: 99, error: "ECONNRESET" });
    expect((await store.pendingInbox())[0]).toMatchObject({ deliveryId: "old-1", attempts: 1, nextAttemptAt: 99 });
    await store.close();
    // Opening again migrates nothing twice.
    store = SqliteStore.open(dir);
    expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["old-1", "new-1"]);
  });
});

describe("knowsRepo", () => {
  it("says whether berth keeps any PR of a repository, by exact repository key", async () => {
    store = SqliteStore.open(dir);
    await store.savePull({ prKey: "github:acme/app#3", repo: REPO, prNumber: 3, headSha: PR.headSha, state: "open", fromFork: false, url: PR.url });
    expect(await store.knowsRepo("github:acme/app")).toBe(true);
    expect(await store.knowsRepo("github:acme/ap")).toBe(false);
    expect(await store.knowsRepo("github:acme/app_")).toBe(false);
    expect(await store.knowsRepo("gitee:acme/app")).toBe(false);
  });
});
