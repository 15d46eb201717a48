/**
 * A Gitee PR through the whole pipeline for real: recorded Gitee payloads (rewritten to point at a
 * fake repository) POSTed over HTTP to berth's Gitee route with signature-mode headers, the Gitee
 * API v5 fake (every request and answer checked against the swagger), the real Docker engine and
 * the real registry started by scripts/services.sh.
 * open → build → push → preview answers → tests pass → one status comment and stage labels →
 * `/test` from a collaborator re-runs the tests (a stranger is refused) → a delivery whose comment
 * the API does not confirm runs nothing → forged, stale and replayed signatures change nothing →
 * merge removes the preview and the comment says so.
 */
import { repoSlug } from "../../src/domain/naming.js";
import axios from "axios";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { RunStatus } from "../../src/domain/types.js";
import { GiteeClient } from "../../src/hosts/gitee/gitee-client.js";
import { GiteeHost } from "../../src/hosts/gitee/gitee-host.js";
import { createGiteeWebhookHandler, GITEE_WEBHOOK_PATH } from "../../src/ingress/gitee-webhook.js";
import { signGiteeTimestamp } from "../../src/ingress/gitee-signature.js";
import { BodyGate } from "../../src/web/bounded-body.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { FakeGiteeApi, type FakeFile } from "../fakes/gitee-api.js";
import { GITEE_FIXTURE_EVENTS, loadGiteeFixture } from "../fixtures/gitee/gitee-fixtures.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";
import { removeHostObjects } from "../helpers/engine-cleanup.js";
import { serveRoutes, type RouteServer } from "../helpers/route-server.js";
import { commitFilesOf } from "../helpers/tar-entries.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const redact = createRedactor([]);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

const TOKEN = "9f0c2be1d4a7e3f5b6c8a0d2e4f6a8b0";
const SECRET = "gitee-it-webhook-secret-7c41";
const BOT = "berth-bot";
const OWNER = "acme";
const NAME = "gitee-shop";
const REPO = `${OWNER}/${NAME}`;
const PR = 9;
const HEAD_REF = "feature/preview";
/** Author of the recorded payloads; made a collaborator with Gitee's `push` permission. */
const COLLABORATOR = "kit101";
const MARKER = "<!-- berth:status -->";
const ALL_RUN_STATUSES: RunStatus[] = ["queued", "running", "passed", "failed", "superseded", "cancelled"];

let fake: FakeGiteeApi;
let harness: Harness;
let server: RouteServer | undefined;
let serverUrl: string;
let headSha: string;

/** Shared between the steps below (they run in order, as the PR's life does). */
const state: { previewUrl?: string; containerId?: string; reportId?: string } = {};

/**
 * A recorded payload pointed at the fake repository, PR and head commit. Only text is rewritten:
 * every other field stays as Gitee sent it.
 */
function giteePayload(fixture: string, options: { prNumber: number; headSha: string }): Record<string, any> {
  const text = JSON.stringify(loadGiteeFixture(fixture))
    .replaceAll("kit101/drone-yml-test", REPO)
    .replaceAll('"drone-yml-test"', JSON.stringify(NAME))
    .replaceAll('"namespace":"kit101"', `"namespace":${JSON.stringify(OWNER)}`)
    .replace(/\/pulls\/\d+/g, `/pulls/${options.prNumber}`);
  const payload = JSON.parse(text) as Record<string, any>;
  const pull = payload.pull_request as Record<string, any>;
  pull.number = options.prNumber;
  pull.head.sha = options.headSha;
  pull.head.ref = HEAD_REF;
  if ("number" in payload) payload.number = options.prNumber;
  if ("iid" in payload) payload.iid = options.prNumber;
  return payload;
}

/**
 * A Note Hook with `body` written by `login` on the PR. The comment is written on the fake too
 * (berth reads it back from the API), unless `onGitee` says what Gitee holds under that id instead.
 */
function notePayload(body: string, login: string, onGitee: { body: string; login: string } = { body, login }): Record<string, any> {
  const payload = giteePayload("note_hook_pr_comment.json", { prNumber: PR, headSha });
  const id = fake.addComment(OWNER, NAME, PR, onGitee.body, onGitee.login);
  payload.note = body;
  payload.comment.id = id;
  payload.comment.body = body;
  payload.comment.html_url = `https://gitee.com/${REPO}/pulls/${PR}#note_${id}`;
  for (const user of [payload.comment.user, payload.author, payload.sender]) {
    Object.assign(user, { login, name: login, username: login, user_name: login, html_url: `https://gitee.com/${login}` });
  }
  return payload;
}

interface Delivery {
  /** `X-Gitee-Token`; default: the signature of `timestamp`. */
  token?: string;
  /** `X-Gitee-Timestamp` in ms; default: now. */
  timestamp?: number;
}

