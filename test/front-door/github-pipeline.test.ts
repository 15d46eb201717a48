/**
 * Front door: real GitHub payloads through `probot.receive`, GitHub API mocked with nock (no
 * network, no pending mocks), fake builder and target behind the ports.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STATUS_MARKER } from "../../src/render/status-comment.js";
import { deferred, FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub, type GitHubMock } from "../helpers/github-nock.js";
import { pullRequestPayload, prCommentPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = `
preview:
  port: 8080
  healthPath: /health
test:
  command: ["sh", "-c", "run-tests"]
`;

const SHA1 = "1".repeat(40);
const SHA2 = "2".repeat(40);

let harness: Harness | undefined;
let builder: FakeBuilder;
let target: FakeTarget;

beforeEach(async () => {
  nock.disableNetConnect();
  builder = new FakeBuilder();
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

async function start(commentIntervalMs = 0): Promise<Harness> {
  harness = await createHarness({ builder, target, commentIntervalMs });
  return harness;
}

function lastComment(github: GitHubMock): string {
  const bodies = github.commentBodies();
  expect(bodies.length).toBeGreaterThan(0);
  return bodies[bodies.length - 1] ?? "";
}

describe("pull request pipeline", () => {
  it("builds, deploys and tests an opened PR, keeping one status comment", async () => {
    const github = mockGitHub({ config: CONFIG });
    const h = await start(60_000);
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));

    expect(builder.builds).toHaveLength(1);
    const build = builder.builds[0]!;
    expect(build.tag).toBe("127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855:pr-2-1111111");
    expect(build.labels["org.opencontainers.image.revision"]).toBe(SHA1);
    expect(build.labels["org.opencontainers.image.source"]).toBe("https://github.com/Codertocat/Hello-World");
    expect(build.labels["dev.berth.pull-request"]).toBe("2");
    expect(target.deploys[0]?.preview.healthPath).toBe("/health");
    expect(target.tests[0]?.env.PREVIEW_URL).toBe("http://preview-2:8080");

    // One comment created, then edited in place.
    expect(github.calls.filter((c) => c.method === "POST" && c.path.endsWith("/issues/2/comments"))).toHaveLength(1);
    const body = lastComment(github);
    expect(body).toContain(STATUS_MARKER);
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ❌ failed |");
    expect(body).toContain("1 passed, 1 failed, 1 skipped");
    expect(body).toContain("**Preview:** http://127.0.0.1:41000/ (commit `1111111`)");
    expect(body).toMatch(/\[report\]\(https:\/\/berth\.example\.com\/reports\/[0-9a-f]{16}\)/);
    expect(body).toContain("- `smoke › login`: expected 200, got 500");

    // Each stage shows pending when it starts (the first write), its result when it ends.
    expect(github.statuses()[0]).toMatchObject({ context: "berth/build", state: "pending", description: "build running…" });
    expect(finalStatuses(github.statuses())).toEqual(["berth/build=success", "berth/deploy=success", "berth/test=failure"]);

    // The API calls of one PR pipeline (goal ≤ 10 before pending-at-start; now at most a pending and
    // a result per stage, fewer when the outbox coalesces them; the other calls as before).
    const apiCalls = github.calls.length;
    const statusWrites = github.statuses().length;
    console.info(`GitHub API calls for one PR pipeline (front door, coalesced comment): ${apiCalls}, of them ${statusWrites} status writes`);
    expect(statusWrites).toBeLessThanOrEqual(6);
    expect(apiCalls - statusWrites).toBeLessThanOrEqual(7);
    expect(apiCalls).toBeLessThanOrEqual(13);
  });

  it("fails the test stage when a report file was too large to read, naming it", async () => {
    const github = mockGitHub({ config: CONFIG });
    target.exitCode = 0;
    target.junit = `<testsuite name="smoke"><testcase name="home page answers"/></testsuite>`;
    target.reportsNotRead = ["/reports/huge.xml (40 MiB, over 8 MiB per file)"];
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    const body = lastComment(github);
    expect(body).toContain("| test | ❌ failed |");
    expect(body).toContain("not read: /reports/huge.xml (40 MiB, over 8 MiB per file)");
  });

  it("serves the report page linked from the comment", async () => {
    const github = mockGitHub({ config: CONFIG });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    const id = /reports\/([0-9a-f]{16})/.exec(lastComment(github))?.[1];
    expect(id).toBeDefined();
    const html = await request(h, `/reports/${id}`);
    expect(html.status).toBe(200);
    expect(html.body).toContain("expected 200, got 500");
    expect(html.body).toContain("home page answers");
    // The report links the test stage's whole output.
    const logUrl = /<a href="https:\/\/berth\.example\.com(\/reports\/logs\/[0-9a-f]{16})">full test output<\/a>/.exec(html.body)?.[1];
    expect(logUrl).toBeDefined();
    const log = await request(h, logUrl!);
    expect(log.body).toContain("running smoke tests\n1 failing\n");
    expect((await request(h, "/reports/0123456789abcdef")).status).toBe(404);
  });

  it("ignores a delivery id seen before", async () => {
    mockGitHub({ config: CONFIG });
    const h = await start();
    const payload = pullRequestPayload({ action: "opened", headSha: SHA1 });
    await h.deliver("pull_request", payload, "same-delivery");
    await h.deliver("pull_request", payload, "same-delivery");
    expect(builder.builds).toHaveLength(1);
  });

  it("ignores a repository without .github/berth.yml", async () => {
    const github = mockGitHub({ config: null, endpoints: ["token", "config"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    expect(builder.builds).toHaveLength(0);
    expect(github.calls.map((c) => c.method)).toEqual(["POST", "GET"]);
  });

  it("shows a config error with its field path and runs nothing", async () => {
    const github = mockGitHub({ config: "preview:\n  port: 99999\n  target: docker\n", endpoints: ["token", "config", "listComments", "createComment"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    expect(builder.builds).toHaveLength(0);
    const body = lastComment(github);
    expect(body).toContain("`preview.port`");
    expect(body).toContain("so nothing runs");
  });

  it("reports a failing Dockerfile step with the last log lines and skips deploy and test", async () => {
    const github = mockGitHub({ config: CONFIG });
    builder.failWith = { error: "The command '/bin/sh -c false' returned a non-zero code: 1", failingStep: "Step 2/3 : RUN false" };
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    expect(target.deploys).toHaveLength(0);
    const body = lastComment(github);
    expect(body).toContain("| build | ❌ failed |");
    expect(body).toContain("| deploy | 🚫 cancelled |  | not run: build failed |");
    expect(body).toContain("<details><summary>build failed at `Step 2/3 : RUN false`: last log lines</summary>");
    expect(github.statuses().map((s) => `${s.context}=${s.state}`)).toEqual(["berth/build=pending", "berth/build=failure"]);
    // The full build log is one click away: in the build row and on the commit status.
    const logId = /\| build \| ❌ failed \|.*\[log\]\(https:\/\/berth\.example\.com\/reports\/logs\/([0-9a-f]{16})\)/.exec(body)?.[1];
    expect(logId).toBeDefined();
    expect(github.statuses().at(-1)?.target_url).toBe(`https://berth.example.com/reports/logs/${logId}`);
    const log = await request(h, `/reports/logs/${logId}`);
    expect(log.status).toBe(200);
    expect(log.body).toMatch(/^berth · build log · Codertocat\/Hello-World#2 · commit 1111111 · \d{4}-\d\d-\d\dT/);
    expect(log.body).toContain(`fetching the source of ${SHA1}\nStep 1/3 : FROM scratch\n`);
    expect((await request(h, "/reports/logs/0123456789abcdef")).status).toBe(404);
  });

  it("supersedes the run of an older commit when a new one is pushed", async () => {
    const github = mockGitHub({ config: CONFIG });
    const gate = deferred();
    builder.gate = gate.promise;
    const h = await start();
    await h.probot.receive({ id: "d-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", headSha: SHA1 }) } as never);
    await waitFor(() => builder.builds.length === 1);
    await h.probot.receive({ id: "d-sync", name: "pull_request", payload: pullRequestPayload({ action: "synchronize", headSha: SHA2 }) } as never);
    await waitFor(() => builder.builds.length === 2);
    gate.release();
    await h.engine.idle();

    expect(target.deploys.map((d) => d.sha)).toEqual([SHA2]);
    const bodies = github.commentBodies();
    expect(bodies.some((b) => b.includes("| build | 🔄 running |") && b.includes("preview of `1111111`"))).toBe(true);
    expect(lastComment(github)).toContain("⏭️ The run for commit `1111111` was stopped: superseded by commit 2222222 (push).");
    const oldRun = (await h.store.latestPipelineRuns("github:Codertocat/Hello-World#2", 2))[1];
    expect(oldRun?.status).toBe("superseded");
    expect((await h.store.stagesOf(oldRun!.id)).map((s) => s.state)).toEqual(["superseded", "superseded", "superseded"]);
    expect(lastComment(github)).toContain("preview of `2222222`");
    expect(lastComment(github)).toContain("| test | ❌ failed |");
  });

  it("tears the preview down when the PR is closed", async () => {
    const github = mockGitHub({ config: CONFIG });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    await h.deliver("pull_request", pullRequestPayload({ action: "closed", headSha: SHA1, merged: true }));
    expect(target.removed).toEqual([{ host: "github", owner: "Codertocat", name: "Hello-World", pr: 2 }]);
    // The closed PR's images go from the build engine too.
    expect(builder.imageRemovals).toEqual([{ repository: "127.0.0.1:5000/previews/codertocat-hello-world-8c3bb855", prNumber: 2 }]);
    const body = lastComment(github);
    expect(body).toContain("The PR is closed: its preview is gone.");
    expect(body).toContain("> Images: 1 local image tag(s) removed.");
    expect(body).toContain("**Preview:** none running");
  });

  it("fails closed when a vulnerability gate is configured but no scanner is", async () => {
    const github = mockGitHub({ config: `build:\n  scan:\n    failOn: high\n${CONFIG}` });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    expect(builder.pushes).toHaveLength(1);
    expect(target.deploys).toHaveLength(0);
    const body = lastComment(github);
    expect(body).toContain("| build | ❌ failed |");
    expect(body).toContain("`build.scan.failOn: high` is set, but this berth server has no scanner");
    expect(github.statuses().map((s) => `${s.context}=${s.state}`)).toEqual(["berth/build=pending", "berth/build=failure"]);
  });

  it("asks a maintainer to approve a fork PR and builds exactly the approved commit", async () => {
    const pull = pullRequestPayload({ action: "opened", headSha: SHA1, fork: true }).pull_request;
    const github = mockGitHub({ config: CONFIG, permissions: { maintainer: "write" }, pull, endpoints: ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1, fork: true }));
    expect(builder.builds).toHaveLength(0);
    expect(lastComment(github)).toContain("comment `/ok-to-test` to approve commit 1111111");

    await h.deliver("issue_comment", prCommentPayload("/ok-to-test", { author: "maintainer" }));
    expect(builder.builds).toHaveLength(1);
    expect(github.calls.some((c) => c.path.endsWith("/reactions") && c.body.content === "eyes")).toBe(true);

    // A later push needs a new approval.
    await h.deliver("pull_request", pullRequestPayload({ action: "synchronize", headSha: SHA2, fork: true }));
    expect(builder.builds).toHaveLength(1);
    expect(lastComment(github)).toContain("approve commit 2222222");
  });
});

describe("/ok-to-test approves what the maintainer saw", () => {
  it("refuses when the head moved after the comment was written, and accepts the commit named", async () => {
    // The comment approves 1111111, but 2222222 was pushed before berth read it (its webhook not yet in).
    const moved = pullRequestPayload({ action: "synchronize", headSha: SHA2, fork: true }).pull_request;
    const github = mockGitHub({ config: CONFIG, permissions: { maintainer: "write" }, pull: moved, endpoints: ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1, fork: true }));

    await h.deliver("issue_comment", prCommentPayload("/ok-to-test", { author: "maintainer" }));
    expect(builder.builds).toHaveLength(0);
    expect(github.replies().at(-1)).toBe(
      "The head of this PR moved to 2222222 after this comment was written, so nothing was approved. Comment `/ok-to-test 2222222` to approve 2222222 after reviewing it.",
    );

    await h.deliver("issue_comment", prCommentPayload("/ok-to-test 1111111", { author: "maintainer" }));
    expect(builder.builds).toHaveLength(0);
    expect(github.replies().at(-1)).toBe("`/ok-to-test 1111111` names a commit that is not the head of this PR (the head is 2222222). Nothing was approved.");

    await h.deliver("issue_comment", prCommentPayload("/ok-to-test 2222222", { author: "maintainer" }));
    expect(builder.builds).toHaveLength(1);
    expect(builder.builds[0]?.tag).toContain(`pr-2-${SHA2.slice(0, 7)}`);
  });

  it("refuses a comment written before the head berth now sees was pushed", async () => {
    const pull = pullRequestPayload({ action: "synchronize", headSha: SHA2, fork: true }).pull_request;
    const github = mockGitHub({ config: CONFIG, permissions: { maintainer: "write" }, pull, endpoints: ["token", "config", "listComments", "createComment", "editComment", "permission", "reaction", "pull"] });
    const h = await start();
    const written = new Date(Date.now() - 60_000);
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1, fork: true }));
    await h.deliver("pull_request", pullRequestPayload({ action: "synchronize", headSha: SHA2, fork: true }));
    // The comment was written a minute ago, before berth saw 2222222 arrive.
    await h.deliver("issue_comment", prCommentPayload("/ok-to-test", { author: "maintainer", createdAt: written }));
    expect(builder.builds).toHaveLength(0);
    expect(github.replies().at(-1)).toContain("moved to 2222222 after this comment was written");
  });
});

describe("slash commands", () => {
  it("refuses a command from a user without write permission", async () => {
    const github = mockGitHub({ config: CONFIG, permissions: { reader: "read" }, endpoints: ["token", "permission", "createComment"] });
    const h = await start();
    await h.deliver("issue_comment", prCommentPayload("/deploy", { author: "reader" }));
    expect(builder.builds).toHaveLength(0);
    expect(github.replies()).toEqual(["`/deploy` needs write permission on this repository; @reader has read. Nothing was run."]);
  });

  it("points an unknown command at /help", async () => {
    const github = mockGitHub({ config: CONFIG, endpoints: ["token", "createComment"] });
    const h = await start();
    await h.deliver("issue_comment", prCommentPayload("/deploi please"));
    expect(github.replies()).toEqual(["Unknown command `/deploi`. Comment `/help` to see what berth understands."]);
  });

  it("answers /help with the command table and a 👀", async () => {
    const github = mockGitHub({ config: CONFIG, endpoints: ["token", "createComment", "reaction"] });
    const h = await start();
    await h.deliver("issue_comment", prCommentPayload("/help"));
    const [help] = github.replies();
    expect(help).toContain("| `/deploy` | Build the head commit if needed, then deploy the preview and run the tests | write or higher |");
    expect(help).toContain("| `/help` | Show this list | anyone |");
  });

  it("ignores ordinary comments without any API call", async () => {
    const github = mockGitHub({ config: CONFIG, endpoints: [] });
    const h = await start();
    await h.deliver("issue_comment", prCommentPayload("Looks good to me, see /deploy docs"));
    expect(github.calls).toEqual([]);
  });

  it("/deploy reuses the image built for the head commit; /test reruns only the tests", async () => {
    const pull = pullRequestPayload({ action: "opened", headSha: SHA1 }).pull_request;
    const github = mockGitHub({ config: CONFIG, permissions: { dev: "write" }, pull, endpoints: ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    await h.deliver("issue_comment", prCommentPayload("/deploy", { author: "dev" }));
    expect(builder.builds).toHaveLength(1);
    expect(target.deploys).toHaveLength(2);
    expect(lastComment(github)).toContain("reused");

    await h.deliver("issue_comment", prCommentPayload("/test", { author: "dev" }));
    expect(target.deploys).toHaveLength(2);
    expect(target.tests).toHaveLength(3);
    expect(lastComment(github)).toContain("trigger `/test`");
  });

  it("/delete removes the preview and says how to bring it back", async () => {
    const pull = pullRequestPayload({ action: "opened", headSha: SHA1 }).pull_request;
    const github = mockGitHub({ config: CONFIG, permissions: { dev: "admin" }, pull, endpoints: ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"] });
    const h = await start();
    await h.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
    await h.deliver("issue_comment", prCommentPayload("/delete", { author: "dev" }));
    expect(target.removed).toHaveLength(1);
    // `/deploy` may bring the preview back from the same image: it stays.
    expect(builder.imageRemovals).toEqual([]);
    expect(lastComment(github)).toContain("deleted by `/delete`");
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function request(h: Harness, path: string): Promise<{ status: number; body: string }> {
  const { IncomingMessage, ServerResponse } = await import("node:http");
  const { Socket } = await import("node:net");
  const req = new IncomingMessage(new Socket());
  req.method = "GET";
  req.url = path;
  const res = new ServerResponse(req);
  const chunks: Buffer[] = [];
  res.write = ((chunk: string | Buffer) => {
    chunks.push(Buffer.from(chunk));
    return true;
  }) as typeof res.write;
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  res.end = ((chunk?: string | Buffer) => {
    if (chunk) chunks.push(Buffer.from(chunk));
    ended();
    return res;
  }) as typeof res.end;
  for (const route of h.routes) {
    if (await route(req, res)) break;
  }
  await done;
  return { status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") };
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
