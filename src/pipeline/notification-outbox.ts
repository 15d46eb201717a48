/**
 * Chat notifications leave the pipeline's path: a run event that is a chat event (see
 * `notify/run-notifications.ts`) becomes one outbox row per channel the run's berth.yml names for
 * it (`<runId>:<event>:<channel>`, so a repeated event is never said twice), and the outbox says
 * them in the background. Nothing here can block or fail a run: the listener only starts work, and
 * every error ends in a log line.
 *
 * - One channel's rows are said one at a time, in enqueue order, by one replica at a time (the
 *   `notify:<channel>` lease); channels do not wait for each other.
 * - A transient failure (network, timeout, 5xx, 429, the vendor's rate-limit or busy codes) backs
 *   off with jitter, at least as long as `Retry-After` or a rate-limit pause asks; a refusal (a bad
 *   signature, an unknown robot, an invalid payload) is given up after `maxRefusals` tries, a
 *   transient failure after `maxAgeMs`. Both are logged.
 * - A channel that keeps failing is logged at most once per `failureLogMs` (with how many failures
 *   the quiet time hid) and counted: `stats()` and the `onDelivery` callback give sent, failed and
 *   given-up counts per channel.
 * - Rows outlive the process: `start()` says what an earlier process left; with several replicas
 *   (`pollMs`), what a replica that died left is found by looking.
 */
import type { Logger } from "pino";
import type { Redactor } from "../domain/redact.js";
import type { ChatChannel, ChatSender, ChatVendor, DeliveryResult, NotifyEvent } from "../notify/channel.js";
import { channelsFor, messageOf, notifyEventOf } from "../notify/run-notifications.js";
import { backoffMs } from "./inbox-retry.js";
import type { RunEvent } from "./run-events.js";
import { withRenewedLease } from "./renewed-lease.js";
import type { OutboxNotification, Store } from "./store.js";
import { jitteredWait } from "./write-pacer.js";

export interface NotifyRetryPolicy {
  /** Wait after the first failure; doubled for each further one (with jitter: 50–100 % of it). */
  baseMs: number;
  /** Longest wait between two tries (a longer Retry-After is honoured). */
  maxMs: number;
  /** Tries of a notification the vendor refused before berth gives up on it. */
  maxRefusals: number;
  /** A notification still failing transiently this long after it was enqueued is given up. */
  maxAgeMs: number;
  /** A rate limit without Retry-After pauses the channel at least this long. */
  rateLimitPauseMs: number;
}

export const DEFAULT_NOTIFY_RETRY: NotifyRetryPolicy = { baseMs: 2000, maxMs: 5 * 60_000, maxRefusals: 3, maxAgeMs: 60 * 60_000, rateLimitPauseMs: 60_000 };

/** What became of one try. */
export type DeliveryOutcome = "sent" | "failed" | "given-up";

/** Delivery counts of one channel since the process started. */
export interface ChannelStats {
  channel: string;
  vendor: ChatVendor;
  sent: number;
  failed: number;
  givenUp: number;
}

export interface NotificationOutboxOptions {
  store: Store;
  /** The channels the server defines. */
  channels: readonly ChatChannel[];
  sender: ChatSender;
  /** Base of report and log links (`$BERTH_PUBLIC_URL/reports`). */
  reportBaseUrl: string;
  log: Logger;
  redact: Redactor;
  now?: () => number;
  /** Jitter source (tests). */
  random?: () => number;
  retry?: Partial<NotifyRetryPolicy>;
  /** One send is abandoned (and retried) after this long (ms; default 30 000). */
  callTimeoutMs?: number;
  /** This replica, in the `notify:<channel>` lease. */
  owner?: string;
  /** How long that lease holds without a renewal (ms; default 15 000). */
  leaseMs?: number;
  /** A failing channel is logged at most this often (ms; default 60 000). */
  failureLogMs?: number;
  /**
   * Look for due notifications this often (ms; unset = only at start and on this replica's own
   * enqueues). Several replicas: rows another one queued and could not say before it died.
   */
  pollMs?: number;
  /** Told of every try's outcome (metrics). */
  onDelivery?: (channel: string, vendor: ChatVendor, outcome: DeliveryOutcome) => void;
}

/** Wait before looking again when another replica drains a channel. */
const CHANNEL_BUSY_RETRY_MS = 500;

export class NotificationOutbox {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly retry: NotifyRetryPolicy;
  private readonly channels: Map<string, ChatChannel>;
  private readonly counts = new Map<string, ChannelStats>();
  private readonly drains = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Enqueues in flight (a listener cannot await them). */
  private readonly enqueues = new Set<Promise<void>>();
  /** Per channel: when its failure was last logged, and failures since. */
  private readonly failureLog = new Map<string, { at: number; quiet: number }>();
  private readonly shutdown = new AbortController();
  private poll?: NodeJS.Timeout;
  private started = false;
  private stopped = false;