/** POST a payload to the Gitee route as Gitee does (signature mode). */
async function deliver(fixture: string, payload: Record<string, any>, delivery: Delivery = {}): Promise<{ status: number; data: Record<string, unknown> }> {
  const timestamp = String(delivery.timestamp ?? Date.now());
  const token = delivery.token ?? signGiteeTimestamp(SECRET, timestamp);
  const event = GITEE_FIXTURE_EVENTS[fixture];
  if (!event) throw new Error(`no event header known for ${fixture}`);
  // Gitee repeats the signature in the body; berth reads only the headers.
  const body = JSON.stringify({ ...payload, timestamp, sign: token });
  const res = await axios.post(`${serverUrl}${GITEE_WEBHOOK_PATH}`, body, {
    headers: {
      "Content-Type": "application/json",
      "User-Agent": "git-oschina-hook",
      "X-Gitee-Event": event,
      "X-Git-Oschina-Event": event,
      "X-Gitee-Ping": "false",
      "X-Gitee-Token": token,
      "X-Gitee-Timestamp": timestamp,
    },
    timeout: 10_000,
    validateStatus: () => true,
  });
  return { status: res.status, data: res.data as Record<string, unknown> };
}

async function containersOf(pr: number): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: ["berth.host=gitee", `berth.repo=${REPO}`, `berth.pr=${pr}`] } });
  return list.map((c) => c.Id);
}

async function networksOf(pr: number): Promise<string[]> {
  const list = await docker.listNetworks({ filters: { label: ["berth.host=gitee", `berth.repo=${REPO}`, `berth.pr=${pr}`] } });
  return list.map((n) => n.Id);
}

/** The one status comment on the Gitee PR. */
function statusComment(): string {
  const mine = fake.comments(OWNER, NAME, PR).filter((c) => c.body.includes(MARKER));
  expect(mine).toHaveLength(1);
  expect(mine[0]?.user).toBe(BOT);
  return mine[0]!.body;
}

async function runCount(): Promise<number> {
  return (await harness.store.runsWithStatus(ALL_RUN_STATUSES)).length;
}

function describeCalls(from: number): string {
  return fake.calls
    .slice(from)
    .map((c) => `${c.method} ${c.path.replace(`/api/v5/repos/${REPO}/`, "")}`)
    .join(", ");
}

beforeAll(async () => {
  fake = await FakeGiteeApi.start({ token: TOKEN, botLogin: BOT });
  fake.addRepo({ owner: OWNER, name: NAME, defaultBranch: "master" });
  // Policy comes from the default branch: berth.yml lives there, under `.gitee/`.
  fake.addCommit(OWNER, NAME, { ".gitee/berth.yml": sampleRepoConfig("ok"), "README.md": "# gitee shop\n" }, "master");
  const source = await sampleSource({ variant: "ok", marker: "gitee-head-commit", busybox: services.busybox });
  headSha = fake.addCommit(OWNER, NAME, await commitFilesOf(source.data), HEAD_REF);
  fake.addPull(OWNER, NAME, { number: PR, headSha, headRef: HEAD_REF, author: COLLABORATOR, title: "feat add 3" });
  fake.setCollaborator(OWNER, NAME, COLLABORATOR, "push");

  const giteeLog = log.child({ name: "gitee" });
  const host = new GiteeHost({ client: new GiteeClient({ token: TOKEN, baseUrl: fake.baseUrl, log: giteeLog }), log: giteeLog, botLogin: BOT });
  harness = await createHarness({
    registry: `${services.registry}/berth-it-gitee`,
    commentIntervalMs: 2000,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    // Wired as src/main.ts wires production: the route only records and enqueues.
    extraHosts: [
      {
        host,
        route: (engine) =>
          createGiteeWebhookHandler({
            secrets: { byScope: { [REPO]: SECRET } },
            gate: new BodyGate(16),
            log: giteeLog,
            botLogin: BOT,
            onEvent: async (event) => void (await engine.accept(event)),
          }),
      },
    ],
  });

  server = await serveRoutes(harness.routes);
  serverUrl = server.url;
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await server?.close();
  await fake?.close();
  // Nothing this file started may outlive it.
  await removeHostObjects(docker, "gitee");
});

