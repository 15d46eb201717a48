/**
 * Durable state in SQLite under BERTH_DATA_DIR: the webhook inbox (deliveries), runs, stages,
 * pull requests (comment ids, previews, approvals) and test reports.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { CommitStatus } from "../domain/ports.js";
import type { BotEvent, RepoRef, RunStatus, StageName, StageState } from "../domain/types.js";
import type { TestSuiteReport } from "../reports/junit.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import type { EnvironmentRecord, ImageRecord, PrKey, PullRecord, RunRecord, StageDetail, StageRecord } from "./records.js";

/** An event waiting in the inbox. */
export interface InboxItem {
  deliveryId: string;
  event: BotEvent;
  receivedAt: number;
  /** Attempts that failed with a transient error so far. */
  attempts: number;
  /** Not before this time (ms) after a transient failure; undefined = now. */
  nextAttemptAt?: number;
  /** The last failure's summary. */
  lastError?: string;
}

/** What the inbox knows of one delivery. */
export interface DeliveryRecord extends InboxItem {
  processedAt?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox (
  delivery_id TEXT PRIMARY KEY,
  event_json TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  processed_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_error TEXT,
  replay_key TEXT
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (processed_at, received_at);
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  pr_key TEXT NOT NULL,
  status TEXT NOT NULL,
  record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_pr ON runs (pr_key, seq);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, seq);
CREATE TABLE IF NOT EXISTS stages (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  detail_json TEXT NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS pulls (
  pr_key TEXT PRIMARY KEY,
  record_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
  ref TEXT PRIMARY KEY,
  repo_key TEXT NOT NULL,
  sha TEXT NOT NULL,
  digest TEXT NOT NULL,
  pushed INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_sha ON images (repo_key, sha, created_at);
CREATE TABLE IF NOT EXISTS environments (
  env_key TEXT PRIMARY KEY,
  repo_key TEXT NOT NULL,
  sha TEXT NOT NULL,
  record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS environments_by_sha ON environments (repo_key, sha);
CREATE TABLE IF NOT EXISTS logs (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  stage TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs (run_id);
CREATE TABLE IF NOT EXISTS status_outbox (
  host TEXT NOT NULL,
  repo TEXT NOT NULL,
  sha TEXT NOT NULL,
  context TEXT NOT NULL,
  group_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  repo_json TEXT NOT NULL,
  pr_number INTEGER NOT NULL,
  status_json TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_error TEXT,
  PRIMARY KEY (host, repo, sha, context)
);
CREATE INDEX IF NOT EXISTS status_outbox_by_group ON status_outbox (group_key, seq);
CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  pr_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  report_json TEXT NOT NULL
);
`;

/** The latest wanted commit status of one (host, owner/repo, sha, context), waiting to be written. */
export interface OutboxStatus {
  repo: RepoRef;
  sha: string;
  prNumber: number;
  status: CommitStatus;
  /** Which rows are written one at a time, in `seq` order (see `statusGroupKey`). */
  groupKey: string;
  /** Enqueue order; a replacement gets a new, higher one (the version a write acknowledges). */
  seq: number;
  enqueuedAt: number;
  /** Failed writes of this state so far. */
  attempts: number;
  /** Not before this time (ms) after a failure; undefined = now. */
  nextAttemptAt?: number;
  lastError?: string;
}

type OutboxRow = {
  repo_json: string;
  sha: string;
  pr_number: number;
  status_json: string;
  group_key: string;
  seq: number;
  enqueued_at: number;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
};

const OUTBOX_COLUMNS = "repo_json, sha, pr_number, status_json, group_key, seq, enqueued_at, attempts, next_attempt_at, last_error";

function outboxStatus(row: OutboxRow): OutboxStatus {
  const item: OutboxStatus = {
    repo: JSON.parse(row.repo_json) as RepoRef,
    sha: row.sha,
    prNumber: row.pr_number,
    status: JSON.parse(row.status_json) as CommitStatus,
    groupKey: row.group_key,
    seq: row.seq,
    enqueuedAt: row.enqueued_at,
    attempts: row.attempts,
  };
  if (row.next_attempt_at !== null) item.nextAttemptAt = row.next_attempt_at;
  if (row.last_error !== null) item.lastError = row.last_error;
  return item;
}

/** The full output of one stage of a run. */
export interface StoredLog {
  id: string;
  runId: string;
  stage: string;
  createdAt: number;
  text: string;
}

/** A stored test report with what the report page shows around it. */
export interface StoredReport {
  id: string;
  runId: string;
  prKey: PrKey;
  createdAt: number;
  report: TestSuiteReport;
}

/** Columns added to tables after their first release, with their definitions (see `migrate`). */
const ADDED_COLUMNS: ReadonlyArray<{ table: "inbox"; column: string; sql: string }> = [
  { table: "inbox", column: "attempts", sql: "ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0" },
  { table: "inbox", column: "next_attempt_at", sql: "ALTER TABLE inbox ADD COLUMN next_attempt_at INTEGER" },
  { table: "inbox", column: "last_error", sql: "ALTER TABLE inbox ADD COLUMN last_error TEXT" },
  { table: "inbox", column: "replay_key", sql: "ALTER TABLE inbox ADD COLUMN replay_key TEXT" },
];

/** `PRAGMA table_info` of each table that gained columns (fixed statements: no SQL is put together). */
const TABLE_INFO: Record<(typeof ADDED_COLUMNS)[number]["table"], string> = { inbox: "PRAGMA table_info(inbox)" };

/** Indexes on added columns: created after `migrate` has added them. */
const INDEXES_OF_ADDED_COLUMNS = `
CREATE UNIQUE INDEX IF NOT EXISTS inbox_replay ON inbox (replay_key) WHERE replay_key IS NOT NULL;
`;

type InboxRow = {
  delivery_id: string;
  event_json: string;
  received_at: number;
  processed_at: number | null;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
};

const INBOX_COLUMNS = "delivery_id, event_json, received_at, processed_at, attempts, next_attempt_at, last_error";

function inboxItem(row: InboxRow): DeliveryRecord {
  const item: DeliveryRecord = { deliveryId: row.delivery_id, event: JSON.parse(row.event_json) as BotEvent, receivedAt: row.received_at, attempts: row.attempts };
  if (row.next_attempt_at !== null) item.nextAttemptAt = row.next_attempt_at;
  if (row.last_error !== null) item.lastError = row.last_error;
  if (row.processed_at !== null) item.processedAt = row.processed_at;
  return item;
}

/** SQLite-backed state. One instance per process; better-sqlite3 is synchronous, so calls are atomic. */
export class Store {
  private readonly db: Database.Database;
  private lock?: DataDirLock;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.migrate();
    this.db.exec(INDEXES_OF_ADDED_COLUMNS);
  }

  /**
   * Open (creating the folder) `<dataDir>/berth.sqlite`, holding the data directory's lock until
   * `close()`. Throws DataDirLockedError (naming the directory and the holder's pid) when another
   * process has it open.
   */
  static open(dataDir: string): Store {
    mkdirSync(dataDir, { recursive: true });
    const lock = lockDataDir(dataDir);
    try {
      const store = new Store(join(dataDir, "berth.sqlite"));
      store.lock = lock;
      return store;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  close(): void {
    this.db.close();
    this.lock?.release();
  }

  /**
   * Bring a database written by an older berth up to the current schema: CREATE TABLE IF NOT EXISTS
   * leaves existing tables as they were, so columns added since are added here (idempotent).
   */
  private migrate(): void {
    const tx = this.db.transaction(() => {
      const known = new Map<string, Set<string>>();
      for (const { table, column, sql } of ADDED_COLUMNS) {
        let columns = known.get(table);
        if (!columns) {
          columns = new Set((this.db.prepare(TABLE_INFO[table]).all() as Array<{ name: string }>).map((c) => c.name));
          known.set(table, columns);
        }
        if (columns.has(column)) continue;
        this.db.prepare(sql).run();
        columns.add(column);
      }
    });
    tx();
  }

  // ---- inbox ---------------------------------------------------------------------------------

  /**
   * Record a delivery; false when this delivery id was seen before (a redelivery) or when its
   * `replayKey` was (the same signed content under a new delivery id: a replay). Replay keys are
   * kept as long as their delivery (see `prune`).
   */
  recordDelivery(event: BotEvent, now: number): boolean {
    const info = this.db
      .prepare("INSERT OR IGNORE INTO inbox (delivery_id, event_json, received_at, replay_key) VALUES (?, ?, ?, ?)")
      .run(event.deliveryId, JSON.stringify(event), now, event.replayKey ?? null);
    return info.changes === 1;
  }

  /** Deliveries not processed yet (waiting for a retry or not), oldest first. */
  pendingInbox(limit = 100): InboxItem[] {
    const rows = this.db
      .prepare(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE processed_at IS NULL ORDER BY received_at, rowid LIMIT ?`)
      .all(limit) as InboxRow[];
    return rows.map(inboxItem);
  }

  /** One delivery, processed or not. */
  getDelivery(deliveryId: string): DeliveryRecord | undefined {
    const row = this.db.prepare(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE delivery_id = ?`).get(deliveryId) as InboxRow | undefined;
    return row ? inboxItem(row) : undefined;
  }

  /** Leave a delivery in the inbox after a transient failure, to be tried again at `nextAttemptAt`. */
  deferDelivery(deliveryId: string, retry: { attempts: number; nextAttemptAt: number; error: string }): void {
    this.db
      .prepare("UPDATE inbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE delivery_id = ? AND processed_at IS NULL")
      .run(retry.attempts, retry.nextAttemptAt, retry.error, deliveryId);
  }

  /** Done with a delivery: processed, or given up on with `error`. */
  markProcessed(deliveryId: string, now: number, error?: string): void {
    if (error === undefined) {
      this.db.prepare("UPDATE inbox SET processed_at = ?, next_attempt_at = NULL WHERE delivery_id = ?").run(now, deliveryId);
    } else {
      this.db.prepare("UPDATE inbox SET processed_at = ?, next_attempt_at = NULL, last_error = ? WHERE delivery_id = ?").run(now, error, deliveryId);
    }
  }

  // ---- runs ----------------------------------------------------------------------------------

  /** Insert a run and a queued row for each planned stage. */
  insertRun(run: RunRecord): void {
    const tx = this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO runs (id, pr_key, status, record_json) VALUES (?, ?, ?, ?)")
        .run(run.id, run.prKey, run.status, JSON.stringify(run));
      for (const name of run.plan) {
        this.db
          .prepare("INSERT INTO stages (run_id, name, state, detail_json) VALUES (?, ?, 'queued', '{}')")
          .run(run.id, name);
      }
    });
    tx();
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare("SELECT record_json FROM runs WHERE id = ?").get(id) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as RunRecord) : undefined;
  }

  /** Save changed fields of a run. */
  updateRun(id: string, patch: Partial<Omit<RunRecord, "id" | "prKey">>): RunRecord {
    const current = this.getRun(id);
    if (!current) throw new Error(`run ${id} does not exist`);
    const next: RunRecord = { ...current, ...patch };
    this.db.prepare("UPDATE runs SET status = ?, record_json = ? WHERE id = ?").run(next.status, JSON.stringify(next), id);
    return next;
  }

  /** Runs in the given states, in queue order. */
  runsWithStatus(statuses: RunStatus[]): RunRecord[] {
    const marks = statuses.map(() => "?").join(",");
    const rows = this.db
      .prepare(`SELECT record_json FROM runs WHERE status IN (${marks}) ORDER BY seq`)
      .all(...statuses) as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as RunRecord);
  }

  /** Queued and running runs of one PR, oldest first. */
  activeRunsOf(prKey: PrKey): RunRecord[] {
    const rows = this.db
      .prepare("SELECT record_json FROM runs WHERE pr_key = ? AND status IN ('queued','running') ORDER BY seq")
      .all(prKey) as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as RunRecord);
  }

  /** The newest pipeline runs of a PR, newest first (the status comment shows the first). */
  latestPipelineRuns(prKey: PrKey, count: number): RunRecord[] {
    const rows = this.db
      .prepare("SELECT record_json FROM runs WHERE pr_key = ? AND json_extract(record_json, '$.kind') = 'pipeline' ORDER BY seq DESC LIMIT ?")
      .all(prKey, count) as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as RunRecord);
  }

  // ---- stages --------------------------------------------------------------------------------

  stagesOf(runId: string): StageRecord[] {
    const rows = this.db
      .prepare("SELECT run_id, name, state, started_at, finished_at, detail_json FROM stages WHERE run_id = ?")
      .all(runId) as Array<{ run_id: string; name: StageName; state: StageState; started_at: number | null; finished_at: number | null; detail_json: string }>;
    return rows.map((r) => ({
      runId: r.run_id,
      name: r.name,
      state: r.state,
      startedAt: r.started_at ?? undefined,
      finishedAt: r.finished_at ?? undefined,
      detail: JSON.parse(r.detail_json) as StageDetail,
    }));
  }

  updateStage(runId: string, name: StageName, patch: { state: StageState; startedAt?: number | null; finishedAt?: number | null; detail?: StageDetail }): void {
    const current = this.stagesOf(runId).find((s) => s.name === name);
    if (!current) throw new Error(`stage ${name} of run ${runId} does not exist`);
    const startedAt = patch.startedAt === undefined ? current.startedAt ?? null : patch.startedAt;
    const finishedAt = patch.finishedAt === undefined ? current.finishedAt ?? null : patch.finishedAt;
    const detail = patch.detail ?? current.detail;
    this.db
      .prepare("UPDATE stages SET state = ?, started_at = ?, finished_at = ?, detail_json = ? WHERE run_id = ? AND name = ?")
      .run(patch.state, startedAt, finishedAt, JSON.stringify(detail), runId, name);
  }

  // ---- pulls ---------------------------------------------------------------------------------

  getPull(prKey: PrKey): PullRecord | undefined {
    const row = this.db.prepare("SELECT record_json FROM pulls WHERE pr_key = ?").get(prKey) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as PullRecord) : undefined;
  }

  savePull(pull: PullRecord): void {
    this.db
      .prepare("INSERT INTO pulls (pr_key, record_json) VALUES (?, ?) ON CONFLICT(pr_key) DO UPDATE SET record_json = excluded.record_json")
      .run(pull.prKey, JSON.stringify(pull));
  }

  /** Apply a change to a stored pull; no-op when berth never saw the PR. */
  patchPull(prKey: PrKey, change: (pull: PullRecord) => PullRecord): PullRecord | undefined {
    const current = this.getPull(prKey);
    if (!current) return undefined;
    const next = change(current);
    this.savePull(next);
    return next;
  }

  /** Whether berth keeps a record of any PR of this repository (`github:owner/name`). */
  knowsRepo(repoKey: string): boolean {
    const prefix = `${repoKey}#`;
    return this.db.prepare("SELECT 1 FROM pulls WHERE substr(pr_key, 1, ?) = ? LIMIT 1").get(prefix.length, prefix) !== undefined;
  }

  /** Pulls that still have a preview. */
  pullsWithPreview(): PullRecord[] {
    const rows = this.db.prepare("SELECT record_json FROM pulls").all() as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as PullRecord).filter((p) => p.preview);
  }

  /** Open pulls whose head is `sha` (their comments show environments of that commit). */
  openPullsAt(repoKey: string, sha: string): PullRecord[] {
    const rows = this.db.prepare("SELECT record_json FROM pulls").all() as Array<{ record_json: string }>;
    return rows
      .map((r) => JSON.parse(r.record_json) as PullRecord)
      .filter((p) => p.prKey.startsWith(`${repoKey}#`) && p.state === "open" && p.headSha === sha);
  }

  // ---- images and environments ---------------------------------------------------------------

  /** Remember an image built or promoted for a commit. */
  recordImage(repoKey: string, sha: string, image: ImageRecord, now: number): void {
    this.db
      .prepare("INSERT INTO images (ref, repo_key, sha, digest, pushed, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ref) DO UPDATE SET sha = excluded.sha, digest = excluded.digest, pushed = excluded.pushed, created_at = excluded.created_at")
      .run(image.ref, repoKey, sha, image.digest, image.pushed ? 1 : 0, now);
  }

  /** Images of a commit, newest first. */
  imagesOf(repoKey: string, sha: string): ImageRecord[] {
    const rows = this.db
      .prepare("SELECT ref, digest, pushed FROM images WHERE repo_key = ? AND sha = ? ORDER BY created_at DESC, rowid DESC")
      .all(repoKey, sha) as Array<{ ref: string; digest: string; pushed: number }>;
    return rows.map((r) => ({ ref: r.ref, digest: r.digest, pushed: r.pushed === 1 }));
  }

  saveEnvironment(record: EnvironmentRecord, repoKey: string): void {
    this.db
      .prepare("INSERT INTO environments (env_key, repo_key, sha, record_json) VALUES (?, ?, ?, ?) ON CONFLICT(env_key) DO UPDATE SET sha = excluded.sha, record_json = excluded.record_json")
      .run(record.key, repoKey, record.sha, JSON.stringify(record));
  }

  getEnvironment(key: PrKey): EnvironmentRecord | undefined {
    const row = this.db.prepare("SELECT record_json FROM environments WHERE env_key = ?").get(key) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as EnvironmentRecord) : undefined;
  }

