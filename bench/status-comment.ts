/**
 * Benchmark: render cost of the status comment, and how many comment edits (API writes) a burst of
 * stage changes costs with the publisher's edit spacing. Prints numbers; asserts nothing.
 *
 *   npm run bench
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { renderStatusComment, type StatusView } from "../src/render/status-comment.js";
import { CommentPublisher } from "../src/pipeline/comment-publisher.js";
import { SqliteStore } from "../src/pipeline/store-sqlite.js";
import type { CodeHost } from "../src/domain/ports.js";
import type { RepoRef } from "../src/domain/types.js";

const SHA = "abcdef0123456789abcdef0123456789abcdef01";
const view: StatusView = {
  headSha: SHA,
  reportBaseUrl: "https://berth.example.com/reports",
  testsConfigured: true,
  preview: { url: "http://127.0.0.1:32768/", sha: SHA },
  run: {
    id: "r1",
    sha: SHA,
    trigger: "push",
    status: "failed",
    stages: [
      { name: "build", state: "passed", durationMs: 12_000, detail: { image: { ref: "127.0.0.1:5000/p/acme-app:pr-1-abcdef0", digest: `sha256:${"1".repeat(64)}`, pushed: true } } },
      { name: "deploy", state: "passed", durationMs: 3000, detail: { preview: { url: "http://127.0.0.1:32768/", internalUrl: "http://x:8080" } } },
      { name: "test", state: "failed", durationMs: 40_000, detail: { tests: { total: 300, passed: 290, failed: 5, skipped: 5, firstFailures: Array.from({ length: 5 }, (_, i) => ({ name: `suite › case ${i}`, message: "expected 1 got 2" })), reportId: "0011223344556677", exitCode: 1, timedOut: false }, logTail: Array.from({ length: 30 }, (_, i) => `log line ${i}`) } },
    ],
  },
};

const iterations = 20_000;
let bytes = 0;
const started = process.hrtime.bigint();
for (let i = 0; i < iterations; i++) bytes += renderStatusComment(view).length;
const perRenderUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
console.log(`render: ${perRenderUs.toFixed(1)} µs per comment (${Math.round(bytes / iterations)} bytes)`);

// Edits caused by 40 state changes spread over 4 s, at several edit spacings.
const repo: RepoRef = { host: "github", owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
for (const intervalMs of [0, 500, 2000]) {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-"));
  const store = SqliteStore.open(dir);
  let writes = 0;
  const host = {
    kind: "github",
    findComment: async () => null,
    createComment: async () => ({ id: String(++writes) }),
    updateComment: async () => void ++writes,
  } as unknown as CodeHost;
  const prKey = "github:acme/app#1";
  await store.savePull({ prKey, repo, prNumber: 1, headSha: SHA, state: "open", fromFork: false, url: "u" });
  const publisher = new CommentPublisher({ store, hosts: { github: host }, reportBaseUrl: "r", intervalMs, log: pino({ level: "silent" }) });
  for (let i = 0; i < 40; i++) {
    await store.patchPull(prKey, (p) => ({ ...p, notice: { kind: "manual-deploy", text: `change ${i}` } }));
    publisher.request(prKey);
    await new Promise((r) => setTimeout(r, 100));
  }
  await publisher.settle();
  publisher.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`comment edits for 40 changes over 4 s at ${intervalMs} ms spacing: ${writes}`);
}
