/**
 * Front door of the tag flow: real `push` payloads of tags through `probot.receive`, GitHub API via
 * nock, fake builder and target behind the ports.
 */
import { existsSync } from "node:fs";
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload, tagPushPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = `
preview:
  port: 8080
test:
  command: ["true"]
tags:
  - match: "alpha-*"
    environment: dev
  - match: "beta-*"
    environment: staging
  - match: "release-*"
    environment: production
environments:
  staging: { permission: admin }
  production: { port: 9090, env: { MODE: prod } }
`;
const SHA = "5".repeat(40);

let harness: Harness | undefined;
let builder: FakeBuilder;
let target: FakeTarget;

beforeEach(async () => {
  nock.disableNetConnect();
  builder = new FakeBuilder();
  target = new FakeTarget();
  target.exitCode = 0;
  target.junit = `<testsuite name="s"><testcase name="ok"/></testsuite>`;
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

async function start(): Promise<Harness> {
  harness = await createHarness({ builder, target });
  return harness;
}

describe("tag flow", () => {
  it("builds alpha-* and deploys it to dev, then promotes the same commit to production without a rebuild", async () => {
    const github = mockGitHub({ config: CONFIG, permissions: { lead: "admin" }, endpoints: ["token", "config", "tarball", "permission", "status", "deployment"] });
    const h = await start();

    await h.deliver("push", tagPushPayload({ tag: "alpha-1.0.0", sha: SHA, pusher: "lead" }));
    expect(builder.builds.map((b) => b.tag)).toEqual(["127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:alpha-1.0.0"]);
    expect(builder.builds[0]?.labels["org.opencontainers.image.version"]).toBe("alpha-1.0.0");
    expect(builder.pushes).toEqual([
      "127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:alpha-1.0.0",
      `127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:sha-${SHA}`,
    ]);
    expect(target.deploys.map((d) => d.key)).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 0, environment: "dev" }]);

    await h.deliver("push", tagPushPayload({ tag: "release-1.0.0", sha: SHA, pusher: "lead" }));
    expect(builder.builds).toHaveLength(1); // promoted, not rebuilt
    expect(builder.tags.at(-1)).toEqual({ source: "127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:alpha-1.0.0", target: "127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:release-1.0.0" });
    const production = target.deploys.at(-1)!;
    expect(production.key.environment).toBe("production");
    expect(production.image).toBe("127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:release-1.0.0");
    expect(production.preview.port).toBe(9090);
    expect(production.preview.env).toEqual({ MODE: "prod" });

    expect(github.statuses()[0]).toMatchObject({ context: "berth/dev/build", state: "pending" });
    expect(finalStatuses(github.statuses())).toEqual([
      "berth/dev/build=success",
      "berth/dev/deploy=success",
      "berth/production/build=success",
      "berth/production/deploy=success",
    ]);
    const deployments = github.calls.filter((c) => c.path.endsWith("/deployments"));
    expect(deployments.map((c) => [c.body.environment, c.body.ref, c.body.production_environment])).toEqual([
      ["dev", SHA, false],
      ["production", SHA, true],
    ]);
    const finals = github.calls.filter((c) => /deployments\/\d+\/statuses$/.test(c.path) && c.body.state !== "in_progress");
    expect(finals.map((c) => [c.body.state, c.body.environment_url])).toEqual([
      ["success", "http://127.0.0.1:41000/"],
      ["success", "http://127.0.0.1:41000/"],
    ]);
  });

  it("records the GitHub Deployment beside the deploy stage, never on its path", async () => {
    const github = mockGitHub({ config: CONFIG, permissions: { lead: "admin" }, endpoints: ["token", "config", "tarball", "permission", "status", "deployment"], delayMs: { deployment: 1500 } });
    const h = await start();
    await h.deliver("push", tagPushPayload({ tag: "alpha-1.0.0", sha: SHA, pusher: "lead" }));
    const run = (await h.store.runsWithStatus(["passed"])).find((r) => r.release?.tag === "alpha-1.0.0");
    const stages = run ? await h.store.stagesOf(run.id) : [];
    const deploy = stages.find((s) => s.name === "deploy");
    // The deploy ran and ended while GitHub was still answering the deployment's creation.
    expect(deploy?.state).toBe("passed");
    expect((deploy?.finishedAt ?? Infinity) - (deploy?.startedAt ?? 0)).toBeLessThan(1000);
    const finals = github.calls.filter((c) => /deployments\/\d+\/statuses$/.test(c.path) && c.body.state !== "in_progress");
    expect(finals.map((c) => [c.body.state, c.body.environment_url])).toEqual([["success", "http://127.0.0.1:41000/"]]);
  });

  it("builds but does not deploy when the pusher lacks the environment's permission, and says why", async () => {
    const github = mockGitHub({ config: CONFIG, permissions: { dev: "write" }, endpoints: ["token", "config", "tarball", "permission", "status"] });
    const h = await start();
    await h.deliver("push", tagPushPayload({ tag: "beta-2.0.0", sha: SHA, pusher: "dev" }));
    expect(builder.builds).toHaveLength(1);
    expect(target.deploys).toEqual([]);
    expect(github.statuses()[0]).toEqual({ context: "berth/staging/build", state: "pending", description: "build running…" });
    expect(github.statuses().filter((s) => s.state !== "pending")).toEqual([
      // The build status links to the build's full log.
      { context: "berth/staging/build", state: "success", description: "build passed for beta-2.0.0", target_url: expect.stringMatching(/^https:\/\/berth\.example\.com\/reports\/logs\/[0-9a-f]{16}$/) },
      { context: "berth/staging/deploy", state: "failure", description: "built, not deployed: dev has write permission, staging needs admin" },
    ]);
  });

  it("does nothing destructive when a tag is deleted", async () => {
    const github = mockGitHub({ config: CONFIG, endpoints: [] });
    const h = await start();
    await h.deliver("push", tagPushPayload({ tag: "release-1.0.0", sha: SHA, deleted: true }));
    expect(github.calls).toEqual([]);
    expect(target.removed).toEqual([]);
  });

  it("ignores tags that match no rule", async () => {
    mockGitHub({ config: CONFIG, endpoints: ["token", "config"] });
    const h = await start();
    await h.deliver("push", tagPushPayload({ tag: "v1.0.0", sha: SHA, pusher: "lead" }));
    expect(builder.builds).toEqual([]);
  });

  it("a tag with shell metacharacters cannot run anything and gets a safe image tag", async () => {
    mockGitHub({ config: CONFIG, permissions: { lead: "admin" }, endpoints: ["token", "config", "tarball", "permission", "status", "deployment"] });
    const h = await start();
    const marker = `/tmp/berth-pwned-${process.pid}`;
    await h.deliver("push", tagPushPayload({ tag: `alpha-$(touch ${marker});\`touch ${marker}\``, sha: SHA, pusher: "lead" }));
    expect(existsSync(marker)).toBe(false);
    const tag = builder.builds[0]!.tag.split(":").at(-1)!;
    expect(tag).toMatch(/^alpha-[A-Za-z0-9_.-]+-[0-9a-f]{8}$/);
    expect(target.deploys[0]?.key.environment).toBe("dev");
  });

  it("shows the environments of a commit on the open PR whose head it is", async () => {
    const github = mockGitHub({ config: CONFIG, permissions: { lead: "admin" }, endpoints: ["token", "config", "tarball", "permission", "status", "deployment", "listComments", "createComment", "editComment"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA }));
    await h.deliver("push", tagPushPayload({ tag: "alpha-1.0.0", sha: SHA, pusher: "lead" }));
    const last = github.commentBodies().at(-1)!;
    expect(last).toContain("**Environments** running this commit: dev (`alpha-1.0.0`) http://127.0.0.1:41000/");
    // The PR pipeline built the commit first, so the tag promoted that image.
    expect(builder.builds).toHaveLength(1);
    expect(builder.tags[0]?.source).toBe("127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:pr-2-5555555");
  });
});

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
