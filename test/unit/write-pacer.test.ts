/**
 * The write pacer on its own (turns, lanes, pauses, lapsed turns), and through the comment
 * publisher and the status reporter sharing one: a rate limit one of them meets holds the other
 * back, Retry-After and the rate-limit reset are honoured, paced writes are spaced.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CodeHost, CommitStatus } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { RepoRef } from "../../src/domain/types.js";
import { CommentPublisher } from "../../src/pipeline/comment-publisher.js";
import { StatusReporter, statusGroupKey } from "../../src/pipeline/status-outbox.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { classifyError } from "../../src/pipeline/transient-error.js";
import { isSecondaryRateLimit, WritePacer } from "../../src/pipeline/write-pacer.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function httpError(status: number, message: string, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { status, response: { headers } });
}

const SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";

describe("WritePacer", () => {
  it("lets every write go at once until the host limits the group", () => {
    const pacer = new WritePacer({ paceMs: 1000 });
    expect([pacer.take("g", "a"), pacer.take("g", "b"), pacer.take("g", "a")]).toEqual([true, true, true]);
    pacer.limited("other", 60_000, true);
    expect(pacer.take("g", "c")).toBe(true);
    expect(pacer.take("other", "c")).toBe(false);
  });

  it("after a secondary limit gives turns one at a time, paceMs apart, alternating lanes", async () => {
    const pacer = new WritePacer({ paceMs: 60 });
    pacer.limited("g", 40, true);
    const turns: Array<{ who: string; at: number }> = [];
    const started = Date.now();
    const ask = (who: string, lane: "status" | "comment") =>
      pacer.wait("g", who, lane, () => {
        if (!pacer.take("g", who)) return;
        turns.push({ who, at: Date.now() - started });
        pacer.done("g", who);
      });
    ask("pr-1", "comment");
    ask("pr-2", "comment");
    ask("pr-3", "comment");
    ask("status", "status");
    expect(pacer.take("g", "late")).toBe(false);
    expect(pacer.waiting("g")).toBe(4);
    await sleep(40 + 3 * 60 + 100);
    expect(turns.map((t) => t.who)).toEqual(["pr-1", "status", "pr-2", "pr-3"]);
    expect(turns[0]!.at).toBeGreaterThanOrEqual(35);
    for (let i = 1; i < turns.length; i++) expect(turns[i]!.at - turns[i - 1]!.at).toBeGreaterThanOrEqual(55);
    expect(pacer.waiting()).toBe(0);
  });

  it("spaces a paced write from the end of the one in flight, however long that one takes", async () => {
    const pacer = new WritePacer({ paceMs: 50 });
    pacer.limited("g", 0, true);
    expect(pacer.take("g", "slow")).toBe(true);
    let wokenAt: number | undefined;
    pacer.wait("g", "next", "status", () => (wokenAt = Date.now()));
    await sleep(120);
    expect(wokenAt).toBeUndefined();
    const endedAt = Date.now();
    pacer.done("g", "slow");
    await sleep(100);
    expect(wokenAt! - endedAt).toBeGreaterThanOrEqual(45);
    expect(pacer.take("g", "next")).toBe(true);
  });

  it("gives a passed turn to the next writer at once, and a turn nobody takes after grantMs", async () => {
    const pacer = new WritePacer({ paceMs: 20, grantMs: 80 });
    pacer.limited("g", 0, true);
    const woken: string[] = [];
    pacer.wait("g", "a", "comment", () => woken.push("a"));
    pacer.wait("g", "b", "comment", () => woken.push("b"));
    pacer.wait("g", "c", "comment", () => woken.push("c"));
    await sleep(10);
    expect(woken).toEqual(["a"]);
    // a has nothing to write after all: b goes now, not a pace later.
    pacer.pass("g", "a");
    await sleep(5);
    expect(woken).toEqual(["a", "b"]);
    expect(pacer.take("g", "c")).toBe(false);
    // b never comes back for its turn: it lapses and c gets one.
    await sleep(120);
    expect(woken).toEqual(["a", "b", "c"]);
    expect(pacer.take("g", "c")).toBe(true);
  });

  it("wakes every waiter at the end of a pause for a spent quota (no pacing)", async () => {
    const pacer = new WritePacer({ paceMs: 1000 });
    pacer.limited("g", 30, false);
    const woken: string[] = [];
    for (const who of ["a", "b", "c"]) pacer.wait("g", who, "comment", () => woken.push(who));
    expect(pacer.take("g", "a")).toBe(false);
    await sleep(60);
    expect(woken).toEqual(["a", "b", "c"]);
    expect([pacer.take("g", "a"), pacer.take("g", "b"), pacer.take("g", "c")]).toEqual([true, true, true]);
  });

  it("tells a secondary rate limit from a spent quota", () => {
    const kind = (err: Error) => isSecondaryRateLimit(err, classifyError(err));
    expect(kind(httpError(403, SECONDARY))).toBe(true);
    expect(kind(httpError(429, "Too Many Requests", { "retry-after": "3" }))).toBe(true);
    expect(kind(httpError(403, "API rate limit exceeded for installation ID 1.", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000" }))).toBe(false);
    expect(kind(httpError(503, "Service Unavailable", { "retry-after": "3" }))).toBe(false);
    expect(kind(httpError(403, "Resource not accessible by integration"))).toBe(false);
  });
});

const REPO: RepoRef = { host: "github", owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const SHA = "abcdef0123456789abcdef0123456789abcdef01";
const prKey = "github:acme/app#1";

describe("comment publisher and status reporter sharing a pacer", () => {
  let dir: string;
  let store: Store;
  let stops: Array<() => Promise<void> | void>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "berth-pacer-"));
    store = SqliteStore.open(dir);
    await store.savePull({ prKey, repo: REPO, prNumber: 1, headSha: SHA, state: "open", fromFork: false, url: "u" });
    stops = [];
  });
  afterEach(async () => {
    for (const stop of stops) await stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A host whose writes answer through `answer` and are recorded with their time. */
  function host(answer: (op: string, n: number) => Error | undefined) {
    const writes: Array<{ op: string; at: number; ok: boolean }> = [];
    const write = async (op: string) => {
      const err = answer(op, writes.filter((w) => w.op === op).length);
      writes.push({ op, at: Date.now(), ok: !err });
      if (err) throw err;
    };
    const codeHost = {
      kind: "github",
      capabilities: { statusScope: "commit" },
      findComment: async () => null,
      createComment: async () => {
        await write("create");
        return { id: "7" };
      },
      updateComment: async () => write("update"),
      setStatus: async (_r: RepoRef, _s: string, _n: number, _status: CommitStatus) => write("status"),
    } as unknown as CodeHost;
    return { codeHost, writes };
  }

  function wire(codeHost: CodeHost, pacer?: WritePacer) {
    const hosts = { github: codeHost };
    const log = pino({ level: "silent" });
    const publisher = new CommentPublisher({ store, hosts, reportBaseUrl: "https://b/r", intervalMs: 0, log, random: () => 0, retry: { baseMs: 20, maxMs: 5000 }, ...(pacer ? { pacer } : {}) });
    const reporter = new StatusReporter({ store, hosts, log, redact: createRedactor([]), random: () => 0, retry: { baseMs: 20 }, ...(pacer ? { pacer } : {}) });
    stops.push(() => publisher.stop(), () => reporter.stop());
    return { publisher, reporter };
  }

  const until = async (check: () => boolean | Promise<boolean>, ms = 4000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) throw new Error("condition not met in time");
      await sleep(5);
    }
  };

  it("holds the reporter back for the Retry-After the publisher met, then paces both", async () => {
    const fake = host((op, n) => (op === "create" && n === 0 ? httpError(403, SECONDARY, { "retry-after": "1" }) : undefined));
    const { publisher, reporter } = wire(fake.codeHost, new WritePacer({ paceMs: 150 }));
    await reporter.start();
    publisher.request(prKey);
    await until(() => fake.writes.length === 1);
    const limitedAt = fake.writes[0]!.at;
    await reporter.enqueue(REPO, SHA, 1, { context: "berth/build", state: "success", description: "ok" });
    await reporter.enqueue(REPO, "b".repeat(40), 1, { context: "berth/build", state: "success", description: "ok" });
    // Waiting for a pause or a turn is not work in flight: idle and settle return, pending says so.
    await reporter.idle();
    await publisher.settle();
    expect(fake.writes).toHaveLength(1);
    expect(publisher.pending()).toBe(true);
    expect(await reporter.pending()).toBe(true);

    await until(async () => fake.writes.filter((w) => w.ok).length === 3 && !publisher.pending() && !(await reporter.pending()));
    const ok = fake.writes.filter((w) => w.ok);
    for (const w of ok) expect(w.at - limitedAt).toBeGreaterThanOrEqual(990);
    for (let i = 1; i < ok.length; i++) expect(ok[i]!.at - ok[i - 1]!.at).toBeGreaterThanOrEqual(140);
    expect(ok.map((w) => w.op).sort()).toEqual(["create", "status", "status"]);
    expect((await store.getPull(prKey))?.commentId).toBe("7");
  });

  it("waits for the rate-limit reset when the quota is spent", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 1;
    const fake = host((op, n) => (op === "create" && n === 0 ? httpError(403, "API rate limit exceeded for installation ID 1.", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) }) : undefined));
    const { publisher } = wire(fake.codeHost, new WritePacer({ paceMs: 150 }));
    publisher.request(prKey);
    await until(async () => (await store.getPull(prKey))?.commentId === "7");
    expect(fake.writes.at(-1)!.at).toBeGreaterThanOrEqual(reset * 1000 - 10);
  });

  it("paces the status reporter after the comment publisher's rate limit when they share one pacer (as the engine wires them)", async () => {
    const fake = host((op, n) => (op === "create" && n === 0 ? httpError(403, SECONDARY, { "retry-after": "1" }) : undefined));
    const pacer = new WritePacer();
    const { publisher, reporter } = wire(fake.codeHost, pacer);
    await reporter.start();
    publisher.request(prKey);
    await until(() => fake.writes.length === 1);
    const limitedAt = fake.writes[0]!.at;
    // The publisher has read the refusal and told the pacer (on a loaded machine that can come after the write is recorded).
    await until(() => !pacer.mayWrite(statusGroupKey(REPO), "probe"));
    await reporter.enqueue(REPO, SHA, 1, { context: "berth/build", state: "success", description: "ok" });
    await until(() => fake.writes.some((w) => w.op === "status"));
    expect(fake.writes.find((w) => w.op === "status")!.at - limitedAt).toBeGreaterThanOrEqual(990);
  });
});
