/**
 * The store port (see `store.ts`) on SQLite under BERTH_DATA_DIR: the embedded default. One process
 * per data directory (enforced by a lock file); leases and fences keep the port's semantics so the
 * engine runs the same code on SQLite and on PostgreSQL.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { CommitStatus } from "../domain/ports.js";
import type { BotEvent, RepoRef, RunStatus, RunStageName } from "../domain/types.js";
import type { TestSuiteReport } from "../reports/junit.js";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import type { EnvironmentRecord, ImageRecord, PrKey, PullRecord, RunRecord, StageRecord } from "../domain/records.js";
import type { StopReason } from "./run-state.js";
import {
  AUDIT_COLUMNS,
  auditEntry,
  INBOX_COLUMNS,
  inboxItem,
  LEASED_STATUSES,
  NOTIFICATION_COLUMNS,
  OUTBOX_COLUMNS,
  outboxNotification,
  outboxStatus,
  pullsOf,
  runsOf,
  stageRecord,
  type AuditRow,
  type InboxRow,
  type NotificationRow,
  type OutboxRow,
  type StageRow,
} from "./store-rows.js";
import type { ChatMessage } from "../notify/channel.js";
import {
  RunFencedError,
  type AuditEntry,
  type DeliveryRecord,
  type InboxItem,
  type OutboxNotification,
  type OutboxStatus,
  type RunFence,
  type RunLease,
  type RunPatch,
  type StagePatch,
  type Store,
  type StoredLog,
  type StoredReport,
} from "./store.js";


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
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  pr_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  report_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notifications (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  message_json TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_error TEXT,
  done_at INTEGER
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications (done_at, channel, seq);
`;




/** Columns added to tables after their first release, with their definitions (see `migrate`). */
const ADDED_COLUMNS: ReadonlyArray<{ table: "inbox" | "runs"; column: string; sql: string }> = [
  { table: "inbox", column: "attempts", sql: "ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0" },
  { table: "inbox", column: "next_attempt_at", sql: "ALTER TABLE inbox ADD COLUMN next_attempt_at INTEGER" },
  { table: "inbox", column: "last_error", sql: "ALTER TABLE inbox ADD COLUMN last_error TEXT" },
  { table: "inbox", column: "replay_key", sql: "ALTER TABLE inbox ADD COLUMN replay_key TEXT" },
  { table: "inbox", column: "claimed_by", sql: "ALTER TABLE inbox ADD COLUMN claimed_by TEXT" },
  { table: "inbox", column: "claimed_until", sql: "ALTER TABLE inbox ADD COLUMN claimed_until INTEGER" },
  { table: "runs", column: "owner", sql: "ALTER TABLE runs ADD COLUMN owner TEXT" },
  { table: "runs", column: "lease_until", sql: "ALTER TABLE runs ADD COLUMN lease_until INTEGER" },
  { table: "runs", column: "stop_json", sql: "ALTER TABLE runs ADD COLUMN stop_json TEXT" },
];

/** `PRAGMA table_info` of each table that gained columns (fixed statements: no SQL is put together). */
const TABLE_INFO: Record<(typeof ADDED_COLUMNS)[number]["table"], string> = {
  inbox: "PRAGMA table_info(inbox)",
  runs: "PRAGMA table_info(runs)",
};

/** Indexes on added columns: created after `migrate` has added them. */
const INDEXES_OF_ADDED_COLUMNS = `
CREATE UNIQUE INDEX IF NOT EXISTS inbox_replay ON inbox (replay_key) WHERE replay_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running_per_pr ON runs (pr_key) WHERE status = 'running';
`;

/**
 * Schema changes after the tables above, one version at a time (`PRAGMA user_version` says which
 * ran). Fixed statements only: a new version is appended, an applied one is never edited. Each
 * version runs in one transaction with the bump of `user_version`.
 */
