import { describe, expect, it } from "vitest";
import type { BotEvent, PullRef, RepoRef } from "../../src/domain/types.js";
import { backoffMs, decideRetry, DEFAULT_RETRY_POLICY, orderKeyOf } from "../../src/pipeline/inbox-retry.js";

const REPO: RepoRef = { host: "github", owner: "acme", name: "app", defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const PR: PullRef = { repo: REPO, number: 7, headSha: "a".repeat(40), headRef: "f", baseRef: "main", fromFork: false, url: "u", author: "x", state: "open" };
const MIN = 60_000;

describe("backoffMs", () => {
  it("doubles from 2 s to at most 5 min, with half of each wait random", () => {
    const low = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoffMs(n, DEFAULT_RETRY_POLICY, () => 0));
    const high = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoffMs(n, DEFAULT_RETRY_POLICY, () => 1));
    expect(high).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]);
    expect(low).toEqual(high.map((ms) => ms / 2));
  });
});

describe("decideRetry", () => {
  const transient = { transient: true, summary: "HTTP 502" };
  it("retries a transient failure after the backoff, or later when the server asks", () => {
    expect(decideRetry({ failures: 1, receivedAt: 0, now: 1_000, error: transient }, DEFAULT_RETRY_POLICY, () => 1)).toEqual({ kind: "retry", at: 3_000 });
    expect(decideRetry({ failures: 1, receivedAt: 0, now: 1_000, error: { ...transient, retryAfterMs: 60_000 } }, DEFAULT_RETRY_POLICY, () => 1)).toEqual({ kind: "retry", at: 61_000 });
  });

  it("makes the last attempt at the deadline and gives up on a failure at or after it", () => {
    expect(decideRetry({ failures: 12, receivedAt: 0, now: 29 * MIN, error: transient }, DEFAULT_RETRY_POLICY, () => 1)).toEqual({ kind: "retry", at: 30 * MIN });
    expect(decideRetry({ failures: 13, receivedAt: 0, now: 30 * MIN, error: transient }, DEFAULT_RETRY_POLICY)).toEqual({ kind: "give-up", why: "deadline" });
  });

  it("gives up at once on a permanent failure", () => {
    expect(decideRetry({ failures: 1, receivedAt: 0, now: 1, error: { transient: false, summary: "HTTP 404" } }, DEFAULT_RETRY_POLICY)).toEqual({ kind: "give-up", why: "permanent" });
  });
});

describe("orderKeyOf", () => {
  it("keys PR events and comments by their PR, tags by their repository", () => {
    const updated: BotEvent = { kind: "pr-updated", deliveryId: "1", pr: PR, action: "opened", sender: "x" };
    const closed: BotEvent = { kind: "pr-closed", deliveryId: "2", pr: PR, merged: false, sender: "x" };
    const comment: BotEvent = { kind: "pr-comment", deliveryId: "3", repo: REPO, prNumber: 7, commentId: "c", author: "x", body: "/deploy" };
    const other: BotEvent = { kind: "pr-comment", deliveryId: "4", repo: REPO, prNumber: 8, commentId: "c", author: "x", body: "/deploy" };
    const tag1: BotEvent = { kind: "tag-pushed", deliveryId: "5", repo: REPO, tag: "v1", sha: "b".repeat(40), pusher: "x" };
    const tag2: BotEvent = { kind: "tag-pushed", deliveryId: "6", repo: REPO, tag: "v2", sha: "c".repeat(40), pusher: "x" };
    expect(new Set([updated, closed, comment].map(orderKeyOf))).toEqual(new Set(["github:acme/app#7"]));
    expect(orderKeyOf(other)).toBe("github:acme/app#8");
    expect(orderKeyOf(tag1)).toBe(orderKeyOf(tag2));
    expect(orderKeyOf(tag1)).not.toBe(orderKeyOf(updated));
  });
});
