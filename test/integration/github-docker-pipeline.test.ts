/**
 * The whole pipeline for real: GitHub payloads through `probot.receive`, a fake GitHub API over
 * HTTP, the real Docker engine and the real registry started by scripts/services.sh.
 * open → build → push → preview answers → tests pass and the report lists the cases → a second push
 * supersedes the first → close removes the container; plus a failing suite and a failing Dockerfile.
 */
import axios from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoSlug } from "../../src/domain/naming.js";
import { pino } from "pino";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { DistributionClient } from "../../src/adapters/registry/distribution-client.js";
import { DistributionCleaner } from "../../src/adapters/registry/distribution-cleaner.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource, SAMPLE_FAILURE_MESSAGE, type SampleVariant } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const redact = createRedactor([]);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const github = new FakeGitHubApi();
let harness: Harness;

function sha(seed: string): string {
  return seed.repeat(40).slice(0, 40);
}

async function addCommit(repo: string, variant: SampleVariant, commit: string, marker: string): Promise<void> {
  const fake = github.repo(repo);
  fake.config = sampleRepoConfig(variant);
  fake.tarballs.set(commit, (await sampleSource({ variant, marker, busybox: services.busybox })).data);
}

async function containersOf(repo: string, pr: number): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`berth.repo=${repo}`, `berth.pr=${pr}`] } });
  return list.map((c) => c.Id);
}

function statusComment(repo: string, pr: number): string {
  const bodies = github.commentsOf(repo, pr).filter((b) => b.includes("<!-- berth:status -->"));
  expect(bodies).toHaveLength(1);
  return bodies[0]!;
}

