/**
 * The inbox through the engine's front door (`accept`, `start`) with a code host that is slow,
 * down or hanging: other PRs' events do not wait, transient failures are retried until a deadline
 * and then shown on the PR, start-up does not wait for the reconcile, replays are refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRedactor } from "../../src/domain/redact.js";
import type { CodeHost, CommitStatus, SourceArchive } from "../../src/domain/ports.js";
import type { BotEvent, Permission, PullRef, RepoRef } from "../../src/domain/types.js";
import { Engine, type EngineOptions } from "../../src/pipeline/engine.js";
import { prKeyOf } from "../../src/domain/records.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { captureLogger } from "../helpers/capture-log.js";

const CONFIG = "test:\n  command: [sh, -c, 'true']\n";
const SHA = "5".repeat(40);

function repo(owner: string): RepoRef {
  return { host: "github", owner, name: "app", installationId: 1, defaultBranch: "main", htmlUrl: `https://github.com/${owner}/app` };
}

function pull(owner: string, number: number, sha = SHA): PullRef {
  return { repo: repo(owner), number, headSha: sha, headRef: "feature", baseRef: "main", fromFork: false, url: `https://github.com/${owner}/app/pull/${number}`, author: "octocat", state: "open" };
}

function opened(deliveryId: string, pr: PullRef, replayKey?: string): BotEvent {
  const event: BotEvent = { kind: "pr-updated", deliveryId, pr, action: "synchronize", sender: "octocat" };
  if (replayKey) event.replayKey = replayKey;
  return event;
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** A code host in memory; tests replace `readFile` and `getPull` to make it slow, down or hanging. */
class MemoryHost implements CodeHost {
  readonly kind = "github" as const;
  readonly capabilities = { statusScope: "commit" as const };
  readonly comments: Array<{ pr: number; id: string; body: string }> = [];
  readFileCalls = 0;
  readFileImpl: (repo: RepoRef) => Promise<string | null> = async () => CONFIG;
  getPullImpl: (repo: RepoRef, prNumber: number) => Promise<PullRef> = async (r, n) => pull(r.owner, n);

  async confirmEvent(event: BotEvent): Promise<BotEvent> {
    return event;
  }
  readFile(r: RepoRef): Promise<string | null> {
    this.readFileCalls++;
    return this.readFileImpl(r);
  }
  getPull(r: RepoRef, prNumber: number): Promise<PullRef> {
    return this.getPullImpl(r, prNumber);
  }
  async downloadSource(): Promise<SourceArchive> {
    throw new Error("runs do not execute in these tests");
  }
  async findComment(_r: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null> {
    return this.comments.find((c) => c.pr === prNumber && c.body.includes(marker)) ?? null;
  }
  async createComment(_r: RepoRef, prNumber: number, body: string): Promise<{ id: string }> {
    const id = String(this.comments.length + 1);
    this.comments.push({ pr: prNumber, id, body });
    return { id };
  }
  async updateComment(_r: RepoRef, _prNumber: number, commentId: string, body: string): Promise<void> {
    const comment = this.comments.find((c) => c.id === commentId);
    if (comment) comment.body = body;
  }
  async setStatus(_r: RepoRef, _sha: string, _pr: number, _status: CommitStatus): Promise<void> {}
  async getPermission(): Promise<Permission> {
    return "admin";
  }
  async reactToComment(): Promise<void> {}
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
let host: MemoryHost;
let engine: Engine | undefined;
const captured = captureLogger();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-inbox-front-"));
  store = SqliteStore.open(dir);
  host = new MemoryHost();
  captured.lines.length = 0;
});
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function makeEngine(options: Partial<EngineOptions> = {}): Engine {
  engine = new Engine({
    store,
    hosts: { github: host },
    builder: new FakeBuilder(),
    targets: { docker: new FakeTarget() },
    publicUrl: "https://berth.example.com",
    // Runs are queued, never executed: these tests are about the inbox.
    concurrency: 0,
    commentIntervalMs: 0,
    redact: createRedactor([]),
    log: captured.log,
    inboxRetry: { firstDelayMs: 20, maxDelayMs: 40, deadlineMs: 60_000 },
    eventTimeoutMs: 5_000,
    random: () => 1,
    ...options,
  });
  return engine;
}

