/**
 * Front door of the Gitea-family route with fake builder and target: signed payloads over HTTP,
 * the API fake of each flavor behind `GiteaHost`. Forgejo (its own headers) reports stages as
 * commit statuses; Gogs 0.13, which has none, as PR labels, with the head commit read from the
 * PR's branch; two servers behind one route never mix.
 */
import { createHmac } from "node:crypto";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { GiteaFlavor } from "../../src/config/gitea-servers.js";
import type { GiteaHostKind } from "../../src/domain/host-kind.js";
import { GiteaClient } from "../../src/hosts/gitea/gitea-client.js";
import { GiteaHost } from "../../src/hosts/gitea/gitea-host.js";
import { createGiteaWebhookHandler, GITEA_WEBHOOK_PATH, type GiteaWebhookServer } from "../../src/ingress/gitea-webhook.js";
import { BodyGate } from "../../src/web/bounded-body.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { FakeGiteaApi } from "../fakes/gitea-api.js";
import { giteaFixtureEvent, loadGiteaFixture } from "../fixtures/gitea/gitea-fixtures.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { serveRoutes, type RouteServer } from "../helpers/route-server.js";

const TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c";
const MARKER = "<!-- berth:status -->";
const CONFIG = "preview:\n  port: 8080\ntest:\n  command: [\"true\"]\n";
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

interface Site {
  fake: FakeGiteaApi;
  server: GiteaWebhookServer;
  headSha: string;
}

let harness: Harness | undefined;
let httpServer: RouteServer | undefined;
let baseUrl = "";
const sites: Site[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await httpServer?.close();
  httpServer = undefined;
  for (const site of sites.splice(0)) {
    await site.fake.close();
    site.fake.assertNoViolations();
  }
});

async function site(name: string, flavor: GiteaFlavor, pr: number): Promise<Site> {
  const fake = await FakeGiteaApi.start({ flavor, token: TOKEN, botLogin: "berth-bot" });
  fake.addRepo({ owner: "acme", name: "shop", defaultBranch: flavor === "gogs" ? "master" : "main" });
  fake.addCommit("acme", "shop", { ".gitea/berth.yml": CONFIG }, flavor === "gogs" ? "master" : "main");
  const headSha = fake.addCommit("acme", "shop", { Dockerfile: "FROM scratch\n" }, "feature/badge");
  fake.addPull("acme", "shop", { number: pr, headSha, headRef: "feature/badge" });
  const created = { fake, headSha, server: { host: `gitea-${name}` as GiteaHostKind, url: fake.url, secret: `secret-of-${name}`, flavor } };
  sites.push(created);
  return created;
}

async function start(targetExit = 0): Promise<void> {
  const target = new FakeTarget();
  target.exitCode = targetExit;
  target.junit = `<testsuite name="s"><testcase name="ok"/></testsuite>`;
  harness = await createHarness({
    builder: new FakeBuilder(),
    target,
    extraHosts: sites.map((s, index) => ({
      host: new GiteaHost({ kind: s.server.host, flavor: s.server.flavor, client: new GiteaClient({ token: TOKEN, apiUrl: s.fake.apiUrl, name: s.server.host, log }), log, botLogin: "berth-bot" }),
      route:
        index === 0
          ? (engine) => createGiteaWebhookHandler({ servers: sites.map((x) => x.server), gate: new BodyGate(4), log, onEvent: async (event) => void (await engine.accept(event)) })
          : undefined,
    })),
  });
  httpServer = await serveRoutes(harness.routes);
  baseUrl = httpServer.url;
}

