/**
 * Commit statuses leave the stages' critical path: a stage enqueues the state it wants shown
 * (`StatusReporter.enqueue`, a synchronous SQLite write) and goes on; the reporter writes the outbox
 * to the code host in the background.
 *
 * - One row per (host, owner/repo, sha, context) holds the latest wanted state: a newer state of the
 *   same context replaces an unsent older one (coalescing), so a slow host sees fewer writes and the
 *   last state always wins.
 * - Rows of one group (`statusGroupKey`: host and owner, i.e. one GitHub App installation or one Gitee
 *   account) are written one at a time, in enqueue order; groups do not wait for each other.
 * - A write acknowledges the version (`seq`) it sent: a row replaced while its write was in flight
 *   stays and is written again with its newer state.
 * - Transient failures (network, timeouts, 5xx, 429, rate limits; see `classifyError`) back off with
 *   jitter, at least as long as `Retry-After` / the rate-limit reset asks (plus up to a tenth), and a
 *   rate limit pauses the whole group: its statuses and, through the shared `WritePacer`, its
 *   comment edits. After a secondary rate limit the group's writes are paced (`WritePacer`), so a
 *   backlog drains at the rate the host allows. A refusal (another 4xx) is given up after
 *   `maxRefusals` tries, a state that keeps failing transiently after `maxAgeMs`; both are logged.
 * - Rows outlive the process: the next `start()` writes what an earlier process left unacknowledged.
 */
import type { Logger } from "pino";
import type { CodeHost, CommitStatus } from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";
import type { HostKind, RepoRef } from "../domain/types.js";
import { raceAbort } from "./inbox-abort.js";
import { backoffMs } from "./inbox-retry.js";
import { withRenewedLease } from "./renewed-lease.js";
import type { OutboxStatus, Store } from "./store.js";
import { classifyError, EventDeadlineError } from "./transient-error.js";
import { isSecondaryRateLimit, jitteredWait, WritePacer } from "./write-pacer.js";

/**
 * Which statuses share one write queue: the code host and the repository owner, lower-cased. A
 * GitHub App installation belongs to one owner, so this is one installation's rate limit (and one
 * Gitee account's); `installationId` is not always known (Gitee, records from before it was kept).
 */
export function statusGroupKey(repo: Pick<RepoRef, "host" | "owner">): string {
  return `${repo.host}:${repo.owner.toLowerCase()}`;
}

export interface StatusRetryPolicy {
  /** Wait after the first failure; doubled for each further one (with jitter: 50–100 % of it). */
  baseMs: number;
  /** Longest wait between two tries (a longer Retry-After is honoured). */
  maxMs: number;
  /** Tries of one state the host refused (4xx other than rate limits) before berth gives up on it. */
  maxRefusals: number;
  /** A state still failing transiently this long after it was enqueued is given up. */
  maxAgeMs: number;
  /** A secondary rate limit (403/429 without Retry-After) pauses the group at least this long. */
  rateLimitPauseMs: number;
}

export const DEFAULT_STATUS_RETRY: StatusRetryPolicy = { baseMs: 1000, maxMs: 5 * 60_000, maxRefusals: 3, maxAgeMs: 30 * 60_000, rateLimitPauseMs: 60_000 };

export interface StatusReporterOptions {
  store: Store;
  hosts: Partial<Record<HostKind, CodeHost>>;
  log: Logger;
  redact: Redactor;
  now?: () => number;
  /** Jitter source (tests). */
  random?: () => number;
  retry?: Partial<StatusRetryPolicy>;
  /** One write is given up (and retried) after this long (ms; default 60 000). */
  callTimeoutMs?: number;
  /** This replica, in the `status:<group>` lease that lets one replica at a time write a group (in order). */
  owner?: string;
  /** How long that lease holds without a renewal (ms; renewed while the group drains; default 15 000). */
  leaseMs?: number;
  /** Paces writes per group after rate limits; share one between the publisher and the reporter (the engine does); default: a pacer of its own. */
  pacer?: WritePacer;
}

