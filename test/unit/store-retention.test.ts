import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { BotEvent, RunStatus } from "../../src/domain/types.js";
import type { RunKind, RunRecord } from "../../src/domain/records.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";

const DAY = 86_400_000;
const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-store-"));
  store = SqliteStore.open(dir);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

let ids = 0;
async function run(pr: number, day: number, options: { kind?: RunKind; status?: RunStatus; report?: boolean } = {}): Promise<string> {
  const id = `run-${++ids}`;
  const record: RunRecord = {
    id,
    prKey: `github:acme/app#${pr}`,
    repo: REPO,
    prNumber: pr,
    sha: "a".repeat(40),
    kind: options.kind ?? "pipeline",
    plan: ["build"],
    trigger: "push",
    status: options.status ?? "passed",
    reuseImage: false,
    attempts: 0,
    createdAt: day * DAY,
    finishedAt: day * DAY + 1000,
  };
  await store.insertRun(record);
  if (options.report) {
    await store.saveReport({ id: `report-${id}`, runId: id, prKey: record.prKey, createdAt: day * DAY, report: { cases: [], files: [], parseErrors: [] } });
    await store.saveLog({ id: `log-${id}`, runId: id, stage: "test", createdAt: day * DAY, text: "output\n" });
  }
  return id;
}

async function delivery(id: string, day: number, processed: boolean): Promise<void> {
  const event = { kind: "pr-closed", deliveryId: id } as unknown as BotEvent;
  await store.recordDelivery(event, day * DAY);
  if (processed) await store.markProcessed(id, day * DAY);
}

describe("Store.prune", () => {
  it("forgets old finished runs, their stages and reports, but keeps what the status comment shows", async () => {
    // PR 1: five old pipeline runs; the three newest stay (the comment shows the two newest), older ones go.
    const old = [await run(1, 1, { report: true }), await run(1, 2, { report: true }), await run(1, 3), await run(1, 4, { report: true }), await run(1, 5, { report: true })];
    // PR 2: an old pipeline run followed by newer delete runs; the pipeline run stays (clean-up reads its config).
    const pipeline2 = await run(2, 1, { report: true });
    const deletes2 = [await run(2, 2, { kind: "delete" }), await run(2, 3, { kind: "delete" }), await run(2, 4, { kind: "delete" }), await run(2, 5, { kind: "delete" })];
    // PR 3: an old run still queued, and a recent run.
    const queued3 = await run(3, 1, { status: "queued" });
    const recent3 = await run(3, 100, { report: true });

    const pruned = await store.prune(50 * DAY);

    expect(pruned).toEqual({ deliveries: 0, runs: 3, reports: 2, logs: 2 });
    expect(await Promise.all(old.map(async (id) => (await store.getRun(id)) !== undefined))).toEqual([false, false, true, true, true]);
    expect(await store.stagesOf(old[0]!)).toEqual([]);
    expect(await store.getReport(`report-${old[0]!}`)).toBeUndefined();
    expect(await store.getReport(`report-${old[4]!}`)).toBeDefined();
    expect((await store.latestPipelineRuns("github:acme/app#1", 2)).map((r) => r.id)).toEqual([old[4], old[3]]);
    expect(await store.getRun(pipeline2)).toBeDefined();
    expect(await store.getReport(`report-${pipeline2}`)).toBeDefined();
    expect(await Promise.all(deletes2.map(async (id) => (await store.getRun(id)) !== undefined))).toEqual([false, true, true, true]);
    expect((await store.getRun(queued3))?.status).toBe("queued");
    expect(await store.getRun(recent3)).toBeDefined();

    // Nothing more to forget the second time.
    expect(await store.prune(50 * DAY)).toEqual({ deliveries: 0, runs: 0, reports: 0, logs: 0 });
    expect(await store.getLog(`log-${old[4]!}`)).toBeDefined();
  });

  it("forgets processed deliveries past the retention, never unprocessed ones", async () => {
    await delivery("old-done", 1, true);
    await delivery("old-pending", 1, false);
    await delivery("new-done", 100, true);

    expect((await store.prune(50 * DAY)).deliveries).toBe(1);
    expect((await store.pendingInbox()).map((i) => i.deliveryId)).toEqual(["old-pending"]);
    // A forgotten delivery id is new again; a kept one is still a duplicate.
    expect(await store.recordDelivery({ kind: "pr-closed", deliveryId: "old-done" } as unknown as BotEvent, 101 * DAY)).toBe(true);
    expect(await store.recordDelivery({ kind: "pr-closed", deliveryId: "new-done" } as unknown as BotEvent, 101 * DAY)).toBe(false);
  });
});