async function queuedRunsOf(owner: string, number: number): Promise<number> {
  return (await store.runsWithStatus(["queued"])).filter((r) => r.prKey === prKeyOf(repo(owner), number)).length;
}

async function withPreview(owner: string, number: number): Promise<void> {
  const pr = pull(owner, number);
  await store.savePull({
    prKey: prKeyOf(pr.repo, number),
    repo: pr.repo,
    prNumber: number,
    headSha: SHA,
    state: "open",
    fromFork: false,
    url: pr.url,
    preview: { target: "docker", sha: SHA, url: `http://127.0.0.1:${41000 + number}/`, internalUrl: "http://x:1", runId: "r", deployedAt: 1 },
  });
}

describe("start-up", () => {
  it("returns from start() at once while the code host never answers about the previews, and accepts and processes webhooks", async () => {
    for (const n of [1, 2, 3, 4]) await withPreview("acme", n);
    let asked = 0;
    host.getPullImpl = () => {
      asked++;
      return never();
    };
    const e = makeEngine();
    const began = Date.now();
    await e.start();
    const startMs = Date.now() - began;
    console.log(`start() with an unanswering host and 4 previews returned in ${startMs} ms`);
    expect(startMs).toBeLessThan(500);
    // The reconcile (once it holds the reconcile lease) is waiting on the host in the background.
    await until(() => asked === 1);
    expect(asked).toBe(1);

    expect(await e.accept(opened("after-start", pull("acme", 9)))).toBe(true);
    await until(async () => (await queuedRunsOf("acme", 9)) === 1);
    expect((await store.getDelivery("after-start"))?.processedAt).toBeDefined();
  });

  it("asks about every preview even when one PR's call hangs past the deadline, and stops without waiting for it", async () => {
    for (const n of [1, 2, 3, 4]) await withPreview("acme", n);
    const asked: number[] = [];
    host.getPullImpl = async (r, n) => {
      asked.push(n);
      if (n === 1) return never();
      return { ...pull(r.owner, n), state: n === 3 ? "closed" : "open" };
    };
    const e = makeEngine({ eventTimeoutMs: 50 });
    await e.start();
    await until(() => asked.length === 4);
    await until(async () => (await store.activeRunsOf(prKeyOf(repo("acme"), 3))).some((r) => r.kind === "delete"));
    expect((await store.getPull(prKeyOf(repo("acme"), 3)))?.state).toBe("closed");
    expect(captured.text()).toContain("preview left in place: its PR could not be read");
    const stopping = Date.now();
    await e.stop();
    engine = undefined;
    expect(Date.now() - stopping).toBeLessThan(1_000);
  });
});

describe("one hanging host call", () => {
  it("does not hold up another PR's events; the hanging attempt times out, is retried, and queues exactly one run", async () => {
    let slowCalls = 0;
    host.readFileImpl = async (r) => {
      if (r.owner !== "slow") return CONFIG;
      // The first call answers only long after the attempt's deadline; its answer must be ignored.
      if (++slowCalls === 1) return new Promise((resolve) => setTimeout(() => resolve(CONFIG), 1_500));
      return CONFIG;
    };
    const e = makeEngine({ eventTimeoutMs: 1_000 });
    await e.start();
    await e.accept(opened("slow-1", pull("slow", 1)));
    const accepted = Date.now();
    await e.accept(opened("fast-1", pull("acme", 2)));
    await until(async () => (await queuedRunsOf("acme", 2)) === 1);
    const waitedMs = Date.now() - accepted;
    console.log(`the other PR's event was processed ${waitedMs} ms after it was accepted, behind a hanging one`);
    expect(waitedMs).toBeLessThan(500);
    expect(await queuedRunsOf("slow", 1)).toBe(0);

    await until(async () => (await store.getDelivery("slow-1"))?.processedAt !== undefined);
    expect(await store.getDelivery("slow-1")).toMatchObject({ attempts: 1, lastError: "processing took longer than 1 s" });
    await new Promise((r) => setTimeout(r, 600)); // the abandoned first call has answered by now
    expect(await queuedRunsOf("slow", 1)).toBe(1);
  });
});

