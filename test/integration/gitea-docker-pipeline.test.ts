/**
 * A Gitea PR through the whole pipeline for real: the Gitea webhook fixtures (pointed at the Gitea
 * API fake, every request and answer checked against the Gitea 1.27 swagger) POSTed over HTTP to
 * berth's Gitea route with their HMAC signature, the real Docker engine and the real registry.
 * open → build → push → preview answers → tests pass → one status comment and commit statuses →
 * `/test` from a collaborator re-runs the tests (👀; a stranger is refused) → a replayed body changes
 * nothing → a `release-*` tag deploys the production environment → merge removes the preview.
 */
import { createHmac } from "node:crypto";
import axios from "axios";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { repoSlug } from "../../src/domain/naming.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { RunStatus } from "../../src/domain/types.js";
import { GiteaClient } from "../../src/hosts/gitea/gitea-client.js";
import { GiteaHost } from "../../src/hosts/gitea/gitea-host.js";
import { createGiteaWebhookHandler, GITEA_WEBHOOK_PATH } from "../../src/ingress/gitea-webhook.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { BodyGate } from "../../src/web/bounded-body.js";
import { FakeGiteaApi } from "../fakes/gitea-api.js";
import { giteaFixtureEvent, loadGiteaFixture } from "../fixtures/gitea/gitea-fixtures.js";
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

const TOKEN = "7e1b0c9d4a2f8e6b3c5d1a0f9e8d7c6b5a4f3e2d";
const SECRET = "gitea-it-webhook-secret-2b94";
const BOT = "berth-bot";
/** This file's own host id: every Docker object it creates carries it, so other tests' objects are never touched. */
const HOST = "gitea-dockerit";
const OWNER = "acme";
const NAME = "shop";
const REPO = `${OWNER}/${NAME}`;
/** The fixtures' PR and branch. */
const PR = 3;
const HEAD_REF = "feature/badge";
const COLLABORATOR = "bob";
const MARKER = "<!-- berth:status -->";
const ALL_RUN_STATUSES: RunStatus[] = ["queued", "running", "passed", "failed", "superseded", "cancelled"];
const RELEASE_CONFIG = `${sampleRepoConfig("ok")}tags:\n  - match: "release-*"\n    environment: production\n`;

let fake: FakeGiteaApi;
let harness: Harness;
let server: RouteServer | undefined;
let serverUrl: string;
let headSha: string;
let deliveries = 0;
const state: { previewUrl?: string; containerId?: string; reportId?: string } = {};

/** A fixture pointed at the fake server and the head commit. */
function payload(fixture: string, edit: (body: Record<string, any>) => void = () => undefined): Record<string, any> {
  const body = loadGiteaFixture(fixture, fake.url);
  if (body.pull_request) body.pull_request.head.sha = headSha;
  edit(body);
  return body;
}

/** A PR comment by `login`, written on the fake (its id is what berth reacts to). */
function commentPayload(text: string, login: string): Record<string, any> {
  const id = fake.addComment(OWNER, NAME, PR, text, login);
  return payload("issue_comment_pr.json", (body) => {
    body.comment.id = id;
    body.comment.body = text;
    body.comment.user.login = login;
    body.sender.login = login;
  });
}

/** POST as Gitea does: raw body, its HMAC, event and delivery headers (Gitea also sends Gogs'). */
async function deliver(fixture: string, body: Record<string, any>, options: { secret?: string; delivery?: string; raw?: string } = {}): Promise<{ status: number; data: Record<string, unknown> }> {
  const raw = options.raw ?? JSON.stringify(body, null, 2);
  const signature = createHmac("sha256", options.secret ?? SECRET).update(raw).digest("hex");
  const delivery = options.delivery ?? `0b9c6f2e-${String(++deliveries).padStart(4, "0")}-4d1a-9e2f-7c3b5a1d0e8f`;
  const event = giteaFixtureEvent(fixture);
  const res = await axios.post(`${serverUrl}${GITEA_WEBHOOK_PATH}`, raw, {
    headers: {
      "Content-Type": "application/json",
      "X-Gitea-Event": event,
      "X-Gitea-Event-Type": event,
      "X-Gitea-Delivery": delivery,
      "X-Gitea-Signature": signature,
      "X-Gogs-Event": event,
      "X-Gogs-Delivery": delivery,
      "X-Gogs-Signature": signature,
    },
    timeout: 10_000,
    validateStatus: () => true,
  });
  return { status: res.status, data: res.data as Record<string, unknown> };
}

async function containersOf(labels: string[]): Promise<string[]> {
  return (await docker.listContainers({ all: true, filters: { label: [`berth.host=${HOST}`, `berth.repo=${REPO}`, ...labels] } })).map((c) => c.Id);
}

