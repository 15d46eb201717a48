import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CodeHost } from "../../src/domain/ports.js";
import type { RepoRef } from "../../src/domain/types.js";
import { CommentPublisher, isRefusal } from "../../src/pipeline/comment-publisher.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";

const SHA = "abcdef0123456789abcdef0123456789abcdef01";
const repo: RepoRef = { host: "github", owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const prKey = "github:acme/app#1";

/** An HTTP error as Octokit and the Gitee client throw them. */
function httpError(status: number, message = `HTTP ${status}`, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { status, response: { headers } });
}

type Call = { op: "find" | "create" | "update"; id?: string; at: number };

/** A host whose answers are scripted per operation (one entry per call; the last one repeats). */
function scriptedHost(script: Partial<Record<Call["op"], Array<Error | { id: string } | null>>>) {
  const calls: Call[] = [];
  const answer = async (op: Call["op"], id?: string) => {
    calls.push({ op, ...(id ? { id } : {}), at: Date.now() });
    const list = script[op] ?? [];
    const n = calls.filter((c) => c.op === op).length;
    const next = list[Math.min(n, list.length) - 1];
    if (next instanceof Error) throw next;
    return next;
  };
  const host = {
    kind: "github",
    findComment: async () => ((await answer("find")) as { id: string } | null | undefined) ?? null,
    createComment: async () => ((await answer("create")) as { id: string } | undefined) ?? { id: `new-${calls.length}` },
    updateComment: async (_r: RepoRef, _n: number, id: string) => void (await answer("update", id)),
  } as unknown as CodeHost;
  return { host, calls, count: (op: Call["op"]) => calls.filter((c) => c.op === op).length };
}

const until = async (check: () => boolean | Promise<boolean>, ms = 2000) => {
  const end = Date.now() + ms;
  while (!(await check()) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CommentPublisher", () => {
  let dir: string;
  let store: Store;
  let captured: CapturedLog;
  let publisher: CommentPublisher | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "berth-publisher-"));
    store = SqliteStore.open(dir);
    await store.savePull({ prKey, repo, prNumber: 1, headSha: SHA, state: "open", fromFork: false, url: "u" });
    captured = captureLogger();
  });
  afterEach(async () => {
    publisher?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (host: CodeHost) => {
    publisher = new CommentPublisher({ store, hosts: { github: host }, reportBaseUrl: "https://b/r", intervalMs: 0, log: captured.log, retry: { baseMs: 20, maxMs: 200, maxRefusals: 3 } });
    return publisher;
  };

  it("gives up on a 4xx after a bounded number of tries with backoff, and logs it", async () => {
    const fake = scriptedHost({ find: [null], create: [httpError(422, "Validation Failed: body is too long")] });
    start(fake.host).request(prKey);
    await sleep(600);
    expect(fake.count("create")).toBe(3);
    const creates = fake.calls.filter((c) => c.op === "create");
    expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(15);
    expect(creates[2]!.at - creates[1]!.at).toBeGreaterThanOrEqual(35);
    expect(captured.text()).toContain("giving up until the PR changes");
    expect(captured.text()).toContain('"status":422');
    expect((await store.getPull(prKey))?.commentId).toBeUndefined();
  });

  it("tries again when the PR changes after giving up", async () => {
    const fake = scriptedHost({ find: [null], create: [httpError(403, "Resource not accessible by integration"), httpError(403), httpError(403), { id: "77" }] });
    const p = start(fake.host);
    p.request(prKey);
    await sleep(300);
    expect(fake.count("create")).toBe(3);
    await store.patchPull(prKey, (pull) => ({ ...pull, notice: { kind: "manual-deploy", text: "changed" } }));
    p.request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentId === "77");
    expect(fake.count("create")).toBe(4);
  });

  it("keeps retrying server errors and rate limits with growing waits until the host answers", async () => {
    const fake = scriptedHost({
      find: [null],
      create: [httpError(502), httpError(429), httpError(403, "API rate limit exceeded", { "x-ratelimit-remaining": "0" }), httpError(500), { id: "42" }],
    });
    start(fake.host).request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentId === "42");
    expect((await store.getPull(prKey))?.commentId).toBe("42");
    const at = fake.calls.filter((c) => c.op === "create").map((c) => c.at);
    expect(at).toHaveLength(5);
    expect(at[4]! - at[3]!).toBeGreaterThanOrEqual(140);
    expect(at[4]! - at[3]!).toBeGreaterThan(at[1]! - at[0]!);
  });

  it("posts a new comment once when the comment was deleted (404 on edit)", async () => {
    await store.patchPull(prKey, (p) => ({ ...p, commentId: "11" }));
    const fake = scriptedHost({ update: [httpError(404, "Not Found"), null], find: [null], create: [{ id: "12" }] });
    const p = start(fake.host);
    p.request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentId === "12");
    expect(fake.calls.map((c) => c.op)).toEqual(["update", "find", "create"]);
    await store.patchPull(prKey, (pull) => ({ ...pull, notice: { kind: "manual-deploy", text: "changed" } }));
    p.request(prKey);
    await until(() => fake.count("update") === 2);
    expect(fake.calls.at(-1)).toMatchObject({ op: "update", id: "12" });
    expect(fake.count("create")).toBe(1);
  });

  it("edits berth's other comment instead of posting one when the recorded one is gone", async () => {
    await store.patchPull(prKey, (p) => ({ ...p, commentId: "11" }));
    const fake = scriptedHost({ update: [httpError(404, "Not Found"), null], find: [{ id: "20" }] });
    start(fake.host).request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentId === "20");
    expect(fake.calls.map((c) => [c.op, c.id])).toEqual([["update", "11"], ["find", undefined], ["update", "20"]]);
  });

  it("does not post a second comment when an edit fails for another reason", async () => {
    await store.patchPull(prKey, (p) => ({ ...p, commentId: "11" }));
    const fake = scriptedHost({ update: [httpError(502), null], find: [null] });
    start(fake.host).request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentHash !== undefined);
    expect(fake.calls.map((c) => c.op)).toEqual(["update", "update"]);
    expect((await store.getPull(prKey))?.commentId).toBe("11");
  });

  it("settles without waiting for a backoff", async () => {
    const fake = scriptedHost({ find: [null], create: [httpError(500)] });
    publisher = new CommentPublisher({ store, hosts: { github: fake.host }, reportBaseUrl: "r", intervalMs: 0, log: captured.log, retry: { baseMs: 60_000 } });
    publisher.request(prKey);
    const started = Date.now();
    await publisher.settle();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.count("create")).toBe(1);
  });
});

describe("isRefusal", () => {
  it("tells answers that asking again will not change", async () => {
    expect([400, 401, 403, 404, 410, 422].map((s) => isRefusal(httpError(s)))).toEqual([true, true, true, true, true, true]);
    expect([408, 429, 500, 502].map((s) => isRefusal(httpError(s)))).toEqual([false, false, false, false]);
    expect(isRefusal(httpError(403, "You have exceeded a secondary rate limit"))).toBe(false);
    expect(isRefusal(httpError(403, "Forbidden", { "retry-after": "30" }))).toBe(false);
    expect(isRefusal(new Error("ECONNRESET"))).toBe(false);
  });
});
