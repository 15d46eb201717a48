/**
 * The commit status outbox against a real SQLite store: coalescing, enqueue order per group,
 * replaced-while-sending, backoff (Retry-After, rate limits), give-up, and a migration-free open of
 * an older database.
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CodeHost, CommitStatus } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { RepoRef } from "../../src/domain/types.js";
import { statusGroupKey, StatusReporter, type StatusRetryPolicy } from "../../src/pipeline/status-outbox.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";

const REPO: RepoRef = { host: "github", owner: "acme", name: "web", installationId: 7, defaultBranch: "main", htmlUrl: "https://github.com/acme/web" };
const OTHER_OWNER: RepoRef = { ...REPO, owner: "globex", installationId: 8, htmlUrl: "https://github.com/globex/web" };
const SHA = "a".repeat(40);

interface Written {
  owner: string;
  context: string;
  state: string;
  description: string;
}

/** A code host whose `setStatus` answers through `answer` (default: at once, success). */
class RecordingHost {
  readonly kind = "github" as const;
  readonly capabilities = { statusScope: "commit" as const };
  readonly written: Written[] = [];
  readonly started: Written[] = [];
  inFlight = 0;
  maxInFlightPerOwner = new Map<string, number>();
  private readonly live = new Map<string, number>();
  answer: (call: Written) => Promise<void> = () => Promise.resolve();

  async setStatus(repo: RepoRef, _sha: string, _pr: number, status: CommitStatus): Promise<void> {
    const call = { owner: repo.owner, context: status.context, state: status.state, description: status.description };
    this.started.push(call);
    this.live.set(repo.owner, (this.live.get(repo.owner) ?? 0) + 1);
    this.maxInFlightPerOwner.set(repo.owner, Math.max(this.maxInFlightPerOwner.get(repo.owner) ?? 0, this.live.get(repo.owner) ?? 0));
    try {
      await this.answer(call);
      this.written.push(call);
    } finally {
      this.live.set(repo.owner, (this.live.get(repo.owner) ?? 1) - 1);
    }
  }
}

function httpError(status: number, message: string, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { status, response: { headers } });
}

function status(context: string, state: CommitStatus["state"], description = `${context} ${state}`): CommitStatus {
  return { context, state, description };
}