  /** Environments currently running this commit. */
  environmentsAt(repoKey: string, sha: string): EnvironmentRecord[] {
    const rows = this.db.prepare("SELECT record_json FROM environments WHERE repo_key = ? AND sha = ? ORDER BY env_key").all(repoKey, sha) as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as EnvironmentRecord);
  }

  // ---- reports -------------------------------------------------------------------------------

  saveReport(report: StoredReport): void {
    this.db
      .prepare("INSERT INTO reports (id, run_id, pr_key, created_at, report_json) VALUES (?, ?, ?, ?, ?)")
      .run(report.id, report.runId, report.prKey, report.createdAt, JSON.stringify(report.report));
  }

  getReport(id: string): StoredReport | undefined {
    const row = this.db.prepare("SELECT id, run_id, pr_key, created_at, report_json FROM reports WHERE id = ?").get(id) as
      | { id: string; run_id: string; pr_key: string; created_at: number; report_json: string }
      | undefined;
    if (!row) return undefined;
    return { id: row.id, runId: row.run_id, prKey: row.pr_key, createdAt: row.created_at, report: JSON.parse(row.report_json) as TestSuiteReport };
  }

  // ---- stage logs --------------------------------------------------------------------------

  saveLog(log: StoredLog): void {
    this.db.prepare("INSERT INTO logs (id, run_id, stage, created_at, text) VALUES (?, ?, ?, ?, ?)").run(log.id, log.runId, log.stage, log.createdAt, log.text);
  }

  getLog(id: string): StoredLog | undefined {
    const row = this.db.prepare("SELECT id, run_id, stage, created_at, text FROM logs WHERE id = ?").get(id) as
      | { id: string; run_id: string; stage: string; created_at: number; text: string }
      | undefined;
    return row ? { id: row.id, runId: row.run_id, stage: row.stage, createdAt: row.created_at, text: row.text } : undefined;
  }

  // ---- status outbox -------------------------------------------------------------------------

  /**
   * Want `status` on the commit: replaces the state of the same (host, repo, sha, context) whether
   * or not it was sent (coalescing), with a new `seq` and its own tries; a backoff still running
   * is kept. Returns the row's new `seq`.
   */
  enqueueStatus(item: { repo: RepoRef; sha: string; prNumber: number; status: CommitStatus; groupKey: string }, now: number): number {
    const tx = this.db.transaction(() => {
      const { next } = this.db.prepare("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM status_outbox").get() as { next: number };
      this.db
        .prepare(
          `INSERT INTO status_outbox (host, repo, sha, context, group_key, seq, repo_json, pr_number, status_json, enqueued_at, attempts)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
           ON CONFLICT (host, repo, sha, context) DO UPDATE SET group_key = excluded.group_key, seq = excluded.seq, repo_json = excluded.repo_json,
             pr_number = excluded.pr_number, status_json = excluded.status_json, enqueued_at = excluded.enqueued_at, attempts = 0, last_error = NULL`,
        )
        .run(item.repo.host, `${item.repo.owner}/${item.repo.name}`, item.sha, item.status.context, item.groupKey, next, JSON.stringify(item.repo), item.prNumber, JSON.stringify(item.status), now);
      return next;
    });
    return tx();
  }

  /** Statuses waiting to be written, in enqueue order (all of them, or one group's). */
  outboxStatuses(groupKey?: string): OutboxStatus[] {
    const rows = (
      groupKey === undefined
        ? this.db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox ORDER BY seq`).all()
        : this.db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox WHERE group_key = ? ORDER BY seq`).all(groupKey)
    ) as OutboxRow[];
    return rows.map(outboxStatus);
  }

  /** Remove the row written (or given up on) as version `seq`; false when it was replaced meanwhile (it stays, to be written). */
  removeStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">): boolean {
    return (
      this.db
        .prepare("DELETE FROM status_outbox WHERE host = ? AND repo = ? AND sha = ? AND context = ? AND seq = ?")
        .run(item.repo.host, `${item.repo.owner}/${item.repo.name}`, item.sha, item.status.context, item.seq).changes === 1
    );
  }

  /** Leave version `seq` of a row to be tried again at `nextAttemptAt`; no-op when it was replaced meanwhile. */
  deferStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">, retry: { attempts: number; nextAttemptAt: number; error: string }): void {
    this.db
      .prepare("UPDATE status_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE host = ? AND repo = ? AND sha = ? AND context = ? AND seq = ?")
      .run(retry.attempts, retry.nextAttemptAt, retry.error, item.repo.host, `${item.repo.owner}/${item.repo.name}`, item.sha, item.status.context, item.seq);
  }

  // ---- retention -----------------------------------------------------------------------------

  /**
   * Forget what finished before `before` and nothing shows any more: processed deliveries, runs
   * (with their stages) other than each PR's two newest pipeline runs and three newest runs of any
   * kind (the status comment and clean-up read those), and reports and stage logs of forgotten runs. Queued and
   * running runs, PRs, images and environments are kept. A forgotten delivery takes its replay key with
   * it: replays are refused for as long as deliveries are kept.
   */
  prune(before: number): { deliveries: number; runs: number; reports: number; logs: number } {
    const tx = this.db.transaction(() => {
      const deliveries = this.db.prepare("DELETE FROM inbox WHERE processed_at IS NOT NULL AND received_at < ?").run(before).changes;
      const stale = this.db
        .prepare(
          `SELECT id FROM runs r
           WHERE status NOT IN ('queued', 'running')
             AND COALESCE(json_extract(record_json, '$.finishedAt'), json_extract(record_json, '$.createdAt')) < ?
             AND seq NOT IN (SELECT seq FROM runs n WHERE n.pr_key = r.pr_key ORDER BY seq DESC LIMIT 3)
             AND seq NOT IN (SELECT seq FROM runs p WHERE p.pr_key = r.pr_key AND json_extract(p.record_json, '$.kind') = 'pipeline' ORDER BY seq DESC LIMIT 2)`,
        )
        .all(before) as Array<{ id: string }>;
      const deleteStages = this.db.prepare("DELETE FROM stages WHERE run_id = ?");
      const deleteRun = this.db.prepare("DELETE FROM runs WHERE id = ?");
      for (const { id } of stale) {
        deleteStages.run(id);
        deleteRun.run(id);
      }
      const reports = this.db.prepare("DELETE FROM reports WHERE created_at < ? AND run_id NOT IN (SELECT id FROM runs)").run(before).changes;
      const logs = this.db.prepare("DELETE FROM logs WHERE created_at < ? AND run_id NOT IN (SELECT id FROM runs)").run(before).changes;
      return { deliveries, runs: stale.length, reports, logs };
    });
    return tx();
  }
}
