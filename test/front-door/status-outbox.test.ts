/**
 * Front door: commit statuses are off the stages' critical path. GitHub answers each status POST
 * after 1 s (like Octokit's throttling spacing writes); the stages still run back to back, each
 * shows `pending` when it starts, the last state per context lands, and statuses a stopped berth
 * had not written are written by the next one on the same data dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { BuildOutcome, BuildRequest, DeployRequest, DeployResult, TestRequest, TestRunResult } from "../../src/domain/ports.js";
import type { RunRecord } from "../../src/domain/records.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub, type Endpoint } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = `
preview:
  port: 8080
  healthPath: /health
test:
  command: ["sh", "-c", "run-tests"]
`;
const SHA = "3".repeat(40);
const REPO = "Codertocat/Hello-World";
const WRITE_MS = 1000;
/** Everything the pipeline calls but statuses (mocked separately, slow). */
const NOT_STATUS: Endpoint[] = ["token", "config", "tarball", "listComments", "createComment", "editComment"];

interface StatusPost {
  context: string;
  state: string;
  at: number;
}

/** Status POSTs answered after `delayMs`; each is recorded when it arrives. */
function slowStatuses(delayMs: number): StatusPost[] {
  const posts: StatusPost[] = [];
  nock("https://api.github.com")
    .persist()
    .post(new RegExp(`^/repos/${REPO}/statuses/[0-9a-f]{40}$`))
    .reply(function (_uri: string, body: any) {
      posts.push({ context: body.context, state: body.state, at: Date.now() });
      return new Promise<[number, object]>((resolve) => setTimeout(() => resolve([201, { id: 1, ...body }]), delayMs));
    } as never);
  return posts;
}

/** Resolves once the host has received `pending` for `context` (at most `timeoutMs`, so old code fails instead of hanging). */
async function pendingArrived(posts: StatusPost[], context: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!posts.some((p) => p.context === context && p.state === "pending") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

/** Stages that go on only once their own `pending` reached GitHub: every pending is then visible. */
class WatchingBuilder extends FakeBuilder {
  constructor(private readonly posts: StatusPost[]) {
    super();
  }
  override async build(req: BuildRequest): Promise<BuildOutcome> {
    await pendingArrived(this.posts, "berth/build");
    return super.build(req);
  }
}

class WatchingTarget extends FakeTarget {
  constructor(private readonly posts: StatusPost[]) {
    super();
  }
  override async deploy(req: DeployRequest): Promise<DeployResult> {
    await pendingArrived(this.posts, "berth/deploy");
    return super.deploy(req);
  }
  override async runTests(req: TestRequest): Promise<TestRunResult> {
    await pendingArrived(this.posts, "berth/test");
    return super.runTests(req);
  }
}

let harness: Harness | undefined;

beforeEach(async () => {
  nock.disableNetConnect();
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  nock.cleanAll();
  nock.enableNetConnect();
});

async function onlyRun(h: Harness): Promise<RunRecord> {
  const runs = await h.store.latestPipelineRuns(`github:${REPO}#2`, 2);
  expect(runs).toHaveLength(1);
  return runs[0]!;
}

/** Milliseconds between one stage's end and the next one's start, from the store's stage timestamps. */
async function gaps(h: Harness, run: RunRecord): Promise<{ buildToDeploy: number; deployToTest: number }> {
  const stages = Object.fromEntries((await h.store.stagesOf(run.id)).map((s) => [s.name, s]));
  return {
    buildToDeploy: (stages.deploy?.startedAt ?? Infinity) - (stages.build?.finishedAt ?? 0),
    deployToTest: (stages.test?.startedAt ?? Infinity) - (stages.deploy?.finishedAt ?? 0),
  };
}

it("runs the stages back to back while each status write takes 1 s; each stage shows pending first, the last state lands", { timeout: 30_000 }, async () => {
  mockGitHub({ config: CONFIG, endpoints: NOT_STATUS });
  const posts = slowStatuses(WRITE_MS);
  harness = await createHarness({ builder: new WatchingBuilder(posts), target: new WatchingTarget(posts) });
  const started = Date.now();
  await harness.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA }));
  const wallMs = Date.now() - started;

  const run = await onlyRun(harness);
  expect((await harness.store.getRun(run.id))?.status).toBe("failed"); // the fake tests fail
  const gap = await gaps(harness, run);
  console.info(`front door, ${WRITE_MS} ms per status write: build→deploy ${gap.buildToDeploy} ms, deploy→test ${gap.deployToTest} ms, ${wallMs} ms until every status was written`);
  expect(gap.buildToDeploy).toBeLessThan(200);
  expect(gap.deployToTest).toBeLessThan(200);

  // Each stage: pending when it starts, then its result; nothing else, in stage order per context.
  const byContext = (context: string) => posts.filter((p) => p.context === context).map((p) => p.state);
  expect(byContext("berth/build")).toEqual(["pending", "success"]);
  expect(byContext("berth/deploy")).toEqual(["pending", "success"]);
  expect(byContext("berth/test")).toEqual(["pending", "failure"]);
  expect(posts[0]).toMatchObject({ context: "berth/build", state: "pending" });
  // One write at a time for the installation: POSTs arrive at least a write apart.
  for (let i = 1; i < posts.length; i++) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(WRITE_MS - 50);
  // engine.idle() means every status is written: nothing is left in the outbox.
  expect(await harness.store.outboxStatuses()).toEqual([]);
});

it("writes statuses a stopped berth left in the outbox from the next berth on the same data dir", { timeout: 30_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "berth-outbox-restart-"));
  try {
    mockGitHub({ config: CONFIG, endpoints: NOT_STATUS });
    const slow = slowStatuses(WRITE_MS);
    const first = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget(), dataDir });
    harness = first;
    await first.probot.receive({ id: "restart-1", name: "pull_request", payload: pullRequestPayload({ action: "opened", headSha: SHA }) } as never);
    // The pipeline ends long before its statuses are written (1 s each).
    const deadline = Date.now() + 5000;
    while ((await first.store.latestPipelineRuns(`github:${REPO}#2`, 1))[0]?.status !== "failed" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await first.store.latestPipelineRuns(`github:${REPO}#2`, 1))[0]?.status).toBe("failed");
    expect((await first.store.outboxStatuses()).length).toBeGreaterThan(0);
    await first.close();
    harness = undefined;
    expect(slow.length).toBeLessThan(3);
    nock.cleanAll();

    const github = mockGitHub({ config: CONFIG, endpoints: ["token", "status"] });
    const second = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget(), dataDir });
    harness = second;
    await second.engine.idle();
    expect(await second.store.outboxStatuses()).toEqual([]);
    // Whatever the first berth wrote, the second wrote the rest: the last state per context is the run's.
    const written = [...slow.map((p) => ({ context: p.context, state: p.state })), ...github.statuses().map((s) => ({ context: s.context, state: s.state }))];
    const last = new Map(written.map((s) => [s.context, s.state]));
    expect(Object.fromEntries(last)).toEqual({ "berth/build": "success", "berth/deploy": "success", "berth/test": "failure" });
    expect(github.statuses().length).toBeGreaterThan(0);
  } finally {
    await harness?.close();
    harness = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
