/**
 * How the dashboard holds up: rendering an overview with many runs and previews (hostile text
 * included, so escaping is on the path), fanning a stage's output out to many live-log streams,
 * and the delay from a log line to a client over real HTTP. Prints numbers; asserts nothing.
 *
 *   node --import tsx bench/dashboard.ts
 */
import { request, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServerResponse } from "node:http";
import { EventEmitter } from "node:events";
import type { PullRecord, RunRecord } from "../src/domain/records.js";
import { RunEvents } from "../src/pipeline/run-events.js";
import { LiveLogStreams } from "../src/web/dashboard/live-log.js";
import { layout, renderOverview } from "../src/web/dashboard/pages.js";
import type { Session } from "../src/web/auth/session.js";
import { median } from "./stats.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const HOSTILE = `"><script>alert(1)</script>`;
const session: Session = { user: { kind: "admin" }, csrf: "c".repeat(32) };
const now = Date.now();

function run(i: number): RunRecord {
  return { id: `run-${i}`, prKey: `github:acme/app#${i}`, repo: REPO, prNumber: i, sha: "a".repeat(40), kind: "pipeline", plan: ["build", "deploy", "test"], trigger: HOSTILE, status: i % 3 ? "queued" : "running", reason: HOSTILE, reuseImage: false, attempts: 0, createdAt: now - i * 1000 };
}
function pull(i: number): PullRecord {
  return { prKey: `github:acme/app#${i}`, repo: REPO, prNumber: i, headSha: "b".repeat(40), state: "open", fromFork: false, url: `https://github.com/acme/app/pull/${i}`, preview: { target: "docker", sha: "b".repeat(40), url: `https://pr-${i}.example.test/${HOSTILE}`, internalUrl: "", runId: `run-${i}`, deployedAt: now - i * 60_000 } };
}

// ---- 1. Overview render: 200 active runs, 500 previews, 10 failures, 20 audit entries.
const view = {
  now,
  session,
  repos: [REPO],
  active: Array.from({ length: 200 }, (_, i) => ({ run: run(i), owner: "replica-a" })),
  previews: Array.from({ length: 500 }, (_, i) => ({ pull: pull(i) })),
  failures: Array.from({ length: 10 }, (_, i) => ({ ...run(i), status: "failed" as const })),
  audit: Array.from({ length: 20 }, (_, i) => ({ seq: i, at: now, actor: "github:alice", repoKey: "github:acme/app", action: "delete", target: `#${i}`, result: "accepted" as const, detail: HOSTILE })),
};
const renders: number[] = [];
let size = 0;
for (let i = 0; i < 30; i++) {
  const t = performance.now();
  size = layout({ title: "Overview", body: renderOverview(view), session }).length;
  renders.push(performance.now() - t);
}
console.log(`overview render (200 runs, 500 previews): median ${median(renders).toFixed(2)} ms, ${(size / 1024).toFixed(0)} KiB of HTML`);

// ---- 2. Fan-out: 100 000 log lines to 50 streams with sockets that always take more.
class Sink extends EventEmitter {
  bytes = 0;
  writableEnded = false;
  write(chunk: string): boolean {
    this.bytes += chunk.length;
    return true;
  }
  writeHead(): this {
    return this;
  }
  flushHeaders(): void {}
  end(): void {
    this.writableEnded = true;
  }
}
const events = new RunEvents();
const streams = new LiveLogStreams({ events, heartbeatMs: 60_000 });
const live = { id: "live-run" } as RunRecord;
const sinks = Array.from({ length: 50 }, () => new Sink());
for (const sink of sinks) await streams.stream(sink as unknown as ServerResponse, live.id, async () => ({ kind: "here" }));
const lines = 100_000;
const t0 = performance.now();
for (let i = 0; i < lines; i++) events.emit({ type: "log-line", run: live, stage: "build", line: `Step ${i}/100000 : RUN make target-${i} ${"x".repeat(60)}`, at: 0 });
const fanMs = performance.now() - t0;
console.log(`fan-out: ${lines} lines to ${sinks.length} streams in ${fanMs.toFixed(0)} ms (${((fanMs * 1000) / lines).toFixed(1)} µs per line for all streams, ${(sinks[0]!.bytes / 1024 / 1024).toFixed(1)} MiB each)`);
for (const sink of sinks) sink.emit("close");

// ---- 3. Line-to-client delay over loopback HTTP (Node's own client reading the SSE stream).
const httpEvents = new RunEvents();
const httpStreams = new LiveLogStreams({ events: httpEvents });
const server = createServer((_req, res) => void httpStreams.stream(res, live.id, async () => ({ kind: "here" })));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as AddressInfo).port;
const delays: number[] = [];
await new Promise<void>((resolve, reject) => {
  const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
    let sentAt = 0;
    let count = 0;
    const next = () => {
      sentAt = performance.now();
      httpEvents.emit({ type: "log-line", run: live, stage: "build", line: `line ${count}`, at: 0 });
    };
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      if (chunk.includes("event: source")) return void setImmediate(next);
      if (!chunk.includes("event: line")) return;
      delays.push(performance.now() - sentAt);
      if (++count === 500) {
        req.destroy();
        resolve();
      } else setImmediate(next);
    });
  });
  req.on("error", (e) => (delays.length >= 500 ? resolve() : reject(e)));
  req.end();
});
server.closeAllConnections();
server.close();
console.log(`line to client over loopback HTTP: median ${(median(delays) * 1000).toFixed(0)} µs, p99 ${(delays.sort((a, b) => a - b)[Math.floor(delays.length * 0.99)]! * 1000).toFixed(0)} µs (500 lines)`);
