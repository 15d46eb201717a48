/**
 * `/healthz`, `/readyz` and `/metrics` over real HTTP on a berth built like main.ts builds it (its
 * metrics on the engine events, the webhook route and Probot's Octokit): health and readiness
 * answer, metrics refuse a missing or wrong Bearer token, and after real webhook deliveries and one
 * pipeline the scrape counts what happened: deliveries by result, GitHub API calls by route
 * template, the finished run, its stage durations and the preview it left running.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import { octokitMetrics } from "../../src/hosts/github/octokit-metrics.js";
import { BerthMetrics } from "../../src/metrics/berth-metrics.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import { FakeBuilder } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { startHttpBerth, type HttpBerth } from "../helpers/http-berth.js";
import { parsePrometheusText } from "../helpers/prom-text.js";

const SECRET = "webhook-secret-for-ops-tests";
const TOKEN = "metrics-token-0123456789abcdef";
let berth: HttpBerth;
let dataDir: string;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  dataDir = mkdtempSync(join(tmpdir(), "berth-ops-"));
  const store = SqliteStore.open(dataDir);
  const metrics = new BerthMetrics({ store });
  berth = await startHttpBerth(SECRET, { builder: new FakeBuilder(), store, metrics, metricsToken: TOKEN, octokitPlugins: [octokitMetrics(metrics.apiCall)] });
});

afterAll(async () => {
  await berth.close();
  rmSync(dataDir, { recursive: true, force: true });
  nock.cleanAll();
  nock.enableNetConnect();
});

async function deliver(body: string, id: string, signature = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`, event = "pull_request"): Promise<number> {
  const res = await fetch(`${berth.origin}/api/github/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": signature },
    body,
  });
  await res.text();
  return res.status;
}

async function scrape(authorization = `Bearer ${TOKEN}`) {
  const res = await fetch(`${berth.origin}/metrics`, { headers: { authorization } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

it("answers /healthz and /readyz", async () => {
  const health = await fetch(`${berth.origin}/healthz`);
  expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
  const ready = await fetch(`${berth.origin}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: "ready", checks: { store: { ok: true } } });
});

it("refuses /metrics without the Bearer token, and with a wrong one", async () => {
  for (const headers of [{} as Record<string, string>, { authorization: "Bearer wrong-token-wrong-token" }, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` }, { authorization: `Bearer ${TOKEN}x` }]) {
    const res = await fetch(`${berth.origin}/metrics`, { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="berth metrics"');
    expect(await res.text()).not.toContain("berth_");
  }
});

it("counts deliveries by result, GitHub API calls by route, the run, its stages and its preview", async () => {
  const github = mockGitHub({ config: "test:\n  command: [x]\n" });
  const body = JSON.stringify(pullRequestPayload({ action: "opened", headSha: "8".repeat(40) }));
  expect(await deliver(body, "ops-forged", `sha256=${"0".repeat(64)}`)).toBe(400);
  expect(await deliver(body, "ops-1")).toBe(200);
  await berth.engine.drained(60_000);
  expect(await deliver(body, "ops-1")).toBe(200);
  // An event berth subscribes to no handler for is answered and counted as ignored.
  const ping = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
  expect(await deliver(ping, "ops-ping", `sha256=${createHmac("sha256", SECRET).update(ping).digest("hex")}`, "ping")).toBe(200);

  const s = await scrape();
  const delivered = (result: string) => s.value("berth_webhook_deliveries_total", { host: "github", event: "pull_request", result });
  expect([delivered("accepted"), delivered("refused"), delivered("ignored")]).toEqual([1, 1, 1]);
  expect(s.value("berth_webhook_deliveries_total", { host: "github", event: "ping", result: "ignored" })).toBe(1);

  // The fake target's tests fail: the run failed, after build, deploy and test ran on docker.
  expect(s.value("berth_runs_finished_total", { status: "failed", trigger: "opened" })).toBe(1);
  for (const [stage, outcome] of [["build", "passed"], ["deploy", "passed"], ["test", "failed"]]) {
    expect(s.value("berth_stage_duration_seconds_count", { stage: stage!, target: "docker", outcome: outcome! }), stage).toBe(1);
  }
  expect(s.value("berth_previews", { state: "awake", target: "docker" })).toBe(1);
  expect(s.value("berth_queue_depth")).toBe(0);
  expect(s.value("berth_runs", { status: "running" })).toBe(0);
  expect(s.value("berth_status_outbox_backlog")).toBe(0);

  const statusWrites = github.calls.filter((c) => c.method === "POST" && c.path.includes("/statuses/")).length;
  expect(statusWrites).toBeGreaterThan(0);
  expect(s.value("berth_code_host_api_calls_total", { host: "github", method: "POST", route: "/repos/{owner}/{repo}/statuses/{sha}", status: "201" })).toBe(statusWrites);
  expect(s.value("berth_code_host_api_calls_total", { host: "github", method: "POST", route: "/app/installations/{number}/access_tokens", status: "201" })).toBeGreaterThan(0);
  // No repository, PR number or commit in any label.
  for (const sample of s.samples) {
    for (const value of Object.values(sample.labels)) expect(value).not.toMatch(/Hello-World|Codertocat|8{40}/);
  }
});
