/**
 * Works through the durable inbox: events of different PRs at once (up to `concurrency`), events of
 * one PR in the order received (see `orderKeyOf`). An event that fails with a transient error stays
 * in the inbox with its attempt count and next-attempt time (so a restart keeps them) and blocks
 * only the later events of its own PR; after the deadline, or on a permanent error, it is marked
 * processed with its error and handed to `onGiveUp`. Each attempt has a deadline of its own.
 */
import type { Logger } from "pino";
import type { Redactor } from "../domain/redact.js";
import type { BotEvent } from "../domain/types.js";
import { raceAbort } from "./inbox-abort.js";
import { decideRetry, orderKeyOf, type RetryPolicy } from "./inbox-retry.js";
import type { InboxItem, Store } from "./store.js";
import { classifyError, EventDeadlineError, type ErrorClass } from "./transient-error.js";

/** Why an event was given up on. */
export interface EventFailure {
  error: ErrorClass;
  why: "permanent" | "deadline";
  /** Attempts made, the last one included. */
  attempts: number;
}

export interface InboxWorkerOptions {
  store: Store;
  /** Events processed at once (each of another order key). */
  concurrency: number;
  /** Process one event. `signal` aborts at the attempt's deadline or at shutdown; stop then. */
  process: (event: BotEvent, signal: AbortSignal) => Promise<void>;
  /** An event given up on (already marked processed with its error). */
  onGiveUp: (item: InboxItem, failure: EventFailure) => void | Promise<void>;
  policy: RetryPolicy;
  /** One attempt's deadline (ms), after which it counts as a transient failure. */
  attemptTimeoutMs: number;
  /** This replica: a delivery is claimed by it before it is processed (several replicas share the inbox). */
  owner: string;
  /** How long a claim holds (ms): longer than an attempt, so a live replica never loses one; a dead one's expires. */
  claimMs: number;
  /** Look for deliveries other replicas received (or left when they died) this often (ms; unset = only on kicks). */
  pollMs?: number;
  redact: Redactor;
  log: Logger;
  now: () => number;
  random?: () => number;
}

/** How many pending deliveries one pass looks at (heads of order keys beyond it wait for a later pass). */
const PENDING_WINDOW = 1000;

/** The abort reason at shutdown: the attempt is not counted, the event stays for the next start. */
class InboxShutdown extends Error {
  constructor() {
    super("berth is shutting down");
    this.name = "InboxShutdown";
  }
}

export class InboxWorker {
  private readonly active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private timer?: NodeJS.Timeout;
  private timerAt?: number;
  private pumping?: Promise<void>;
  private pumpAgain = false;
  private stopped = false;
  private poller?: NodeJS.Timeout;

  constructor(private readonly options: InboxWorkerOptions) {
    if (options.pollMs !== undefined && options.pollMs > 0) {
      this.poller = setInterval(() => this.kick(), options.pollMs);
      this.poller.unref();
    }
  }

