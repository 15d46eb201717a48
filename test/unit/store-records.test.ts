/**
 * What the store port keeps, on every adapter: records read back exactly as written (numbers as
 * numbers, absent optional fields absent), lists in the documented order, the retention rules and
 * the inbox's refusal of redeliveries and replays. The last test runs one script on every adapter
 * and compares what they answered.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import type { BotEvent, PullRef, RunStatus } from "../../src/domain/types.js";
import type { EnvironmentRecord, PullRecord, RunKind, RunRecord } from "../../src/domain/records.js";
import { PostgresStore } from "../../src/pipeline/store-postgres.js";
import type { Store } from "../../src/pipeline/store.js";
import { cleanupStoreBackends, storeBackends } from "../helpers/store-backends.js";
import { testDatabaseUrl } from "../helpers/services.js";

const DAY = 86_400_000;
const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const OTHER_REPO = { ...REPO, name: "app2", htmlUrl: "https://github.com/acme/app2" };
const SHA = "a".repeat(40);
const SHA2 = "b".repeat(40);
const PR: PullRef = { repo: REPO, number: 3, headSha: SHA, headRef: "f", baseRef: "main", fromFork: false, url: "https://github.com/acme/app/pull/3", author: "octocat", state: "open" };

function config() {
  const parsed = parseRepoConfig("");
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

function runRecord(id: string, pr = 1, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    prKey: `github:acme/app#${pr}`,
    repo: REPO,
    prNumber: pr,
    sha: SHA,
    kind: "pipeline",
    plan: ["build", "deploy", "test"],
    trigger: "push",
    status: "queued",
    reuseImage: false,
    attempts: 0,
    createdAt: 1_000,
    ...extra,
  };
}

function pull(pr: number, extra: Partial<PullRecord> = {}, repo = REPO): PullRecord {
  return {
    prKey: `github:${repo.owner}/${repo.name}#${pr}`,
    repo,
    prNumber: pr,
    headSha: SHA,
    state: "open",
    fromFork: false,
    url: `${repo.htmlUrl}/pull/${pr}`,
    ...extra,
  };
}

function environment(name: string, sha = SHA, repo = REPO): EnvironmentRecord {
  return {
    key: `github:${repo.owner}/${repo.name}@${name}`,
    repo,
    environment: name,
    tag: "v1.0.0",
    sha,
    image: { ref: `registry.test/acme/app:${name}`, digest: "sha256:1", pushed: true },
    url: `https://${name}.example.test`,
    target: "docker",
    deployedAt: 7_000,
  };
}

function opened(deliveryId: string, replayKey?: string): BotEvent {
  const event: BotEvent = { kind: "pr-updated", deliveryId, pr: PR, action: "opened", sender: "octocat" };
  if (replayKey !== undefined) event.replayKey = replayKey;
  return event;
}

afterAll(cleanupStoreBackends);

describe.each(storeBackends)("store records on $name", (backend) => {
  const test = it.skipIf(backend.skip !== undefined);
  let store: Store;

  beforeEach(async () => {
    if (!backend.skip) store = await backend.open();
  });
  afterEach(async () => {
    if (!backend.skip) await store.close();
  });

  describe("runs", () => {
    test("read back exactly as written, with and without optional fields", async () => {
      const bare = runRecord("bare");
      const full = runRecord("full", 2, {
        kind: "release",
        prNumber: 0,
        plan: ["build", "deploy"],
        trigger: "tag",
        status: "passed",
        reason: "tag v1.0.0",
        config: config(),
        reuseImage: true,
        release: { tag: "v1.0.0", environment: "production", refusal: "pusher may not deploy" },
        attempts: 2,
        createdAt: 1_700_000_000_000,
        startedAt: 1_700_000_000_500,
        finishedAt: 1_700_000_009_999,
      });
      await store.insertRun(bare);
      await store.insertRun(full);
      expect(await store.getRun("bare")).toStrictEqual(bare);
      expect(await store.getRun("full")).toStrictEqual(full);
      expect(typeof (await store.getRun("full"))?.finishedAt).toBe("number");
      expect(await store.getRun("missing")).toBeUndefined();

      const updated = await store.updateRun("bare", { status: "running", startedAt: 2_000, attempts: 1 });
      expect(updated).toStrictEqual({ ...bare, status: "running", startedAt: 2_000, attempts: 1 });
      expect(await store.getRun("bare")).toStrictEqual(updated);
    });

    test("runsWithStatus and activeRunsOf list in queue order; latestPipelineRuns newest pipeline runs first", async () => {
      await store.insertRun(runRecord("p1"));
      await store.insertRun(runRecord("d1", 1, { kind: "delete", plan: [] }));
      await store.insertRun(runRecord("p2"));
      await store.insertRun(runRecord("x1", 2));
      await store.insertRun(runRecord("p3"));
      await store.updateRun("p1", { status: "passed" });
      await store.updateRun("p2", { status: "running" });
      expect((await store.runsWithStatus(["queued"])).map((r) => r.id)).toEqual(["d1", "x1", "p3"]);
      expect((await store.runsWithStatus(["queued", "running", "passed"])).map((r) => r.id)).toEqual(["p1", "d1", "p2", "x1", "p3"]);
      expect(await store.runsWithStatus([])).toEqual([]);
      expect((await store.activeRunsOf("github:acme/app#1")).map((r) => r.id)).toEqual(["d1", "p2", "p3"]);
      expect((await store.latestPipelineRuns("github:acme/app#1", 2)).map((r) => r.id)).toEqual(["p3", "p2"]);
      expect((await store.latestPipelineRuns("github:acme/app#1", 10)).map((r) => r.id)).toEqual(["p3", "p2", "p1"]);
      expect(await store.latestPipelineRuns("github:acme/app#9", 2)).toEqual([]);
    });
  });

  describe("stages", () => {
    test("start queued with empty detail, in name order; patches keep or clear times", async () => {
      await store.insertRun(runRecord("r1", 1, { plan: ["test", "build", "deploy"] }));
      await store.insertRun(runRecord("delete", 1, { kind: "delete", plan: [] }));
      expect(await store.stagesOf("delete")).toEqual([]);
      expect(await store.stagesOf("r1")).toStrictEqual(
        ["build", "deploy", "test"].map((name) => ({ runId: "r1", name, state: "queued", startedAt: undefined, finishedAt: undefined, detail: {} })),
      );

      await store.updateStage("r1", "build", { state: "running", startedAt: 10 });
      await store.updateStage("r1", "build", {
        state: "passed",
        finishedAt: 20,
        detail: { image: { ref: "registry.test/acme/app:pr-1", digest: "sha256:abc", pushed: true }, logId: "log-1", logTail: ["done", ""], reused: false },
      });
      await store.updateStage("r1", "deploy", { state: "running", startedAt: 30 });
      await store.updateStage("r1", "deploy", { state: "queued", startedAt: null, finishedAt: null });
      const [build, deploy] = await store.stagesOf("r1");
      expect(build).toStrictEqual({
        runId: "r1",
        name: "build",
        state: "passed",
        startedAt: 10,
        finishedAt: 20,
        detail: { image: { ref: "registry.test/acme/app:pr-1", digest: "sha256:abc", pushed: true }, logId: "log-1", logTail: ["done", ""], reused: false },
      });
      expect(deploy).toStrictEqual({ runId: "r1", name: "deploy", state: "queued", startedAt: undefined, finishedAt: undefined, detail: {} });
      await expect(store.updateStage("r1", "build", { state: "passed" }).then(() => store.stagesOf("r1"))).resolves.toMatchObject([{ detail: { logId: "log-1" } }, {}, {}]);
      await expect(store.updateStage("delete", "build", { state: "passed" })).rejects.toThrow(/does not exist/);
    });
  });

  describe("pulls", () => {
    test("read back exactly as written; saving again replaces", async () => {
      const bare = pull(1);
      const full = pull(2, {
        headSeenAt: 5,
        state: "closed",
        fromFork: true,
        commentId: "IC_1",
        commentHash: "h1",
        notice: { kind: "needs-approval", text: "a maintainer must approve" },
        approvedSha: SHA,
        preview: { target: "kubernetes", sha: SHA, url: "https://pr-2.example.test", internalUrl: "http://pr-2.svc", runId: "r1", deployedAt: 9 },
        image: { ref: "registry.test/acme/app:pr-2", digest: "sha256:1", pushed: true, sha: SHA },
      });
      await store.savePull(bare);
      await store.savePull(full);
      expect(await store.getPull(bare.prKey)).toStrictEqual(bare);
      expect(await store.getPull(full.prKey)).toStrictEqual(full);
      await store.savePull({ ...bare, headSha: SHA2 });
      expect((await store.getPull(bare.prKey))?.headSha).toBe(SHA2);
      expect(await store.getPull("github:acme/app#99")).toBeUndefined();
    });

    test("patchPull changes a stored pull atomically and ignores unknown ones", async () => {
      await store.savePull(pull(1, { commentHash: "" }));
      expect(await store.patchPull("github:acme/app#99", (p) => ({ ...p, commentId: "x" }))).toBeUndefined();
      expect(await store.getPull("github:acme/app#99")).toBeUndefined();
      // Concurrent read-modify-writes: none is lost.
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.patchPull("github:acme/app#1", (p) => ({ ...p, commentHash: `${p.commentHash}${i}` }))));
      const hash = (await store.getPull("github:acme/app#1"))?.commentHash ?? "";
      expect([...hash].sort().join("")).toBe("01234567");
      expect(await store.patchPull("github:acme/app#1", (p) => ({ ...p, commentId: "IC_9" }))).toMatchObject({ commentId: "IC_9", commentHash: hash });
    });

    test("knowsRepo matches the whole repository key, wildcards taken literally", async () => {
      expect(await store.knowsRepo("github:acme/app")).toBe(false);
      await store.savePull(pull(1));
      expect(await store.knowsRepo("github:acme/app")).toBe(true);
      expect(await store.knowsRepo("github:acme/ap")).toBe(false);
      expect(await store.knowsRepo("github:acme/a_p")).toBe(false);
      expect(await store.knowsRepo("github:acme/%")).toBe(false);
      expect(await store.knowsRepo("gitee:acme/app")).toBe(false);
      expect(await store.knowsRepo("github:acme/app2")).toBe(false);
    });

    test("pullsWithPreview and openPullsAt, first saved first", async () => {
      const preview = { target: "docker" as const, sha: SHA, url: "http://p", internalUrl: "http://i", runId: "r", deployedAt: 1 };
      await store.savePull(pull(5, { preview }));
      await store.savePull(pull(1));
      await store.savePull(pull(2, { headSha: SHA2 }));
      await store.savePull(pull(3, { state: "closed", preview }));
      await store.savePull(pull(4, {}, OTHER_REPO));
      await store.savePull(pull(5, { preview: { ...preview, url: "http://p2" } }));
      expect((await store.pullsWithPreview()).map((p) => [p.prKey, p.preview?.url])).toEqual([
        ["github:acme/app#5", "http://p2"],
        ["github:acme/app#3", "http://p"],
      ]);
      expect((await store.openPullsAt("github:acme/app", SHA)).map((p) => p.prNumber)).toEqual([5, 1]);
      expect((await store.openPullsAt("github:acme/app", SHA2)).map((p) => p.prNumber)).toEqual([2]);
      expect((await store.openPullsAt("github:acme/app2", SHA)).map((p) => p.prNumber)).toEqual([4]);
    });
  });

  describe("images and environments", () => {
    test("imagesOf lists a commit's images newest first; recording a ref again moves it", async () => {
      await store.recordImage("github:acme/app", SHA, { ref: "r/app:one", digest: "sha256:1", pushed: true }, 10);
      await store.recordImage("github:acme/app", SHA, { ref: "r/app:two", digest: "sha256:2", pushed: false }, 20);
      await store.recordImage("github:acme/app", SHA, { ref: "r/app:same-time", digest: "sha256:3", pushed: true }, 20);
      await store.recordImage("github:acme/app", SHA2, { ref: "r/app:other", digest: "sha256:4", pushed: true }, 30);
      await store.recordImage("github:acme/app2", SHA, { ref: "r/app2:one", digest: "sha256:5", pushed: true }, 40);
      expect(await store.imagesOf("github:acme/app", SHA)).toStrictEqual([
        { ref: "r/app:same-time", digest: "sha256:3", pushed: true },
        { ref: "r/app:two", digest: "sha256:2", pushed: false },
        { ref: "r/app:one", digest: "sha256:1", pushed: true },
      ]);
      await store.recordImage("github:acme/app", SHA, { ref: "r/app:one", digest: "sha256:9", pushed: false }, 50);
      expect((await store.imagesOf("github:acme/app", SHA))[0]).toStrictEqual({ ref: "r/app:one", digest: "sha256:9", pushed: false });
      await store.recordImage("github:acme/app", SHA2, { ref: "r/app:two", digest: "sha256:2", pushed: false }, 60);
      expect((await store.imagesOf("github:acme/app", SHA)).map((i) => i.ref)).toEqual(["r/app:one", "r/app:same-time"]);
      expect(await store.imagesOf("github:acme/app", "c".repeat(40))).toEqual([]);
    });

    test("environments read back as written; environmentsAt lists a commit's, by key", async () => {
      await store.saveEnvironment(environment("staging"), "github:acme/app");
      await store.saveEnvironment(environment("production"), "github:acme/app");
      await store.saveEnvironment(environment("Preview"), "github:acme/app");
      await store.saveEnvironment(environment("qa", SHA2), "github:acme/app");
      await store.saveEnvironment(environment("staging", SHA, OTHER_REPO), "github:acme/app2");
      expect(await store.getEnvironment("github:acme/app@production")).toStrictEqual(environment("production"));
      expect(await store.getEnvironment("github:acme/app@none")).toBeUndefined();
      expect((await store.environmentsAt("github:acme/app", SHA)).map((e) => e.environment)).toEqual(["Preview", "production", "staging"]);
      await store.saveEnvironment(environment("staging", SHA2), "github:acme/app");
      expect((await store.environmentsAt("github:acme/app", SHA)).map((e) => e.environment)).toEqual(["Preview", "production"]);
      expect((await store.environmentsAt("github:acme/app", SHA2)).map((e) => e.environment)).toEqual(["qa", "staging"]);
    });
  });

  describe("reports and logs", () => {
    test("read back exactly as written", async () => {
      const report = {
        id: "rep-1",
        runId: "r1",
        prKey: "github:acme/app#1",
        createdAt: 1_700_000_000_123,
        report: {
          cases: [
            { suite: "s", name: "passes", status: "passed" as const, durationMs: 12.5 },
            { suite: "s", name: "fails", classname: "c", status: "failed" as const, message: "boom", details: "at x\n\u0000 \u{1F600}" },
          ],
          files: ["junit.xml"],
          parseErrors: [],
          omitted: { passed: 3, failed: 0, error: 0, skipped: 1 },
        },
      };
      await store.saveReport(report);
      expect(await store.getReport("rep-1")).toStrictEqual(report);
      expect(await store.getReport("missing")).toBeUndefined();

      const log = { id: "log-1", runId: "r1", stage: "build", createdAt: 1_700_000_000_456, text: "step 1\r\n\u0000binary\u00ff é \u{1F600}\n" };
      await store.saveLog(log);
      await store.saveLog({ ...log, id: "log-empty", text: "" });
      expect(await store.getLog("log-1")).toStrictEqual(log);
      expect((await store.getLog("log-empty"))?.text).toBe("");
      expect(await store.getLog("missing")).toBeUndefined();
    });
  });

  describe("inbox", () => {
    test("refuses a redelivery and a replay of the same signed content", async () => {
      expect(await store.recordDelivery(opened("d1", "sha256:abc"), 1)).toBe(true);
      expect(await store.recordDelivery(opened("d2", "sha256:abc"), 2)).toBe(false);
      expect(await store.recordDelivery(opened("d1", "sha256:abc"), 3)).toBe(false);
      expect(await store.recordDelivery(opened("d1", "sha256:new"), 3)).toBe(false);
      expect(await store.recordDelivery(opened("d3", "sha256:other"), 4)).toBe(true);
      expect(await store.recordDelivery(opened("d4"), 5)).toBe(true);
      expect(await store.recordDelivery(opened("d5"), 6)).toBe(true);
      expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["d1", "d3", "d4", "d5"]);
      expect(await store.getDelivery("d2")).toBeUndefined();
    });

    test("pending deliveries oldest first (ties in arrival order), with their retry state", async () => {
      await store.recordDelivery(opened("late"), 50);
      await store.recordDelivery(opened("tie-b"), 10);
      await store.recordDelivery(opened("tie-a"), 10);
      await store.recordDelivery(opened("early"), 5);
      expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["early", "tie-b", "tie-a", "late"]);
      expect((await store.pendingInbox(2)).map((i) => i.deliveryId)).toEqual(["early", "tie-b"]);

      expect(await store.getDelivery("late")).toStrictEqual({ deliveryId: "late", event: opened("late"), receivedAt: 50, attempts: 0 });
      await store.deferDelivery("late", { attempts: 2, nextAttemptAt: 1_000, error: "HTTP 502\u0000" });
      const deferred = await store.getDelivery("late");
      expect(deferred).toMatchObject({ deliveryId: "late", receivedAt: 50, attempts: 2, nextAttemptAt: 1_000 });
      expect(deferred?.lastError).toMatch(/^HTTP 502/);
      await store.markProcessed("early", 60);
      await store.markProcessed("tie-b", 61, "HTTP 404: Not Found");
      await store.deferDelivery("tie-b", { attempts: 9, nextAttemptAt: 9, error: "ignored once processed" });
      expect(await store.getDelivery("early")).toStrictEqual({ deliveryId: "early", event: opened("early"), receivedAt: 5, attempts: 0, processedAt: 60 });
      expect(await store.getDelivery("tie-b")).toStrictEqual({ deliveryId: "tie-b", event: opened("tie-b"), receivedAt: 10, attempts: 0, lastError: "HTTP 404: Not Found", processedAt: 61 });
      await store.markProcessed("late", 70);
      expect(await store.getDelivery("late")).toMatchObject({ processedAt: 70, attempts: 2 });
      expect((await store.getDelivery("late"))?.nextAttemptAt).toBeUndefined();
      expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["tie-a"]);
    });
  });

  describe("status outbox", () => {
    const item = (context: string, groupKey = "github:acme/app#1", targetUrl?: string) => ({
      repo: REPO,
      sha: SHA,
      prNumber: 1,
      status: { context, state: "pending" as const, description: "building", ...(targetUrl ? { targetUrl } : {}) },
      groupKey,
    });

    test("coalesces by (host, repo, sha, context), keeps a running backoff and resets the tries", async () => {
      const s1 = await store.enqueueStatus(item("berth/build", "g1", "https://berth.test/r/1"), 100);
      const s2 = await store.enqueueStatus(item("berth/deploy", "g2"), 101);
      expect(await store.outboxStatuses()).toStrictEqual([
        { repo: REPO, sha: SHA, prNumber: 1, status: item("berth/build", "g1", "https://berth.test/r/1").status, groupKey: "g1", seq: s1, enqueuedAt: 100, attempts: 0 },
        { repo: REPO, sha: SHA, prNumber: 1, status: item("berth/deploy").status, groupKey: "g2", seq: s2, enqueuedAt: 101, attempts: 0 },
      ]);
      expect((await store.outboxStatuses("g2")).map((s) => s.seq)).toEqual([s2]);
      expect(await store.outboxStatuses("none")).toEqual([]);

      await store.deferStatus({ ...item("berth/build"), seq: s1 }, { attempts: 1, nextAttemptAt: 5_000, error: "HTTP 500" });
      expect((await store.outboxStatuses("g1"))[0]).toMatchObject({ attempts: 1, nextAttemptAt: 5_000, lastError: "HTTP 500" });
      const s3 = await store.enqueueStatus(item("berth/build", "g1"), 200);
      const [replaced] = await store.outboxStatuses("g1");
      expect(replaced).toStrictEqual({ repo: REPO, sha: SHA, prNumber: 1, status: item("berth/build").status, groupKey: "g1", seq: s3, enqueuedAt: 200, attempts: 0, nextAttemptAt: 5_000 });
      // Writers of the replaced version change nothing.
      await store.deferStatus({ ...item("berth/build"), seq: s1 }, { attempts: 7, nextAttemptAt: 9_000, error: "late" });
      expect(await store.removeStatus({ ...item("berth/build"), seq: s1 })).toBe(false);
      expect((await store.outboxStatuses("g1"))[0]).toStrictEqual(replaced);
      expect(await store.removeStatus({ ...item("berth/build"), seq: s3 })).toBe(true);
      expect((await store.outboxStatuses()).map((s) => s.status.context)).toEqual(["berth/deploy"]);
    });
  });

  describe("notification outbox", () => {
    const message = (headline: string) => ({
      event: "failed" as const,
      repo: "acme/app",
      repoUrl: "https://github.com/acme/app",
      pr: { number: 1, url: "https://github.com/acme/app/pull/1", title: "Fix \u0000 it" },
      sha: SHA,
      headline,
      failingTests: [{ name: "a › b", message: "boom" }],
    });

    test("enqueues once per key, lists pending ones in enqueue order, defers and finishes them", async () => {
      expect(await store.enqueueNotification({ key: "r1:failed:team", channel: "team", message: message("one") }, 100)).toBe(true);
      expect(await store.enqueueNotification({ key: "r1:failed:ops", channel: "ops", message: message("two") }, 101)).toBe(true);
      expect(await store.enqueueNotification({ key: "r1:failed:team", channel: "team", message: message("again") }, 102)).toBe(false);
      const all = await store.pendingNotifications();
      expect(all.map((n) => [n.key, n.channel, n.message.headline, n.enqueuedAt, n.attempts])).toEqual([
        ["r1:failed:team", "team", "one", 100, 0],
        ["r1:failed:ops", "ops", "two", 101, 0],
      ]);
      expect(all[0]!.seq).toBeLessThan(all[1]!.seq);
      expect(all[0]).not.toHaveProperty("nextAttemptAt");
      expect(all[0]!.message).toStrictEqual(message("one"));
      expect((await store.pendingNotifications("ops")).map((n) => n.key)).toEqual(["r1:failed:ops"]);

      await store.deferNotification("r1:failed:team", { attempts: 1, nextAttemptAt: 5_000, error: "HTTP 502" });
      expect((await store.pendingNotifications("team"))[0]).toMatchObject({ attempts: 1, nextAttemptAt: 5_000, lastError: "HTTP 502" });
      await store.finishNotification("r1:failed:team", 6_000);
      await store.finishNotification("r1:failed:ops", 6_000, "errcode 93000: invalid webhook url");
      expect(await store.pendingNotifications()).toEqual([]);
      // A finished key is remembered: the same event is not queued again.
      expect(await store.enqueueNotification({ key: "r1:failed:team", channel: "team", message: message("late") }, 7_000)).toBe(false);
      // Until retention forgets it.
      await store.prune(7_000);
      expect(await store.enqueueNotification({ key: "r1:failed:team", channel: "team", message: message("later") }, 8_000)).toBe(true);
      expect((await store.pendingNotifications()).map((n) => n.message.headline)).toEqual(["later"]);
    });
  });

  describe("prune", () => {
    let ids = 0;
    async function run(pr: number, day: number, options: { kind?: RunKind; status?: RunStatus; report?: boolean; finished?: boolean } = {}): Promise<string> {
      const id = `run-${++ids}`;
      const record = runRecord(id, pr, { kind: options.kind ?? "pipeline", plan: ["build"], status: options.status ?? "passed", createdAt: day * DAY });
      if (options.finished !== false) record.finishedAt = day * DAY + 1000;
      await store.insertRun(record);
      if (options.report) {
        await store.saveReport({ id: `report-${id}`, runId: id, prKey: record.prKey, createdAt: day * DAY, report: { cases: [], files: [], parseErrors: [] } });
        await store.saveLog({ id: `log-${id}`, runId: id, stage: "test", createdAt: day * DAY, text: "output\n" });
      }
      return id;
    }
    async function exists(ids: string[]): Promise<boolean[]> {
      return Promise.all(ids.map(async (id) => (await store.getRun(id)) !== undefined));
    }

    test("keeps each PR's two newest pipeline runs and three newest runs, queued and running ones, and what is recent", async () => {
      const old = [await run(1, 1, { report: true }), await run(1, 2, { report: true }), await run(1, 3), await run(1, 4, { report: true }), await run(1, 5, { report: true })];
      const pipeline2 = await run(2, 1, { report: true });
      const deletes2 = [await run(2, 2, { kind: "delete" }), await run(2, 3, { kind: "delete" }), await run(2, 4, { kind: "delete" }), await run(2, 5, { kind: "delete" })];
      const queued3 = await run(3, 1, { status: "queued", finished: false });
      const running3 = await run(3, 1, { status: "running", finished: false });
      const unfinished3 = await run(3, 2, { status: "cancelled", finished: false });
      const recent3 = [await run(3, 100, { report: true }), await run(3, 101), await run(3, 102)];
      // A report and a log of a run berth never stored, and an old delivery still pending.
      await store.saveReport({ id: "orphan", runId: "gone", prKey: "github:acme/app#4", createdAt: DAY, report: { cases: [], files: [], parseErrors: [] } });
      await store.saveLog({ id: "orphan-new", runId: "gone", stage: "test", createdAt: 100 * DAY, text: "" });

      expect(await store.prune(50 * DAY)).toEqual({ deliveries: 0, runs: 4, reports: 3, logs: 2 });
      expect(await exists(old)).toEqual([false, false, true, true, true]);
      expect(await store.stagesOf(old[0]!)).toEqual([]);
      expect(await store.stagesOf(old[2]!)).toHaveLength(1);
      expect(await store.getReport(`report-${old[0]!}`)).toBeUndefined();
      expect(await store.getLog(`log-${old[1]!}`)).toBeUndefined();
      expect(await store.getReport(`report-${old[4]!}`)).toBeDefined();
      expect(await store.getReport("orphan")).toBeUndefined();
      expect(await store.getLog("orphan-new")).toBeDefined();
      expect((await store.latestPipelineRuns("github:acme/app#1", 2)).map((r) => r.id)).toEqual([old[4], old[3]]);
      expect(await exists([pipeline2])).toEqual([true]);
      expect(await exists(deletes2)).toEqual([false, true, true, true]);
      // PR 3: queued and running stay; the old cancelled one (its createdAt counts) is past the three newest.
      expect(await exists([queued3, running3, unfinished3, ...recent3])).toEqual([true, true, false, true, true, true]);

      expect(await store.prune(50 * DAY)).toEqual({ deliveries: 0, runs: 0, reports: 0, logs: 0 });
    });

    test("forgets processed deliveries past the retention, with their replay keys; never pending ones", async () => {
      await store.recordDelivery(opened("old-done", "k-old"), 1 * DAY);
      await store.markProcessed("old-done", 1 * DAY);
      await store.recordDelivery(opened("old-pending", "k-pending"), 1 * DAY);
      await store.recordDelivery(opened("new-done", "k-new"), 100 * DAY);
      await store.markProcessed("new-done", 100 * DAY);

      expect((await store.prune(50 * DAY)).deliveries).toBe(1);
      expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["old-pending"]);
      expect(await store.getDelivery("old-done")).toBeUndefined();
      expect(await store.recordDelivery(opened("again-1", "k-old"), 101 * DAY)).toBe(true);
      expect(await store.recordDelivery(opened("again-2", "k-pending"), 101 * DAY)).toBe(false);
      expect(await store.recordDelivery(opened("again-3", "k-new"), 101 * DAY)).toBe(false);
      expect(await store.recordDelivery(opened("old-done"), 101 * DAY)).toBe(true);
      expect(await store.recordDelivery(opened("new-done"), 101 * DAY)).toBe(false);
    });
  });
});

/** One script of writes and reads; everything it read, in order. */
async function script(store: Store): Promise<unknown[]> {
  const seen: unknown[] = [];
  const look = async (value: Promise<unknown>) => seen.push(await value);
  await look(store.recordDelivery(opened("d1", "k1"), 10));
  await look(store.recordDelivery(opened("d2", "k1"), 11));
  await look(store.recordDelivery(opened("d3"), 10));
  await store.deferDelivery("d3", { attempts: 1, nextAttemptAt: 99, error: "HTTP 502" });
  await look(store.pendingInbox());
  await look(store.claimDelivery("d1", "a", 100, 10));
  await store.markProcessed("d1", 20, "gave up");
  await look(store.getDelivery("d1"));
  for (const [id, pr] of [["r1", 1], ["r2", 1], ["r3", 2]] as const) await look(store.insertRun(runRecord(id, pr, { config: config() })));
  await look(store.claimRun("r1", "a", 1_000, { status: "running", startedAt: 50 }));
  await look(store.claimRun("r2", "b", 1_000, { status: "running" }));
  await store.updateStage("r1", "build", { state: "passed", startedAt: 50, finishedAt: 60, detail: { image: { ref: "r/app:1", digest: "sha256:1", pushed: true } } }, { owner: "a" });
  await look(store.updateRun("r1", { reason: "x" }, { owner: "b" }).catch((err: Error) => `${err.name}: ${err.message}`));
  await store.requestStop("r1", { kind: "superseded", text: "newer push" });
  await look(store.runLease("r1"));
  await look(store.expiredRuns(2_000));
  await look(store.takeOverRun("r1", "b", 2_000, 3_000));
  await look(store.updateRun("r1", { status: "failed", finishedAt: 70 }, { owner: "b" }));
  await look(store.runLease("r1"));
  await look(store.stagesOf("r1"));
  await look(store.renewRuns("a", ["r1", "r2", "r3"], 5_000));
  await look(store.runsWithStatus(["queued", "running", "failed"]));
  await look(store.latestPipelineRuns("github:acme/app#1", 5));
  await store.savePull(pull(1, { commentId: "IC_1" }));
  await look(store.patchPull("github:acme/app#1", (p) => ({ ...p, commentHash: "h" })));
  await look(store.knowsRepo("github:acme/app"));
  await look(store.openPullsAt("github:acme/app", SHA));
  await store.recordImage("github:acme/app", SHA, { ref: "r/app:1", digest: "sha256:1", pushed: true }, 10);
  await look(store.imagesOf("github:acme/app", SHA));
  await store.saveEnvironment(environment("production"), "github:acme/app");
  await look(store.environmentsAt("github:acme/app", SHA));
  await store.saveReport({ id: "rep", runId: "r1", prKey: "github:acme/app#1", createdAt: 10, report: { cases: [], files: ["a.xml"], parseErrors: ["b.xml: too large"] } });
  await look(store.getReport("rep"));
  await store.saveLog({ id: "log", runId: "r1", stage: "build", createdAt: 10, text: "ok\n" });
  await look(store.getLog("log"));
  const seq = await store.enqueueStatus({ repo: REPO, sha: SHA, prNumber: 1, status: { context: "berth/build", state: "success", description: "built" }, groupKey: "g" }, 10);
  await store.deferStatus({ repo: REPO, sha: SHA, status: { context: "berth/build", state: "success", description: "built" }, seq }, { attempts: 1, nextAttemptAt: 20, error: "HTTP 500" });
  await look(store.outboxStatuses());
  await look(store.acquireLease("reconcile", "a", 100, 0));
  await look(store.acquireLease("reconcile", "b", 100, 50));
  await look(store.prune(1_000_000));
  await look(store.runsWithStatus(["queued", "running", "failed"]));
  return seen;
}

