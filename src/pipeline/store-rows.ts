/**
 * Row shapes and their mapping to records, shared by the SQLite and PostgreSQL adapters (both keep
 * the same columns; only the SQL around them differs).
 */
import type { CommitStatus } from "../domain/ports.js";
import type { PullRecord, RunRecord, StageDetail, StageRecord } from "../domain/records.js";
import type { BotEvent, RepoRef, RunStageName, RunStatus, StageState } from "../domain/types.js";
import type { ChatMessage } from "../notify/channel.js";
import type { AuditEntry, DeliveryRecord, OutboxNotification, OutboxStatus } from "./store.js";

export type InboxRow = {
  delivery_id: string;
  event_json: string;
  received_at: number;
  processed_at: number | null;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
};

export const INBOX_COLUMNS = "delivery_id, event_json, received_at, processed_at, attempts, next_attempt_at, last_error";

export function inboxItem(row: InboxRow): DeliveryRecord {
  const item: DeliveryRecord = { deliveryId: row.delivery_id, event: JSON.parse(row.event_json) as BotEvent, receivedAt: row.received_at, attempts: row.attempts };
  if (row.next_attempt_at !== null) item.nextAttemptAt = row.next_attempt_at;
  if (row.last_error !== null) item.lastError = row.last_error;
  if (row.processed_at !== null) item.processedAt = row.processed_at;
  return item;
}

export type OutboxRow = {
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

export const OUTBOX_COLUMNS = "repo_json, sha, pr_number, status_json, group_key, seq, enqueued_at, attempts, next_attempt_at, last_error";

export function outboxStatus(row: OutboxRow): OutboxStatus {
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

export type NotificationRow = {
  key: string;
  channel: string;
  message_json: string;
  seq: number;
  enqueued_at: number;
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
};

export const NOTIFICATION_COLUMNS = "key, channel, message_json, seq, enqueued_at, attempts, next_attempt_at, last_error";

export function outboxNotification(row: NotificationRow): OutboxNotification {
  const item: OutboxNotification = {
    key: row.key,
    channel: row.channel,
    message: JSON.parse(row.message_json) as ChatMessage,
    seq: row.seq,
    enqueuedAt: row.enqueued_at,
    attempts: row.attempts,
  };
  if (row.next_attempt_at !== null) item.nextAttemptAt = row.next_attempt_at;
  if (row.last_error !== null) item.lastError = row.last_error;
  return item;
}

export type StageRow = { run_id: string; name: RunStageName; state: StageState; started_at: number | null; finished_at: number | null; detail_json: string };

export function stageRecord(r: StageRow): StageRecord {
  return {
    runId: r.run_id,
    name: r.name,
    state: r.state,
    startedAt: r.started_at ?? undefined,
    finishedAt: r.finished_at ?? undefined,
    detail: JSON.parse(r.detail_json) as StageDetail,
  };
}

export function runsOf(rows: Array<{ record_json: string }>): RunRecord[] {
  return rows.map((r) => JSON.parse(r.record_json) as RunRecord);
}

export function pullsOf(rows: Array<{ record_json: string }>): PullRecord[] {
  return rows.map((r) => JSON.parse(r.record_json) as PullRecord);
}

/** Statuses in which a run keeps its lease; any other ends it (its owner stays, for history). */
export const LEASED_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>(["queued", "running"]);

export type AuditRow = { seq: number; at: number; actor: string; repo_key: string; action: string; target: string; result: AuditEntry["result"]; detail: string | null };

export const AUDIT_COLUMNS = "seq, at, actor, repo_key, action, target, result, detail";

export function auditEntry(row: AuditRow): AuditEntry {
  const entry: AuditEntry = { seq: row.seq, at: row.at, actor: row.actor, repoKey: row.repo_key, action: row.action, target: row.target, result: row.result };
  if (row.detail !== null) entry.detail = row.detail;
  return entry;
}
