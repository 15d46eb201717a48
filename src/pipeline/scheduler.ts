/**
 * The durable run queue's scheduler: claims queued runs in order, at most `concurrency` at once in
 * this process and one per PR across every replica (the store's `claimRun`), and stops a PR's older
 * runs when newer work arrives, wherever they execute.
 *
 * A claimed run carries a lease that this process renews every `heartbeatMs`. The heartbeat also
 * applies stops other replicas asked for, aborts runs whose lease this process lost (it hung longer
 * than the lease, or the run was stopped under it), picks up runs other replicas queued, and — one
 * replica at a time, under the `recover-runs` lease — takes over runs whose replica died: re-queued
 * (counted as an attempt) or failed after too many attempts.
 */
import type { Logger } from "pino";
import type { PrKey, RunRecord } from "../domain/records.js";
import type { RunFence, Store } from "./store.js";
import { markStopped, requeueRun, type StopReason } from "./run-state.js";

/** Executes one claimed run to its end; must honour the signal (its reason is a StopReason). */
export type RunExecutor = (run: RunRecord, signal: AbortSignal, fence: RunFence) => Promise<void>;

/** A run interrupted (berth restarted or a replica died) more often than this is failed instead of re-queued. */
export const MAX_ATTEMPTS = 2;

export const DEFAULT_RUN_LEASE_MS = 15_000;
export const DEFAULT_HEARTBEAT_MS = 1_000;

export interface SchedulerOptions {
  store: Store;
  /** This replica: owner of the runs it claims. */
  owner: string;
  concurrency: number;
  execute: RunExecutor;
  /** Called when a run's state changed here (queued → superseded), to redraw the comment. */
  onChange: (prKey: PrKey) => void;
  log: Logger;
  now: () => number;
  /** How long a claimed run stays ours without a heartbeat (ms). */
  leaseMs?: number;
  /** How often leases are renewed and other replicas' changes looked at (ms). */
  heartbeatMs?: number;
}

interface LiveRun {
  prKey: PrKey;
  controller: AbortController;
  done: Promise<void>;
}

export class Scheduler {
  private readonly running = new Map<string, LiveRun>();
  private pumping?: Promise<void>;
  private pumpAgain = false;
  private stopped = false;
  private heartbeat?: NodeJS.Timeout;
  private beating?: Promise<void>;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;

