/**
 * What happens to runs, told as it is recorded: the run journal emits after each write, the stage
 * loop emits every (redacted) log line while a stage runs. Metrics, the dashboard's live views and
 * chat notifications listen here instead of each hooking into the executor.
 *
 * Events are facts of this replica only (a run executing on another replica is told there) and
 * are not durable: a listener that must not lose anything (notifications) writes its own outbox
 * from the event. Listeners are called synchronously, in order; one that throws is logged and
 * never disturbs the run or the other listeners.
 */
import type { Logger } from "pino";
import type { RunStageName } from "../domain/types.js";
import type { RunRecord, StageDetail } from "../domain/records.js";
import type { StageFacts } from "./run-journal.js";

/** How a run ended. */
export type RunEnd = "passed" | "failed" | "superseded" | "cancelled";

export type RunEvent =
  | { type: "run-started"; run: RunRecord; at: number }
  | { type: "stage-started"; run: RunRecord; stage: RunStageName; at: number }
  | { type: "stage-finished"; run: RunRecord; stage: RunStageName; ok: boolean; detail: StageDetail; facts: StageFacts; startedAt?: number; at: number }
  | { type: "run-finished"; run: RunRecord; status: RunEnd; reason?: string; at: number }
  /** Interrupted (shutdown): back in the queue. */
  | { type: "run-requeued"; run: RunRecord; at: number }
  /** One line of a running stage's output, redacted like the stored log. */
  | { type: "log-line"; run: RunRecord; stage: RunStageName; line: string; at: number };

export type RunEventListener = (event: RunEvent) => void;

export class RunEvents {
  private readonly listeners = new Set<RunEventListener>();

  constructor(private readonly log?: Logger) {}

  /** Listen until the returned function is called. */
  on(listener: RunEventListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(event: RunEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log?.warn({ event: event.type, runId: event.run.id, err: error instanceof Error ? error.message : String(error) }, "run event listener failed");
      }
    }
  }
}