beforeAll(async () => {
  await github.start();
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/berth-it`,
    commentIntervalMs: 2000,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    registryCleaner: new DistributionCleaner({ client: new DistributionClient({ host: services.registry, log }), log }),
  });
});

afterAll(async () => {
  await harness?.close();
  await github.stop();
  // Nothing this file started may outlive it.
  const left = await docker.listContainers({ all: true, filters: { label: ["berth.managed=true"] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

describe("GitHub PR on the local Docker engine", () => {
  const repo = "acme/shop";

  it("opens, supersedes, previews, tests, reports and cleans up", { timeout: 240_000 }, async () => {
    const first = sha("a1");
    const second = sha("b2");
    await addCommit(repo, "ok", first, "first-commit");
    await addCommit(repo, "ok", second, "second-commit");

    const started = Date.now();
    await harness.probot.receive({ id: "it-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo, prNumber: 7, headSha: first }) } as never);
    // The second push arrives while the first commit is still being built.
    await new Promise((r) => setTimeout(r, 300));
    await harness.probot.receive({ id: "it-sync", name: "pull_request", payload: pullRequestPayload({ action: "synchronize", repo, prNumber: 7, headSha: second }) } as never);
    await harness.engine.idle();
    const pipelineMs = Date.now() - started;

    const body = statusComment(repo, 7);
    expect(body).toContain("preview of `b2b2b2b`");
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toContain("2 passed, 0 failed, 1 skipped");
    expect(body).toContain("⏭️ The run for commit `a1a1a1a` was stopped: superseded by commit b2b2b2b (push).");

    // The image of the head commit is in the registry with the digest the comment shows.
    const tag = `pr-7-${second.slice(0, 7)}`;
    const manifest = await axios.head(`http://${services.registry}/v2/berth-it/${repoSlug({ host: "github", owner: "acme", name: "shop" })}/manifests/${tag}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      validateStatus: () => true,
    });
    expect(manifest.status).toBe(200);
    const digest = String(manifest.headers["docker-content-digest"]);
    expect(body).toContain(digest.slice(0, 19));

    // The preview answers on its URL with the second commit's page.
    const url = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(body)?.[1];
    expect(url).toBeDefined();
    const page = await axios.get(String(url), { timeout: 5000 });
    expect(page.data).toContain("second-commit");
    expect(await containersOf(repo, 7)).toHaveLength(1);

    // The report page lists the cases.
    const reportId = /reports\/([0-9a-f]{16})/.exec(body)?.[1];
    const report = await routeGet(`/reports/${reportId}`);
    expect(report).toContain("home page answers");
    expect(report).toContain("home page shows the marker");
    expect(report).toContain("checkout flow");
    // …and links the test container's whole output.
    const testLog = /href="[^"]*(\/reports\/logs\/[0-9a-f]{16})">full test output/.exec(report)?.[1];
    expect(await routeGet(String(testLog))).toContain("tests: 3, failures: 0, skipped: 1");

    // Commit statuses on the head commit.
    // Each stage shows pending when it starts (stages take seconds here: every pending lands), then its result.
    expect(github.statuses.filter((s) => s.sha === second).map((s) => `${s.context}=${s.state}`)).toEqual([
      "berth/build=pending",
      "berth/build=success",
      "berth/deploy=pending",
      "berth/deploy=success",
      "berth/test=pending",
      "berth/test=success",
    ]);

    const apiCalls = github.callsFor(repo).length + github.calls.filter((c) => c.path.includes("access_tokens")).length;
    console.info(`integration pipeline (open + superseding push, real Docker): ${pipelineMs} ms wall, ${apiCalls} GitHub API calls (token included), ${github.commentsOf(repo, 7).length} comment(s)`);

    await harness.probot.receive({ id: "it-close", name: "pull_request", payload: pullRequestPayload({ action: "closed", repo, prNumber: 7, headSha: second, merged: true }) } as never);
    await harness.engine.idle();
    expect(await containersOf(repo, 7)).toEqual([]);
    expect(statusComment(repo, 7)).toContain("The PR is closed: its preview is gone.");
    // Its images went too: the registry tag, and every local pr-7 tag of the repo.
    const gone = await axios.head(`http://${services.registry}/v2/berth-it/${repoSlug({ host: "github", owner: "acme", name: "shop" })}/manifests/${tag}`, {
      headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
      validateStatus: () => true,
    });
    expect(gone.status).toBe(404);
    const local = await docker.listImages({ filters: JSON.stringify({ reference: [`${services.registry}/berth-it/acme-shop:pr-7-*`] }) });
    expect(local.flatMap((i) => i.RepoTags ?? [])).toEqual([]);
    expect(statusComment(repo, 7)).toMatch(/Images: [1-9]\d* registry tag\(s\) removed, [1-9]\d* local image tag\(s\) removed\./);
  });

  it("measures one PR pipeline's GitHub API calls", { timeout: 180_000 }, async () => {
    const single = "acme/single";
    const commit = sha("c3");
    await addCommit(single, "ok", commit, "single");
    const started = Date.now();
    await harness.probot.receive({ id: "it-single", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: single, prNumber: 1, headSha: commit }) } as never);
    await harness.engine.idle();
    const wallMs = Date.now() - started;
    expect(statusComment(single, 1)).toContain("| test | ✅ passed |");
    const calls = github.callsFor(single);
    console.info(`one PR pipeline: ${wallMs} ms wall, ${calls.length} GitHub API calls: ${calls.map((c) => `${c.method} ${c.path.replace(/^\/repos\/[^/]+\/[^/]+\//, "")}`).join(", ")}`);
    // Was ≤ 10 (8 measured, 3 of them statuses) before each stage showed pending at its start: now a
    // pending and a result per stage (stages take seconds here, so the outbox coalesces none of them).
    const statusWrites = calls.filter((c) => /\/statuses\/[0-9a-f]{40}$/.test(c.path)).length;
    // A result per stage at least; a pending and a result per stage at most (coalescing may drop a pending).
    expect(statusWrites).toBeGreaterThanOrEqual(3);
    expect(statusWrites).toBeLessThanOrEqual(6);
    // Progress edits of the comment: at most one per comment interval (2 s) of the run, plus the final one.
    const edits = calls.filter((c) => c.method === "PATCH" && /\/issues\/comments\/\d+$/.test(c.path)).length;
    expect(edits).toBeGreaterThanOrEqual(1);
    expect(edits).toBeLessThanOrEqual(Math.ceil(wallMs / 2000) + 1);
    // The rest is fixed: read the config, fetch the tarball, look for the comment, create it.
    expect(calls.length - statusWrites - edits).toBe(4);
    await harness.probot.receive({ id: "it-single-close", name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: single, prNumber: 1, headSha: commit }) } as never);
    await harness.engine.idle();
    expect(await containersOf(single, 1)).toEqual([]);
  });

  it("fails the test stage of a failing suite and shows the failing case", { timeout: 180_000 }, async () => {
    const failing = "acme/failing";
    const commit = sha("d4");
    await addCommit(failing, "failing-tests", commit, "failing");
    await harness.probot.receive({ id: "it-failing", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: failing, prNumber: 2, headSha: commit }) } as never);
    await harness.engine.idle();
    const body = statusComment(failing, 2);
    expect(body).toContain("| test | ❌ failed |");
    expect(body).toContain("2 passed, 1 failed, 0 skipped");
    expect(body).toContain(`- \`sample › cart total includes tax\`: ${SAMPLE_FAILURE_MESSAGE}`);
    expect(body).toContain("test command exited with 1");
    expect(finalStatuses(github.statuses.filter((s) => s.sha === commit))).toEqual(["berth/build=success", "berth/deploy=success", "berth/test=failure"]);
    await harness.probot.receive({ id: "it-failing-close", name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: failing, prNumber: 2, headSha: commit }) } as never);
    await harness.engine.idle();
    expect(await containersOf(failing, 2)).toEqual([]);
  });

  it("fails the build on a broken Dockerfile step and shows the step and log", { timeout: 180_000 }, async () => {
    const broken = "acme/broken";
    const commit = sha("e5");
    await addCommit(broken, "broken-dockerfile", commit, "broken");
    await harness.probot.receive({ id: "it-broken", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: broken, prNumber: 3, headSha: commit }) } as never);
    await harness.engine.idle();
    const body = statusComment(broken, 3);
    expect(body).toContain("| build | ❌ failed |");
    expect(body).toContain("| deploy | 🚫 cancelled |");
    expect(body).toMatch(/build failed at `Step \d+\/\d+ : RUN echo "compiling the sample app"/);
    expect(body).toContain("sample.c:3: error");
    // The whole build output, from the first step, is on the log page the row links to.
    const logId = /\| build \| ❌ failed \|.*\[log\]\([^)]*\/reports\/logs\/([0-9a-f]{16})\)/.exec(body)?.[1];
    const log = await routeGet(`/reports/logs/${logId}`);
    expect(log).toMatch(/^berth · build log · acme\/broken#3 · commit e5e5e5e/);
    expect(log).toMatch(/Step 1\/\d+ : FROM scratch/);
    expect(log).toContain("sample.c:3: error");
    expect(await containersOf(broken, 3)).toEqual([]);
  });
});

/** GET one of berth's own routes (report pages) through the handlers Probot would mount. */
async function routeGet(path: string): Promise<string> {
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    for (const route of harness.routes) if (await route(req, res)) return;
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as { port: number }).port;
    const res = await axios.get(`http://127.0.0.1:${port}${path}`, { timeout: 5000 });
    return String(res.data);
  } finally {
    server.close();
  }
}

/**
 * The last state written per status context, in the order the contexts first appear. Statuses are
 * written from an outbox that coalesces: a context may show `pending` (its stage started) before its
 * final state, never anything else, and never a state after its final one.
 */
function finalStatuses(statuses: Array<{ context: string; state: string }>): string[] {
  const byContext = new Map<string, string[]>();
  for (const s of statuses) byContext.set(s.context, [...(byContext.get(s.context) ?? []), s.state]);
  for (const [context, states] of byContext) expect(states.slice(0, -1), context).toEqual(states.length > 1 ? ["pending"] : []);
  return [...byContext].map(([context, states]) => `${context}=${states.at(-1)}`);
}