/** Wait before looking again when another replica drains a group. */
const GROUP_BUSY_RETRY_MS = 500;

export class StatusReporter {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly retry: StatusRetryPolicy;
  private readonly callTimeoutMs: number;
  private readonly drains = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Rate-limit pauses and pacing of each group, shared with the comment publisher. */
  private readonly pacer: WritePacer;
  private readonly shutdown = new AbortController();
  private started = false;
  private stopped = false;

  constructor(private readonly options: StatusReporterOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.retry = { ...DEFAULT_STATUS_RETRY, ...options.retry };
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.pacer = options.pacer ?? new WritePacer({ now: this.now });
  }

  /** Want `status` shown on `sha`: recorded at once, written in the background. Never throws for the host. */
  async enqueue(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    const groupKey = statusGroupKey(repo);
    await this.options.store.enqueueStatus({ repo, sha, prNumber, status, groupKey }, this.now());
    if (this.started) this.kick(groupKey);
  }

  /** Start writing, beginning with rows an earlier process left. */
  async start(): Promise<void> {
    if (this.stopped) return;
    this.started = true;
    for (const group of new Set((await this.options.store.outboxStatuses()).map((row) => row.groupKey))) this.kick(group);
  }

  /** Stop writing: a write in flight is abandoned (its row stays for the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.shutdown.abort(new Error("berth is shutting down"));
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.drains.values()]);
  }

  /**
   * Whether a write is in flight or a row is due now (a row waiting for its backoff, or for its
   * group's rate-limit pause or paced turn, does not count).
   */
  async busy(): Promise<boolean> {
    return this.drains.size > 0 || (await this.dueGroups()).length > 0;
  }

  /** Whether any status is still to be written: in flight, due, or waiting for a backoff, pause or turn. */
  async pending(): Promise<boolean> {
    return this.drains.size > 0 || (await this.options.store.outboxStatuses()).length > 0;
  }

  /** Wait until every row that is due has been written, given up, or deferred to a later try. */
  async idle(): Promise<void> {
    for (let round = 0; round < 1000 && this.started && !this.stopped; round++) {
      for (const group of await this.dueGroups()) this.kick(group);
      if (this.drains.size === 0) return;
      await Promise.allSettled([...this.drains.values()]);
    }
  }

  private async dueGroups(): Promise<string[]> {
    const now = this.now();
    const groups = new Set<string>();
    for (const row of await this.options.store.outboxStatuses()) {
      if (!this.pacer.mayWrite(row.groupKey, this.writer(row.groupKey))) continue;
      if (row.nextAttemptAt === undefined || row.nextAttemptAt <= now) groups.add(row.groupKey);
    }
    return [...groups];
  }

