import { describe, expect, it } from "vitest";
import type { SwarmTask } from "../../src/adapters/docker/swarm-services.js";
import { isEndedTask, isRunningTask, schedulerError, waitForTask, type TaskWaitOptions } from "../../src/adapters/docker/swarm-tasks.js";

function task(id: string, state: string, extra: Partial<SwarmTask> = {}, err?: string): SwarmTask {
  return { ID: id, DesiredState: "running", Status: { State: state, ...(err ? { Err: err } : {}) }, ...extra };
}

/** A task listing answering `answers` in turn (the last one again), recording the calls. */
function listing(answers: SwarmTask[][]): { tasks: (id: string, signal?: AbortSignal) => Promise<SwarmTask[]>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    tasks: async (id) => {
      calls.push(id);
      return answers[Math.min(calls.length - 1, answers.length - 1)] ?? [];
    },
  };
}

function options(overrides: Partial<TaskWaitOptions> = {}): TaskWaitOptions & { states: string[] } {
  const states: string[] = [];
  return {
    states,
    select: () => true,
    startMs: 60_000,
    unschedulableMs: 60_000,
    signal: new AbortController().signal,
    onState: (state, error) => states.push(error ? `${state} (${error})` : state),
    ...overrides,
  };
}

describe("task states", () => {
  it("tells ended, running and unschedulable tasks apart", () => {
    for (const state of ["complete", "shutdown", "failed", "rejected", "remove", "orphaned"]) expect(isEndedTask(task("t", state))).toBe(true);
    for (const state of ["new", "pending", "assigned", "preparing", "starting", "running"]) expect(isEndedTask(task("t", state))).toBe(false);
    expect(isEndedTask({ ID: "t" })).toBe(false);
    expect(isRunningTask(task("t", "running"))).toBe(true);
    expect(isRunningTask(task("t", "running", { DesiredState: "shutdown" }))).toBe(false);
    expect(schedulerError([task("a", "running"), task("b", "pending", {}, "host-mode port already in use on 1 node")])).toBe(
      "host-mode port already in use on 1 node",
    );
    expect(schedulerError([task("a", "pending"), task("b", "failed", {}, "boom")])).toBeUndefined();
  });
});

describe("waitForTask", () => {
  it("returns the running task among the selected ones", async () => {
    const mine = task("mine", "running", { Spec: { ForceUpdate: 2 } });
    const { tasks, calls } = listing([[task("old", "running", { Spec: { ForceUpdate: 1 } }), mine]]);
    const wait = await waitForTask({ tasks }, "svc", options({ select: (t) => t.Spec?.ForceUpdate === 2 }));
    expect(wait).toEqual({ outcome: "running", task: mine });
    expect(calls).toEqual(["svc"]);
  });

  it("returns a selected task that ended", async () => {
    const failed = task("t", "failed");
    expect(await waitForTask(listing([[failed]]), "svc", options())).toEqual({ outcome: "ended", task: failed });
  });

  it("returns the scheduler's error once it lasted unschedulableMs", async () => {
    const o = options({ unschedulableMs: 0 });
    const wait = await waitForTask(listing([[task("t", "pending", {}, "no suitable node")]]), "svc", o);
    expect(wait).toEqual({ outcome: "unschedulable", error: "no suitable node" });
    expect(o.states).toEqual([]);
  });

  it("returns the last state seen when startMs passed, telling each new state", async () => {
    const o = options({ startMs: 0 });
    expect(await waitForTask(listing([[task("t", "preparing")]]), "svc", o)).toEqual({ outcome: "timeout", lastState: "preparing" });
    expect(o.states).toEqual(["preparing"]);
    expect(await waitForTask(listing([[]]), "svc", options({ startMs: 0 }))).toEqual({ outcome: "timeout", lastState: "not created yet" });
  });

  it("tells the scheduler's error with the state while it waits for it", async () => {
    const o = options({ startMs: 0 });
    await waitForTask(listing([[task("t", "pending", {}, "host-mode port already in use")]]), "svc", o);
    expect(o.states).toEqual(["pending (host-mode port already in use)"]);
  });

  it("is cancelled without listing tasks when the signal has aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const { tasks, calls } = listing([[task("t", "running")]]);
    expect(await waitForTask({ tasks }, "svc", options({ signal: controller.signal }))).toEqual({ outcome: "cancelled" });
    expect(calls).toEqual([]);
  });

  it("throws what the task listing throws", async () => {
    const tasks = async (): Promise<SwarmTask[]> => {
      throw new Error("task list: engine down");
    };
    await expect(waitForTask({ tasks }, "svc", options())).rejects.toThrow("task list: engine down");
  });
});