/** POST a fixture as the site's server sends it (Forgejo: its headers and Gitea's; Gogs: only its own). */
async function deliver(s: Site, fixture: string, edit: (body: Record<string, any>) => void = () => undefined): Promise<Record<string, unknown>> {
  const body = loadGiteaFixture(fixture, s.fake.url);
  if (body.pull_request?.head) body.pull_request.head.sha = s.headSha;
  edit(body);
  const raw = JSON.stringify(body);
  const signature = createHmac("sha256", s.server.secret).update(raw).digest("hex");
  const event = giteaFixtureEvent(fixture);
  const delivery = `d-${Math.random().toString(16).slice(2)}`;
  const gogs = { "X-Gogs-Event": event, "X-Gogs-Signature": signature, "X-Gogs-Delivery": delivery };
  const headers =
    s.server.flavor === "gogs"
      ? gogs
      : { "X-Forgejo-Event": event, "X-Forgejo-Signature": signature, "X-Forgejo-Delivery": delivery, "X-Gitea-Event": event, "X-Gitea-Signature": signature, "X-Gitea-Delivery": delivery, ...gogs };
  const res = await fetch(`${baseUrl}${GITEA_WEBHOOK_PATH}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: raw });
  expect(res.status).toBe(200);
  const json = (await res.json()) as Record<string, unknown>;
  await harness!.engine.idle();
  return json;
}

describe("Gitea-family servers behind one route", () => {
  it("Forgejo: a PR builds, deploys and tests; stages land as commit statuses and the comment once", async () => {
    const forgejo = await site("forge", "forgejo", 3);
    await start();
    expect(await deliver(forgejo, "pull_request_opened.json")).toMatchObject({ ok: true, kind: "pr-updated" });
    await expect.poll(() => forgejo.fake.latestStatuses("acme", "shop", forgejo.headSha), { timeout: 10_000 }).toEqual({ "berth/build": "success", "berth/deploy": "success", "berth/test": "success" });
    const comments = forgejo.fake.comments("acme", "shop", 3);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain(MARKER);
    expect(comments[0]?.body).toContain("| test | ✅ passed |");
    expect(forgejo.fake.prLabels("acme", "shop", 3)).toEqual([]);
  });

  it("Gogs: the head commit comes from the PR's branch and stages land as PR labels, not statuses", async () => {
    const gogs = await site("old", "gogs", 4);
    await start();
    expect(await deliver(gogs, "gogs_pull_request_opened.json")).toMatchObject({ ok: true, kind: "pr-updated" });
    await expect.poll(() => gogs.fake.prLabels("acme", "shop", 4).sort(), { timeout: 10_000 }).toEqual(["berth:build-passed", "berth:deploy-passed", "berth:test-passed"]);
    const body = gogs.fake.comments("acme", "shop", 4)[0]?.body ?? "";
    expect(body).toContain(`preview of \`${gogs.headSha.slice(0, 7)}\``);
    expect(gogs.fake.calls.some((c) => c.template === "/repos/{owner}/{repo}/branches/{branch}")).toBe(true);
    expect(gogs.fake.calls.some((c) => c.template === "/repos/{owner}/{repo}/statuses/{sha}")).toBe(false);

    expect(await deliver(gogs, "issue_comment_pr.json")).toMatchObject({ ok: true, ignored: "comment commands are not supported on Gogs (no pull request API)" });
    expect(await deliver(gogs, "gogs_pull_request_merged.json")).toMatchObject({ ok: true, kind: "pr-closed" });
    expect(gogs.fake.comments("acme", "shop", 4)[0]?.body).toContain("The PR is closed: its preview is gone.");
  });

  it("two servers: each event goes to the host of the server that signed it", async () => {
    const forgejo = await site("forge", "forgejo", 3);
    const gogs = await site("old", "gogs", 4);
    await start();
    await deliver(forgejo, "pull_request_opened.json");
    await deliver(gogs, "gogs_pull_request_opened.json");
    const pulls = await harness!.store.runsWithStatus(["passed"]);
    expect(pulls.map((run) => run.repo.host).sort()).toEqual(["gitea-forge", "gitea-old"]);
    expect(forgejo.fake.comments("acme", "shop", 3)).toHaveLength(1);
    expect(gogs.fake.comments("acme", "shop", 4)).toHaveLength(1);
  });
});
