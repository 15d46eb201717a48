/**
 * The durable run queue's scheduler: starts queued runs in order, at most `concurrency` at once and
 * one per PR, and cancels a PR's older runs when newer work arrives.
 */
import type { Logger } from "pino";
import type { PrKey, RunRecord } from "./records.js";
import type { Store } from "./store.js";
import { markStopped, type StopReason } from "./run-state.js";


/** Executes one run to its end; must honour the signal (its reason is a StopReason). */
export type RunExecutor = (run: RunRecord, signal: AbortSignal) => Promise<void>;

export interface SchedulerOptions {
  store: Store;
  concurrency: number;
  execute: RunExecutor;
  /** Called when a run's state changed here (queued → superseded), to redraw the comment. */
  onChange: (prKey: PrKey) => void;
  log: Logger;
  now: () => number;
}

export class Scheduler {
  private readonly running = new Map<string, { prKey: PrKey; controller: AbortController; done: Promise<void> }>();
  private pumping = false;
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {}

  /** Start whatever may start now. Cheap; call after any change to the queue. */
  kick(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      const { store, concurrency } = this.options;
      const busyPrs = new Set([...this.running.values()].map((r) => r.prKey));
      for (const run of store.runsWithStatus(["queued"])) {
        if (this.running.size >= concurrency) break;
        if (busyPrs.has(run.prKey)) continue;
        busyPrs.add(run.prKey);
        this.start(run);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Stop the PR's queued and running runs (all but `keepRunId`): queued ones are marked at once,
   * running ones are aborted and mark themselves when their stage has cleaned up.
   */
  stopActive(prKey: PrKey, reason: StopReason, keepRunId?: string): void {
    const { store, now } = this.options;
    for (const run of store.activeRunsOf(prKey)) {
      if (run.id === keepRunId) continue;
      const live = this.running.get(run.id);
      if (live) {
        live.controller.abort(reason);
      } else if (run.status === "queued" && reason.kind !== "shutdown") {
        markStopped(store, run, reason, now());
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
    for (const live of this.running.values()) live.controller.abort({ kind: "shutdown", text: "berth is shutting down" } satisfies StopReason);
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  /** Wait until nothing runs and nothing startable is queued (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running.values()].map((r) => r.done));
    }
  }

  private start(run: RunRecord): void {
    const controller = new AbortController();
    const done = (async () => {
      try {
        await this.options.execute(run, controller.signal);
      } catch (err) {
        this.options.log.error({ runId: run.id, err: String(err) }, "run executor crashed");
        const current = this.options.store.getRun(run.id);
        if (current && (current.status === "running" || current.status === "queued")) {
          markStopped(this.options.store, current, { kind: "cancelled", text: `internal error: ${String(err)}` }, this.options.now(), "failed");
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

