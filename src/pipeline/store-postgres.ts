/**
 * The store port (see `store.ts`) on PostgreSQL (BERTH_DATABASE_URL): several replicas share one
 * database. Every method means what it means on SQLite (`store-sqlite.ts`); where SQLite is atomic
 * because it is one synchronous process, this adapter takes row locks (`FOR UPDATE`) inside a
 * transaction or writes in one conditional statement, so concurrent replicas see the same rules:
 * one claimer of a run or a delivery, one holder of a lease, fenced writes of a run's owner only.
 *
 * Records are stored as the same JSON text SQLite keeps (so a record reads back exactly as it was
 * written, key order included); BIGINT columns (ms timestamps, seqs) are read as JS numbers.
 */
import pg from "pg";
import type { Logger } from "pino";
import type { CommitStatus } from "../domain/ports.js";
import type { BotEvent, RepoRef, RunStatus, RunStageName } from "../domain/types.js";
import type { TestSuiteReport } from "../reports/junit.js";
import type { EnvironmentRecord, ImageRecord, PrKey, PullRecord, RunRecord, StageRecord } from "../domain/records.js";
import type { StopReason } from "./run-state.js";
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
import { redactDatabaseUrl } from "./database-url.js";
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

/** Key of the advisory lock that serialises migrations of replicas starting at once ("berth" in ASCII). */
const MIGRATION_LOCK = 0x6265727468;

/**
 * The schema, one version at a time. Fixed statements only: a new version is appended, an applied
 * one is never edited. Each version runs in the transaction that records it in `schema_migrations`.
 */
const MIGRATIONS: ReadonlyArray<{ version: number; statements: readonly string[] }> = [
  {
    version: 1,
    statements: [
      `CREATE TABLE inbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        delivery_id TEXT PRIMARY KEY,
        event_json TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        processed_at BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT,
        last_error TEXT,
        replay_key TEXT,
        claimed_by TEXT,
        claimed_until BIGINT
      )`,
      "CREATE INDEX inbox_pending ON inbox (processed_at, received_at, seq)",
      "CREATE UNIQUE INDEX inbox_replay ON inbox (replay_key) WHERE replay_key IS NOT NULL",
      `CREATE TABLE runs (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        pr_key TEXT NOT NULL,
        status TEXT NOT NULL,
        record_json TEXT NOT NULL,
        kind TEXT GENERATED ALWAYS AS (record_json::jsonb ->> 'kind') STORED,
        owner TEXT,
        lease_until BIGINT,
        stop_json TEXT
      )`,
      "CREATE INDEX runs_by_pr ON runs (pr_key, seq)",
      "CREATE INDEX runs_by_status ON runs (status, seq)",
      "CREATE UNIQUE INDEX runs_one_running_per_pr ON runs (pr_key) WHERE status = 'running'",
      `CREATE TABLE stages (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        detail_json TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
      )`,
      `CREATE TABLE pulls (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        pr_key TEXT PRIMARY KEY,
        record_json TEXT NOT NULL
      )`,
      `CREATE TABLE images (
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        ref TEXT PRIMARY KEY,
        repo_key TEXT NOT NULL,
        sha TEXT NOT NULL,
        digest TEXT NOT NULL,
        pushed BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      "CREATE INDEX images_by_sha ON images (repo_key, sha, created_at)",
      `CREATE TABLE environments (
        env_key TEXT PRIMARY KEY,
        repo_key TEXT NOT NULL,
        sha TEXT NOT NULL,
        record_json TEXT NOT NULL
      )`,
      "CREATE INDEX environments_by_sha ON environments (repo_key, sha)",
      `CREATE TABLE logs (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        text BYTEA NOT NULL
      )`,
      "CREATE INDEX logs_by_run ON logs (run_id)",
      "CREATE SEQUENCE status_outbox_seq AS BIGINT",
      `CREATE TABLE status_outbox (
        host TEXT NOT NULL,
        repo TEXT NOT NULL,
        sha TEXT NOT NULL,
        context TEXT NOT NULL,
        group_key TEXT NOT NULL,
        seq BIGINT NOT NULL,
        repo_json TEXT NOT NULL,
        pr_number INTEGER NOT NULL,
        status_json TEXT NOT NULL,
        enqueued_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT,
        last_error TEXT,
        PRIMARY KEY (host, repo, sha, context)
      )`,
      "CREATE INDEX status_outbox_by_group ON status_outbox (group_key, seq)",
      "CREATE INDEX status_outbox_by_seq ON status_outbox (seq)",
      `CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until BIGINT NOT NULL
      )`,
      `CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        pr_key TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        report_json TEXT NOT NULL
      )`,
      "CREATE INDEX reports_by_run ON reports (run_id)",
    ],
  },
  {
    version: 2,
    statements: [
      `CREATE TABLE notifications (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        message_json TEXT NOT NULL,
        enqueued_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT,
        last_error TEXT,
        done_at BIGINT
      )`,
      "CREATE INDEX notifications_pending ON notifications (channel, seq) WHERE done_at IS NULL",
    ],
  },
  {
    // The dashboard: runs by repository (a column computed from the record), its audit log.
    version: 3,
    statements: [
      `ALTER TABLE runs ADD COLUMN repo_key TEXT GENERATED ALWAYS AS (
        (record_json::jsonb -> 'repo' ->> 'host') || ':' || (record_json::jsonb -> 'repo' ->> 'owner') || '/' || (record_json::jsonb -> 'repo' ->> 'name')
      ) STORED`,
      "CREATE INDEX runs_by_repo ON runs (repo_key, seq)",
      `CREATE TABLE audit_log (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
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

/** BIGINT (int8, also what COUNT returns) as a JS number: ms timestamps and seqs fit in 2^53. */
function typeParsers(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  return types;
}

/** SQLSTATE of a unique violation. */
const UNIQUE_VIOLATION = "23505";

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e !== null && typeof e === "object" && e.code === UNIQUE_VIOLATION && e.constraint === constraint;
}

/** PostgreSQL text cannot hold NUL; error summaries from outside may. */
function pgText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}