async function until(check: () => boolean | Promise<boolean> | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("status outbox", () => {
  let dir: string;
  let store: Store;
  let host: RecordingHost;
  let reporters: StatusReporter[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "berth-outbox-"));
    store = SqliteStore.open(dir);
    host = new RecordingHost();
    reporters = [];
  });

  afterEach(async () => {
    for (const reporter of reporters) await reporter.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function reporter(retry: Partial<StatusRetryPolicy> = {}, now: () => number = Date.now): StatusReporter {
    const r = new StatusReporter({ store, hosts: { github: host as unknown as CodeHost }, log: pino({ level: "silent" }), redact: createRedactor([]), now, random: () => 1, retry: { baseMs: 20, ...retry } });
    reporters.push(r);
    return r;
  }

  it("keeps only the latest unsent state per (host, repo, sha, context): coalescing", async () => {
    const r = reporter();
    await r.enqueue(REPO, SHA, 1, status("berth/build", "pending"));
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.enqueue(REPO, SHA, 1, status("berth/deploy", "pending"));
    await r.enqueue(REPO, SHA, 1, status("berth/deploy", "failure"));
    await r.enqueue(REPO, "b".repeat(40), 1, status("berth/build", "pending"));
    expect((await store.outboxStatuses()).map((row) => `${row.sha.slice(0, 1)} ${row.status.context}=${row.status.state}`)).toEqual([
      "a berth/build=success",
      "a berth/deploy=failure",
      "b berth/build=pending",
    ]);
    await r.start();
    await r.idle();
    expect(host.written.map((w) => `${w.context}=${w.state}`)).toEqual(["berth/build=success", "berth/deploy=failure", "berth/build=pending"]);
    expect(await store.outboxStatuses()).toEqual([]);
  });

  it("writes one group at a time in enqueue order; groups (owners) do not wait for each other", async () => {
    const r = reporter();
    await r.start();
    const gate: Array<() => void> = [];
    host.answer = (call) => (call.owner === "acme" ? new Promise<void>((resolve) => gate.push(resolve)) : Promise.resolve());
    await r.enqueue(REPO, SHA, 1, status("berth/build", "pending"));
    await r.enqueue(REPO, SHA, 1, status("berth/deploy", "pending"));
    await r.enqueue(REPO, SHA, 1, status("berth/test", "pending"));
    await r.enqueue(OTHER_OWNER, SHA, 1, status("berth/build", "success"));
    // globex is written while acme's first write hangs.
    await until(() => host.written.some((w) => w.owner === "globex"));
    expect(host.started.filter((c) => c.owner === "acme").map((c) => c.context)).toEqual(["berth/build"]);
    while (host.written.filter((w) => w.owner === "acme").length < 3) {
      await until(() => gate.length > 0);
      gate.shift()?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    await r.idle();
    expect(host.written.filter((w) => w.owner === "acme").map((w) => w.context)).toEqual(["berth/build", "berth/deploy", "berth/test"]);
    expect(host.maxInFlightPerOwner.get("acme")).toBe(1);
    expect(statusGroupKey(REPO)).toBe("github:acme");
    expect(statusGroupKey({ host: "github", owner: "ACME" })).toBe("github:acme");
  });

  it("writes again a row replaced while its write was in flight, and then removes it", async () => {
    const r = reporter();
    await r.start();
    let release!: () => void;
    host.answer = (call) => (call.state === "pending" ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve());
    await r.enqueue(REPO, SHA, 1, status("berth/build", "pending"));
    await until(() => host.started.length === 1);
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    release();
    await r.idle();
    expect(host.written.map((w) => `${w.context}=${w.state}`)).toEqual(["berth/build=pending", "berth/build=success"]);
    expect(await store.outboxStatuses()).toEqual([]);
  });

  it("backs off a transient failure with jitter and tries again until it lands", async () => {
    const r = reporter({ baseMs: 40 });
    let failures = 2;
    host.answer = () => (failures-- > 0 ? Promise.reject(httpError(502, "Bad Gateway")) : Promise.resolve());
    const before = Date.now();
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.start();
    await r.idle();
    // Deferred, not dropped: attempts and the error are kept on the row.
    const row = (await store.outboxStatuses())[0];
    expect(row).toMatchObject({ attempts: 1, lastError: "HTTP 502: Bad Gateway" });
    expect(row?.nextAttemptAt).toBeGreaterThanOrEqual(before + 40);
    await until(async () => (await store.outboxStatuses()).length === 0);
    expect(host.started).toHaveLength(3);
    expect(host.written.map((w) => w.state)).toEqual(["success"]);
    // 40 ms then 80 ms (random() = 1: the full wait).
    expect(Date.now() - before).toBeGreaterThanOrEqual(110);
  });

  it("honours Retry-After and pauses the whole group, not other groups", async () => {
    const r = reporter({ baseMs: 1 });
    let limited = true;
    host.answer = (call) => {
      if (call.owner === "acme" && limited) {
        limited = false;
        return Promise.reject(httpError(403, "API rate limit exceeded", { "retry-after": "1", "x-ratelimit-remaining": "0" }));
      }
      return Promise.resolve();
    };
    const before = Date.now();
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.enqueue(REPO, SHA, 1, status("berth/deploy", "success"));
    await r.enqueue(OTHER_OWNER, SHA, 1, status("berth/build", "success"));
    await r.start();
    await r.idle();
    expect(host.written.map((w) => `${w.owner} ${w.context}`)).toEqual(["globex berth/build"]);
    expect((await store.outboxStatuses(statusGroupKey(REPO))).map((row) => row.status.context)).toEqual(["berth/build", "berth/deploy"]);
    expect((await store.outboxStatuses())[0]?.nextAttemptAt).toBeGreaterThanOrEqual(before + 1000);
    await until(async () => (await store.outboxStatuses()).length === 0, 4000);
    expect(Date.now() - before).toBeGreaterThanOrEqual(950);
    expect(host.written.map((w) => `${w.owner} ${w.context}`)).toEqual(["globex berth/build", "acme berth/build", "acme berth/deploy"]);
  });

  it("pauses a group on a secondary rate limit without Retry-After", async () => {
    const r = reporter({ rateLimitPauseMs: 60_000 });
    host.answer = () => Promise.reject(httpError(403, "You have exceeded a secondary rate limit"));
    const before = Date.now();
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.start();
    await r.idle();
    expect((await store.outboxStatuses())[0]?.nextAttemptAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(host.started).toHaveLength(1);
  });

  it("gives up a state the host refuses (4xx) after a bounded number of tries; a newer state gets its own", async () => {
    const r = reporter({ maxRefusals: 3 });
    host.answer = (call) => (call.state === "failure" ? Promise.reject(httpError(422, "Validation Failed")) : Promise.resolve());
    await r.enqueue(REPO, SHA, 1, status("berth/build", "failure"));
    await r.start();
    await until(async () => (await store.outboxStatuses()).length === 0);
    expect(host.started.map((c) => c.state)).toEqual(["failure", "failure", "failure"]);
    expect(host.written).toEqual([]);
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.idle();
    expect(host.written.map((w) => w.state)).toEqual(["success"]);
  });

  it("gives up a state that keeps failing transiently once it is older than maxAgeMs", async () => {
    let clock = 1_000_000;
    const r = reporter({ maxAgeMs: 10_000, baseMs: 1 }, () => clock);
    host.answer = () => Promise.reject(httpError(503, "Service Unavailable"));
    await r.enqueue(REPO, SHA, 1, status("berth/build", "success"));
    await r.start();
    await r.idle();
    expect(await store.outboxStatuses()).toHaveLength(1);
    clock += 10_000;
    await r.idle();
    expect(await store.outboxStatuses()).toEqual([]);
  });

  it("leaves unwritten rows in the store at stop; the next reporter on the data dir writes them", async () => {
    const first = reporter();
    host.answer = () => new Promise<void>(() => undefined); // never answers
    await first.start();
    await first.enqueue(REPO, SHA, 1, status("berth/build", "pending"));
    await first.enqueue(REPO, SHA, 1, status("berth/deploy", "success"));
    await until(() => host.started.length === 1);
    await first.stop();
    await store.close();
    store = SqliteStore.open(dir);
    expect((await store.outboxStatuses()).map((row) => row.status.context)).toEqual(["berth/build", "berth/deploy"]);
    host.answer = () => Promise.resolve();
    const second = reporter();
    await second.start();
    await second.idle();
    expect(host.written.map((w) => `${w.context}=${w.state}`)).toEqual(["berth/build=pending", "berth/deploy=success"]);
    expect(await store.outboxStatuses()).toEqual([]);
  });

  it("opens a database written before the outbox existed", async () => {
    await store.close();
    const old = mkdtempSync(join(tmpdir(), "berth-old-"));
    try {
      const db = new Database(join(old, "berth.sqlite"));
      db.exec("CREATE TABLE inbox (delivery_id TEXT PRIMARY KEY, event_json TEXT NOT NULL, received_at INTEGER NOT NULL, processed_at INTEGER)");
      db.close();
      const opened = SqliteStore.open(old);
      await opened.enqueueStatus({ repo: REPO, sha: SHA, prNumber: 1, status: status("berth/build", "pending"), groupKey: statusGroupKey(REPO) }, 1);
      expect(await opened.outboxStatuses()).toHaveLength(1);
      await opened.close();
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
    store = SqliteStore.open(dir);
  });
});