const VERSIONED_MIGRATIONS: ReadonlyArray<{ version: number; statements: readonly string[] }> = [
  {
    // The dashboard: runs by repository (a virtual column read from the record), its audit log.
    version: 1,
    statements: [
      `ALTER TABLE runs ADD COLUMN repo_key TEXT GENERATED ALWAYS AS (
        json_extract(record_json, '$.repo.host') || ':' || json_extract(record_json, '$.repo.owner') || '/' || json_extract(record_json, '$.repo.name')
      ) VIRTUAL`,
      "CREATE INDEX runs_by_repo ON runs (repo_key, seq)",
      `CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        repo_key TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        result TEXT NOT NULL,
        detail TEXT
      )`,
      "CREATE INDEX audit_log_by_repo ON audit_log (repo_key, seq)",
    ],
  },
];

/**
 * SQLite-backed state. One instance per process; better-sqlite3 is synchronous, so each method is
 * atomic (the promises it returns are already settled when the call returns).
 */
export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private lock?: DataDirLock;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.migrate();
    this.db.exec(INDEXES_OF_ADDED_COLUMNS);
    this.migrateVersions();
  }

  /**
   * Open (creating the folder) `<dataDir>/berth.sqlite`, holding the data directory's lock until
   * `close()`. Throws DataDirLockedError (naming the directory and the holder's pid) when another
   * process has it open.
   */
  static open(dataDir: string): SqliteStore {
    mkdirSync(dataDir, { recursive: true });
    const lock = lockDataDir(dataDir);
    try {
      const store = new SqliteStore(join(dataDir, "berth.sqlite"));
      store.lock = lock;
      return store;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
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

  /** Apply the versions of `VERSIONED_MIGRATIONS` this database has not run yet. */
  private migrateVersions(): void {
    const current = this.db.pragma("user_version", { simple: true }) as number;
    for (const { version, statements } of VERSIONED_MIGRATIONS) {
      if (version <= current) continue;
      this.db.transaction(() => {
        for (const statement of statements) this.db.prepare(statement).run();
        // PRAGMA takes no parameters; `version` is a number literal of the table above.
        this.db.pragma(`user_version = ${Number(version)}`);
      })();
    }
  }

  // ---- inbox ---------------------------------------------------------------------------------

  async recordDelivery(event: BotEvent, now: number): Promise<boolean> {
    const info = this.db
      .prepare("INSERT OR IGNORE INTO inbox (delivery_id, event_json, received_at, replay_key) VALUES (?, ?, ?, ?)")
      .run(event.deliveryId, JSON.stringify(event), now, event.replayKey ?? null);
    return info.changes === 1;
  }

  async pendingInbox(limit = 100): Promise<InboxItem[]> {
    const rows = this.db
      .prepare(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE processed_at IS NULL ORDER BY received_at, rowid LIMIT ?`)
      .all(limit) as InboxRow[];
    return rows.map(inboxItem);
  }

  async getDelivery(deliveryId: string): Promise<DeliveryRecord | undefined> {
    return this.delivery(deliveryId);
  }

  private delivery(deliveryId: string): DeliveryRecord | undefined {
    const row = this.db.prepare(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE delivery_id = ?`).get(deliveryId) as InboxRow | undefined;
    return row ? inboxItem(row) : undefined;
  }

  async claimDelivery(deliveryId: string, owner: string, until: number, now: number): Promise<boolean> {
    const info = this.db
      .prepare(
        `UPDATE inbox SET claimed_by = ?, claimed_until = ?
         WHERE delivery_id = ? AND processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)`,
      )
      .run(owner, until, deliveryId, now, owner);
    return info.changes === 1;
  }

  async releaseDelivery(deliveryId: string, owner: string): Promise<void> {
    this.db.prepare("UPDATE inbox SET claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ? AND claimed_by = ?").run(deliveryId, owner);
  }

  async deferDelivery(deliveryId: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    this.db
      .prepare(
        "UPDATE inbox SET attempts = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ? AND processed_at IS NULL",
      )
      .run(retry.attempts, retry.nextAttemptAt, retry.error, deliveryId);
  }

  async markProcessed(deliveryId: string, now: number, error?: string): Promise<void> {
    if (error === undefined) {
      this.db
        .prepare("UPDATE inbox SET processed_at = ?, next_attempt_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ?")
        .run(now, deliveryId);
    } else {
      this.db
        .prepare("UPDATE inbox SET processed_at = ?, next_attempt_at = NULL, last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = ?")
        .run(now, error, deliveryId);
    }
  }

  // ---- runs ----------------------------------------------------------------------------------

  async insertRun(run: RunRecord): Promise<boolean> {
    const tx = this.db.transaction(() => {
      const info = this.db
        .prepare("INSERT OR IGNORE INTO runs (id, pr_key, status, record_json) VALUES (?, ?, ?, ?)")
        .run(run.id, run.prKey, run.status, JSON.stringify(run));
      if (info.changes !== 1) return false;
      for (const name of run.plan) {
        this.db.prepare("INSERT INTO stages (run_id, name, state, detail_json) VALUES (?, ?, 'queued', '{}')").run(run.id, name);
      }
      return true;
    });
    return tx();
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.run(id);
  }

  private run(id: string): RunRecord | undefined {
    const row = this.db.prepare("SELECT record_json FROM runs WHERE id = ?").get(id) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as RunRecord) : undefined;
  }

  private assertFence(runId: string, fence: RunFence | undefined): void {
    if (!fence) return;
    const row = this.db.prepare("SELECT owner FROM runs WHERE id = ?").get(runId) as { owner: string | null } | undefined;
    if (!row || row.owner !== fence.owner) throw new RunFencedError(runId, fence.owner);
  }

  async updateRun(id: string, patch: RunPatch, fence?: RunFence): Promise<RunRecord> {
    const tx = this.db.transaction(() => {
      this.assertFence(id, fence);
      const current = this.run(id);
      if (!current) throw new Error(`run ${id} does not exist`);
      const next: RunRecord = { ...current, ...patch };
      if (next.status === "queued") {
        this.db.prepare("UPDATE runs SET status = ?, record_json = ?, owner = NULL, lease_until = NULL, stop_json = NULL WHERE id = ?").run(next.status, JSON.stringify(next), id);
      } else if (!LEASED_STATUSES.has(next.status)) {
        this.db.prepare("UPDATE runs SET status = ?, record_json = ?, lease_until = NULL WHERE id = ?").run(next.status, JSON.stringify(next), id);
      } else {
        this.db.prepare("UPDATE runs SET status = ?, record_json = ? WHERE id = ?").run(next.status, JSON.stringify(next), id);
      }
      return next;
    });
    return tx();
  }

  async runsWithStatus(statuses: RunStatus[]): Promise<RunRecord[]> {
    const marks = statuses.map(() => "?").join(",");
    const rows = this.db
      .prepare(`SELECT record_json FROM runs WHERE status IN (${marks}) ORDER BY seq`)
      .all(...statuses) as Array<{ record_json: string }>;
    return runsOf(rows);
  }

  async activeRunsOf(prKey: PrKey): Promise<RunRecord[]> {
    const rows = this.db
      .prepare("SELECT record_json FROM runs WHERE pr_key = ? AND status IN ('queued','running') ORDER BY seq")
      .all(prKey) as Array<{ record_json: string }>;
    return runsOf(rows);
  }

  async latestPipelineRuns(prKey: PrKey, count: number): Promise<RunRecord[]> {
    const rows = this.db
      .prepare("SELECT record_json FROM runs WHERE pr_key = ? AND json_extract(record_json, '$.kind') = 'pipeline' ORDER BY seq DESC LIMIT ?")
      .all(prKey, count) as Array<{ record_json: string }>;
    return runsOf(rows);
  }

  async claimRun(runId: string, owner: string, until: number, patch: RunPatch): Promise<RunRecord | undefined> {
    const tx = this.db.transaction(() => {
      const row = this.db.prepare("SELECT pr_key, status, record_json FROM runs WHERE id = ?").get(runId) as
        | { pr_key: string; status: RunStatus; record_json: string }
        | undefined;
      if (!row || row.status !== "queued") return undefined;
      const busy = this.db.prepare("SELECT 1 FROM runs WHERE pr_key = ? AND status = 'running' LIMIT 1").get(row.pr_key);
      if (busy) return undefined;
      const next: RunRecord = { ...(JSON.parse(row.record_json) as RunRecord), ...patch, status: "running" };
      this.db
        .prepare("UPDATE runs SET status = 'running', record_json = ?, owner = ?, lease_until = ?, stop_json = NULL WHERE id = ?")
        .run(JSON.stringify(next), owner, until, runId);
      return next;
    });
    return tx();
  }

  async renewRuns(owner: string, runIds: string[], until: number): Promise<string[]> {
    const renew = this.db.prepare("UPDATE runs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'");
    const tx = this.db.transaction(() => runIds.filter((id) => renew.run(until, id, owner).changes === 1));
    return tx();
  }

  async recentRuns(options: { limit: number; repoKey?: string }): Promise<RunRecord[]> {
    const rows = options.repoKey === undefined
      ? this.db.prepare("SELECT record_json FROM runs ORDER BY seq DESC LIMIT ?").all(options.limit)
      : this.db.prepare("SELECT record_json FROM runs WHERE repo_key = ? ORDER BY seq DESC LIMIT ?").all(options.repoKey, options.limit);
    return runsOf(rows as Array<{ record_json: string }>);
  }

  async runLease(runId: string): Promise<RunLease | undefined> {
    const row = this.db.prepare("SELECT owner, lease_until, stop_json FROM runs WHERE id = ?").get(runId) as
      | { owner: string | null; lease_until: number | null; stop_json: string | null }
      | undefined;
    if (!row) return undefined;
    const lease: RunLease = {};
    if (row.owner !== null) lease.owner = row.owner;
    if (row.lease_until !== null) lease.until = row.lease_until;
    if (row.stop_json !== null) lease.stopRequested = JSON.parse(row.stop_json) as StopReason;
    return lease;
  }

  async requestStop(runId: string, reason: StopReason): Promise<void> {
    this.db.prepare("UPDATE runs SET stop_json = ? WHERE id = ? AND status = 'running'").run(JSON.stringify(reason), runId);
  }

  async expiredRuns(now: number): Promise<RunRecord[]> {
    const rows = this.db
      .prepare("SELECT record_json FROM runs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq")
      .all(now) as Array<{ record_json: string }>;
    return runsOf(rows);
  }

  async takeOverRun(runId: string, owner: string, now: number, until: number): Promise<boolean> {
    return (
      this.db
        .prepare("UPDATE runs SET owner = ?, lease_until = ? WHERE id = ? AND status = 'running' AND (lease_until IS NULL OR lease_until < ?)")
        .run(owner, until, runId, now).changes === 1
    );
  }

  // ---- stages --------------------------------------------------------------------------------

  async stagesOf(runId: string): Promise<StageRecord[]> {
    return this.stages(runId);
  }

  private stages(runId: string): StageRecord[] {
    const rows = this.db
      .prepare("SELECT run_id, name, state, started_at, finished_at, detail_json FROM stages WHERE run_id = ?")
      .all(runId) as StageRow[];
    return rows.map(stageRecord);
  }

  async updateStage(runId: string, name: RunStageName, patch: StagePatch, fence?: RunFence): Promise<void> {
    const tx = this.db.transaction(() => {
      this.assertFence(runId, fence);
      const current = this.stages(runId).find((s) => s.name === name);
      if (!current) throw new Error(`stage ${name} of run ${runId} does not exist`);
      const startedAt = patch.startedAt === undefined ? current.startedAt ?? null : patch.startedAt;
      const finishedAt = patch.finishedAt === undefined ? current.finishedAt ?? null : patch.finishedAt;
      const detail = patch.detail ?? current.detail;
      this.db
        .prepare("UPDATE stages SET state = ?, started_at = ?, finished_at = ?, detail_json = ? WHERE run_id = ? AND name = ?")
        .run(patch.state, startedAt, finishedAt, JSON.stringify(detail), runId, name);
    });
    tx();
  }

  // ---- pulls ---------------------------------------------------------------------------------

  async getPull(prKey: PrKey): Promise<PullRecord | undefined> {
    return this.pull(prKey);
  }

  private pull(prKey: PrKey): PullRecord | undefined {
    const row = this.db.prepare("SELECT record_json FROM pulls WHERE pr_key = ?").get(prKey) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as PullRecord) : undefined;
  }

  async savePull(pull: PullRecord): Promise<void> {
    this.writePull(pull);
  }

  private writePull(pull: PullRecord): void {
    this.db
      .prepare("INSERT INTO pulls (pr_key, record_json) VALUES (?, ?) ON CONFLICT(pr_key) DO UPDATE SET record_json = excluded.record_json")
      .run(pull.prKey, JSON.stringify(pull));
  }

  async patchPull(prKey: PrKey, change: (pull: PullRecord) => PullRecord): Promise<PullRecord | undefined> {
    const tx = this.db.transaction(() => {
      const current = this.pull(prKey);
      if (!current) return undefined;
      const next = change(current);
      this.writePull(next);
      return next;
    });
    return tx();
  }

  async knowsRepo(repoKey: string): Promise<boolean> {
    const prefix = `${repoKey}#`;
    return this.db.prepare("SELECT 1 FROM pulls WHERE substr(pr_key, 1, ?) = ? LIMIT 1").get(prefix.length, prefix) !== undefined;
  }

  async pullsWithPreview(): Promise<PullRecord[]> {
    const rows = this.db.prepare("SELECT record_json FROM pulls").all() as Array<{ record_json: string }>;
    return pullsOf(rows).filter((p) => p.preview);
  }

  async openPulls(): Promise<PullRecord[]> {
    const rows = this.db.prepare("SELECT record_json FROM pulls ORDER BY rowid").all() as Array<{ record_json: string }>;
    return pullsOf(rows).filter((p) => p.state === "open");
  }

  async openPullsAt(repoKey: string, sha: string): Promise<PullRecord[]> {
    const rows = this.db.prepare("SELECT record_json FROM pulls").all() as Array<{ record_json: string }>;
    return pullsOf(rows).filter((p) => p.prKey.startsWith(`${repoKey}#`) && p.state === "open" && p.headSha === sha);
  }

  // ---- images and environments ---------------------------------------------------------------

  async recordImage(repoKey: string, sha: string, image: ImageRecord, now: number): Promise<void> {
    this.db
      .prepare(
        "INSERT INTO images (ref, repo_key, sha, digest, pushed, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ref) DO UPDATE SET sha = excluded.sha, digest = excluded.digest, pushed = excluded.pushed, created_at = excluded.created_at",
      )
      .run(image.ref, repoKey, sha, image.digest, image.pushed ? 1 : 0, now);
  }

  async imagesOf(repoKey: string, sha: string): Promise<ImageRecord[]> {
    const rows = this.db
      .prepare("SELECT ref, digest, pushed FROM images WHERE repo_key = ? AND sha = ? ORDER BY created_at DESC, rowid DESC")
      .all(repoKey, sha) as Array<{ ref: string; digest: string; pushed: number }>;
    return rows.map((r) => ({ ref: r.ref, digest: r.digest, pushed: r.pushed === 1 }));
  }

  async saveEnvironment(record: EnvironmentRecord, repoKey: string): Promise<void> {
    this.db
      .prepare("INSERT INTO environments (env_key, repo_key, sha, record_json) VALUES (?, ?, ?, ?) ON CONFLICT(env_key) DO UPDATE SET sha = excluded.sha, record_json = excluded.record_json")
      .run(record.key, repoKey, record.sha, JSON.stringify(record));
  }

  async getEnvironment(key: PrKey): Promise<EnvironmentRecord | undefined> {
    const row = this.db.prepare("SELECT record_json FROM environments WHERE env_key = ?").get(key) as { record_json: string } | undefined;
    return row ? (JSON.parse(row.record_json) as EnvironmentRecord) : undefined;
  }

  async listEnvironments(): Promise<EnvironmentRecord[]> {
    const rows = this.db.prepare("SELECT record_json FROM environments ORDER BY env_key").all() as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as EnvironmentRecord);
  }

  async environmentsAt(repoKey: string, sha: string): Promise<EnvironmentRecord[]> {
    const rows = this.db.prepare("SELECT record_json FROM environments WHERE repo_key = ? AND sha = ? ORDER BY env_key").all(repoKey, sha) as Array<{ record_json: string }>;
    return rows.map((r) => JSON.parse(r.record_json) as EnvironmentRecord);
  }

  // ---- reports -------------------------------------------------------------------------------

  async saveReport(report: StoredReport): Promise<void> {
    this.db
      .prepare("INSERT INTO reports (id, run_id, pr_key, created_at, report_json) VALUES (?, ?, ?, ?, ?)")
      .run(report.id, report.runId, report.prKey, report.createdAt, JSON.stringify(report.report));
  }

  async getReport(id: string): Promise<StoredReport | undefined> {
    const row = this.db.prepare("SELECT id, run_id, pr_key, created_at, report_json FROM reports WHERE id = ?").get(id) as
      | { id: string; run_id: string; pr_key: string; created_at: number; report_json: string }
      | undefined;
    if (!row) return undefined;
    return { id: row.id, runId: row.run_id, prKey: row.pr_key, createdAt: row.created_at, report: JSON.parse(row.report_json) as TestSuiteReport };
  }

  // ---- stage logs --------------------------------------------------------------------------

  async saveLog(log: StoredLog): Promise<void> {
    this.db.prepare("INSERT INTO logs (id, run_id, stage, created_at, text) VALUES (?, ?, ?, ?, ?)").run(log.id, log.runId, log.stage, log.createdAt, log.text);
  }

  async getLog(id: string): Promise<StoredLog | undefined> {
    const row = this.db.prepare("SELECT id, run_id, stage, created_at, text FROM logs WHERE id = ?").get(id) as
      | { id: string; run_id: string; stage: string; created_at: number; text: string }
      | undefined;
    return row ? { id: row.id, runId: row.run_id, stage: row.stage, createdAt: row.created_at, text: row.text } : undefined;
  }

  // ---- dashboard audit log -------------------------------------------------------------------

  async recordAudit(entry: Omit<AuditEntry, "seq">): Promise<void> {
    this.db
      .prepare("INSERT INTO audit_log (at, actor, repo_key, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(entry.at, entry.actor, entry.repoKey, entry.action, entry.target, entry.result, entry.detail ?? null);
  }

  async auditLog(options: { limit: number; repoKeys?: readonly string[] }): Promise<AuditEntry[]> {
    if (options.repoKeys?.length === 0) return [];
    const rows = options.repoKeys === undefined
      ? this.db.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?`).all(options.limit)
      : this.db
          .prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE repo_key IN (SELECT value FROM json_each(?)) ORDER BY seq DESC LIMIT ?`)
          .all(JSON.stringify(options.repoKeys), options.limit);
    return (rows as AuditRow[]).map(auditEntry);
  }

  // ---- status outbox -------------------------------------------------------------------------

  async enqueueStatus(item: { repo: RepoRef; sha: string; prNumber: number; status: CommitStatus; groupKey: string }, now: number): Promise<number> {
    const tx = this.db.transaction(() => {
      // A counter that never goes back: a removed row's seq is never handed out again (a stale write could match it).
      const { next } = this.db
        .prepare(
          `INSERT INTO counters (name, value) VALUES ('outbox_seq', (SELECT COALESCE(MAX(seq), 0) + 1 FROM status_outbox))
           ON CONFLICT (name) DO UPDATE SET value = MAX(counters.value + 1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM status_outbox)) RETURNING value AS next`,
        )
        .get() as { next: number };
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

  async outboxStatuses(groupKey?: string): Promise<OutboxStatus[]> {
    const rows = (
      groupKey === undefined
        ? this.db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox ORDER BY seq`).all()
        : this.db.prepare(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox WHERE group_key = ? ORDER BY seq`).all(groupKey)
    ) as OutboxRow[];
    return rows.map(outboxStatus);
  }

  async removeStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">): Promise<boolean> {
    return (
      this.db
        .prepare("DELETE FROM status_outbox WHERE host = ? AND repo = ? AND sha = ? AND context = ? AND seq = ?")
        .run(item.repo.host, `${item.repo.owner}/${item.repo.name}`, item.sha, item.status.context, item.seq).changes === 1
    );
  }

  async deferStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    this.db
      .prepare("UPDATE status_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE host = ? AND repo = ? AND sha = ? AND context = ? AND seq = ?")
      .run(retry.attempts, retry.nextAttemptAt, retry.error, item.repo.host, `${item.repo.owner}/${item.repo.name}`, item.sha, item.status.context, item.seq);
  }

  // ---- notification outbox -------------------------------------------------------------------

  async enqueueNotification(item: { key: string; channel: string; message: ChatMessage }, now: number): Promise<boolean> {
    return (
      this.db
        .prepare("INSERT OR IGNORE INTO notifications (key, channel, message_json, enqueued_at, attempts) VALUES (?, ?, ?, ?, 0)")
        .run(item.key, item.channel, JSON.stringify(item.message), now).changes === 1
    );
  }

  async pendingNotifications(channel?: string): Promise<OutboxNotification[]> {
    const rows = (
      channel === undefined
        ? this.db.prepare(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE done_at IS NULL ORDER BY seq`).all()
        : this.db.prepare(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE done_at IS NULL AND channel = ? ORDER BY seq`).all(channel)
    ) as NotificationRow[];
    return rows.map(outboxNotification);
  }

  async deferNotification(key: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    this.db
      .prepare("UPDATE notifications SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE key = ? AND done_at IS NULL")
      .run(retry.attempts, retry.nextAttemptAt, retry.error, key);
  }

  async finishNotification(key: string, now: number, error?: string): Promise<void> {
    this.db
      .prepare("UPDATE notifications SET done_at = ?, next_attempt_at = NULL, last_error = COALESCE(?, last_error) WHERE key = ? AND done_at IS NULL")
      .run(now, error ?? null, key);
  }

  // ---- named leases --------------------------------------------------------------------------

  async acquireLease(name: string, owner: string, until: number, now: number): Promise<boolean> {
    return (
      this.db
        .prepare(
          `INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.until < ? OR leases.owner = excluded.owner`,
        )
        .run(name, owner, until, now).changes === 1
    );
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    this.db.prepare("DELETE FROM leases WHERE name = ? AND owner = ?").run(name, owner);
  }

  // ---- retention -----------------------------------------------------------------------------

  async prune(before: number): Promise<{ deliveries: number; runs: number; reports: number; logs: number }> {
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
      this.db.prepare("DELETE FROM notifications WHERE done_at IS NOT NULL AND done_at < ?").run(before);
      return { deliveries, runs: stale.length, reports, logs };
    });
    return tx();
  }
}