function statusComment(): string {
  const mine = fake.comments(OWNER, NAME, PR).filter((c) => c.body.includes(MARKER));
  expect(mine).toHaveLength(1);
  expect(mine[0]?.user).toBe(BOT);
  return mine[0]!.body;
}

async function runCount(): Promise<number> {
  return (await harness.store.runsWithStatus(ALL_RUN_STATUSES)).length;
}

beforeAll(async () => {
  fake = await FakeGiteaApi.start({ flavor: "gitea", token: TOKEN, botLogin: BOT });
  fake.addRepo({ owner: OWNER, name: NAME, defaultBranch: "main" });
  fake.addCommit(OWNER, NAME, { ".gitea/berth.yml": RELEASE_CONFIG, "README.md": "# gitea shop\n" }, "main");
  const source = await sampleSource({ variant: "ok", marker: "gitea-head-commit", busybox: services.busybox });
  headSha = fake.addCommit(OWNER, NAME, await commitFilesOf(source.data), HEAD_REF);
  fake.addPull(OWNER, NAME, { number: PR, headSha, headRef: HEAD_REF, author: "alice" });
  fake.setCollaborator(OWNER, NAME, COLLABORATOR, "admin");

  const giteaLog = log.child({ name: "gitea" });
  const host = new GiteaHost({ kind: HOST, flavor: "gitea", client: new GiteaClient({ token: TOKEN, apiUrl: fake.apiUrl, name: "dockerit", log: giteaLog }), log: giteaLog, botLogin: BOT });
  harness = await createHarness({
    registry: `${services.registry}/berth-it-gitea`,
    commentIntervalMs: 2000,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    // Wired as src/main.ts wires production: the route only records and enqueues.
    extraHosts: [
      {
        host,
        route: (engine) =>
          createGiteaWebhookHandler({
            servers: [{ host: HOST, url: fake.url, secret: SECRET, flavor: "gitea" }],
            gate: new BodyGate(16),
            log: giteaLog,
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
  await removeHostObjects(docker, HOST);
});

describe("Gitea PR on the local Docker engine", () => {
  it("opens: builds, pushes, previews, tests, comments once and sets commit statuses", { timeout: 180_000 }, async () => {
    const callsBefore = fake.calls.length;
    const started = Date.now();
    const ack = await deliver("pull_request_opened.json", payload("pull_request_opened.json"));
    const ackMs = Date.now() - started;
    expect(ack).toMatchObject({ status: 200, data: { ok: true, kind: "pr-updated" } });
    await harness.engine.idle();
    const pipelineMs = Date.now() - started;

    const body = statusComment();
    expect(body).toContain(`preview of \`${headSha.slice(0, 7)}\``);
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toContain("2 passed, 0 failed, 1 skipped");
    expect(body).not.toContain(TOKEN);
    expect(fake.comments(OWNER, NAME, PR)).toHaveLength(1);

    const calls = fake.calls.slice(callsBefore);
    expect(calls.some((c) => c.method === "GET" && c.path === `/api/v1/repos/${REPO}/contents/.gitea/berth.yml` && c.query.ref === "main")).toBe(true);
    expect(calls.some((c) => c.method === "GET" && c.path === `/api/v1/repos/${REPO}/archive/${headSha}.tar.gz`)).toBe(true);
    expect(calls.every((c) => c.status >= 200 && c.status < 300)).toBe(true);

    const tag = `pr-${PR}-${headSha.slice(0, 7)}`;
    const manifest = await axios.head(`http://${services.registry}/v2/berth-it-gitea/${repoSlug({ host: HOST, owner: OWNER, name: NAME })}/manifests/${tag}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      validateStatus: () => true,
    });
    expect(manifest.status).toBe(200);
    expect(body).toContain(String(manifest.headers["docker-content-digest"]).slice(0, 19));

    const url = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(body)?.[1];
    expect(url).toBeDefined();
    expect((await axios.get(String(url), { timeout: 5000 })).data).toContain("gitea-head-commit");
    const containers = await containersOf([`berth.pr=${PR}`]);
    expect(containers).toHaveLength(1);

    // Every stage has a commit status on the head; the reporter writes them beside the stages.
    await expect.poll(() => fake.latestStatuses(OWNER, NAME, headSha), { timeout: 20_000 }).toEqual({ "berth/build": "success", "berth/deploy": "success", "berth/test": "success" });
    expect(fake.statuses(OWNER, NAME, headSha).find((s) => s.context === "berth/deploy" && s.state === "success")?.targetUrl).toBe(url);

    state.previewUrl = url;
    state.containerId = containers[0];
    state.reportId = /https:\/\/berth\.example\.com\/reports\/([0-9a-f]{16})\)/.exec(body)?.[1];
    expect(state.reportId).toBeDefined();
    console.info(`gitea pipeline (open → tests, real Docker): webhook answered in ${ackMs} ms, ${pipelineMs} ms wall, ${calls.length} Gitea API calls`);
    fake.assertNoViolations();
  });

  it("refuses `/test` from a stranger and re-runs the tests for a collaborator, with 👀", { timeout: 120_000 }, async () => {
    expect(state.reportId).toBeDefined();
    const runsBefore = await runCount();
    expect((await deliver("issue_comment_pr.json", commentPayload("/test", "mallory"))).data).toMatchObject({ ok: true, kind: "pr-comment" });
    await harness.engine.idle();
    expect(await runCount()).toBe(runsBefore);
    expect(fake.comments(OWNER, NAME, PR).map((c) => c.body)).toContain("`/test` needs write permission on this repository; @mallory has read. Nothing was run.");

    const command = commentPayload("/test", COLLABORATOR);
    expect((await deliver("issue_comment_pr.json", command)).data).toMatchObject({ ok: true, kind: "pr-comment" });
    await harness.engine.idle();
    expect(await runCount()).toBe(runsBefore + 1);
    expect(fake.reactions(OWNER, NAME)).toEqual([{ commentId: command.comment.id, content: "eyes", user: BOT }]);
    const body = statusComment();
    expect(body).toContain("trigger `/test`");
    expect(body).toContain("| test | ✅ passed |");
    const reportId = /https:\/\/berth\.example\.com\/reports\/([0-9a-f]{16})\)/.exec(body)?.[1];
    expect(reportId).not.toBe(state.reportId);
    expect(await containersOf([`berth.pr=${PR}`])).toEqual([state.containerId]);
    fake.assertNoViolations();
  });

  it("ignores a replayed signed body under a new delivery id, and refuses a body signed with another secret", { timeout: 60_000 }, async () => {
    const runsBefore = await runCount();
    const raw = JSON.stringify(commentPayload("/test", COLLABORATOR));
    expect((await deliver("issue_comment_pr.json", {}, { raw })).status).toBe(200);
    await harness.engine.idle();
    expect(await runCount()).toBe(runsBefore + 1);
    expect((await deliver("issue_comment_pr.json", {}, { raw })).status).toBe(200);
    const forged = await deliver("pull_request_merged.json", payload("pull_request_merged.json"), { secret: "not-the-secret" });
    expect(forged).toEqual({ status: 401, data: { error: "signature does not match a configured server" } });
    await harness.engine.idle();
    expect(await runCount()).toBe(runsBefore + 1);
    expect(await containersOf([`berth.pr=${PR}`])).toEqual([state.containerId]);
    fake.assertNoViolations();
  });

  it("deploys the production environment for a `release-*` tag, with commit statuses", { timeout: 180_000 }, async () => {
    const ack = await deliver("push_tag.json", payload("push_tag.json", (body) => {
      body.after = headSha;
      body.head_commit.id = headSha;
      body.commits[0].id = headSha;
    }));
    expect(ack).toMatchObject({ status: 200, data: { ok: true, kind: "tag-pushed" } });
    await harness.engine.idle();
    await expect.poll(() => fake.latestStatuses(OWNER, NAME, headSha)["berth/production/deploy"], { timeout: 20_000 }).toBe("success");
    const envUrl = fake.statuses(OWNER, NAME, headSha).find((s) => s.context === "berth/production/deploy" && s.state === "success")?.targetUrl;
    expect(envUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await axios.get(String(envUrl), { timeout: 5000 })).data).toContain("gitea-head-commit");
    expect(await containersOf(["berth.environment=production"])).toHaveLength(1);
    fake.assertNoViolations();
  });

  it("merges: removes the preview container and network and says the preview is gone", { timeout: 120_000 }, async () => {
    expect(state.containerId).toBeDefined();
    fake.updatePull(OWNER, NAME, PR, { state: "closed", merged: true });
    expect((await deliver("pull_request_merged.json", payload("pull_request_merged.json"))).data).toMatchObject({ ok: true, kind: "pr-closed" });
    await harness.engine.idle();
    expect(await containersOf([`berth.pr=${PR}`])).toEqual([]);
    expect((await docker.listNetworks({ filters: { label: [`berth.host=${HOST}`, `berth.repo=${REPO}`, `berth.pr=${PR}`] } })).length).toBe(0);
    const body = statusComment();
    expect(body).toContain("The PR is closed: its preview is gone.");
    expect(fake.comments(OWNER, NAME, PR).every((c) => !c.body.includes(TOKEN))).toBe(true);
    // The production environment is not the PR's: it keeps running.
    expect(await containersOf(["berth.environment=production"])).toHaveLength(1);
    fake.assertNoViolations();
  });
});