describe("Gitee PR on the local Docker engine", () => {
  it("opens: builds, pushes, previews, tests, comments once and labels the PR", { timeout: 180_000 }, async () => {
    const callsBefore = fake.calls.length;
    const started = Date.now();
    const ack = await deliver("pr_open.json", giteePayload("pr_open.json", { prNumber: PR, headSha }));
    const ackMs = Date.now() - started;
    expect(ack.status).toBe(200);
    expect(ack.data).toMatchObject({ ok: true, kind: "pr-updated" });
    await harness.engine.idle();
    const pipelineMs = Date.now() - started;

    const body = statusComment();
    expect(body).toContain(`preview of \`${headSha.slice(0, 7)}\``);
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toContain("2 passed, 0 failed, 1 skipped");
    expect(body).toContain("trigger `opened`");
    expect(body).not.toContain(TOKEN);
    // The status comment is the only comment: no extra replies on a plain open.
    expect(fake.comments(OWNER, NAME, PR)).toHaveLength(1);

    // The config was read from `.gitee/berth.yml` on the default branch, the source from the head commit.
    const giteeCalls = fake.calls.slice(callsBefore);
    expect(giteeCalls.some((c) => c.method === "GET" && c.path === `/api/v5/repos/${REPO}/contents/.gitee/berth.yml` && c.query.ref === "master")).toBe(true);
    expect(giteeCalls.some((c) => c.method === "GET" && c.path === `/api/v5/repos/${REPO}/git/trees/${headSha}`)).toBe(true);
    expect(giteeCalls.every((c) => c.tokenIn !== null && c.status >= 200 && c.status < 300)).toBe(true);

    // The image of the head commit is in the registry (Gitee repos are prefixed with the host) with the digest the comment shows.
    const tag = `pr-${PR}-${headSha.slice(0, 7)}`;
    const manifest = await axios.head(`http://${services.registry}/v2/berth-it-gitee/${repoSlug({ host: "gitee", owner: OWNER, name: NAME })}/manifests/${tag}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      validateStatus: () => true,
    });
    expect(manifest.status).toBe(200);
    const digest = String(manifest.headers["docker-content-digest"]);
    expect(body).toContain(digest.slice(0, 19));

    // The preview answers on its URL with the head commit's page.
    const url = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(body)?.[1];
    expect(url).toBeDefined();
    const page = await axios.get(String(url), { timeout: 5000 });
    expect(page.data).toContain("gitee-head-commit");
    const containers = await containersOf(PR);
    expect(containers).toHaveLength(1);

    // The report link of the comment opens the report with the cases.
    const reportId = /https:\/\/berth\.example\.com\/reports\/([0-9a-f]{16})\)/.exec(body)?.[1];
    expect(reportId).toBeDefined();
    const report = await axios.get(`${serverUrl}/reports/${reportId}`, { timeout: 5000 });
    expect(report.status).toBe(200);
    expect(report.data).toContain("home page answers");
    expect(report.data).toContain("home page shows the marker");
    expect(report.data).toContain("checkout flow");

    // Gitee has no commit statuses: each stage's result is a PR label.
    expect([...fake.prLabels(OWNER, NAME, PR)].sort()).toEqual(["berth:build-passed", "berth:deploy-passed", "berth:test-passed"]);

    state.previewUrl = url;
    state.containerId = containers[0];
    state.reportId = reportId;
    console.info(
      `gitee pipeline (open → tests, real Docker): webhook answered in ${ackMs} ms, ${pipelineMs} ms wall, ${giteeCalls.length} Gitee API calls: ${describeCalls(callsBefore)}`,
    );
    fake.assertNoViolations();
  });

  it("refuses `/test` from a stranger and re-runs the tests for a collaborator with push permission", { timeout: 120_000 }, async () => {
    expect(state.reportId).toBeDefined();
    const runsBefore = await runCount();

    const refused = await deliver("note_hook_pr_comment.json", notePayload("/test", "mallory"));
    expect(refused.status).toBe(200);
    expect(refused.data).toMatchObject({ ok: true, kind: "pr-comment" });
    await harness.engine.idle();
    expect(await runCount()).toBe(runsBefore);
    expect(fake.comments(OWNER, NAME, PR).map((c) => c.body)).toContain("`/test` needs write permission on this repository; @mallory has none. Nothing was run.");

    const started = Date.now();
    const accepted = await deliver("note_hook_pr_comment.json", notePayload("/test", COLLABORATOR));
    expect(accepted.status).toBe(200);
    expect(accepted.data).toMatchObject({ ok: true, kind: "pr-comment" });
    await harness.engine.idle();
    const testMs = Date.now() - started;
    expect(await runCount()).toBe(runsBefore + 1);

    const body = statusComment();
    expect(body).toContain("trigger `/test`");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toContain("2 passed, 0 failed, 1 skipped");
    expect(body).toContain(`**Preview:** ${state.previewUrl} (commit \`${headSha.slice(0, 7)}\`)`);
    // A new test run (new report) against the same preview: nothing was rebuilt or redeployed.
    const reportId = /https:\/\/berth\.example\.com\/reports\/([0-9a-f]{16})\)/.exec(body)?.[1];
    expect(reportId).toBeDefined();
    expect(reportId).not.toBe(state.reportId);
    expect(await containersOf(PR)).toEqual([state.containerId]);
    expect([...fake.prLabels(OWNER, NAME, PR)].sort()).toEqual(["berth:build-passed", "berth:deploy-passed", "berth:test-passed"]);
    console.info(`gitee /test re-run: ${testMs} ms wall`);
    fake.assertNoViolations();
  });

  it("runs nothing for a comment the Gitee API does not confirm (forged author and text)", { timeout: 60_000 }, async () => {
    expect(state.containerId).toBeDefined();
    const runsBefore = await runCount();
    const commentsBefore = fake.comments(OWNER, NAME, PR).length;
    // The payload says the collaborator wrote `/test`; Gitee says a stranger wrote something else.
    const forged = await deliver("note_hook_pr_comment.json", notePayload("/test", COLLABORATOR, { body: "looks good", login: "mallory" }));
    expect(forged.status).toBe(200);
    // A comment id Gitee does not have at all.
    const ghost = notePayload("/test", COLLABORATOR);
    ghost.comment.id = 987_654_321;
    expect((await deliver("note_hook_pr_comment.json", ghost)).status).toBe(200);
    await harness.engine.idle();

    expect(await runCount()).toBe(runsBefore);
    // Only the two comments this test put on the fake: berth replied nothing.
    expect(fake.comments(OWNER, NAME, PR)).toHaveLength(commentsBefore + 2);
    expect(statusComment()).toContain("trigger `/test`");
    fake.assertNoViolations();
  });

  it("answers forged and stale signatures with 401 and queues nothing", { timeout: 60_000 }, async () => {
    expect(state.containerId).toBeDefined();
    const merge = giteePayload("pr_merge.json", { prNumber: PR, headSha });
    const callsBefore = fake.calls.length;
    const runsBefore = await runCount();

    const forged = await deliver("pr_merge.json", merge, { token: signGiteeTimestamp("not-the-secret", String(Date.now())) });
    expect(forged).toEqual({ status: 401, data: { error: "invalid token" } });
    // Correctly signed, but two hours old: a replay.
    const old = Date.now() - 2 * 60 * 60 * 1000;
    const stale = await deliver("pr_merge.json", merge, { timestamp: old, token: signGiteeTimestamp(SECRET, String(old)) });
    expect(stale).toEqual({ status: 401, data: { error: "invalid token" } });

    // Signed for another repository: its secret does not verify this one.
    const elsewhere = await deliver("pr_merge.json", merge, { token: signGiteeTimestamp("secret-of-another-repo", String(Date.now())) });
    expect(elsewhere.status).toBe(401);

    // A good signature already used (here on a delivery berth ignores) cannot carry a merge.
    const timestamp = Date.now();
    const ignored = giteePayload("pr_open.json", { prNumber: PR, headSha });
    ignored.action = "update";
    ignored.action_desc = "title_changed";
    expect((await deliver("pr_open.json", ignored, { timestamp })).data).toMatchObject({ ok: true, ignored: expect.any(String) });
    const replayed = await deliver("pr_merge.json", merge, { timestamp });
    expect(replayed).toEqual({ status: 200, data: { ok: true, ignored: "signature already used" } });

    await harness.engine.idle();
    expect(await harness.store.pendingInbox()).toEqual([]);
    expect(await runCount()).toBe(runsBefore);
    expect(fake.calls.length).toBe(callsBefore);
    // Had either been accepted, the preview would be gone.
    expect(await containersOf(PR)).toEqual([state.containerId]);
    expect((await axios.get(String(state.previewUrl), { timeout: 5000 })).data).toContain("gitee-head-commit");
    fake.assertNoViolations();
  });

  it("merges: removes the preview container and network and says the preview is gone", { timeout: 120_000 }, async () => {
    expect(state.containerId).toBeDefined();
    // berth reads the PR back before acting: Gitee says it is merged.
    fake.updatePull(OWNER, NAME, PR, { state: "merged" });
    const ack = await deliver("pr_merge.json", giteePayload("pr_merge.json", { prNumber: PR, headSha }));
    expect(ack.status).toBe(200);
    expect(ack.data).toMatchObject({ ok: true, kind: "pr-closed" });
    await harness.engine.idle();

    expect(await containersOf(PR)).toEqual([]);
    expect(await networksOf(PR)).toEqual([]);
    const body = statusComment();
    expect(body).toContain("The PR is closed: its preview is gone.");
    expect(body).toContain("**Preview:** none running");
    expect(fake.comments(OWNER, NAME, PR).every((c) => !c.body.includes(TOKEN))).toBe(true);
    console.info(`gitee PR total: ${fake.calls.length} Gitee API calls, ${fake.comments(OWNER, NAME, PR).length} comment(s) on the PR`);
    fake.assertNoViolations();
  });
});
