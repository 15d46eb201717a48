/**
 * The store port: durable state of the webhook inbox (deliveries), runs, stages, pull requests
 * (comment ids, previews, approvals), images, environments, test reports, stage logs and the
 * commit-status outbox. Two adapters: SQLite under BERTH_DATA_DIR (`store-sqlite.ts`, the embedded
 * default, one process) and PostgreSQL (`store-postgres.ts`, BERTH_DATABASE_URL, several replicas).
 *
 * Several replicas share one database, so work is taken with leases: a delivery is claimed before
 * it is dispatched, a run before it executes (its owner renews the lease while it runs; a replica
 * that dies stops renewing and another one takes the run over), and singleton work (reconcile,
 * comment writes of one PR, one group of status writes) takes a named lease. Writes of an executing
 * run pass a fence (its owner): a replica that lost the run cannot overwrite what the new owner wrote.
 */
import type { CommitStatus } from "../domain/ports.js";
import type { ChatMessage } from "../notify/channel.js";
import type { BotEvent, RepoRef, RunStatus, RunStageName, StageState } from "../domain/types.js";
import type { TestSuiteReport } from "../reports/junit.js";
import type { EnvironmentRecord, ImageRecord, PrKey, PullRecord, RunRecord, StageDetail, StageRecord } from "../domain/records.js";
import type { StopReason } from "./run-state.js";

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

/** A chat notification waiting to be said on one channel (see `NotificationOutbox`). */
export interface OutboxNotification {
  /** `<runId>:<event>:<channel>`: one notification per run, event and channel, ever. */
  key: string;
  channel: string;
  message: ChatMessage;
  /** Enqueue order: one channel's notifications are said in this order. */
  seq: number;
  enqueuedAt: number;
  /** Failed tries so far. */
  attempts: number;
  /** Not before this time (ms) after a failure; undefined = now. */
  nextAttemptAt?: number;
  lastError?: string;
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

/** Who may write an executing run: its current lease owner. */
export interface RunFence {
  owner: string;
}

/** A fenced write of a run whose lease another replica holds now (or that nobody holds). */
export class RunFencedError extends Error {
  constructor(readonly runId: string, readonly owner: string) {
    super(`run ${runId} is no longer held by ${owner}`);
    this.name = "RunFencedError";
  }
}

/** The lease of a run: who executes it, until when, and a stop another replica asked for. */
export interface RunLease {
  owner?: string;
  until?: number;
  stopRequested?: StopReason;
}

/** What the dashboard's audit log keeps of one action a signed-in user asked for. */
export interface AuditEntry {
  /** Insert order (assigned by the store). */
  seq: number;
  at: number;
  /** Who: `github:octocat`, `gitee:alice`, or `admin` (the BERTH_DASHBOARD_TOKEN login). */
  actor: string;
  /** Repository acted on (`github:owner/name`). */
  repoKey: string;
  /** The command it stands for: `delete`, `keep`, `deploy`, `test`, `cancel`. */
  action: string;
  /** What it acted on: `#12`, a run id. */
  target: string;
  /** `accepted` (queued like the comment would be), `refused` (permission) or `failed`. */
  result: "accepted" | "refused" | "failed";
  /** Why, in a sentence (a refusal's permission, a failure's message). */
  detail?: string;
}

export type RunPatch = Partial<Omit<RunRecord, "id" | "prKey">>;
export type StagePatch = { state: StageState; startedAt?: number | null; finishedAt?: number | null; detail?: StageDetail };

export interface Store {
  readonly kind: "sqlite" | "postgres";
  close(): Promise<void>;
  /** One trivial query (readiness): resolves when the database answers, rejects with why not. */
  ping(): Promise<void>;