  /** Start whatever may start now: due events at the head of their order key. Cheap; call after any change. */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        await this.pump();
      } while (this.pumpAgain && !this.stopped);
    })()
      .catch((err: unknown) => this.options.log.error({ err: this.options.redact(String(err)) }, "inbox: could not read pending deliveries"))
      .finally(() => {
        this.pumping = undefined;
      });
  }

  /** Whether an event is being processed or one is due and could start. */
  async busy(): Promise<boolean> {
    return this.active.size > 0 || (await this.heads()).some((h) => h.due && !this.active.has(h.key));
  }

  /** Wait until no event is being processed and none is due (events waiting for a retry later do not count). */
  async idle(): Promise<void> {
    for (;;) {
      this.kick();
      while (this.pumping) await this.pumping;
      if (this.active.size === 0) return;
      await Promise.allSettled([...this.active.values()].map((a) => a.done));
    }
  }

  /** Stop starting events, abort those in flight (they stay in the inbox, uncounted) and wait for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    this.timer = undefined;
    await this.pumping;
    for (const { controller } of this.active.values()) controller.abort(new InboxShutdown());
    await Promise.allSettled([...this.active.values()].map((a) => a.done));
  }

  /** The oldest pending event of each order key, in the order received. */
  private async heads(): Promise<Array<{ key: string; item: InboxItem; due: boolean }>> {
    const now = this.options.now();
    const seen = new Set<string>();
    const heads: Array<{ key: string; item: InboxItem; due: boolean }> = [];
    for (const item of await this.options.store.pendingInbox(PENDING_WINDOW)) {
      const key = orderKeyOf(item.event);
      if (seen.has(key)) continue;
      seen.add(key);
      heads.push({ key, item, due: item.nextAttemptAt === undefined || item.nextAttemptAt <= now });
    }
    return heads;
  }

  private async pump(): Promise<void> {
    const { store, owner, claimMs, now } = this.options;
    let wakeAt: number | undefined;
    for (const { key, item, due } of await this.heads()) {
      if (this.stopped) return;
      if (this.active.has(key)) continue;
      if (!due) {
        wakeAt = Math.min(wakeAt ?? Infinity, item.nextAttemptAt ?? 0);
        continue;
      }
      // No free slot: a finishing event kicks again.
      if (this.active.size >= this.options.concurrency) continue;
      // Another replica processes it (its claim holds), or processed it since the look above.
      const at = now();
      if (!(await store.claimDelivery(item.deliveryId, owner, at + claimMs, at))) continue;
      this.start(key, item);
    }
    this.wakeAt(wakeAt);
  }

  /** Kick again when the earliest waiting event is due. */
  private wakeAt(at: number | undefined): void {
    if (at === undefined) return;
    if (this.timer && this.timerAt !== undefined && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.kick();
    }, Math.max(0, at - this.options.now()));
    this.timer.unref?.();
  }

  private start(key: string, item: InboxItem): void {
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(new EventDeadlineError(this.options.attemptTimeoutMs)), this.options.attemptTimeoutMs);
    deadline.unref?.();
    const done = (async () => {
      let failure: unknown;
      let failed = false;
      try {
        await raceAbort(controller.signal, this.options.process(item.event, controller.signal));
      } catch (err) {
        failed = true;
        failure = err;
      } finally {
        clearTimeout(deadline);
      }
      if (failed && controller.signal.reason instanceof InboxShutdown) {
        await this.options.store.releaseDelivery(item.deliveryId, this.options.owner);
        return;
      }
      if (failed) await this.failed(item, failure);
      else await this.options.store.markProcessed(item.deliveryId, this.options.now());
    })()
      .catch((err: unknown) => {
        this.options.log.error({ deliveryId: item.deliveryId, err: this.options.redact(String(err)) }, "inbox bookkeeping failed");
      })
      .finally(() => {
        this.active.delete(key);
        this.kick();
      });
    this.active.set(key, { controller, done });
  }

  private async failed(item: InboxItem, err: unknown): Promise<void> {
    const { store, log, redact, policy } = this.options;
    const now = this.options.now();
    const classified = classifyError(err, now);
    const error: ErrorClass = { ...classified, summary: redact(classified.summary) };
    const attempts = item.attempts + 1;
    const meta = { deliveryId: item.deliveryId, kind: item.event.kind, orderKey: orderKeyOf(item.event), attempts, err: error.summary };
    const decision = decideRetry({ failures: attempts, receivedAt: item.receivedAt, now, error }, policy, this.options.random);
    if (decision.kind === "retry") {
      await store.deferDelivery(item.deliveryId, { attempts, nextAttemptAt: decision.at, error: error.summary });
      log.warn({ ...meta, retryInMs: decision.at - now }, "event processing failed; will retry");
      return;
    }
    await store.markProcessed(item.deliveryId, now, error.summary);
    log.error({ ...meta, why: decision.why }, "event processing failed; given up");
    try {
      await this.options.onGiveUp(item, { error, why: decision.why, attempts });
    } catch (giveUpErr) {
      log.warn({ deliveryId: item.deliveryId, err: redact(String(giveUpErr)) }, "showing a failed event on its PR failed");
    }
  }
}