describe("a code host outage", () => {
  it("retries an event through a 40-second-like outage of 502s and processes it once GitHub answers", async () => {
    let failures = 3;
    host.readFileImpl = async () => {
      if (failures-- > 0) throw Object.assign(new Error("Bad Gateway"), { status: 502 });
      return CONFIG;
    };
    const e = makeEngine();
    await e.start();
    await e.accept(opened("during-outage", pull("acme", 5)));
    await until(async () => (await store.getDelivery("during-outage"))?.processedAt !== undefined);
    expect(await store.getDelivery("during-outage")).toMatchObject({ attempts: 3, lastError: "HTTP 502: Bad Gateway" });
    expect(await queuedRunsOf("acme", 5)).toBe(1);
    expect((await store.getPull(prKeyOf(repo("acme"), 5)))?.notice).toBeUndefined();
  });

  it("after the deadline, marks the event processed with its error and says so on the PR; the PR's next event runs", async () => {
    await withPreview("acme", 6);
    host.readFileImpl = async () => {
      throw Object.assign(new Error("Service Unavailable"), { status: 503 });
    };
    const e = makeEngine({ inboxRetry: { firstDelayMs: 20, maxDelayMs: 20, deadlineMs: 150 } });
    await e.start();
    await e.accept(opened("lost", pull("acme", 6, "6".repeat(40))));
    await e.accept({ kind: "pr-comment", deliveryId: "later", repo: repo("acme"), prNumber: 6, commentId: "c1", author: "octocat", body: "hello" });
    await until(async () => (await store.getDelivery("lost"))?.processedAt !== undefined);
    expect((await store.getDelivery("lost"))?.lastError).toBe("HTTP 503: Service Unavailable");
    const notice = (await store.getPull(prKeyOf(repo("acme"), 6)))?.notice;
    expect(notice?.kind).toBe("event-failed");
    expect(notice?.text).toMatch(/^berth gave up on the push event of commit `6666666`: GitHub kept failing for 0 s \(\d+ attempts, last: `HTTP 503: Service Unavailable`\)\. Push again or comment `\/deploy` to run it\.$/);
    await until(() => host.comments.some((c) => c.pr === 6 && c.body.includes("berth gave up on the push event")));
    await until(async () => (await store.getDelivery("later"))?.processedAt !== undefined);
  });

  it("gives up at once on a permanent error and shows it on a new PR of a repository berth works on", async () => {
    await withPreview("acme", 1);
    host.readFileImpl = async () => {
      throw Object.assign(new Error("Not Found"), { status: 404 });
    };
    const e = makeEngine();
    await e.start();
    await e.accept(opened("refused", pull("acme", 7, "7".repeat(40))));
    await e.accept(opened("unknown-repo", pull("stranger", 1)));
    await until(async () => (await store.getDelivery("refused"))?.processedAt !== undefined && (await store.getDelivery("unknown-repo"))?.processedAt !== undefined);
    expect(await store.getDelivery("refused")).toMatchObject({ attempts: 0, lastError: "HTTP 404: Not Found" });
    expect((await store.getPull(prKeyOf(repo("acme"), 7)))?.notice?.text).toBe("berth gave up on the push event of commit `7777777`: it failed with `HTTP 404: Not Found`. Push again or comment `/deploy` to run it.");
    await until(() => host.comments.some((c) => c.pr === 7));
    // A repository berth never worked on gets no comment: it may not use berth at all.
    expect(await store.getPull(prKeyOf(repo("stranger"), 1))).toBeUndefined();
    expect(captured.text()).toContain("failed event of a PR berth has no record of");
  });
});

describe("replays", () => {
  it("processes the same signed payload once, even under a new delivery id", async () => {
    const e = makeEngine();
    await e.start();
    expect(await e.accept(opened("first", pull("acme", 8), "sha256:signed-body"))).toBe(true);
    expect(await e.accept(opened("second", pull("acme", 8), "sha256:signed-body"))).toBe(false);
    expect(await e.accept(opened("first", pull("acme", 8), "sha256:signed-body"))).toBe(false);
    await until(async () => (await store.getDelivery("first"))?.processedAt !== undefined);
    expect(host.readFileCalls).toBe(1);
    expect(await store.getDelivery("second")).toBeUndefined();
    expect(captured.text()).toContain("replayed payload under a new delivery id ignored");
  });
});
