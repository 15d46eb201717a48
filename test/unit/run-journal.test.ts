/**
 * The run journal is the one writer of run, stage and pull state: it turns a stage's facts into
 * store records, refuses every write of a replica that lost the run, and asks for comment redraws.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PullRecord, RunRecord } from "../../src/domain/records.js";
import { RunJournal } from "../../src/pipeline/run-journal.js";
import { RunEvents, type RunEvent } from "../../src/pipeline/run-events.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import { RunFencedError } from "../../src/pipeline/store.js";

const REPO = { host: "github" as const, owner: "acme", name: "shop", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/shop" };
const SHA = "c".repeat(40);
const OWNER = { owner: "replica-a" };
const IMAGE = { ref: "127.0.0.1:5000/x:pr-3-ccccccc", digest: "sha256:" + "1".repeat(64), pushed: true };

let dir: string;
let store: SqliteStore;
let published: string[];
let journal: RunJournal;
let clock: number;
let events: RunEvents;
let told: RunEvent[];

function pipelineRun(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { id, prKey: "github:acme/shop#3", repo: REPO, prNumber: 3, sha: SHA, kind: "pipeline", plan: ["build", "deploy", "test"], trigger: "push", status: "queued", reuseImage: false, attempts: 0, createdAt: 1, ...extra };
}

const PULL: PullRecord = { prKey: "github:acme/shop#3", repo: REPO, prNumber: 3, headSha: SHA, state: "open", fromFork: false, url: "https://github.com/acme/shop/pull/3" };

async function claimed(run: RunRecord, owner = OWNER.owner): Promise<RunRecord> {
  await store.insertRun(run);
  const held = await store.claimRun(run.id, owner, clock + 60_000, { status: "running", startedAt: clock, attempts: 1 });
  if (!held) throw new Error("not claimed");
  return held;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-journal-"));
  store = SqliteStore.open(dir);
  published = [];
  clock = 1_000;
  events = new RunEvents();
  told = [];
  events.on((event) => told.push(event));
  journal = new RunJournal(store, (prKey) => published.push(prKey), () => clock, events);
  await store.savePull({ ...PULL, notice: { kind: "deleted", text: "The PR's preview was deleted by `/delete`." } });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("run journal", () => {
  it("tells listeners what it recorded, after recording it: starts, log lines, ends with their durations", async () => {
    const run = await claimed(pipelineRun("r-events"));
    journal.runStarted(run);
    await journal.stageStarted(run, "build", OWNER);
    journal.stageLogLine(run, "build", "step 1/2");
    clock = 1_750;
    await journal.stageFinished(run, "build", { ok: true, detail: { image: IMAGE }, facts: { images: [IMAGE] } }, OWNER);
    await journal.stageStarted(run, "deploy", OWNER);
    clock = 2_000;
    await journal.stageFinished(run, "deploy", { ok: false, detail: { reason: "unhealthy" } }, OWNER);
    await journal.stageFailed(run, "deploy", OWNER);
    expect(told.map((e) => e.type)).toEqual(["run-started", "stage-started", "log-line", "stage-finished", "stage-started", "stage-finished", "run-finished"]);
    expect(told[2]).toMatchObject({ stage: "build", line: "step 1/2" });
    expect(told[3]).toMatchObject({ stage: "build", ok: true, startedAt: 1_000, at: 1_750, facts: { images: [IMAGE] } });
    expect(told[5]).toMatchObject({ stage: "deploy", ok: false, startedAt: 1_750, at: 2_000 });
    expect(told[6]).toMatchObject({ type: "run-finished", status: "failed", reason: "deploy failed" });
    // What a listener is told is already in the store.
    expect((await store.getRun(run.id))?.status).toBe("failed");
  });

  it("a listener that throws disturbs neither the run nor the other listeners", async () => {
    const run = await claimed(pipelineRun("r-throws"));
    events.on(() => {
      throw new Error("listener bug");
    });
    const later: string[] = [];
    events.on((e) => later.push(e.type));
    await journal.stageStarted(run, "build", OWNER);
    expect(later).toEqual(["stage-started"]);
    expect((await store.stagesOf(run.id)).find((s) => s.name === "build")?.state).toBe("running");
  });

  it("writes a stage's facts (report, images, the PR's image and preview) with its row, and asks for a redraw", async () => {
    const run = await claimed(pipelineRun("r1"));
    await journal.stageStarted(run, "build", OWNER);
    expect((await store.stagesOf(run.id)).find((s) => s.name === "build")).toMatchObject({ state: "running", startedAt: 1_000 });
    clock = 2_000;
    await journal.stageFinished(run, "build", { ok: true, detail: { image: IMAGE }, facts: { images: [IMAGE], pullImage: IMAGE } }, OWNER);
    expect(await store.imagesOf("github:acme/shop", SHA)).toEqual([IMAGE]);
    expect((await store.getPull(PULL.prKey))?.image).toEqual({ ...IMAGE, sha: SHA });

    await journal.stageFinished(run, "deploy", { ok: true, detail: {}, facts: { preview: { target: "docker", url: "http://p/", internalUrl: "http://i/" } } }, OWNER);
    const pull = await store.getPull(PULL.prKey);
    expect(pull?.preview).toEqual({ target: "docker", url: "http://p/", internalUrl: "http://i/", sha: SHA, runId: run.id, deployedAt: 2_000 });
    // A new preview ends the "preview was deleted" notice.
    expect(pull?.notice).toBeUndefined();

    const report = { cases: [], files: [], parseErrors: [] };
    await journal.stageFinished(run, "test", { ok: true, detail: { tests: { total: 0, passed: 0, failed: 0, skipped: 0, firstFailures: [], reportId: "rep1", exitCode: 0, timedOut: false } }, facts: { report: { id: "rep1", report } } }, OWNER);
    expect(await store.getReport("rep1")).toMatchObject({ runId: run.id, prKey: PULL.prKey, createdAt: 2_000, report });
    await journal.runPassed(run, OWNER);
    expect(await store.getRun(run.id)).toMatchObject({ status: "passed", finishedAt: 2_000 });
    expect((await store.stagesOf(run.id)).map((s) => [s.name, s.state]).sort()).toEqual([["build", "passed"], ["deploy", "passed"], ["test", "passed"]]);
    expect(published.length).toBeGreaterThanOrEqual(5);
    expect(new Set(published)).toEqual(new Set([PULL.prKey]));
  });

  it("refuses every write of a replica that lost the run, and writes none of its facts", async () => {
    const run = await claimed(pipelineRun("r2"));
    await journal.stageStarted(run, "build", OWNER);
    const thief = { owner: "replica-b" };
    const report = { cases: [], files: [], parseErrors: [] };
    await expect(journal.stageFinished(run, "build", { ok: true, detail: {}, facts: { images: [IMAGE], pullImage: IMAGE, report: { id: "rep2", report } } }, thief)).rejects.toBeInstanceOf(RunFencedError);
    await expect(journal.stageStarted(run, "deploy", thief)).rejects.toBeInstanceOf(RunFencedError);
    await expect(journal.runPassed(run, thief)).rejects.toBeInstanceOf(RunFencedError);
    await expect(journal.stopped(run, { kind: "superseded", text: "x" }, thief)).rejects.toBeInstanceOf(RunFencedError);
    expect(await store.getReport("rep2")).toBeUndefined();
    expect(await store.imagesOf("github:acme/shop", SHA)).toEqual([]);
    expect((await store.getPull(PULL.prKey))?.image).toBeUndefined();
    expect(await store.getRun(run.id)).toMatchObject({ status: "running" });
    expect((await store.stagesOf(run.id)).find((s) => s.name === "build")?.state).toBe("running");
  });

  it("removes the preview and shows the delete notice from a delete stage's facts", async () => {
    const deploy = await claimed(pipelineRun("r3"));
    await journal.stageFinished(deploy, "deploy", { ok: true, detail: {}, facts: { preview: { target: "docker", url: "http://p/", internalUrl: "http://i/" } } }, OWNER);
    await journal.runPassed(deploy, OWNER);
    const del = await claimed(pipelineRun("d1", { kind: "delete", plan: ["delete"], trigger: "close" }));
    await journal.stageFinished(del, "delete", { ok: true, detail: {}, facts: { previewRemoved: true, notice: { kind: "deleted", text: "The PR is closed: its preview is gone." } } }, OWNER);
    const pull = await store.getPull(PULL.prKey);
    expect(pull?.preview).toBeUndefined();
    expect(pull?.notice).toEqual({ kind: "deleted", text: "The PR is closed: its preview is gone." });
  });

  it("records a release's environment and redraws the PRs at its commit, not a comment of its own", async () => {
    const release = await claimed(pipelineRun("rel1", { prKey: "github:acme/shop@dev", prNumber: 0, kind: "release", plan: ["build", "deploy"], release: { tag: "alpha-1", environment: "dev" } }));
    published = [];
    await journal.stageStarted(release, "deploy", OWNER);
    expect(published).toEqual([]);
    await journal.stageFinished(release, "deploy", { ok: true, detail: {}, facts: { environment: { key: release.prKey, repo: REPO, environment: "dev", tag: "alpha-1", sha: SHA, image: IMAGE, url: "http://dev/", target: "docker" } } }, OWNER);
    expect(await store.getEnvironment(release.prKey)).toMatchObject({ environment: "dev", tag: "alpha-1", deployedAt: 1_000 });
    expect(published).toEqual([PULL.prKey]);
  });

  it("puts a late scan into the build row once the row has settled, only while it still shows that image", async () => {
    const run = await claimed(pipelineRun("r4"));
    await journal.stageStarted(run, "build", OWNER);
    const scan = { status: "Success", critical: 0, high: 1, medium: 0, low: 0, total: 1 } as never;
    const recorded = journal.scanFinished(run.id, IMAGE.ref, scan, 5_000);
    // The stage is still running: the scan waits for its outcome, then adds to it.
    await new Promise((r) => setTimeout(r, 120));
    await journal.stageFinished(run, "build", { ok: true, detail: { image: IMAGE, logTail: ["done"] } }, OWNER);
    expect(await recorded).toBe(true);
    const row = (await store.stagesOf(run.id)).find((s) => s.name === "build");
    expect(row).toMatchObject({ state: "passed", detail: { image: IMAGE, logTail: ["done"], scan } });
    // Another image in the row (a re-queued run rebuilt): nothing changes.
    expect(await journal.scanFinished(run.id, "127.0.0.1:5000/x:other", scan, 100)).toBe(false);
    // A re-queued run's row (queued again): left alone.
    const other = await claimed(pipelineRun("r5", { prKey: "github:acme/shop#4", prNumber: 4 }));
    await journal.requeued(other, OWNER);
    expect(await journal.scanFinished(other.id, IMAGE.ref, scan, 100)).toBe(false);
    expect((await store.stagesOf(other.id)).every((s) => s.state === "queued" && s.detail.scan === undefined)).toBe(true);
  });
});
