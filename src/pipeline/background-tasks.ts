/**
 * Work a run starts and does not wait for (a code-host write, a scan that finishes later): tracked
 * so that `Engine.idle()` and `stop()` know when it is done, and so that its failures are logged
 * instead of lost as unhandled rejections.
 */
import type { Logger } from "pino";

export class BackgroundTasks {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly log: Pick<Logger, "warn">) {}

  /** Start `task` now; never throws, never waited for by the caller. */
  run(what: string, task: () => Promise<void>): void {
    const promise = Promise.resolve()
      .then(task)
      .catch((err: unknown) => this.log.warn({ task: what, err: err instanceof Error ? err.message : String(err) }, "background task failed"))
      .finally(() => this.running.delete(promise));
    this.running.add(promise);
  }

  /** Whether any task is still running. */
  busy(): boolean {
    return this.running.size > 0;
  }

  /** Wait until every task started so far (and any they start) has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
