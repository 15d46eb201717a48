/**
 * Front door: berth adopts as its status comment only a comment berth itself wrote (the App's bot
 * user), never a person's comment or another bot's that carries berth's hidden marker. GitHub API
 * mocked with nock; listed comments shaped as GitHub's API description has them.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STATUS_MARKER } from "../../src/render/status-comment.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { issueCommentJson, type CommentAuthor } from "../fakes/github-api.js";
import { mockGitHub, type Endpoint, type GitHubMock } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = `
preview:
  port: 8080
test:
  command: ["sh", "-c", "run-tests"]
`;
const SHA = "1".repeat(40);
const REPO = "Codertocat/Hello-World";
/** Probot's appId in the harness. */
const BERTH = { id: 1, slug: "berth" };

let harness: Harness | undefined;

beforeEach(() => nock.disableNetConnect());

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

function comment(id: number, author: CommentAuthor, body = `${STATUS_MARKER}\n### berth · preview of \`1111111\`\n\nall green, merge it`) {
  return issueCommentJson({ id, repo: REPO, issue: 2, body, author, app: BERTH });
}

/** Open the PR with these comments already on it (berth's own store is empty: state lost, or never there). */
async function openWith(comments: ReturnType<typeof comment>[], endpoints: Endpoint[]): Promise<GitHubMock> {
  const github = mockGitHub({ config: CONFIG, comments, endpoints });
  harness = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget() });
  await harness.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA, prNumber: 2 }));
  return github;
}

const edits = (github: GitHubMock) => github.calls.filter((c) => c.method === "PATCH").map((c) => Number(c.path.split("/").pop()));
const created = (github: GitHubMock) => github.calls.filter((c) => c.method === "POST" && /issues\/\d+\/comments$/.test(c.path));

const NEW_COMMENT: Endpoint[] = ["token", "config", "tarball", "listComments", "createComment", "editComment", "status"];
const ADOPTED: Endpoint[] = ["token", "config", "tarball", "listComments", "editComment", "status"];

describe("status comment adoption on GitHub", () => {
  it("does not adopt a person's comment that carries berth's marker", async () => {
    const github = await openWith([comment(77, { kind: "user", login: "mallory" })], NEW_COMMENT);
    expect(edits(github)).not.toContain(77);
    expect(created(github)).toHaveLength(1);
    expect(created(github)[0]!.body.body).toContain(STATUS_MARKER);
    // Later edits go to berth's own new comment.
    expect(new Set(edits(github))).toEqual(new Set([5000]));
  });

  it("does not adopt a person's comment written through berth's App (user-to-server token)", async () => {
    const github = await openWith([comment(78, { kind: "user", login: "mallory", appId: BERTH.id })], NEW_COMMENT);
    expect(edits(github)).not.toContain(78);
    expect(created(github)).toHaveLength(1);
  });

  it("does not adopt another App's bot comment with the marker", async () => {
    const github = await openWith([comment(79, { kind: "bot", login: "copycat[bot]", appId: 99 })], NEW_COMMENT);
    expect(edits(github)).not.toContain(79);
    expect(created(github)).toHaveLength(1);
  });

  it("adopts berth's own comment and edits it in place", async () => {
    const github = await openWith([comment(80, { kind: "user", login: "octocat" }, `quoting ${STATUS_MARKER}`), comment(81, { kind: "app" })], ADOPTED);
    expect(created(github)).toHaveLength(0);
    expect(new Set(edits(github))).toEqual(new Set([81]));
    expect(github.commentBodies().at(-1)).toContain("| test |");
  });

  it("adopts a bot comment that names no App only when its login is berth's bot login", async () => {
    const github = await openWith([comment(90, { kind: "bot", login: "impostor[bot]" }), comment(91, { kind: "bot", login: "berth[bot]" })], [...ADOPTED, "app"]);
    expect(created(github)).toHaveLength(0);
    expect(new Set(edits(github))).toEqual(new Set([91]));
    expect(github.calls.filter((c) => c.path === "/app")).toHaveLength(1);
  });
});

describe("status comment size on GitHub", () => {
  it("posts a comment GitHub accepts however large the failing build's output", async () => {
    const { gzipSync } = await import("node:zlib");
    const { FakeGitHubApi, GITHUB_COMMENT_MAX } = await import("../fakes/github-api.js");
    nock.enableNetConnect("127.0.0.1");
    const api = new FakeGitHubApi();
    await api.start();
    try {
      const repo = api.repo(REPO);
      repo.config = CONFIG;
      repo.tarballs.set(SHA, gzipSync(Buffer.alloc(1024)));
      const builder = new FakeBuilder();
      const huge = "@everyone </details> ".repeat(20_000);
      builder.build = async () => ({ ok: false, error: huge, failingStep: `RUN ${huge}`, logTail: Array.from({ length: 5000 }, (_, i) => `${i} ${huge.slice(0, 5000)}`) });
      harness = await createHarness({ builder, target: new FakeTarget(), baseUrl: api.url });
      await harness.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA, prNumber: 2 }));
      const refused = api.calls.filter((c) => /comments/.test(c.path) && c.method !== "GET" && typeof c.body?.body === "string" && c.body.body.length > GITHUB_COMMENT_MAX);
      expect(refused).toEqual([]);
      const [body] = api.commentsOf(REPO, 2);
      expect(body).toContain("| build | ❌ failed |");
      expect(body).toMatch(/… \d+ more lines, see the \[log\]/);
      // Outside the fenced log tail (where GitHub neither mentions nor parses HTML) nothing is live.
      const outsideFences = body!.replace(/(`{3,})text\n[\s\S]*?\n\1/g, "");
      expect(outsideFences).not.toContain("@everyone");
      expect(outsideFences.match(/<\/details>/g)).toHaveLength(1);
    } finally {
      await harness?.close();
      harness = undefined;
      await api.stop();
    }
  });
});
