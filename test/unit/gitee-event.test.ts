import { describe, expect, it } from "vitest";
import type { BotEvent, RepoRef } from "../../src/domain/types.js";
import { parseGiteeEvent, type GiteeEventResult } from "../../src/ingress/gitee-event.js";
import { GITEE_FIXTURE_EVENTS, giteeFixtureNames, loadGiteeFixture } from "../fixtures/gitee/gitee-fixtures.js";

const REPO: RepoRef = {
  host: "gitee",
  owner: "kit101",
  name: "drone-yml-test",
  defaultBranch: "master",
  htmlUrl: "https://gitee.com/kit101/drone-yml-test",
};

function parseFixture(name: string, body: unknown = loadGiteeFixture(name)): GiteeEventResult {
  return parseGiteeEvent(GITEE_FIXTURE_EVENTS[name], body);
}

function eventOf(result: GiteeEventResult): BotEvent {
  if (result.type !== "event") throw new Error(`expected an event, got ignore: ${result.reason}`);
  return result.event;
}

function reasonOf(result: GiteeEventResult): string {
  if (result.type !== "ignore") throw new Error(`expected ignore, got ${result.event.kind}`);
  return result.reason;
}

describe("recorded Gitee payloads", () => {
  it("has an event header for every fixture in the shared folder", () => {
    expect(giteeFixtureNames()).toEqual(Object.keys(GITEE_FIXTURE_EVENTS).sort());
  });

  it("pr_open → pr-updated/opened with the PR as Gitee sent it", () => {
    const event = eventOf(parseFixture("pr_open.json"));
    expect(event).toEqual({
      kind: "pr-updated",
      action: "opened",
      deliveryId: expect.stringMatching(/^gitee-[0-9a-f]{32}$/),
      sender: "kit101",
      pr: {
        repo: REPO,
        number: 9,
        headSha: "dc8fa2ebe050d63f639c5b834311e96bc2303523",
        headRef: "feat-3",
        baseRef: "master",
        fromFork: false,
        url: "https://gitee.com/kit101/drone-yml-test/pulls/9",
        author: "kit101",
        state: "open",
        title: "feat-3",
      },
    });
  });

  it("pr_close → pr-closed, not merged", () => {
    const event = eventOf(parseFixture("pr_close.json"));
    expect(event).toMatchObject({ kind: "pr-closed", merged: false, sender: "kit101", pr: { number: 8, state: "closed", repo: REPO } });
  });

  it("pr_merge → pr-closed, merged", () => {
    const event = eventOf(parseFixture("pr_merge.json"));
    expect(event).toMatchObject({ kind: "pr-closed", merged: true, pr: { state: "closed", repo: REPO } });
  });

  it("note on a PR → pr-comment carrying the PR", () => {
    const event = eventOf(parseFixture("note_hook_pr_comment.json"));
    expect(event).toEqual({
      kind: "pr-comment",
      deliveryId: expect.stringMatching(/^gitee-[0-9a-f]{32}$/),
      repo: REPO,
      prNumber: 7,
      commentId: "6937563",
      author: "kit101",
      body: "comment",
      pr: {
        repo: REPO,
        number: 7,
        headSha: "6168d9dae737b47f00c59fafca10c913a6850c3a",
        headRef: "feat-2",
        baseRef: "master",
        fromFork: false,
        url: "https://gitee.com/kit101/drone-yml-test/pulls/7",
        author: "kit101",
        state: "open",
        title: "feat add 3",
      },
    });
  });

  it("tag push → tag-pushed with the tag, its commit and the pusher", () => {
    expect(eventOf(parseFixture("tag_create.json"))).toMatchObject({
      kind: "tag-pushed",
      repo: { host: "gitee", owner: "kit101", name: "drone-yml-test" },
      tag: "1.3",
      sha: "aa9d11518a64dcd0d591a2a4eb35dfb4d91d49d5",
      pusher: "kit101",
    });
  });

  it("tag deletion does nothing", () => {
    const body = loadGiteeFixture("tag_create.json");
    body.deleted = true;
    body.created = false;
    body.after = "0".repeat(40);
    expect(reasonOf(parseFixture("tag_create.json", body))).toBe("tag deletion does nothing");
  });

  it("branch push is acknowledged and ignored", () => {
    expect(reasonOf(parseFixture("push.json"))).toBe("event 'Push Hook' is not handled");
  });

  it("gives every fixture its own delivery id, the same on every parse", () => {
    const ids = Object.keys(GITEE_FIXTURE_EVENTS)
      .map((name) => parseFixture(name))
      .filter((r): r is Extract<GiteeEventResult, { type: "event" }> => r.type === "event")
      .map((r) => r.event.deliveryId);
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
    expect(ids).toContain(eventOf(parseFixture("pr_open.json")).deliveryId);
  });
});