  // ---- inbox ----
  /**
   * Record a delivery; false when this delivery id was seen before (a redelivery) or when its
   * `replayKey` was (the same signed content under a new delivery id: a replay).
   */
  recordDelivery(event: BotEvent, now: number): Promise<boolean>;
  /** Deliveries not processed yet (waiting for a retry, claimed or not), oldest first. */
  pendingInbox(limit?: number): Promise<InboxItem[]>;
  /** One delivery, processed or not. */
  getDelivery(deliveryId: string): Promise<DeliveryRecord | undefined>;
  /**
   * Take an unprocessed delivery to process it until `until`: true when nobody holds it, its claim
   * ended before `now`, or `owner` holds it already.
   */
  claimDelivery(deliveryId: string, owner: string, until: number, now: number): Promise<boolean>;
  /** Give a claim back (the delivery waits for another try). */
  releaseDelivery(deliveryId: string, owner: string): Promise<void>;
  /** Leave a delivery in the inbox after a transient failure, to be tried again at `nextAttemptAt` (releases any claim). */
  deferDelivery(deliveryId: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void>;
  /** Done with a delivery: processed, or given up on with `error` (releases any claim). */
  markProcessed(deliveryId: string, now: number, error?: string): Promise<void>;

  // ---- runs ----
  /** Insert a run and a queued row for each planned stage; false (nothing written) when the id exists. */
  insertRun(run: RunRecord): Promise<boolean>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Save changed fields of a run; with a fence, only while the fence's owner holds the run (else RunFencedError). */
  updateRun(id: string, patch: RunPatch, fence?: RunFence): Promise<RunRecord>;
  /** Runs in the given states, in queue order. */
  runsWithStatus(statuses: RunStatus[]): Promise<RunRecord[]>;
  /** Queued and running runs of one PR, oldest first. */
  activeRunsOf(prKey: PrKey): Promise<RunRecord[]>;
  /** The newest pipeline runs of a PR, newest first (the status comment shows the first). */
  latestPipelineRuns(prKey: PrKey, count: number): Promise<RunRecord[]>;
  /**
   * Claim a queued run for `owner` until `until`: it becomes `running` with `patch` applied.
   * Undefined when it is not queued any more or another run of its PR (or environment) is running.
   */
  claimRun(runId: string, owner: string, until: number, patch: RunPatch): Promise<RunRecord | undefined>;
  /** Extend the leases of these running runs that `owner` still holds; returns the ids renewed. */
  renewRuns(owner: string, runIds: string[], until: number): Promise<string[]>;
  runLease(runId: string): Promise<RunLease | undefined>;
  /** Ask whichever replica executes a running run to stop it. */
  requestStop(runId: string, reason: StopReason): Promise<void>;
  /** Running runs whose lease ended before `now` (their replica died or hung). */
  expiredRuns(now: number): Promise<RunRecord[]>;
  /** Take over a running run whose lease ended before `now`: true for exactly one caller. */
  takeOverRun(runId: string, owner: string, now: number, until: number): Promise<boolean>;

  /** The newest runs, newest first: of every repository, or of one (`github:owner/name`). */
  recentRuns(options: { limit: number; repoKey?: string }): Promise<RunRecord[]>;

  // ---- stages ----
  stagesOf(runId: string): Promise<StageRecord[]>;
  updateStage(runId: string, name: RunStageName, patch: StagePatch, fence?: RunFence): Promise<void>;

  // ---- pulls ----
  getPull(prKey: PrKey): Promise<PullRecord | undefined>;
  savePull(pull: PullRecord): Promise<void>;
  /** Apply a change to a stored pull atomically; no-op when berth never saw the PR. */
  patchPull(prKey: PrKey, change: (pull: PullRecord) => PullRecord): Promise<PullRecord | undefined>;
  /** Whether berth keeps a record of any PR of this repository (`github:owner/name`). */
  knowsRepo(repoKey: string): Promise<boolean>;
  /** Pulls that still have a preview. */
  pullsWithPreview(): Promise<PullRecord[]>;
  /** Open pulls, first saved first (a start redraws their comments: an edit lost to a crash is made again). */
  openPulls(): Promise<PullRecord[]>;
  /** Open pulls whose head is `sha` (their comments show environments of that commit). */
  openPullsAt(repoKey: string, sha: string): Promise<PullRecord[]>;

  // ---- images and environments ----
  recordImage(repoKey: string, sha: string, image: ImageRecord, now: number): Promise<void>;
  /** Images of a commit, newest first. */
  imagesOf(repoKey: string, sha: string): Promise<ImageRecord[]>;
  saveEnvironment(record: EnvironmentRecord, repoKey: string): Promise<void>;
  getEnvironment(key: PrKey): Promise<EnvironmentRecord | undefined>;
  /** Every environment's current deployment (the gateway's routes). */
  listEnvironments(): Promise<EnvironmentRecord[]>;
  /** Environments currently running this commit. */
  environmentsAt(repoKey: string, sha: string): Promise<EnvironmentRecord[]>;

  // ---- reports and logs ----
  saveReport(report: StoredReport): Promise<void>;
  getReport(id: string): Promise<StoredReport | undefined>;
  saveLog(log: StoredLog): Promise<void>;
  getLog(id: string): Promise<StoredLog | undefined>;

  // ---- dashboard audit log ----
  /** Append an entry; its `seq` comes from the store. */
  recordAudit(entry: Omit<AuditEntry, "seq">): Promise<void>;
  /** The newest entries, newest first: of every repository, or of these (`github:owner/name`). */
  auditLog(options: { limit: number; repoKeys?: readonly string[] }): Promise<AuditEntry[]>;

  // ---- status outbox ----
  /**
   * Want `status` on the commit: replaces the state of the same (host, repo, sha, context) whether
   * or not it was sent (coalescing), with a new `seq` and its own tries; a backoff still running
   * is kept. Returns the row's new `seq`.
   */
  enqueueStatus(item: { repo: RepoRef; sha: string; prNumber: number; status: CommitStatus; groupKey: string }, now: number): Promise<number>;
  /** Statuses waiting to be written, in enqueue order (all of them, or one group's). */
  outboxStatuses(groupKey?: string): Promise<OutboxStatus[]>;
  /** Remove the row written (or given up on) as version `seq`; false when it was replaced meanwhile. */
  removeStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">): Promise<boolean>;
  /** Leave version `seq` of a row to be tried again at `nextAttemptAt`; no-op when it was replaced meanwhile. */
  deferStatus(item: Pick<OutboxStatus, "repo" | "sha" | "status" | "seq">, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void>;

  // ---- notification outbox ----
  /**
   * Want `message` said on `channel`: false (nothing written) when `key` was enqueued before,
   * whether it is still waiting, was sent or was given up on.
   */
  enqueueNotification(item: { key: string; channel: string; message: ChatMessage }, now: number): Promise<boolean>;
  /** Notifications not sent nor given up on yet, in enqueue order (all, or one channel's). */
  pendingNotifications(channel?: string): Promise<OutboxNotification[]>;
  /** Leave a notification to be tried again at `nextAttemptAt`. */
  deferNotification(key: string, retry: { attempts: number; nextAttemptAt: number; error: string }): Promise<void>;
  /** Done with a notification: sent, or given up on with `error`; its key stays (a repeated event is not said twice) until `prune`. */
  finishNotification(key: string, now: number, error?: string): Promise<void>;

  // ---- named leases (singleton work across replicas) ----
  /** Hold lease `name` until `until`: true when free, ended before `now`, or already `owner`'s. */
  acquireLease(name: string, owner: string, until: number, now: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;

  // ---- retention ----
  /**
   * Forget what finished before `before` and nothing shows any more: processed deliveries, runs
   * (with their stages) other than each PR's two newest pipeline runs and three newest runs of any
   * kind, and reports and stage logs of forgotten runs. Queued and running runs, PRs, images and
   * environments are kept. A forgotten delivery takes its replay key with it. Notifications
   * finished before `before` are forgotten too (not counted).
   */
  prune(before: number): Promise<{ deliveries: number; runs: number; reports: number; logs: number }>;
}
