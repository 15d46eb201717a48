/**
 * What a crash leaves behind is picked up on the next start: runs left "running" are re-queued (or
 * failed after too many attempts, so no comment stays "running" forever), and previews of PRs that
 * were closed meanwhile are removed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterEach, beforeEach, expect, it } from "vitest";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import type { BotEvent, RepoRef } from "../../src/domain/types.js";
import { previewKeyOf } from "../../src/domain/preview-key.js";
import { prKeyOf, type RunRecord } from "../../src/domain/records.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { INSTALLATION_ID, pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const REPO: RepoRef = { host: "github", owner: "Codertocat", name: "Hello-World", installationId: INSTALLATION_ID, defaultBranch: "master", htmlUrl: "https://github.com/Codertocat/Hello-World" };
const SHA = "3".repeat(40);
const config = parseRepoConfig("test:\n  command: [sh, -c, 'true']\n");

let dataDir: string;
let harness: Harness | undefined;

beforeEach(async () => {
  nock.disableNetConnect();
  dataDir = mkdtempSync(join(tmpdir(), "berth-restart-"));
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  rmSync(dataDir, { recursive: true, force: true });
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

async function crashedRun(store: Store, prNumber: number, attempts: number): Promise<RunRecord> {
  if (!config.ok) throw new Error(config.error);
  const prKey = prKeyOf(REPO, prNumber);
  await store.savePull({ prKey, repo: REPO, prNumber, headSha: SHA, state: "open", fromFork: false, url: `https://github.com/Codertocat/Hello-World/pull/${prNumber}` });
  const run: RunRecord = {
    id: `crashed${prNumber}`,
    prKey,
    repo: REPO,
    prNumber,
    sha: SHA,
    kind: "pipeline",
    plan: ["build", "deploy", "test"],
    trigger: "push",
    status: "queued",
    config: config.config,
    reuseImage: false,
    attempts: 0,
    createdAt: 1,
  };
  await store.insertRun(run);
  await store.updateRun(run.id, { status: "running", attempts, startedAt: 2 });
  await store.updateStage(run.id, "build", { state: "running", startedAt: 2 });
  return run;
}

it("re-queues a run a crash left running, fails one interrupted too often, and removes previews of closed PRs", async () => {
  const store = SqliteStore.open(dataDir);
  await crashedRun(store, 2, 1);
  await crashedRun(store, 4, 2);
  // PR 3 had a preview; it was closed while berth was down.
  const closedKey = prKeyOf(REPO, 3);
  await store.savePull({
    prKey: closedKey,
    repo: REPO,
    prNumber: 3,
    headSha: SHA,
    state: "open",
    fromFork: false,
    url: "https://github.com/Codertocat/Hello-World/pull/3",
    preview: { target: "docker", sha: SHA, url: "http://127.0.0.1:1/", internalUrl: "http://x:1", runId: "old", deployedAt: 1 },
  });
  await store.close();

  const github = mockGitHub({ config: null, endpoints: ["token", "tarball", "listComments", "createComment", "editComment", "status"] });
  const closed = { ...pullRequestPayload({ action: "closed", headSha: SHA }).pull_request, number: 3, state: "closed" };
  nock("https://api.github.com").get("/repos/Codertocat/Hello-World/pulls/3").reply(200, closed);

  const builder = new FakeBuilder();
  const target = new FakeTarget();
  target.exitCode = 0;
  target.junit = `<testsuite name="s"><testcase name="ok"/></testsuite>`;
  harness = await createHarness({ builder, target, dataDir });
  await harness.engine.idle();

  // PR 2: run again from the start, to the end.
  expect(builder.builds.map((b) => b.tag)).toEqual(["127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:pr-2-3333333"]);
  expect((await harness.store.getRun("crashed2"))?.status).toBe("passed");
  expect((await harness.store.getRun("crashed2"))?.attempts).toBe(2);

  // PR 4: interrupted twice already → failed with a reason, never left "running".
  expect((await harness.store.getRun("crashed4"))?.status).toBe("failed");
  const pr4 = github.commentBodies().filter((b) => b.includes("| build |") && b.includes("interrupted by berth restarts"));
  expect(pr4.length).toBeGreaterThan(0);
  expect(pr4.at(-1)).toContain("| build | 🚫 cancelled |");

  // PR 3: preview removed, PR marked closed.
  expect(target.removed).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 3 }]);
  expect((await harness.store.getPull(closedKey))?.preview).toBeUndefined();
  expect((await harness.store.getPull(closedKey))?.state).toBe("closed");
});

it("after state loss, removes previews whose PR the host says is closed and leaves open ones", async () => {
  // berth's data dir is empty, but the engine still runs previews of PRs 8 (closed) and 9 (open).
  const target = new FakeTarget();
  target.hold(previewKeyOf(REPO, 8), SHA);
  target.hold(previewKeyOf(REPO, 9), SHA);
  mockGitHub({ config: null, endpoints: ["token"] });
  const api = nock("https://api.github.com");
  // The App finds its installation on the repository with its JWT, then reads each PR.
  api.get("/repos/Codertocat/Hello-World/installation").reply(200, { id: INSTALLATION_ID, account: { login: "Codertocat" } });
  const base = pullRequestPayload({ action: "closed", headSha: SHA }).pull_request;
  api.get("/repos/Codertocat/Hello-World/pulls/8").reply(200, { ...base, number: 8, state: "closed" });
  api.get("/repos/Codertocat/Hello-World/pulls/9").reply(200, { ...base, number: 9, state: "open" });

  harness = await createHarness({ builder: new FakeBuilder(), target, dataDir });
  await harness.engine.idle();

  expect(target.removed).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 8 }]);
  expect(await target.list()).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 9 }]);
});

async function until(condition: () => boolean | Promise<boolean> | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withPreview(store: Store, prNumber: number): Promise<void> {
  await store.savePull({
    prKey: prKeyOf(REPO, prNumber),
    repo: REPO,
    prNumber,
    headSha: SHA,
    state: "open",
    fromFork: false,
    url: `https://github.com/Codertocat/Hello-World/pull/${prNumber}`,
    preview: { target: "docker", sha: SHA, url: "http://127.0.0.1:1/", internalUrl: "http://x:1", runId: "old", deployedAt: 1 },
  });
}

it("loads and answers webhooks at once while the start-up reconcile still waits for GitHub about the previews", async () => {
  const store = SqliteStore.open(dataDir);
  for (const pr of [11, 12, 13, 14]) await withPreview(store, pr);
  await store.close();
  mockGitHub({ config: null, endpoints: ["token", "config"] });
  // GitHub takes 20 s to say anything about the first preview's PR.
  nock("https://api.github.com").get("/repos/Codertocat/Hello-World/pulls/11").delay(20_000).reply(200, {});

  const began = Date.now();
  harness = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget(), dataDir });
  const loadMs = Date.now() - began;
  console.log(`berth loaded in ${loadMs} ms with GitHub silent about 4 previews`);
  expect(loadMs).toBeLessThan(2_000);

  await harness.probot.receive({ id: "while-reconciling", name: "pull_request", payload: pullRequestPayload({ action: "opened", headSha: SHA }) } as never);
  await until(async () => (await harness?.store.getDelivery("while-reconciling"))?.processedAt !== undefined);
  // The previews are untouched until GitHub answers; stopping does not wait for it.
  expect(await harness.store.pullsWithPreview()).toHaveLength(4);
  const stopping = Date.now();
  await harness.close();
  harness = undefined;
  expect(Date.now() - stopping).toBeLessThan(2_000);
});

it("retries after a restart an event that was waiting for its retry, keeping its attempt count", async () => {
  const store = SqliteStore.open(dataDir);
  const pr = pullRequestPayload({ action: "opened", headSha: SHA }).pull_request;
  const event: BotEvent = {
    kind: "pr-updated",
    deliveryId: "waiting-for-retry",
    action: "opened",
    sender: "Codertocat",
    pr: { repo: REPO, number: pr.number, headSha: SHA, headRef: "feature", baseRef: "master", fromFork: false, url: pr.html_url, author: "Codertocat", state: "open" },
  };
  await store.recordDelivery(event, Date.now() - 60_000);
  await store.deferDelivery("waiting-for-retry", { attempts: 2, nextAttemptAt: Date.now() - 1, error: "HTTP 502: Bad Gateway" });
  await store.close();
  const github = mockGitHub({ config: null, endpoints: ["token", "config"] });

  harness = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget(), dataDir });
  await harness.engine.idle();

  expect(github.calls.filter((c) => c.path.includes("berth.yml"))).toHaveLength(1);
  expect(await harness.store.getDelivery("waiting-for-retry")).toMatchObject({ attempts: 2 });
  expect((await harness.store.getDelivery("waiting-for-retry"))?.processedAt).toBeDefined();
});