  constructor(private readonly options: NotificationOutboxOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.retry = { ...DEFAULT_NOTIFY_RETRY, ...options.retry };
    this.channels = new Map(options.channels.map((c) => [c.name, c]));
    for (const c of options.channels) this.counts.set(c.name, { channel: c.name, vendor: c.vendor, sent: 0, failed: 0, givenUp: 0 });
  }

  /** The run-event listener (`engine.events.on(outbox.listener)`): starts an enqueue, never throws, never waits. */
  readonly listener = (event: RunEvent): void => {
    if (this.stopped || this.channels.size === 0) return;
    const kind = notifyEventOf(event);
    if (!kind) return;
    const work = this.enqueue(kind, event)
      .catch((err: unknown) => {
        this.options.log.error({ runId: event.run.id, event: kind, err: this.options.redact(err instanceof Error ? err.message : String(err)) }, "notification not queued");
      })
      .finally(() => this.enqueues.delete(work));
    this.enqueues.add(work);
  };

  /** Delivery counts per defined channel since the process started. */
  stats(): ChannelStats[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /** Start saying notifications, beginning with those an earlier process left. */
  async start(): Promise<void> {
    if (this.stopped) return;
    this.started = true;
    this.options.log.info({ channels: this.options.channels.map((c) => `${c.name} (${c.vendor})`) }, "chat notifications: channels defined");
    for (const channel of new Set((await this.options.store.pendingNotifications()).map((row) => row.channel))) this.kick(channel);
    if (this.options.pollMs) {
      this.poll = setInterval(() => {
        this.dueChannels().then(
          (channels) => channels.forEach((channel) => this.kick(channel)),
          (err: unknown) => this.options.log.warn({ err: this.options.redact(String(err)) }, "notification outbox: cannot look for due notifications"),
        );
      }, this.options.pollMs);
      this.poll.unref();
    }
  }

  /** Stop: a send in flight is abandoned (its row stays for the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.shutdown.abort(new Error("berth is shutting down"));
    if (this.poll) clearInterval(this.poll);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.enqueues, ...this.drains.values()]);
  }

  /** Whether an enqueue or a send is in flight, or a row is due now. */
  async busy(): Promise<boolean> {
    return this.enqueues.size > 0 || this.drains.size > 0 || (await this.dueChannels()).length > 0;
  }

  /** Whether any notification is still to be said (due, in flight or waiting for a backoff). */
  async pending(): Promise<boolean> {
    return this.enqueues.size > 0 || this.drains.size > 0 || (await this.options.store.pendingNotifications()).length > 0;
  }

  /** Wait until every due notification has been said, given up, or deferred. */
  async idle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await Promise.allSettled([...this.enqueues]);
      if (!this.started || this.stopped) return;
      for (const channel of await this.dueChannels()) this.kick(channel);
      if (this.drains.size === 0 && this.enqueues.size === 0) return;
      await Promise.allSettled([...this.drains.values()]);
    }
  }

  private async enqueue(kind: NotifyEvent, event: RunEvent): Promise<void> {
    const { store } = this.options;
    const run = event.run;
    // A delete run carries no config: the PR's newest pipeline run says what was deployed, and with it who hears.
    const config = run.config ?? (await store.latestPipelineRuns(run.prKey, 1))[0]?.config;
    const names = channelsFor(config, kind).filter((name) => this.channels.has(name));
    if (names.length === 0) return;
    const [pull, stages] = await Promise.all([run.prNumber > 0 ? store.getPull(run.prKey) : undefined, kind === "failed" ? store.stagesOf(run.id) : undefined]);
    const message = messageOf(kind, event, { reportBaseUrl: this.options.reportBaseUrl, ...(pull ? { pull } : {}), ...(stages ? { stages } : {}) });
    for (const channel of names) {
      const fresh = await store.enqueueNotification({ key: `${run.id}:${kind}:${channel}`, channel, message }, this.now());
      if (fresh && this.started) this.kick(channel);
    }
  }

  /** Channels whose first waiting notification is due (the ones behind it wait for it). */
  private async dueChannels(): Promise<string[]> {
    const now = this.now();
    const heads = new Map<string, OutboxNotification>();
    for (const row of await this.options.store.pendingNotifications()) if (!heads.has(row.channel)) heads.set(row.channel, row);
    return [...heads.values()].filter((row) => row.nextAttemptAt === undefined || row.nextAttemptAt <= now).map((row) => row.channel);
  }

  private kick(channel: string): void {
    if (this.stopped || this.drains.has(channel)) return;
    const timer = this.timers.get(channel);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(channel);
    }
    const drain = (async () => {
      try {
        await this.drain(channel);
      } catch (err) {
        this.options.log.error({ channel, err: this.options.redact(String(err)) }, "notification outbox: drain failed; trying again later");
        this.wakeAt(channel, this.now() + this.retry.baseMs);
      } finally {
        this.drains.delete(channel);
      }
      // A row enqueued between the drain's last look and now.
      if (!this.stopped && (await this.dueChannels().catch((): string[] => [])).includes(channel)) this.kick(channel);
    })();
    this.drains.set(channel, drain);
  }

  private async drain(channel: string): Promise<void> {
    const lease = { name: `notify:${channel}`, owner: this.options.owner ?? "local", now: this.now, ...(this.options.leaseMs !== undefined ? { ms: this.options.leaseMs } : {}) };
    const result = await withRenewedLease(this.options.store, lease, async (lost) => {
      while (!this.stopped && !lost.aborted) {
        const now = this.now();
        const rows = await this.options.store.pendingNotifications(channel);
        // In order: a row waiting for its backoff holds the ones behind it (a chat reads top to bottom).
        const head = rows[0];
        if (!head) return;
        if (head.nextAttemptAt !== undefined && head.nextAttemptAt > now) {
          this.wakeAt(channel, head.nextAttemptAt);
          return;
        }
        await this.deliver(head);
      }
    });
    if (!result.held) this.wakeAt(channel, this.now() + CHANNEL_BUSY_RETRY_MS);
  }

  private wakeAt(channel: string, at: number): void {
    if (this.stopped || this.timers.has(channel)) return;
    const timer = setTimeout(() => {
      this.timers.delete(channel);
      this.kick(channel);
    }, Math.max(at - this.now(), 0));
    timer.unref();
    this.timers.set(channel, timer);
  }

  private async deliver(row: OutboxNotification): Promise<void> {
    const { store, log } = this.options;
    const meta = { channel: row.channel, event: row.message.event, repo: row.message.repo, key: row.key };
    const channel = this.channels.get(row.channel);
    if (!channel) {
      await store.finishNotification(row.key, this.now(), "the channel is no longer defined on this server");
      log.error(meta, "notification dropped: its channel is no longer defined (BERTH_NOTIFY_<NAME>)");
      return;
    }
    const deadline = AbortSignal.timeout(this.options.callTimeoutMs ?? 30_000);
    let result: DeliveryResult;
    try {
      result = await this.options.sender.send(channel, row.message, AbortSignal.any([this.shutdown.signal, deadline]));
    } catch (err) {
      // The port promises results; a throw is a bug or an abort, treated as transient.
      result = { ok: false, transient: true, summary: err instanceof Error ? err.message : String(err) };
    }
    if (this.stopped && !result.ok) return;
    if (result.ok) {
      await store.finishNotification(row.key, this.now());
      this.count(channel, "sent");
      log.info({ ...meta, attempts: row.attempts + 1 }, "notification sent");
      return;
    }
    await this.failed(channel, row, result, meta);
  }

  private async failed(channel: ChatChannel, row: OutboxNotification, result: Extract<DeliveryResult, { ok: false }>, meta: Record<string, string>): Promise<void> {
    const { store, log, redact } = this.options;
    const now = this.now();
    const summary = redact(result.summary);
    const attempts = row.attempts + 1;
    this.count(channel, "failed");
    const refusedTooOften = !result.transient && attempts >= this.retry.maxRefusals;
    const tooOld = result.transient && now - row.enqueuedAt >= this.retry.maxAgeMs;
    if (refusedTooOften || tooOld) {
      await store.finishNotification(row.key, now, summary);
      this.count(channel, "given-up");
      log.error(
        { ...meta, vendor: channel.vendor, attempts, err: summary, ...(tooOld ? { maxAgeMs: this.retry.maxAgeMs } : {}) },
        refusedTooOften ? "notification given up: the chat refused it" : "notification given up: the chat kept failing",
      );
      return;
    }
    const jittered = backoffMs(attempts, { firstDelayMs: this.retry.baseMs, maxDelayMs: this.retry.maxMs }, this.random);
    const asked = jitteredWait(result.retryAfterMs ?? (result.rateLimited ? this.retry.rateLimitPauseMs : 0), this.random);
    const wait = Math.max(jittered, asked);
    await store.deferNotification(row.key, { attempts, nextAttemptAt: now + wait, error: summary });
    this.logFailure(channel, { ...meta, vendor: channel.vendor, attempts, waitMs: wait, rateLimited: result.rateLimited === true, err: summary });
  }

  /** A failing channel's warning, at most once per `failureLogMs`, saying how many failures the quiet time hid. */
  private logFailure(channel: ChatChannel, meta: Record<string, unknown>): void {
    const every = this.options.failureLogMs ?? 60_000;
    const now = this.now();
    const last = this.failureLog.get(channel.name);
    if (last && now - last.at < every) {
      last.quiet++;
      return;
    }
    this.failureLog.set(channel.name, { at: now, quiet: 0 });
    this.options.log.warn({ ...meta, ...(last?.quiet ? { failuresNotLogged: last.quiet } : {}) }, "notification not sent; will try again");
  }

  private count(channel: ChatChannel, outcome: DeliveryOutcome): void {
    const stats = this.counts.get(channel.name);
    if (stats) {
      if (outcome === "sent") stats.sent++;
      else if (outcome === "failed") stats.failed++;
      else stats.givenUp++;
    }
    try {
      this.options.onDelivery?.(channel.name, channel.vendor, outcome);
    } catch {
      // A metrics callback must not disturb delivery.
    }
  }
}