  constructor(private readonly options: SchedulerOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_RUN_LEASE_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  /** Begin the heartbeat (lease renewals, stop requests, other replicas' queued runs, take-overs). */
  startHeartbeat(): void {
    if (this.heartbeat || this.stopped) return;
    this.heartbeat = setInterval(() => {
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Start whatever may start now. Cheap; call after any change to the queue. */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pump()
      .catch((err: unknown) => this.options.log.error({ err: String(err) }, "scheduler: could not read the run queue"))
      .finally(() => {
        this.pumping = undefined;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.kick();
        }
      });
  }

  /** Settles when the current pass over the queue has. */
  async settled(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  private async pump(): Promise<void> {
    const { store, concurrency, owner, now } = this.options;
    if (this.running.size >= concurrency) return;
    const busyPrs = new Set([...this.running.values()].map((r) => r.prKey));
    for (const run of await store.runsWithStatus(["queued"])) {
      if (this.stopped || this.running.size >= concurrency) break;
      if (busyPrs.has(run.prKey)) continue;
      busyPrs.add(run.prKey);
      const at = now();
      const claimed = await store.claimRun(run.id, owner, at + this.leaseMs, { status: "running", startedAt: at, attempts: run.attempts + 1 });
      if (claimed && !this.stopped) this.start(claimed);
      else if (claimed) await requeueRun(store, claimed, { owner });
    }
  }

  /**
   * Stop the PR's queued and running runs (all but `keepRunId`): queued ones are marked at once,
   * running ones here are aborted and mark themselves when their stage has cleaned up, running ones
   * on another replica are asked to stop (its heartbeat applies it).
   */
  async stopActive(prKey: PrKey, reason: StopReason, keepRunId?: string): Promise<void> {
    const { store, now } = this.options;
    for (const run of await store.activeRunsOf(prKey)) {
      if (run.id === keepRunId) continue;
      const live = this.running.get(run.id);
      if (live) {
        live.controller.abort(reason);
      } else if (run.status === "queued" && reason.kind !== "shutdown") {
        await markStopped(store, run, reason, now());
      } else if (run.status === "running") {
        await store.requestStop(run.id, reason);
      }
    }
    this.options.onChange(prKey);
  }

  /** Whether the run is executing in this process. */
  isRunning(runId: string): boolean {
    return this.running.has(runId);
  }

  /** Abort everything for shutdown and wait for the runs to put themselves back in the queue. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.pumping;
    for (const live of this.running.values()) live.controller.abort({ kind: "shutdown", text: "berth is shutting down" } satisfies StopReason);
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await this.beating;
  }

  /** Wait until nothing runs here and the queue has been looked at (tests, benchmarks). */
  async idle(): Promise<void> {
    await this.settled();
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
      await this.settled();
    }
  }

  /**
   * Take over runs whose lease ended before `horizon` (their replica died; on SQLite at start, every
   * running run: the data directory's lock says no other process has them): re-queued, or failed
   * after MAX_ATTEMPTS. Returns the PRs whose comment must be redrawn.
   */
  async recoverExpired(horizon: number): Promise<PrKey[]> {
    const { store, owner, now, log } = this.options;
    const changed: PrKey[] = [];
    for (const run of await store.expiredRuns(horizon)) {
      if (this.running.has(run.id)) continue;
      if (!(await store.takeOverRun(run.id, owner, horizon, now() + this.leaseMs))) continue;
      const fence = { owner };
      const newer = (await store.activeRunsOf(run.prKey)).some((r) => r.id !== run.id);
      if (newer) {
        await markStopped(store, run, { kind: "superseded", text: "superseded: newer work arrived while its replica was gone" }, now(), "superseded", fence);
        log.warn({ runId: run.id, prKey: run.prKey }, "interrupted run superseded by newer work");
      } else if (run.attempts >= MAX_ATTEMPTS) {
        await markStopped(store, run, { kind: "cancelled", text: "interrupted by berth restarts too often; comment /deploy to retry" }, now(), "failed", fence);
        log.warn({ runId: run.id, attempts: run.attempts }, "interrupted run failed after too many attempts");
      } else {
        await requeueRun(store, run, fence);
        log.warn({ runId: run.id, attempts: run.attempts }, "interrupted run re-queued");
      }
      changed.push(run.prKey);
    }
    return changed;
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const { store, owner, now, log } = this.options;
    try {
      const ids = [...this.running.keys()];
      if (ids.length > 0) {
        const renewed = new Set(await store.renewRuns(owner, ids, now() + this.leaseMs));
        for (const id of ids) {
          const live = this.running.get(id);
          if (!live) continue;
          if (!renewed.has(id)) {
            log.warn({ runId: id }, "run lease lost (stopped or taken over elsewhere); aborting it here");
            live.controller.abort({ kind: "lost", text: "this replica lost the run" } satisfies StopReason);
            continue;
          }
          const requested = (await store.runLease(id))?.stopRequested;
          if (requested) live.controller.abort(requested);
        }
      }
      const at = now();
      if (await store.acquireLease("recover-runs", owner, at + this.leaseMs, at)) {
        for (const prKey of await this.recoverExpired(at)) this.options.onChange(prKey);
      }
      this.kick();
    } catch (err) {
      if (!this.stopped) log.warn({ err: String(err) }, "scheduler heartbeat failed");
    }
  }

  private start(run: RunRecord): void {
    const controller = new AbortController();
    const fence = { owner: this.options.owner };
    const done = (async () => {
      try {
        await this.options.execute(run, controller.signal, fence);
      } catch (err) {
        this.options.log.error({ runId: run.id, err: String(err) }, "run executor crashed");
        try {
          const current = await this.options.store.getRun(run.id);
          if (current && (current.status === "running" || current.status === "queued")) {
            await markStopped(this.options.store, current, { kind: "cancelled", text: `internal error: ${String(err)}` }, this.options.now(), "failed", fence);
          }
        } catch (markErr) {
          this.options.log.error({ runId: run.id, err: String(markErr) }, "could not mark a crashed run");
        }
      } finally {
        this.running.delete(run.id);
        this.options.onChange(run.prKey);
        queueMicrotask(() => this.kick());
      }
    })();
    this.running.set(run.id, { prKey: run.prKey, controller, done });
  }
}