describe("the adapters agree", () => {
  const available = storeBackends.filter((b) => b.skip === undefined);

  it.skipIf(available.length < 2)("one script answers the same on every adapter", async () => {
    const transcripts: Array<{ name: string; seen: unknown[] }> = [];
    for (const backend of available) {
      const store = await backend.open();
      try {
        transcripts.push({ name: backend.name, seen: await script(store) });
      } finally {
        await store.close();
      }
    }
    const [first, ...rest] = transcripts;
    // JSON text as well as structure: key order and undefined-vs-absent show up here.
    for (const other of rest) {
      expect(other.seen, `${other.name} vs ${first!.name}`).toStrictEqual(first!.seen);
      expect(JSON.stringify(other.seen)).toBe(JSON.stringify(first!.seen));
    }
  });
});

describe("PostgresStore.open", () => {
  async function failure(url: string): Promise<Error> {
    const err = await PostgresStore.open(url).then(
      (store) => store.close().then(() => new Error("opened")),
      (e: Error) => e,
    );
    expect(err.message).not.toBe("opened");
    return err;
  }

  it("names the database without its password when it cannot connect", async () => {
    const err = await failure("postgres://berth:s3cret-pw@127.0.0.1:1/berth");
    expect(err.message).toMatch(/^cannot open the PostgreSQL store at postgres:\/\/berth:\*\*\*@127\.0\.0\.1:1\/berth: /);
    expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toContain("s3cret-pw");
    expect(err).toMatchObject({ code: "ECONNREFUSED" });
    const unparseable = await failure("postgres://berth:s3cret%40pw@[::1/berth");
    expect(`${unparseable.message} ${unparseable.stack}`).not.toMatch(/s3cret/);
  });

  const url = testDatabaseUrl();
  it.skipIf(!url)("refuses a wrong password without repeating it", async () => {
    const wrong = new URL(url!);
    wrong.password = "not-the-password";
    const err = await failure(wrong.toString());
    expect(err.message).toMatch(/password authentication failed/);
    expect(`${err.message} ${err.stack}`).not.toContain("not-the-password");
  });
});
