/**
 * The code-host clients report each API call to the metrics observer: Probot's Octokit through the
 * `octokitMetrics` plugin (route templates, statuses of answers and failures, GitHub's
 * `x-ratelimit-remaining`), the Gitee client through its transport (every attempt, with the route
 * template of the path, never the token in the query).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import nock from "nock";
import { ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { octokitMetrics } from "../../src/hosts/github/octokit-metrics.js";
import { GiteeClient } from "../../src/hosts/gitee/gitee-client.js";
import type { ApiCall } from "../../src/metrics/berth-metrics.js";
import { FakeGiteeApi } from "../fakes/gitee-api.js";
import { captureLogger } from "../helpers/capture-log.js";

describe("octokitMetrics", () => {
  const calls: ApiCall[] = [];
  const Octokit = ProbotOctokit.plugin(octokitMetrics((call) => calls.push(call))).defaults({ retry: { enabled: false }, throttle: { enabled: false } });
  const octokit = new Octokit({ auth: "ghs_not_a_real_token" });

  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    calls.length = 0;
    nock.cleanAll();
  });
  afterAll(() => nock.enableNetConnect());

  it("reports answers with their route template, status and rate limit left", async () => {
    nock("https://api.github.com").get("/repos/acme/app/pulls/3").reply(200, { number: 3 }, { "x-ratelimit-remaining": "4321", "x-ratelimit-resource": "core" });
    await octokit.rest.pulls.get({ owner: "acme", repo: "app", pull_number: 3 });
    expect(calls).toEqual([{ host: "github", method: "GET", route: "/repos/{owner}/{repo}/pulls/{number}", status: 200, rateLimitRemaining: 4321, rateLimitResource: "core" }]);
  });

  it("reports a refused call with its status and the rate limit its answer carries, and still throws", async () => {
    nock("https://api.github.com").post("/repos/acme/app/statuses/" + "a".repeat(40)).reply(403, { message: "API rate limit exceeded" }, { "x-ratelimit-remaining": "0", "x-ratelimit-resource": "core" });
    await expect(octokit.rest.repos.createCommitStatus({ owner: "acme", repo: "app", sha: "a".repeat(40), state: "success" })).rejects.toMatchObject({ status: 403 });
    expect(calls).toEqual([{ host: "github", method: "POST", route: "/repos/{owner}/{repo}/statuses/{sha}", status: 403, rateLimitRemaining: 0, rateLimitResource: "core" }]);
  });

  it("reports a call that got no answer with the network code", async () => {
    nock("https://api.github.com").get("/repos/acme/app/pulls/4").replyWithError({ code: "ECONNRESET", message: "socket hang up" });
    await expect(octokit.rest.pulls.get({ owner: "acme", repo: "app", pull_number: 4 })).rejects.toThrow();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ host: "github", route: "/repos/{owner}/{repo}/pulls/{number}" });
    expect(calls[0]!.status).toBe("ECONNRESET");
    expect(calls[0]!.rateLimitRemaining).toBeUndefined();
  });

  it("gives the pages of a paginated list the same route as the first", async () => {
    nock("https://api.github.com")
      .get("/repos/acme/app/issues/7/comments")
      .query({ per_page: "1" })
      .reply(200, [{ id: 1 }], { link: '<https://api.github.com/repos/acme/app/issues/7/comments?per_page=1&page=2>; rel="next"' })
      .get("/repos/acme/app/issues/7/comments")
      .query({ per_page: "1", page: "2" })
      .reply(200, [{ id: 2 }]);
    const all = await octokit.paginate(octokit.rest.issues.listComments, { owner: "acme", repo: "app", issue_number: 7, per_page: 1 });
    expect(all).toHaveLength(2);
    expect(calls.map((c) => c.route)).toEqual(["/repos/{owner}/{repo}/issues/{number}/comments", "/repos/{owner}/{repo}/issues/{number}/comments"]);
  });
});

describe("GiteeClient observe", () => {
  const TOKEN = "gitee-token-for-metrics-tests";
  let fake: FakeGiteeApi;

  beforeAll(async () => {
    fake = await FakeGiteeApi.start({ token: TOKEN });
    fake.addRepo({ owner: "acme", name: "shop" });
  });
  afterAll(async () => {
    await fake.close();
  });

  it("reports each call with its route template and status, never the token", async () => {
    const calls: ApiCall[] = [];
    const client = new GiteeClient({ token: TOKEN, baseUrl: fake.baseUrl, log: captureLogger().log, retries: 0, observe: (call) => calls.push(call) });
    await client.request({ method: "GET", path: "/user", schema: z.object({ login: z.string() }) });
    expect(await client.requestOrNull({ method: "GET", path: "/repos/acme/shop/pulls/99", schema: z.unknown() })).toBeNull();
    expect(calls).toEqual([
      { host: "gitee", method: "GET", route: "/user", status: 200 },
      { host: "gitee", method: "GET", route: "/repos/{owner}/{repo}/pulls/{number}", status: 404 },
    ]);
    expect(JSON.stringify(calls)).not.toContain(TOKEN);
  });

  it("reports every attempt that got no answer with its network code", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const calls: ApiCall[] = [];
    const client = new GiteeClient({ token: TOKEN, baseUrl: `http://127.0.0.1:${port}/api/v5`, log: captureLogger().log, retries: 1, backoffMs: 1, observe: (call) => calls.push(call) });
    await expect(client.request({ method: "GET", path: "/repos/acme/shop/pulls/1", schema: z.unknown() })).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toEqual([
      { host: "gitee", method: "GET", route: "/repos/{owner}/{repo}/pulls/{number}", status: "ECONNREFUSED" },
      { host: "gitee", method: "GET", route: "/repos/{owner}/{repo}/pulls/{number}", status: "ECONNREFUSED" },
    ]);
  });
});
