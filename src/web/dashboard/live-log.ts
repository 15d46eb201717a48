/**
 * A running stage's output over Server-Sent Events, from `RunEvents` (`log-line` events are
 * redacted like the stored log). Only the replica executing a run sees its events; elsewhere (or
 * once the run is over) the stream says so and ends, and the page links the stored logs.
 *
 * Each connection has a bounded buffer: while the socket does not take more (a slow phone), up to
 * `maxBufferedBytes` of events wait; beyond that lines are dropped and counted, and the count is
 * sent when the socket drains. The listener and the heartbeat go when the client disconnects or
 * the run ends. At most `maxConnections` streams are open at once (more are answered 503).
 */
import type { ServerResponse } from "node:http";
import type { RunEvent, RunEvents } from "../../pipeline/run-events.js";

export interface LiveLogOptions {
  events: RunEvents;
  maxBufferedBytes?: number;
  maxConnections?: number;
  heartbeatMs?: number;
}

/** A stage's stored log (the fallback when the live output is not here). */
export interface StoredStageLog {
  stage: string;
  text: string;
}

/** What the stream tells the client first. */
export type LiveSource =
  | { kind: "here" }
  /** Executing on another replica: the stored logs of its finished stages. */
  | { kind: "elsewhere"; owner?: string; stored: StoredStageLog[] }
  | { kind: "finished"; stored: StoredStageLog[] }
  | { kind: "queued" };

/** Lines of a stored log the fallback sends at most (its end: where a failure is). */
export const STORED_TAIL_LINES = 500;

/** One SSE event's wire form (`data` is JSON on one line). */
export function sseEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Writes events to one response with a bounded backlog. */
export class BoundedSseWriter {
  private readonly backlog: string[] = [];
  private backlogBytes = 0;
  private dropped = 0;
  private waiting = false;
  private closed = false;

  constructor(
    private readonly res: Pick<ServerResponse, "write" | "once">,
    private readonly maxBufferedBytes: number,
  ) {}

  /** Queue an event; `droppable` ones (log lines) are dropped when the backlog is full. */
  send(chunk: string, droppable = true): void {
    if (this.closed) return;
    if (!this.waiting) {
      if (this.dropped > 0) this.flushDropped();
      if (!this.res.write(chunk)) this.wait();
      return;
    }
    if (droppable && this.backlogBytes + chunk.length > this.maxBufferedBytes) {
      this.dropped++;
      return;
    }
    this.backlog.push(chunk);
    this.backlogBytes += chunk.length;
  }

  /** Lines dropped so far and not yet reported. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Bytes waiting for the socket. */
  get bufferedBytes(): number {
    return this.backlogBytes;
  }

  close(): void {
    this.closed = true;
    this.backlog.length = 0;
    this.backlogBytes = 0;
  }

  private flushDropped(): void {
    const note = sseEvent("dropped", { lines: this.dropped });
    this.dropped = 0;
    if (!this.res.write(note)) this.wait();
  }

  private wait(): void {
    this.waiting = true;
    this.res.once("drain", () => {
      this.waiting = false;
      while (this.backlog.length > 0 && !this.waiting && !this.closed) {
        const chunk = this.backlog.shift()!;
        this.backlogBytes -= chunk.length;
        if (!this.res.write(chunk)) this.wait();
      }
      if (!this.waiting && this.dropped > 0 && !this.closed) this.flushDropped();
    });
  }
}

export class LiveLogStreams {
  private open = 0;
  private readonly maxBufferedBytes: number;
  private readonly maxConnections: number;
  private readonly heartbeatMs: number;

  constructor(private readonly options: LiveLogOptions) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    this.maxConnections = options.maxConnections ?? 200;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
  }

  /** Streams open now. */
  get connections(): number {
    return this.open;
  }

  /**
   * Answer with the live output of `runId`. `source` is decided by the caller after this
   * listens (so no line between the decision and the subscription is lost): pass a function.
   */
  async stream(res: ServerResponse, runId: string, decide: () => Promise<LiveSource>): Promise<void> {
    if (this.open >= this.maxConnections) {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "10" });
      res.end("too many live log streams are open; try again shortly\n");
      return;
    }
    this.open++;
    const writer = new BoundedSseWriter(res, this.maxBufferedBytes);
    let ended = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const early: RunEvent[] = [];
    let ready = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      this.open--;
      unsubscribe();
      if (heartbeat) clearInterval(heartbeat);
      writer.close();
      if (!res.writableEnded) res.end();
    };
    const deliver = (event: RunEvent): void => {
      if (event.type === "log-line") writer.send(sseEvent("line", { stage: event.stage, line: event.line }));
      else if (event.type === "stage-started") writer.send(sseEvent("stage", { stage: event.stage, state: "running" }), false);
      else if (event.type === "stage-finished") writer.send(sseEvent("stage", { stage: event.stage, state: event.ok ? "passed" : "failed" }), false);
      else if (event.type === "run-finished" || event.type === "run-requeued") {
        writer.send(sseEvent("end", { text: event.type === "run-finished" ? `The run ended: ${event.status}. The stored logs are linked above.` : "The run went back to the queue (berth is restarting)." }), false);
        finish();
      }
    };
    const unsubscribe = this.options.events.on((event) => {
      if (event.run.id !== runId || ended) return;
      if (!ready) early.push(event);
      else deliver(event);
    });
    // The response closes when the client goes away (the request's own "close" means its body was read).
    res.once("close", finish);
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no", connection: "keep-alive" });
    res.flushHeaders();
    let source: LiveSource;
    try {
      source = await decide();
    } catch (error) {
      writer.send(sseEvent("end", { text: `The live output is not available: ${error instanceof Error ? error.message : String(error)}` }), false);
      finish();
      return;
    }
    if (ended) return;
    if (source.kind !== "here") {
      const text =
        source.kind === "elsewhere"
          ? `This run executes on replica ${source.owner ?? "(unknown)"}, so its live output is only there. Shown: the stored logs of its finished stages (reload for more).`
          : source.kind === "queued"
            ? "The run is queued; reload once it starts."
            : "The run is over. Shown: the end of each stage's stored log.";
      writer.send(sseEvent("source", { kind: source.kind, text }), false);
      for (const log of source.kind === "queued" ? [] : source.stored) {
        const lines = log.text.replace(/\n$/, "").split("\n");
        if (lines.length > STORED_TAIL_LINES) writer.send(sseEvent("line", { stage: log.stage, line: `… ${lines.length - STORED_TAIL_LINES} earlier lines are in the stored log …` }));
        for (const line of lines.slice(-STORED_TAIL_LINES)) writer.send(sseEvent("line", { stage: log.stage, line }));
      }
      writer.send(sseEvent("end", { text, reload: false }), false);
      finish();
      return;
    }
    writer.send(sseEvent("source", { kind: "here", text: "Streaming live from this replica." }), false);
    ready = true;
    for (const event of early.splice(0)) deliver(event);
    heartbeat = setInterval(() => writer.send(": keep-alive\n\n", false), this.heartbeatMs);
    heartbeat.unref();
  }
}
