/**
 * The live log stream: a slow connection's backlog stays within its bound (lines beyond it are
 * counted and reported, stage and end events are kept), listeners go when the client leaves or
 * the run ends, other runs' lines are not sent, and a run that is not here falls back to its
 * stored logs and says so.
 */
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/domain/records.js";
import { RunEvents } from "../../src/pipeline/run-events.js";
import { BoundedSseWriter, LiveLogStreams, sseEvent, STORED_TAIL_LINES } from "../../src/web/dashboard/live-log.js";

/** A response whose socket takes `capacity` writes, then waits for `drain()`. */
class SlowResponse extends EventEmitter {
  readonly written: string[] = [];
  status = 0;
  writableEnded = false;
  constructor(public capacity = Infinity) {
    super();
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return --this.capacity > 0;
  }
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  flushHeaders(): void {}
  end(chunk?: string): void {
    if (chunk) this.written.push(chunk);
    this.writableEnded = true;
  }
  drain(capacity = Infinity): void {
    this.capacity = capacity;
    this.emit("drain");
  }
  text(): string {
    return this.written.join("");
  }
}

const RUN = { id: "run-1" } as RunRecord;
const OTHER = { id: "run-2" } as RunRecord;

function listeners(events: RunEvents): number {
  return (events as unknown as { listeners: Set<unknown> }).listeners.size;
}

describe("BoundedSseWriter", () => {
  it("keeps at most its bound while the socket is full, then reports the dropped lines", () => {
    const res = new SlowResponse(1);
    const writer = new BoundedSseWriter(res as unknown as ServerResponse, 100);
    writer.send("first\n\n"); // fills the socket
    for (let i = 0; i < 50; i++) writer.send(`line ${String(i).padStart(2, "0")} ...\n\n`);
    writer.send("stage event\n\n", false);
    expect(writer.bufferedBytes).toBeLessThanOrEqual(100 + "stage event\n\n".length);
    expect(writer.droppedLines).toBeGreaterThan(40);
    const dropped = writer.droppedLines;
    res.drain();
    const text = res.text();
    expect(text.startsWith("first\n\nline 00")).toBe(true);
    expect(text).toContain("stage event");
    expect(text).toContain(sseEvent("dropped", { lines: dropped }));
    expect(writer.bufferedBytes).toBe(0);
    expect(writer.droppedLines).toBe(0);
  });
});

describe("LiveLogStreams", () => {
  it("streams this run's lines and stage events, ends with the run and removes its listener", async () => {
    const events = new RunEvents();
    const streams = new LiveLogStreams({ events });
    const res = new SlowResponse();
    await streams.stream(res as unknown as ServerResponse, RUN.id, async () => ({ kind: "here" }));
    expect(res.status).toBe(200);
    expect(streams.connections).toBe(1);
    events.emit({ type: "log-line", run: RUN, stage: "build", line: "<b>hello</b>", at: 1 });
    events.emit({ type: "log-line", run: OTHER, stage: "build", line: "not mine", at: 1 });
    events.emit({ type: "stage-finished", run: RUN, stage: "build", ok: true, detail: {}, facts: {} as never, at: 2 });
    events.emit({ type: "run-finished", run: RUN, status: "passed", at: 3 });
    const text = res.text();
    expect(text).toContain(sseEvent("line", { stage: "build", line: "<b>hello</b>" }));
    expect(text).not.toContain("not mine");
    expect(text).toContain(sseEvent("stage", { stage: "build", state: "passed" }));
    expect(text).toContain("The run ended: passed");
    expect(res.writableEnded).toBe(true);
    expect(listeners(events)).toBe(0);
    expect(streams.connections).toBe(0);
  });

  it("keeps lines emitted while it decides, and cleans up when the client disconnects", async () => {
    const events = new RunEvents();
    const streams = new LiveLogStreams({ events, heartbeatMs: 60_000 });
    const res = new SlowResponse();
    await streams.stream(res as unknown as ServerResponse, RUN.id, async () => {
      events.emit({ type: "log-line", run: RUN, stage: "deploy", line: "during the decision", at: 1 });
      return { kind: "here" };
    });
    expect(res.text()).toContain("during the decision");
    expect(listeners(events)).toBe(1);
    res.emit("close");
    expect(listeners(events)).toBe(0);
    expect(streams.connections).toBe(0);
    events.emit({ type: "log-line", run: RUN, stage: "deploy", line: "after", at: 2 });
    expect(res.text()).not.toContain("after");
  });

  it("falls back to the end of the stored logs elsewhere, and refuses streams beyond its limit", async () => {
    const events = new RunEvents();
    const streams = new LiveLogStreams({ events, maxConnections: 1 });
    const res = new SlowResponse();
    const long = Array.from({ length: STORED_TAIL_LINES + 5 }, (_, i) => `line ${i}`).join("\n");
    await streams.stream(res as unknown as ServerResponse, RUN.id, async () => ({ kind: "elsewhere", owner: "replica-b", stored: [{ stage: "build", text: `${long}\n` }] }));
    const text = res.text();
    expect(text).toContain("replica replica-b");
    expect(text).toContain("5 earlier lines are in the stored log");
    expect(text).not.toContain('"line 4"');
    expect(text).toContain(`"line ${STORED_TAIL_LINES + 4}"`);
    expect(res.writableEnded).toBe(true);
    expect(listeners(events)).toBe(0);

    const held = new SlowResponse();
    await streams.stream(held as unknown as ServerResponse, RUN.id, async () => ({ kind: "here" }));
    const refused = new SlowResponse();
    await streams.stream(refused as unknown as ServerResponse, RUN.id, async () => ({ kind: "here" }));
    expect(refused.status).toBe(503);
    held.emit("close");
    expect(streams.connections).toBe(0);
  });
});