/** `message` with the URL's password (as written and decoded) replaced. */
function redactMessage(message: string, url: string): string {
  const secrets = new Set<string>();
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      secrets.add(parsed.password);
      secrets.add(decodeURIComponent(parsed.password));
    }
  } catch {
    // An unparseable URL: no message names a part of it but the whole.
  }
  let out = message.replaceAll(url, redactDatabaseUrl(url));
  for (const secret of secrets) if (secret.length > 0) out = out.replaceAll(secret, "***");
  return out;
}

type Queryable = Pick<pg.PoolClient, "query">;






/** `owner/name` of the outbox key. */
function repoPath(repo: RepoRef): string {
  return `${repo.owner}/${repo.name}`;
}

/** PostgreSQL-backed state: one pool per process, any number of processes per database. */
export class PostgresStore implements Store {
  readonly kind = "postgres" as const;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger | undefined,
  ) {}

  /**
   * Connect to `url` and bring its schema up to date (replicas starting at once migrate one after
   * the other). Errors name the URL with its password replaced.
   */
  static async open(url: string, options: { log?: Logger } = {}): Promise<PostgresStore> {
    let pool: pg.Pool | undefined;
    try {
      pool = new pg.Pool({ connectionString: url, types: typeParsers(), application_name: "berth", connectionTimeoutMillis: 30_000 });
      const log = options.log;
      // An idle client whose connection dropped: the pool replaces it; without a listener it would crash the process.
      pool.on("error", (err) => log?.warn({ error: redactMessage(err.message, url) }, "store: idle PostgreSQL connection failed"));
      const store = new PostgresStore(pool, log);
      await store.migrate();
      return store;
    } catch (err) {
      await pool?.end().catch(() => undefined);
      const e = err as { message?: unknown; code?: unknown };
      const message = typeof e?.message === "string" ? e.message : String(err);
      // A new error: the original (or its cause) may hold the URL with its password.
      const failure = new Error(`cannot open the PostgreSQL store at ${redactDatabaseUrl(url)}: ${redactMessage(message, url)}`);
      if (typeof e?.code === "string") Object.assign(failure, { code: e.code });
      throw failure;
    }
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async migrate(): Promise<void> {
    await this.tx(async (c) => {
      await c.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await c.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      const applied = new Set((await c.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
      for (const { version, statements } of MIGRATIONS) {
        if (applied.has(version)) continue;
        for (const statement of statements) await c.query(statement);
        await c.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [version, Date.now()]);
        this.log?.info({ version }, "store: PostgreSQL schema migrated");
      }
    });
  }

  /** Run `work` in a transaction on one connection: committed when it returns, rolled back when it throws. */
  private async tx<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw err;
    } finally {
      // A connection that could not roll back is not given to the next caller.
      client.release(broken);
    }
  }

  // ---- inbox ---------------------------------------------------------------------------------

  async recordDelivery(event: BotEvent, now: number): Promise<boolean> {
    // No conflict target: a seen delivery id and a seen replay key are both refused.
    const result = await this.pool.query(
      "INSERT INTO inbox (delivery_id, event_json, received_at, replay_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
      [event.deliveryId, JSON.stringify(event), now, event.replayKey ?? null],
    );
    return result.rowCount === 1;
  }

  async pendingInbox(limit = 100): Promise<InboxItem[]> {
    const { rows } = await this.pool.query<InboxRow>(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE processed_at IS NULL ORDER BY received_at, seq LIMIT $1`, [limit]);
    return rows.map(inboxItem);
  }

  async getDelivery(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const { rows } = await this.pool.query<InboxRow>(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE delivery_id = $1`, [deliveryId]);
    return rows[0] ? inboxItem(rows[0]) : undefined;
  }

  async claimDelivery(deliveryId: string, owner: string, until: number, now: number): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE inbox SET claimed_by = $2, claimed_until = $3
       WHERE delivery_id = $1 AND processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $4 OR claimed_by = $2)`,
      [deliveryId, owner, until, now],
    );
    return result.rowCount === 1;
  }

  async releaseDelivery(deliveryId: string, owner: string): Promise<void> {
    await this.pool.query("UPDATE inbox SET claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1 AND claimed_by = $2", [deliveryId, owner]);
  }

  async deferDelivery(deliveryId: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    await this.pool.query(
      "UPDATE inbox SET attempts = $2, next_attempt_at = $3, last_error = $4, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1 AND processed_at IS NULL",
      [deliveryId, retry.attempts, retry.nextAttemptAt, pgText(retry.error)],
    );
  }

  async markProcessed(deliveryId: string, now: number, error?: string): Promise<void> {
    if (error === undefined) {
      await this.pool.query("UPDATE inbox SET processed_at = $2, next_attempt_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1", [deliveryId, now]);
    } else {
      await this.pool.query(
        "UPDATE inbox SET processed_at = $2, next_attempt_at = NULL, last_error = $3, claimed_by = NULL, claimed_until = NULL WHERE delivery_id = $1",
        [deliveryId, now, pgText(error)],
      );
    }
  }

  // ---- runs ----------------------------------------------------------------------------------

  async insertRun(run: RunRecord): Promise<boolean> {
    return this.tx(async (c) => {
      const inserted = await c.query("INSERT INTO runs (id, pr_key, status, record_json) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING", [
        run.id,
        run.prKey,
        run.status,
        JSON.stringify(run),
      ]);
      if (inserted.rowCount !== 1) return false;
      for (const name of run.plan) {
        await c.query("INSERT INTO stages (run_id, name, state, detail_json) VALUES ($1, $2, 'queued', '{}')", [run.id, name]);
      }
      return true;
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM runs WHERE id = $1", [id]);
    return runsOf(rows)[0];
  }

  /** Lock the run's row for the rest of the transaction; with a fence, throw unless its owner holds it. */
  private async lockRun(c: Queryable, runId: string, fence: RunFence | undefined): Promise<{ owner: string | null; record_json: string } | undefined> {
    const { rows } = await c.query<{ owner: string | null; record_json: string }>("SELECT owner, record_json FROM runs WHERE id = $1 FOR UPDATE", [runId]);
    const row = rows[0];
    if (fence && (!row || row.owner !== fence.owner)) throw new RunFencedError(runId, fence.owner);
    return row;
  }

  async updateRun(id: string, patch: RunPatch, fence?: RunFence): Promise<RunRecord> {
    return this.tx(async (c) => {
      const row = await this.lockRun(c, id, fence);
      if (!row) throw new Error(`run ${id} does not exist`);
      const next: RunRecord = { ...(JSON.parse(row.record_json) as RunRecord), ...patch };
      const json = JSON.stringify(next);
      if (next.status === "queued") {
        // Re-queued: nobody holds it until it is claimed again.
        await c.query("UPDATE runs SET status = $2, record_json = $3, owner = NULL, lease_until = NULL, stop_json = NULL WHERE id = $1", [id, next.status, json]);
      } else if (!LEASED_STATUSES.has(next.status)) {
        await c.query("UPDATE runs SET status = $2, record_json = $3, lease_until = NULL WHERE id = $1", [id, next.status, json]);
      } else {
        await c.query("UPDATE runs SET status = $2, record_json = $3 WHERE id = $1", [id, next.status, json]);
      }
      return next;
    });
  }

  async runsWithStatus(statuses: RunStatus[]): Promise<RunRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM runs WHERE status = ANY($1::text[]) ORDER BY seq", [statuses]);
    return runsOf(rows);
  }

  async activeRunsOf(prKey: PrKey): Promise<RunRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>(
      "SELECT record_json FROM runs WHERE pr_key = $1 AND status IN ('queued', 'running') ORDER BY seq",
      [prKey],
    );
    return runsOf(rows);
  }

  async latestPipelineRuns(prKey: PrKey, count: number): Promise<RunRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>(
      "SELECT record_json FROM runs WHERE pr_key = $1 AND kind = 'pipeline' ORDER BY seq DESC LIMIT $2",
      [prKey, count],
    );
    return runsOf(rows);
  }

  async claimRun(runId: string, owner: string, until: number, patch: RunPatch): Promise<RunRecord | undefined> {
    try {
      return await this.tx(async (c) => {
        // A run another replica is claiming right now is skipped, not waited for.
        const { rows } = await c.query<{ pr_key: string; status: RunStatus; record_json: string }>(
          "SELECT pr_key, status, record_json FROM runs WHERE id = $1 FOR UPDATE SKIP LOCKED",
          [runId],
        );
        const row = rows[0];
        if (!row || row.status !== "queued") return undefined;
        const busy = await c.query("SELECT 1 FROM runs WHERE pr_key = $1 AND status = 'running' LIMIT 1", [row.pr_key]);
        if (busy.rowCount !== 0) return undefined;
        const next: RunRecord = { ...(JSON.parse(row.record_json) as RunRecord), ...patch, status: "running" };
        // Two runs of one PR claimed at once both pass the check above; the partial unique index refuses the second.
        await c.query("UPDATE runs SET status = 'running', record_json = $2, owner = $3, lease_until = $4, stop_json = NULL WHERE id = $1", [
          runId,
          JSON.stringify(next),
          owner,
          until,
        ]);
        return next;
      });
    } catch (err) {
      if (isUniqueViolation(err, "runs_one_running_per_pr")) return undefined;
      throw err;
    }
  }

  async renewRuns(owner: string, runIds: string[], until: number): Promise<string[]> {
    if (runIds.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>(
      "UPDATE runs SET lease_until = $3 WHERE owner = $1 AND status = 'running' AND id = ANY($2::text[]) RETURNING id",
      [owner, runIds, until],
    );
    const renewed = new Set(rows.map((r) => r.id));
    return runIds.filter((id) => renewed.has(id));
  }

  async recentRuns(options: { limit: number; repoKey?: string }): Promise<RunRecord[]> {
    const { rows } = options.repoKey === undefined
      ? await this.pool.query<{ record_json: string }>("SELECT record_json FROM runs ORDER BY seq DESC LIMIT $1", [options.limit])
      : await this.pool.query<{ record_json: string }>("SELECT record_json FROM runs WHERE repo_key = $1 ORDER BY seq DESC LIMIT $2", [options.repoKey, options.limit]);
    return runsOf(rows);
  }

  async runLease(runId: string): Promise<RunLease | undefined> {
    const { rows } = await this.pool.query<{ owner: string | null; lease_until: number | null; stop_json: string | null }>(
      "SELECT owner, lease_until, stop_json FROM runs WHERE id = $1",
      [runId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const lease: RunLease = {};
    if (row.owner !== null) lease.owner = row.owner;
    if (row.lease_until !== null) lease.until = row.lease_until;
    if (row.stop_json !== null) lease.stopRequested = JSON.parse(row.stop_json) as StopReason;
    return lease;
  }

  async requestStop(runId: string, reason: StopReason): Promise<void> {
    await this.pool.query("UPDATE runs SET stop_json = $2 WHERE id = $1 AND status = 'running'", [runId, JSON.stringify(reason)]);
  }

  async expiredRuns(now: number): Promise<RunRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>(
      "SELECT record_json FROM runs WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1) ORDER BY seq",
      [now],
    );
    return runsOf(rows);
  }

  async takeOverRun(runId: string, owner: string, now: number, until: number): Promise<boolean> {
    // One statement: a concurrent taker waits for the row, then sees the renewed lease and updates nothing.
    const result = await this.pool.query(
      "UPDATE runs SET owner = $2, lease_until = $4 WHERE id = $1 AND status = 'running' AND (lease_until IS NULL OR lease_until < $3)",
      [runId, owner, now, until],
    );
    return result.rowCount === 1;
  }

  // ---- stages --------------------------------------------------------------------------------

  async stagesOf(runId: string): Promise<StageRecord[]> {
    // Name order, as SQLite returns them (its primary key index); COLLATE "C" compares bytes as SQLite does.
    const { rows } = await this.pool.query<StageRow>(
      `SELECT run_id, name, state, started_at, finished_at, detail_json FROM stages WHERE run_id = $1 ORDER BY name COLLATE "C"`,
      [runId],
    );
    return rows.map(stageRecord);
  }

  async updateStage(runId: string, name: RunStageName, patch: StagePatch, fence?: RunFence): Promise<void> {
    await this.tx(async (c) => {
      // The run's row stays locked until the stage is written: a take-over waits for this write or comes first and fences it.
      if (fence) await this.lockRun(c, runId, fence);
      const { rows } = await c.query<StageRow>(
        "SELECT run_id, name, state, started_at, finished_at, detail_json FROM stages WHERE run_id = $1 AND name = $2 FOR UPDATE",
        [runId, name],
      );
      const current = rows[0] ? stageRecord(rows[0]) : undefined;
      if (!current) throw new Error(`stage ${name} of run ${runId} does not exist`);
      const startedAt = patch.startedAt === undefined ? current.startedAt ?? null : patch.startedAt;
      const finishedAt = patch.finishedAt === undefined ? current.finishedAt ?? null : patch.finishedAt;
      const detail = patch.detail ?? current.detail;
      await c.query("UPDATE stages SET state = $3, started_at = $4, finished_at = $5, detail_json = $6 WHERE run_id = $1 AND name = $2", [
        runId,
        name,
        patch.state,
        startedAt,
        finishedAt,
        JSON.stringify(detail),
      ]);
    });
  }

  // ---- pulls ---------------------------------------------------------------------------------

  async getPull(prKey: PrKey): Promise<PullRecord | undefined> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM pulls WHERE pr_key = $1", [prKey]);
    return pullsOf(rows)[0];
  }

  async savePull(pull: PullRecord): Promise<void> {
    await this.writePull(this.pool, pull);
  }

  private async writePull(c: Queryable, pull: PullRecord): Promise<void> {
    await c.query("INSERT INTO pulls (pr_key, record_json) VALUES ($1, $2) ON CONFLICT (pr_key) DO UPDATE SET record_json = excluded.record_json", [
      pull.prKey,
      JSON.stringify(pull),
    ]);
  }

  async patchPull(prKey: PrKey, change: (pull: PullRecord) => PullRecord): Promise<PullRecord | undefined> {
    return this.tx(async (c) => {
      const { rows } = await c.query<{ record_json: string }>("SELECT record_json FROM pulls WHERE pr_key = $1 FOR UPDATE", [prKey]);
      const current = pullsOf(rows)[0];
      if (!current) return undefined;
      const next = change(current);
      await this.writePull(c, next);
      return next;
    });
  }

  async knowsRepo(repoKey: string): Promise<boolean> {
    const result = await this.pool.query("SELECT 1 FROM pulls WHERE starts_with(pr_key, $1) LIMIT 1", [`${repoKey}#`]);
    return result.rowCount !== 0;
  }

  async pullsWithPreview(): Promise<PullRecord[]> {
    // First-saved first, as SQLite's table scan returns them.
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM pulls ORDER BY seq");
    return pullsOf(rows).filter((p) => p.preview);
  }

  async openPulls(): Promise<PullRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM pulls ORDER BY seq");
    return pullsOf(rows).filter((p) => p.state === "open");
  }

  async openPullsAt(repoKey: string, sha: string): Promise<PullRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM pulls WHERE starts_with(pr_key, $1) ORDER BY seq", [`${repoKey}#`]);
    return pullsOf(rows).filter((p) => p.state === "open" && p.headSha === sha);
  }

  // ---- images and environments ---------------------------------------------------------------

  async recordImage(repoKey: string, sha: string, image: ImageRecord, now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO images (ref, repo_key, sha, digest, pushed, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (ref) DO UPDATE SET sha = excluded.sha, digest = excluded.digest, pushed = excluded.pushed, created_at = excluded.created_at`,
      [image.ref, repoKey, sha, image.digest, image.pushed, now],
    );
  }

  async imagesOf(repoKey: string, sha: string): Promise<ImageRecord[]> {
    const { rows } = await this.pool.query<{ ref: string; digest: string; pushed: boolean }>(
      "SELECT ref, digest, pushed FROM images WHERE repo_key = $1 AND sha = $2 ORDER BY created_at DESC, seq DESC",
      [repoKey, sha],
    );
    return rows.map((r) => ({ ref: r.ref, digest: r.digest, pushed: r.pushed }));
  }

  async saveEnvironment(record: EnvironmentRecord, repoKey: string): Promise<void> {
    await this.pool.query(
      "INSERT INTO environments (env_key, repo_key, sha, record_json) VALUES ($1, $2, $3, $4) ON CONFLICT (env_key) DO UPDATE SET sha = excluded.sha, record_json = excluded.record_json",
      [record.key, repoKey, record.sha, JSON.stringify(record)],
    );
  }

  async getEnvironment(key: PrKey): Promise<EnvironmentRecord | undefined> {
    const { rows } = await this.pool.query<{ record_json: string }>("SELECT record_json FROM environments WHERE env_key = $1", [key]);
    return rows[0] ? (JSON.parse(rows[0].record_json) as EnvironmentRecord) : undefined;
  }

  async listEnvironments(): Promise<EnvironmentRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>(`SELECT record_json FROM environments ORDER BY env_key COLLATE "C"`);
    return rows.map((r) => JSON.parse(r.record_json) as EnvironmentRecord);
  }

  async environmentsAt(repoKey: string, sha: string): Promise<EnvironmentRecord[]> {
    const { rows } = await this.pool.query<{ record_json: string }>(
      `SELECT record_json FROM environments WHERE repo_key = $1 AND sha = $2 ORDER BY env_key COLLATE "C"`,
      [repoKey, sha],
    );
    return rows.map((r) => JSON.parse(r.record_json) as EnvironmentRecord);
  }

  // ---- reports and logs ----------------------------------------------------------------------

  async saveReport(report: StoredReport): Promise<void> {
    await this.pool.query("INSERT INTO reports (id, run_id, pr_key, created_at, report_json) VALUES ($1, $2, $3, $4, $5)", [
      report.id,
      report.runId,
      report.prKey,
      report.createdAt,
      JSON.stringify(report.report),
    ]);
  }

  async getReport(id: string): Promise<StoredReport | undefined> {
    const { rows } = await this.pool.query<{ id: string; run_id: string; pr_key: string; created_at: number; report_json: string }>(
      "SELECT id, run_id, pr_key, created_at, report_json FROM reports WHERE id = $1",
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    return { id: row.id, runId: row.run_id, prKey: row.pr_key, createdAt: row.created_at, report: JSON.parse(row.report_json) as TestSuiteReport };
  }

  async saveLog(log: StoredLog): Promise<void> {
    // BYTEA: a stage's output may hold NUL, which PostgreSQL text cannot.
    await this.pool.query("INSERT INTO logs (id, run_id, stage, created_at, text) VALUES ($1, $2, $3, $4, $5)", [
      log.id,
      log.runId,
      log.stage,
      log.createdAt,
      Buffer.from(log.text, "utf8"),
    ]);
  }

  async getLog(id: string): Promise<StoredLog | undefined> {
    const { rows } = await this.pool.query<{ id: string; run_id: string; stage: string; created_at: number; text: Buffer }>(
      "SELECT id, run_id, stage, created_at, text FROM logs WHERE id = $1",
      [id],
    );
    const row = rows[0];
    return row ? { id: row.id, runId: row.run_id, stage: row.stage, createdAt: row.created_at, text: row.text.toString("utf8") } : undefined;
  }

  // ---- dashboard audit log ----

  async recordAudit(entry: Omit<AuditEntry, "seq">): Promise<void> {
    await this.pool.query("INSERT INTO audit_log (at, actor, repo_key, action, target, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
      entry.at,
      pgText(entry.actor),
      pgText(entry.repoKey),
      pgText(entry.action),
      pgText(entry.target),
      entry.result,
      entry.detail === undefined ? null : pgText(entry.detail),
    ]);
  }

  async auditLog(options: { limit: number; repoKeys?: readonly string[] }): Promise<AuditEntry[]> {
    if (options.repoKeys?.length === 0) return [];
    const { rows } = options.repoKeys === undefined
      ? await this.pool.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1`, [options.limit])
      : await this.pool.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE repo_key = ANY($1::text[]) ORDER BY seq DESC LIMIT $2`, [[...options.repoKeys], options.limit]);
    return rows.map(auditEntry);
  }

  // ---- status outbox -------------------------------------------------------------------------

  async enqueueStatus(item: { repo: RepoRef; sha: string; prNumber: number; status: CommitStatus; groupKey: string }, now: number): Promise<number> {
    // The sequence gives replicas enqueueing at once distinct, increasing seqs; a replacement keeps its backoff.
    const { rows } = await this.pool.query<{ seq: number }>(
      `INSERT INTO status_outbox (host, repo, sha, context, group_key, seq, repo_json, pr_number, status_json, enqueued_at, attempts)
       VALUES ($1, $2, $3, $4, $5, nextval('status_outbox_seq'), $6, $7, $8, $9, 0)
       ON CONFLICT (host, repo, sha, context) DO UPDATE SET group_key = excluded.group_key, seq = excluded.seq, repo_json = excluded.repo_json,
         pr_number = excluded.pr_number, status_json = excluded.status_json, enqueued_at = excluded.enqueued_at, attempts = 0, last_error = NULL
       RETURNING seq`,
      [item.repo.host, repoPath(item.repo), item.sha, item.status.context, item.groupKey, JSON.stringify(item.repo), item.prNumber, JSON.stringify(item.status), now],
    );
    const seq = rows[0]?.seq;
    if (seq === undefined) throw new Error("status outbox: the insert returned no seq");
    return seq;
  }

  async outboxStatuses(groupKey?: string): Promise<OutboxStatus[]> {
    const { rows } =
      groupKey === undefined
        ? await this.pool.query<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox ORDER BY seq`)
        : await this.pool.query<OutboxRow>(`SELECT ${OUTBOX_COLUMNS} FROM status_outbox WHERE group_key = $1 ORDER BY seq`, [groupKey]);
    return rows.map(outboxStatus);
  }

  async removeStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">): Promise<boolean> {
    const result = await this.pool.query("DELETE FROM status_outbox WHERE host = $1 AND repo = $2 AND sha = $3 AND context = $4 AND seq = $5", [
      item.repo.host,
      repoPath(item.repo),
      item.sha,
      item.status.context,
      item.seq,
    ]);
    return result.rowCount === 1;
  }

  async deferStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    await this.pool.query(
      "UPDATE status_outbox SET attempts = $6, next_attempt_at = $7, last_error = $8 WHERE host = $1 AND repo = $2 AND sha = $3 AND context = $4 AND seq = $5",
      [item.repo.host, repoPath(item.repo), item.sha, item.status.context, item.seq, retry.attempts, retry.nextAttemptAt, pgText(retry.error)],
    );
  }

  // ---- notification outbox -------------------------------------------------------------------

  async enqueueNotification(item: { key: string; channel: string; message: ChatMessage }, now: number): Promise<boolean> {
    const result = await this.pool.query(
      "INSERT INTO notifications (key, channel, message_json, enqueued_at, attempts) VALUES ($1, $2, $3, $4, 0) ON CONFLICT (key) DO NOTHING",
      [item.key, item.channel, pgText(JSON.stringify(item.message)), now],
    );
    return result.rowCount === 1;
  }

  async pendingNotifications(channel?: string): Promise<OutboxNotification[]> {
    const { rows } =
      channel === undefined
        ? await this.pool.query<NotificationRow>(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE done_at IS NULL ORDER BY seq`)
        : await this.pool.query<NotificationRow>(`SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE done_at IS NULL AND channel = $1 ORDER BY seq`, [channel]);
    return rows.map(outboxNotification);
  }

  async deferNotification(key: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void> {
    await this.pool.query("UPDATE notifications SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE key = $1 AND done_at IS NULL", [
      key,
      retry.attempts,
      retry.nextAttemptAt,
      pgText(retry.error),
    ]);
  }

  async finishNotification(key: string, now: number, error?: string): Promise<void> {
    await this.pool.query("UPDATE notifications SET done_at = $2, next_attempt_at = NULL, last_error = COALESCE($3, last_error) WHERE key = $1 AND done_at IS NULL", [
      key,
      now,
      error === undefined ? null : pgText(error),
    ]);
  }

  // ---- named leases --------------------------------------------------------------------------

  async acquireLease(name: string, owner: string, until: number, now: number): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.until < $4 OR leases.owner = excluded.owner`,
      [name, owner, until, now],
    );
    return result.rowCount === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.pool.query("DELETE FROM leases WHERE name = $1 AND owner = $2", [name, owner]);
  }

  // ---- retention -----------------------------------------------------------------------------

  async prune(before: number): Promise<{ deliveries: number; runs: number; reports: number; logs: number }> {
    return this.tx(async (c) => {
      const deliveries = (await c.query("DELETE FROM inbox WHERE processed_at IS NOT NULL AND received_at < $1", [before])).rowCount ?? 0;
      const stale = (
        await c.query<{ id: string }>(
          `SELECT id FROM runs r
           WHERE status NOT IN ('queued', 'running')
             AND COALESCE((record_json::jsonb ->> 'finishedAt')::numeric, (record_json::jsonb ->> 'createdAt')::numeric) < $1
             AND seq NOT IN (SELECT seq FROM runs n WHERE n.pr_key = r.pr_key ORDER BY seq DESC LIMIT 3)
             AND seq NOT IN (SELECT seq FROM runs p WHERE p.pr_key = r.pr_key AND p.kind = 'pipeline' ORDER BY seq DESC LIMIT 2)`,
          [before],
        )
      ).rows.map((r) => r.id);
      if (stale.length > 0) {
        // Runs before stages: the order fenced stage writes lock them in.
        await c.query("DELETE FROM runs WHERE id = ANY($1::text[])", [stale]);
        await c.query("DELETE FROM stages WHERE run_id = ANY($1::text[])", [stale]);
      }
      const reports = (await c.query("DELETE FROM reports WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = reports.run_id)", [before])).rowCount ?? 0;
      const logs = (await c.query("DELETE FROM logs WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = logs.run_id)", [before])).rowCount ?? 0;
      await c.query("DELETE FROM notifications WHERE done_at IS NOT NULL AND done_at < $1", [before]);
      return { deliveries, runs: stale.length, reports, logs };
    });
  }
}
