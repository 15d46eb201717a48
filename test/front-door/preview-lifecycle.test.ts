/**
 * Front door: a preview nobody visits goes to sleep (`preview.sleepAfter`), `/wake` starts it
 * again, and one not pushed to for `preview.expiresAfter` is removed unless `/keep` keeps it —
 * each said in the status comment.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub, type Endpoint, type GitHubMock } from "../helpers/github-nock.js";
import { pullRequestPayload, prCommentPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const SHA1 = "1".repeat(40);
const PR_KEY = "github:Codertocat/Hello-World#2";
const ENDPOINTS: Endpoint[] = ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"];

let harness: Harness | undefined;
let target: FakeTarget;

beforeEach(() => {
  nock.disableNetConnect();
  target = new FakeTarget();
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

async function opened(preview: string, endpoints = ENDPOINTS): Promise<{ h: Harness; github: GitHubMock }> {
  const pull = pullRequestPayload({ action: "opened", headSha: SHA1 }).pull_request;
  const github = mockGitHub({ config: `preview:\n  port: 8080\n${preview}`, permissions: { dev: "write", tess: "read" }, pull, endpoints });
  harness = await createHarness({
    builder: new FakeBuilder(),
    target,
    engine: { gateway: { domain: "preview.example.com", scheme: "https", port: 443, instance: "default" }, lifecycleIntervalMs: 0 },
  });
  await harness.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
  return { h: harness, github };
}

const idle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("sleep and wake", () => {
  it("puts a preview without visits to sleep, says so, and /wake starts it again on its new port", async () => {
    const { h, github } = await opened("  sleepAfter: 300ms\n");
    const before = (await h.store.getPull(PR_KEY))!.preview!;
    expect(before.url).toMatch(/^https:\/\/codertocat-hello-world-[0-9a-f]{8}-pr-2\.preview\.example\.com\/$/);
    expect(before.upstream).toBe("http://127.0.0.1:41000");

    await h.engine.lifecycle.tick();
    expect(target.slept).toEqual([]);
    await idle(400);
    await h.engine.lifecycle.tick();
    await h.engine.idle();
    expect(target.slept).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 2 }]);
    expect((await h.store.getPull(PR_KEY))?.preview?.sleeping).toBeDefined();
    expect(github.commentBodies().at(-1)).toContain("💤 Asleep since");
    // Asleep is asleep: another look does not stop it twice.
    await h.engine.lifecycle.tick();
    expect(target.slept).toHaveLength(1);

    await h.deliver("issue_comment", prCommentPayload("/wake", { author: "tess" }));
    expect(target.woken).toHaveLength(1);
    const after = (await h.store.getPull(PR_KEY))!.preview!;
    expect(after.sleeping).toBeUndefined();
    // Behind the gateway the URL people have stays; berth follows the port the engine published now.
    expect(after.url).toBe(before.url);
    expect(after.upstream).toBe("http://127.0.0.1:42000");
    expect(github.commentBodies().at(-1)).not.toContain("Asleep");
  });

  it("shows a wake that fails on the comment", async () => {
    const { h, github } = await opened("  sleepAfter: 1ms\n");
    await idle(5);
    await h.engine.lifecycle.tick();
    target.wakeFailure = "preview stopped before it became healthy (exit code 3)";
    await h.deliver("issue_comment", prCommentPayload("/wake", { author: "tess" }));
    expect(github.commentBodies().at(-1)).toContain("The preview could not be woken: preview stopped before it became healthy (exit code 3).");
    expect((await h.store.getPull(PR_KEY))?.preview?.sleeping).toBeDefined();
  });

  it("never sleeps with sleepAfter: never", async () => {
    const { h } = await opened("  sleepAfter: never\n", ENDPOINTS.filter((e) => e !== "permission" && e !== "reaction" && e !== "pull"));
    await idle(20);
    await h.engine.lifecycle.tick();
    expect(target.slept).toEqual([]);
  });
});

describe("expiry", () => {
  it("removes a preview expiresAfter after the last push and says how to bring it back", async () => {
    const { h, github } = await opened("  expiresAfter: 300ms\n", ENDPOINTS.filter((e) => e !== "permission" && e !== "reaction" && e !== "pull"));
    expect(github.commentBodies().at(-1)).toMatch(/The preview is removed at \d{4}-\d\d-\d\d \d\d:\d\d UTC unless a new commit is pushed/);
    await idle(400);
    await h.engine.lifecycle.tick();
    await h.engine.idle();
    expect(target.removed).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 2 }]);
    expect((await h.store.getPull(PR_KEY))?.preview).toBeUndefined();
    expect(github.commentBodies().at(-1)).toContain("The preview expired (`preview.expiresAfter` after the last push) and was removed. Comment `/deploy` to start it again");
    const runs = await h.store.latestPipelineRuns(PR_KEY, 5);
    expect(runs.every((r) => r.kind === "pipeline")).toBe(true);
  });

  it("/keep keeps it 7 more days, on every target", async () => {
    const { h, github } = await opened("  expiresAfter: 300ms\n");
    await h.deliver("issue_comment", prCommentPayload("/keep", { author: "dev" }));
    expect(github.replies().at(-1)).toMatch(/^The preview is kept until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$/);
    await idle(400);
    await h.engine.lifecycle.tick();
    await h.engine.idle();
    expect(target.removed).toEqual([]);
    expect((await h.store.getPull(PR_KEY))?.keepUntil).toBeGreaterThan(Date.now() + 6 * 86_400_000);
  });
});
