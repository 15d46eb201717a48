/**
 * The metrics module: its scrape is valid Prometheus text (parsed here), counters move with the
 * webhook results, run events and API calls it is told of, stage durations land in histograms by
 * stage and target, the queue, current runs, previews and outbox gauges are read from a real store
 * at scrape, and label values stay within fixed sets whatever the senders put in headers or tags.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { register as globalRegistry } from "prom-client";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import type { PullRecord, RunRecord } from "../../src/domain/records.js";
import { BerthMetrics } from "../../src/metrics/berth-metrics.js";
import { routeTemplate } from "../../src/metrics/route-template.js";
import { RunEvents } from "../../src/pipeline/run-events.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import { statusGroupKey } from "../../src/pipeline/status-outbox.js";
import type { Store } from "../../src/pipeline/store.js";
import { parsePrometheusText } from "../helpers/prom-text.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const SHA = "c".repeat(40);

function config(target: "docker" | "kubernetes") {
  const parsed = parseRepoConfig(`preview:\n  target: ${target}\n`);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

function run(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { id, prKey: `github:acme/app#${id.length}`, repo: REPO, prNumber: id.length, sha: SHA, kind: "pipeline", plan: ["build", "deploy", "test"], trigger: "push", status: "queued", reuseImage: false, attempts: 0, createdAt: 10_000, ...extra };
}

function pull(pr: number, target?: "docker" | "swarm" | "kubernetes"): PullRecord {
  return {
    prKey: `github:acme/app#${pr}`,
    repo: REPO,
    prNumber: pr,
    headSha: SHA,
    state: "open",
    fromFork: false,
    url: `https://github.com/acme/app/pull/${pr}`,
    ...(target ? { preview: { target, sha: SHA, url: `http://pr-${pr}.example.test`, internalUrl: "http://x", runId: "r", deployedAt: 1 } } : {}),
  };
}

let dir: string;
let store: Store;
let now = 70_000;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-metrics-"));
  store = SqliteStore.open(dir);
  now = 70_000;
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function metrics(): BerthMetrics {
  return new BerthMetrics({ store, now: () => now });
}

describe("BerthMetrics", () => {
  it("renders valid Prometheus text on its own registry, process metrics included, nothing on the global one", async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).length;
    const m = metrics();
    const scrape = parsePrometheusText(await m.render());
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scrape.types).toMatchObject({
      berth_webhook_deliveries_total: "counter",
      berth_runs_finished_total: "counter",
      berth_runs: "gauge",
      berth_stage_duration_seconds: "histogram",
      berth_queue_depth: "gauge",
      berth_queue_oldest_age_seconds: "gauge",
      berth_previews: "gauge",
      berth_code_host_api_calls_total: "counter",
      berth_code_host_rate_limit_remaining: "gauge",
      berth_status_outbox_backlog: "gauge",
      process_cpu_seconds_total: "counter",
      nodejs_heap_size_used_bytes: "gauge",
    });
    expect((await globalRegistry.getMetricsAsJSON()).length).toBe(before);
    // Two instances (two berths in one test process) do not collide.
    expect(() => metrics()).not.toThrow();
  });

  it("counts webhook deliveries by host, event and result, with unknown event names as other", async () => {
    const m = metrics();
    m.webhookDelivery("github", "pull_request", "accepted");
    m.webhookDelivery("github", "pull_request", "accepted");
    m.webhookDelivery("github", "pull_request", "refused");
    m.webhookDelivery("gitee", "Merge Request Hook", "ignored");
    m.webhookDelivery("github", "x-evil-<script>", "refused");
    m.webhookDelivery("github", undefined, "refused");
    const scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_webhook_deliveries_total", { host: "github", event: "pull_request", result: "accepted" })).toBe(2);
    expect(scrape.value("berth_webhook_deliveries_total", { host: "github", event: "pull_request", result: "refused" })).toBe(1);
    expect(scrape.value("berth_webhook_deliveries_total", { host: "gitee", event: "Merge Request Hook", result: "ignored" })).toBe(1);
    expect(scrape.value("berth_webhook_deliveries_total", { host: "github", event: "other" })).toBe(1);
    expect(scrape.value("berth_webhook_deliveries_total", { host: "github", event: "none" })).toBe(1);
    expect(scrape.all("berth_webhook_deliveries_total").map((s) => s.labels.event)).not.toContain("x-evil-<script>");
  });

  it("counts finished runs by status and trigger and times stages by stage, target and outcome from the run events", async () => {
    const m = metrics();
    const events = new RunEvents();
    const stop = m.listen(events);
    const onDocker = run("r1", { config: config("docker"), status: "running" });
    const onKube = run("r2", { config: config("kubernetes"), status: "running", trigger: "tag v1.2.3" });
    events.emit({ type: "stage-finished", run: onDocker, stage: "build", ok: true, detail: {}, facts: {}, startedAt: 1_000, at: 4_000 });
    events.emit({ type: "stage-finished", run: onDocker, stage: "deploy", ok: false, detail: {}, facts: {}, startedAt: 4_000, at: 94_000 });
    events.emit({ type: "stage-finished", run: onKube, stage: "build", ok: true, detail: {}, facts: {}, startedAt: 0, at: 700_000 });
    // A stage whose start this replica did not see (taken over) has no duration.
    events.emit({ type: "stage-finished", run: onKube, stage: "deploy", ok: true, detail: {}, facts: {}, at: 800_000 });
    events.emit({ type: "run-finished", run: onDocker, status: "failed", at: 94_000 });
    events.emit({ type: "run-finished", run: onKube, status: "passed", at: 800_000 });
    events.emit({ type: "run-finished", run: run("r3", { trigger: "/deploy" }), status: "superseded", at: 1 });
    events.emit({ type: "run-finished", run: run("r4", { trigger: "/deploy" }), status: "superseded", at: 1 });
    stop();
    events.emit({ type: "run-finished", run: run("r5"), status: "passed", at: 1 });

    const scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_runs_finished_total", { status: "failed", trigger: "push" })).toBe(1);
    expect(scrape.value("berth_runs_finished_total", { status: "passed", trigger: "tag" })).toBe(1);
    expect(scrape.value("berth_runs_finished_total", { status: "superseded", trigger: "/deploy" })).toBe(2);
    expect(scrape.value("berth_runs_finished_total", { status: "passed", trigger: "push" })).toBeUndefined();

    const build = { stage: "build", target: "docker", outcome: "passed" };
    expect(scrape.value("berth_stage_duration_seconds_count", build)).toBe(1);
    expect(scrape.value("berth_stage_duration_seconds_sum", build)).toBe(3);
    expect(scrape.value("berth_stage_duration_seconds_bucket", { ...build, le: "2.5" })).toBe(0);
    expect(scrape.value("berth_stage_duration_seconds_bucket", { ...build, le: "5" })).toBe(1);
    expect(scrape.value("berth_stage_duration_seconds_sum", { stage: "deploy", target: "docker", outcome: "failed" })).toBe(90);
    expect(scrape.value("berth_stage_duration_seconds_bucket", { stage: "build", target: "kubernetes", outcome: "passed", le: "600" })).toBe(0);
    expect(scrape.value("berth_stage_duration_seconds_bucket", { stage: "build", target: "kubernetes", outcome: "passed", le: "1200" })).toBe(1);
    expect(scrape.all("berth_stage_duration_seconds_count", { stage: "deploy", target: "kubernetes" })).toEqual([]);
  });

  it("reads the queue, current runs, awake previews and the status outbox from the store at each scrape", async () => {
    const m = metrics();
    let scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_queue_depth")).toBe(0);
    expect(scrape.value("berth_queue_oldest_age_seconds")).toBe(0);
    expect(scrape.value("berth_runs", { status: "queued" })).toBe(0);
    expect(scrape.value("berth_previews", { state: "awake", target: "docker" })).toBe(0);
    expect(scrape.value("berth_status_outbox_backlog")).toBe(0);
    expect(scrape.value("berth_metrics_store_read_ok")).toBe(1);

    await store.insertRun(run("a", { createdAt: 10_000 }));
    await store.insertRun(run("bb", { createdAt: 40_000 }));
    await store.insertRun(run("ccc", { createdAt: 5_000 }));
    expect(await store.claimRun("ccc", "me", now + 60_000, { startedAt: now })).toBeDefined();
    await store.savePull(pull(1, "docker"));
    await store.savePull(pull(2, "docker"));
    await store.savePull(pull(3, "kubernetes"));
    await store.savePull(pull(4));
    await store.enqueueStatus({ repo: REPO, sha: SHA, prNumber: 1, status: { context: "berth/build", state: "pending", description: "build running…" }, groupKey: statusGroupKey(REPO) }, now);

    scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_queue_depth")).toBe(2);
    expect(scrape.value("berth_queue_oldest_age_seconds")).toBe(60);
    expect(scrape.value("berth_runs", { status: "queued" })).toBe(2);
    expect(scrape.value("berth_runs", { status: "running" })).toBe(1);
    expect(scrape.value("berth_previews", { state: "awake", target: "docker" })).toBe(2);
    expect(scrape.value("berth_previews", { state: "awake", target: "kubernetes" })).toBe(1);
    expect(scrape.value("berth_previews", { state: "awake", target: "swarm" })).toBe(0);
    expect(scrape.value("berth_previews", { state: "sleeping", target: "docker" })).toBe(0);
    await store.patchPull("github:acme/app#2", (p) => ({ ...p, preview: { ...p.preview!, sleeping: { since: now } } }));
    scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_previews", { state: "awake", target: "docker" })).toBe(1);
    expect(scrape.value("berth_previews", { state: "sleeping", target: "docker" })).toBe(1);
    expect(scrape.value("berth_status_outbox_backlog")).toBe(1);

    now += 30_000;
    scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_queue_oldest_age_seconds")).toBe(90);
  });

  it("marks the store gauges unknown and says so when the store does not answer, and still renders the counters", async () => {
    const m = metrics();
    m.webhookDelivery("github", "push", "accepted");
    await store.close();
    const scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_metrics_store_read_ok")).toBe(0);
    expect(scrape.value("berth_queue_depth")).toBeNaN();
    expect(scrape.value("berth_queue_oldest_age_seconds")).toBeNaN();
    expect(scrape.value("berth_status_outbox_backlog")).toBeNaN();
    expect(scrape.all("berth_runs")).toEqual([]);
    expect(scrape.all("berth_previews")).toEqual([]);
    expect(scrape.value("berth_webhook_deliveries_total", { event: "push" })).toBe(1);
    store = SqliteStore.open(dir);
  });

  it("counts API calls by host, method, route template and status, and keeps the last rate limit per resource", async () => {
    const m = metrics();
    m.apiCall({ host: "github", method: "post", route: "/repos/{owner}/{repo}/statuses/{sha}", status: 201, rateLimitRemaining: 4999, rateLimitResource: "core" });
    m.apiCall({ host: "github", method: "POST", route: "/repos/{owner}/{repo}/statuses/{sha}", status: 201, rateLimitRemaining: 4998, rateLimitResource: "core" });
    m.apiCall({ host: "github", method: "GET", route: "/repos/{owner}/{repo}/pulls/{pull_number}", status: "ETIMEDOUT" });
    m.apiCall({ host: "gitee", method: "GET", route: "/repos/{owner}/{repo}/pulls/{number}", status: 404 });
    m.apiCall({ host: "github", method: "GET", route: "/x", status: "connect <evil>" });
    const scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_code_host_api_calls_total", { host: "github", method: "POST", route: "/repos/{owner}/{repo}/statuses/{sha}", status: "201" })).toBe(2);
    expect(scrape.value("berth_code_host_api_calls_total", { host: "github", status: "ETIMEDOUT" })).toBe(1);
    expect(scrape.value("berth_code_host_api_calls_total", { host: "gitee", status: "404" })).toBe(1);
    expect(scrape.value("berth_code_host_api_calls_total", { route: "/x" })).toBe(1);
    expect(scrape.value("berth_code_host_api_calls_total", { route: "/x", status: "network" })).toBe(1);
    expect(scrape.value("berth_code_host_rate_limit_remaining", { host: "github", resource: "core" })).toBe(4998);
    expect(scrape.all("berth_code_host_rate_limit_remaining", { host: "gitee" })).toEqual([]);
  });
});

describe("gateway and chat series", () => {
  it("counts gateway requests by status class and kind, with their durations, and chat deliveries by channel, vendor and outcome", async () => {
    const m = metrics();
    m.gatewayRequest({ status: 200, durationMs: 12, upgrade: false });
    m.gatewayRequest({ status: 502, durationMs: 3, upgrade: false });
    m.gatewayRequest({ status: 101, durationMs: 1, upgrade: true });
    m.chatDelivery("team", "dingtalk", "failed");
    m.chatDelivery("team", "dingtalk", "sent");
    const scrape = parsePrometheusText(await m.render());
    expect(scrape.value("berth_gateway_requests_total", { status: "2xx", kind: "http" })).toBe(1);
    expect(scrape.value("berth_gateway_requests_total", { status: "5xx", kind: "http" })).toBe(1);
    expect(scrape.value("berth_gateway_requests_total", { status: "1xx", kind: "websocket" })).toBe(1);
    expect(scrape.value("berth_gateway_request_duration_seconds_count", { kind: "http" })).toBe(2);
    expect(scrape.value("berth_chat_notifications_total", { channel: "team", vendor: "dingtalk", outcome: "failed" })).toBe(1);
  });
});

describe("routeTemplate", () => {
  it("turns API paths into bounded templates and keeps Octokit's own templates", () => {
    expect(routeTemplate("/repos/acme/app/pulls/3/comments")).toBe("/repos/{owner}/{repo}/pulls/{number}/comments");
    expect(routeTemplate("https://api.github.com/repos/acme/app/issues/12/comments?per_page=100&page=2")).toBe("/repos/{owner}/{repo}/issues/{number}/comments");
    expect(routeTemplate("/repos/{owner}/{repo}/statuses/{sha}")).toBe("/repos/{owner}/{repo}/statuses/{sha}");
    // A template and the paginated URL of the same endpoint get one label.
    expect(routeTemplate("/repos/{owner}/{repo}/issues/{issue_number}/comments{?per_page,page}")).toBe("/repos/{owner}/{repo}/issues/{number}/comments");
    expect(routeTemplate("/repos/{owner}/{repo}/issues/comments/{comment_id}")).toBe("/repos/{owner}/{repo}/issues/comments/{number}");
    expect(routeTemplate("/repos/{owner}/{repo}/tarball/{ref}")).toBe(routeTemplate(`/repos/acme/app/tarball/${"f".repeat(40)}`));
    expect(routeTemplate(`/repos/acme/app/commits/${"f".repeat(40)}`)).toBe("/repos/{owner}/{repo}/commits/{sha}");
    expect(routeTemplate("/repos/acme/app/contents/deploy/values/pr.yaml")).toBe("/repos/{owner}/{repo}/contents/{path}");
    expect(routeTemplate("/repos/acme/app/pulls/3/labels/berth%3A%20build%20failed")).toBe("/repos/{owner}/{repo}/pulls/{number}/labels/{param}");
    expect(routeTemplate("/repos/acme/app/collaborators/octocat/permission")).toBe("/repos/{owner}/{repo}/collaborators/{param}/permission");
    expect(routeTemplate("/user")).toBe("/user");
    expect(routeTemplate("/app/installations/42/access_tokens")).toBe("/app/installations/{number}/access_tokens");
    expect(routeTemplate("/app/installations/{installation_id}/access_tokens")).toBe("/app/installations/{number}/access_tokens");
  });
});