  private kick(group: string): void {
    if (this.stopped || this.drains.has(group)) return;
    const timer = this.timers.get(group);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(group);
    }
    const drain = (async () => {
      try {
        await this.drain(group);
      } catch (err) {
        this.options.log.error({ group, err: String(err) }, "commit status outbox: drain failed; trying again later");
        this.wakeAt(group, this.now() + this.retry.baseMs);
      } finally {
        this.drains.delete(group);
      }
      // A row enqueued between the drain's last look and now.
      if (!this.stopped && (await this.dueGroups().catch((): string[] => [])).includes(group)) this.kick(group);
    })();
    this.drains.set(group, drain);
  }

  /** Write the group's due rows one at a time, oldest first; then wake up for the next backoff, if any. */
  private async drain(group: string): Promise<void> {
    // Renewed while the group drains; a replica that dies mid-drain frees the group within one lease.
    const lease = { name: `status:${group}`, owner: this.options.owner ?? "local", now: this.now, ...(this.options.leaseMs !== undefined ? { ms: this.options.leaseMs } : {}) };
    const result = await withRenewedLease(this.options.store, lease, async (lost) => this.drainHeld(group, async () => !lost.aborted));
    if (!result.held) this.wakeAt(group, this.now() + GROUP_BUSY_RETRY_MS);
  }

  /** This reporter's name for a group's turns at the pacer. */
  private writer(group: string): string {
    return `status:${group}`;
  }

  private async drainHeld(group: string, hold: () => Promise<boolean>): Promise<void> {
    const who = this.writer(group);
    while (!this.stopped) {
      if (!(await hold())) return;
      const now = this.now();
      const rows = await this.options.store.outboxStatuses(group);
      const due = rows.find((row) => row.nextAttemptAt === undefined || row.nextAttemptAt <= now);
      if (!due) {
        // A turn given to the group and not used goes to the next writer.
        this.pacer.pass(group, who);
        if (rows.length > 0) this.wakeAt(group, Math.min(...rows.map((row) => row.nextAttemptAt ?? now)));
        return;
      }
      // Paused or paced: the pacer kicks the group when its turn comes (a timer, not a drain in flight).
      if (!this.pacer.take(group, who)) {
        this.pacer.wait(group, who, "status", () => this.kick(group));
        return;
      }
      try {
        await this.write(group, due);
      } finally {
        this.pacer.done(group, who);
      }
    }
  }

  private wakeAt(group: string, at: number): void {
    if (this.stopped || this.timers.has(group)) return;
    const timer = setTimeout(() => {
      this.timers.delete(group);
      this.kick(group);
    }, Math.max(at - this.now(), 0));
    timer.unref();
    this.timers.set(group, timer);
  }

  private async write(group: string, row: OutboxStatus): Promise<void> {
    const { store, log } = this.options;
    const meta = { repo: `${row.repo.owner}/${row.repo.name}`, sha: row.sha, context: row.status.context, state: row.status.state };
    const host = this.options.hosts[row.repo.host];
    if (!host) {
      this.pacer.done(group, this.writer(group));
      await store.removeStatus(row);
      log.error({ ...meta, host: row.repo.host }, "commit status dropped: its code host is not configured");
      return;
    }
    try {
      const deadline = AbortSignal.timeout(this.callTimeoutMs);
      await raceAbort(AbortSignal.any([this.shutdown.signal, deadline]), host.setStatus(row.repo, row.sha, row.prNumber, row.status))
        .catch((err: unknown) => {
          throw deadline.aborted ? new EventDeadlineError(this.callTimeoutMs) : err;
        })
        .finally(() => this.pacer.done(group, this.writer(group)));
    } catch (err) {
      if (this.stopped) return;
      await this.failed(group, row, err, meta);
      return;
    }
    // Replaced while in flight: the row stays with its newer state and is written next.
    await store.removeStatus(row);
  }

  private async failed(group: string, row: OutboxStatus, err: unknown, meta: Record<string, string>): Promise<void> {
    const { store, log, redact } = this.options;
    const now = this.now();
    const error = classifyError(err, now);
    const summary = redact(error.summary);
    const attempts = row.attempts + 1;
    if (!error.transient && attempts >= this.retry.maxRefusals) {
      await store.removeStatus(row);
      log.error({ ...meta, attempts, err: summary }, "commit status given up: the host refused it");
      return;
    }
    if (error.transient && now - row.enqueuedAt >= this.retry.maxAgeMs) {
      await store.removeStatus(row);
      log.error({ ...meta, attempts, err: summary, maxAgeMs: this.retry.maxAgeMs }, "commit status given up: the host kept failing");
      return;
    }
    const jittered = backoffMs(attempts, { firstDelayMs: this.retry.baseMs, maxDelayMs: this.retry.maxMs }, this.random);
    const rateLimited = error.retryAfterMs !== undefined || error.rateLimited === true;
    const asked = jitteredWait(error.retryAfterMs ?? (rateLimited ? this.retry.rateLimitPauseMs : 0), this.random);
    const wait = Math.max(jittered, asked);
    await store.deferStatus(row, { attempts, nextAttemptAt: now + wait, error: summary });
    const secondary = isSecondaryRateLimit(err, error);
    // The whole group waits what the host asked: statuses and comment edits alike.
    if (rateLimited) this.pacer.limited(group, asked, secondary);
    log.warn({ ...meta, attempts, waitMs: wait, rateLimited, secondary, err: summary }, "commit status not written; will try again");
  }
}
