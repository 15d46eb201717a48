/**
 * Front door: testers accept or reject a PR's preview with `/accept` and `/reject <reason>`, as
 * `acceptance.by` in berth.yml allows; the verdict is recorded for the head commit, shown in the
 * status comment and as the `berth/acceptance` status, and a new push resets it to pending.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub, type Endpoint, type GitHubMock } from "../helpers/github-nock.js";
import { pullRequestPayload, prCommentPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = `
preview:
  port: 8080
acceptance:
  by:
    permission: triage
    users: [pm-paula]
    teams: [Codertocat/qa]
`;

const SHA1 = "1".repeat(40);
const SHA2 = "2".repeat(40);
const ENDPOINTS: Endpoint[] = ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"];
const PR_KEY = "github:Codertocat/Hello-World#2";

let harness: Harness | undefined;

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

function acceptanceStatuses(github: GitHubMock): string[] {
  return github.statuses().filter((s) => s.context === "berth/acceptance").map((s) => `${s.state}: ${s.description}`);
}

function statusShas(github: GitHubMock): string[] {
  return github.calls.filter((c) => c.method === "POST" && /\/statuses\//.test(c.path) && c.body.context === "berth/acceptance").map((c) => c.path.slice(-40));
}

async function openedPr(config = CONFIG): Promise<{ h: Harness; github: GitHubMock; pull: Record<string, any> }> {
  const pull = pullRequestPayload({ action: "opened", headSha: SHA1 }).pull_request;
  const usesAcceptance = config.includes("acceptance:");
  const endpoints = usesAcceptance ? ENDPOINTS : ENDPOINTS.filter((e) => e !== "permission");
  const github = mockGitHub({ config, permissions: { "tess-tester": "triage", reader: "read", "qa-quinn": "read" }, pull, endpoints });
  // The QA team has one active member.
  if (usesAcceptance) nock("https://api.github.com")
    .persist()
    .get(/^\/orgs\/Codertocat\/teams\/qa\/memberships\/[^/]+$/)
    .reply(function (uri) {
      github.calls.push({ method: "GET", path: uri, body: undefined });
      return uri.endsWith("/qa-quinn") ? [200, { url: uri, role: "member", state: "active" }] : [404, { message: "Not Found" }];
    });
  harness = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget() });
  await harness.deliver("pull_request", pullRequestPayload({ action: "opened", headSha: SHA1 }));
  return { h: harness, github, pull };
}

describe("acceptance by testers", () => {
  it("a new PR waits for acceptance; /accept by an allowed user accepts the head commit; a push resets it", async () => {
    const { h, github, pull } = await openedPr();
    expect(acceptanceStatuses(github)).toEqual(["pending: waiting for a tester to /accept the preview"]);
    expect(github.commentBodies().at(-1)).toContain("**Acceptance:** ⏳ waiting for commit `1111111`");

    await h.deliver("issue_comment", prCommentPayload("/accept", { author: "tess-tester" }));
    expect(acceptanceStatuses(github).at(-1)).toBe("success: accepted by tess-tester");
    expect(statusShas(github).at(-1)).toBe(SHA1);
    expect(github.commentBodies().at(-1)).toMatch(/\*\*Acceptance:\*\* ✅ accepted by tess-tester \(commit `1111111`, \d{4}-\d\d-\d\d \d\d:\d\d UTC\)/);
    expect((await h.store.getPull(PR_KEY))?.acceptance).toMatchObject({ sha: SHA1, state: "accepted", by: "tess-tester" });

    // A new commit is not what was accepted.
    pull.head.sha = SHA2;
    await h.deliver("pull_request", pullRequestPayload({ action: "synchronize", headSha: SHA2 }));
    expect(acceptanceStatuses(github).at(-1)).toBe("pending: waiting for a tester to /accept the preview");
    expect(statusShas(github).at(-1)).toBe(SHA2);
    expect(github.commentBodies().at(-1)).toContain("**Acceptance:** ⏳ waiting for commit `2222222`");
  });

  it("refuses /accept from anyone acceptance.by does not name, recording nothing", async () => {
    const { h, github } = await openedPr();
    await h.deliver("issue_comment", prCommentPayload("/accept", { author: "reader" }));
    expect(github.replies()).toEqual([
      "@reader may not `/accept` this preview: acceptance is given by triage permission or higher, or the users @pm-paula, or members of Codertocat/qa. Nothing was recorded.",
    ]);
    expect(acceptanceStatuses(github)).toEqual(["pending: waiting for a tester to /accept the preview"]);
    expect((await h.store.getPull(PR_KEY))?.acceptance).toEqual({ sha: SHA1, state: "pending" });
  });

  it("lets in listed users and team members whatever their permission; /reject keeps the reason", async () => {
    const { h, github } = await openedPr();
    await h.deliver("issue_comment", prCommentPayload("/reject The *checkout* button does nothing | on Safari", { author: "qa-quinn" }));
    expect(acceptanceStatuses(github).at(-1)).toBe("failure: rejected by qa-quinn: The *checkout* button does nothing | on Safari");
    // Escaped in the comment: no markdown from the reason, no table break.
    expect(github.commentBodies().at(-1)).toContain("❌ rejected by qa-quinn (commit `1111111`,");
    expect(github.commentBodies().at(-1)).toContain("The \\*checkout\\* button does nothing \\| on Safari");

    await h.deliver("issue_comment", prCommentPayload("/accept", { author: "pm-paula" }));
    expect(acceptanceStatuses(github).at(-1)).toBe("success: accepted by pm-paula");
    expect(github.replies()).toEqual([]);
  });

  it("refuses a verdict written before the head it would apply to was pushed", async () => {
    const { h, github, pull } = await openedPr();
    const written = new Date(Date.now() - 60_000);
    pull.head.sha = SHA2;
    await h.deliver("pull_request", pullRequestPayload({ action: "synchronize", headSha: SHA2 }));
    await h.deliver("issue_comment", prCommentPayload("/accept", { author: "tess-tester", createdAt: written }));
    expect(github.replies()).toEqual(["The head of this PR moved to 2222222 after this comment was written, so nothing was recorded. Look at its preview, then comment `/accept` again."]);
    expect((await h.store.getPull(PR_KEY))?.acceptance).toEqual({ sha: SHA2, state: "pending" });
  });

  it("says so when the repository does not use acceptance", async () => {
    const { h, github } = await openedPr("preview:\n  port: 8080\n");
    expect(acceptanceStatuses(github)).toEqual([]);
    await h.deliver("issue_comment", prCommentPayload("/accept", { author: "tess-tester" }));
    expect(github.replies()).toEqual(["This repository does not use acceptance: add an `acceptance` section to berth.yml to use `/accept`."]);
    expect(github.commentBodies().at(-1)).not.toContain("Acceptance");
  });
});