describe("variants built from the recordings", () => {
  it("reopen → pr-updated/reopened", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.action = "reopen";
    expect(eventOf(parseFixture("pr_open.json", body))).toMatchObject({ kind: "pr-updated", action: "reopened", pr: { number: 9 } });
  });

  it("update with new commits → synchronize at the new head, with a new delivery id", () => {
    const original = eventOf(parseFixture("pr_open.json"));
    const body = loadGiteeFixture("pr_open.json");
    body.action = "update";
    body.action_desc = "source_branch_changed";
    body.pull_request.head.sha = "1111111111111111111111111111111111111111";
    body.pull_request.updated_at = "2021-10-08T18:00:00+08:00";
    const event = eventOf(parseFixture("pr_open.json", body));
    expect(event).toMatchObject({ kind: "pr-updated", action: "synchronize", pr: { headSha: "1111111111111111111111111111111111111111" } });
    expect(event.deliveryId).not.toBe(original.deliveryId);
  });

  it("other updates (title, target branch, ...) are ignored", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.action = "update";
    body.action_desc = "target_branch_changed";
    expect(reasonOf(parseFixture("pr_open.json", body))).toBe("merge request update 'target_branch_changed' does not change the code");
  });

  it("other merge request actions are ignored", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.action = "approved";
    expect(reasonOf(parseFixture("pr_open.json", body))).toBe("merge request action 'approved' is not handled");
  });

  it("a PR whose source is a fork is marked fromFork", () => {
    const body = loadGiteeFixture("pr_open.json");
    for (const repo of [body.source_repo.repository, body.source_repo.project, body.pull_request.head.repo]) {
      repo.id = 99999999;
      repo.full_name = "mallory/drone-yml-test";
      repo.path_with_namespace = "mallory/drone-yml-test";
      repo.namespace = "mallory";
    }
    body.pull_request.head.label = "mallory:feat-3";
    const event = eventOf(parseFixture("pr_open.json", body));
    expect(event).toMatchObject({ kind: "pr-updated", pr: { fromFork: true, repo: REPO } });
  });

  it("a comment on a fork PR is marked fromFork too", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.pull_request.head.repo.id = 42;
    body.pull_request.head.repo.full_name = "mallory/drone-yml-test";
    expect(eventOf(parseFixture("note_hook_pr_comment.json", body))).toMatchObject({ kind: "pr-comment", pr: { fromFork: true } });
  });

  it("a PR without head repository information is treated as a fork", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.source_repo = null;
    body.target_repo = null;
    body.pull_request.head.repo = null;
    expect(eventOf(parseFixture("pr_open.json", body))).toMatchObject({ pr: { fromFork: true } });
  });

  it("a note on an issue or commit is ignored", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.noteable_type = "Issue";
    body.pull_request = null;
    expect(reasonOf(parseFixture("note_hook_pr_comment.json", body))).toBe("note on 'Issue' is not a pull request comment");
  });

  it("edited notes are not read as commands", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.action = "edit";
    expect(reasonOf(parseFixture("note_hook_pr_comment.json", body))).toBe("note action 'edit' is not handled");
  });

  it("berth's own comments are ignored when the bot login is known", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    expect(reasonOf(parseGiteeEvent("Note Hook", body, { botLogin: "KIT101" }))).toBe("comment written by berth itself");
    expect(parseGiteeEvent("Note Hook", body, { botLogin: "berth-bot" }).type).toBe("event");
  });

  it("a slash command body reaches the event verbatim", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.comment.body = "/deploy\r\nplease";
    expect(eventOf(parseFixture("note_hook_pr_comment.json", body))).toMatchObject({ body: "/deploy\r\nplease" });
  });

  it("keeps the delivery id when Gitee re-sends the same change with a new timestamp and sign", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.timestamp = "1700000000000";
    body.sign = "something-else";
    expect(eventOf(parseFixture("pr_open.json", body)).deliveryId).toBe(eventOf(parseFixture("pr_open.json")).deliveryId);
  });

  it("gives a comment one delivery id whatever update time a copy of it claims (it cannot run twice)", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.comment.updated_at = "2030-01-01T00:00:00+08:00";
    expect(eventOf(parseFixture("note_hook_pr_comment.json", body)).deliveryId).toBe(eventOf(parseFixture("note_hook_pr_comment.json")).deliveryId);
  });

  it("distinguishes close from merge of the same PR state", () => {
    const body = loadGiteeFixture("pr_merge.json");
    body.action = "close";
    expect(eventOf(parseFixture("pr_merge.json", body)).deliveryId).not.toBe(eventOf(parseFixture("pr_merge.json")).deliveryId);
  });
});

describe("input that does not fit", () => {
  it("ignores a payload without the fields berth needs, naming the field", () => {
    const body = loadGiteeFixture("pr_open.json");
    delete body.pull_request.head.sha;
    expect(reasonOf(parseFixture("pr_open.json", body))).toMatch(/^invalid Merge Request Hook payload: pull_request\.head\.sha: /);
  });

  it("refuses a head SHA that is not a commit id", () => {
    const body = loadGiteeFixture("pr_open.json");
    body.pull_request.head.sha = "$(touch /tmp/x)";
    expect(reasonOf(parseFixture("pr_open.json", body))).toContain("pull_request.head.sha");
  });

  it("refuses an owner path with characters Gitee does not allow", () => {
    const body = loadGiteeFixture("note_hook_pr_comment.json");
    body.repository.namespace = "../etc";
    expect(reasonOf(parseFixture("note_hook_pr_comment.json", body))).toContain("repository.namespace");
  });

  it("never throws on junk", () => {
    for (const junk of [null, 42, "text", [], {}, { pull_request: "x" }]) {
      expect(parseGiteeEvent("Merge Request Hook", junk).type).toBe("ignore");
      expect(parseGiteeEvent("Note Hook", junk).type).toBe("ignore");
    }
  });

  it("ignores a delivery without an event header", () => {
    expect(reasonOf(parseGiteeEvent(undefined, loadGiteeFixture("pr_open.json")))).toBe("missing X-Gitee-Event header");
    expect(reasonOf(parseGiteeEvent("Issue Hook", {}))).toBe("event 'Issue Hook' is not handled");
  });
});
