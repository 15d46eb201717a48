/**
 * The lease rules of the store port, on every adapter: who may execute a run, process a delivery,
 * hold a named lease, and write an executing run. On PostgreSQL the races are real (separate
 * connections); SQLite must give the same answers.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CommitStatus } from "../../src/domain/ports.js";
import type { BotEvent, PullRef } from "../../src/domain/types.js";
import type { RunRecord } from "../../src/domain/records.js";
import { RunFencedError, type Store } from "../../src/pipeline/store.js";
import { cleanupStoreBackends, storeBackends } from "../helpers/store-backends.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const PR: PullRef = { repo: REPO, number: 3, headSha: "a".repeat(40), headRef: "f", baseRef: "main", fromFork: false, url: "https://github.com/acme/app/pull/3", author: "octocat", state: "open" };
const MIN = 60_000;

function runRecord(id: string, pr = 1, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    prKey: `github:acme/app#${pr}`,
    repo: REPO,
    prNumber: pr,
    sha: "a".repeat(40),
    kind: "pipeline",
    plan: ["build", "deploy"],
    trigger: "push",
    status: "queued",
    reuseImage: false,
    attempts: 0,
    createdAt: 1_000,
    ...extra,
  };
}

function opened(deliveryId: string): BotEvent {
  return { kind: "pr-updated", deliveryId, pr: PR, action: "opened", sender: "octocat" };
}

function status(context: string): CommitStatus {
  return { context, state: "pending", description: "building" };
}

afterAll(cleanupStoreBackends);

describe.each(storeBackends)("store leases on $name", (backend) => {
  const test = it.skipIf(backend.skip !== undefined);
  let store: Store;

  beforeEach(async () => {
    if (!backend.skip) store = await backend.open();
  });
  afterEach(async () => {
    if (!backend.skip) await store.close();
  });

  describe("claimRun", () => {
    test("gives a queued run to exactly one of two owners racing for it", async () => {
      await store.insertRun(runRecord("r1"));
      const [a, b] = await Promise.all([
        store.claimRun("r1", "replica-a", 10 * MIN, { status: "running", startedAt: 5 }),
        store.claimRun("r1", "replica-b", 10 * MIN, { status: "running", startedAt: 6 }),
      ]);
      expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
      const winner = a ? "replica-a" : "replica-b";
      expect(await store.runLease("r1")).toEqual({ owner: winner, until: 10 * MIN });
      expect((await store.getRun("r1"))?.startedAt).toBe(a ? 5 : 6);
    });

    test("runs one run of a PR at a time, also when two of them are claimed at once", async () => {
      await store.insertRun(runRecord("r1"));
      await store.insertRun(runRecord("r2"));
      await store.insertRun(runRecord("other", 2));
      const [a, b] = await Promise.all([
        store.claimRun("r1", "replica-a", 10 * MIN, { status: "running" }),
        store.claimRun("r2", "replica-b", 10 * MIN, { status: "running" }),
      ]);
      expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
      const [running, waiting] = a ? ["r1", "r2"] : ["r2", "r1"];
      // Still refused while the first runs; another PR is not held up.
      expect(await store.claimRun(waiting, "replica-b", 10 * MIN, { status: "running" })).toBeUndefined();
      expect(await store.claimRun("other", "replica-b", 10 * MIN, { status: "running" })).toMatchObject({ id: "other", status: "running" });
      expect((await store.runsWithStatus(["running"])).map((r) => r.id).sort()).toEqual([running, "other"].sort());

      await store.updateRun(running, { status: "passed", finishedAt: 9 });
      const claimed = await store.claimRun(waiting, "replica-b", 20 * MIN, { status: "running", startedAt: 10 });
      expect(claimed).toEqual({ ...runRecord(waiting), status: "running", startedAt: 10 });
      expect(await store.getRun(waiting)).toEqual(claimed);
    });

    test("claims only queued runs, applies the patch and makes the row's status follow the record", async () => {
      expect(await store.claimRun("missing", "replica-a", MIN, { status: "running" })).toBeUndefined();
      await store.insertRun(runRecord("r1"));
      // The patch without a status still makes it running.
      const claimed = await store.claimRun("r1", "replica-a", MIN, { attempts: 1 });
      expect(claimed).toMatchObject({ status: "running", attempts: 1 });
      expect(await store.runsWithStatus(["running"])).toEqual([claimed]);
      expect(await store.runsWithStatus(["queued"])).toEqual([]);
      expect(await store.claimRun("r1", "replica-a", MIN, { status: "running" })).toBeUndefined();
      await store.updateRun("r1", { status: "failed" });
      expect(await store.claimRun("r1", "replica-a", MIN, { status: "running" })).toBeUndefined();
    });

    test("clears an old stop request when a re-queued run is claimed again", async () => {
      await store.insertRun(runRecord("r1"));
      await store.claimRun("r1", "replica-a", MIN, { status: "running" });
      await store.requestStop("r1", { kind: "shutdown", text: "replica stopping" });
      await store.updateRun("r1", { status: "queued", attempts: 1 });
      expect(await store.runLease("r1")).toEqual({});
      await store.claimRun("r1", "replica-b", 2 * MIN, { status: "running" });
      expect(await store.runLease("r1")).toEqual({ owner: "replica-b", until: 2 * MIN });
    });
  });

  describe("fenced writes", () => {
    beforeEach(async () => {
      if (backend.skip) return;
      await store.insertRun(runRecord("r1"));
      await store.claimRun("r1", "replica-a", 10 * MIN, { status: "running" });
    });

    test("updateRun writes for the owner and throws RunFencedError for anyone else", async () => {
      expect(await store.updateRun("r1", { reason: "owner wrote" }, { owner: "replica-a" })).toMatchObject({ reason: "owner wrote" });
      const refused = store.updateRun("r1", { reason: "intruder wrote" }, { owner: "replica-b" });
      await expect(refused).rejects.toBeInstanceOf(RunFencedError);
      await expect(refused).rejects.toMatchObject({ runId: "r1", owner: "replica-b", name: "RunFencedError" });
      expect((await store.getRun("r1"))?.reason).toBe("owner wrote");
      // Without a fence the write is unconditional.
      expect(await store.updateRun("r1", { reason: "unfenced" })).toMatchObject({ reason: "unfenced" });
      await expect(store.updateRun("missing", { reason: "x" }, { owner: "replica-a" })).rejects.toBeInstanceOf(RunFencedError);
      await expect(store.updateRun("missing", { reason: "x" })).rejects.toThrow(/does not exist/);
    });

    test("updateStage writes for the owner and throws RunFencedError for anyone else", async () => {
      await store.updateStage("r1", "build", { state: "running", startedAt: 100 }, { owner: "replica-a" });
      await expect(store.updateStage("r1", "build", { state: "failed", finishedAt: 200 }, { owner: "replica-b" })).rejects.toBeInstanceOf(RunFencedError);
      expect((await store.stagesOf("r1"))[0]).toMatchObject({ name: "build", state: "running", startedAt: 100 });
      await store.updateStage("r1", "build", { state: "passed", finishedAt: 200 });
      expect((await store.stagesOf("r1"))[0]).toMatchObject({ state: "passed", startedAt: 100, finishedAt: 200 });
    });

    test("a replica that lost its run to a take-over is fenced; the new owner writes", async () => {
      expect(await store.takeOverRun("r1", "replica-b", 11 * MIN, 20 * MIN)).toBe(true);
      await expect(store.updateRun("r1", { reason: "stale" }, { owner: "replica-a" })).rejects.toBeInstanceOf(RunFencedError);
      await expect(store.updateStage("r1", "build", { state: "passed" }, { owner: "replica-a" })).rejects.toBeInstanceOf(RunFencedError);
      await store.updateStage("r1", "build", { state: "passed" }, { owner: "replica-b" });
      expect(await store.updateRun("r1", { status: "passed" }, { owner: "replica-b" })).toMatchObject({ status: "passed" });
    });

    test("a finished run keeps its owner but no lease; a re-queued one has neither and fences everyone", async () => {
      await store.updateRun("r1", { status: "passed", finishedAt: 5 }, { owner: "replica-a" });
      expect(await store.runLease("r1")).toEqual({ owner: "replica-a" });
      expect(await store.runsWithStatus(["passed"])).toHaveLength(1);

      await store.insertRun(runRecord("r2"));
      await store.claimRun("r2", "replica-a", 10 * MIN, { status: "running" });
      await store.updateRun("r2", { status: "queued" }, { owner: "replica-a" });
      expect(await store.runLease("r2")).toEqual({});
      await expect(store.updateRun("r2", { reason: "late" }, { owner: "replica-a" })).rejects.toBeInstanceOf(RunFencedError);
    });
  });

  describe("run leases", () => {
    test("renewRuns extends only the running runs the owner holds", async () => {
      for (const id of ["a1", "a2", "b1", "a3"]) await store.insertRun(runRecord(id, ["a1", "a2", "b1", "a3"].indexOf(id) + 1));
      await store.claimRun("a1", "replica-a", MIN, { status: "running" });
      await store.claimRun("a2", "replica-a", MIN, { status: "running" });
      await store.claimRun("b1", "replica-b", MIN, { status: "running" });
      await store.updateRun("a2", { status: "passed" });
      // a3 is queued, a2 finished, b1 someone else's, "nope" unknown.
      expect(await store.renewRuns("replica-a", ["a3", "b1", "a1", "a2", "nope"], 5 * MIN)).toEqual(["a1"]);
      expect(await store.renewRuns("replica-a", [], 5 * MIN)).toEqual([]);
      expect((await store.runLease("a1"))?.until).toBe(5 * MIN);
      expect((await store.runLease("b1"))?.until).toBe(MIN);
    });

    test("expiredRuns lists running runs whose lease ended, in queue order; exactly one of two takers wins", async () => {
      for (const pr of [1, 2, 3]) await store.insertRun(runRecord(`r${pr}`, pr));
      await store.claimRun("r2", "dead", 2 * MIN, { status: "running" });
      await store.claimRun("r1", "dead", 2 * MIN, { status: "running" });
      await store.claimRun("r3", "alive", 9 * MIN, { status: "running" });
      expect(await store.expiredRuns(2 * MIN)).toEqual([]);
      expect((await store.expiredRuns(3 * MIN)).map((r) => r.id)).toEqual(["r1", "r2"]);

      expect(await store.takeOverRun("r3", "replica-b", 3 * MIN, 10 * MIN)).toBe(false);
      const [b, c] = await Promise.all([
        store.takeOverRun("r1", "replica-b", 3 * MIN, 10 * MIN),
        store.takeOverRun("r1", "replica-c", 3 * MIN, 11 * MIN),
      ]);
      expect([b, c].filter(Boolean)).toHaveLength(1);
      expect(await store.runLease("r1")).toEqual(b ? { owner: "replica-b", until: 10 * MIN } : { owner: "replica-c", until: 11 * MIN });
      expect((await store.expiredRuns(3 * MIN)).map((r) => r.id)).toEqual(["r2"]);
      // Only running runs are taken over.
      await store.updateRun("r2", { status: "cancelled" });
      expect(await store.takeOverRun("r2", "replica-b", 3 * MIN, 10 * MIN)).toBe(false);
      expect(await store.takeOverRun("missing", "replica-b", 3 * MIN, 10 * MIN)).toBe(false);
    });

    test("requestStop marks only running runs; runLease reports it", async () => {
      await store.insertRun(runRecord("r1"));
      expect(await store.runLease("missing")).toBeUndefined();
      expect(await store.runLease("r1")).toEqual({});
      await store.requestStop("r1", { kind: "cancelled", text: "queued runs are not stopped this way" });
      expect(await store.runLease("r1")).toEqual({});
      await store.claimRun("r1", "replica-a", MIN, { status: "running" });
      await store.requestStop("r1", { kind: "superseded", text: "a newer push" });
      expect(await store.runLease("r1")).toEqual({ owner: "replica-a", until: MIN, stopRequested: { kind: "superseded", text: "a newer push" } });
    });

    test("insertRun refuses an existing id and writes nothing", async () => {
      expect(await store.insertRun(runRecord("r1"))).toBe(true);
      expect(await store.insertRun(runRecord("r1", 1, { plan: ["build", "deploy", "test"], trigger: "/deploy" }))).toBe(false);
      expect((await store.getRun("r1"))?.trigger).toBe("push");
      expect((await store.stagesOf("r1")).map((s) => s.name)).toEqual(["build", "deploy"]);
      const [x, y] = await Promise.all([store.insertRun(runRecord("r2")), store.insertRun(runRecord("r2"))]);
      expect([x, y].filter(Boolean)).toHaveLength(1);
      expect(await store.stagesOf("r2")).toHaveLength(2);
    });
  });

  describe("claimDelivery", () => {
    beforeEach(async () => {
      if (!backend.skip) await store.recordDelivery(opened("d1"), 1);
    });

    test("refuses a second owner until the claim ends; the owner may claim again", async () => {
      expect(await store.claimDelivery("d1", "replica-a", 10, 1)).toBe(true);
      expect(await store.claimDelivery("d1", "replica-b", 20, 5)).toBe(false);
      expect(await store.claimDelivery("d1", "replica-a", 30, 5)).toBe(true);
      expect(await store.claimDelivery("d1", "replica-b", 40, 30)).toBe(false);
      expect(await store.claimDelivery("d1", "replica-b", 40, 31)).toBe(true);
      expect(await store.claimDelivery("missing", "replica-b", 40, 31)).toBe(false);
    });

    test("gives a delivery to exactly one of two owners racing for it", async () => {
      const results = await Promise.all([store.claimDelivery("d1", "replica-a", 10, 1), store.claimDelivery("d1", "replica-b", 10, 1)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test("releaseDelivery frees the owner's claim only", async () => {
      await store.claimDelivery("d1", "replica-a", 100, 1);
      await store.releaseDelivery("d1", "replica-b");
      expect(await store.claimDelivery("d1", "replica-b", 100, 2)).toBe(false);
      await store.releaseDelivery("d1", "replica-a");
      expect(await store.claimDelivery("d1", "replica-b", 100, 2)).toBe(true);
    });

    test("deferDelivery releases the claim; markProcessed releases it and nobody claims a processed delivery", async () => {
      await store.claimDelivery("d1", "replica-a", 100, 1);
      await store.deferDelivery("d1", { attempts: 1, nextAttemptAt: 50, error: "HTTP 502" });
      expect(await store.claimDelivery("d1", "replica-b", 100, 2)).toBe(true);
      await store.markProcessed("d1", 3);
      expect(await store.claimDelivery("d1", "replica-b", 100, 4)).toBe(false);
      expect(await store.claimDelivery("d1", "replica-a", 100, 4)).toBe(false);

      await store.recordDelivery(opened("d2"), 5);
      await store.claimDelivery("d2", "replica-a", 100, 5);
      await store.markProcessed("d2", 6, "HTTP 404");
      expect(await store.getDelivery("d2")).toMatchObject({ processedAt: 6, lastError: "HTTP 404" });
      expect(await store.claimDelivery("d2", "replica-a", 100, 7)).toBe(false);
    });
  });

  describe("named leases", () => {
    test("one holder at a time: free, ended, or already the owner's", async () => {
      expect(await store.acquireLease("reconcile", "replica-a", 100, 0)).toBe(true);
      expect(await store.acquireLease("reconcile", "replica-b", 200, 50)).toBe(false);
      expect(await store.acquireLease("reconcile", "replica-a", 150, 50)).toBe(true);
      expect(await store.acquireLease("reconcile", "replica-b", 200, 150)).toBe(false);
      expect(await store.acquireLease("reconcile", "replica-b", 200, 151)).toBe(true);
      expect(await store.acquireLease("comments:github:acme/app#1", "replica-a", 200, 151)).toBe(true);
    });

    test("releaseLease frees only the owner's lease", async () => {
      await store.acquireLease("reconcile", "replica-a", 100, 0);
      await store.releaseLease("reconcile", "replica-b");
      expect(await store.acquireLease("reconcile", "replica-b", 100, 1)).toBe(false);
      await store.releaseLease("reconcile", "replica-a");
      expect(await store.acquireLease("reconcile", "replica-b", 100, 1)).toBe(true);
    });

    test("gives a free lease to exactly one of several owners racing for it", async () => {
      const owners = ["a", "b", "c", "d"];
      const results = await Promise.all(owners.map((o) => store.acquireLease("reconcile", o, 100, 0)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe("status outbox seqs", () => {
    test("concurrent enqueues get distinct seqs, and a replacement a higher one than everything before it", async () => {
      const contexts = Array.from({ length: 12 }, (_, i) => `berth/c${i}`);
      const seqs = await Promise.all(
        contexts.map((c) => store.enqueueStatus({ repo: REPO, sha: "a".repeat(40), prNumber: 1, status: status(c), groupKey: "g" }, 1)),
      );
      expect(new Set(seqs).size).toBe(contexts.length);
      const listed = await store.outboxStatuses();
      expect(listed.map((s) => s.seq)).toEqual([...seqs].sort((x, y) => x - y));
      const replaced = await store.enqueueStatus({ repo: REPO, sha: "a".repeat(40), prNumber: 1, status: status("berth/c0"), groupKey: "g" }, 2);
      expect(replaced).toBeGreaterThan(Math.max(...seqs));
      expect((await store.outboxStatuses()).at(-1)).toMatchObject({ seq: replaced, status: { context: "berth/c0" } });
      expect(await store.removeStatus({ repo: REPO, sha: "a".repeat(40), status: status("berth/c0"), seq: seqs[0]! })).toBe(false);
      expect(await store.removeStatus({ repo: REPO, sha: "a".repeat(40), status: status("berth/c0"), seq: replaced })).toBe(true);
    });

    test("a removed row's seq is never handed out again, so a stale write of it cannot match a newer row", async () => {
      const row = { repo: REPO, sha: "b".repeat(40), prNumber: 1, status: status("berth/build"), groupKey: "g" };
      const first = await store.enqueueStatus(row, 1);
      expect(await store.removeStatus({ ...row, seq: first })).toBe(true);
      const second = await store.enqueueStatus(row, 2);
      expect(second).toBeGreaterThan(first);
      // The writer of the first version comes back late: nothing of the newer row goes.
      expect(await store.removeStatus({ ...row, seq: first })).toBe(false);
      expect(await store.outboxStatuses()).toHaveLength(1);
    });
  });

  // Only adapters that several processes share (SQLite's data directory has one).
  if (backend.replicas) describe("replicas sharing one database", () => {
    test("migrate at once, then agree on claims, fences, leases and seqs", async () => {
      const replicas = await backend.replicas!(3);
      try {
        const [a, b, c] = replicas as [Store, Store, Store];
        await a.insertRun(runRecord("r1"));
        await a.insertRun(runRecord("r2"));
        const claims = await Promise.all([
          a.claimRun("r1", "replica-a", MIN, { status: "running" }),
          b.claimRun("r1", "replica-b", MIN, { status: "running" }),
          c.claimRun("r2", "replica-c", MIN, { status: "running" }),
        ]);
        expect(claims.filter((r) => r !== undefined)).toHaveLength(1);
        const owner = (await c.runLease("r1"))?.owner ?? (await c.runLease("r2"))?.owner;
        const runId = (await a.runsWithStatus(["running"]))[0]!.id;
        const taken = await Promise.all([a.takeOverRun(runId, "replica-x", 2 * MIN, 3 * MIN), b.takeOverRun(runId, "replica-y", 2 * MIN, 3 * MIN)]);
        expect(taken.filter(Boolean)).toHaveLength(1);
        await expect(c.updateRun(runId, { reason: "stale" }, { owner: owner! })).rejects.toBeInstanceOf(RunFencedError);

        const leases = await Promise.all(replicas.map((r, i) => r.acquireLease("reconcile", `replica-${i}`, 100, 0)));
        expect(leases.filter(Boolean)).toHaveLength(1);
        const seqs = await Promise.all(
          replicas.map((r, i) => r.enqueueStatus({ repo: REPO, sha: "b".repeat(40), prNumber: 1, status: status(`berth/r${i}`), groupKey: "g" }, 1)),
        );
        expect(new Set(seqs).size).toBe(3);
      } finally {
        await Promise.all(replicas.map((r) => r.close()));
      }
    });
  });
});
