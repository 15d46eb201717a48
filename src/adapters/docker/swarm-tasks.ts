/**
 * Reading the tasks of a Swarm service: which ended for good, which runs, what the scheduler
 * reports, and waiting (by looking again every {@link TASK_POLL_MS}) until a task runs. Which
 * tasks count, and what an outcome means and how it is worded, stay with the caller.
 */
import type { SwarmServices, SwarmTask } from "./swarm-services.js";

/** Pause between looks at a service's tasks. */
export const TASK_POLL_MS = 500;

/** Task states after which a task never runs again (Swarm starts a new task instead). */
const ENDED_STATES = new Set(["complete", "shutdown", "failed", "rejected", "remove", "orphaned"]);

/** True when the task will never run again. */
export function isEndedTask(task: SwarmTask): boolean {
  return ENDED_STATES.has(task.Status?.State ?? "");
}

/** True when the task runs and Swarm wants it to. */
export function isRunningTask(task: SwarmTask): boolean {
  return task.Status?.State === "running" && task.DesiredState === "running";
}

/** The scheduler's reason a pending task is not placed (e.g. "host-mode port already in use"), if any. */
export function schedulerError(tasks: readonly SwarmTask[]): string | undefined {
  return tasks.find((t) => t.Status?.State === "pending" && t.Status.Err)?.Status?.Err;
}

/** How {@link waitForTask} ended. */
export type TaskWaitOutcome =
  | { outcome: "running"; task: SwarmTask }
  | { outcome: "ended"; task: SwarmTask }
  | { outcome: "unschedulable"; error: string }
  | { outcome: "timeout"; lastState: string }
  | { outcome: "cancelled" };

export interface TaskWaitOptions {
  /** The tasks that count (e.g. those of one deploy); others are ignored. */
  select: (task: SwarmTask) => boolean;
  /** From the first look until a selected task must run. */
  startMs: number;
  /** How long a selected task may stay pending with a scheduler error. */
  unschedulableMs: number;
  /** Looked at before each look at the tasks; also passed to the task listing. */
  signal: AbortSignal;
  /** Told when the state of the first selected task changes, with the scheduler's error if any. */
  onState: (state: string, schedulerError: string | undefined) => void;
}

/**
 * Look at the service's selected tasks until one runs (`running`), one ended (`ended`), one stayed
 * unschedulable for `unschedulableMs` (`unschedulable`), `startMs` passed (`timeout`, with the last
 * state seen, or "not created yet") or `signal` aborted (`cancelled`). Errors of the task listing
 * are thrown, a {@link CancelledError} when `signal` aborts during one.
 */
export async function waitForTask(services: Pick<SwarmServices, "tasks">, serviceId: string, options: TaskWaitOptions): Promise<TaskWaitOutcome> {
  const { select, startMs, unschedulableMs, signal, onState } = options;
  const deadline = Date.now() + startMs;
  let lastState = "not created yet";
  let unschedulableSince: number | undefined;
  for (;;) {
    if (signal.aborted) return { outcome: "cancelled" };
    const tasks = (await services.tasks(serviceId, signal)).filter(select);
    const running = tasks.find(isRunningTask);
    if (running) return { outcome: "running", task: running };
    const ended = tasks.find(isEndedTask);
    if (ended) return { outcome: "ended", task: ended };
    const error = schedulerError(tasks);
    if (error) {
      unschedulableSince ??= Date.now();
      if (Date.now() - unschedulableSince >= unschedulableMs) return { outcome: "unschedulable", error };
    } else {
      unschedulableSince = undefined;
    }
    const state = tasks[0]?.Status?.State;
    if (state && state !== lastState) {
      lastState = state;
      onState(state, error);
    }
    if (Date.now() >= deadline) return { outcome: "timeout", lastState };
    await new Promise((resolve) => setTimeout(resolve, TASK_POLL_MS));
  }
}
